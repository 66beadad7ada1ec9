/*
 * Fetching credentials for requests; see fetch.h.
 *
 * Invariants:
 * - At most one fetch per cache key is in flight (the entry holds it);
 *   every job that needs the key meanwhile waits on the entry and is
 *   answered from it.
 * - Expired credentials are never handed out: a fetch that brings
 *   credentials already expired is a failure (as in botocore), and a
 *   cached entry is served only while cache_usable().
 * - An entry whose waiters are handed on is pinned for that time: a
 *   waiter going on to the next step may make room in the cache.
 * - Jobs hold a reference on their chain and a copy of the caller's
 *   environment; credentials (struct sts_creds) are wiped when dropped.
 * - Nothing logged here names a secret: profile, role or device, AWS code.
 */
#include "fetch.h"

#include "cachekey.h"
#include "caps.h"
#include "err.h"
#include "list.h"
#include "rfc3339.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct agent_req req; /* the server's handle while it waits */
	struct agent *a;
	reply_fn fn; /* NULL: a background refresh, or a client that went away */
	void *userdata;
	char *profile;
	const struct caller_env *env; /* the request's while it is answered at once, else env_own */
	struct caller_env *env_own;
	char *mfa_code; /* secret */
	struct chain *chain;
	size_t next;          /* the step to run next */
	struct sts_creds cur; /* the credentials of the last step done */
	int cur_chained;      /* cur is a role session: the next role is role chaining */
	const char *from;
	char *force_key; /* a background refresh: fetch this key even while it is fresh */
	struct cache_entry *waiting_on;
	struct list_node wlink;
	int stale;           /* waited through a `forget`: what it gets is handed on, never kept */
	int starting;        /* inside fetch_get(): an answer must not free the job */
	int answered;        /* answered while starting */
	char *refresh_error; /* a step's last failed refresh, when one is served anyway */
	/* Loop ms: the STS calls of all its hops end by then (sts-deadline), from its first
	 * fetch; 0 = not begun. A wait for another client's MFA prompt starts it again. */
	uint64_t deadline_ms;
	int no_wait; /* the credentials endpoint: take a usable entry rather than wait on its fetch
	              */
};

enum { STEP_TAKEN, STEP_WAITING, STEP_ENDED };

static void run(struct job *j);

/* ---- jobs ---- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	list_unlink(&j->wlink);
	chain_unref(j->chain);
	sts_creds_clear(&j->cur);
	mem_free_str(j->mfa_code);
	caller_env_free(j->env_own);
	free(j->force_key);
	free(j->profile);
	free(j->refresh_error);
	j->a->n_busy--;
	free(j);
}

static void job_answer(struct job *j, const struct reply *r)
{
	if (j->fn)
		j->fn(j->userdata, r);
	if (j->starting)
		j->answered = 1; /* fetch_get() frees it */
	else
		job_free(j);
}

static void job_fail(struct job *j, const struct reply_error *re)
{
	struct reply_error copy = *re;
	struct reply r = {.ok = 0};

	j->a->c.errors++;
	if (!copy.profile)
		copy.profile = j->profile;
	r.u.error = copy;
	if (!j->fn && j->force_key) {
		/* Said in the log, and by status next to the entry it was for. */
		struct cache_entry *e =
		    cache_find(j->a->cache, j->force_key, ckey_hash(j->force_key));
		char line[KR_ERR_LINE_MAX];

		err_format(re->e, line, sizeof(line));
		log_warning("background refresh of profile %s failed: %s", j->profile, line);
		if (e && !e->last_error)
			e->last_error = strdup(line);
	}
	job_answer(j, &r);
}

static void job_fail_code(struct job *j, int code)
{
	struct err_detail e;
	struct reply_error re = {.e = &e};

	err_set_code(&e, code);
	job_fail(j, &re);
}

static void job_succeed(struct job *j)
{
	struct reply r = {.op = OP_GET, .ok = 1};

	r.u.get.creds = &j->cur;
	r.u.get.region = j->chain->region;
	r.u.get.from = j->from ? j->from : "memory";
	r.u.get.refresh_error = j->refresh_error;
	job_answer(j, &r);
}

static void job_cancel(struct agent_req *req)
{
	struct job *j = (struct job *)req;

	j->fn = NULL; /* the work goes on (others may wait for it); nobody is told */
}

/* The client is served credentials whose refresh failed: it is told why. */
static void note_refresh_error(struct job *j, const struct cache_entry *e)
{
	char *s = e->last_error ? strdup(e->last_error) : NULL;

	if (s) {
		free(j->refresh_error);
		j->refresh_error = s;
	}
}

/* Is a role assumed with what step s yields (creds c) role chaining? */
static int chains(const struct step *s, const struct sts_creds *c)
{
	unsigned f = s->ops->flags;

	return (f & SOURCE_ROLE_SESSION) || (!(f & SOURCE_NOT_CHAINING) && c->session_token);
}

static void job_wait(struct job *j, struct cache_entry *e)
{
	j->waiting_on = e;
	list_push_back(&e->waiters, &j->wlink);
}

/*
 * A client was answered from e: refresh it in the background while it is
 * used, with the requester's profile and environment. Background refreshes
 * do not count as use, or an entry would be refreshed forever.
 */
static void mark_served(struct cache_entry *e, const struct job *j)
{
	struct caller_env *env = j->env ? caller_env_dup(j->env) : NULL;
	char *who = strdup(j->profile);

	e->served = 1;
	if (who) {
		free(e->requested_by);
		e->requested_by = who;
	}
	if (env) {
		caller_env_free(e->last_env);
		e->last_env = env;
	}
}

/* The job takes e's credentials for its current step and moves past it. */
static int take(struct job *j, struct cache_entry *e, const char *from)
{
	const struct step *s = &j->chain->steps[j->next];

	if (sts_creds_copy(&j->cur, &e->creds) < 0) {
		job_fail_code(j, KR_ERR_NOMEM);
		return STEP_ENDED;
	}
	j->cur_chained = chains(s, &j->cur);
	if (j->fn)
		mark_served(e, j);
	if (e->last_error)
		note_refresh_error(j, e);
	j->from = from;
	j->next++;
	return STEP_TAKEN;
}

/* Wake a job that waited on e: it takes e's credentials, or looks again. */
static void wake(struct job *j, struct cache_entry *e, const char *from)
{
	if (!from || take(j, e, from) == STEP_TAKEN)
		run(j);
}

/* Tell the client that a code is needed (it prompts and asks again). */
static void need_mfa(struct job *j, struct cache_entry *e, const char *serial)
{
	struct err_detail d;
	struct reply_error re = {.e = &d};

	memset(&d, 0, sizeof(d));
	if (!j->fn) {
		/* A background refresh cannot prompt; the next client will. */
		job_answer(j, &(struct reply){.ok = 0, .u.error = re});
		return;
	}
	e->mfa_wait_until = loop_now(j->a->loop) + (uint64_t)KR_MFA_WAIT_MS * 1000;
	cache_arm_at(e, e->mfa_wait_until);
	err_set(&d, KR_ERR_MFA, NULL, 0, NULL,
	        "MFA code required for %s: run 'keyrole get %s' in a terminal (or pass --mfa-code) "
	        "once; the session is then cached",
	        serial, j->profile);
	re.role = e->role_arn;
	re.mfa_serial = serial;
	re.mfa_process = j->chain->mfa_process;
	re.mfa_prompt = j->chain->mfa_prompt      ? j->chain->mfa_prompt
	                : j->a->svc.mfa_prompt[0] ? j->a->svc.mfa_prompt
	                                          : NULL;
	job_fail(j, &re);
}

/* ---- entries: what fetches bring ---- */

/*
 * A fetch for e ended successfully, but e was forgotten meanwhile: the
 * jobs that were waiting at the forget (stale) take the credentials,
 * nothing is kept in memory or the keyring, and jobs that came after the
 * forget start a fetch of their own.
 */
static void complete_forgotten(struct cache_entry *e, struct list_node *waiters)
{
	struct list_node later, *n, *t;

	list_init(&later);
	list_for_each_safe(n, t, waiters)
	{
		struct job *w = list_entry(n, struct job, wlink);

		list_unlink(&w->wlink);
		w->waiting_on = NULL;
		if (w->stale)
			wake(w, e, e->from);
		else
			list_push_back(&later, &w->wlink);
	}
	cache_clear_creds(e);
	list_for_each_safe(n, t, &later)
	{
		struct job *w = list_entry(n, struct job, wlink);

		list_unlink(&w->wlink);
		run(w);
	}
}

/* Count a failed STS call by its AWS code, or by our error name (network, tls...). */
static void count_sts_error(struct agent *a, const struct source_result *res)
{
	const char *code = res->aws_code && *res->aws_code ? res->aws_code : err_name(res->err);

	for (int i = 0; i < KR_STS_CODES_MAX; i++) {
		if (a->c.sts_errors[i].code[0] == '\0')
			snprintf(a->c.sts_errors[i].code, sizeof(a->c.sts_errors[i].code), "%s",
			         code);
		if (strcmp(a->c.sts_errors[i].code, code) == 0) {
			a->c.sts_errors[i].n++;
			return;
		}
	}
}

/*
 * Credentials a source brought are checked before anybody takes them:
 * already expired is a failure (botocore: "refreshed credentials are still
 * expired"), and an Expiration further away than the source can issue is
 * not believed (it would be cached for ever): it is brought back to the
 * longest lifetime the source has.
 */
static void check_expiration(struct agent *a, struct cache_entry *e, const struct source_ops *ops,
                             struct source_result *res)
{
	time_t now = agent_now(a), exp = res->creds.expiration;

	if (res->err != KR_OK || exp == 0)
		return;
	if (exp <= now) {
		char when[RFC3339_LEN + 1] = "?";

		rfc3339_format(exp, when);
		sts_creds_clear(&res->creds);
		res->err = KR_ERR_EXPIRED;
		err_set(&res->detail, KR_ERR_EXPIRED, NULL, 0,
		        "check the clock of this machine, and what the source returns",
		        "%s: credentials were refreshed, but the refreshed credentials are still "
		        "expired (Expiration %s)",
		        e->what ? e->what : e->profile, when);
	} else if (ops->max_lifetime && exp - now > ops->max_lifetime) {
		log_warning("profile %s: %s: Expiration is %ld s away, more than the %ld s it can "
		            "issue; cached as if it were %ld s",
		            e->profile, e->what ? e->what : ops->name, (long)(exp - now),
		            (long)ops->max_lifetime, (long)ops->max_lifetime);
		res->creds.expiration = now + ops->max_lifetime;
	}
}

/*
 * A fetch for e ended: hand the result to every waiter. On success the
 * credentials are stolen from res. On failure a still-valid entry keeps
 * being served (with the error noted), otherwise every waiter fails.
 */
static void complete(struct agent *a, struct cache_entry *e, const struct source_ops *ops,
                     struct source_result *res)
{
	struct list_node waiters, *n, *t;
	int forgotten = e->forgotten;

	list_take_all(&waiters, &e->waiters);
	list_for_each_safe(n, t, &waiters) list_entry(n, struct job, wlink)->waiting_on = NULL;
	cache_pin(e); /* waiters go on to other entries, which may trim the cache */
	e->forgotten = 0;
	e->mfa_wait_until = 0; /* done, or a wrong code: the next client prompts again */
	if (res->err == KR_OK) {
		cache_set_creds(e, &res->creds, agent_now(a), res->from ? res->from : "sts");
		free(e->last_error);
		e->last_error = NULL;
		if (forgotten) {
			complete_forgotten(e, &waiters);
		} else {
			list_for_each_safe(n, t, &waiters)
			{
				struct job *w = list_entry(n, struct job, wlink);

				list_unlink(&w->wlink);
				wake(w, e, e->from);
			}
			if (!e->creds.expiration) {
				cache_clear_creds(e); /* long-term keys: not cached */
			} else {
				if (ops->flags & SOURCE_SESSION)
					store_session_write(a->store, e->key, e->profile,
					                    e->role_arn, &e->creds,
					                    e->creds.expiration - e->obtained);
				cache_schedule(e);
			}
		}
		cache_unpin(e);
		return;
	}
	free(e->last_error);
	e->last_error = strdup(res->detail.msg[0] ? res->detail.msg : err_str(res->err));
	/* Still valid: retry in the background a minute from now. */
	if (cache_usable(e) && e->creds.expiration - cache_min_left(e) > agent_now(a) + 60)
		cache_arm(e, agent_now(a) + 60);
	else if (cache_usable(e) && e->creds.expiration - cache_min_left(e) > agent_now(a) + 5)
		cache_arm(e, agent_now(a) + 5); /* a short session: try again sooner */
	list_for_each_safe(n, t, &waiters)
	{
		struct job *w = list_entry(n, struct job, wlink);
		struct reply_error re = {.e = &res->detail,
		                         .role = e->role_arn,
		                         .aws_code = res->aws_code,
		                         .aws_message = res->aws_message,
		                         .sso_session = res->sso_session,
		                         .sso_start_url = res->sso_start_url};

		list_unlink(&w->wlink);
		if (cache_usable(e))
			wake(w, e, "memory"); /* refresh failed, old credentials still valid */
		else
			job_fail(w, &re);
	}
	cache_unpin(e);
}

static void on_fetch_done(void *userdata, struct source_result *res)
{
	struct cache_entry *e = userdata;
	struct agent *a = cache_userdata(e->cache);
	const struct source_ops *ops = e->ops;
	long ms = (long)((loop_now(a->loop) - e->call_started) / 1000);
	char attempts[48] = "";

	e->call = NULL;
	e->ops = NULL;
	check_expiration(a, e, ops, res);
	if (res->attempts > 0) {
		a->c.sts_calls++;
		snprintf(attempts, sizeof(attempts), ", %d attempt(s)", res->attempts);
	}
	if (res->err == KR_OK) {
		log_info("profile %s: %s: ok after %ld ms%s", e->profile,
		         e->what ? e->what : ops->name, ms, attempts);
	} else {
		log_info("profile %s: %s: %s after %ld ms%s", e->profile,
		         e->what ? e->what : ops->name,
		         res->aws_code ? res->aws_code : err_str(res->err), ms, attempts);
		if (res->attempts > 0)
			count_sts_error(a, res);
		else
			log_warning("%s", res->detail.msg);
	}
	complete(a, e, ops, res);
}

/* Start the fetch of j's current step into e; the job waits for it. */
static int start_fetch(struct job *j, struct cache_entry *e, const struct step *s)
{
	struct agent *a = j->a;
	struct source_fetch f = {.svc = &a->svc,
	                         .chain = j->chain,
	                         .step = s,
	                         .input = j->next > 0 ? &j->cur : NULL,
	                         .input_chained = j->next > 0 && j->cur_chained,
	                         .mfa_code = s->mfa_serial ? j->mfa_code : NULL,
	                         .profile = j->profile,
	                         .done = on_fetch_done,
	                         .userdata = e};
	struct source_result res;
	void *call = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	if (!j->deadline_ms) /* one deadline for the request, however many hops its chain has */
		j->deadline_ms = loop_now(a->loop) / 1000u +
		                 (a->opts.sts_deadline > 0 ? (uint64_t)a->opts.sts_deadline * 1000u
		                                           : KR_STS_DEADLINE_MS);
	f.not_after_ms = j->deadline_ms;
	r = s->ops->fetch(&f, &res, &call);
	if (r < 0) {
		struct reply_error re = {.e = &res.detail,
		                         .role = s->role_arn,
		                         .sso_session = res.sso_session,
		                         .sso_start_url = res.sso_start_url};

		if (!res.detail.code)
			err_set_code(&res.detail, r);
		job_fail(j, &re);
		return STEP_ENDED;
	}
	e->ops = s->ops;
	e->call_started = loop_now(a->loop);
	if (j->stale)
		e->forgotten = 1; /* fetched with forgotten credentials: hand it on, keep nothing */
	if (!j->fn)
		a->c.refreshes++;
	log_debug("profile %s: %s", j->profile, s->what ? s->what : s->ops->name);
	job_wait(j, e);
	if (r == 1) {
		on_fetch_done(e, &res); /* finished at once */
		sts_creds_clear(&res.creds);
	} else {
		e->call = call;
	}
	return STEP_WAITING;
}

static void on_store_lookup(void *userdata, int err, struct sts_creds *creds, time_t lifetime)
{
	struct cache_entry *e = userdata;
	struct list_node waiters, *n, *t;

	e->store_pending = 0;
	if (e->forgotten) {
		/* Queued before the forget's removal: what it found is forgotten. */
		e->forgotten = 0;
		err = KR_ERR_NOCREDS;
	}
	if (err == KR_OK && creds) {
		time_t exp = creds->expiration;

		cache_set_creds(e, creds, cache_loaded_obtained(e->cache, exp, lifetime),
		                "keyring");
		cache_schedule(e);
		log_debug("%s: loaded from the keyring", e->role_arn ? e->role_arn : e->profile);
	}
	/* Every waiter takes it, or goes on to the source (the first one fetches, the rest wait).
	 */
	list_take_all(&waiters, &e->waiters);
	cache_pin(e);
	list_for_each_safe(n, t, &waiters)
	{
		struct job *w = list_entry(n, struct job, wlink);
		int forced = w->force_key && strcmp(w->force_key, e->key) == 0;

		list_unlink(&w->wlink);
		w->waiting_on = NULL;
		wake(w, e, cache_fresh(e) && !forced ? "keyring" : NULL);
	}
	cache_unpin(e);
}

/*
 * A step that has a cache entry: serve from it, wait for its fetch or
 * keyring lookup, ask for an MFA code, or fetch.
 */
static int step_cached(struct job *j, const struct step *s)
{
	struct agent *a = j->a;
	struct cache_entry *e = cache_get(a->cache, s->key, s->key_hash);
	int forced;

	if (!e || cache_label(e, s) < 0) {
		job_fail_code(j, KR_ERR_NOMEM);
		return STEP_ENDED;
	}
	forced = j->force_key && strcmp(j->force_key, e->key) == 0;
	if (!forced && cache_fresh(e))
		return take(j, e, "memory");
	if (cache_busy(e)) {
		/*
		 * The SDKs give the credentials endpoint a second or two: while the
		 * entry is still usable they get it at once, not after STS's retries.
		 */
		if (j->no_wait && !forced && cache_usable(e))
			return take(j, e, "memory");
		job_wait(j, e);
		return STEP_WAITING;
	}
	if (!forced && !e->store_checked && (s->ops->flags & SOURCE_SESSION)) {
		e->store_checked = 1;
		if (store_session_lookup(a->store, e->key, on_store_lookup, e) == KR_OK) {
			e->store_pending = 1;
			job_wait(j, e); /* the keyring may have it (after a restart) */
			return STEP_WAITING;
		}
	}
	if (s->mfa_serial && !j->mfa_code) {
		if (cache_usable(e) && !forced)
			return take(j, e, "memory"); /* cannot refresh without a code */
		if (e->mfa_wait_until > loop_now(a->loop) && j->fn) {
			j->deadline_ms = 0; /* a person's wait is no part of the deadline */
			job_wait(j, e);     /* another client is prompting: one prompt, not many */
			return STEP_WAITING;
		}
		need_mfa(j, e, s->mfa_serial);
		return STEP_ENDED;
	}
	return start_fetch(j, e, s);
}

/* A step that answers at once from the chain (keys in a file or the environment). */
static int step_inline(struct job *j, const struct step *s)
{
	struct source_fetch f = {.svc = &j->a->svc, .chain = j->chain, .step = s};
	struct source_result res;
	void *call = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	r = s->ops->fetch(&f, &res, &call);
	if (r != 1) {
		struct reply_error re = {.e = &res.detail};

		if (!res.detail.code)
			err_set_code(&res.detail, r < 0 ? r : KR_ERR_INTERNAL);
		job_fail(j, &re);
		return STEP_ENDED;
	}
	sts_creds_clear(&j->cur);
	j->cur = res.creds;
	j->cur_chained = chains(s, &j->cur);
	j->next++;
	return STEP_TAKEN;
}

/* Run j's steps from j->next until it waits, fails or has its answer. */
static void run(struct job *j)
{
	const struct chain *ch = j->chain;

	while (j->next < ch->n) {
		const struct step *s = &ch->steps[j->next];
		int r = s->ops->flags & SOURCE_INLINE ? step_inline(j, s) : step_cached(j, s);

		if (r != STEP_TAKEN)
			return;
	}
	job_succeed(j);
}

/*
 * Begin at the highest step still fresh in memory: a full hit answers
 * without touching the source, the keyring or the network. A background
 * refresh begins below the entry it must renew.
 */
static void job_start(struct job *j)
{
	struct agent *a = j->a;
	const struct chain *ch = j->chain;
	size_t top = ch->n, start = 0;

	if (j->force_key)
		for (size_t i = 0; i < ch->n; i++)
			if (strcmp(ch->steps[i].key, j->force_key) == 0)
				top = i;
	for (size_t i = top; i-- > 0;) {
		const struct step *s = &ch->steps[i];
		struct cache_entry *e;

		if (s->ops->flags & SOURCE_INLINE)
			continue;
		e = cache_find(a->cache, s->key, s->key_hash);
		if (!e || !cache_fresh(e))
			continue;
		if (sts_creds_copy(&j->cur, &e->creds) < 0) {
			job_fail_code(j, KR_ERR_NOMEM);
			return;
		}
		j->cur_chained = chains(s, &j->cur);
		if (j->fn)
			e->served = 1; /* requested_by and last_env are kept from the fetch */
		if (e->last_error)
			note_refresh_error(j, e);
		start = i + 1;
		break;
	}
	if (j->fn) {
		if (start == ch->n)
			a->c.hits++;
		else
			a->c.misses++;
	}
	j->from = "memory";
	j->next = start;
	run(j);
}

/*
 * A new job for profile in env (copied); NULL, with the failure answered,
 * when it cannot start (the profile does not resolve).
 */
static struct job *job_new(struct agent *a, const char *profile, const struct caller_env *env,
                           const char *mfa_code, const char *force_key, reply_fn fn, void *userdata)
{
	struct job *j = calloc(1, sizeof(*j));
	struct err_detail e;
	struct reply_error re = {.e = &e, .profile = profile};
	int r;

	memset(&e, 0, sizeof(e));
	if (!j) {
		err_set_code(&e, KR_ERR_NOMEM);
		if (fn)
			reply_error(fn, userdata, &re);
		return NULL;
	}
	a->n_busy++;
	j->a = a;
	j->fn = fn;
	j->userdata = userdata;
	j->req.cancel = job_cancel;
	list_init(&j->wlink);
	j->profile = strdup(profile);
	j->env = env;
	if (!fn)
		j->env = j->env_own = caller_env_dup(env);
	if (mfa_code)
		j->mfa_code = mem_secret_strdup(mfa_code, KR_MFA_CODE_MAX);
	if (force_key)
		j->force_key = strdup(force_key);
	if (!j->profile || !j->env || (mfa_code && !j->mfa_code) || (force_key && !j->force_key)) {
		job_fail_code(j, KR_ERR_NOMEM);
		return NULL;
	}
	r = resolve_chain(j->env, profile, &a->ropts, &j->chain, &e);
	if (r < 0) {
		if (!e.code)
			err_set_code(&e, r);
		job_fail(j, &re);
		return NULL;
	}
	return j;
}

/* What step s of ch waits for (see fetch_waiting()), in out; 0 when nothing. */
static int step_waiting(struct agent *a, const struct chain *ch, const struct step *s, char *out,
                        size_t n)
{
	struct cache_entry *e = cache_find(a->cache, s->key, s->key_hash);
	uint64_t now = loop_now(a->loop);
	int sts =
	    strcmp(s->ops->name, "assume-role") == 0 || strcmp(s->ops->name, "mfa-session") == 0;

	if (!e)
		return 0;
	if (e->call) {
		snprintf(out, n, "%s (profile %s)%s%s%s%s%s, %llu s so far",
		         e->what ? e->what : s->ops->name, e->profile ? e->profile : "?",
		         sts && ch->endpoint ? " at " : "", sts && ch->endpoint ? ch->endpoint : "",
		         sts && ch->endpoint_from ? " (" : "",
		         sts && ch->endpoint_from ? ch->endpoint_from : "",
		         sts && ch->endpoint_from ? ")" : "",
		         (unsigned long long)(now > e->call_started
		                                  ? (now - e->call_started) / 1000000
		                                  : 0));
		return 1;
	}
	if (e->mfa_wait_until > now) {
		snprintf(out, n, "an MFA code for %s, asked of another keyrole (profile %s)",
		         e->mfa_serial ? e->mfa_serial : "the MFA device",
		         e->profile ? e->profile : "?");
		return 1;
	}
	if (e->store_pending) {
		snprintf(out, n, "the keyring (profile %s)", e->profile ? e->profile : "?");
		return 1;
	}
	return 0;
}

void fetch_waiting(struct agent *a, const struct request *req, reply_fn fn, void *userdata)
{
	char text[KR_ERR_MSG_MAX] = "";
	struct err_detail e;
	struct chain *ch = NULL;

	memset(&e, 0, sizeof(e));
	if (!valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "missing or invalid profile name");
		return;
	}
	/* A profile that does not resolve waits for nothing: its get answers at once. */
	if (resolve_chain(&req->env, req->profile, &a->ropts, &ch, &e) == KR_OK)
		for (size_t i = 0; i < ch->n; i++)
			if (!(ch->steps[i].ops->flags & SOURCE_INLINE) &&
			    step_waiting(a, ch, &ch->steps[i], text, sizeof(text)))
				break;
	chain_unref(ch);
	fn(userdata, &(struct reply){.op = OP_WAITING, .ok = 1, .u.waiting = text});
}

void fetch_get(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
               struct agent_req **ret_pending)
{
	struct job *j;

	*ret_pending = NULL;
	if (!valid_profile_name(req->profile)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, NULL, "missing or invalid profile name");
		return;
	}
	if (req->mfa_code && !valid_mfa_code(req->mfa_code)) {
		reply_errorf(fn, userdata, KR_ERR_INVAL, req->profile,
		             "invalid MFA code (exactly %d digits)", KR_MFA_CODE_LEN);
		return;
	}
	j = job_new(a, req->profile, &req->env, req->mfa_code, NULL, fn, userdata);
	if (!j)
		return;
	j->no_wait = req->no_wait;
	j->starting = 1;
	job_start(j);
	j->starting = 0;
	if (j->answered) {
		job_free(j);
		return;
	}
	/* It waits: the request goes when this returns, the job keeps its own env. */
	j->env = j->env_own = caller_env_dup(&req->env); /* NULL: no background refresh for it */
	*ret_pending = &j->req;
}

/* ---- background work ---- */

/* Refresh e in the background for the client that used it last. */
static void refresh(struct agent *a, struct cache_entry *e)
{
	time_t end = e->creds.expiration - cache_min_left(e);
	struct job *j;

	/* Try again later if the refresh cannot run now; at the end, the entry goes. */
	cache_arm(e, end);
	e->served = 0;
	free(e->last_error); /* a failure from here on is said again */
	e->last_error = NULL;
	j = job_new(a, e->requested_by, e->last_env, NULL, e->key, NULL, NULL);
	if (j)
		job_start(j); /* a profile that no longer resolves failed above, logged */
}

void fetch_on_timer(struct cache_entry *e, void *agent)
{
	struct agent *a = agent;
	time_t now = agent_now(a);

	if (e->mfa_wait_until && loop_now(a->loop) >= e->mfa_wait_until) {
		/* Nobody brought a code: the waiters go back and prompt themselves. */
		struct list_node waiters, *n, *t;

		e->mfa_wait_until = 0;
		list_take_all(&waiters, &e->waiters);
		cache_pin(e);
		list_for_each_safe(n, t, &waiters)
		{
			struct job *w = list_entry(n, struct job, wlink);

			list_unlink(&w->wlink);
			w->waiting_on = NULL;
			need_mfa(w, e, e->mfa_serial ? e->mfa_serial : "the MFA device");
		}
		cache_unpin(e);
	}
	if (cache_busy(e) || !list_empty(&e->waiters))
		return; /* armed again when the work ends */
	if (!e->has_creds || e->creds.expiration <= now + cache_min_left(e)) {
		if (e->pins == 0)
			cache_drop(e); /* expired: never served again */
		return;
	}
	if (e->served && e->requested_by && e->last_env) {
		refresh(a, e);
		return;
	}
	/* Not used since it was fetched: let it expire instead of refreshing. */
	cache_arm(e, e->creds.expiration - cache_min_left(e));
}

void fetch_forget(struct agent *a, struct cache_entry *e, int *removed)
{
	struct list_node *n;

	if (e->has_creds)
		(*removed)++;
	store_session_remove(a->store, e->key);
	if (cache_idle(e)) {
		cache_drop(e);
		return;
	}
	cache_clear_creds(e); /* in use: drop the credentials only */
	if (e->call)
		for (n = e->waiters.next; n != &e->waiters; n = n->next)
			list_entry(n, struct job, wlink)->stale = 1;
	if (cache_busy(e))
		e->forgotten = 1;
}

void fetch_drop_all(struct agent *a)
{
	struct list_node *n;

	for (n = cache_entries(a->cache)->next; n != cache_entries(a->cache); n = n->next) {
		struct cache_entry *e = list_entry(n, struct cache_entry, link);

		while (!list_empty(&e->waiters)) {
			struct job *j = list_entry(e->waiters.next, struct job, wlink);

			j->fn = NULL;
			job_free(j);
		}
	}
}
