/*
 * op "console": a sign-in URL of the AWS web console for a profile
 * (`keyrole console`). The profile's credentials come through the "get"
 * path (fetch_get(): cache, single flight, the MFA and login rounds with
 * the client); long-term keys alone first become a federated user's
 * session (GetFederationToken, console.h's default policy); the session
 * buys a SigninToken at the partition's federation endpoint (or
 * KEYROLE_FEDERATION_URL of the caller); the reply is the login URL.
 *
 * Invariants:
 * - The URL is a credential for 15 minutes, the SigninToken and the
 *   session too: none of them is ever logged (at any level) or put in an
 *   error message; every buffer that held one is wiped (secret buffers,
 *   sts_creds_clear(), mem_free_str()).
 * - The federation endpoint's answer is capped at KR_CONSOLE_RESP_MAX
 *   while it arrives (http.c) and never quoted.
 * - A failure of the get path is handed to the client unchanged, so its
 *   "mfa" and "login" rounds work as for `keyrole get`.
 * - Every request gets exactly one reply, unless the client went away.
 */
#include "ops.h"

#include "console.h"
#include "endpoint.h"
#include "err.h"
#include "fetch.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "sts_req.h"
#include "valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The duration of a federated user's session when --duration is not given. */
#define FEDERATION_DEFAULT_S 3600

struct conop {
	struct agent_req req; /* the server's handle */
	struct list_node link;
	struct agent *a;
	reply_fn fn; /* NULL: the client went away */
	void *userdata;
	char *profile;
	struct caller_env *env;  /* the caller's (copied) */
	char *destination;       /* the page to open */
	long duration;           /* seconds, 0 = not given */
	struct agent_req *inner; /* the get in flight */
	struct sts_call *call;   /* GetFederationToken */
	struct http_xfer *xfer;  /* getSigninToken */
	struct sts_creds creds;  /* the session signed in with (secret) */
	char *region;
	int federated;
	int starting, finished; /* inside ops_console(): an answer must not free it */
};

static void conop_free(struct conop *op)
{
	if (!op)
		return;
	agent_req_cancel(op->inner);
	sts_call_cancel(op->call);
	http_cancel(op->xfer);
	list_unlink(&op->link);
	free(op->profile);
	caller_env_free(op->env);
	free(op->destination);
	sts_creds_clear(&op->creds);
	free(op->region);
	op->a->n_busy--;
	free(op);
}

static void finish(struct conop *op, const struct reply *r)
{
	if (op->fn)
		op->fn(op->userdata, r);
	op->fn = NULL;
	if (op->starting)
		op->finished = 1; /* op_console() frees it */
	else
		conop_free(op);
}

static void fail(struct conop *op, const struct err_detail *e, const char *aws_code)
{
	struct reply r = {.ok = 0};

	op->a->c.errors++;
	r.u.error.e = e;
	r.u.error.profile = op->profile;
	r.u.error.aws_code = aws_code;
	finish(op, &r);
}

static void failf(struct conop *op, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void failf(struct conop *op, int code, const char *fix, const char *fmt, ...)
{
	struct err_detail e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (fix)
		snprintf(e.fix, sizeof(e.fix), "%s", fix);
	fail(op, &e, NULL);
}

static void cancel(struct agent_req *req)
{
	conop_free((struct conop *)req);
}

/* The federation endpoint: the caller's KEYROLE_FEDERATION_URL, else the region's partition's. */
static const char *federation_base(const struct conop *op)
{
	const char *u = op->env->federation_url;

	return u && *u ? u : console_federation_default(op->region);
}

static void on_signin(void *userdata, int err, long status, struct buf *body,
                      const struct err_detail *he)
{
	struct conop *op = userdata;
	const char *base = federation_base(op);
	struct reply r = {.op = OP_CONSOLE, .ok = 1};
	struct err_detail e;
	char *token = NULL;
	struct buf url;
	int rc;

	op->xfer = NULL;
	memset(&e, 0, sizeof(e));
	if (err != KR_OK) {
		failf(op, err, NULL, "the federation endpoint %s: %s", base,
		      he ? he->msg : err_str(err));
		return;
	}
	if (status != 200) {
		/* The body is not quoted: it could echo what was sent. */
		failf(op, KR_ERR_AWS,
		      op->federated
		          ? "check the IAM user's permissions (GetFederationToken's session)"
		          : "the session must be a role's (AssumeRole, IAM Identity Center): "
		            "GetSessionToken's are refused; for a role assumed with temporary "
		            "credentials leave --duration out",
		      "the federation endpoint %s refused the session: HTTP %ld", base, status);
		return;
	}
	rc = console_parse_signin(body->data, body->len, &token, &e);
	if (rc < 0) {
		fail(op, &e, NULL);
		return;
	}
	buf_init_secret(&url, KR_CONSOLE_URL_MAX);
	rc = console_login_url(base, op->destination, token, &url);
	mem_free_str(token);
	if (rc < 0) {
		buf_free(&url);
		failf(op, rc, NULL, "cannot make the sign-in URL: %s", err_str(rc));
		return;
	}
	log_info("profile %s: console sign-in URL made%s", op->profile,
	         op->federated ? " (GetFederationToken)" : "");
	r.u.console.url = url.data;
	r.u.console.expiration = agent_now(op->a) + 15 * 60; /* a SigninToken's life */
	finish(op, &r);
	buf_free(&url); /* wipes */
}

static void signin(struct conop *op)
{
	const char *base = federation_base(op);
	struct http_request hr = {.method = "GET", .resp_max = KR_CONSOLE_RESP_MAX};
	char *proxy = NULL, *no_proxy = NULL;
	struct buf url;
	int rc;

	if (!base) {
		failf(op, KR_ERR_CONFIG, "set KEYROLE_FEDERATION_URL",
		      "region %s has no known console sign-in endpoint", op->region);
		return;
	}
	buf_init_secret(&url, KR_HTTP_URL_MAX);
	/* SessionDuration only for a role's session: GetFederationToken's refuse it. */
	rc = console_signin_token_url(base, &op->creds, op->federated ? 0 : op->duration, &url);
	if (rc == KR_OK)
		rc = endpoint_proxy(base, &op->env->proxy, &proxy, &no_proxy);
	if (rc == KR_OK) {
		hr.url = url.data;
		hr.ca_bundle =
		    op->env->ca_bundle && *op->env->ca_bundle ? op->env->ca_bundle : NULL;
		hr.proxy = proxy;
		hr.no_proxy = no_proxy;
		rc = http_post(op->a->http, &hr, on_signin, op, &op->xfer);
	}
	buf_free(&url);
	mem_free_str(proxy);
	mem_free_str(no_proxy);
	if (rc < 0)
		failf(op, rc, NULL, "cannot ask the federation endpoint %s: %s", base,
		      rc == KR_ERR_INVAL ? "the session is too large for a URL" : err_str(rc));
}

static void on_federated(void *userdata, struct sts_result *res)
{
	struct conop *op = userdata;
	struct err_detail e;

	op->call = NULL;
	if (res->err != KR_OK) {
		sts_req_describe(res, "GetFederationToken (for the console)",
		                 STS_GET_FEDERATION_TOKEN, &e);
		fail(op, &e, res->aws_code);
		return;
	}
	op->a->c.sts_calls++;
	sts_creds_clear(&op->creds);
	op->creds = res->creds; /* taken: res is wiped without them */
	memset(&res->creds, 0, sizeof(res->creds));
	op->federated = 1;
	signin(op);
}

/* Long-term keys alone: a federated user's session, through the profile's STS client. */
static void federate(struct conop *op)
{
	struct sts_params p = {0};
	struct chain *ch = NULL;
	char name[KR_CONSOLE_NAME_MAX + 1];
	struct err_detail e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = resolve_sts_client(op->env, op->profile, &ch, &e);
	if (rc < 0) {
		fail(op, &e, NULL);
		return;
	}
	console_federation_name(op->profile, name);
	p.op = STS_GET_FEDERATION_TOKEN;
	p.endpoint = ch->endpoint;
	p.region = ch->signing_region;
	p.ca_bundle = ch->ca_bundle;
	p.proxy = ch->proxy;
	p.no_proxy = ch->no_proxy;
	p.source.access_key_id = op->creds.access_key_id;
	p.source.secret_access_key = op->creds.secret_access_key;
	p.session_name = name;
	p.policy = console_default_policy;
	p.duration = op->duration ? (int)op->duration : FEDERATION_DEFAULT_S;
	log_debug("profile %s: GetFederationToken for the console", op->profile);
	rc = sts_call(op->a->sts, &p, on_federated, op, &op->call);
	chain_unref(ch);
	if (rc < 0)
		failf(op, rc, NULL, "cannot call GetFederationToken: %s", err_str(rc));
}

/* The get path's answer: the profile's credentials, or a failure handed on as it is. */
static void on_creds(void *userdata, const struct reply *r)
{
	struct conop *op = userdata;
	struct err_detail e;
	int rc;

	memset(&e, 0, sizeof(e));
	op->inner = NULL; /* the get's job is done with */
	if (!r->ok) {
		finish(op, r); /* "mfa" and "login" too: the client's rounds are get's */
		return;
	}
	rc = sts_creds_copy(&op->creds, r->u.get.creds);
	if (rc == KR_OK && r->u.get.region && !(op->region = strdup(r->u.get.region)))
		rc = KR_ERR_NOMEM;
	if (rc == KR_OK && !op->destination)
		rc = console_destination_default(op->region, &op->destination, &e);
	if (rc < 0) {
		if (!e.code)
			err_set_code(&e, rc);
		fail(op, &e, NULL);
		return;
	}
	if (op->creds.session_token && *op->creds.session_token)
		signin(op);
	else
		federate(op);
}

void ops_console(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                 struct agent_req **ret_pending)
{
	const char *fed = req->env.federation_url;
	struct err_detail e;
	struct conop *op;
	int rc;

	*ret_pending = NULL;
	memset(&e, 0, sizeof(e));
	if (!valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "missing or invalid profile name");
		return;
	}
	if (req->duration < 0 || (req->duration && (req->duration < KR_CONSOLE_DURATION_MIN ||
	                                            req->duration > KR_CONSOLE_DURATION_MAX))) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, req->profile,
		             "the console session's duration must be %d to %d seconds",
		             KR_CONSOLE_DURATION_MIN, KR_CONSOLE_DURATION_MAX);
		return;
	}
	if (req->destination && !console_url_ok(req->destination, 0)) {
		reply_errorf(
		    fn, userdata, KR_ERR_INVAL, req->profile,
		    "the destination must be an http:// or https:// URL (at most %d bytes)",
		    KR_CONSOLE_URL_MAX);
		return;
	}
	if (fed && *fed && !console_url_ok(fed, 1)) {
		reply_errorf(fn, userdata, KR_ERR_CONFIG, req->profile,
		             "KEYROLE_FEDERATION_URL must be an http:// or https:// URL without a "
		             "query");
		return;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		reply_errorf(fn, userdata, KR_ERR_NOMEM, req->profile, "%s", err_str(KR_ERR_NOMEM));
		return;
	}
	a->n_busy++;
	op->a = a;
	op->fn = fn;
	op->userdata = userdata;
	op->req.cancel = cancel;
	op->duration = req->duration;
	list_push_back(&a->conops, &op->link);
	op->profile = strdup(req->profile);
	op->env = caller_env_dup(&req->env);
	if (!op->profile || !op->env) {
		failf(op, KR_ERR_NOMEM, NULL, "%s", err_str(KR_ERR_NOMEM));
		return;
	}
	op->starting = 1;
	if (req->destination) {
		op->destination = strdup(req->destination);
		rc = op->destination ? KR_OK : KR_ERR_NOMEM;
		if (rc < 0)
			failf(op, rc, NULL, "%s", err_str(rc));
	}
	/* The destination's default needs the region, known from the get's answer. */
	if (!op->finished)
		fetch_get(a, req, on_creds, op, &op->inner);
	op->starting = 0;
	if (op->finished) {
		conop_free(op);
		return;
	}
	*ret_pending = &op->req;
}

void ops_console_drop_all(struct agent *a)
{
	while (!list_empty(&a->conops)) {
		struct conop *op = list_entry(a->conops.next, struct conop, link);

		op->fn = NULL;
		conop_free(op);
	}
}
