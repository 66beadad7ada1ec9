/*
 * The persistent layer; see store.h.
 *
 * Invariants:
 * - An item read back is external input: its JSON is parsed with bounds
 *   (common/json.c), its strings checked, and its expiry believed only when
 *   it is a finite number no further away than KR_SESSION_LIFETIME_MAX_S
 *   (what any source can issue); anything else is absent.
 * - Secrets pass through JSON trees and buffers that wipe themselves; the
 *   item a call hands the keyring front is copied and wiped there.
 * - A store that fails is reported once (log and status), and again when
 *   stores work again; sessions then stay in memory only.
 */
#include "store.h"

#include "cachekey.h"
#include "caps.h"
#include "err.h"
#include "json.h"
#include "keyring.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LONGTERM_PREFIX "longterm:"
#define SSO_PREFIX      "sso-token:"

/* A call whose answer goes to a caller (so that store_cancel() can drop it). */
struct pending {
	struct list_node link;
	struct store *s;
	void *userdata;
	store_creds_fn creds_fn;
	store_done_fn done_fn;
	store_text_fn text_fn;
	char *profile; /* add/remove: whose keys */
	int session;   /* a session lookup (else long-term keys) */
};

struct store {
	struct loop *loop;
	struct store_opts o;
	struct keyring *kr; /* NULL only if even "memory" failed */
	struct loop_timer *sweep_timer;
	char warning[256]; /* the keyring's failover or store warning; "" for none */
	int store_warned;  /* a failed store was reported once */
	int note_said;     /* store_take_note() gave its note */
	char **stored;     /* profiles with long-term keys */
	size_t n_stored;
	struct list_node pending;
};

static time_t now(const struct store *s)
{
	return s->o.now ? s->o.now() : time(NULL);
}

int store_on(const struct store *s)
{
	return s && s->kr && strcmp(keyring_backend_name(s->kr), "memory") != 0;
}

const char *store_backend(const struct store *s)
{
	return s->kr ? keyring_backend_name(s->kr) : "memory";
}

int store_survives_reboot(const struct store *s)
{
	return s->kr && keyring_persistent(s->kr);
}

const char *store_warning(const struct store *s)
{
	return s->warning[0] ? s->warning : NULL;
}

size_t store_queued(const struct store *s)
{
	return s->kr ? keyring_queued(s->kr) : 0;
}

const char *store_take_note(struct store *s)
{
	if (s->note_said || !s->kr || strcmp(keyring_backend_name(s->kr), "keyctl") != 0)
		return NULL;
	s->note_said = 1;
	return "the kernel keyring does not survive a reboot: long-term keys stored with "
	       "'keyrole add' must be added again after one";
}

/* ---- items ---- */

/* Compact JSON {"a","s","t","e","l"} (lifetime 0 leaves "l" out); wipe it with mem_free_str(). */
static char *creds_to_json(const struct sts_creds *c, time_t lifetime)
{
	struct json *o = json_new_object();
	struct buf b;
	char *out = NULL;

	buf_init(&b, KR_KEYRING_SECRET_MAX);
	if (o && json_add_str(o, "a", c->access_key_id) == 0 &&
	    json_add_str(o, "s", c->secret_access_key) == 0 &&
	    (!c->session_token || json_add_str(o, "t", c->session_token) == 0) &&
	    json_add_num(o, "e", (double)c->expiration) == 0 &&
	    (lifetime <= 0 || json_add_num(o, "l", (double)lifetime) == 0) &&
	    json_print(o, 0, &b) == 0) {
		out = mem_secret_strdup(b.data, b.len);
	}
	buf_free(&b);
	json_free(o);
	return out;
}

/* A number of seconds within [min, max], or -1 (absent, not finite, out of range). */
static time_t seconds(const struct json *v, double min, double max)
{
	double d = json_num(v);

	if (json_type(v) != JSON_NUMBER || !isfinite(d) || d < min || d > max)
		return -1;
	return (time_t)d;
}

/*
 * Parse an item's secret. A session (session = 1) needs an expiry that is
 * not too far away; *ret_lifetime gets "l", or 0 when it is missing or out
 * of range.
 */
static int creds_from_json(const struct store *s, const char *text, int session,
                           struct sts_creds *ret, time_t *ret_lifetime)
{
	struct sts_creds c = {0};
	struct json *o = NULL;
	const char *ak, *sk, *tk;
	time_t exp = 0, life = 0;
	int r = KR_ERR_KEYRING;

	if (!text || json_parse(text, strlen(text), &o) < 0)
		goto out;
	ak = json_get_str(o, "a");
	sk = json_get_str(o, "s");
	tk = json_get_str(o, "t");
	if (!ak || !sk || !*ak || !*sk)
		goto out;
	if (session) {
		exp = seconds(json_get(o, "e"), 1, (double)(now(s) + KR_SESSION_LIFETIME_MAX_S));
		life = seconds(json_get(o, "l"), 1, KR_SESSION_LIFETIME_MAX_S);
		if (exp < 0)
			goto out;
	}
	c.access_key_id = strdup(ak);
	c.secret_access_key = mem_secret_strdup(sk, strlen(sk));
	c.session_token = tk ? mem_secret_strdup(tk, strlen(tk)) : NULL;
	c.expiration = exp;
	if (!c.access_key_id || !c.secret_access_key || (tk && !c.session_token)) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
	if (ret_lifetime)
		*ret_lifetime = life > 0 ? life : 0;
	r = KR_OK;
out:
	sts_creds_clear(&c);
	json_free(o);
	return r;
}

/* ---- calls with an answer ---- */

static struct pending *pending_new(struct store *s, void *userdata)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->s = s;
	p->userdata = userdata;
	list_push_back(&s->pending, &p->link);
	return p;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	list_unlink(&p->link);
	free(p->profile);
	free(p);
}

void store_cancel(struct store *s, void *userdata)
{
	struct list_node *n, *t;

	if (!s)
		return;
	list_for_each_safe(n, t, &s->pending)
	{
		struct pending *p = list_entry(n, struct pending, link);

		if (p->userdata != userdata)
			continue;
		if (s->kr)
			keyring_cancel(s->kr, p);
		pending_free(p);
	}
}

static void on_session_lookup(void *userdata, int err, struct keyring_item *item)
{
	struct pending *p = userdata;
	struct sts_creds c = {0};
	time_t life = 0;
	int r = KR_ERR_NOCREDS;

	if (err == KR_OK && item &&
	    creds_from_json(p->s, item->secret, p->session, &c, &life) == KR_OK) {
		/* A session must still be worth serving. */
		r = !p->session || c.expiration > now(p->s) + KR_MIN_LEFT_S ? KR_OK
		                                                            : KR_ERR_NOCREDS;
	}
	keyring_item_free(item);
	list_unlink(
	    &p->link); /* answered: a store_cancel() from the callback has nothing to drop */
	p->creds_fn(p->userdata, r, r == KR_OK ? &c : NULL, life);
	sts_creds_clear(&c);
	pending_free(p);
}

static int lookup(struct store *s, const char *key, int session, store_creds_fn fn, void *userdata)
{
	struct pending *p;

	if (!store_on(s))
		return KR_ERR_UNSUPPORTED;
	p = pending_new(s, userdata);
	if (!p)
		return KR_ERR_NOMEM;
	p->creds_fn = fn;
	p->session = session;
	if (keyring_lookup_async(s->kr, key, on_session_lookup, p) < 0) {
		pending_free(p);
		return KR_ERR_KEYRING;
	}
	return KR_OK;
}

/* ---- sessions ---- */

int store_session_lookup(struct store *s, const char *key, store_creds_fn fn, void *userdata)
{
	char digest[65];

	if (!store_on(s) || ckey_digest(key, digest) < 0)
		return KR_ERR_UNSUPPORTED;
	return lookup(s, digest, 1, fn, userdata);
}

/* The keyring's last failure as one line ("BACKEND: what (fix)") in buf, or NULL for none. */
static const char *last_error_line(const struct store *s, char *buf, size_t n)
{
	const struct err_detail *e = keyring_last_error(s->kr);

	if (!e)
		return NULL;
	err_format(e, buf, n);
	return buf;
}

/*
 * A store that fails (quota full, collection locked, keyring gone) leaves
 * the session in memory only: say so once, and say when stores work again.
 */
static void on_written(void *userdata, int err, struct keyring_item *item)
{
	struct store *s = userdata;
	char line[KR_ERR_LINE_MAX];
	const char *why;

	keyring_item_free(item);
	if (err == KR_OK && s->store_warned && store_on(s)) {
		s->store_warned = 0;
		s->warning[0] = '\0';
		log_info("keyring: sessions are stored again");
	}
	if (err == KR_OK || s->store_warned)
		return;
	s->store_warned = 1;
	why = last_error_line(s, line, sizeof(line));
	log_warning("keyring: a session could not be stored (%s); such sessions stay in memory "
	            "only and do not survive a restart",
	            why ? why : err_str(err));
	snprintf(s->warning, sizeof(s->warning), "store failed: %s", why ? why : err_str(err));
}

void store_session_write(struct store *s, const char *key, const char *profile, const char *role,
                         const struct sts_creds *c, time_t lifetime)
{
	struct keyring_item *it = NULL;
	char *json, digest[65];

	if (!store_on(s) || ckey_digest(key, digest) < 0)
		return;
	json = creds_to_json(c, lifetime);
	if (json && keyring_item_new(digest, KEYRING_KIND_SESSION, profile ? profile : "-", role,
	                             (int64_t)c->expiration, json, &it) == 0)
		keyring_store_async(s->kr, it, on_written, s);
	keyring_item_free(it);
	mem_free_str(json);
}

void store_session_remove(struct store *s, const char *key)
{
	char digest[65];

	if (store_on(s) && ckey_digest(key, digest) == 0)
		keyring_remove_async(s->kr, digest, NULL, NULL);
}

void store_sessions_remove_profile(struct store *s, const char *profile_or_null)
{
	/* Queued before any later lookup: the worker runs calls in order. */
	if (store_on(s))
		keyring_remove_profile_async(s->kr, profile_or_null, KEYRING_KIND_SESSION, NULL,
		                             NULL);
}

/* ---- IAM Identity Center tokens ---- */

static int sso_key(const char *cache_key, char out[KR_KEYRING_KEY_MAX + 1])
{
	int n = snprintf(out, KR_KEYRING_KEY_MAX + 1, SSO_PREFIX "%s", cache_key);

	return n < 0 || n > KR_KEYRING_KEY_MAX ? KR_ERR_TOOBIG : KR_OK;
}

static void on_sso_lookup(void *userdata, int err, struct keyring_item *item)
{
	struct pending *p = userdata;

	list_unlink(
	    &p->link); /* answered: a store_cancel() from the callback has nothing to drop */
	p->text_fn(p->userdata, err == KR_OK && item && item->secret ? KR_OK : KR_ERR_NOCREDS,
	           err == KR_OK && item ? item->secret : NULL);
	keyring_item_free(item);
	pending_free(p);
}

int store_sso_lookup(struct store *s, const char *cache_key, store_text_fn fn, void *userdata)
{
	char key[KR_KEYRING_KEY_MAX + 1];
	struct pending *p;

	if (!store_on(s) || sso_key(cache_key, key) < 0)
		return KR_ERR_UNSUPPORTED;
	if (!(p = pending_new(s, userdata)))
		return KR_ERR_NOMEM;
	p->text_fn = fn;
	if (keyring_lookup_async(s->kr, key, on_sso_lookup, p) < 0) {
		pending_free(p);
		return KR_ERR_KEYRING;
	}
	return KR_OK;
}

void store_sso_write(struct store *s, const char *cache_key, const char *name,
                     const char *start_url, time_t expiration, const char *secret)
{
	char key[KR_KEYRING_KEY_MAX + 1];
	struct keyring_item *it = NULL;

	if (store_on(s) && sso_key(cache_key, key) == 0 &&
	    keyring_item_new(key, KEYRING_KIND_SSO, name, start_url, (int64_t)expiration, secret,
	                     &it) == 0)
		keyring_store_async(s->kr, it, on_written, s);
	keyring_item_free(it);
}

void store_sso_remove(struct store *s, const char *cache_key)
{
	char key[KR_KEYRING_KEY_MAX + 1];

	if (store_on(s) && sso_key(cache_key, key) == 0)
		keyring_remove_async(s->kr, key, NULL, NULL);
}

/* ---- long-term keys ---- */

static int longterm_key(const char *profile, char out[KR_KEYRING_KEY_MAX + 1])
{
	int n = snprintf(out, KR_KEYRING_KEY_MAX + 1, LONGTERM_PREFIX "%s", profile);

	return n < 0 || n > KR_KEYRING_KEY_MAX ? KR_ERR_TOOBIG : KR_OK;
}

int store_longterm_lookup(struct store *s, const char *profile, store_creds_fn fn, void *userdata)
{
	char key[KR_KEYRING_KEY_MAX + 1];

	if (!store_on(s) || longterm_key(profile, key) < 0)
		return KR_ERR_UNSUPPORTED;
	return lookup(s, key, 0, fn, userdata);
}

static void stored_set(struct store *s, const char *profile, int present)
{
	char **n;

	for (size_t i = 0; i < s->n_stored; i++) {
		if (strcmp(s->stored[i], profile) != 0)
			continue;
		if (!present) {
			free(s->stored[i]);
			s->stored[i] = s->stored[--s->n_stored];
		}
		return;
	}
	if (!present || !(n = realloc(s->stored, (s->n_stored + 1) * sizeof(*n))))
		return;
	s->stored = n;
	if ((n[s->n_stored] = strdup(profile)) != NULL)
		s->n_stored++;
}

const char *const *store_longterm_profiles(const struct store *s, size_t *ret_n)
{
	*ret_n = s->n_stored;
	return (const char *const *)s->stored;
}

static void on_stored_list(void *userdata, int err, struct keyring_item **items, size_t n)
{
	struct store *s = userdata;

	for (size_t i = 0; err == KR_OK && i < n; i++)
		if (items[i]->profile)
			stored_set(s, items[i]->profile, 1);
	keyring_items_free(items, n);
}

static void on_longterm_added(void *userdata, int err, struct keyring_item *item)
{
	struct pending *p = userdata;
	char line[KR_ERR_LINE_MAX];
	const char *why = err < 0 ? last_error_line(p->s, line, sizeof(line)) : NULL;

	keyring_item_free(item);
	if (err == KR_OK)
		stored_set(p->s, p->profile, 1);
	list_unlink(&p->link);
	p->done_fn(p->userdata, err, 0, why);
	pending_free(p);
}

int store_longterm_add(struct store *s, const char *profile, const char *access_key_id,
                       const char *secret, store_done_fn fn, void *userdata)
{
	struct sts_creds c = {.access_key_id = (char *)access_key_id,
	                      .secret_access_key = (char *)secret};
	char key[KR_KEYRING_KEY_MAX + 1], *json = NULL;
	struct keyring_item *it = NULL;
	struct pending *p = NULL;
	int r;

	if (!store_on(s))
		return KR_ERR_KEYRING;
	r = longterm_key(profile, key);
	if (r == KR_OK && !(json = creds_to_json(&c, 0)))
		r = KR_ERR_NOMEM;
	if (r == KR_OK)
		r = keyring_item_new(key, KEYRING_KIND_LONGTERM, profile, NULL, 0, json, &it);
	if (r == KR_OK && (!(p = pending_new(s, userdata)) || !(p->profile = strdup(profile))))
		r = KR_ERR_NOMEM;
	if (r == KR_OK) {
		p->done_fn = fn;
		r = keyring_store_async(s->kr, it, on_longterm_added, p);
	}
	if (r < 0)
		pending_free(p);
	keyring_item_free(it);
	mem_free_str(json);
	return r;
}

static void on_longterm_removed(void *userdata, int err, int count)
{
	struct pending *p = userdata;

	if (err == KR_OK)
		stored_set(p->s, p->profile, 0);
	list_unlink(&p->link);
	p->done_fn(p->userdata, err, count, NULL);
	pending_free(p);
}

int store_longterm_remove(struct store *s, const char *profile, store_done_fn fn, void *userdata)
{
	struct pending *p;
	int r;

	if (!store_on(s))
		return KR_ERR_KEYRING;
	p = pending_new(s, userdata);
	if (!p || !(p->profile = strdup(profile))) {
		pending_free(p);
		return KR_ERR_NOMEM;
	}
	p->done_fn = fn;
	r = keyring_remove_profile_async(s->kr, profile, KEYRING_KIND_LONGTERM, on_longterm_removed,
	                                 p);
	if (r < 0)
		pending_free(p);
	return r;
}

/* ---- sweeps, warnings, life ---- */

static void sweep(struct store *s);

static void on_sweep_timer(struct loop_timer *t, void *userdata)
{
	sweep(userdata);
}

static void sweep_arm(struct store *s, int seconds_from_now)
{
	uint64_t at = loop_now(s->loop) + (uint64_t)seconds_from_now * 1000000u;

	if (!s->sweep_timer)
		loop_timer_add(s->loop, at, on_sweep_timer, s, &s->sweep_timer);
	else
		loop_timer_set(s->sweep_timer, at);
}

/* A sweep that deleted something may have left more: go on soon. */
static void on_swept(void *userdata, int err, int count)
{
	struct store *s = userdata;

	if (count > 0)
		log_info("keyring: deleted %d expired session item(s)", count);
	sweep_arm(s, count > 0 ? KR_KEYRING_SWEEP_AGAIN_S : s->o.sweep_interval);
}

/*
 * Expired sessions in the keyring are deleted when their key is looked up
 * again; this catches those of chains nobody asks for any more, so they do
 * not pile up in the user's keyring. The backend's sweep runs on the
 * keyring's worker thread; its answer comes back on the loop.
 */
static void sweep(struct store *s)
{
	if (store_on(s) && keyring_sweep_async(s->kr, on_swept, s) < 0)
		sweep_arm(s, s->o.sweep_interval);
}

static void on_keyring_warning(void *userdata, const char *message)
{
	struct store *s = userdata;

	log_warning("keyring: %s", message);
	snprintf(s->warning, sizeof(s->warning), "%s", message);
}

int store_new(struct loop *l, const struct store_opts *o, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));
	const char *which = o->cache ? o->cache : "auto";
	struct err_detail why;
	char line[KR_ERR_LINE_MAX];
	int r;

	if (!s)
		return KR_ERR_NOMEM;
	s->loop = l;
	s->o = *o;
	if (s->o.sweep_interval <= 0)
		s->o.sweep_interval = KR_KEYRING_SWEEP_S;
	list_init(&s->pending);
	if (o->keyring_ops)
		r = keyring_open_ops(o->keyring_ops, l, 0, &s->kr, &why);
	else
		r = keyring_open(which, l, &s->kr, &why);
	if (r < 0) {
		/* A named backend that does not work: say why, keep serving from memory. */
		err_format(&why, line, sizeof(line));
		log_warning("keyring '%s' unavailable (%s); caching in memory only", which, line);
		snprintf(s->warning, sizeof(s->warning), "%s: %s", which, line);
		if (keyring_open("memory", l, &s->kr, NULL) < 0)
			s->kr = NULL;
	}
	if (s->kr) {
		keyring_set_warn_fn(s->kr, on_keyring_warning, s);
		log_info("cache backend: %s%s", keyring_backend_name(s->kr),
		         store_on(s) ? "" : " (nothing persists)");
		if (store_on(s)) {
			keyring_list_async(s->kr, KEYRING_KIND_LONGTERM, on_stored_list, s);
			sweep(s);
		}
	}
	*ret = s;
	return KR_OK;
}

void store_free(struct store *s)
{
	struct list_node *n, *t;

	if (!s)
		return;
	loop_timer_free(s->sweep_timer);
	/* Queued stores are still written (bounded); no callback runs after this. */
	keyring_free(s->kr);
	list_for_each_safe(n, t, &s->pending) pending_free(list_entry(n, struct pending, link));
	for (size_t i = 0; i < s->n_stored; i++)
		free(s->stored[i]);
	free(s->stored);
	free(s);
}
