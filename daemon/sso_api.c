/*
 * The IAM Identity Center HTTP calls; see sso_api.h.
 *
 * Invariants:
 * - Request bodies and the bearer header line are built in secret memory
 *   (struct buf secret, mem_secret_*), handed to http.c (which copies them
 *   into secret memory of its own) and wiped when the call ends.
 * - Answers are untrusted: parsed with common/json.c (bounded), every
 *   string checked against KR_SSO_TOKEN_MAX / KR_SSO_FIELD_MAX and for
 *   control characters, numbers for range. The JSON tree is wiped.
 * - What goes into res->detail is built from our own words, the error
 *   code (checked: [A-Za-z0-9_.:-] only) and a server message that holds
 *   none of the secrets this call sent.
 */
#include "sso_api.h"

#include "buf.h"
#include "caps.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "mem.h"
#include "sts_req.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENT_MAX                                                                                   \
	3 /* secrets one call sends: token; client secret, device code or refresh token            \
	   */

struct sso_api_call {
	struct loop *loop;
	struct http *http;
	enum sso_api_op op;
	int get;                  /* GET (portal reads) or POST */
	int no_retry;             /* a device-code poll: the login polls again anyway */
	char *url;                /* with its query */
	char *ca_bundle;          /* plain */
	char *proxy, *no_proxy;   /* may hold a proxy password: secret memory */
	char *bearer;             /* "x-amz-sso_bearer_token: TOKEN": secret memory */
	struct buf body;          /* JSON, may hold secrets */
	char *sent[SENT_MAX];     /* the secrets sent (secret memory): no message may hold them */
	uint64_t deadline;        /* loop clock */
	struct http_xfer *xfer;   /* the attempt in flight */
	struct loop_timer *timer; /* the backoff */
	sso_api_fn fn;
	void *userdata;
	struct sso_api_result res;
};

const char *sso_api_op_name(int op)
{
	static const char *const names[] = {
	    [SSO_GET_ROLE_CREDENTIALS] = "GetRoleCredentials",
	    [SSO_LIST_ACCOUNTS] = "ListAccounts",
	    [SSO_LIST_ACCOUNT_ROLES] = "ListAccountRoles",
	    [SSO_LOGOUT] = "Logout",
	    [SSO_REGISTER_CLIENT] = "RegisterClient",
	    [SSO_START_DEVICE_AUTHORIZATION] = "StartDeviceAuthorization",
	    [SSO_CREATE_TOKEN] = "CreateToken",
	};

	return op > 0 && (size_t)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

void sso_accounts_free(struct sso_account *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].account_id);
		free(a[i].account_name);
		free(a[i].email);
	}
	free(a);
}

void sso_api_result_clear(struct sso_api_result *res)
{
	sts_creds_clear(&res->creds);
	sso_accounts_free(res->accounts, res->n_accounts);
	for (size_t i = 0; i < res->n_roles; i++)
		free(res->roles[i]);
	free(res->roles);
	free(res->next_token);
	free(res->client_id);
	mem_free_str(res->client_secret);
	mem_free_str(res->device_code);
	free(res->user_code);
	free(res->verification_uri);
	free(res->verification_uri_complete);
	mem_free_str(res->access_token);
	mem_free_str(res->refresh_token);
	res->accounts = NULL;
	res->roles = NULL;
	res->n_accounts = res->n_roles = 0;
	res->next_token = res->client_id = res->client_secret = res->device_code = NULL;
	res->user_code = res->verification_uri = res->verification_uri_complete = NULL;
	res->access_token = res->refresh_token = NULL;
}

static void call_free(struct sso_api_call *c)
{
	if (!c)
		return;
	http_cancel(c->xfer);
	loop_timer_free(c->timer);
	free(c->url);
	free(c->ca_bundle);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	mem_free_str(c->bearer);
	buf_free(&c->body);
	for (int i = 0; i < SENT_MAX; i++)
		mem_free_str(c->sent[i]);
	sso_api_result_clear(&c->res);
	free(c);
}

void sso_api_cancel(struct sso_api_call *c)
{
	call_free(c);
}

/* ---- errors ---- */

/* detail = "<Operation>: " + the text, with fix (may be NULL). */
static void set_detail(struct sso_api_call *c, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_detail(struct sso_api_call *c, int code, const char *fix, const char *fmt, ...)
{
	char text[KR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	err_set(&c->res.detail, code, NULL, 0, fix, "%s: %s", sso_api_op_name(c->op), text);
}

/* An error code we can repeat: short, of [A-Za-z0-9_.:-] only. */
static int code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < sizeof(((struct sso_api_result *)0)->code) &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

/*
 * A server's message for an error line, into out (n bytes): one line,
 * printable, at most KR_SSO_MESSAGE_MAX bytes; "" when it holds anything
 * this call sent (a server that echoes a token must not get it logged).
 */
static void server_message(const struct sso_api_call *c, const char *msg, char *out, size_t n)
{
	size_t len = msg ? strnlen(msg, KR_SSO_MESSAGE_MAX + 1) : 0, i;

	out[0] = '\0';
	if (len == 0 || len > KR_SSO_MESSAGE_MAX || n <= len)
		return;
	for (int k = 0; k < SENT_MAX; k++)
		if (c->sent[k] && strstr(msg, c->sent[k]))
			return;
	for (i = 0; i < len; i++)
		out[i] = ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f) ? ' ' : msg[i];
	out[i] = '\0';
}

/* What usually fixes an error of code during op; NULL for nothing to say. */
static const char *hint(int op, int err, const char *code)
{
	if (err == KR_ERR_LOGIN && op == SSO_CREATE_TOKEN && strcmp(code, "access_denied") == 0)
		return "the login was denied in the browser: run keyrole login again and approve "
		       "it";
	if (err == KR_ERR_LOGIN && op == SSO_CREATE_TOKEN)
		return "the login is no longer valid: run keyrole login";
	if (err == KR_ERR_LOGIN)
		return "the IAM Identity Center token expired or was revoked: run keyrole login";
	if (strstr(code, "Forbidden"))
		return "this user has no assignment to that account and role: check "
		       "sso_account_id and sso_role_name (keyrole sso profiles lists them)";
	if (strstr(code, "ResourceNotFound"))
		return "check sso_account_id and sso_role_name (keyrole sso profiles lists them)";
	if (strstr(code, "TooManyRequests"))
		return "IAM Identity Center throttled the calls: try again in a moment";
	if (strcmp(code, "invalid_request") == 0 || strstr(code, "InvalidRequest"))
		return "check sso_start_url and sso_region";
	return NULL;
}

/* The error of an answer with a status >= 300: code, message, err. */
static void fail_answer(struct sso_api_call *c, long status, struct buf *body)
{
	const char *etype = http_xfer_header(c->xfer);
	struct json *j = NULL;
	const char *code = NULL, *msg = NULL;
	char text[KR_SSO_MESSAGE_MAX + 1], typebuf[sizeof(c->res.code)];
	int err = KR_ERR_AWS;

	if (body->len && json_parse(body->data, body->len, &j) == KR_OK &&
	    json_type(j) == JSON_OBJECT) {
		code = json_get_str(j, "error"); /* OIDC, RFC 6749 */
		msg = json_get_str(j, "error_description");
		if (!msg)
			msg = json_get_str(j, "message");
		if (!msg)
			msg = json_get_str(j, "Message");
	}
	if (!code_ok(code) && etype) {
		/* "UnauthorizedException:http://internal.amazon.com/..." names the type first. */
		snprintf(typebuf, sizeof(typebuf), "%.*s", (int)strcspn(etype, ":"), etype);
		code = typebuf;
	}
	if (code_ok(code))
		snprintf(c->res.code, sizeof(c->res.code), "%s", code);
	server_message(c, msg, text, sizeof(text));
	if (status == 401 && c->op <= SSO_LOGOUT)
		err = KR_ERR_LOGIN;
	else if (c->op > SSO_LOGOUT && (strcmp(c->res.code, "invalid_grant") == 0 ||
	                                strcmp(c->res.code, "expired_token") == 0 ||
	                                strcmp(c->res.code, "access_denied") == 0 ||
	                                strcmp(c->res.code, "invalid_client") == 0))
		err = KR_ERR_LOGIN;
	c->res.err = err;
	set_detail(c, err, hint(c->op, err, c->res.code), "%s%s%s (HTTP %ld)",
	           c->res.code[0] ? c->res.code : "error", text[0] ? ": " : "", text, status);
	json_free(j);
}

/* ---- answers ---- */

static int param_ok(const char *s, size_t max);

/* A string member: checked, copied (secret: into secret memory); NULL when absent or bad. */
static char *take_str(const struct json *o, const char *key, int secret, int *bad)
{
	const char *s = json_get_str(o, key);
	size_t max = secret ? KR_SSO_TOKEN_MAX : KR_SSO_FIELD_MAX, n;
	char *r;

	if (!s)
		return NULL;
	n = strnlen(s, max + 1);
	if (n == 0 || n > max || !param_ok(s, max)) {
		*bad = 1;
		return NULL;
	}
	r = secret ? mem_secret_strdup(s, n) : mem_strdup_max(s, n);
	if (!r)
		*bad = 2;
	return r;
}

/* A number member within [lo, hi], else dfl. */
static double take_num(const struct json *o, const char *key, double lo, double hi, double dfl)
{
	const struct json *v = json_get(o, key);
	double d = json_num(v);

	return json_type(v) == JSON_NUMBER && isfinite(d) && d >= lo && d <= hi ? d : dfl;
}

static int parse_role_credentials(struct sso_api_result *res, const struct json *root, int *bad)
{
	const struct json *rc = json_get(root, "roleCredentials");
	double ms = take_num(rc, "expiration", 1, 1e15, 0);

	res->creds.access_key_id = take_str(rc, "accessKeyId", 0, bad);
	res->creds.secret_access_key = take_str(rc, "secretAccessKey", 1, bad);
	res->creds.session_token = take_str(rc, "sessionToken", 1, bad);
	res->creds.expiration = (time_t)(ms / 1000);
	return res->creds.access_key_id && res->creds.secret_access_key &&
	       res->creds.session_token && ms > 0;
}

static int parse_accounts(struct sso_api_result *res, const struct json *root, int *bad)
{
	const struct json *list = json_get(root, "accountList"), *it;
	size_t n = json_count(list);

	if (json_type(list) != JSON_ARRAY || n > KR_SSO_PAGE_MAX)
		return 0;
	if (n && !(res->accounts = calloc(n, sizeof(*res->accounts))))
		return *bad = 2, 0;
	json_for_each(it, list)
	{
		struct sso_account *a = &res->accounts[res->n_accounts++];

		a->account_id = take_str(it, "accountId", 0, bad);
		a->account_name = take_str(it, "accountName", 0, bad);
		a->email = take_str(it, "emailAddress", 0, bad);
		if (!a->account_id)
			return 0;
	}
	return 1;
}

static int parse_roles(struct sso_api_result *res, const struct json *root, int *bad)
{
	const struct json *list = json_get(root, "roleList"), *it;
	size_t n = json_count(list);

	if (json_type(list) != JSON_ARRAY || n > KR_SSO_PAGE_MAX)
		return 0;
	if (n && !(res->roles = calloc(n, sizeof(*res->roles))))
		return *bad = 2, 0;
	json_for_each(it, list)
	{
		if (!(res->roles[res->n_roles] = take_str(it, "roleName", 0, bad)))
			return 0;
		res->n_roles++;
	}
	return 1;
}

/* Parse a success's body into res; 1 when it has what the operation returns. */
static int parse_answer(int op, struct sso_api_result *res, const struct json *root, int *bad)
{
	switch (op) {
	case SSO_GET_ROLE_CREDENTIALS:
		return parse_role_credentials(res, root, bad);
	case SSO_LIST_ACCOUNTS:
		res->next_token = take_str(root, "nextToken", 0, bad);
		return parse_accounts(res, root, bad);
	case SSO_LIST_ACCOUNT_ROLES:
		res->next_token = take_str(root, "nextToken", 0, bad);
		return parse_roles(res, root, bad);
	case SSO_REGISTER_CLIENT:
		res->client_id = take_str(root, "clientId", 0, bad);
		res->client_secret = take_str(root, "clientSecret", 1, bad);
		res->client_expires = (time_t)take_num(root, "clientSecretExpiresAt", 1, 1e11, 0);
		return res->client_id && res->client_secret && res->client_expires > 0;
	case SSO_START_DEVICE_AUTHORIZATION:
		res->device_code = take_str(root, "deviceCode", 1, bad);
		res->user_code = take_str(root, "userCode", 0, bad);
		res->verification_uri = take_str(root, "verificationUri", 0, bad);
		res->verification_uri_complete = take_str(root, "verificationUriComplete", 0, bad);
		res->expires_in = (long)take_num(root, "expiresIn", 1, KR_LOGIN_EXPIRES_MAX_S,
		                                 KR_LOGIN_EXPIRES_DFL_S);
		res->interval =
		    (long)take_num(root, "interval", 1, KR_SSO_POLL_MAX_S, KR_SSO_POLL_DFL_S);
		return res->device_code && res->user_code &&
		       (res->verification_uri || res->verification_uri_complete);
	case SSO_CREATE_TOKEN:
		res->access_token = take_str(root, "accessToken", 1, bad);
		res->refresh_token = take_str(root, "refreshToken", 1, bad);
		res->expires_in = (long)take_num(root, "expiresIn", 1, 1e8, 0);
		return res->access_token && res->expires_in > 0;
	default:
		return 1; /* Logout: nothing to read */
	}
}

int sso_api_parse(int op, const char *body, size_t len, struct sso_api_result *res)
{
	struct json *j = NULL;
	int bad = 0, ok;

	if (op == SSO_LOGOUT)
		return KR_OK;
	ok = json_parse(body ? body : "", body ? len : 0, &j) == KR_OK &&
	     json_type(j) == JSON_OBJECT && parse_answer(op, res, j, &bad) && !bad;
	json_free(j);
	if (!ok)
		sso_api_result_clear(res);
	return ok ? KR_OK : bad == 2 ? KR_ERR_NOMEM : KR_ERR_PARSE;
}

static void succeed(struct sso_api_call *c, struct buf *body)
{
	c->res.err = sso_api_parse(c->op, body->data, body->len, &c->res);
	if (c->res.err != KR_OK)
		set_detail(c, c->res.err, NULL, "the answer is not what the API returns");
}

/* ---- attempts ---- */

static int start_attempt(struct sso_api_call *c);

static void finish(struct sso_api_call *c)
{
	if (c->res.err != KR_OK && !c->res.detail.msg[0])
		set_detail(c, c->res.err, NULL, "%s", err_str(c->res.err));
	c->res.detail.code = c->res.err;
	c->fn(c->userdata, &c->res);
	call_free(c);
}

static void on_backoff(struct loop_timer *t, void *userdata)
{
	struct sso_api_call *c = userdata;
	int r = start_attempt(c);

	if (r < 0) {
		c->res.err = r;
		finish(c);
	}
}

/* Try again after a jittered backoff, if the deadline allows; 1 when it will. */
static int retry(struct sso_api_call *c)
{
	uint64_t now = loop_now(c->loop), cap, wait;

	if (c->res.attempts > KR_SSO_RETRIES || c->no_retry)
		return 0;
	cap = (uint64_t)KR_SSO_BACKOFF_MS * 1000u << (c->res.attempts - 1);
	wait = cap / 2 + now % (cap / 2 + 1); /* jitter from the clock's low bits is enough */
	if (now + wait + (uint64_t)KR_HTTP_CONNECT_MS * 1000u > c->deadline)
		return 0;
	if (!c->timer ? loop_timer_add(c->loop, now + wait, on_backoff, c, &c->timer) < 0
	              : loop_timer_set(c->timer, now + wait) < 0)
		return 0;
	return 1;
}

static void on_http_done(void *userdata, int err, long status, struct buf *body,
                         const struct err_detail *e)
{
	struct sso_api_call *c = userdata;

	c->res.http_status = status;
	memset(&c->res.detail, 0, sizeof(c->res.detail));
	c->res.code[0] = '\0';
	if (err != KR_OK) {
		c->res.err = err;
		set_detail(c, err,
		           err == KR_ERR_TLS ? "the endpoint's certificate is not trusted: check "
		                               "AWS_CA_BUNDLE or ca_bundle"
		                             : "check the network, sso_region and the endpoint "
		                               "(AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_SSO_OIDC)",
		           "%s", e ? e->msg : err_str(err));
	} else if (status >= 200 && status < 300) {
		succeed(c, body);
	} else {
		fail_answer(c, status, body);
	}
	c->xfer = NULL; /* http.c frees it after this returns */
	if ((err == KR_ERR_NETWORK || err == KR_ERR_TIMEOUT ||
	     (err == KR_OK && (status == 429 || status >= 500))) &&
	    retry(c))
		return;
	finish(c);
}

static int start_attempt(struct sso_api_call *c)
{
	const char *headers[3];
	size_t n = 0;
	struct http_request req = {0};
	uint64_t now = loop_now(c->loop);
	long left_ms = c->deadline > now ? (long)((c->deadline - now) / 1000u) : 0;
	int r;

	if (left_ms <= 0)
		return KR_ERR_TIMEOUT;
	headers[n++] = "Accept: application/json";
	if (!c->get)
		headers[n++] = "Content-Type: application/json";
	if (c->bearer)
		headers[n++] = c->bearer;
	req.method = c->get ? "GET" : "POST";
	req.url = c->url;
	req.headers = headers;
	req.n_headers = n;
	req.body = c->get ? NULL : c->body.data;
	req.body_len = c->get ? 0 : c->body.len;
	req.ca_bundle = c->ca_bundle;
	req.proxy = c->proxy;
	req.no_proxy = c->no_proxy;
	req.total_ms = left_ms < KR_HTTP_TOTAL_MS ? left_ms : KR_HTTP_TOTAL_MS;
	req.connect_ms = req.total_ms < KR_HTTP_CONNECT_MS ? req.total_ms : KR_HTTP_CONNECT_MS;
	req.keep_header = "x-amzn-ErrorType";
	r = http_post(c->http, &req, on_http_done, c, &c->xfer);
	if (r == KR_OK)
		c->res.attempts++;
	return r;
}

/* ---- requests ---- */

/* A parameter present, within max, without control characters. */
static int param_ok(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return n > 0 && n <= max;
}

/* "&name=value" (or "?name=value" first), value percent-encoded; NULL values are left out. */
static int query(struct buf *u, const char *name, const char *value)
{
	int r;

	if (!value)
		return KR_OK;
	r = buf_printf(u, "%c%s=", strchr(u->data, '?') ? '&' : '?', name);
	return r < 0 ? r : sts_req_urlencode(u, value, strlen(value));
}

/* The URL: the endpoint (one trailing '/' dropped), the API's path and query. */
static int build_url(struct sso_api_call *c, const struct sso_api_params *p)
{
	static const char *const paths[] = {
	    [SSO_GET_ROLE_CREDENTIALS] = "/federation/credentials",
	    [SSO_LIST_ACCOUNTS] = "/assignment/accounts",
	    [SSO_LIST_ACCOUNT_ROLES] = "/assignment/roles",
	    [SSO_LOGOUT] = "/logout",
	    [SSO_REGISTER_CLIENT] = "/client/register",
	    [SSO_START_DEVICE_AUTHORIZATION] = "/device_authorization",
	    [SSO_CREATE_TOKEN] = "/token",
	};
	size_t n = strlen(p->ep.url);
	struct buf u;
	int r;

	buf_init(&u, KR_HTTP_URL_MAX);
	if (n && p->ep.url[n - 1] == '/')
		n--;
	r = buf_append(&u, p->ep.url, n);
	if (r == KR_OK)
		r = buf_puts(&u, paths[p->op]);
	if (r == KR_OK && p->op == SSO_GET_ROLE_CREDENTIALS)
		r = query(&u, "role_name", p->role_name);
	if (r == KR_OK && (p->op == SSO_GET_ROLE_CREDENTIALS || p->op == SSO_LIST_ACCOUNT_ROLES))
		r = query(&u, "account_id", p->account_id);
	if (r == KR_OK && (p->op == SSO_LIST_ACCOUNTS || p->op == SSO_LIST_ACCOUNT_ROLES))
		r = query(&u, "max_result", "100");
	if (r == KR_OK && (p->op == SSO_LIST_ACCOUNTS || p->op == SSO_LIST_ACCOUNT_ROLES))
		r = query(&u, "next_token", p->next_token);
	if (r == KR_OK && !(c->url = buf_steal(&u, NULL)))
		r = KR_ERR_NOMEM;
	buf_free(&u);
	return r;
}

/* The OIDC body (JSON, in c->body: it may hold secrets). */
static int build_body(struct sso_api_call *c, const struct sso_api_params *p)
{
	struct json_writer w;

	json_w_init(&w, &c->body);
	json_w_begin_object(&w, NULL);
	switch (p->op) {
	case SSO_REGISTER_CLIENT:
		json_w_str(&w, "clientName", p->client_name);
		json_w_str(&w, "clientType", "public");
		if (p->n_scopes) {
			json_w_begin_array(&w, "scopes");
			for (size_t i = 0; i < p->n_scopes; i++)
				json_w_str(&w, NULL, p->scopes[i]);
			json_w_end_array(&w);
		}
		break;
	case SSO_START_DEVICE_AUTHORIZATION:
		json_w_str(&w, "clientId", p->client_id);
		json_w_str(&w, "clientSecret", p->client_secret);
		json_w_str(&w, "startUrl", p->start_url);
		break;
	case SSO_CREATE_TOKEN:
		json_w_str(&w, "clientId", p->client_id);
		json_w_str(&w, "clientSecret", p->client_secret);
		json_w_str(&w, "grantType",
		           p->device_code ? "urn:ietf:params:oauth:grant-type:device_code"
		                          : "refresh_token");
		json_w_str_opt(&w, "deviceCode", p->device_code);
		json_w_str_opt(&w, "refreshToken", p->refresh_token);
		break;
	default:
		break;
	}
	json_w_end_object(&w);
	return json_w_end(&w);
}

/* Are the parameters op needs there, within their caps? */
static int params_ok(const struct sso_api_params *p)
{
	int tok = param_ok(p->access_token, KR_SSO_TOKEN_MAX);
	int client = param_ok(p->client_id, KR_SSO_FIELD_MAX) &&
	             param_ok(p->client_secret, KR_SSO_TOKEN_MAX);

	if (!param_ok(p->ep.url, KR_HTTP_URL_MAX - 64) ||
	    (p->ep.ca_bundle && !param_ok(p->ep.ca_bundle, KR_PATH_MAX)) ||
	    (p->next_token && !param_ok(p->next_token, KR_SSO_FIELD_MAX)) ||
	    p->n_scopes > KR_SSO_SCOPES_MAX)
		return 0;
	for (size_t i = 0; i < p->n_scopes; i++)
		if (!param_ok(p->scopes[i], KR_SSO_FIELD_MAX))
			return 0;
	switch (p->op) {
	case SSO_GET_ROLE_CREDENTIALS:
		return tok && param_ok(p->account_id, KR_SSO_FIELD_MAX) &&
		       param_ok(p->role_name, KR_SSO_FIELD_MAX);
	case SSO_LIST_ACCOUNT_ROLES:
		return tok && param_ok(p->account_id, KR_SSO_FIELD_MAX);
	case SSO_LIST_ACCOUNTS:
	case SSO_LOGOUT:
		return tok;
	case SSO_REGISTER_CLIENT:
		return param_ok(p->client_name, KR_SSO_FIELD_MAX);
	case SSO_START_DEVICE_AUTHORIZATION:
		return client && param_ok(p->start_url, KR_SSO_FIELD_MAX);
	case SSO_CREATE_TOKEN:
		return client && (!p->device_code != !p->refresh_token) &&
		       param_ok(p->device_code ? p->device_code : p->refresh_token,
		                KR_SSO_TOKEN_MAX);
	default:
		return 0;
	}
}

/* A copy into secret memory; *r set on failure. */
static char *secret_dup(const char *s, int *r)
{
	char *d;

	if (!s || *r < 0)
		return NULL;
	d = mem_secret_strdup(s, KR_SSO_TOKEN_MAX > KR_VALUE_MAX ? KR_SSO_TOKEN_MAX : KR_VALUE_MAX);
	if (!d)
		*r = KR_ERR_NOMEM;
	return d;
}

int sso_api_call(struct loop *l, struct http *h, const struct sso_api_params *p, sso_api_fn fn,
                 void *userdata, struct sso_api_call **ret)
{
	struct sso_api_call *c = NULL;
	struct buf bearer;
	int r = KR_ERR_INVAL;

	buf_init_secret(&bearer, KR_SSO_TOKEN_MAX + 64);
	if (!l || !h || !p || !fn || !params_ok(p))
		goto out;
	r = KR_ERR_NOMEM;
	if (!(c = calloc(1, sizeof(*c))))
		goto out;
	c->loop = l;
	c->http = h;
	c->op = p->op;
	c->fn = fn;
	c->userdata = userdata;
	c->get = p->op == SSO_GET_ROLE_CREDENTIALS || p->op == SSO_LIST_ACCOUNTS ||
	         p->op == SSO_LIST_ACCOUNT_ROLES;
	c->no_retry = p->op == SSO_CREATE_TOKEN && p->device_code;
	buf_init_secret(&c->body, KR_SSO_TOKEN_MAX * 4);
	r = build_url(c, p);
	if (r == KR_OK && p->op > SSO_LOGOUT)
		r = build_body(c, p);
	if (r == KR_OK && p->access_token) {
		r = buf_printf(&bearer, "x-amz-sso_bearer_token: %s", p->access_token);
		if (r == KR_OK && !(c->bearer = buf_steal(&bearer, NULL)))
			r = KR_ERR_NOMEM;
	}
	c->sent[0] = secret_dup(p->op <= SSO_LOGOUT ? p->access_token : NULL, &r);
	c->sent[1] = secret_dup(p->op > SSO_LOGOUT ? p->client_secret : NULL, &r);
	c->sent[2] = secret_dup(p->refresh_token, &r);
	if (!c->sent[0])
		c->sent[0] = secret_dup(p->device_code, &r);
	c->proxy = secret_dup(p->ep.proxy, &r);
	c->no_proxy = secret_dup(p->ep.no_proxy, &r);
	if (r == KR_OK && p->ep.ca_bundle && !(c->ca_bundle = strdup(p->ep.ca_bundle)))
		r = KR_ERR_NOMEM;
	if (r < 0)
		goto out;
	c->deadline = loop_now(l) + (uint64_t)KR_SSO_DEADLINE_MS * 1000u;
	r = start_attempt(c);
	if (r < 0)
		goto out;
	if (ret)
		*ret = c;
	c = NULL;
out:
	buf_free(&bearer);
	call_free(c);
	return r;
}
