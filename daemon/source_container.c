/*
 * credential_source = EcsContainer: the container credentials endpoint, as
 * botocore's ContainerProvider reads it from the caller's environment:
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2), else
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, whose host must be a loopback
 * address or one of 169.254.170.2, 169.254.170.23, fd00:ec2::23 and
 * localhost unless the scheme is https (botocore 1.43's
 * ContainerMetadataFetcher, word for word in the error). The Authorization
 * header is the contents of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read on
 * every fetch: EKS Pod Identity rotates it), else
 * AWS_CONTAINER_AUTHORIZATION_TOKEN; a token with CR or LF is refused.
 * Each fetch makes at most 3 attempts of 2 s, 1 s apart, like botocore.
 *
 * Invariants: the token lives in secret memory, is wiped, never logged,
 * and is named in the cache key by a digest (the file by its path); the
 * answer is capped at KR_METADATA_RESP_MAX; no value from it reaches a
 * message.
 */
#include "source.h"

#include "cachekey.h"
#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "http.h"
#include "loop.h"
#include "mem.h"
#include "metadata.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ECS_HOST "169.254.170.2"

struct container_conf {
	char *url;
	char *token;      /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret), or NULL */
	char *token_file; /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, or NULL */
	char *proxy, *no_proxy;
};

struct container_call {
	struct loop *loop;
	struct http *http;
	struct http_xfer *x;
	struct loop_timer *timer;
	source_done_fn done;
	void *userdata;
	char *url, *auth; /* auth: "Authorization: TOKEN" (secret), or NULL */
	char *proxy, *no_proxy;
	int tries;
};

static void src_container_free(void *conf)
{
	struct container_conf *c = conf;

	if (!c)
		return;
	free(c->url);
	mem_free_str(c->token);
	free(c->token_file);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	free(c);
}

/* botocore: a loopback address (ipaddress's is_loopback), or one of its hosts. */
static int host_allowed(const char *host)
{
	static const char *const allowed[] = {ECS_HOST, "169.254.170.23", "fd00:ec2::23",
	                                      "localhost"};
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1 && a[0] == 127)
		return 1;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char lo[16] = {[15] = 1};

		if (memcmp(a, lo, 16) == 0)
			return 1;
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(host, allowed[i]) == 0)
			return 1;
	return 0;
}

/*
 * The host of an http(s) URL, lower case, brackets dropped (urlparse's
 * hostname) into out; *ret_https. KR_ERR_CONFIG for what is no such URL.
 */
static int url_host(const char *url, char *out, size_t n, int *ret_https)
{
	const char *p, *end;
	size_t len;

	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return KR_ERR_CONFIG;
	if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return KR_ERR_CONFIG;
	*ret_https = p - url == 8;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)))
		p = (const char *)memchr(p, '@', (size_t)(end - p)) + 1; /* userinfo */
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return KR_ERR_CONFIG;
		len = (size_t)(rb - p - 1);
		p++;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		len = (size_t)((colon ? colon : end) - p);
	}
	if (len == 0 || len >= n)
		return KR_ERR_CONFIG;
	for (size_t i = 0; i < len; i++)
		out[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a') : p[i];
	out[len] = '\0';
	return KR_OK;
}

static int src_container_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const struct caller_env *env = in->env;
	struct container_conf *c = calloc(1, sizeof(*c));
	struct pmap_val cs = {0};
	char host[300];
	int https = 0, r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	pmap_get(in->map, in->profile, PMAP_ANY, "credential_source", &cs);
	r = step_set_where(s, cs.file, cs.line);
	if (r < 0)
		return r;
	if (!env->container_relative_uri && !env->container_full_uri) {
		err_set(e, KR_ERR_NOCREDS, cs.file, cs.line,
		        "run it in a container with credentials (ECS task role, EKS Pod Identity), "
		        "or export AWS_CONTAINER_CREDENTIALS_FULL_URI",
		        "profile \"%s\" uses credential_source = EcsContainer but the caller has "
		        "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
		        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		        pmap_name(in->profile));
		return KR_ERR_NOCREDS;
	}
	if (env->container_relative_uri) {
		size_t n = strlen(env->container_relative_uri) + sizeof("http://" ECS_HOST);

		if (n > KR_HTTP_URL_MAX || !(c->url = malloc(n)))
			return n > KR_HTTP_URL_MAX ? KR_ERR_CONFIG : KR_ERR_NOMEM;
		snprintf(c->url, n, "http://%s%s", ECS_HOST, env->container_relative_uri);
	} else if (!(c->url = mem_strdup_max(env->container_full_uri, KR_HTTP_URL_MAX))) {
		return KR_ERR_NOMEM;
	}
	if (url_host(c->url, host, sizeof(host), &https) < 0) {
		err_set(e, KR_ERR_CONFIG, NULL, 0,
		        "export a URL such as http://169.254.170.23/v1/credentials",
		        "the container credentials URL \"%.200s\" is not an http or https URL",
		        c->url);
		return KR_ERR_CONFIG;
	}
	if (!https && !host_allowed(host)) {
		/* botocore's words (ValueError) */
		err_set(
		    e, KR_ERR_CONFIG, NULL, 0,
		    "use https, a loopback address or one of the container endpoints",
		    "Unsupported host '%.200s'.  Can only retrieve metadata from a loopback "
		    "address or one of these hosts: %s, 169.254.170.23, fd00:ec2::23, localhost",
		    host, ECS_HOST);
		return KR_ERR_CONFIG;
	}
	if (env->container_token_file) {
		if (!(c->token_file = mem_strdup_max(env->container_token_file, KR_PATH_MAX)))
			return KR_ERR_NOMEM;
	} else if (env->container_token) {
		if (strpbrk(env->container_token, "\r\n")) {
			err_set(
			    e, KR_ERR_CONFIG, NULL, 0, NULL,
			    "AWS_CONTAINER_AUTHORIZATION_TOKEN: Auth token value is not a legal "
			    "header value");
			return KR_ERR_CONFIG;
		}
		if (strlen(env->container_token) > KR_CONTAINER_TOKEN_MAX) {
			err_set(e, KR_ERR_CONFIG, NULL, 0, NULL,
			        "AWS_CONTAINER_AUTHORIZATION_TOKEN is longer than %d bytes",
			        KR_CONTAINER_TOKEN_MAX);
			return KR_ERR_CONFIG;
		}
		if (!(c->token = mem_secret_strdup(env->container_token, KR_CONTAINER_TOKEN_MAX)))
			return KR_ERR_NOMEM;
	}
	r = endpoint_proxy(c->url, &env->proxy, &c->proxy, &c->no_proxy);
	if (r == KR_OK && source_what(s, "container credentials %s", c->url) < 0)
		r = KR_ERR_NOMEM;
	return r;
}

static int src_container_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct container_conf *c = s->conf;
	int r = ckey_step(out, "container");

	if (r == KR_OK)
		r = ckey_str(out, "url=", c->url);
	if (r == KR_OK)
		r = ckey_str(out, "tokfile=", c->token_file);
	if (r == KR_OK && c->token)
		r = ckey_secret(out, "tok=", c->token, NULL);
	return r;
}

static void call_free(struct container_call *c)
{
	if (!c)
		return;
	http_cancel(c->x);
	loop_timer_free(c->timer);
	free(c->url);
	mem_free_str(c->auth);
	mem_free_str(c->proxy);
	mem_free_str(c->no_proxy);
	free(c);
}

static void finish(struct container_call *c, struct source_result *res)
{
	res->from = "container";
	c->x = NULL;
	c->done(c->userdata, res);
	sts_creds_clear(&res->creds);
	call_free(c);
}

static void on_done(void *userdata, int err, long status, struct buf *body,
                    const struct err_detail *e);

static int send_request(struct container_call *c)
{
	const char *hdrs[2] = {"Accept: application/json", c->auth};
	struct http_request req = {
	    .method = "GET",
	    .url = c->url,
	    .headers = hdrs,
	    .n_headers = c->auth ? 2 : 1,
	    .proxy = c->proxy,
	    .no_proxy = c->no_proxy,
	    .connect_ms = KR_CONTAINER_TIMEOUT_MS,
	    .total_ms = KR_CONTAINER_TIMEOUT_MS,
	    .resp_max = KR_METADATA_RESP_MAX,
	};

	c->tries++;
	return http_post(c->http, &req, on_done, c, &c->x);
}

static void on_sleep(struct loop_timer *t, void *userdata)
{
	struct container_call *c = userdata;
	struct source_result res = {0};
	int r;

	loop_timer_free(c->timer);
	c->timer = NULL;
	r = send_request(c);
	if (r < 0) {
		res.err = r;
		err_set(&res.detail, r, NULL, 0, NULL, "container credentials %.300s: %s", c->url,
		        err_str(r));
		finish(c, &res);
	}
}

static void on_done(void *userdata, int err, long status, struct buf *body,
                    const struct err_detail *e)
{
	struct container_call *c = userdata;
	struct source_result res = {0};
	struct err_detail why;
	int r;

	c->x = NULL;
	memset(&why, 0, sizeof(why));
	if (err == KR_OK && status == 200 &&
	    metadata_parse_creds(body->data ? body->data : "", body->len,
	                         "the container credentials endpoint", &res.creds, &why) == KR_OK) {
		finish(c, &res);
		return;
	}
	if (err == KR_OK && status != 200)
		snprintf(why.msg, sizeof(why.msg), "HTTP %ld", status);
	else if (err != KR_OK)
		snprintf(why.msg, sizeof(why.msg), "%s", e ? e->msg : err_str(err));
	if (err != KR_ERR_TOOBIG && c->tries < KR_CONTAINER_ATTEMPTS) {
		r = loop_timer_add(c->loop,
		                   loop_now(c->loop) + (uint64_t)KR_CONTAINER_SLEEP_MS * 1000u,
		                   on_sleep, c, &c->timer);
		if (r == KR_OK)
			return;
	}
	res.err = err == KR_OK
	              ? (status == 200 ? KR_ERR_PARSE : KR_ERR_NOCREDS)
	              : (err == KR_ERR_TOOBIG || err == KR_ERR_TIMEOUT ? err : KR_ERR_NETWORK);
	err_set(&res.detail, res.err, NULL, 0,
	        status == 401 || status == 403
	            ? "check AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)"
	            : "check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI",
	        "container credentials %.300s: %d attempts, the last: %s", c->url, c->tries,
	        why.msg);
	finish(c, &res);
}

static int src_container_fetch(const struct source_fetch *f, struct source_result *res,
                               void **ret_call)
{
	const struct container_conf *conf = f->step->conf;
	struct container_call *c = calloc(1, sizeof(*c));
	char *file_token = NULL;
	const char *token = conf->token;
	struct buf auth;
	int r = KR_ERR_NOMEM;

	buf_init_secret(&auth, KR_CONTAINER_TOKEN_MAX + 32);
	if (!c)
		goto fail;
	if (conf->token_file) {
		r = metadata_read_file(conf->token_file, KR_CONTAINER_TOKEN_MAX,
		                       "container authorization token file", &file_token,
		                       &res->detail);
		if (r < 0)
			goto out;
		if (strpbrk(file_token, "\r\n")) {
			/* botocore's words (ValueError): a newline at the end counts too */
			err_set(&res->detail, KR_ERR_CONFIG, conf->token_file, 0,
			        "write the token without a newline",
			        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: Auth token value is not a "
			        "legal header value");
			r = KR_ERR_CONFIG;
			goto out;
		}
		token = file_token;
	}
	r = token ? buf_printf(&auth, "Authorization: %s", token) : KR_OK;
	if (r < 0)
		goto fail;
	c->loop = f->svc->loop;
	c->http = f->svc->http;
	c->done = f->done;
	c->userdata = f->userdata;
	c->url = strdup(conf->url);
	c->auth = token ? buf_steal(&auth, NULL) : NULL;
	c->proxy = conf->proxy ? mem_secret_strdup(conf->proxy, KR_VALUE_MAX) : NULL;
	c->no_proxy = conf->no_proxy ? mem_secret_strdup(conf->no_proxy, KR_VALUE_MAX) : NULL;
	r = KR_ERR_NOMEM;
	if (!c->url || (token && !c->auth) || (conf->proxy && !c->proxy) ||
	    (conf->no_proxy && !c->no_proxy))
		goto fail;
	r = c->http && c->loop ? send_request(c) : KR_ERR_INTERNAL;
	if (r < 0)
		goto fail;
	*ret_call = c;
	c = NULL;
	r = 0;
	goto out;
fail:
	err_set(&res->detail, r, NULL, 0, NULL, "container credentials: %s", err_str(r));
out:
	call_free(c);
	mem_free_str(file_token);
	buf_free(&auth);
	return r;
}

static void src_container_cancel(void *call)
{
	call_free(call);
}

static void src_container_describe(const struct step *s, const struct chain *ch,
                                   struct step_report *out)
{
	const struct container_conf *c = s->conf;

	out->kind = "source";
	out->type = "container";
	out->url = c ? c->url : NULL;
}

const struct source_ops source_container = {
    .name = "container",
    .flags = SOURCE_SESSION | SOURCE_ROLE_SESSION,
    .max_lifetime = 43200,
    .parse = src_container_parse,
    .free = src_container_free,
    .key = src_container_key,
    .fetch = src_container_fetch,
    .cancel = src_container_cancel,
    .describe = src_container_describe,
};
