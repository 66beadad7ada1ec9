/*
 * The IAM Identity Center operations (doc/protocol.txt): login,
 * login_wait, logout, sso_profiles, and the sessions part of status.
 * sso_where_resolve() finds the session a request names; the token store
 * (sso.h) does the work.
 *
 * Invariants:
 * - Every request gets exactly one reply (unless the client went away);
 *   no reply holds a token, a refresh token, a client secret or a device
 *   code: only the verification URL and the user code, which the user is
 *   shown anyway.
 * - logout forgets every cached step made with the session: in memory
 *   whoever asked for it, in the keyring the chains of the caller's
 *   profiles that start from it (resolved as get resolves them).
 */
#include "ops.h"

#include "cachekey.h"
#include "fetch.h"
#include "log.h"
#include "pmap.h"
#include "sso.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One operation in flight: the server's handle, the session, the call. */
struct ssoop {
	struct agent_req req;
	struct list_node link; /* in a->ssoops */
	struct agent *a;
	reply_fn fn;
	void *userdata;
	enum req_op op;
	struct sso_where w;
	struct caller_env *env; /* logout: to resolve the caller's chains once it is done */
	struct sso_call *call;
};

static void ssoop_free(struct ssoop *op)
{
	if (!op)
		return;
	sso_call_cancel(op->call);
	list_unlink(&op->link);
	sso_where_clear(&op->w);
	caller_env_free(op->env);
	op->a->n_busy--;
	free(op);
}

static void ssoop_cancel(struct agent_req *req)
{
	ssoop_free((struct ssoop *)req);
}

static void ssoop_answer(struct ssoop *op, const struct reply *r)
{
	op->call = NULL; /* answered: it is done */
	if (op->fn)
		op->fn(op->userdata, r);
	ssoop_free(op);
}

static void ssoop_fail(struct ssoop *op, int err, const struct err_detail *e)
{
	struct reply r = {.ok = 0};
	struct err_detail own;

	if (!e) {
		err_set_code(&own, err);
		e = &own;
	}
	r.u.error.e = e;
	r.u.error.profile = op->w.profile;
	if (err == KR_ERR_LOGIN && op->w.start_url) {
		r.u.error.sso_session = sso_where_name(&op->w);
		r.u.error.sso_start_url = op->w.start_url;
	}
	ssoop_answer(op, &r);
}

/* A new operation, in a->ssoops; NULL (answered: out of memory) when it cannot be. */
static struct ssoop *ssoop_alloc(struct agent *a, const struct request *req, reply_fn fn,
                                 void *userdata)
{
	struct ssoop *op = calloc(1, sizeof(*op));

	if (!op) {
		reply_errorf(fn, userdata, KR_ERR_NOMEM, req->profile, "%s", err_str(KR_ERR_NOMEM));
		return NULL;
	}
	a->n_busy++;
	op->a = a;
	op->fn = fn;
	op->userdata = userdata;
	op->op = req->op;
	op->req.cancel = ssoop_cancel;
	list_init(&op->link);
	list_push_back(&a->ssoops, &op->link);
	return op;
}

/* The call op made (r < 0: could not be started) answers later, or op answers now. */
static void ssoop_started(struct ssoop *op, int r, struct agent_req **ret_pending)
{
	if (r < 0)
		ssoop_fail(op, r, NULL);
	else
		*ret_pending = &op->req;
}

/* A session name as a request may carry one: a name, or a legacy profile's start URL. */
static int session_ok(const char *s)
{
	size_t n = s ? strnlen(s, KR_VALUE_MAX + 1) : 0;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return n > 0 && n <= KR_VALUE_MAX;
}

/*
 * A new operation on the session req names (exactly one of "session" and
 * "profile"); NULL when it was answered (an error) instead. *ret_map (may
 * be NULL) gets the caller's profile map (pmap_release()).
 */
static struct ssoop *ssoop_new(struct agent *a, const struct request *req, reply_fn fn,
                               void *userdata, const struct pmap **ret_map)
{
	const struct pmap *map = NULL;
	struct ssoop *op;
	struct err_detail e;
	int r;

	memset(&e, 0, sizeof(e));
	if (!req->session == !req->profile || (req->session && !session_ok(req->session)) ||
	    (req->profile && !valid_profile_name(req->profile))) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, req->profile,
		             "%s needs exactly one of \"session\" (an sso-session name) and "
		             "\"profile\"",
		             req->op_name);
		return NULL;
	}
	if (!(op = ssoop_alloc(a, req, fn, userdata)))
		return NULL;
	r = pmap_load(&req->env, &map, &e);
	if (r == KR_OK)
		r = sso_where_resolve(map, &req->env, req->profile, req->session, &op->w, &e);
	if (r < 0) {
		struct reply rep = {.ok = 0};

		if (!e.code)
			err_set_code(&e, r);
		rep.u.error.e = &e;
		rep.u.error.profile = req->profile;
		pmap_release(map);
		ssoop_answer(op, &rep);
		return NULL;
	}
	if (ret_map)
		*ret_map = map;
	else
		pmap_release(map);
	return op;
}

/* ---- login, login_wait ---- */

static void on_login(void *userdata, int err, const struct sso_login_info *info,
                     const struct err_detail *e)
{
	struct ssoop *op = userdata;
	struct reply r = {.op = OP_LOGIN, .ok = 1};

	if (err != KR_OK) {
		ssoop_fail(op, err, e);
		return;
	}
	if (!info->logged_in)
		log_info("IAM Identity Center session %s: login %s %s", sso_where_name(&op->w),
		         info->login_id, info->joined ? "joined" : "started");
	r.u.login.session = sso_where_name(&op->w);
	r.u.login.start_url = op->w.start_url;
	r.u.login.info = info;
	ssoop_answer(op, &r);
}

void ops_sso_login(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                   struct agent_req **ret_pending)
{
	struct ssoop *op = ssoop_new(a, req, fn, userdata, NULL);

	if (!op)
		return;
	ssoop_started(op, sso_login_start(a->sso, &op->w, req->force, on_login, op, &op->call),
	              ret_pending);
}

static void on_wait(void *userdata, int err, const char *session, time_t expiration,
                    const struct err_detail *e)
{
	struct ssoop *op = userdata;
	struct reply r = {.op = OP_LOGIN_WAIT, .ok = 1};

	if (err != KR_OK) {
		ssoop_fail(op, err, e);
		return;
	}
	log_info("IAM Identity Center session %s: logged in", session);
	r.u.login_wait.session = session;
	r.u.login_wait.expiration = expiration;
	ssoop_answer(op, &r);
}

void ops_sso_login_wait(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                        struct agent_req **ret_pending)
{
	struct ssoop *op;

	if (!session_ok(req->login_id)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "login_wait needs a \"login_id\"");
		return;
	}
	if (!(op = ssoop_alloc(a, req, fn, userdata)))
		return;
	ssoop_started(op, sso_login_wait(a->sso, req->login_id, on_wait, op, &op->call),
	              ret_pending);
}

/* ---- logout ---- */

/* The part every cache key of a step made with w's session begins with. */
static int session_prefix(const struct sso_where *w, struct buf *out)
{
	int r = ckey_begin(out);

	if (r == KR_OK)
		r = ckey_step(out, "sso");
	return r == KR_OK ? sso_where_key(w, out) : r;
}

/*
 * Forget what was made with the session: every cache entry whose key
 * starts with its part (whoever asked), and the steps of the caller's
 * profiles whose chain starts from it, in memory or only in the keyring
 * (after a restart).
 */
static int forget_session(struct ssoop *op, const struct pmap *map)
{
	struct agent *a = op->a;
	struct list_node *n, *t;
	struct buf prefix;
	int removed = 0;

	buf_init(&prefix, KR_CACHE_KEY_MAX);
	if (session_prefix(&op->w, &prefix) < 0)
		goto out;
	list_for_each_safe(n, t, cache_entries(a->cache))
	{
		struct cache_entry *e = list_entry(n, struct cache_entry, link);

		if (strncmp(e->key, prefix.data, prefix.len) == 0)
			fetch_forget(a, e, &removed);
	}
	for (size_t i = 0; map && i < pmap_count(map); i++) {
		struct chain *ch = NULL;
		struct err_detail e;

		if (resolve_chain(op->env, pmap_name(pmap_at(map, i)), &a->ropts, &ch, &e) < 0)
			continue;
		if (ch->n && strncmp(ch->steps[0].key, prefix.data, prefix.len) == 0)
			for (size_t k = 0; k < ch->n; k++)
				if (!(ch->steps[k].ops->flags & SOURCE_INLINE))
					ops_forget_key(a, ch->steps[k].key, ch->steps[k].key_hash,
					               &removed);
		chain_unref(ch);
	}
out:
	buf_free(&prefix);
	return removed;
}

static void on_logout(void *userdata, int err, int removed, const struct err_detail *e)
{
	struct ssoop *op = userdata;
	struct reply r = {.op = OP_LOGOUT, .ok = 1};
	const struct pmap *map = NULL;
	struct err_detail pe;

	if (err != KR_OK) {
		ssoop_fail(op, err, e);
		return;
	}
	if (pmap_load(op->env, &map, &pe) < 0)
		map = NULL;
	r.u.removed = removed + forget_session(op, map);
	pmap_release(map);
	log_info("IAM Identity Center session %s: logged out (%d item(s) removed)",
	         sso_where_name(&op->w), r.u.removed);
	ssoop_answer(op, &r);
}

void ops_sso_logout(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                    struct agent_req **ret_pending)
{
	struct ssoop *op = ssoop_new(a, req, fn, userdata, NULL);
	int r;

	if (!op)
		return;
	r = (op->env = caller_env_dup(&req->env)) ? KR_OK : KR_ERR_NOMEM;
	if (r == KR_OK)
		r = sso_logout(a->sso, &op->w, on_logout, op, &op->call);
	ssoop_started(op, r, ret_pending);
}

/* ---- sso_profiles ---- */

static void on_accounts(void *userdata, int err, const struct sso_account_roles *accounts, size_t n,
                        const struct err_detail *e)
{
	struct ssoop *op = userdata;
	struct reply r = {.op = OP_SSO_PROFILES, .ok = 1};

	if (err != KR_OK) {
		ssoop_fail(op, err, e);
		return;
	}
	r.u.sso_profiles.session = sso_where_name(&op->w);
	r.u.sso_profiles.start_url = op->w.start_url;
	r.u.sso_profiles.region = op->w.region;
	r.u.sso_profiles.accounts = accounts;
	r.u.sso_profiles.n = n;
	ssoop_answer(op, &r);
}

void ops_sso_profiles(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending)
{
	struct ssoop *op = ssoop_new(a, req, fn, userdata, NULL);

	if (!op)
		return;
	ssoop_started(op, sso_list_accounts(a->sso, &op->w, on_accounts, op, &op->call),
	              ret_pending);
}

/* ---- status, life ---- */

struct sso_session_info *ops_sso_status(struct agent *a, size_t *ret_n)
{
	size_t n = sso_session_count(a->sso);
	struct sso_session_info *s = calloc(n + 1, sizeof(*s));

	*ret_n = s ? sso_sessions(a->sso, s, n) : 0;
	return s;
}

void ops_sso_drop_all(struct agent *a)
{
	while (!list_empty(&a->ssoops)) {
		struct ssoop *op = list_entry(a->ssoops.next, struct ssoop, link);

		op->fn = NULL;
		ssoop_free(op);
	}
}
