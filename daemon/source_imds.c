/*
 * credential_source = Ec2InstanceMetadata: the instance profile's role
 * credentials from the instance metadata service, as botocore's
 * InstanceMetadataFetcher gets them: IMDSv2 (PUT /latest/api/token with
 * x-aws-ec2-metadata-token-ttl-seconds: 21600, then every GET with
 * x-aws-ec2-metadata-token), the role's name from
 * /latest/meta-data/iam/security-credentials/, then its credentials.
 *
 * botocore's rules, followed here:
 * - Settings: the caller's variable first, then the requested profile's
 *   key: AWS_EC2_METADATA_SERVICE_ENDPOINT / ec2_metadata_service_endpoint
 *   (wins over the mode), AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE /
 *   ec2_metadata_service_endpoint_mode (ipv4: 169.254.169.254, ipv6:
 *   [fd00:ec2::254]; else AWS_IMDS_USE_IPV6 / imds_use_ipv6),
 *   AWS_EC2_METADATA_V1_DISABLED / ec2_metadata_v1_disabled,
 *   AWS_METADATA_SERVICE_TIMEOUT / metadata_service_timeout (seconds,
 *   default 1) and AWS_METADATA_SERVICE_NUM_ATTEMPTS /
 *   metadata_service_num_attempts (default 1); AWS_EC2_METADATA_DISABLED
 *   = true (any case) turns the service off.
 * - The token: 200 is the token; 403, 404 and 405 (a service without
 *   IMDSv2) and a timeout mean IMDSv1; 400 is a failure; other answers and
 *   connection failures are tried again up to the attempts, then IMDSv1.
 *   IMDSv1 with ec2_metadata_v1_disabled is a failure, in botocore's words.
 * - The role name and the credentials: tried again up to the attempts while
 *   the answer is not 200, empty, or (credentials) not the credentials.
 *
 * Invariants: every answer is capped (token KR_IMDS_TOKEN_MAX, role name
 * KR_IMDS_ROLE_MAX and of IAM's characters only, credentials
 * KR_METADATA_RESP_MAX); the token and the credentials live in secret
 * memory and are wiped; no value the service sent reaches a message.
 */
#include "source.h"

#include "cachekey.h"
#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "http.h"
#include "mem.h"
#include "metadata.h"
#include "sts_req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMDS_V4   "http://169.254.169.254/"
#define IMDS_V6   "http://[fd00:ec2::254]/"
#define IMDS_WHAT "the instance metadata service"

struct imds_conf {
	char *base; /* the service's URL */
	int timeout_s, attempts;
	int v1_disabled;
	char *proxy, *no_proxy; /* endpoint_proxy() for base; secret */
};

enum imds_state { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

struct imds_call {
	struct http *http;
	struct http_xfer *x;
	source_done_fn done;
	void *userdata;
	char *base, *proxy, *no_proxy;
	long timeout_ms;
	int attempts, v1_disabled;
	enum imds_state state;
	int tries;   /* requests made in this state */
	char *token; /* IMDSv2's session token (secret), NULL for IMDSv1 */
	char role[KR_IMDS_ROLE_MAX + 1];
};

static void src_imds_free(void *conf)
{
	struct imds_conf *c = conf;

	if (!c)
		return;
	free(c->base);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	free(c);
}

/* botocore's ensure_boolean() of a string: "true" in any case. */
static int is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

/* A whole number lo..hi into *ret; KR_ERR_CONFIG otherwise. */
static int setting_int(const struct source_parse *in, const char *env_value, const char *key,
                       int lo, int hi, int dfl, int *ret, struct err_detail *e)
{
	struct pmap_val v = {0};
	char *s = NULL, *end;
	long n;
	int r = source_setting(in, in->top, env_value, key, &s, &v, e);

	*ret = dfl;
	if (r < 0 || !s)
		return r;
	n = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || n < lo || n > hi) {
		err_set(e, KR_ERR_CONFIG, v.file, v.line, NULL,
		        "%s = \"%.40s\" is not a whole number from %d to %d", key, s, lo, hi);
		r = KR_ERR_CONFIG;
	} else {
		*ret = (int)n;
	}
	free(s);
	return r;
}

static int src_imds_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const struct caller_env *env = in->env;
	struct imds_conf *c = calloc(1, sizeof(*c));
	struct pmap_val cs = {0}, v = {0};
	char *mode = NULL, *ipv6 = NULL, *v1 = NULL, *host = NULL, *path = NULL;
	int r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	pmap_get(in->map, in->profile, PMAP_ANY, "credential_source", &cs);
	r = step_set_where(s, cs.file, cs.line);
	if (r == KR_OK && is_true(env->ec2_metadata_disabled)) {
		err_set(
		    e, KR_ERR_NOCREDS, cs.file, cs.line,
		    "unset AWS_EC2_METADATA_DISABLED in the calling environment",
		    "profile \"%s\" uses credential_source = Ec2InstanceMetadata but the caller "
		    "has AWS_EC2_METADATA_DISABLED=%s",
		    pmap_name(in->profile), env->ec2_metadata_disabled);
		r = KR_ERR_NOCREDS;
	}
	if (r == KR_OK)
		r = source_setting(in, in->top, env->ec2_metadata_service_endpoint_mode,
		                   "ec2_metadata_service_endpoint_mode", &mode, &v, e);
	if (r == KR_OK && mode && strcasecmp(mode, "ipv4") != 0 && strcasecmp(mode, "ipv6") != 0) {
		err_set(
		    e, KR_ERR_CONFIG, v.file, v.line, "use ipv4 or ipv6",
		    "ec2_metadata_service_endpoint_mode \"%.40s\" is not valid: use ipv4 or ipv6",
		    mode);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && !mode)
		r = source_setting(in, in->top, env->imds_use_ipv6, "imds_use_ipv6", &ipv6, NULL,
		                   e);
	if (r == KR_OK)
		r = source_setting(in, in->top, env->ec2_metadata_service_endpoint,
		                   "ec2_metadata_service_endpoint", &c->base, &v, e);
	if (r == KR_OK && !c->base) {
		int v6 = mode ? strcasecmp(mode, "ipv6") == 0 : is_true(ipv6);

		if (!(c->base = strdup(v6 ? IMDS_V6 : IMDS_V4)))
			r = KR_ERR_NOMEM;
	} else if (r == KR_OK && sts_req_endpoint(c->base, &host, &path) < 0) {
		err_set(e, KR_ERR_CONFIG, v.file, v.line,
		        "use a URL such as http://169.254.169.254/",
		        "ec2_metadata_service_endpoint \"%.200s\" is not a valid URL", c->base);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK)
		r = source_setting(in, in->top, env->ec2_metadata_v1_disabled,
		                   "ec2_metadata_v1_disabled", &v1, NULL, e);
	c->v1_disabled = is_true(v1);
	if (r == KR_OK)
		r = setting_int(in, env->metadata_service_timeout, "metadata_service_timeout", 1,
		                KR_IMDS_TIMEOUT_MAX_S, 1, &c->timeout_s, e);
	if (r == KR_OK)
		r = setting_int(in, env->metadata_service_num_attempts,
		                "metadata_service_num_attempts", 1, KR_IMDS_ATTEMPTS_MAX, 1,
		                &c->attempts, e);
	if (r == KR_OK)
		r = endpoint_proxy(c->base, &env->proxy, &c->proxy, &c->no_proxy);
	if (r == KR_OK && source_what(s, "instance metadata %s", c->base) < 0)
		r = KR_ERR_NOMEM;
	free(mode);
	free(ipv6);
	free(v1);
	free(host);
	free(path);
	return r;
}

static int src_imds_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct imds_conf *c = s->conf;
	int r = ckey_step(out, "imds");

	if (r == KR_OK)
		r = ckey_str(out, "url=", c->base);
	return r;
}

static void call_free(struct imds_call *c)
{
	if (!c)
		return;
	http_cancel(c->x);
	free(c->base);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	mem_free_str(c->token);
	mem_wipe(c->role, sizeof(c->role));
	free(c);
}

/* Hand the outcome over and free the call (res->creds are stolen by the receiver). */
static void finish(struct imds_call *c, struct source_result *res)
{
	res->from = "imds";
	c->x = NULL;
	c->done(c->userdata, res);
	sts_creds_clear(&res->creds);
	call_free(c);
}

static void fail(struct imds_call *c, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct imds_call *c, int code, const char *fix, const char *fmt, ...)
{
	struct source_result res = {.err = code};
	char msg[KR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(&res.detail, code, NULL, 0, fix, "instance metadata %.300s: %s", c->base, msg);
	finish(c, &res);
}

static void on_done(void *userdata, int err, long status, struct buf *body,
                    const struct err_detail *e);

/* Send the request of the current state. */
static int send_request(struct imds_call *c)
{
	static const char *const paths[] = {"latest/api/token",
	                                    "latest/meta-data/iam/security-credentials/",
	                                    "latest/meta-data/iam/security-credentials/"};
	const size_t caps[] = {KR_IMDS_TOKEN_MAX, KR_IMDS_ROLE_MAX, KR_METADATA_RESP_MAX};
	size_t n = strlen(c->base);
	const char *sep = n && c->base[n - 1] == '/' ? "" : "/";
	struct http_request req = {0};
	struct buf url, hdr;
	const char *hdrs[1];
	int r;

	buf_init(&url, KR_HTTP_URL_MAX);
	buf_init_secret(&hdr, KR_IMDS_TOKEN_MAX + 64);
	r = buf_printf(&url, "%s%s%s%s", c->base, sep, paths[c->state],
	               c->state == IMDS_CREDS ? c->role : "");
	if (r == KR_OK && c->state == IMDS_TOKEN)
		r = buf_puts(&hdr, "x-aws-ec2-metadata-token-ttl-seconds: 21600");
	else if (r == KR_OK && c->token)
		r = buf_printf(&hdr, "x-aws-ec2-metadata-token: %s", c->token);
	if (r == KR_OK) {
		hdrs[0] = hdr.data;
		req.method = c->state == IMDS_TOKEN ? "PUT" : "GET";
		req.url = url.data;
		req.headers = hdrs;
		req.n_headers = hdr.len ? 1 : 0;
		req.proxy = c->proxy;
		req.no_proxy = c->no_proxy;
		req.connect_ms = c->timeout_ms;
		req.total_ms = c->timeout_ms;
		req.resp_max = caps[c->state];
		c->tries++;
		r = http_post(c->http, &req, on_done, c, &c->x);
	}
	buf_free(&url);
	buf_free(&hdr);
	return r;
}

static void next_state(struct imds_call *c, enum imds_state st)
{
	int r;

	c->state = st;
	c->tries = 0;
	r = send_request(c);
	if (r < 0)
		fail(c, r, NULL, "%s", err_str(r));
}

/* No IMDSv2 token: IMDSv1, unless it is turned off. */
static void token_none(struct imds_call *c)
{
	if (c->v1_disabled) {
		/* botocore's words (MetadataRetrievalError) */
		fail(
		    c, KR_ERR_NOCREDS,
		    "check the instance's metadata options (IMDSv2, hop limit), or allow IMDSv1",
		    "Unable to retrieve token for use in IMDSv2 call and IMDSv1 has been disabled");
		return;
	}
	next_state(c, IMDS_ROLE);
}

static int role_ok(const char *s, size_t n)
{
	if (n == 0 || n > KR_IMDS_ROLE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("+=,.@_-", s[i])))
			return 0;
	return 1;
}

static int token_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static void on_done(void *userdata, int err, long status, struct buf *body,
                    const struct err_detail *e)
{
	struct imds_call *c = userdata;
	int ok = err == KR_OK && status == 200 && body->len > 0, again = c->tries < c->attempts;
	struct source_result res = {0};
	struct err_detail why;
	int r;

	c->x = NULL;
	if (err == KR_ERR_TOOBIG) {
		fail(c, KR_ERR_TOOBIG, NULL, "the answer is larger than keyrole accepts");
		return;
	}
	switch (c->state) {
	case IMDS_TOKEN:
		if (err == KR_OK && status == 200) {
			if (!token_ok(body->data, body->len)) {
				fail(c, KR_ERR_PARSE, NULL, "the IMDSv2 token is not one");
				return;
			}
			c->token = buf_steal(body, NULL);
			if (!c->token)
				fail(c, KR_ERR_NOMEM, NULL, "%s", err_str(KR_ERR_NOMEM));
			else
				next_state(c, IMDS_ROLE);
		} else if (err == KR_OK && status == 400) {
			fail(c, KR_ERR_NOCREDS, NULL,
			     "the IMDSv2 token request was refused (HTTP 400)");
		} else if ((err == KR_OK && (status == 403 || status == 404 || status == 405)) ||
		           err == KR_ERR_TIMEOUT || !again) {
			token_none(c);
		} else if ((r = send_request(c)) < 0) {
			fail(c, r, NULL, "%s", err_str(r));
		}
		return;
	case IMDS_ROLE:
		if (ok && !role_ok(body->data, body->len)) {
			fail(c, KR_ERR_PARSE, NULL, "the instance profile's role name is not one");
			return;
		}
		if (ok) {
			memcpy(c->role, body->data, body->len);
			c->role[body->len] = '\0';
			next_state(c, IMDS_CREDS);
			return;
		}
		break;
	case IMDS_CREDS:
		memset(&why, 0, sizeof(why));
		if (ok && metadata_parse_creds(body->data, body->len, IMDS_WHAT, &res.creds,
		                               &why) == KR_OK) {
			finish(c, &res);
			return;
		}
		if (ok && !again) {
			fail(c, why.code ? why.code : KR_ERR_PARSE, why.fix, "%s", why.msg);
			return;
		}
		break;
	}
	if (again) {
		r = send_request(c);
		if (r < 0)
			fail(c, r, NULL, "%s", err_str(r));
	} else if (err != KR_OK) {
		fail(c, err == KR_ERR_TIMEOUT ? KR_ERR_TIMEOUT : KR_ERR_NETWORK,
		     "is this an EC2 instance with an instance profile? "
		     "(ec2_metadata_service_endpoint "
		     "names another service)",
		     "%s", e ? e->msg : err_str(err));
	} else {
		fail(c, KR_ERR_NOCREDS, "attach an instance profile (an IAM role) to the instance",
		     "no %s (HTTP %ld)",
		     c->state == IMDS_ROLE ? "instance profile role" : "credentials", status);
	}
}

static int src_imds_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	const struct imds_conf *conf = f->step->conf;
	struct imds_call *c = calloc(1, sizeof(*c));
	int r = KR_ERR_NOMEM;

	if (!c)
		goto fail;
	c->http = f->svc->http;
	c->done = f->done;
	c->userdata = f->userdata;
	c->timeout_ms = (long)conf->timeout_s * 1000;
	c->attempts = conf->attempts;
	c->v1_disabled = conf->v1_disabled;
	c->base = strdup(conf->base);
	c->proxy = conf->proxy ? mem_secret_strdup(conf->proxy, KR_VALUE_MAX) : NULL;
	c->no_proxy = conf->no_proxy ? mem_secret_strdup(conf->no_proxy, KR_VALUE_MAX) : NULL;
	if (!c->base || (conf->proxy && !c->proxy) || (conf->no_proxy && !c->no_proxy))
		goto fail;
	c->state = IMDS_TOKEN;
	r = c->http ? send_request(c) : KR_ERR_INTERNAL;
	if (r < 0)
		goto fail;
	*ret_call = c;
	return 0;
fail:
	call_free(c);
	err_set(&res->detail, r, NULL, 0, NULL, "instance metadata: %s", err_str(r));
	return r;
}

static void src_imds_cancel(void *call)
{
	call_free(call);
}

static void src_imds_describe(const struct step *s, const struct chain *ch, struct step_report *out)
{
	const struct imds_conf *c = s->conf;

	out->kind = "source";
	out->type = "imds";
	out->url = c ? c->base : NULL;
}

const struct source_ops source_imds = {
    .name = "imds",
    .flags = SOURCE_SESSION | SOURCE_ROLE_SESSION,
    .max_lifetime = 43200,
    .parse = src_imds_parse,
    .free = src_imds_free,
    .key = src_imds_key,
    .fetch = src_imds_fetch,
    .cancel = src_imds_cancel,
    .describe = src_imds_describe,
};
