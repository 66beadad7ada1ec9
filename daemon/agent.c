/*
 * The agent: credential cache, single-flight STS calls, background refresh.
 *
 * Invariants:
 * - One entry per cache key (profile_hop_key(): everything that changes a
 *   hop's result). At most one STS call per entry is in flight; every job
 *   that needs the entry meanwhile waits on it and is answered from it.
 * - Expired credentials are never handed out: an entry is served only while
 *   it has more than KR_MIN_LEFT_S left, and normally only while it has
 *   more than its refresh threshold left (see threshold()).
 * - A cache hit touches no network, no D-Bus and no disk.
 * - Credentials live in struct sts_creds and are wiped when dropped
 *   (sts_creds_clear); replies carrying them are cJSON trees, wiped on free
 *   by msg_install_json_hooks().
 * - Nothing logged here names a secret: only profile, role, AWS code.
 */
#include "agent.h"

#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "keyring.h"
#include "log.h"
#include "mem.h"
#include "msg.h"
#include "proc.h"
#include "profile.h"
#include "proto.h"
#include "shellquote.h"
#include "sigv4.h"
#include "sts.h"
#include "sts_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define ENTRIES_MAX   10000 /* cached hops; the oldest unused go first */
#define MFA_WAIT_S    90    /* others wait this long for one prompt's code */
#define STS_CODES_MAX 32    /* distinct AWS error codes counted */

struct job;
struct keyop;

struct entry {
	struct agent *a;
	struct entry *prev, *next; /* every entry, newest first */
	struct entry *hnext;       /* same hash bucket */
	uint64_t hash;             /* of key */
	char *key;                 /* cache key text (no secrets) */
	char *profile;             /* the profile that holds the role (or the MFA source) */
	char *requested_by;        /* the last profile whose chain used this entry */
	char *role_arn;            /* NULL for an MFA session */
	char *mfa_serial;          /* the device whose code this entry needs, if any */
	int hop;                   /* index in the requesting chain; -1 for an MFA session */
	struct sts_creds creds;
	int has_creds;
	time_t obtained;
	const char *from; /* "sts" or "keyring" */
	int served;       /* handed out since it was obtained */
	char *last_error; /* the last failed refresh, one line */
	struct sts_call *call;
	struct proc *proc; /* credential_process source in flight */
	int kr_pending;    /* a keyring lookup for this entry is in flight */
	int kr_checked;    /* the keyring was asked once since the entry was made */
	int pinned;        /* handing its result to waiters: must not be freed */
	int forgotten;     /* forgotten while busy: the result is handed on, never kept */
	uint64_t call_started;
	struct job *waiters;      /* jobs blocked on this entry */
	struct loop_timer *timer; /* refresh / expiry / MFA wait */
	time_t mfa_wait_until;    /* a client is prompting for this entry's code */
	cJSON *last_env;          /* env of the last request: refreshes run with it */
};

struct job {
	struct agent *a;
	agent_reply_fn fn; /* NULL for a background refresh */
	void *userdata;
	struct agent_req *handle;
	char *profile;
	cJSON *env; /* owned copy of the request's env */
	struct profile_env penv;
	char *mfa_code; /* wiped */
	struct profile_chain *chain;
	size_t step;          /* next hop */
	int via_session;      /* hop 0 is assumed from an MFA session (GetSessionToken) */
	int mfa_done;         /* the MFA session stage ran */
	struct sts_creds cur; /* credentials of the last completed stage */
	const char *from;
	char *force_key; /* background refresh: fetch this key even if fresh */
	int stage;       /* the stage in progress: STAGE_* (resumed after a keyring miss) */
	struct entry *waiting_on;
	struct job *wnext;
	int stale; /* waited through a `forget`: what it fetches is handed on, never kept */
	char refresh_error[256];
};

/*
 * The server's handle on a pending "get". Freed by agent_req_cancel(), or
 * by the job when it answers after op_get() returned (registered).
 */
struct agent_req {
	struct job *job;
	struct keyop *op;
	int registered;
};

/* An `add` or `remove` of long-term keys in progress. */
struct keyop {
	struct agent *a;
	agent_reply_fn fn;
	void *userdata;
	struct agent_req *handle;
	char *profile;
	struct keyring_item *item; /* add: what to store (holds the secret) */
	struct sts_call *call;     /* add --verify: GetCallerIdentity */
	char *arn;                 /* add --verify: who the keys belong to */
};

struct agent {
	struct loop *loop;
	struct sts *sts;
	struct agent_opts opts;
	struct keyring *kr;             /* persistent layer; NULL only if even "memory" failed */
	struct loop_timer *sweep_timer; /* next sweep of expired keyring items */
	char kr_warning[256];           /* the keyring's failover warning, if any */
	int kr_store_warned;            /* a failed store was reported once */
	cJSON *stored;                  /* names of profiles with long-term keys (snapshot) */
	struct entry *entries;
	unsigned n_entries;
	struct entry **buckets; /* by hash of key: n_buckets, a power of two */
	size_t n_buckets;
	unsigned n_jobs;
	time_t started;
	struct {
		unsigned long requests, hits, misses, sts_calls, refreshes, errors;
		struct {
			char code[64];
			unsigned long n;
		} sts_errors[STS_CODES_MAX];
	} c;
};

enum { STAGE_PROCESS, STAGE_LONGTERM, STAGE_MFA, STAGE_HOP };

static time_t now(const struct agent *a)
{
	return a->opts.now ? a->opts.now() : time(NULL);
}

static void job_step(struct job *j);
static void job_fail(struct job *j, int err, cJSON *reply);

/* ---- entries ---- */

static void entry_free(struct agent *a, struct entry *e)
{
	if (!e)
		return;
	sts_call_cancel(e->call);
	proc_cancel(e->proc);
	if (e->kr_pending && a->kr)
		keyring_cancel(a->kr, e);
	loop_timer_free(e->timer);
	sts_creds_clear(&e->creds);
	free(e->key);
	free(e->profile);
	free(e->requested_by);
	free(e->role_arn);
	free(e->mfa_serial);
	free(e->last_error);
	cJSON_Delete(e->last_env);
	if (e->prev)
		e->prev->next = e->next;
	else
		a->entries = e->next;
	if (e->next)
		e->next->prev = e->prev;
	for (struct entry **pp = &a->buckets[e->hash & (a->n_buckets - 1)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	a->n_entries--;
	free(e);
}

/* FNV-1a: keys come from our own resolver, not from an adversary. */
static uint64_t key_hash(const char *key)
{
	uint64_t h = 1469598103934665603u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

static struct entry *entry_find(struct agent *a, const char *key)
{
	uint64_t h = key_hash(key);

	for (struct entry *e = a->buckets[h & (a->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Keep about one entry per bucket; a failed resize leaves the old table working. */
static void buckets_grow(struct agent *a)
{
	size_t n = a->n_buckets * 2;
	struct entry **b;

	if (a->n_entries < a->n_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (struct entry *e = a->entries; e; e = e->next) {
		e->hnext = b[e->hash & (n - 1)];
		b[e->hash & (n - 1)] = e;
	}
	free(a->buckets);
	a->buckets = b;
	a->n_buckets = n;
}

static int entry_busy(const struct entry *e)
{
	return e->call || e->proc || e->kr_pending;
}

static int entry_idle(const struct entry *e)
{
	return !entry_busy(e) && !e->waiters && !e->pinned;
}

/* Make room: drop expired entries, then the least recently obtained idle one. */
static void entries_trim(struct agent *a)
{
	struct entry *oldest = NULL;
	time_t t = now(a);

	for (struct entry *e = a->entries, *n; e; e = n) {
		n = e->next;
		if (entry_idle(e) && (!e->has_creds || e->creds.expiration <= t))
			entry_free(a, e);
	}
	if (a->n_entries < ENTRIES_MAX)
		return;
	for (struct entry *e = a->entries; e; e = e->next)
		if (entry_idle(e) && e->obtained < t - 60 &&
		    (!oldest || e->obtained < oldest->obtained))
			oldest = e;
	entry_free(a, oldest);
}

static struct entry *entry_get(struct agent *a, const char *key)
{
	struct entry *e = entry_find(a, key);

	if (e)
		return e;
	if (a->n_entries >= ENTRIES_MAX)
		entries_trim(a);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->a = a;
	e->key = strdup(key);
	if (!e->key) {
		free(e);
		return NULL;
	}
	e->hash = key_hash(key);
	e->next = a->entries;
	if (a->entries)
		a->entries->prev = e;
	a->entries = e;
	e->hnext = a->buckets[e->hash & (a->n_buckets - 1)];
	a->buckets[e->hash & (a->n_buckets - 1)] = e;
	a->n_entries++;
	buckets_grow(a);
	return e;
}

/*
 * How much validity an entry must have left to be served without a fetch:
 * botocore's 15 minutes (the refresh margin), or half the lifetime for
 * credentials too short for that, and never less than KR_MIN_LEFT_S.
 */
static time_t threshold(const struct agent *a, const struct entry *e)
{
	time_t life = e->creds.expiration - e->obtained;
	time_t t = a->opts.refresh_margin;

	if (life / 2 < t)
		t = life / 2;
	if (t < KR_MIN_LEFT_S)
		t = KR_MIN_LEFT_S;
	return t;
}

static int entry_fresh(const struct agent *a, const struct entry *e)
{
	return e->has_creds && e->creds.expiration - now(a) > threshold(a, e);
}

static int entry_usable(const struct agent *a, const struct entry *e)
{
	return e->has_creds && e->creds.expiration - now(a) > KR_MIN_LEFT_S;
}

static uint64_t wall_to_loop(const struct agent *a, time_t when)
{
	time_t d = when - now(a);

	if (d < 0)
		d = 0;
	return loop_now(a->loop) + (uint64_t)d * 1000000u;
}

static void on_entry_timer(struct loop_timer *t, void *userdata);

static void entry_arm(struct agent *a, struct entry *e, time_t when)
{
	uint64_t at = wall_to_loop(a, when);

	if (!e->timer)
		loop_timer_add(a->loop, at, on_entry_timer, e, &e->timer);
	else
		loop_timer_set(e->timer, at);
}

static uint32_t rnd(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)rand();
	return v;
}

/* After a fetch: refresh in the background before clients would see the threshold. */
static void entry_schedule(struct agent *a, struct entry *e)
{
	time_t thr = threshold(a, e);
	time_t lead = 30 + (time_t)(rnd() % 61); /* jitter: 30..90 s ahead */
	time_t when = e->creds.expiration - thr - lead;

	if (when < now(a) + 1)
		when = now(a) + 1;
	entry_arm(a, e, when);
}

/* Count a failed STS call by its AWS code, or by our error name (network, tls...). */
static void counters_sts_error(struct agent *a, const struct sts_result *res)
{
	const char *code = res->aws_code && *res->aws_code ? res->aws_code : err_name(res->err);

	for (int i = 0; i < STS_CODES_MAX; i++) {
		if (a->c.sts_errors[i].code[0] == '\0')
			snprintf(a->c.sts_errors[i].code, sizeof(a->c.sts_errors[i].code), "%s",
			         code);
		if (strcmp(a->c.sts_errors[i].code, code) == 0) {
			a->c.sts_errors[i].n++;
			return;
		}
	}
}

/* ---- replies ---- */

static cJSON *error_reply(int err, const char *profile, const char *role, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cJSON *error_reply(int err, const char *profile, const char *role, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	cJSON *r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = msg_new_error(err, msg);
	if (r && profile)
		cJSON_AddStringToObject(r, "profile", profile);
	if (r && role)
		cJSON_AddStringToObject(r, "role", role);
	return r;
}

static void fmt_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *creds_reply(const struct job *j)
{
	cJSON *r = msg_new();
	char exp[32];

	if (!r)
		return NULL;
	cJSON_AddTrueToObject(r, "ok");
	cJSON_AddStringToObject(r, "AccessKeyId", j->cur.access_key_id);
	cJSON_AddStringToObject(r, "SecretAccessKey", j->cur.secret_access_key);
	if (j->cur.session_token)
		cJSON_AddStringToObject(r, "SessionToken", j->cur.session_token);
	if (j->cur.expiration) {
		fmt_time(j->cur.expiration, exp, sizeof(exp));
		cJSON_AddStringToObject(r, "Expiration", exp);
	}
	if (j->chain->region)
		cJSON_AddStringToObject(r, "region", j->chain->region);
	cJSON_AddStringToObject(r, "from", j->from ? j->from : "memory");
	if (j->refresh_error[0])
		cJSON_AddStringToObject(r, "refresh_error", j->refresh_error);
	return r;
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
	struct agent *a;

	if (!j)
		return;
	a = j->a;
	if (j->waiting_on) {
		struct job **pp = &j->waiting_on->waiters;
		while (*pp && *pp != j)
			pp = &(*pp)->wnext;
		if (*pp)
			*pp = j->wnext;
	}
	if (j->handle) {
		j->handle->job = NULL;
		if (j->handle->registered)
			free(j->handle);
	}
	profile_chain_free(j->chain);
	sts_creds_clear(&j->cur);
	mem_free_str(j->mfa_code);
	free(j->force_key);
	cJSON_Delete(j->env);
	free(j->profile);
	free(j);
	a->n_jobs--;
}

static void job_finish(struct job *j, cJSON *reply)
{
	if (j->fn)
		j->fn(j->userdata, reply);
	else
		cJSON_Delete(reply);
	job_free(j);
}

static void job_fail(struct job *j, int err, cJSON *reply)
{
	j->a->c.errors++;
	if (!reply)
		reply = msg_new_error(err, NULL);
	if (!j->fn && j->force_key) {
		const char *m = msg_get_str(reply, "message");
		log_warning("background refresh of profile %s failed: %s", j->profile,
		            m ? m : err_str(err));
	}
	job_finish(j, reply);
}

static int copy_creds(struct sts_creds *dst, const struct sts_creds *src)
{
	sts_creds_clear(dst);
	dst->access_key_id = strdup(src->access_key_id ? src->access_key_id : "");
	dst->secret_access_key = strdup(src->secret_access_key ? src->secret_access_key : "");
	dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
	dst->arn = src->arn ? strdup(src->arn) : NULL;
	dst->expiration = src->expiration;
	if (!dst->access_key_id || !dst->secret_access_key ||
	    (src->session_token && !dst->session_token) || (src->arn && !dst->arn)) {
		sts_creds_clear(dst);
		return KR_ERR_NOMEM;
	}
	return KR_OK;
}

static void job_wait(struct job *j, struct entry *e)
{
	j->waiting_on = e;
	j->wnext = e->waiters;
	e->waiters = j;
}

/* Take the waiters off an entry (each is then continued or failed). */
static struct job *entry_take_waiters(struct entry *e)
{
	struct job *w = e->waiters;

	e->waiters = NULL;
	for (struct job *j = w; j; j = j->wnext)
		j->waiting_on = NULL;
	return w;
}

/*
 * A client was answered from e: refresh it in the background while it is
 * used, with the requester's profile and environment. Background refreshes
 * do not count as use, or an entry would be refreshed forever.
 */
static void entry_mark_served(struct entry *e, const struct job *j)
{
	e->served = 1;
	free(e->requested_by);
	e->requested_by = strdup(j->profile);
	if (j->env) {
		cJSON *dup = cJSON_Duplicate(j->env, 1);
		if (dup) {
			cJSON_Delete(e->last_env);
			e->last_env = dup;
		}
	}
}

/* The entry is usable: the job takes its credentials and moves on. */
static void job_take(struct job *j, struct entry *e, const char *from)
{
	if (copy_creds(&j->cur, &e->creds) < 0) {
		job_fail(j, KR_ERR_NOMEM, NULL);
		return;
	}
	if (j->fn)
		entry_mark_served(e, j);
	if (e->last_error)
		snprintf(j->refresh_error, sizeof(j->refresh_error), "%s", e->last_error);
	j->from = from;
	job_step(j);
}

struct fetch {
	struct agent *a;
	struct entry *e;
};

static void describe_failure(char *out, size_t n, const struct sts_result *res, const char *what,
                             int op)
{
	const char *hint = res->aws_code ? sts_req_hint(res->aws_code, op) : NULL;

	if (res->err == KR_ERR_AWS)
		snprintf(out, n, "%s: %s: %s%s%s", what, res->aws_code ? res->aws_code : "error",
		         res->aws_message ? res->aws_message : "(no message)", hint ? " — " : "",
		         hint ? hint : "");
	else if (res->err == KR_ERR_TLS)
		snprintf(
		    out, n,
		    "%s: %s — the STS endpoint's certificate is not trusted: point AWS_CA_BUNDLE "
		    "(or ca_bundle in the profile) at your CA's PEM file",
		    what, res->errmsg[0] ? res->errmsg : err_str(res->err));
	else
		snprintf(out, n, "%s: %s", what, res->errmsg[0] ? res->errmsg : err_str(res->err));
}

/* ---- the persistent layer (keyring) ---- */

/* Is there a keyring behind the memory cache (it may still not survive a reboot)? */
static int store_on(const struct agent *a)
{
	return a->kr && strcmp(keyring_backend_name(a->kr), "memory") != 0;
}

/* Items are named by a digest of the cache key: no profile data in the name. */
static int key_digest(const char *key, char out[65])
{
	return sigv4_sha256_hex(key, strlen(key), out);
}

static int store_key(const struct entry *e, char out[65])
{
	return key_digest(e->key, out);
}

/*
 * Compact JSON {"a","s","t","e","l"}; the caller wipes it (mem_free_str).
 * "l" is the lifetime in seconds (a session's refresh threshold depends on
 * it); 0 leaves it out (long-term keys).
 */
static char *creds_to_json(const struct sts_creds *c, time_t lifetime)
{
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;

	if (o && cJSON_AddStringToObject(o, "a", c->access_key_id) &&
	    cJSON_AddStringToObject(o, "s", c->secret_access_key) &&
	    (!c->session_token || cJSON_AddStringToObject(o, "t", c->session_token)) &&
	    cJSON_AddNumberToObject(o, "e", (double)c->expiration) &&
	    (lifetime <= 0 || cJSON_AddNumberToObject(o, "l", (double)lifetime)))
		out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

/* ret_lifetime (may be NULL) gets "l", or 0 when it is missing or out of range. */
static int creds_from_json(const char *json, struct sts_creds *ret, time_t *ret_lifetime)
{
	struct sts_creds c = {0};
	cJSON *o = json ? cJSON_Parse(json) : NULL;
	const char *ak = msg_get_str(o, "a"), *sk = msg_get_str(o, "s");
	const char *tk = msg_get_str(o, "t");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "e");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "l");
	int r = KR_ERR_KEYRING;

	if (!ak || !sk || !*ak || !*sk)
		goto out;
	c.access_key_id = strdup(ak);
	c.secret_access_key = strdup(sk);
	c.session_token = tk ? strdup(tk) : NULL;
	c.expiration = cJSON_IsNumber(e) ? (time_t)e->valuedouble : 0;
	if (!c.access_key_id || !c.secret_access_key || (tk && !c.session_token)) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	if (ret_lifetime)
		*ret_lifetime = cJSON_IsNumber(l) && l->valuedouble >= 1 &&
		                        l->valuedouble <= KR_SESSION_LIFETIME_MAX_S
		                    ? (time_t)l->valuedouble
		                    : 0;
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = KR_OK;
out:
	sts_creds_clear(&c);
	cJSON_Delete(o);
	return r;
}

/*
 * A store that fails (quota full, collection locked, keyring gone) leaves
 * the entry in memory only: say so once, and say when stores work again.
 */
static void on_store_written(void *userdata, int err, struct keyring_item *item)
{
	struct agent *a = userdata;
	const char *why;

	keyring_item_free(item);
	if (err == KR_OK && a->kr_store_warned && store_on(a)) {
		a->kr_store_warned = 0;
		a->kr_warning[0] = '\0';
		log_info("keyring: sessions are stored again");
	}
	if (err == KR_OK || a->kr_store_warned)
		return;
	a->kr_store_warned = 1;
	why = keyring_last_error(a->kr);
	log_warning("keyring: a session could not be stored (%s); such sessions stay in memory "
	            "only and do not survive a restart",
	            why ? why : err_str(err));
	snprintf(a->kr_warning, sizeof(a->kr_warning), "store failed: %s",
	         why ? why : err_str(err));
}

static void store_write(struct agent *a, const struct entry *e)
{
	struct keyring_item *it = NULL;
	char *json, key[65];

	if (!store_on(a) || store_key(e, key) < 0)
		return;
	json = creds_to_json(&e->creds, e->creds.expiration - e->obtained);
	if (json && keyring_item_new(key, KEYRING_KIND_SESSION, e->profile ? e->profile : "-",
	                             e->role_arn, (int64_t)e->creds.expiration, json, &it) == 0)
		keyring_store_async(a->kr, it, on_store_written, a);
	keyring_item_free(it);
	mem_free_str(json);
}

static void job_resume(struct job *j);

/*
 * When credentials loaded from the keyring were obtained: their stored
 * lifetime says, so the refresh threshold is the one they had before the
 * restart. Items written before the lifetime was stored do not say: assume
 * a lifetime long enough for the full refresh margin (refreshing early
 * costs one STS call; serving below botocore's margin costs a helper run
 * on every SDK call).
 */
static time_t loaded_obtained(const struct agent *a, time_t expiration, time_t lifetime)
{
	time_t t = now(a);
	time_t o = lifetime > 0 ? expiration - lifetime : expiration - 2 * a->opts.refresh_margin;

	return o < t ? o : t;
}

static void on_store_lookup(void *userdata, int err, struct keyring_item *item)
{
	struct entry *e = userdata;
	struct agent *a = e->a;
	struct sts_creds c = {0};
	struct job *w, *next;
	time_t life = 0;

	e->kr_pending = 0;
	if (e->forgotten) {
		/* Queued before the forget's removal: what it found is forgotten. */
		e->forgotten = 0;
		err = KR_ERR_NOCREDS;
	}
	if (err == KR_OK && item && creds_from_json(item->secret, &c, &life) == 0 &&
	    c.expiration > now(a) + KR_MIN_LEFT_S) {
		sts_creds_clear(&e->creds);
		e->creds = c;
		memset(&c, 0, sizeof(c));
		e->has_creds = 1;
		e->obtained = loaded_obtained(a, e->creds.expiration, life);
		e->from = "keyring";
		e->served = 0;
		entry_schedule(a, e);
		log_debug("%s: loaded from the keyring", e->role_arn ? e->role_arn : e->profile);
	}
	sts_creds_clear(&c);
	keyring_item_free(item);
	/* Every waiter takes it, or goes on to STS (the first one calls, the rest wait). */
	w = entry_take_waiters(e);
	for (; w; w = next) {
		next = w->wnext;
		w->wnext = NULL;
		if (entry_fresh(a, e) && !(w->force_key && strcmp(w->force_key, e->key) == 0))
			job_take(w, e, "keyring");
		else
			job_resume(w);
	}
}

/* Ask the keyring for e once; 0 if a lookup was started (the job then waits). */
static int store_lookup(struct agent *a, struct entry *e)
{
	char key[65];

	e->kr_checked = 1;
	if (!store_on(a) || store_key(e, key) < 0)
		return KR_ERR_UNSUPPORTED;
	if (keyring_lookup_async(a->kr, key, on_store_lookup, e) < 0)
		return KR_ERR_KEYRING;
	e->kr_pending = 1;
	return KR_OK;
}

/*
 * A fetch for e ended successfully, but e was forgotten meanwhile: the
 * requests that were waiting at the forget (stale) take the credentials,
 * nothing is kept in memory or the keyring, and requests that came after
 * the forget start a fetch of their own.
 */
static void entry_complete_forgotten(struct entry *e, struct job *w)
{
	struct job *later = NULL, *next;

	for (; w; w = next) {
		next = w->wnext;
		w->wnext = NULL;
		if (w->stale) {
			job_take(w, e, "sts");
		} else {
			w->wnext = later;
			later = w;
		}
	}
	sts_creds_clear(&e->creds);
	e->has_creds = 0;
	for (; later; later = next) {
		next = later->wnext;
		later->wnext = NULL;
		job_resume(later);
	}
}

/*
 * A fetch for e ended: hand the result to every waiter. On success the
 * credentials are stolen from *creds. On failure a still-valid entry keeps
 * being served (with the error noted), otherwise every waiter fails.
 */
static void entry_complete(struct entry *e, int err, struct sts_creds *creds, const char *msg,
                           const char *aws_code, const char *aws_message)
{
	struct agent *a = e->a;
	struct job *w = entry_take_waiters(e), *next;
	int forgotten = e->forgotten;

	/* Waiters go on to other entries, which may trim the cache: keep e. */
	e->pinned = 1;
	e->forgotten = 0;
	if (err == KR_OK) {
		sts_creds_clear(&e->creds);
		e->creds = *creds;
		memset(creds, 0, sizeof(*creds));
		e->has_creds = 1;
		e->obtained = now(a);
		e->from = "sts";
		e->served = 0;
		free(e->last_error);
		e->last_error = NULL;
		e->mfa_wait_until = 0;
		if (forgotten) {
			entry_complete_forgotten(e, w);
			e->pinned = 0;
			return;
		}
		for (; w; w = next) {
			next = w->wnext;
			w->wnext = NULL;
			job_take(w, e, "sts");
		}
		if (!e->creds.expiration) {
			/* Long-term keys (credential_process, keyring): not cached. */
			sts_creds_clear(&e->creds);
			e->has_creds = 0;
		} else {
			store_write(a, e);
			entry_schedule(a, e);
		}
		e->pinned = 0;
		return;
	}
	free(e->last_error);
	e->last_error = strdup(msg);
	e->mfa_wait_until = 0; /* a wrong code: the next client prompts again */
	/* Still valid: retry in the background a minute from now. */
	if (entry_usable(a, e) && e->creds.expiration - KR_MIN_LEFT_S > now(a) + 60)
		entry_arm(a, e, now(a) + 60);
	for (; w; w = next) {
		cJSON *r;
		next = w->wnext;
		w->wnext = NULL;
		if (entry_usable(a, e)) {
			job_take(w, e, "memory"); /* refresh failed, old credentials still valid */
			continue;
		}
		r = error_reply(err, w->profile, e->role_arn, "%s", msg);
		if (r && aws_code)
			cJSON_AddStringToObject(r, "aws_code", aws_code);
		if (r && aws_message)
			cJSON_AddStringToObject(r, "aws_message", aws_message);
		job_fail(w, err, r);
	}
	e->pinned = 0;
}

static void on_sts_done(void *userdata, struct sts_result *res)
{
	struct entry *e = userdata;
	struct agent *a = e->a;
	char msg[768], what[512];
	int op = e->role_arn ? STS_ASSUME_ROLE : STS_GET_SESSION_TOKEN;
	long ms = (long)((loop_now(a->loop) - e->call_started) / 1000);

	e->call = NULL;
	log_info("profile %s: %s %s: %s after %ld ms, %d attempt(s)", e->profile, sts_op_name(op),
	         e->role_arn ? e->role_arn : (e->mfa_serial ? e->mfa_serial : e->profile),
	         res->err == KR_OK ? "ok" : (res->aws_code ? res->aws_code : err_str(res->err)), ms,
	         res->attempts);
	if (res->err != KR_OK) {
		counters_sts_error(a, res);
		if (e->role_arn)
			snprintf(what, sizeof(what), "AssumeRole %s", e->role_arn);
		else
			snprintf(what, sizeof(what), "GetSessionToken (MFA %s)",
			         e->mfa_serial ? e->mfa_serial : "");
		describe_failure(msg, sizeof(msg), res, what, op);
	}
	entry_complete(e, res->err, &res->creds, msg, res->aws_code, res->aws_message);
}

static void on_proc_done(void *userdata, int err, struct sts_creds *creds, const char *errmsg)
{
	struct entry *e = userdata;
	char msg[768];

	e->proc = NULL;
	snprintf(msg, sizeof(msg), "credential_process of profile '%s': %s", e->profile, errmsg);
	if (err)
		log_warning("%s", msg);
	entry_complete(e, err, creds, msg, NULL, NULL);
}

static int fetch_start(struct job *j, struct entry *e, const struct sts_params *p)
{
	struct agent *a = j->a;
	int r;

	r = sts_call(a->sts, p, on_sts_done, e, &e->call);
	if (r < 0)
		return r;
	/* Fetched with forgotten credentials: hand it on, keep nothing. */
	if (j->stale)
		e->forgotten = 1;
	e->call_started = loop_now(a->loop);
	a->c.sts_calls++;
	if (!j->fn)
		a->c.refreshes++;
	log_info("profile %s: %s %s via %s", j->profile, sts_op_name(p->op),
	         p->role_arn ? p->role_arn : (p->mfa_serial ? p->mfa_serial : ""), p->endpoint);
	return KR_OK;
}

/* Tell the client that a code is needed (it prompts and asks again). */
static void job_need_mfa(struct job *j, struct entry *e, const char *serial)
{
	struct agent *a = j->a;
	cJSON *r;

	if (!j->fn) {
		/* A background refresh cannot prompt; the next client will. */
		job_finish(j, NULL);
		return;
	}
	e->mfa_wait_until = now(a) + MFA_WAIT_S;
	entry_arm(a, e, e->mfa_wait_until);
	r = error_reply(KR_ERR_MFA, j->profile, e->role_arn,
	                "MFA code required for %s: run 'keyrole get %s' in a terminal (or pass "
	                "--mfa-code) once; the session is then cached",
	                serial, j->profile);
	if (r)
		cJSON_AddStringToObject(r, "mfa_serial", serial);
	if (r && j->chain->mfa_process)
		cJSON_AddStringToObject(r, "mfa_process", j->chain->mfa_process);
	job_fail(j, KR_ERR_MFA, r);
}

/*
 * Common path of a stage: serve from the entry, wait for its call, or
 * start the call. Returns 1 when the job was handed on (served, waiting,
 * failed), 0 when the caller must start an STS call for it.
 */
static int stage_lookup(struct job *j, struct entry *e, const char *mfa_serial)
{
	struct agent *a = j->a;
	int forced = j->force_key && strcmp(j->force_key, e->key) == 0;

	if (!forced && entry_fresh(a, e)) {
		job_take(j, e, "memory");
		return 1;
	}
	if (entry_busy(e)) {
		job_wait(j, e);
		return 1;
	}
	if (!forced && !e->kr_checked && store_lookup(a, e) == 0) {
		job_wait(j, e); /* the keyring may have it (after a restart) */
		return 1;
	}
	if (mfa_serial && !j->mfa_code) {
		if (entry_usable(a, e) && !forced) {
			job_take(j, e, "memory"); /* cannot refresh without a code */
			return 1;
		}
		if (e->mfa_wait_until > now(a) && j->fn) {
			job_wait(j, e); /* another client is prompting: one prompt, not many */
			return 1;
		}
		job_need_mfa(j, e, mfa_serial);
		return 1;
	}
	return 0;
}

static int entry_label(struct entry *e, const char *profile, const char *role_arn,
                       const char *mfa_serial, int hop)
{
	if (mfa_serial && !e->mfa_serial)
		e->mfa_serial = strdup(mfa_serial);
	if (!e->profile || strcmp(e->profile, profile) != 0) {
		free(e->profile);
		e->profile = strdup(profile);
	}
	if (role_arn && !e->role_arn)
		e->role_arn = strdup(role_arn);
	e->hop = hop;
	return e->profile ? KR_OK : KR_ERR_NOMEM;
}

/* The cache key of the MFA session that chain c starts from, with source key akid. */
static int mfa_session_key(const struct agent *a, const struct profile_chain *c, const char *akid,
                           struct buf *key)
{
	const struct profile_hop *h = &c->hops[0];

	return buf_printf(key, "mfa-session\n%d\n%s\n%s\n%s\n%s\n%d", (int)c->source.type,
	                  c->source.profile ? c->source.profile : "", akid, h->mfa_serial,
	                  h->endpoint ? h->endpoint : "", a->opts.mfa_duration);
}

static void stage_mfa_session(struct job *j)
{
	const struct profile_chain *c = j->chain;
	const struct profile_hop *h = &c->hops[0];
	struct sts_params p = {0};
	struct buf key;
	struct entry *e;
	int r;

	buf_init(&key, 8192);
	r = mfa_session_key(j->a, c, j->cur.access_key_id, &key);
	e = r == 0 ? entry_get(j->a, key.data) : NULL;
	buf_free(&key);
	if (!e || entry_label(e, c->source.profile ? c->source.profile : j->profile, NULL,
	                      h->mfa_serial, -1) < 0) {
		job_fail(j, KR_ERR_NOMEM, NULL);
		return;
	}
	j->stage = STAGE_MFA;
	if (stage_lookup(j, e, h->mfa_serial))
		return;
	p.op = STS_GET_SESSION_TOKEN;
	p.endpoint = h->endpoint;
	p.region = h->region;
	p.ca_bundle = c->ca_bundle;
	p.proxy = c->proxy;
	p.no_proxy = c->no_proxy;
	p.source.access_key_id = j->cur.access_key_id;
	p.source.secret_access_key = j->cur.secret_access_key;
	p.mfa_serial = h->mfa_serial;
	p.mfa_code = j->mfa_code;
	p.duration = j->a->opts.mfa_duration;
	r = fetch_start(j, e, &p);
	if (r < 0) {
		job_fail(j, r, error_reply(r, j->profile, NULL, "GetSessionToken: %s", err_str(r)));
		return;
	}
	job_wait(j, e);
}

/* The cache key of hop i of chain c (via_session: hop 0 uses an MFA session). */
static int chain_hop_key(const struct profile_chain *c, int via_session, size_t i, struct buf *key)
{
	int r = profile_hop_key(c, i, key);

	if (r == 0 && via_session)
		r = buf_puts(key, "\nvia-mfa-session");
	return r;
}

/* The cache key of hop i as this job sees it. */
static int hop_key(const struct job *j, size_t i, struct buf *key)
{
	return chain_hop_key(j->chain, j->via_session, i, key);
}

static void stage_hop(struct job *j, size_t i)
{
	const struct profile_chain *c = j->chain;
	const struct profile_hop *h = &c->hops[i];
	const char *serial = (h->mfa_serial && !(i == 0 && j->via_session)) ? h->mfa_serial : NULL;
	struct sts_params p = {0};
	struct entry *e = NULL;
	struct buf key;
	int r;

	buf_init(&key, 64 * 1024);
	r = hop_key(j, i, &key);
	if (r == 0)
		e = entry_get(j->a, key.data);
	buf_free(&key);
	if (!e || entry_label(e, h->profile, h->role_arn, serial, (int)i) < 0) {
		job_fail(j, r < 0 ? r : KR_ERR_NOMEM, NULL);
		return;
	}
	j->stage = STAGE_HOP;
	if (stage_lookup(j, e, serial))
		return;
	p.op = STS_ASSUME_ROLE;
	p.endpoint = h->endpoint;
	p.region = h->region;
	p.ca_bundle = c->ca_bundle;
	p.proxy = c->proxy;
	p.no_proxy = c->no_proxy;
	p.source.access_key_id = j->cur.access_key_id;
	p.source.secret_access_key = j->cur.secret_access_key;
	p.source.session_token = j->cur.session_token;
	p.role_arn = h->role_arn;
	p.session_name = h->session_name;
	p.external_id = h->external_id;
	p.mfa_serial = serial;
	p.mfa_code = serial ? j->mfa_code : NULL;
	p.source_identity = h->source_identity;
	p.policy = h->policy;
	p.duration = h->duration;
	/* A credential_process that returned a session: role chaining, at most 3600 s. */
	if (i == 0 && !j->via_session && j->cur.session_token && p.duration > KR_CHAINED_MAX_S)
		p.duration = KR_CHAINED_MAX_S;
	p.tag_keys = (const char *const *)h->tag_keys;
	p.tag_values = (const char *const *)h->tag_values;
	p.n_tags = h->n_tags;
	p.transitive_keys = (const char *const *)h->transitive_keys;
	p.n_transitive = h->n_transitive;
	r = fetch_start(j, e, &p);
	if (r < 0) {
		job_fail(j, r,
		         error_reply(r, j->profile, h->role_arn, "AssumeRole %s: %s", h->role_arn,
		                     r == KR_ERR_INVAL
		                         ? "invalid parameters (check the profile with "
		                           "'keyrole check')"
		                         : err_str(r)));
		return;
	}
	job_wait(j, e);
}

static void job_step(struct job *j)
{
	const struct profile_chain *c = j->chain;

	if (j->step == 0 && j->via_session && !j->mfa_done) {
		/* One MFA code per serial: a session from GetSessionToken serves every role. */
		j->mfa_done = 1;
		stage_mfa_session(j);
		return;
	}
	if (j->step >= c->n_hops) {
		job_finish(j, creds_reply(j));
		return;
	}
	j->step++;
	stage_hop(j, j->step - 1);
}

/* Copy the honoured members of the request's env (bounded) and point penv at them. */
static int env_parse(const cJSON *req, cJSON **ret_env, struct profile_env *penv)
{
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "env");
	cJSON *env = cJSON_CreateObject();
	const cJSON *it;
	int n = 0;

	if (!env)
		return KR_ERR_NOMEM;
	if (in && !cJSON_IsObject(in)) {
		cJSON_Delete(env);
		return KR_ERR_INVAL;
	}
	cJSON_ArrayForEach(it, in)
	{
		if (++n > KR_ENV_MAX || !cJSON_IsString(it) || !it->string ||
		    strlen(it->valuestring) > KR_VALUE_MAX) {
			cJSON_Delete(env);
			return KR_ERR_INVAL;
		}
		for (size_t k = 0; proto_env_keys[k]; k++)
			if (strcmp(it->string, proto_env_keys[k]) == 0 &&
			    !cJSON_GetObjectItemCaseSensitive(env, it->string))
				cJSON_AddStringToObject(env, it->string, it->valuestring);
	}
#define ENV(field, name) penv->field = msg_get_str(env, name)
	ENV(home, "HOME");
	ENV(config_file, "AWS_CONFIG_FILE");
	ENV(credentials_file, "AWS_SHARED_CREDENTIALS_FILE");
	ENV(region, "AWS_REGION");
	ENV(default_region, "AWS_DEFAULT_REGION");
	ENV(endpoint_url, "AWS_ENDPOINT_URL");
	ENV(endpoint_url_sts, "AWS_ENDPOINT_URL_STS");
	ENV(sts_regional_endpoints, "AWS_STS_REGIONAL_ENDPOINTS");
	ENV(ca_bundle, "AWS_CA_BUNDLE");
	ENV(ignore_configured_endpoint_urls, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	ENV(access_key_id, "AWS_ACCESS_KEY_ID");
	ENV(secret_access_key, "AWS_SECRET_ACCESS_KEY");
	ENV(session_token, "AWS_SESSION_TOKEN");
	ENV(proxy.https_proxy, "https_proxy");
	ENV(proxy.https_proxy_uc, "HTTPS_PROXY");
	ENV(proxy.http_proxy, "http_proxy");
	ENV(proxy.http_proxy_uc, "HTTP_PROXY");
	ENV(proxy.all_proxy, "all_proxy");
	ENV(proxy.all_proxy_uc, "ALL_PROXY");
	ENV(proxy.no_proxy, "no_proxy");
	ENV(proxy.no_proxy_uc, "NO_PROXY");
#undef ENV
	*ret_env = env;
	return KR_OK;
}

static int valid_profile_name(const char *s)
{
	size_t n = s ? strnlen(s, KR_NAME_MAX + 1) : 0;

	if (n == 0 || n > KR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static void fail_nocreds(struct job *j)
{
	const struct profile_source *s = &j->chain->source;
	const char *p = s->profile ? s->profile : j->profile;

	job_fail(j, KR_ERR_NOCREDS,
	         error_reply(KR_ERR_NOCREDS, j->profile, NULL,
	                     "no credentials for source profile '%s': put its keys in "
	                     "~/.aws/credentials or store them with 'keyrole add %s'",
	                     p, p));
}

/* The cache key of a credential_process source. */
static int process_key(const struct profile_source *s, struct buf *key)
{
	return buf_printf(key, "process\n%s", s->command ? s->command : "");
}

/* Another tool's credential_process: one run at a time per command line. */
static void stage_process(struct job *j)
{
	const struct profile_source *s = &j->chain->source;
	char **argv = NULL;
	size_t argc = 0;
	struct buf key;
	struct entry *e = NULL;
	int r;

	buf_init(&key, KR_VALUE_MAX + 64);
	r = process_key(s, &key);
	if (r == 0)
		e = entry_get(j->a, key.data);
	buf_free(&key);
	if (!e || entry_label(e, s->profile ? s->profile : j->profile, NULL, NULL, -1) < 0) {
		job_fail(j, r < 0 ? r : KR_ERR_NOMEM, NULL);
		return;
	}
	j->stage = STAGE_PROCESS;
	if (stage_lookup(j, e, NULL))
		return;
	r = shellquote_split(s->command ? s->command : "", 256, &argv, &argc);
	if (r == 0 && argc == 0)
		r = KR_ERR_CONFIG;
	if (r == 0)
		r = proc_start(j->a->loop, argv, KR_PROC_TIMEOUT_MS, on_proc_done, e, &e->proc);
	shellquote_argv_free(argv);
	if (r < 0) {
		job_fail(j, KR_ERR_PROCESS,
		         error_reply(KR_ERR_PROCESS, j->profile, NULL,
		                     "credential_process of profile '%s' cannot be started: %s",
		                     s->profile ? s->profile : j->profile, err_str(r)));
		return;
	}
	job_wait(j, e);
}

static void on_longterm_lookup(void *userdata, int err, struct keyring_item *item)
{
	struct entry *e = userdata;
	struct sts_creds c = {0};
	struct job *w, *next;

	e->kr_pending = 0;
	e->forgotten = 0; /* long-term keys are not what forget drops */
	w = entry_take_waiters(e);
	if (err == KR_OK && item && creds_from_json(item->secret, &c, NULL) == 0) {
		c.expiration = 0;
		sts_creds_clear(&e->creds);
		e->creds = c;
		e->has_creds = 1;
		for (; w; w = next) {
			next = w->wnext;
			w->wnext = NULL;
			job_take(w, e, "keyring");
		}
		sts_creds_clear(&e->creds); /* long-term keys stay in the keyring only */
		e->has_creds = 0;
	} else {
		for (; w; w = next) {
			next = w->wnext;
			w->wnext = NULL;
			fail_nocreds(w);
		}
	}
	keyring_item_free(item);
}

/* Long-term keys stored with `keyrole add`: looked up only when hop 0 needs them. */
static void stage_longterm(struct job *j)
{
	const char *profile = j->chain->source.profile ? j->chain->source.profile : j->profile;
	struct agent *a = j->a;
	struct entry *e = NULL;
	struct buf key;
	int r;

	j->stage = STAGE_LONGTERM;
	buf_init(&key, KR_KEYRING_KEY_MAX + 16);
	r = buf_printf(&key, "longterm\n%s", profile);
	if (r == 0)
		e = entry_get(a, key.data);
	buf_free(&key);
	if (!e || entry_label(e, profile, NULL, NULL, -1) < 0) {
		job_fail(j, KR_ERR_NOMEM, NULL);
		return;
	}
	if (entry_busy(e)) {
		job_wait(j, e);
		return;
	}
	buf_init(&key, KR_KEYRING_KEY_MAX + 1);
	r = buf_printf(&key, "longterm:%s", profile);
	if (r == 0 && store_on(a) &&
	    keyring_lookup_async(a->kr, key.data, on_longterm_lookup, e) == 0) {
		buf_free(&key);
		e->kr_pending = 1;
		job_wait(j, e);
		return;
	}
	buf_free(&key);
	fail_nocreds(j);
}

/* The chain's source: needed only when hop 0 (or the MFA session) must be fetched. */
static void stage_source(struct job *j)
{
	const struct profile_source *s = &j->chain->source;

	switch (s->type) {
	case PROFILE_SRC_STATIC:
	case PROFILE_SRC_ENV:
		if (!s->access_key_id || !s->secret_access_key) {
			fail_nocreds(j);
			return;
		}
		sts_creds_clear(&j->cur);
		j->cur.access_key_id = strdup(s->access_key_id);
		j->cur.secret_access_key = strdup(s->secret_access_key);
		j->cur.session_token = s->session_token ? strdup(s->session_token) : NULL;
		if (!j->cur.access_key_id || !j->cur.secret_access_key ||
		    (s->session_token && !j->cur.session_token)) {
			job_fail(j, KR_ERR_NOMEM, NULL);
			return;
		}
		job_step(j);
		return;
	case PROFILE_SRC_KEYRING:
		stage_longterm(j);
		return;
	case PROFILE_SRC_PROCESS:
		stage_process(j);
		return;
	case PROFILE_SRC_UNSUPPORTED:
		break;
	}
	job_fail(j, KR_ERR_INTERNAL, NULL);
}

/* Go on with the stage a job was in (after the keyring had nothing). */
static void job_resume(struct job *j)
{
	switch (j->stage) {
	case STAGE_PROCESS:
		stage_process(j);
		break;
	case STAGE_LONGTERM:
		stage_longterm(j);
		break;
	case STAGE_MFA:
		stage_mfa_session(j);
		break;
	default:
		stage_hop(j, j->step - 1);
		break;
	}
}

/*
 * Begin at the last hop that is still fresh in memory: a full hit answers
 * without touching the source, the keyring or the network. A background
 * refresh begins below the entry it must renew.
 */
static void job_start(struct job *j)
{
	const struct profile_chain *c = j->chain;
	size_t top = c->n_hops, start = 0;
	struct buf key;
	int r = KR_OK;

	buf_init(&key, 64 * 1024);
	if (j->force_key) {
		for (size_t i = 0; i < c->n_hops && r == 0; i++) {
			buf_reset(&key);
			r = hop_key(j, i, &key);
			if (r == 0 && strcmp(key.data, j->force_key) == 0)
				top = i;
		}
	}
	for (size_t i = top; i-- > 0 && r == 0;) {
		struct entry *e;
		buf_reset(&key);
		r = hop_key(j, i, &key);
		e = r == 0 ? entry_find(j->a, key.data) : NULL;
		if (e && entry_fresh(j->a, e)) {
			r = copy_creds(&j->cur, &e->creds);
			if (j->fn)
				e->served =
				    1; /* requested_by and last_env are kept from the fetch */
			if (e->last_error)
				snprintf(j->refresh_error, sizeof(j->refresh_error), "%s",
				         e->last_error);
			start = i + 1;
			break;
		}
	}
	buf_free(&key);
	if (r < 0) {
		job_fail(j, r, NULL);
		return;
	}
	if (j->fn) {
		if (start == c->n_hops && c->n_hops > 0)
			j->a->c.hits++;
		else
			j->a->c.misses++;
	}
	j->from = "memory";
	j->step = start;
	if (start == 0) {
		j->mfa_done = 0;
		stage_source(j);
	} else {
		j->mfa_done = 1;
		job_step(j);
	}
}

/* Only long-term keys may call GetSessionToken; temporary ones use SerialNumber. */
static int chain_via_session(const struct profile_chain *c)
{
	const struct profile_source *s = &c->source;

	return c->n_hops > 0 && c->hops[0].mfa_serial &&
	       (s->type == PROFILE_SRC_STATIC || s->type == PROFILE_SRC_ENV ||
	        s->type == PROFILE_SRC_KEYRING) &&
	       !(s->session_token && *s->session_token);
}

/* Start a job for profile; fn NULL = background refresh of force_key. */
static struct job *job_new(struct agent *a, const char *profile, const cJSON *req,
                           const char *mfa_code, agent_reply_fn fn, void *userdata)
{
	struct job *j = calloc(1, sizeof(*j));
	char errbuf[512];
	int r;

	if (!j) {
		if (fn)
			fn(userdata, msg_new_error(KR_ERR_NOMEM, NULL));
		return NULL;
	}
	a->n_jobs++;
	j->a = a;
	j->fn = fn;
	j->userdata = userdata;
	j->profile = strdup(profile);
	if (!j->profile) {
		job_fail(j, KR_ERR_NOMEM, NULL);
		return NULL;
	}
	if (mfa_code) {
		if (strlen(mfa_code) > KR_MFA_CODE_MAX) {
			job_fail(j, KR_ERR_INVAL,
			         error_reply(KR_ERR_INVAL, profile, NULL, "MFA code too long"));
			return NULL;
		}
		j->mfa_code = strdup(mfa_code);
	}
	r = env_parse(req, &j->env, &j->penv);
	if (r < 0) {
		job_fail(j, r, error_reply(r, profile, NULL, "bad \"env\" in request"));
		return NULL;
	}
	errbuf[0] = '\0';
	r = profile_resolve(&j->penv, profile, &j->chain, errbuf, sizeof(errbuf));
	if (r < 0) {
		job_fail(j, r,
		         error_reply(r, profile, NULL, "%s", errbuf[0] ? errbuf : err_str(r)));
		return NULL;
	}
	j->via_session = chain_via_session(j->chain);
	return j;
}

static void on_entry_timer(struct loop_timer *t, void *userdata)
{
	struct entry *e = userdata;
	struct agent *a = e->a;
	time_t tnow = now(a);

	if (e->mfa_wait_until && tnow >= e->mfa_wait_until) {
		/* Nobody brought a code: the waiters go back and prompt themselves. */
		struct job *w = entry_take_waiters(e), *next;
		e->mfa_wait_until = 0;
		for (; w; w = next) {
			next = w->wnext;
			w->wnext = NULL;
			w->mfa_done = 0;
			job_need_mfa(w, e, e->mfa_serial ? e->mfa_serial : "the MFA device");
		}
	}
	if (e->call || e->waiters)
		return; /* re-armed when the call ends */
	if (!e->has_creds || e->creds.expiration <= tnow + KR_MIN_LEFT_S) {
		entry_free(a, e); /* expired: never served again */
		return;
	}
	if (e->served && e->requested_by) {
		struct job *j;
		cJSON *req = cJSON_CreateObject();
		if (req && e->last_env)
			cJSON_AddItemReferenceToObject(req, "env", e->last_env);
		j = req ? job_new(a, e->requested_by, req, NULL, NULL, NULL) : NULL;
		cJSON_Delete(req);
		if (j && !(j->force_key = strdup(e->key))) {
			job_fail(j, KR_ERR_NOMEM, NULL);
			j = NULL;
		}
		if (j) {
			e->served = 0;
			/* Try again later if the refresh cannot run now. */
			entry_arm(a, e, e->creds.expiration - KR_MIN_LEFT_S);
			job_start(j);
		}
		return;
	}
	/* Not used since it was fetched: let it expire instead of refreshing. */
	entry_arm(a, e, e->creds.expiration - KR_MIN_LEFT_S);
}

/* ---- operations ---- */

static cJSON *ok_reply(void)
{
	cJSON *r = msg_new();

	if (r)
		cJSON_AddTrueToObject(r, "ok");
	return r;
}

static void op_get(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata,
                   struct agent_req **ret_pending)
{
	const char *profile = msg_get_str(req, "profile");
	const char *code = msg_get_str(req, "mfa_code");
	struct agent_req *h;
	struct job *j;

	if (!valid_profile_name(profile)) {
		fn(userdata,
		   error_reply(KR_ERR_INVAL, NULL, NULL, "missing or invalid profile name"));
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fn(userdata, msg_new_error(KR_ERR_NOMEM, NULL));
		return;
	}
	j = job_new(a, profile, req, code, fn, userdata);
	if (!j) {
		free(h);
		return;
	}
	h->job = j;
	j->handle = h;
	job_start(j);
	if (!h->job) {
		free(h); /* answered at once */
		return;
	}
	h->registered = 1;
	*ret_pending = h;
}

/* What a person must know about the backend in use, or NULL. */
static const char *backend_note(const struct agent *a)
{
	if (a->kr && strcmp(keyring_backend_name(a->kr), "keyctl") == 0)
		return "the kernel keyring does not survive a reboot: long-term keys stored with "
		       "'keyrole add' must be added again after one";
	return NULL;
}

static void op_status(struct agent *a, agent_reply_fn fn, void *userdata)
{
	cJSON *r = ok_reply(), *entries, *counters, *codes;
	char exp[32];

	if (!r) {
		fn(userdata, NULL);
		return;
	}
	cJSON_AddStringToObject(r, "version", KR_VERSION);
	cJSON_AddNumberToObject(r, "pid", (double)getpid());
	cJSON_AddNumberToObject(r, "uptime", (double)(time(NULL) - a->started));
	cJSON_AddStringToObject(r, "backend", a->kr ? keyring_backend_name(a->kr) : "memory");
	cJSON_AddBoolToObject(r, "survives_reboot", a->kr && keyring_persistent(a->kr));
	if (a->kr_warning[0])
		cJSON_AddStringToObject(r, "keyring_warning", a->kr_warning);
	if (backend_note(a))
		cJSON_AddStringToObject(r, "note", backend_note(a));
	entries = cJSON_AddArrayToObject(r, "entries");
	for (struct entry *e = a->entries; e && entries; e = e->next) {
		cJSON *o;
		if (!e->has_creds && !e->last_error)
			continue;
		o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "profile",
		                        e->requested_by ? e->requested_by : e->profile);
		if (e->role_arn)
			cJSON_AddStringToObject(o, "role", e->role_arn);
		else
			cJSON_AddStringToObject(o, "role", "(MFA session)");
		if (e->mfa_serial)
			cJSON_AddStringToObject(o, "mfa_serial", e->mfa_serial);
		cJSON_AddNumberToObject(o, "hop", e->hop);
		if (e->has_creds) {
			fmt_time(e->creds.expiration, exp, sizeof(exp));
			cJSON_AddStringToObject(o, "expiration", exp);
			cJSON_AddStringToObject(o, "from", e->from ? e->from : "sts");
		}
		if (e->last_error)
			cJSON_AddStringToObject(o, "refresh_error", e->last_error);
		if (e->call)
			cJSON_AddTrueToObject(o, "refreshing");
		cJSON_AddItemToArray(entries, o);
	}
	cJSON_AddItemToObject(r, "stored_keys",
	                      a->stored ? cJSON_Duplicate(a->stored, 1) : cJSON_CreateArray());
	counters = cJSON_AddObjectToObject(r, "counters");
	if (counters) {
		cJSON_AddNumberToObject(counters, "requests", (double)a->c.requests);
		cJSON_AddNumberToObject(counters, "hits", (double)a->c.hits);
		cJSON_AddNumberToObject(counters, "misses", (double)a->c.misses);
		cJSON_AddNumberToObject(counters, "sts_calls", (double)a->c.sts_calls);
		cJSON_AddNumberToObject(counters, "refreshes", (double)a->c.refreshes);
		cJSON_AddNumberToObject(counters, "errors", (double)a->c.errors);
		codes = cJSON_AddObjectToObject(counters, "sts_errors");
		for (int i = 0; codes && i < STS_CODES_MAX && a->c.sts_errors[i].code[0]; i++)
			cJSON_AddNumberToObject(codes, a->c.sts_errors[i].code,
			                        (double)a->c.sts_errors[i].n);
	}
	fn(userdata, r);
}

static int entry_matches(const struct entry *e, const char *profile)
{
	return !profile || (e->profile && strcmp(e->profile, profile) == 0) ||
	       (e->requested_by && strcmp(e->requested_by, profile) == 0);
}

/*
 * Forget one entry: its credentials go from memory and the keyring. A fetch
 * in flight goes on for the requests already waiting on it, which take its
 * result (stale), and nothing it brings back is kept.
 */
static void forget_entry(struct agent *a, struct entry *e, int *removed)
{
	char key[65];

	if (e->has_creds)
		(*removed)++;
	if (store_on(a) && store_key(e, key) == 0)
		keyring_remove_async(a->kr, key, NULL, NULL);
	if (entry_idle(e)) {
		entry_free(a, e);
		return;
	}
	sts_creds_clear(&e->creds); /* in use: drop the credentials only */
	e->has_creds = 0;
	if (e->call || e->proc)
		for (struct job *w = e->waiters; w; w = w->wnext)
			w->stale = 1;
	if (entry_busy(e))
		e->forgotten = 1;
}

/* Forget the entry with this cache key, in memory or (after a restart) in the keyring only. */
static void forget_key(struct agent *a, const char *key, int *removed)
{
	struct entry *e = entry_find(a, key);
	char digest[65];

	if (e)
		forget_entry(a, e, removed);
	else if (store_on(a) && key_digest(key, digest) == 0)
		keyring_remove_async(a->kr, digest, NULL, NULL);
}

/*
 * Forget every step of profile's chain, resolved as `get` would resolve it
 * for this caller: each hop (an intermediate hop is stored under its own
 * profile, and may be shared with other chains), the MFA session the chain
 * starts from, and a credential_process source's credentials. A profile
 * that does not resolve (any more) is forgotten by name only.
 */
static void forget_chain(struct agent *a, const cJSON *req, const char *profile, int *removed)
{
	struct profile_chain *c = NULL;
	struct profile_env penv = {0};
	const struct profile_source *s;
	cJSON *env = NULL;
	char errbuf[256];
	struct buf key;
	int via;

	buf_init(&key, 64 * 1024);
	if (env_parse(req, &env, &penv) < 0 ||
	    profile_resolve(&penv, profile, &c, errbuf, sizeof(errbuf)) < 0)
		goto out;
	s = &c->source;
	via = chain_via_session(c);
	for (size_t i = 0; i < c->n_hops; i++) {
		buf_reset(&key);
		if (chain_hop_key(c, via, i, &key) == 0)
			forget_key(a, key.data, removed);
	}
	buf_reset(&key);
	if (s->type == PROFILE_SRC_PROCESS && process_key(s, &key) == 0)
		forget_key(a, key.data, removed);
	if (via) {
		const char *src = s->profile ? s->profile : profile;
		buf_reset(&key);
		/* Keys from `keyrole add` are not known here: find the session by its label. */
		if (s->access_key_id && mfa_session_key(a, c, s->access_key_id, &key) == 0)
			forget_key(a, key.data, removed);
		for (struct entry *e = a->entries, *n; e; e = n) {
			n = e->next;
			if (e->hop == -1 && e->mfa_serial && e->profile &&
			    strcmp(e->profile, src) == 0)
				forget_entry(a, e, removed);
		}
		if (store_on(a))
			keyring_remove_profile_async(a->kr, src, KEYRING_KIND_SESSION, NULL, NULL);
	}
out:
	buf_free(&key);
	profile_chain_free(c);
	cJSON_Delete(env);
}

static void op_forget(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata)
{
	const char *profile = msg_get_str(req, "profile");
	int all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "all"));
	int removed = 0;
	cJSON *r;

	if (!all && !valid_profile_name(profile)) {
		fn(userdata,
		   error_reply(KR_ERR_INVAL, NULL, NULL, "forget needs a profile or \"all\""));
		return;
	}
	for (struct entry *e = a->entries, *n; e; e = n) {
		n = e->next;
		if (entry_matches(e, all ? NULL : profile))
			forget_entry(a, e, &removed);
	}
	if (!all)
		forget_chain(a, req, profile, &removed);
	/* Queued before any later lookup: the worker runs calls in order. */
	if (store_on(a))
		keyring_remove_profile_async(a->kr, all ? NULL : profile, KEYRING_KIND_SESSION,
		                             NULL, NULL);
	r = ok_reply();
	if (r)
		cJSON_AddNumberToObject(r, "removed", removed);
	fn(userdata, r);
}

/* ---- long-term keys: add, remove ---- */

static void stored_set(struct agent *a, const char *profile, int present)
{
	cJSON *it;
	int i = 0;

	if (!a->stored && !(a->stored = cJSON_CreateArray()))
		return;
	cJSON_ArrayForEach(it, a->stored)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, profile) == 0) {
			if (!present)
				cJSON_DeleteItemFromArray(a->stored, i);
			return;
		}
		i++;
	}
	if (present)
		cJSON_AddItemToArray(a->stored, cJSON_CreateString(profile));
}

static void on_stored_list(void *userdata, int err, struct keyring_item **items, size_t n)
{
	struct agent *a = userdata;

	for (size_t i = 0; err == KR_OK && i < n; i++)
		if (items[i]->profile)
			stored_set(a, items[i]->profile, 1);
	keyring_items_free(items, n);
}

static void keyop_free(struct keyop *op)
{
	if (!op)
		return;
	sts_call_cancel(op->call);
	if (op->a->kr)
		keyring_cancel(op->a->kr, op);
	if (op->handle) {
		op->handle->op = NULL;
		if (op->handle->registered)
			free(op->handle);
	}
	keyring_item_free(op->item);
	free(op->profile);
	free(op->arn);
	free(op);
}

static void keyop_finish(struct keyop *op, cJSON *reply)
{
	if (op->fn)
		op->fn(op->userdata, reply);
	else
		cJSON_Delete(reply);
	keyop_free(op);
}

static void forget_entry(struct agent *a, struct entry *e, int *removed);

/*
 * New or removed long-term keys for profile: the sessions the old keys
 * made (in memory, and their keyring copies) must not answer for the new.
 */
static void forget_keyring_source(struct agent *a, const char *profile)
{
	struct buf prefix;
	int removed = 0;

	buf_init(&prefix, KR_NAME_MAX + 64);
	if (profile_keyring_source_prefix(profile, &prefix) == KR_OK)
		for (struct entry *e = a->entries, *n; e; e = n) {
			n = e->next;
			if (strncmp(e->key, prefix.data, prefix.len) == 0)
				forget_entry(a, e, &removed);
		}
	buf_free(&prefix);
	if (removed)
		log_info("profile %s: %d session(s) made with its old keys forgotten", profile,
		         removed);
}

static void on_add_stored(void *userdata, int err, struct keyring_item *item)
{
	struct keyop *op = userdata;
	cJSON *r;

	keyring_item_free(item);
	if (err < 0) {
		const char *why = keyring_last_error(op->a->kr);
		keyop_finish(op, error_reply(err, op->profile, NULL,
		                             "cannot store the keys in the %s keyring: %s",
		                             keyring_backend_name(op->a->kr),
		                             why ? why : err_str(err)));
		return;
	}
	stored_set(op->a, op->profile, 1);
	forget_keyring_source(op->a, op->profile);
	log_info("long-term keys for profile %s stored in the %s keyring", op->profile,
	         keyring_backend_name(op->a->kr));
	r = ok_reply();
	if (r && op->arn)
		cJSON_AddStringToObject(r, "arn", op->arn);
	if (r)
		cJSON_AddStringToObject(r, "backend", keyring_backend_name(op->a->kr));
	if (r && backend_note(op->a))
		cJSON_AddStringToObject(r, "note", backend_note(op->a));
	keyop_finish(op, r);
}

static void add_store(struct keyop *op)
{
	if (keyring_store_async(op->a->kr, op->item, on_add_stored, op) < 0)
		keyop_finish(op, error_reply(KR_ERR_KEYRING, op->profile, NULL,
		                             "cannot store the keys: keyring unavailable"));
}

static void on_add_verified(void *userdata, struct sts_result *res)
{
	struct keyop *op = userdata;
	char msg[768];

	op->call = NULL;
	if (res->err != KR_OK) {
		cJSON *r;
		describe_failure(msg, sizeof(msg), res, "GetCallerIdentity with the new keys",
		                 STS_GET_CALLER_IDENTITY);
		r = error_reply(res->err, op->profile, NULL, "keys not stored: %s", msg);
		if (r && res->aws_code)
			cJSON_AddStringToObject(r, "aws_code", res->aws_code);
		keyop_finish(op, r);
		return;
	}
	if (res->creds.arn)
		op->arn = strdup(res->creds.arn);
	add_store(op);
}

static int key_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 16 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

static int secret_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

static struct keyop *keyop_new(struct agent *a, const char *profile, agent_reply_fn fn,
                               void *userdata, struct agent_req **ret_pending)
{
	struct keyop *op = calloc(1, sizeof(*op));
	struct agent_req *h = calloc(1, sizeof(*h));

	if (!op || !h || !(op->profile = strdup(profile))) {
		free(op);
		free(h);
		fn(userdata, msg_new_error(KR_ERR_NOMEM, NULL));
		return NULL;
	}
	op->a = a;
	op->fn = fn;
	op->userdata = userdata;
	op->handle = h;
	h->op = op;
	h->registered = 1; /* answered from the loop only, never at once */
	*ret_pending = h;
	return op;
}

static int verify_start(struct keyop *op, const cJSON *req, const char *ak, const char *sk)
{
	struct profile_env penv = {0};
	struct endpoint_in in = {0};
	struct sts_params p = {0};
	char *url = NULL, *region = NULL, *proxy = NULL, *no_proxy = NULL, errbuf[256];
	cJSON *env = NULL;
	int r;

	r = env_parse(req, &env, &penv);
	if (r < 0)
		return r;
	in.region = penv.region ? penv.region : penv.default_region;
	in.env_endpoint_url_sts = penv.endpoint_url_sts;
	in.env_endpoint_url = penv.endpoint_url;
	in.sts_regional_endpoints = penv.sts_regional_endpoints;
	in.ignore_configured = penv.ignore_configured_endpoint_urls;
	r = endpoint_resolve(&in, &url, &region, errbuf, sizeof(errbuf));
	if (r == 0)
		r = endpoint_proxy(url, &penv.proxy, &proxy, &no_proxy);
	if (r == 0) {
		p.op = STS_GET_CALLER_IDENTITY;
		p.endpoint = url;
		p.region = region;
		p.ca_bundle = penv.ca_bundle;
		p.proxy = proxy;
		p.no_proxy = no_proxy;
		p.source.access_key_id = ak;
		p.source.secret_access_key = sk;
		r = sts_call(op->a->sts, &p, on_add_verified, op, &op->call);
		if (r == 0)
			op->a->c.sts_calls++;
	}
	free(url);
	free(region);
	mem_free_str(proxy);
	mem_free_str(no_proxy);
	cJSON_Delete(env);
	return r;
}

static void op_add(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata,
                   struct agent_req **ret_pending)
{
	const char *profile = msg_get_str(req, "profile");
	const char *ak = msg_get_str(req, "access_key_id");
	const char *sk = msg_get_str(req, "secret_access_key");
	char key[KR_KEYRING_KEY_MAX + 1];
	struct keyop *op;
	struct sts_creds c = {0};
	char *json = NULL;
	int r;

	if (!valid_profile_name(profile) || !key_id_valid(ak) || !secret_valid(sk)) {
		fn(userdata, error_reply(KR_ERR_INVAL, profile, NULL,
		                         "add needs a profile, an access key id ([A-Z0-9]{16,128}) "
		                         "and a secret access key (no spaces)"));
		return;
	}
	if (!store_on(a)) {
		fn(userdata, error_reply(KR_ERR_KEYRING, profile, NULL,
		                         "no persistent keyring (backend: memory): start keyroled "
		                         "with --cache secret-service or --cache keyctl"));
		return;
	}
	snprintf(key, sizeof(key), "longterm:%s", profile);
	c.access_key_id = (char *)ak;
	c.secret_access_key = (char *)sk;
	json = creds_to_json(&c, 0);
	op = keyop_new(a, profile, fn, userdata, ret_pending);
	if (!op) {
		mem_free_str(json);
		return;
	}
	r = json ? keyring_item_new(key, KEYRING_KIND_LONGTERM, profile, NULL, 0, json, &op->item)
	         : KR_ERR_NOMEM;
	mem_free_str(json);
	if (r == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "verify")))
		r = verify_start(op, req, ak, sk);
	else if (r == 0)
		add_store(op);
	if (r < 0)
		keyop_finish(op, error_reply(r, profile, NULL, "keys not stored: %s", err_str(r)));
}

static void on_removed(void *userdata, int err, int count)
{
	struct keyop *op = userdata;
	cJSON *r;

	if (err < 0) {
		keyop_finish(op, error_reply(err, op->profile, NULL, "cannot remove the keys: %s",
		                             err_str(err)));
		return;
	}
	stored_set(op->a, op->profile, 0);
	forget_keyring_source(op->a, op->profile);
	r = ok_reply();
	if (r)
		cJSON_AddNumberToObject(r, "removed", count);
	keyop_finish(op, r);
}

static void op_remove(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata,
                      struct agent_req **ret_pending)
{
	const char *profile = msg_get_str(req, "profile");
	struct keyop *op;

	if (!valid_profile_name(profile)) {
		fn(userdata, error_reply(KR_ERR_INVAL, NULL, NULL, "remove needs a profile"));
		return;
	}
	if (!store_on(a)) {
		cJSON *r = ok_reply();
		if (r)
			cJSON_AddNumberToObject(r, "removed", 0);
		fn(userdata, r);
		return;
	}
	op = keyop_new(a, profile, fn, userdata, ret_pending);
	if (op &&
	    keyring_remove_profile_async(a->kr, profile, KEYRING_KIND_LONGTERM, on_removed, op) < 0)
		keyop_finish(op, error_reply(KR_ERR_KEYRING, profile, NULL,
		                             "cannot remove the keys: keyring unavailable"));
}

static void op_check(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata)
{
	const char *profile = msg_get_str(req, "profile");
	struct profile_env penv = {0};
	cJSON *env = NULL, *profiles = NULL, *r = NULL;
	int rc;

	if (profile && !valid_profile_name(profile)) {
		fn(userdata, error_reply(KR_ERR_INVAL, NULL, NULL, "invalid profile name"));
		return;
	}
	rc = env_parse(req, &env, &penv);
	if (rc == 0)
		rc = profile_check(&penv, profile, &profiles);
	if (rc < 0) {
		r = error_reply(rc, profile, NULL, "check failed: %s", err_str(rc));
	} else {
		r = ok_reply();
		if (r)
			cJSON_AddItemToObject(r, "profiles", profiles);
		else
			cJSON_Delete(profiles);
	}
	cJSON_Delete(env);
	fn(userdata, r);
}

void agent_handle(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata,
                  struct agent_req **ret_pending)
{
	const char *op = msg_get_str(req, "op");
	cJSON *r;

	*ret_pending = NULL;
	a->c.requests++;
	if (!op) {
		fn(userdata, error_reply(KR_ERR_PROTO, NULL, NULL, "request has no \"op\""));
	} else if (strcmp(op, "get") == 0) {
		op_get(a, req, fn, userdata, ret_pending);
	} else if (strcmp(op, "ping") == 0) {
		fn(userdata, ok_reply());
	} else if (strcmp(op, "version") == 0) {
		r = ok_reply();
		if (r) {
			cJSON_AddStringToObject(r, "version", KR_VERSION);
			cJSON_AddNumberToObject(r, "protocol", KR_PROTO_VERSION);
		}
		fn(userdata, r);
	} else if (strcmp(op, "status") == 0) {
		op_status(a, fn, userdata);
	} else if (strcmp(op, "forget") == 0) {
		op_forget(a, req, fn, userdata);
	} else if (strcmp(op, "check") == 0) {
		op_check(a, req, fn, userdata);
	} else if (strcmp(op, "add") == 0) {
		op_add(a, req, fn, userdata, ret_pending);
	} else if (strcmp(op, "remove") == 0) {
		op_remove(a, req, fn, userdata, ret_pending);
	} else {
		fn(userdata,
		   error_reply(KR_ERR_UNKNOWN_OP, NULL, NULL, "unknown operation \"%.64s\"", op));
	}
}

void agent_req_cancel(struct agent_req *r)
{
	if (!r)
		return;
	if (r->job) {
		r->job->fn = NULL; /* the work goes on (others may wait for it); nobody is told */
		r->job->handle = NULL;
	}
	if (r->op) {
		r->op->handle = NULL;
		keyop_free(r->op);
	}
	free(r);
}

static void keyring_sweep(struct agent *a);

static void on_sweep_timer(struct loop_timer *t, void *userdata)
{
	keyring_sweep(userdata);
}

static void sweep_arm(struct agent *a, int seconds)
{
	uint64_t at = loop_now(a->loop) + (uint64_t)seconds * 1000000u;

	if (!a->sweep_timer)
		loop_timer_add(a->loop, at, on_sweep_timer, a, &a->sweep_timer);
	else
		loop_timer_set(a->sweep_timer, at);
}

/* A sweep that deleted something may have left more: go on soon. */
static void on_swept(void *userdata, int err, int count)
{
	struct agent *a = userdata;

	if (count > 0)
		log_info("keyring: deleted %d expired session item(s)", count);
	sweep_arm(a, count > 0 ? KR_KEYRING_SWEEP_AGAIN_S : a->opts.sweep_interval);
}

/*
 * Expired sessions in the keyring are deleted when their key is looked up
 * again; this catches those of chains nobody asks for any more, so they do
 * not pile up in the user's keyring. Runs on the keyring's worker thread.
 */
static void keyring_sweep(struct agent *a)
{
	if (store_on(a) && keyring_sweep_async(a->kr, on_swept, a) < 0)
		sweep_arm(a, a->opts.sweep_interval);
}

static void on_keyring_warning(void *userdata, const char *message)
{
	struct agent *a = userdata;

	log_warning("keyring: %s", message);
	snprintf(a->kr_warning, sizeof(a->kr_warning), "%s", message);
}

int agent_new(struct loop *l, const struct agent_opts *opts, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));
	char errbuf[512] = "";
	int r;

	if (!a)
		return KR_ERR_NOMEM;
	a->loop = l;
	a->opts = *opts;
	if (a->opts.refresh_margin <= 0)
		a->opts.refresh_margin = KR_REFRESH_MARGIN_S;
	if (a->opts.mfa_duration <= 0)
		a->opts.mfa_duration = 43200;
	if (a->opts.sweep_interval <= 0)
		a->opts.sweep_interval = KR_KEYRING_SWEEP_S;
	a->started = time(NULL);
	a->n_buckets = 64;
	a->buckets = calloc(a->n_buckets, sizeof(*a->buckets));
	r = a->buckets ? sts_new(l, a->opts.sts_ops, &a->sts) : KR_ERR_NOMEM;
	if (r < 0) {
		free(a->buckets);
		free(a);
		return r;
	}
	if (a->opts.keyring_ops)
		r = keyring_open_ops(a->opts.keyring_ops, l, 0, &a->kr, errbuf, sizeof(errbuf));
	else
		r = keyring_open(a->opts.cache ? a->opts.cache : "auto", l, &a->kr, errbuf,
		                 sizeof(errbuf));
	if (r < 0) {
		/* A named backend that does not work: say why, keep serving from memory. */
		log_warning("keyring '%s' unavailable (%s); caching in memory only", a->opts.cache,
		            errbuf);
		snprintf(a->kr_warning, sizeof(a->kr_warning), "%s: %s", a->opts.cache, errbuf);
		if (keyring_open("memory", l, &a->kr, errbuf, sizeof(errbuf)) < 0)
			a->kr = NULL;
	}
	if (a->kr) {
		keyring_set_warn_fn(a->kr, on_keyring_warning, a);
		log_info("cache backend: %s%s", keyring_backend_name(a->kr),
		         store_on(a) ? "" : " (nothing persists)");
		if (store_on(a)) {
			keyring_list_async(a->kr, KEYRING_KIND_LONGTERM, on_stored_list, a);
			keyring_sweep(a);
		}
	}
	*ret = a;
	return KR_OK;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	/* Jobs hang off entries as waiters; answer nobody, free everything. */
	for (struct entry *e = a->entries; e; e = e->next) {
		struct job *w = entry_take_waiters(e), *n;
		for (; w; w = n) {
			n = w->wnext;
			w->fn = NULL;
			job_free(w);
		}
	}
	while (a->entries)
		entry_free(a, a->entries);
	loop_timer_free(a->sweep_timer);
	/* Queued stores are still written (bounded); no callback runs after this. */
	keyring_free(a->kr);
	sts_free(a->sts);
	cJSON_Delete(a->stored);
	free(a->buckets);
	free(a);
}

int agent_busy(const struct agent *a)
{
	return a->n_jobs > 0;
}

void agent_reconfigure(struct agent *a, const struct agent_opts *opts)
{
	if (opts->refresh_margin > 0)
		a->opts.refresh_margin = opts->refresh_margin;
	if (opts->mfa_duration > 0)
		a->opts.mfa_duration = opts->mfa_duration;
}

void agent_status_line(const struct agent *a, char *out, size_t n)
{
	snprintf(out, n, "%u cached, %lu requests, %lu STS calls", a->n_entries, a->c.requests,
	         a->c.sts_calls);
}
