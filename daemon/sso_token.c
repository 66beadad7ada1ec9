/*
 * The IAM Identity Center token store: one entry per token cache key,
 * looked up in memory, then in keyrole's own keyring item, then in the AWS
 * CLI's cache file; refreshed with the refresh token as botocore 1.43 does
 * (doc/sso-design.md, "botocore's token behaviour"). See sso.h and
 * sso_impl.h.
 *
 * Invariants:
 * - Tokens, refresh tokens and client secrets live in secret memory and
 *   are wiped when replaced or dropped; the keyring item's JSON is built
 *   and parsed in wiping buffers; nothing here logs or puts one in an
 *   error.
 * - The AWS CLI's cache file is only ever read: opened read-only, a
 *   regular file of this uid, at most KR_SSO_CLI_FILE_MAX bytes, parsed
 *   as untrusted input; what it holds is copied into memory, never
 *   written anywhere (not even to the keyring: the CLI owns it; a token
 *   refreshed from it is ours, and kept with the registration it needs).
 * - The keyring item is untrusted when read back: its JSON bounded, its
 *   start URL must be the session's, its expiries within what the service
 *   issues.
 * - An access token is used while it has more than KR_SSO_TOKEN_MIN_LEFT_S
 *   left; below KR_REFRESH_MARGIN_S (botocore's 15 minutes) it is
 *   refreshed first when a refresh token, a client registration and an
 *   unexpired registration are held and the session is not a legacy one.
 *   The CLI's file is read again before a refresh and after one was
 *   refused. A failed refresh goes on with the old token while it is
 *   usable. One refresh per session at a time; the callers wait for it.
 * - Tokens in use are refreshed in the background before their window.
 */
#include "sso_impl.h"

#include "buf.h"
#include "cachekey.h"
#include "caps.h"
#include "json.h"
#include "loop.h"
#include "mem.h"
#include "rfc3339.h"
#include "sigv4.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKS_MAX        64             /* sessions kept in memory */
#define ACCESS_LIFE_MAX (30L * 86400)  /* an access token said to last longer is not believed */
#define REG_LIFE_MAX    (400L * 86400) /* ... a registration */
#define BG_EARLY_S      60             /* background refresh this long before the window */

static void tok_advance(struct sso_tok *t);

time_t sso_now(const struct sso *s)
{
	return s->o.now ? s->o.now() : time(NULL);
}

const char *sso_where_name(const struct sso_where *w)
{
	return w->session ? w->session : w->start_url;
}

int sso_where_key(const struct sso_where *w, struct buf *out)
{
	int r = ckey_str(out, "t", w->cache_key);

	return r == KR_OK ? ckey_str(out, "u", w->start_url) : r;
}

void sso_login_needed(struct err_detail *e, const struct sso_where *w, const char *why)
{
	char fix[KR_ERR_FIX_MAX];

	if (w->session)
		snprintf(fix, sizeof(fix), "run keyrole login %s", w->session);
	else
		snprintf(fix, sizeof(fix), "run keyrole login --profile %s",
		         w->profile ? w->profile : "PROFILE");
	err_set(e, KR_ERR_LOGIN, NULL, 0, fix, "IAM Identity Center session %s: %s",
	        sso_where_name(w), why);
}

/* ---- tokens in memory ---- */

int sso_tok_usable(const struct sso_tok *t)
{
	return t->access && t->expires > sso_now(t->s) + KR_SSO_TOKEN_MIN_LEFT_S;
}

static int tok_fresh(const struct sso_tok *t)
{
	return t->access && t->expires > sso_now(t->s) + KR_REFRESH_MARGIN_S;
}

/* botocore: a refresh token, a client, an unexpired registration; never for legacy profiles. */
static int tok_refreshable(const struct sso_tok *t)
{
	return t->where.session && t->refresh && t->client_id && t->client_secret &&
	       t->reg_expires > sso_now(t->s);
}

static void drop_access(struct sso_tok *t)
{
	mem_free_str(t->access);
	mem_free_str(t->refresh);
	t->access = t->refresh = NULL;
	t->expires = 0;
}

void sso_tok_drop_client(struct sso_tok *t)
{
	free(t->client_id);
	mem_free_str(t->client_secret);
	free(t->reg_scopes);
	t->client_id = t->client_secret = t->reg_scopes = NULL;
	t->reg_expires = 0;
}

static void on_bg_timer(struct loop_timer *timer, void *userdata);

/*
 * Arm the background refresh a little before the token's window: only
 * worth it when the token can be refreshed, and only while the window is
 * ahead (inside it, the next caller refreshes).
 */
static void tok_arm(struct sso_tok *t)
{
	struct loop *l = t->s->o.loop;
	time_t when = t->expires - KR_REFRESH_MARGIN_S - BG_EARLY_S, now = sso_now(t->s);
	uint64_t at;

	if (!t->access || !tok_refreshable(t) || when <= now)
		return;
	at = loop_now(l) + (uint64_t)(when - now) * 1000000u;
	if (t->timer ? loop_timer_set(t->timer, at) == 0
	             : loop_timer_add(l, at, on_bg_timer, t, &t->timer) == 0)
		t->armed = 1;
}

void sso_tok_set(struct sso_tok *t, char **access, time_t expires, char **refresh, const char *from)
{
	drop_access(t);
	t->access = *access;
	t->refresh = refresh ? *refresh : NULL;
	*access = NULL;
	if (refresh)
		*refresh = NULL;
	t->expires = expires;
	t->from = from;
	t->cli_token = 0;
	t->has_refused = 0;
	sso_tok_persist(t);
	tok_arm(t);
}

void sso_tok_set_client(struct sso_tok *t, char **client_id, char **client_secret, time_t expires,
                        const char *scopes)
{
	char *sc = scopes ? strdup(scopes) : NULL;

	sso_tok_drop_client(t);
	t->client_id = *client_id;
	t->client_secret = *client_secret;
	*client_id = *client_secret = NULL;
	t->reg_expires = expires;
	t->reg_scopes = sc;
	t->cli_client = 0;
	sso_tok_persist(t);
}

static void refused_digest(const char *access, char out[65])
{
	if (sigv4_sha256_hex(access, strlen(access), out) < 0)
		memset(out, 0, 65);
}

static int is_refused(const struct sso_tok *t, const char *access)
{
	char d[65];

	if (!t->has_refused)
		return 0;
	refused_digest(access, d);
	return mem_equal_ct(d, t->refused, 32) && d[0];
}

void sso_tok_refused(struct sso_tok *t, const char *access)
{
	char d[65];

	if (!t->access || strcmp(t->access, access) != 0)
		return; /* replaced meanwhile (a refresh, a login) */
	refused_digest(access, d);
	memcpy(t->refused, d, 32);
	t->has_refused = d[0] != '\0';
	drop_access(t);
	mem_wipe(d, sizeof(d));
	sso_tok_persist(t);
}

/*
 * Take what f holds when it is better than what t has: its token when t
 * has none or it lasts longer (and was not refused), with its refresh
 * token; its registration when t has none (or an older one).
 */
static void tok_adopt(struct sso_tok *t, struct sso_found *f)
{
	if (f->access && f->expires > (t->access ? t->expires : 0) && !is_refused(t, f->access)) {
		drop_access(t);
		t->access = f->access;
		t->refresh = f->refresh;
		t->expires = f->expires;
		t->from = f->from;
		t->cli_token = f->cli;
		f->access = f->refresh = NULL;
		tok_arm(t);
	}
	if (f->client_id && f->client_secret && f->reg_expires > t->reg_expires) {
		sso_tok_drop_client(t);
		t->client_id = f->client_id;
		t->client_secret = f->client_secret;
		t->reg_expires = f->reg_expires;
		t->reg_scopes = f->scopes;
		t->cli_client = f->cli;
		f->client_id = f->client_secret = f->scopes = NULL;
	}
	sso_found_clear(f);
}

static void on_item(void *userdata, int err, const char *secret)
{
	struct sso_tok *t = userdata;
	struct sso_found f = {0};

	t->lookup_pending = 0;
	t->keyring_checked = 1;
	if (err == KR_OK && sso_item_parse(t, secret, &f) == KR_OK)
		tok_adopt(t, &f);
	sso_found_clear(&f);
	tok_advance(t);
}

/* ---- the AWS CLI's cache file ---- */

/* Read the CLI's file again and take what is better in it. */
static void cli_adopt(struct sso_tok *t)
{
	struct sso_found f = {0};

	if (sso_cli_parse(t, &f) == KR_OK)
		tok_adopt(t, &f);
	sso_found_clear(&f);
}

/* ---- refresh ---- */

static void on_refreshed(void *userdata, struct sso_api_result *res)
{
	struct sso_tok *t = userdata;
	time_t now = sso_now(t->s);

	t->refresh_call = NULL;
	if (res->err == KR_OK) {
		/* botocore: an answer without a refresh token drops the old one. */
		sso_tok_set(t, &res->access_token, now + res->expires_in, &res->refresh_token,
		            "refresh");
	} else if (res->err == KR_ERR_LOGIN) {
		/* Refused: the refresh token (or the registration) is dead. The CLI may hold
		 * a newer one (it refreshed and rotated it): read its file again. */
		mem_free_str(t->refresh);
		t->refresh = NULL;
		if (strcmp(res->code, "invalid_client") == 0)
			sso_tok_drop_client(t);
		sso_tok_persist(t);
		cli_adopt(t);
	}
	t->last_refresh_err = res->err;
	t->last_refresh_detail = res->detail;
	tok_advance(t);
}

static int refresh_start(struct sso_tok *t)
{
	struct sso_api_params p = {
	    .op = SSO_CREATE_TOKEN,
	    .ep = {t->where.oidc_url, t->where.ca_bundle, t->where.oidc_proxy, t->where.no_proxy},
	    .client_id = t->client_id,
	    .client_secret = t->client_secret,
	    .refresh_token = t->refresh,
	};

	return sso_api_call(t->s->o.loop, t->s->o.http, &p, on_refreshed, t, &t->refresh_call);
}

/* Tokens in use are refreshed before their window, for whoever uses them next. */
static void on_bg_timer(struct loop_timer *timer, void *userdata)
{
	struct sso_tok *t = userdata;

	t->armed = 0;
	if (!t->used || t->refresh_call || t->lookup_pending)
		return; /* not used since: armed again when it is */
	t->used = 0;
	cli_adopt(t); /* a newer token there is taken, and its own time comes later */
	if (t->access && t->expires > sso_now(t->s) + KR_REFRESH_MARGIN_S + BG_EARLY_S) {
		tok_arm(t);
		return;
	}
	if (tok_refreshable(t))
		refresh_start(t);
}

/* ---- waiting for a token ---- */

static int needs_token(const struct sso_call *c)
{
	return c->kind == SSO_CALL_CREDS || c->kind == SSO_CALL_ACCOUNTS ||
	       c->kind == SSO_CALL_TOKEN;
}

static void resume(struct sso_call *c, int err, const struct err_detail *e)
{
	if (c->kind == SSO_CALL_TOKEN || c->kind == SSO_CALL_LOADED)
		sso_login_resume(c, err, e);
	else
		sso_portal_resume(c, err, e);
}

/* Hand the waiters that want (a token: tokens) on, with err. */
static void resume_waiters(struct sso_tok *t, int tokens, int err, const struct err_detail *e)
{
	struct list_node ready, *n, *tmp;

	list_init(&ready);
	list_for_each_safe(n, tmp, &t->waiters)
	{
		struct sso_call *c = list_entry(n, struct sso_call, link);

		if (needs_token(c) == tokens) {
			list_unlink(&c->link);
			list_push_back(&ready, &c->link);
		}
	}
	/* t may go while they run (a logout): nothing of t is used below. */
	while (!list_empty(&ready)) {
		struct sso_call *c = list_entry(ready.next, struct sso_call, link);

		list_unlink(&c->link);
		list_push_back(&c->s->calls, &c->link);
		resume(c, err, e);
	}
}

static int any_waiter(const struct sso_tok *t, int tokens)
{
	for (const struct list_node *n = t->waiters.next; n != &t->waiters; n = n->next)
		if (needs_token(list_entry(n, const struct sso_call, link)) == tokens)
			return 1;
	return 0;
}

/*
 * Move t's waiters on: first the keyring (once), then for those that need
 * a token: the CLI's file when ours is not fresh, a refresh when it can
 * be made (once per round), and the token while it is usable.
 */
static void tok_advance(struct sso_tok *t)
{
	struct err_detail e;
	int tried;

	if (t->lookup_pending || t->refresh_call)
		return;
	tried = t->refresh_tried; /* this round had its refresh: not another one */
	t->refresh_tried = 0;
	if (!t->keyring_checked) {
		t->keyring_checked = 1;
		if (store_sso_lookup(t->s->o.store, t->key, on_item, t) == KR_OK) {
			t->lookup_pending = 1;
			return;
		}
	}
	if (any_waiter(t, 0))
		resume_waiters(t, 0, KR_OK, NULL);
	if (!any_waiter(t, 1))
		return;
	if (!tok_fresh(t) && !tried) {
		cli_adopt(t); /* before a refresh: the CLI may have refreshed already */
		if (!tok_fresh(t) && tok_refreshable(t) && refresh_start(t) == KR_OK) {
			t->refresh_tried = 1;
			return;
		}
	}
	if (sso_tok_usable(t)) {
		t->used = 1;
		if (!t->armed)
			tok_arm(t);
		resume_waiters(t, 1, KR_OK, NULL);
		return;
	}
	if (tried && t->last_refresh_err != KR_OK && t->last_refresh_err != KR_ERR_LOGIN) {
		/* The refresh could not be made (network, throttling): say so, not "log in". */
		e = t->last_refresh_detail;
		resume_waiters(t, 1, e.code, &e);
		return;
	}
	sso_login_needed(&e, &t->where,
	                 t->access || t->expires ? "the token has expired"
	                 : tried                 ? "the token could not be refreshed"
	                                         : "no token: not logged in, or logged out");
	resume_waiters(t, 1, KR_ERR_LOGIN, &e);
}

void sso_tok_wait(struct sso_tok *t, struct sso_call *c)
{
	list_unlink(&c->link);
	list_push_back(&t->waiters, &c->link);
	tok_advance(t);
}

/* ---- entries ---- */

static void tok_free(struct sso_tok *t)
{
	struct list_node *n;

	if (!t)
		return;
	/* Calls running their own API calls with t's token learn that it went. */
	for (n = t->s->calls.next; n != &t->s->calls; n = n->next)
		if (list_entry(n, struct sso_call, link)->t == t)
			list_entry(n, struct sso_call, link)->t = NULL;
	sso_login_tok_gone(t);
	sso_api_cancel(t->refresh_call);
	store_cancel(t->s->o.store, t);
	loop_timer_free(t->timer);
	drop_access(t);
	sso_tok_drop_client(t);
	free(t->reg_scopes_wanted);
	sso_where_clear(&t->where);
	list_unlink(&t->link);
	t->s->n_toks--;
	free(t);
}

static int tok_in_use(const struct sso_tok *t)
{
	for (const struct list_node *n = t->s->calls.next; n != &t->s->calls; n = n->next)
		if (list_entry(n, const struct sso_call, link)->t == t)
			return 1;
	return !list_empty(&t->waiters) || t->login || t->refresh_call || t->lookup_pending;
}

/* Room for one more: the least recently used tok nobody needs goes (its keyring item stays). */
static void make_room(struct sso *s)
{
	struct list_node *n;

	if (s->n_toks < TOKS_MAX)
		return;
	for (n = s->toks.prev; n != &s->toks; n = n->prev) {
		struct sso_tok *t = list_entry(n, struct sso_tok, link);

		if (!tok_in_use(t)) {
			tok_free(t);
			return;
		}
	}
}

struct sso_tok *sso_tok_get(struct sso *s, const struct sso_where *w)
{
	struct sso_where copy;
	struct sso_tok *t = NULL;
	struct list_node *n;

	if (sso_where_copy(&copy, w) < 0)
		return NULL;
	for (n = s->toks.next; n != &s->toks; n = n->next) {
		struct sso_tok *x = list_entry(n, struct sso_tok, link);

		if (strcmp(x->key, w->cache_key) == 0) {
			t = x;
			break;
		}
	}
	if (t) {
		/* The newest request's view: endpoints, proxy, the CLI's file. */
		sso_where_clear(&t->where);
		t->where = copy;
		list_unlink(&t->link);
		list_push_front(&s->toks, &t->link);
		return t;
	}
	make_room(s);
	if (!(t = calloc(1, sizeof(*t)))) {
		sso_where_clear(&copy);
		return NULL;
	}
	t->s = s;
	snprintf(t->key, sizeof(t->key), "%s", w->cache_key);
	t->where = copy;
	t->keyring_checked = !store_on(s->o.store);
	list_init(&t->waiters);
	list_push_front(&s->toks, &t->link);
	s->n_toks++;
	return t;
}

int sso_tok_drop(struct sso_tok *t)
{
	struct list_node *n;
	struct err_detail e;
	int had = t->access || t->refresh;

	store_sso_remove(t->s->o.store, t->key);
	sso_login_needed(&e, &t->where, "logged out");
	/* Whoever waits learns that the session went; none of them may drop it again. */
	for (n = t->waiters.next; n != &t->waiters; n = n->next)
		list_entry(n, struct sso_call, link)->t = NULL;
	resume_waiters(t, 1, KR_ERR_LOGIN, &e);
	resume_waiters(t, 0, KR_ERR_LOGIN, &e);
	tok_free(t);
	return had;
}

/* ---- life ---- */

int sso_new(const struct sso_opts *o, struct sso **ret)
{
	struct sso *s;

	if (!o || !o->loop || !o->http || !ret)
		return KR_ERR_INVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return KR_ERR_NOMEM;
	s->o = *o;
	list_init(&s->toks);
	list_init(&s->calls);
	list_init(&s->logins);
	*ret = s;
	return KR_OK;
}

void sso_free(struct sso *s)
{
	if (!s)
		return;
	sso_login_free_all(s);
	while (!list_empty(&s->calls))
		sso_call_free(list_entry(s->calls.next, struct sso_call, link));
	while (!list_empty(&s->toks)) {
		struct sso_tok *t = list_entry(s->toks.next, struct sso_tok, link);

		while (!list_empty(&t->waiters))
			sso_call_free(list_entry(t->waiters.next, struct sso_call, link));
		tok_free(t);
	}
	free(s);
}

/* ---- status ---- */

static int listed(const struct sso_tok *t)
{
	return sso_tok_usable(t) || (t->refresh && tok_refreshable(t));
}

size_t sso_session_count(const struct sso *s)
{
	size_t n = 0;

	for (const struct list_node *l = s->toks.next; l != &s->toks; l = l->next)
		n += listed(list_entry(l, const struct sso_tok, link));
	return n;
}

size_t sso_sessions(const struct sso *s, struct sso_session_info *out, size_t max)
{
	size_t n = 0;

	for (const struct list_node *l = s->toks.next; l != &s->toks && n < max; l = l->next) {
		const struct sso_tok *t = list_entry(l, const struct sso_tok, link);

		if (!listed(t))
			continue;
		out[n++] = (struct sso_session_info){
		    .session = sso_where_name(&t->where),
		    .start_url = t->where.start_url,
		    .region = t->where.region,
		    .expiration = sso_tok_usable(t) ? t->expires : 0,
		    .refresh_token = t->refresh != NULL,
		    .from = t->from ? t->from : "-",
		    .refreshing = t->refresh_call != NULL,
		};
	}
	return n;
}
