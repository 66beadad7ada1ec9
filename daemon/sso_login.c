/*
 * IAM Identity Center logins: the OAuth device authorization (RFC 8628)
 * of one session, as the AWS CLI's `aws sso login` runs it, driven by
 * keyroled for every client that asks (sso.h: sso_login_start,
 * sso_login_wait).
 *
 * Invariants:
 * - One device authorization per session at a time: every "login" of the
 *   session while one is in progress joins it (one page to approve, one
 *   token for all).
 * - The client registration (RegisterClient) is kept with the token
 *   (memory and keyring) and used again until it expires; one the OIDC
 *   service refuses is dropped and made again, once.
 * - keyroled polls CreateToken itself at the interval given, 5 s more
 *   after each slow_down, never past the device code's expiry; waiters
 *   are answered once, together. The device code lives in secret memory
 *   and never leaves the daemon; the user code and the verification URL
 *   are not secret (the user types or opens them).
 * - A finished login is kept a little (KR_SSO_LOGIN_KEEP_S), so that a
 *   login_wait that arrives late gets its outcome.
 */
#include "sso_impl.h"

#include "caps.h"
#include "loop.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LOGIN_KEEP_S 60   /* a finished login's outcome is kept this long */
#define REG_MARGIN_S 3600 /* a registration with less left is made again */
#define CLIENT_NAME  "keyrole"

enum login_state { L_REGISTERING, L_STARTING, L_POLLING, L_DONE, L_FAILED };

struct sso_login {
	struct list_node link; /* in s->logins */
	struct sso *s;
	struct sso_tok *t; /* NULL once its session went */
	char id[40];
	char *session; /* sso_where_name() at the start (answers) */
	enum login_state state;
	int registered_again;
	char *device_code; /* secret memory */
	char *user_code, *uri, *uri_complete;
	uint64_t code_end; /* loop clock: the device code's expiry */
	long interval;     /* seconds between polls */
	struct loop_timer *timer;
	struct sso_api_call *api;
	struct list_node starters; /* TOKEN, LOADED calls waiting for the URL and the code */
	struct list_node waiters;  /* WAIT calls */
	int err;                   /* L_DONE: KR_OK; L_FAILED: why */
	struct err_detail e;
	time_t expiration;
};

static void login_free(struct sso_login *g)
{
	if (!g)
		return;
	while (!list_empty(&g->starters))
		sso_call_free(list_entry(g->starters.next, struct sso_call, link));
	while (!list_empty(&g->waiters))
		sso_call_free(list_entry(g->waiters.next, struct sso_call, link));
	if (g->t && g->t->login == g)
		g->t->login = NULL;
	sso_api_cancel(g->api);
	loop_timer_free(g->timer);
	mem_free_str(g->device_code);
	free(g->session);
	free(g->user_code);
	free(g->uri);
	free(g->uri_complete);
	list_unlink(&g->link);
	free(g);
}

void sso_login_free_all(struct sso *s)
{
	while (!list_empty(&s->logins))
		login_free(list_entry(s->logins.next, struct sso_login, link));
}

static uint64_t secs_us(long s)
{
	return (uint64_t)s * 1000000u;
}

static void arm(struct sso_login *g, uint64_t at, loop_timer_fn fn)
{
	loop_timer_free(g->timer);
	g->timer = NULL;
	loop_timer_add(g->s->o.loop, at, fn, g, &g->timer);
}

static void on_forget(struct loop_timer *timer, void *userdata)
{
	login_free(userdata);
}

/* ---- answers ---- */

static void answer_wait(struct sso_call *c, struct sso_login *g)
{
	c->login = NULL;
	c->expiration = g->expiration;
	if (!c->session)
		c->session = strdup(g->session);
	sso_call_answer(c, g->err, &g->e);
}

static void answer_start(struct sso_call *c, struct sso_login *g)
{
	uint64_t now = loop_now(g->s->o.loop);
	struct sso_login_info info = {
	    .login_id = g->id,
	    .verification_uri = g->uri,
	    .verification_uri_complete = g->uri_complete,
	    .user_code = g->user_code,
	    .expires_in = g->code_end > now ? (long)((g->code_end - now) / 1000000u) : 0,
	    .joined = c->joined,
	};

	list_unlink(&c->link);
	c->login_fn(c->userdata, KR_OK, &info, NULL);
	sso_call_free(c);
}

/* The login ended (err, e): tell everyone, keep the outcome a little for late waiters. */
static void finish(struct sso_login *g, int err, const struct err_detail *e)
{
	g->state = err == KR_OK ? L_DONE : L_FAILED;
	g->err = err;
	if (e)
		g->e = *e;
	else
		err_set_code(&g->e, err);
	mem_free_str(g->device_code);
	g->device_code = NULL;
	/* Kept only for its outcome now: it lets go of its session, which may go first. */
	if (g->t && g->t->login == g)
		g->t->login = NULL;
	g->t = NULL;
	while (!list_empty(&g->starters)) {
		struct sso_call *c = list_entry(g->starters.next, struct sso_call, link);

		sso_call_answer(c, err, &g->e);
	}
	while (!list_empty(&g->waiters))
		answer_wait(list_entry(g->waiters.next, struct sso_call, link), g);
	arm(g, loop_now(g->s->o.loop) + secs_us(LOGIN_KEEP_S), on_forget);
}

static void fail_detail(struct sso_login *g, const struct sso_api_result *res, const char *what)
{
	struct err_detail e;

	err_set(&e, res->err, NULL, 0, res->detail.fix[0] ? res->detail.fix : NULL,
	        "IAM Identity Center session %s: %s: %s", g->session, what, res->detail.msg);
	finish(g, res->err, &e);
}

/* ---- polling ---- */

static void poll_now(struct loop_timer *timer, void *userdata);

static void poll_later(struct sso_login *g)
{
	uint64_t at = loop_now(g->s->o.loop) + secs_us(g->interval);

	arm(g, at < g->code_end ? at : g->code_end, poll_now);
}

static void on_token(void *userdata, struct sso_api_result *res)
{
	struct sso_login *g = userdata;
	time_t now;

	g->api = NULL;
	if (res->err == KR_OK && g->t) {
		now = sso_now(g->s);
		g->expiration = now + res->expires_in;
		sso_tok_set(g->t, &res->access_token, g->expiration, &res->refresh_token, "login");
		finish(g, KR_OK, NULL);
		return;
	}
	if (strcmp(res->code, "slow_down") == 0) {
		g->interval += KR_SSO_SLOW_DOWN_S;
		if (g->interval > KR_SSO_POLL_MAX_S)
			g->interval = KR_SSO_POLL_MAX_S;
	}
	if (res->err == KR_ERR_LOGIN) {
		fail_detail(g, res,
		            strcmp(res->code, "access_denied") == 0   ? "the login was denied"
		            : strcmp(res->code, "expired_token") == 0 ? "the login's code expired"
		                                                      : "the login was refused");
		return;
	}
	/* authorization_pending, slow_down, a 5xx, the network: ask again later. */
	poll_later(g);
}

static void poll_now(struct loop_timer *timer, void *userdata)
{
	struct sso_login *g = userdata;
	struct sso_tok *t = g->t;
	struct err_detail e;
	struct sso_api_params p = {.op = SSO_CREATE_TOKEN};

	if (!t || loop_now(g->s->o.loop) >= g->code_end) {
		err_set(&e, KR_ERR_TIMEOUT, NULL, 0, "run keyrole login again",
		        "IAM Identity Center session %s: the login was not approved before its "
		        "code expired",
		        g->session);
		finish(g, KR_ERR_TIMEOUT, &e);
		return;
	}
	p.ep = (struct sso_api_endpoint){t->where.oidc_url, t->where.ca_bundle, t->where.oidc_proxy,
	                                 t->where.no_proxy};
	p.client_id = t->client_id;
	p.client_secret = t->client_secret;
	p.device_code = g->device_code;
	if (!t->client_id || sso_api_call(g->s->o.loop, g->s->o.http, &p, on_token, g, &g->api) < 0)
		poll_later(g); /* out of memory now: the next tick may do better */
}

/* ---- starting: registration, device authorization ---- */

static void step(struct sso_login *g);

static void on_started(void *userdata, struct sso_api_result *res)
{
	struct sso_login *g = userdata;
	uint64_t now = loop_now(g->s->o.loop);

	g->api = NULL;
	if (res->err == KR_ERR_LOGIN && strcmp(res->code, "invalid_client") == 0 &&
	    !g->registered_again && g->t) {
		/* Our registration was refused (expired, deleted): make a new one, once. */
		g->registered_again = 1;
		sso_tok_drop_client(g->t);
		g->state = L_REGISTERING;
		step(g);
		return;
	}
	if (res->err != KR_OK) {
		fail_detail(g, res, "the login could not start");
		return;
	}
	g->device_code = res->device_code;
	g->user_code = res->user_code;
	g->uri = res->verification_uri;
	g->uri_complete = res->verification_uri_complete;
	res->device_code = res->user_code = res->verification_uri = NULL;
	res->verification_uri_complete = NULL;
	g->interval = res->interval;
	g->code_end = now + secs_us(res->expires_in);
	g->state = L_POLLING;
	while (!list_empty(&g->starters))
		answer_start(list_entry(g->starters.next, struct sso_call, link), g);
	poll_later(g);
}

static void on_registered(void *userdata, struct sso_api_result *res)
{
	struct sso_login *g = userdata;

	g->api = NULL;
	if (res->err != KR_OK) {
		fail_detail(g, res, "the client registration failed");
		return;
	}
	if (g->t)
		sso_tok_set_client(g->t, &res->client_id, &res->client_secret, res->client_expires,
		                   g->t->reg_scopes_wanted);
	g->state = L_STARTING;
	step(g);
}

/* sso_registration_scopes as one space-separated string (NULL: none); the caller frees it. */
static char *scopes_text(const struct sso_where *w)
{
	size_t n = 0, off = 0;
	char *s;

	for (size_t i = 0; i < w->n_scopes; i++)
		n += strlen(w->scopes[i]) + 1;
	if (!n || !(s = malloc(n)))
		return NULL;
	for (size_t i = 0; i < w->n_scopes; i++) {
		size_t len = strlen(w->scopes[i]);

		if (i)
			s[off++] = ' ';
		memcpy(s + off, w->scopes[i], len);
		off += len;
	}
	s[off] = '\0'; /* off < n: n counted one byte more per scope than it holds */
	return s;
}

/* Is t's registration one to use: present, long enough, for the scopes wanted? */
static int registration_ok(const struct sso_tok *t)
{
	const char *have = t->reg_scopes ? t->reg_scopes : "";
	const char *want = t->reg_scopes_wanted ? t->reg_scopes_wanted : "";

	return t->client_id && t->client_secret && t->reg_expires > sso_now(t->s) + REG_MARGIN_S &&
	       strcmp(have, want) == 0;
}

/* The next call of the start: RegisterClient when needed, then StartDeviceAuthorization. */
static void step(struct sso_login *g)
{
	struct sso_tok *t = g->t;
	struct sso_api_params p = {0};
	struct err_detail e;
	int r;

	if (!t) {
		err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login again",
		        "IAM Identity Center session %s: logged out during the login", g->session);
		finish(g, KR_ERR_LOGIN, &e);
		return;
	}
	p.ep = (struct sso_api_endpoint){t->where.oidc_url, t->where.ca_bundle, t->where.oidc_proxy,
	                                 t->where.no_proxy};
	if (g->state == L_REGISTERING && registration_ok(t))
		g->state = L_STARTING;
	if (g->state == L_REGISTERING) {
		p.op = SSO_REGISTER_CLIENT;
		p.client_name = CLIENT_NAME;
		p.scopes = (const char *const *)t->where.scopes;
		p.n_scopes = t->where.n_scopes;
		r = sso_api_call(g->s->o.loop, g->s->o.http, &p, on_registered, g, &g->api);
	} else {
		p.op = SSO_START_DEVICE_AUTHORIZATION;
		p.client_id = t->client_id;
		p.client_secret = t->client_secret;
		p.start_url = t->where.start_url;
		r = sso_api_call(g->s->o.loop, g->s->o.http, &p, on_started, g, &g->api);
	}
	if (r < 0) {
		err_set(&e, r, NULL, 0,
		        r == KR_ERR_INVAL ? "check sso_start_url and sso_region" : NULL,
		        "IAM Identity Center session %s: the login could not start: %s", g->session,
		        err_str(r));
		finish(g, r, &e);
	}
}

static struct sso_login *login_new(struct sso_tok *t)
{
	struct sso *s = t->s;
	struct sso_login *g = calloc(1, sizeof(*g));
	uint32_t rnd = 0;

	if (!g || !(g->session = strdup(sso_where_name(&t->where)))) {
		free(g);
		return NULL;
	}
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)loop_now(s->o.loop);
	snprintf(g->id, sizeof(g->id), "login-%lu-%08x", ++s->login_seq, rnd);
	g->s = s;
	g->t = t;
	g->state = L_REGISTERING;
	list_init(&g->starters);
	list_init(&g->waiters);
	list_push_back(&s->logins, &g->link);
	t->login = g;
	return g;
}

/* ---- the calls ---- */

void sso_login_resume(struct sso_call *c, int err, const struct err_detail *e)
{
	struct sso_tok *t = c->t;
	struct sso_login *g;
	struct sso_login_info info = {.logged_in = 1};

	if (!t) {
		sso_call_answer(c, err != KR_OK ? err : KR_ERR_LOGIN, e);
		return;
	}
	if (c->kind == SSO_CALL_TOKEN && err == KR_OK) {
		/* A usable token, and no --force: nothing to do. */
		info.expiration = t->expires;
		list_unlink(&c->link);
		c->login_fn(c->userdata, KR_OK, &info, NULL);
		sso_call_free(c);
		return;
	}
	g = t->login;
	c->joined = g != NULL;
	if (!g && !(g = login_new(t))) {
		sso_call_answer(c, KR_ERR_NOMEM, NULL);
		return;
	}
	free(t->reg_scopes_wanted);
	t->reg_scopes_wanted = scopes_text(&t->where);
	list_unlink(&c->link);
	list_push_back(&g->starters, &c->link);
	if (g->state == L_POLLING)
		answer_start(c, g);
	else if (!c->joined)
		step(g);
}

int sso_login_start(struct sso *s, const struct sso_where *w, int force, sso_login_fn fn,
                    void *userdata, struct sso_call **ret)
{
	struct sso_call *c;

	if (!fn)
		return KR_ERR_INVAL;
	if (!(c = sso_call_open(s, w, force ? SSO_CALL_LOADED : SSO_CALL_TOKEN, userdata)))
		return s && w ? KR_ERR_NOMEM : KR_ERR_INVAL;
	c->login_fn = fn;
	return sso_call_go(c, ret);
}

static void on_wait_deadline(struct loop_timer *timer, void *userdata)
{
	struct sso_call *c = userdata;
	struct err_detail e;

	err_set(&e, KR_ERR_TIMEOUT, NULL, 0, NULL,
	        "IAM Identity Center: still waiting for the approval (ask again)");
	sso_call_answer(c, KR_ERR_TIMEOUT, &e);
}

int sso_login_wait(struct sso *s, const char *login_id, sso_wait_fn fn, void *userdata,
                   struct sso_call **ret)
{
	struct sso_login *g = NULL;
	struct sso_call *c;
	struct loop *l;
	struct err_detail e;
	struct list_node *n;

	if (!s || !login_id || !fn)
		return KR_ERR_INVAL;
	l = s->o.loop;
	for (n = s->logins.next; n != &s->logins; n = n->next)
		if (strcmp(list_entry(n, struct sso_login, link)->id, login_id) == 0)
			g = list_entry(n, struct sso_login, link);
	if (!(c = sso_call_new(s, NULL, SSO_CALL_WAIT)))
		return KR_ERR_NOMEM;
	c->wait_fn = fn;
	c->userdata = userdata;
	if (!g) {
		err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login again",
		        "IAM Identity Center: no such login (it ended)");
		sso_call_defer(c, KR_ERR_LOGIN, &e);
	} else if (g->state == L_DONE || g->state == L_FAILED) {
		c->session = strdup(g->session);
		c->expiration = g->expiration;
		sso_call_defer(c, g->err, &g->e);
	} else {
		c->login = g;
		list_unlink(&c->link);
		list_push_back(&g->waiters, &c->link);
		if (loop_timer_add(l, loop_now(l) + (uint64_t)KR_SSO_WAIT_MS * 1000u,
		                   on_wait_deadline, c, &c->timer) < 0) {
			sso_call_free(c);
			return KR_ERR_NOMEM;
		}
	}
	if (ret)
		*ret = c;
	return KR_OK;
}

void sso_login_call_gone(struct sso_call *c)
{
	c->login = NULL; /* nothing of the login refers to c but its list, which c leaves */
}

void sso_login_tok_gone(struct sso_tok *t)
{
	struct sso_login *g = t->login;
	struct err_detail e;

	if (!g)
		return;
	g->t = NULL;
	t->login = NULL;
	sso_api_cancel(g->api);
	g->api = NULL;
	err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login again",
	        "IAM Identity Center session %s: logged out during the login", g->session);
	finish(g, KR_ERR_LOGIN, &e);
}
