/*
 * The operations; see ops.h and doc/protocol.txt.
 *
 * Invariants:
 * - Every request gets exactly one reply (unless the client went away).
 * - Long-term keys of `add` are copied into secret memory and wiped with
 *   the operation; status and check never show a secret.
 * - New or removed long-term keys forget every session made with the old
 *   ones (their cache keys start with the keyring source's part).
 */
#include "ops.h"

#include "cachekey.h"
#include "check.h"
#include "credsrv.h"
#include "endpoint.h"
#include "err.h"
#include "fetch.h"
#include "log.h"
#include "mem.h"
#include "pmap.h"
#include "sts_req.h"
#include "valid.h"
#include "wrap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void reply_ok(reply_fn fn, void *userdata, enum req_op op)
{
	struct reply r = {.op = op, .ok = 1};

	fn(userdata, &r);
}

/* ---- status ---- */

/* What status shows as the role of a step that assumes none. */
static const char *role_label(const struct cache_entry *e)
{
	if (e->role_arn)
		return e->role_arn;
	if (e->source && strcmp(e->source, "mfa-session") == 0)
		return "(MFA session)";
	if (e->source && strcmp(e->source, "process") == 0)
		return "(credential_process)";
	if (e->source && strcmp(e->source, "sso") == 0 && e->what)
		return e->what; /* "GetRoleCredentials ACCOUNT/ROLE" */
	return "(source)";
}

static int entry_matches(const struct cache_entry *e, const char *profile);

/* Is entry e one of the steps of ch (a status for one profile)? */
static int entry_in_chain(const struct cache_entry *e, const struct chain *ch)
{
	for (size_t i = 0; ch && i < ch->n; i++)
		if (ch->steps[i].key && strcmp(ch->steps[i].key, e->key) == 0)
			return 1;
	return 0;
}

static void op_status(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending)
{
	struct status_report s = {.pid = (long)getpid(),
	                          .uptime = (long)(time(NULL) - a->started),
	                          .backend = store_backend(a->store),
	                          .survives_reboot = store_survives_reboot(a->store),
	                          .keyring_warning = store_warning(a->store),
	                          .keyring_queue = store_queued(a->store),
	                          .counters = &a->c};
	struct status_entry *entries = calloc(cache_count(a->cache) + 1, sizeof(*entries));
	struct reply r = {.op = OP_STATUS, .ok = 1, .u.status = &s};
	struct sso_session_info *sso = ops_sso_status(a, &s.n_sso);
	time_t now = agent_now(a);
	struct list_node *n;
	struct chain *ch = NULL;
	struct err_detail why;
	int rc = KR_OK;

	if (!entries || !sso) {
		free(entries);
		free(sso);
		reply_errorf(fn, userdata, KR_ERR_NOMEM, NULL, "%s", err_str(KR_ERR_NOMEM));
		return;
	}
	/* status PROFILE: the steps of its chain (a tool profile's: its target's). */
	memset(&why, 0, sizeof(why));
	if (req->profile && !valid_profile_name(req->profile))
		rc = KR_ERR_INVAL;
	else if (req->profile)
		rc = resolve_chain(&req->env, req->profile, &a->ropts, &ch, &why);
	s.sso = sso;
	for (n = cache_entries(a->cache)->next; n != cache_entries(a->cache); n = n->next) {
		const struct cache_entry *e = list_entry(n, struct cache_entry, link);
		struct status_entry *o = &entries[s.n_entries];
		int live = e->has_creds && e->creds.expiration > now;

		/* Expired ones are never served again: not listed (the timer drops them). */
		if (!live && !(e->last_error && !e->has_creds))
			continue;
		if (req->profile && !entry_matches(e, req->profile) && !entry_in_chain(e, ch))
			continue;
		o->profile = e->requested_by ? e->requested_by : e->profile;
		o->role = role_label(e);
		o->source = e->source ? e->source : "unknown";
		o->mfa_serial = e->mfa_serial;
		o->hop = e->role_index;
		o->expiration = live ? e->creds.expiration : 0;
		/* where the credentials came from; none for a fetch that never succeeded */
		o->from = !live ? NULL : e->from ? e->from : "sts";
		o->refresh_error = e->last_error;
		o->refreshing = e->call != NULL;
		s.n_entries++;
	}
	chain_unref(ch);
	s.entries = entries;
	s.stored = store_longterm_profiles(a->store, &s.n_stored);
	if (req->profile && rc < 0 && s.n_entries == 0)
		reply_errorf(fn, userdata, rc, req->profile, "%s",
		             why.msg[0] ? why.msg : err_str(rc));
	else
		fn(userdata, &r);
	free(entries);
	free(sso);
}

/* ---- forget ---- */

static int entry_matches(const struct cache_entry *e, const char *profile)
{
	return !profile || (e->profile && strcmp(e->profile, profile) == 0) ||
	       (e->requested_by && strcmp(e->requested_by, profile) == 0);
}

/* Forget the entry with this cache key, in memory or (after a restart) in the keyring only. */
void ops_forget_key(struct agent *a, const char *key, uint64_t h, int *removed)
{
	struct cache_entry *e = cache_find(a->cache, key, h);

	if (e)
		fetch_forget(a, e, removed);
	else
		store_session_remove(a->store, key);
}

/*
 * Forget every step of profile's chain, resolved as `get` would resolve it
 * for this caller: each role (an intermediate one is stored under its own
 * profile, and may be shared with other chains), the MFA session it
 * starts from, and a credential_process source's output. A profile that
 * does not resolve (any more) is forgotten by name only.
 */
static int forget_chain(struct agent *a, const struct request *req, int *removed,
                        struct err_detail *e)
{
	struct chain *ch = NULL;
	int r = resolve_chain(&req->env, req->profile, &a->ropts, &ch, e);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ch->n; i++)
		if (!(ch->steps[i].ops->flags & SOURCE_INLINE))
			ops_forget_key(a, ch->steps[i].key, ch->steps[i].key_hash, removed);
	chain_unref(ch);
	return KR_OK;
}

static void op_forget(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending)
{
	const char *profile = req->all ? NULL : req->profile;
	struct reply r = {.op = OP_FORGET, .ok = 1};
	struct list_node *n, *t;
	struct err_detail why;
	int removed = 0, rc = KR_OK;

	if (!req->all && !valid_profile_name(profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "forget needs a profile or \"all\"");
		return;
	}
	list_for_each_safe(n, t, cache_entries(a->cache))
	{
		struct cache_entry *e = list_entry(n, struct cache_entry, link);

		if (entry_matches(e, profile))
			fetch_forget(a, e, &removed);
	}
	memset(&why, 0, sizeof(why));
	if (profile)
		rc = forget_chain(a, req, &removed, &why);
	store_sessions_remove_profile(a->store, profile);
	resolve_memo_clear(); /* remembered chains hold static keys and callers' environments */
	if (rc == KR_ERR_NOPROFILE && removed == 0) {
		/* A typo must not look like success: the name is in no file and nothing was cached.
		 */
		reply_errorf(fn, userdata, KR_ERR_NOPROFILE, profile,
		             "profile \"%s\" is in no config file and nothing is cached for it "
		             "(check the name: keyrole check lists the profiles)",
		             profile);
		return;
	}
	r.u.removed = removed;
	fn(userdata, &r);
}

/* ---- check ---- */

static void op_check(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                     struct agent_req **ret_pending)
{
	struct check_reports *reports = NULL;
	struct reply r = {.op = OP_CHECK, .ok = 1};
	struct check_in in = {0};
	int rc;

	if (req->profile && !valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "invalid profile name");
		return;
	}
	in.stored = store_longterm_profiles(a->store, &in.n_stored);
	rc = check_profiles_in(&req->env, req->profile, a->opts.sources, &in, &reports);
	if (rc < 0) {
		reply_errorf(fn, userdata, rc, req->profile, "check failed: %s", err_str(rc));
		return;
	}
	r.u.check = reports;
	fn(userdata, &r);
	check_reports_free(reports);
}

/* ---- wrap ---- */

static void op_wrap(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                    struct agent_req **ret_pending)
{
	struct reply r = {.op = OP_WRAP, .ok = 1};
	struct wrap_plan *plan = NULL;
	struct err_detail e;
	int rc;

	memset(&e, 0, sizeof(e));
	if (req->all == !!req->profile || (req->profile && !valid_profile_name(req->profile)) ||
	    (req->as && (req->all || !valid_profile_name(req->as)))) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, req->profile,
		             "wrap needs a profile (and maybe \"as\", a profile name) or \"all\"");
		return;
	}
	rc = wrap_make(&req->env, req->profile, req->as, req->keyrole, a->opts.sources, &plan, &e);
	if (rc < 0) {
		struct reply_error re = {.e = &e, .profile = req->profile};

		reply_error(fn, userdata, &re);
		return;
	}
	r.u.wrap = plan;
	fn(userdata, &r);
	wrap_plan_free(plan);
}

/* ---- long-term keys: add, remove ---- */

/* An add or remove in flight (answered from the loop only, never at once). */
struct keyop {
	struct agent_req req; /* the server's handle */
	struct list_node link;
	struct agent *a;
	reply_fn fn;
	void *userdata;
	char *profile;
	char *access_key_id, *secret; /* add: what to store (secret memory) */
	struct sts_call *call;        /* add --verify: GetCallerIdentity */
	char *arn;                    /* add --verify: who the keys belong to */
	char note[KR_PATH_MAX + 512]; /* add: what the files mean for these keys, or "" */
	/* add --move: where the keys were read (the client deletes these lines once stored) */
	char *move_file[2];
	int move_line[2], n_move;
};

static void keyop_free(struct keyop *op)
{
	if (!op)
		return;
	sts_call_cancel(op->call);
	store_cancel(op->a->store, op);
	list_unlink(&op->link);
	free(op->profile);
	free(op->access_key_id);
	mem_free_str(op->secret);
	free(op->arn);
	free(op->move_file[0]);
	free(op->move_file[1]);
	op->a->n_busy--;
	free(op);
}

static void keyop_answer(struct keyop *op, const struct reply *r)
{
	if (op->fn)
		op->fn(op->userdata, r);
	keyop_free(op);
}

static void keyop_fail(struct keyop *op, const struct err_detail *e, const char *aws_code)
{
	struct reply r = {.ok = 0};

	r.u.error.e = e;
	r.u.error.profile = op->profile;
	r.u.error.aws_code = aws_code;
	keyop_answer(op, &r);
}

static void keyop_cancel(struct agent_req *req)
{
	keyop_free((struct keyop *)req);
}

static struct keyop *keyop_new(struct agent *a, const char *profile, reply_fn fn, void *userdata)
{
	struct keyop *op = calloc(1, sizeof(*op));

	if (!op || !(op->profile = strdup(profile))) {
		free(op);
		reply_errorf(fn, userdata, KR_ERR_NOMEM, profile, "%s", err_str(KR_ERR_NOMEM));
		return NULL;
	}
	a->n_busy++;
	op->a = a;
	op->fn = fn;
	op->userdata = userdata;
	op->req.cancel = keyop_cancel;
	list_push_back(&a->keyops, &op->link);
	return op;
}

/*
 * New or removed long-term keys for profile: the sessions the old keys
 * made (in memory, and their keyring copies) must not answer for the new.
 */
static void forget_keyring_source(struct agent *a, const char *profile)
{
	struct list_node *n, *t;
	struct buf prefix;
	int removed = 0;

	buf_init(&prefix, KR_CACHE_KEY_MAX);
	if (ckey_begin(&prefix) == KR_OK && source_keyring_key(profile, &prefix) == KR_OK)
		list_for_each_safe(n, t, cache_entries(a->cache))
		{
			struct cache_entry *e = list_entry(n, struct cache_entry, link);

			if (strncmp(e->key, prefix.data, prefix.len) == 0)
				fetch_forget(a, e, &removed);
		}
	buf_free(&prefix);
	if (removed)
		log_info("profile %s: %d session(s) made with its old keys forgotten", profile,
		         removed);
}

static void on_added(void *userdata, int err, int count, const char *why)
{
	struct keyop *op = userdata;
	struct agent *a = op->a;
	struct reply r = {.op = OP_ADD, .ok = 1};
	struct err_detail e;
	const char *note;

	if (err < 0) {
		err_set(&e, err, NULL, 0, NULL, "cannot store the keys in the %s keyring: %s",
		        store_backend(a->store), why ? why : err_str(err));
		keyop_fail(op, &e, NULL);
		return;
	}
	forget_keyring_source(a, op->profile);
	log_info("long-term keys for profile %s stored in the %s keyring", op->profile,
	         store_backend(a->store));
	r.u.add.arn = op->arn;
	r.u.add.backend = store_backend(a->store);
	note = store_take_note(a->store);
	if (note && op->note[0]) {
		size_t n = strlen(op->note);

		snprintf(op->note + n, sizeof(op->note) - n, "; %s", note);
	}
	r.u.add.note = op->note[0] ? op->note : note;
	for (int i = 0; i < op->n_move; i++) {
		r.u.add.move_file[i] = op->move_file[i];
		r.u.add.move_line[i] = op->move_line[i];
		r.u.add.move_key[i] = i == 0 ? "aws_access_key_id" : "aws_secret_access_key";
	}
	r.u.add.n_move = op->n_move;
	keyop_answer(op, &r);
}

static int add_store(struct keyop *op, struct err_detail *e)
{
	int r = store_longterm_add(op->a->store, op->profile, op->access_key_id, op->secret,
	                           on_added, op);

	if (r < 0)
		err_set(e, KR_ERR_KEYRING, NULL, 0, NULL,
		        "cannot store the keys: keyring unavailable");
	return r < 0 ? KR_ERR_KEYRING : KR_OK;
}

static void on_verified(void *userdata, struct sts_result *res)
{
	struct keyop *op = userdata;
	struct err_detail e;
	char msg[KR_ERR_MSG_MAX];

	op->call = NULL;
	if (res->err != KR_OK) {
		sts_req_describe(res, "GetCallerIdentity with the new keys",
		                 STS_GET_CALLER_IDENTITY, &e);
		snprintf(msg, sizeof(msg), "keys not stored: %s", e.msg);
		memcpy(e.msg, msg, sizeof(msg));
		keyop_fail(op, &e, res->aws_code);
		return;
	}
	if (res->creds.arn)
		op->arn = strdup(res->creds.arn);
	op->a->c.sts_calls++;
	if (add_store(op, &e) < 0)
		keyop_fail(op, &e, NULL);
}

/* GetCallerIdentity with the new keys, at the endpoint the caller's environment names. */
static int verify_start(struct keyop *op, const struct caller_env *env, struct err_detail *e)
{
	struct endpoint_in in = {0};
	struct sts_params p = {0};
	char *url = NULL, *region = NULL, *proxy = NULL, *no_proxy = NULL;
	int r;

	in.region = env->region ? env->region : env->default_region;
	in.env_endpoint_url_sts = env->endpoint_url_sts;
	in.env_endpoint_url = env->endpoint_url;
	in.sts_regional_endpoints = env->sts_regional_endpoints;
	in.ignore_configured = env->ignore_configured_endpoint_urls;
	in.use_fips = env->use_fips_endpoint;
	in.use_dualstack = env->use_dualstack_endpoint;
	r = endpoint_resolve(&in, &url, &region, e);
	if (r == 0)
		r = endpoint_proxy(url, &env->proxy, &proxy, &no_proxy);
	if (r == 0) {
		p.op = STS_GET_CALLER_IDENTITY;
		p.endpoint = url;
		p.region = region;
		p.ca_bundle = env->ca_bundle;
		p.proxy = proxy;
		p.no_proxy = no_proxy;
		p.source.access_key_id = op->access_key_id;
		p.source.secret_access_key = op->secret;
		r = sts_call(op->a->sts, &p, on_verified, op, &op->call);
	}
	free(url);
	free(region);
	mem_free_str(proxy);
	mem_free_str(no_proxy);
	return r;
}

/*
 * What the caller's files mean for keys being added: a profile in no file
 * cannot be used by any tool, and keys in the files are used before stored
 * ones (source_static.c comes before source_keyring.c). A file that does
 * not parse says nothing here: check and get report it.
 */
static void add_note(struct keyop *op, const struct caller_env *env)
{
	const struct pmap *m = NULL;
	const struct pmap_profile *p;
	struct pmap_val v;
	struct err_detail e;

	memset(&e, 0, sizeof(e));
	if (pmap_load(env, &m, &e) < 0)
		return;
	p = pmap_find(m, op->profile);
	if (!p)
		snprintf(op->note, sizeof(op->note),
		         "profile %s is in no config file: add a [profile %s] section to %s "
		         "(with its region) for the AWS tools to use these keys",
		         op->profile, op->profile, pmap_filename(m, PMAP_CONFIG));
	else if (pmap_get(m, p, PMAP_ANY, "aws_access_key_id", &v))
		snprintf(op->note, sizeof(op->note),
		         "%s:%d has keys for %s, and they are used before stored ones: delete its "
		         "aws_access_key_id and aws_secret_access_key lines",
		         v.file, v.line, op->profile);
	pmap_release(m);
}

/*
 * add --move: the keys are the profile's in the files (the credentials
 * file, or the config file), long-term (no session token), and well
 * formed; copied into op (the secret into secret memory) with where they
 * are, for the client to delete those lines once they are stored.
 */
static int move_take(struct keyop *op, const struct caller_env *env, struct err_detail *e)
{
	static const char *const keys[2] = {"aws_access_key_id", "aws_secret_access_key"};
	const struct pmap *m = NULL;
	const struct pmap_profile *p;
	struct pmap_val v[2], tok;
	int r = pmap_load(env, &m, e);

	if (r < 0)
		return r;
	p = pmap_find(m, op->profile);
	if (!p || !pmap_get(m, p, PMAP_ANY, keys[0], &v[0]) ||
	    !pmap_get(m, p, PMAP_ANY, keys[1], &v[1])) {
		err_set(e, KR_ERR_CONFIG, pmap_filename(m, PMAP_CREDENTIALS), 0,
		        "give the keys on standard input or the terminal instead: keyrole add "
		        "PROFILE",
		        "no aws_access_key_id and aws_secret_access_key for profile \"%s\" in %s "
		        "or %s: "
		        "nothing to move",
		        op->profile, pmap_filename(m, PMAP_CREDENTIALS),
		        pmap_filename(m, PMAP_CONFIG));
		r = KR_ERR_CONFIG;
	} else if (pmap_get(m, p, PMAP_ANY, "aws_session_token", &tok) ||
	           pmap_get(m, p, PMAP_ANY, "aws_security_token", &tok)) {
		err_set(
		    e, KR_ERR_CONFIG, tok.file, tok.line,
		    "keyrole add stores long-term keys (an IAM user's) only",
		    "profile \"%s\" has a session token: its keys are a session's, not long-term "
		    "keys; nothing moved",
		    op->profile);
		r = KR_ERR_CONFIG;
	} else if (!valid_access_key_id(v[0].v) || !valid_secret_key(v[1].v)) {
		err_set(
		    e, KR_ERR_CONFIG, v[0].file, v[0].line, "fix the keys in the file",
		    "profile \"%s\": the keys in the file do not look like an access key id and "
		    "a secret access key; nothing moved",
		    op->profile);
		r = KR_ERR_CONFIG;
	} else {
		op->access_key_id = strdup(v[0].v);
		op->secret = mem_secret_strdup(v[1].v, KR_SECRET_KEY_MAX);
		for (int i = 0; i < 2; i++) {
			op->move_file[i] = strdup(v[i].file);
			op->move_line[i] = v[i].line;
		}
		op->n_move = 2;
		r = op->access_key_id && op->secret && op->move_file[0] && op->move_file[1]
		        ? KR_OK
		        : KR_ERR_NOMEM;
	}
	pmap_release(m);
	return r;
}

static void op_add(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                   struct agent_req **ret_pending)
{
	struct keyop *op;
	struct err_detail e;
	int r;

	memset(&e, 0, sizeof(e));
	if (!valid_profile_name(req->profile) ||
	    (!req->move && (!valid_access_key_id(req->access_key_id) ||
	                    !valid_secret_key(req->secret_access_key)))) {
		reply_errorf(
		    fn, userdata, KR_ERR_INVAL, req->profile,
		    "add needs a profile, an access key id ([A-Z0-9]{16,128}) and a secret "
		    "access key (1 to %d printable characters, no spaces)",
		    KR_SECRET_KEY_MAX);
		return;
	}
	if (!store_on(a->store)) {
		reply_errorf(fn, userdata, KR_ERR_KEYRING, req->profile,
		             "no persistent keyring (backend: memory): start keyroled with --cache "
		             "secret-service or --cache keyctl");
		return;
	}
	op = keyop_new(a, req->profile, fn, userdata);
	if (!op)
		return;
	if (req->move) {
		/* The keys leave the file only once GetCallerIdentity took them and they are
		 * stored. */
		r = move_take(op, &req->env, &e);
	} else {
		add_note(op, &req->env);
		op->access_key_id = strdup(req->access_key_id);
		op->secret = mem_secret_strdup(req->secret_access_key, KR_SECRET_KEY_MAX);
		r = op->access_key_id && op->secret ? KR_OK : KR_ERR_NOMEM;
	}
	if (r == KR_OK && (req->verify || req->move))
		r = verify_start(op, &req->env, &e);
	else if (r == KR_OK)
		r = add_store(op, &e);
	if (r == KR_OK) {
		*ret_pending = &op->req; /* answered from the loop */
	} else {
		char msg[KR_ERR_MSG_MAX];

		if (!e.code)
			err_set_code(&e, r);
		snprintf(msg, sizeof(msg), "keys not stored: %s", e.msg);
		memcpy(e.msg, msg, sizeof(msg));
		keyop_fail(op, &e, NULL);
	}
}

static void on_removed(void *userdata, int err, int count, const char *why)
{
	struct keyop *op = userdata;
	struct reply r = {.op = OP_REMOVE, .ok = 1};
	struct err_detail e;

	if (err < 0) {
		err_set(&e, err, NULL, 0, NULL, "cannot remove the keys: %s", err_str(err));
		keyop_fail(op, &e, NULL);
		return;
	}
	forget_keyring_source(op->a, op->profile);
	r.u.removed = count;
	keyop_answer(op, &r);
}

static void op_remove(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending)
{
	struct reply r = {.op = OP_REMOVE, .ok = 1};
	struct keyop *op;
	struct err_detail e;

	if (!valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "remove needs a profile");
		return;
	}
	if (!store_on(a->store)) {
		r.u.removed = 0;
		fn(userdata, &r);
		return;
	}
	op = keyop_new(a, req->profile, fn, userdata);
	if (!op)
		return;
	if (store_longterm_remove(a->store, req->profile, on_removed, op) < 0) {
		err_set(&e, KR_ERR_KEYRING, NULL, 0, NULL,
		        "cannot remove the keys: keyring unavailable");
		keyop_fail(op, &e, NULL);
		return;
	}
	*ret_pending = &op->req;
}

/* ---- serve: exec --server ---- */

/*
 * A "serve" first gets the profile's credentials exactly as "get" does
 * (errors and the MFA prompt come before the child starts), then registers
 * a token for the credentials endpoint (credsrv.c). The token lives as
 * long as the connection that asked for it (server.c takes it); a receiver
 * that does not take it lets it go at once.
 */
struct serveop {
	struct agent_req req;
	struct agent *a;
	reply_fn fn;
	void *userdata;
	struct agent_req *pending; /* the get's */
	char *profile;
	struct caller_env *env;
	int inline_call; /* inside fetch_get(): the caller frees */
	int answered;
};

static void serveop_free(struct serveop *so)
{
	free(so->profile);
	caller_env_free(so->env);
	free(so);
}

static void serve_on_get(void *userdata, const struct reply *got)
{
	struct serveop *so = userdata;
	struct credsrv_reg *reg = NULL;
	struct err_detail e;
	int taken = 0;

	so->pending = NULL;
	so->answered = 1;
	if (!got->ok) {
		so->fn(so->userdata, got);
	} else if (credsrv_register(so->a->credsrv, so->profile, so->env, &reg, &e) < 0) {
		struct reply_error re = {.e = &e, .profile = so->profile};

		reply_error(so->fn, so->userdata, &re);
	} else {
		struct reply r = {.op = OP_SERVE, .ok = 1};

		r.u.serve.url = credsrv_reg_url(reg);
		r.u.serve.token = credsrv_reg_token(reg);
		r.u.serve.region = got->u.get.region;
		r.u.serve.expiration = got->u.get.creds->expiration;
		r.u.serve.reg = reg;
		r.u.serve.taken = &taken;
		so->fn(so->userdata, &r);
		if (!taken)
			credsrv_unregister(reg);
	}
	if (!so->inline_call)
		serveop_free(so);
}

static void serveop_cancel(struct agent_req *r)
{
	struct serveop *so = (struct serveop *)r;

	agent_req_cancel(so->pending);
	serveop_free(so);
}

static void op_serve(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                     struct agent_req **ret_pending)
{
	struct serveop *so;

	if (!valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "serve needs a profile");
		return;
	}
	if (credsrv_count(a->credsrv) >= KR_CREDSRV_REGS_MAX) {
		reply_errorf(fn, userdata, KR_ERR_BUSY, req->profile,
		             "%d keyrole exec --server are running already; end some first",
		             KR_CREDSRV_REGS_MAX);
		return;
	}
	so = calloc(1, sizeof(*so));
	if (!so || !(so->profile = strdup(req->profile)) ||
	    !(so->env = caller_env_dup(&req->env))) {
		if (so)
			serveop_free(so);
		reply_errorf(fn, userdata, KR_ERR_NOMEM, NULL, "out of memory");
		return;
	}
	so->req.cancel = serveop_cancel;
	so->a = a;
	so->fn = fn;
	so->userdata = userdata;
	so->inline_call = 1;
	fetch_get(a, req, serve_on_get, so, &so->pending);
	so->inline_call = 0;
	if (so->answered) {
		serveop_free(so);
		return;
	}
	*ret_pending = &so->req;
}

/* get; for `keyrole exec` it is a serve when keyroled.conf says exec-server = yes. */
static void op_get(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                   struct agent_req **ret_pending)
{
	if (req->exec && a->opts.exec_server)
		op_serve(a, req, fn, userdata, ret_pending);
	else
		fetch_get(a, req, fn, userdata, ret_pending);
}

/* ---- dispatch ---- */

static void op_ping(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                    struct agent_req **ret_pending)
{
	reply_ok(fn, userdata, OP_PING);
}

static void op_waiting(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                       struct agent_req **ret_pending)
{
	fetch_waiting(a, req, fn, userdata);
}

static void op_version(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                       struct agent_req **ret_pending)
{
	reply_ok(fn, userdata, OP_VERSION);
}

typedef void (*op_fn)(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending);

static const op_fn ops[] = {
    [OP_PING] = op_ping,
    [OP_VERSION] = op_version,
    [OP_GET] = op_get,
    [OP_STATUS] = op_status,
    [OP_FORGET] = op_forget,
    [OP_CHECK] = op_check,
    [OP_ADD] = op_add,
    [OP_REMOVE] = op_remove,
    [OP_LOGIN] = ops_sso_login,
    [OP_LOGIN_WAIT] = ops_sso_login_wait,
    [OP_LOGOUT] = ops_sso_logout,
    [OP_SSO_PROFILES] = ops_sso_profiles,
    [OP_CONSOLE] = ops_console,
    [OP_SERVE] = op_serve,
    [OP_WAITING] = op_waiting,
    [OP_WRAP] = op_wrap,
};

void ops_handle(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                struct agent_req **ret_pending)
{
	*ret_pending = NULL;
	if (!req->op_name) {
		reply_errorf(fn, userdata, KR_ERR_PROTO, NULL, "request has no \"op\"");
		return;
	}
	if (req->op == OP_UNKNOWN || (size_t)req->op >= sizeof(ops) / sizeof(ops[0]) ||
	    !ops[req->op]) {
		reply_errorf(fn, userdata, KR_ERR_UNKNOWN_OP, NULL, "unknown operation \"%.64s\"",
		             req->op_name);
		return;
	}
	ops[req->op](a, req, fn, userdata, ret_pending);
}

void ops_drop_all(struct agent *a)
{
	ops_sso_drop_all(a);
	ops_console_drop_all(a);
	while (!list_empty(&a->keyops)) {
		struct keyop *op = list_entry(a->keyops.next, struct keyop, link);

		op->fn = NULL;
		keyop_free(op);
	}
}
