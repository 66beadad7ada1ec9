/*
 * Asynchronous STS calls with retries.
 *
 * Invariants:
 * - sts_call() copies what it needs: the endpoint pieces, the signing
 *   region, the CA bundle path and the source credentials (in secret
 *   memory, wiped at the end), and builds the form body once (it may hold
 *   an MFA code; it lives in a secret struct buf). The header lines of each
 *   attempt (Authorization, X-Amz-Security-Token) are secret memory too,
 *   wiped as soon as the HTTP layer has copied them. The credentials of a
 *   result are sts_xml.c's, in secret memory.
 * - Retries: only what sts_req_retryable() allows, at most KR_STS_RETRIES
 *   extra attempts, each after a full-jitter backoff (uniform in
 *   [0, min(KR_STS_BACKOFF_MAX_MS, KR_STS_BACKOFF_MS * 2^n)]), and never
 *   past KR_STS_DEADLINE_MS after the call started; each attempt's HTTP
 *   timeout is cut to the time left.
 * - done runs exactly once, from the loop, unless the call is cancelled.
 *   After done returns, whatever the callback left in the result is wiped.
 */
#include "sts.h"

#include "err.h"
#include "caps.h"
#include "mem.h"
#include "sts_req.h"
#include "sts_xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct sts {
	struct loop *l;
	struct http *http; /* owned when the default HTTP is used */
	struct sts_ops ops;
	struct sts_call *calls;
	unsigned deadline_ms; /* of each call: sts_set_deadline() */
};

struct sts_call {
	struct sts *s;
	struct sts_call *prev, *next;
	int linked; /* on s->calls */
	int op;
	char *url, *host, *path, *region, *ca_bundle;
	char *proxy, *no_proxy;      /* may hold a proxy password: secret memory */
	char *akid, *secret, *token; /* source credentials: secret memory */
	struct buf body;             /* form body, may hold an MFA code */
	sts_done_fn done;
	void *userdata;
	uint64_t start_ms, deadline_ms;
	struct http_xfer *xfer;
	struct loop_timer *timer;
	struct sts_result res;
};

void sts_creds_clear(struct sts_creds *c)
{
	if (!c)
		return;
	mem_free_str(c->access_key_id);
	mem_free_str(c->secret_access_key);
	mem_free_str(c->session_token);
	mem_free_str(c->arn);
	memset(c, 0, sizeof(*c));
}

int sts_creds_copy(struct sts_creds *dst, const struct sts_creds *src)
{
	struct sts_creds c = {.expiration = src->expiration};

	c.access_key_id = strdup(src->access_key_id ? src->access_key_id : "");
	c.secret_access_key =
	    mem_secret_strdup(src->secret_access_key ? src->secret_access_key : "",
	                      src->secret_access_key ? strlen(src->secret_access_key) : 0);
	c.session_token = src->session_token
	                      ? mem_secret_strdup(src->session_token, strlen(src->session_token))
	                      : NULL;
	c.arn = src->arn ? strdup(src->arn) : NULL;
	if (!c.access_key_id || !c.secret_access_key || (src->session_token && !c.session_token) ||
	    (src->arn && !c.arn)) {
		sts_creds_clear(&c);
		return KR_ERR_NOMEM;
	}
	sts_creds_clear(dst);
	*dst = c;
	return KR_OK;
}

const char *sts_op_name(int op)
{
	switch (op) {
	case STS_ASSUME_ROLE:
		return "AssumeRole";
	case STS_GET_SESSION_TOKEN:
		return "GetSessionToken";
	case STS_GET_CALLER_IDENTITY:
		return "GetCallerIdentity";
	case STS_GET_FEDERATION_TOKEN:
		return "GetFederationToken";
	case STS_ASSUME_ROLE_WITH_WEB_IDENTITY:
		return "AssumeRoleWithWebIdentity";
	default:
		return "?";
	}
}

static void result_clear(struct sts_result *r)
{
	sts_creds_clear(&r->creds);
	mem_free_str(r->aws_code);
	mem_free_str(r->aws_message);
	mem_free_str(r->account);
	mem_free_str(r->user_id);
	r->aws_code = r->aws_message = r->account = r->user_id = NULL;
}

/* Defaults for the seams. */
static int def_post(void *ud, const struct http_request *req, http_done_fn done, void *userdata,
                    struct http_xfer **ret)
{
	return http_post(ud, req, done, userdata, ret);
}

static void def_cancel(void *ud, struct http_xfer *x)
{
	http_cancel(x);
}

static uint32_t def_random(void *ud)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		/* Jitter only spreads load; any varying value will do. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
	}
	return v;
}

int sts_new(struct loop *l, const struct sts_ops *ops, struct sts **ret)
{
	struct sts *s;
	int r;

	if (!l || !ret)
		return KR_ERR_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KR_ERR_NOMEM;
	s->l = l;
	s->deadline_ms = KR_STS_DEADLINE_MS;
	if (ops)
		s->ops = *ops;
	if (!s->ops.http_post) {
		r = http_new(l, &s->http);
		if (r < 0) {
			free(s);
			return r;
		}
		s->ops.http_post = def_post;
		s->ops.http_cancel = def_cancel;
		s->ops.http_userdata = s->http;
	}
	if (!s->ops.http_cancel) {
		/* A custom HTTP function must come with its own cancel. */
		free(s);
		return KR_ERR_INVAL;
	}
	if (!s->ops.random)
		s->ops.random = def_random;
	*ret = s;
	return KR_OK;
}

static uint64_t now_ms(const struct sts *s)
{
	return s->ops.now_ms ? s->ops.now_ms(s->ops.clock_userdata) : loop_now(s->l) / 1000u;
}

static time_t wall_now(const struct sts *s)
{
	return s->ops.wall_now ? s->ops.wall_now(s->ops.clock_userdata) : time(NULL);
}

/* Idempotent: once unlinked (call_finish()), c->s may already be freed by the done callback. */
static void call_unlink(struct sts_call *c)
{
	struct sts *s = c->s;

	if (!c->linked)
		return;
	c->linked = 0;
	if (c->prev)
		c->prev->next = c->next;
	else if (s->calls == c)
		s->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Stop whatever is pending, wipe and free. Does not call done. */
static void call_free(struct sts_call *c)
{
	if (!c)
		return;
	if (c->xfer)
		c->s->ops.http_cancel(c->s->ops.http_userdata, c->xfer);
	loop_timer_free(c->timer);
	call_unlink(c);
	free(c->url);
	free(c->host);
	free(c->path);
	free(c->region);
	free(c->ca_bundle);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	mem_free_str(c->akid);
	mem_free_str(c->secret);
	mem_free_str(c->token);
	buf_free(&c->body);
	result_clear(&c->res);
	free(c);
}

void sts_free(struct sts *s)
{
	if (!s)
		return;
	while (s->calls)
		call_free(s->calls);
	http_free(s->http);
	free(s);
}

void sts_call_cancel(struct sts_call *c)
{
	call_free(c);
}

static void set_detail(struct sts_call *c, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hand the result to the owner, then free the call. */
static void call_finish(struct sts_call *c)
{
	call_unlink(c);
	c->res.elapsed_ms = now_ms(c->s) - c->start_ms;
	if (c->res.err != KR_OK && c->res.detail.msg[0] == '\0')
		set_detail(c, c->res.err, NULL, "%s", err_str(c->res.err));
	c->res.detail.code = c->res.err;
	c->done(c->userdata, &c->res);
	call_free(c);
}

/* Printable one-line copy of text (no control bytes), truncated to fit. */
static void one_line(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < size; src++)
		dst[i++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? ' ' : *src;
	if (size)
		dst[i] = '\0';
}

/* detail = code, fix (may be NULL), and "<Operation>: " + the formatted text on one line. */
static void set_detail(struct sts_call *c, int code, const char *fix, const char *fmt, ...)
{
	char tmp[sizeof(c->res.detail.msg)];
	int n;
	va_list ap;

	n = snprintf(tmp, sizeof(tmp), "%s: ", sts_op_name(c->op));
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(tmp))
		vsnprintf(tmp + n, sizeof(tmp) - (size_t)n, fmt, ap);
	va_end(ap);
	err_set(&c->res.detail, code, NULL, 0, fix, "%s", "");
	one_line(c->res.detail.msg, sizeof(c->res.detail.msg), tmp);
}

static void on_http_done(void *userdata, int err, long status, struct buf *body,
                         const struct err_detail *e);
static void on_backoff(struct loop_timer *t, void *userdata);

/* Sign and send one attempt. */
static int start_attempt(struct sts_call *c)
{
	struct sts *s = c->s;
	struct sigv4_creds creds = {c->akid, c->secret, c->token};
	struct sigv4_header hdrs[2] = {
	    {"Host", c->host},
	    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
	};
	struct sigv4_request sreq = {
	    .method = "POST",
	    .target = c->path,
	    .headers = hdrs,
	    .n_headers = 2,
	    .body = c->body.data,
	    .body_len = c->body.len,
	    .normalize_path = 1,
	};
	struct sigv4_result sig;
	char *lines[2 + SIGV4_ADD_MAX] = {NULL};
	size_t n_lines = 0;
	struct http_request hreq;
	uint64_t now = now_ms(s), left;
	int r, signed_ok = 0;

	memset(&sig, 0, sizeof(sig));
	left = c->deadline_ms > now ? c->deadline_ms - now : 0;
	if (left < KR_STS_MIN_ATTEMPT_MS) {
		r = KR_ERR_TIMEOUT;
		goto out;
	}
	/* AssumeRoleWithWebIdentity is unsigned: the token is the credential (botocore too). */
	if (c->op != STS_ASSUME_ROLE_WITH_WEB_IDENTITY) {
		r = sigv4_sign(&sreq, &creds, c->region, "sts", wall_now(s), &sig);
		if (r < 0)
			goto out;
		signed_ok = 1;
	}
	for (size_t i = 0; i < 2 + (signed_ok ? sig.n_add : 0); i++) {
		const struct sigv4_header *hd = i < 2 ? &hdrs[i] : &sig.add[i - 2];
		struct buf line;
		buf_init_secret(&line, KR_SIGV4_HEADER_MAX + KR_SIGV4_NAME_MAX + 4);
		r = buf_printf(&line, "%s: %s", hd->name, hd->value);
		if (r < 0) {
			buf_free(&line);
			goto out;
		}
		lines[n_lines++] = buf_steal(&line, NULL);
		if (!lines[n_lines - 1]) {
			r = KR_ERR_NOMEM;
			goto out;
		}
	}
	memset(&hreq, 0, sizeof(hreq));
	hreq.url = c->url;
	hreq.headers = (const char *const *)lines;
	hreq.n_headers = n_lines;
	hreq.body = c->body.data;
	hreq.body_len = c->body.len;
	hreq.ca_bundle = c->ca_bundle;
	hreq.proxy = c->proxy;
	hreq.no_proxy = c->no_proxy;
	hreq.connect_ms = KR_HTTP_CONNECT_MS;
	hreq.total_ms = left < KR_HTTP_TOTAL_MS ? (long)left : KR_HTTP_TOTAL_MS;
	if (hreq.connect_ms > hreq.total_ms)
		hreq.connect_ms = hreq.total_ms;
	r = s->ops.http_post(s->ops.http_userdata, &hreq, on_http_done, c, &c->xfer);
	if (r < 0)
		goto out;
	c->res.attempts++;
	r = KR_OK;
out:
	for (size_t i = 0; i < n_lines; i++)
		mem_free_str(lines[i]);
	if (signed_ok)
		sigv4_result_free(&sig);
	return r;
}

/* A copy of s (NULL stays NULL), in secret memory if secret; *err set on the first failure. */
static char *param_dup(const char *s, size_t max, int secret, int *err)
{
	char *r;

	if (!s)
		return NULL;
	r = secret ? mem_secret_strdup(s, max) : mem_strdup_max(s, max);
	if (!r && *err == KR_OK)
		*err = strnlen(s, max + 1) > max ? KR_ERR_INVAL : KR_ERR_NOMEM;
	return r;
}

int sts_call(struct sts *s, const struct sts_params *p, sts_done_fn done, void *userdata,
             struct sts_call **ret)
{
	struct sts_call *c = NULL;
	int r = KR_OK;

	if (!s || !p || !done || !p->endpoint || !p->region ||
	    (p->op != STS_ASSUME_ROLE_WITH_WEB_IDENTITY &&
	     (!p->source.access_key_id || !p->source.secret_access_key))) {
		r = KR_ERR_INVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	c->s = s;
	c->op = p->op;
	c->done = done;
	c->userdata = userdata;
	buf_init_secret(&c->body, KR_STS_BODY_MAX);
	r = sts_req_body(p, &c->body);
	if (r < 0)
		goto out;
	r = sts_req_endpoint(p->endpoint, &c->host, &c->path);
	if (r < 0)
		goto out;
	c->url = param_dup(p->endpoint, KR_STS_ENDPOINT_MAX, 0, &r);
	c->region = param_dup(p->region, KR_SIGV4_SCOPE_MAX, 0, &r);
	c->ca_bundle = param_dup(p->ca_bundle, KR_PATH_MAX, 0, &r);
	c->proxy = param_dup(p->proxy, KR_VALUE_MAX, 1, &r);
	c->no_proxy = param_dup(p->no_proxy, KR_VALUE_MAX, 1, &r);
	c->akid = param_dup(p->source.access_key_id, KR_SIGV4_KEY_MAX, 1, &r);
	c->secret = param_dup(p->source.secret_access_key, KR_SIGV4_KEY_MAX, 1, &r);
	c->token = param_dup(p->source.session_token, KR_SIGV4_TOKEN_MAX, 1, &r);
	if (r < 0)
		goto out;
	c->start_ms = now_ms(s);
	c->deadline_ms = c->start_ms + s->deadline_ms;
	if (p->not_after_ms && p->not_after_ms < c->deadline_ms)
		c->deadline_ms = p->not_after_ms;
	/* Link first: a failing first attempt frees through call_free(). */
	c->next = s->calls;
	if (s->calls)
		s->calls->prev = c;
	s->calls = c;
	c->linked = 1;
	r = start_attempt(c);
	if (r < 0)
		goto out;
	if (ret)
		*ret = c;
	c = NULL;
out:
	call_free(c);
	return r;
}

void sts_set_deadline(struct sts *s, unsigned ms)
{
	s->deadline_ms = ms < KR_STS_MIN_ATTEMPT_MS ? KR_STS_MIN_ATTEMPT_MS : ms;
}

/* Fill c->res from a received HTTP answer; returns the outcome's error. */
static int absorb_answer(struct sts_call *c, long status, struct buf *body)
{
	struct sts_xml_result x;
	struct err_detail why;
	int r;

	memset(&x, 0, sizeof(x));
	r = sts_xml_parse(body->data, body->len, &x, &why);
	if (r < 0) {
		if (status >= 200 && status <= 299) {
			r = r == KR_ERR_TOOBIG ? KR_ERR_TOOBIG : KR_ERR_PARSE;
			set_detail(c, r, why.fix, "%s", why.msg);
			return r;
		}
		/* No fix: an error page may be AWS's own (a 503), not a proxy's. */
		set_detail(c, KR_ERR_AWS, NULL, "STS answered HTTP %ld (%s)", status, why.msg);
		return KR_ERR_AWS;
	}
	if (x.error_code || status < 200 || status > 299) {
		c->res.aws_code = x.error_code;
		c->res.aws_message = x.error_message;
		x.error_code = x.error_message = NULL;
		if (c->res.aws_code) {
			/* The hint (sts_req_hint()) is the caller's to add. */
			set_detail(c, KR_ERR_AWS, NULL, "%s: %s", c->res.aws_code,
			           c->res.aws_message ? c->res.aws_message : "");
		} else {
			set_detail(c, KR_ERR_AWS, NULL, "STS answered HTTP %ld", status);
		}
		r = KR_ERR_AWS;
		goto out;
	}
	if (c->op == STS_GET_CALLER_IDENTITY) {
		if (!x.arn || !x.account) {
			set_detail(c, KR_ERR_PARSE, NULL, "STS response lacks Arn or Account");
			r = KR_ERR_PARSE;
			goto out;
		}
		c->res.creds.arn = x.arn;
		c->res.account = x.account;
		c->res.user_id = x.user_id;
		x.arn = x.account = x.user_id = NULL;
		r = KR_OK;
		goto out;
	}
	if (!x.access_key_id || !x.secret_access_key || !x.session_token || !x.has_expiration ||
	    !*x.access_key_id || !*x.secret_access_key || !*x.session_token) {
		set_detail(c, KR_ERR_PARSE, NULL, "STS response lacks credentials");
		r = KR_ERR_PARSE;
		goto out;
	}
	c->res.creds.access_key_id = x.access_key_id;
	c->res.creds.secret_access_key = x.secret_access_key;
	c->res.creds.session_token = x.session_token;
	c->res.creds.expiration = x.expiration;
	c->res.creds.arn = x.arn;
	x.access_key_id = x.secret_access_key = x.session_token = x.arn = NULL;
	r = KR_OK;
out:
	sts_xml_result_clear(&x);
	return r;
}

static uint64_t backoff_ms(struct sts_call *c)
{
	uint64_t cap = KR_STS_BACKOFF_MS;
	int n = c->res.attempts - 1; /* 0 after the first attempt */

	for (int i = 0; i < n && cap < KR_STS_BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > KR_STS_BACKOFF_MAX_MS)
		cap = KR_STS_BACKOFF_MAX_MS;
	return c->s->ops.random(c->s->ops.random_userdata) % (cap + 1);
}

static void on_http_done(void *userdata, int err, long status, struct buf *body,
                         const struct err_detail *e)
{
	struct sts_call *c = userdata;
	struct sts *s = c->s;
	uint64_t now, delay;
	int r;

	c->xfer = NULL;
	result_clear(&c->res);
	memset(&c->res.detail, 0, sizeof(c->res.detail));
	c->res.http_status = status;
	c->res.transport[0] = '\0';
	if (err == KR_OK) {
		err = absorb_answer(c, status, body);
	} else {
		set_detail(c, err, e ? e->fix : NULL, "%s: %s", err_str(err), e ? e->msg : "");
		one_line(c->res.transport, sizeof(c->res.transport), e ? e->msg : err_str(err));
	}
	c->res.err = err;
	if (err == KR_OK ||
	    !sts_req_retryable(err == KR_ERR_AWS || err == KR_ERR_PARSE ? KR_OK : err, status,
	                       c->res.aws_code) ||
	    c->res.attempts > KR_STS_RETRIES)
		goto done;
	now = now_ms(s);
	delay = backoff_ms(c);
	if (now + delay + KR_STS_MIN_ATTEMPT_MS > c->deadline_ms)
		goto done; /* no time left for another attempt: report this one */
	r = loop_timer_add(s->l, loop_now(s->l) + delay * 1000u, on_backoff, c, &c->timer);
	if (r < 0)
		goto done;
	return;
done:
	call_finish(c);
}

static void on_backoff(struct loop_timer *t, void *userdata)
{
	struct sts_call *c = userdata;
	int r;

	loop_timer_free(c->timer);
	c->timer = NULL;
	r = start_attempt(c);
	if (r < 0) {
		/* Keep the previous attempt's answer if there was one worth reporting. */
		if (r != KR_ERR_TIMEOUT || c->res.err == KR_OK) {
			result_clear(&c->res);
			c->res.err = r;
			set_detail(c, r, NULL, "%s", err_str(r));
		}
		call_finish(c);
	}
}
