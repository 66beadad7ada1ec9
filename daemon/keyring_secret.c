/*
 * The "secret-service" keyring backend: libsecret over D-Bus (GNOME
 * Keyring, KeePassXC, KWallet's Secret Service...). The only file that
 * uses libsecret or GLib.
 *
 * Invariants:
 * - Items go to the DEFAULT collection (the login keyring) under our own
 *   schema "org.keyrole.Credentials". We never create a collection (that
 *   would prompt for a new password) and never ask to unlock one (that
 *   would prompt too): a locked or missing default collection fails open().
 * - A collection locked later is seen before each call that touches items
 *   (libsecret's store would answer it with an unlock request, i.e. a
 *   password prompt): that call fails at once with "locked", the daemon
 *   serves from memory, and calls work again once it is unlocked.
 * - Every D-Bus call is bounded: a watchdog thread cancels the call's
 *   GCancellable at its deadline, so the worker thread always comes back.
 * - Secrets go to libsecret only as SecretValue (libsecret keeps those in
 *   wiped memory) and are copied out into memory we wipe. D-Bus buffers
 *   inside GLib are beyond our control (the session is encrypted when the
 *   service supports it).
 * - Attributes (key, kind, profile, role, expires) are not secret: they are
 *   visible to every process of the user, and are what Seahorse shows with
 *   the label. Everything read back is checked before use.
 * - Expired items are deleted: on lookup of their key, and by sweep() (the
 *   daemon sweeps at start and every KR_KEYRING_SWEEP_S).
 * - Runs on the keyring worker thread only (see keyring.c).
 */
#include "keyring.h"
#include "caps.h"

#include "err.h"
#include "mem.h"

#include <errno.h>
#include <libsecret/secret.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The backend gives up on a call a little after the front has (so the front
 * decides on a failover, and the worker still comes back to be joined). */
/* A sweep stops deleting after this, well inside the front's deadline. */

/* The Secret Service spec's object path of the default collection. */
#define KR_SS_DEFAULT_PATH "/org/freedesktop/secrets/aliases/default"

static const SecretSchema schema = {
    .name = "org.keyrole.Credentials",
    .flags = SECRET_SCHEMA_NONE,
    .attributes =
        {
            {"key", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"kind", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"profile", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"role", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"expires", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {NULL, 0},
        },
};

struct secret_state {
	SecretService *service;
	/* The watchdog: cancels `armed` at `deadline` (CLOCK_MONOTONIC ms). */
	pthread_t watchdog;
	bool watchdog_running;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	GCancellable *armed;
	int64_t deadline;
	bool stop;
	unsigned armed_ms;
	struct err_detail err; /* last failure, for last_error() */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watchdog_main(void *arg)
{
	struct secret_state *st = arg;

	pthread_mutex_lock(&st->mu);
	while (!st->stop) {
		if (!st->armed) {
			pthread_cond_wait(&st->cond, &st->mu);
			continue;
		}
		if (mono_ms() >= st->deadline) {
			/* Thread-safe; the call on the worker returns G_IO_ERROR_CANCELLED. */
			g_cancellable_cancel(st->armed);
			g_object_unref(st->armed);
			st->armed = NULL;
			continue;
		}
		struct timespec ts = {.tv_sec = (time_t)(st->deadline / 1000),
		                      .tv_nsec = (long)(st->deadline % 1000) * 1000000L};
		pthread_cond_timedwait(&st->cond, &st->mu, &ts);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* A cancellable that the watchdog cancels after ms; give it back with disarm(). */
static GCancellable *arm(struct secret_state *st, unsigned ms)
{
	GCancellable *c = g_cancellable_new();

	pthread_mutex_lock(&st->mu);
	if (st->armed)
		g_object_unref(st->armed);
	st->armed = g_object_ref(c);
	st->deadline = mono_ms() + ms;
	st->armed_ms = ms;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
	return c;
}

static void disarm(struct secret_state *st, GCancellable *c)
{
	pthread_mutex_lock(&st->mu);
	if (st->armed == c) {
		g_object_unref(st->armed);
		st->armed = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	g_object_unref(c);
}

/* Record a GError (or a plain text) as the last failure; returns the code. */
static int secret_fail(struct secret_state *st, GError *error, const char *what)
{
	int r = KR_ERR_KEYRING;

	if (error && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		r = KR_ERR_TIMEOUT;
		err_set(&st->err, r, NULL, 0, NULL, "%s: no answer within %u ms", what,
		        st->armed_ms);
	} else {
		err_set(&st->err, r, NULL, 0, NULL, "%s: %s", what,
		        error ? error->message : "failed");
	}
	g_clear_error(&error);
	return r;
}

/*
 * Is there a session bus to talk to? Without one GLib would try to
 * autolaunch a bus (dbus-launch) when $DISPLAY is set: never do that from
 * a daemon, just fail at once.
 */
static bool have_session_bus(void)
{
	const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char path[4096];
	struct stat sb;

	if (addr && *addr)
		return true;
	if (!rt || !*rt)
		return false;
	if (snprintf(path, sizeof(path), "%s/bus", rt) >= (int)sizeof(path))
		return false;
	return stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

static void secret_close(void *state)
{
	struct secret_state *st = state;

	if (!st)
		return;
	if (st->watchdog_running) {
		pthread_mutex_lock(&st->mu);
		st->stop = true;
		pthread_cond_signal(&st->cond);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->watchdog, NULL);
	}
	if (st->armed)
		g_object_unref(st->armed);
	if (st->service) {
		g_object_unref(st->service);
		/* Drop libsecret's shared service so its D-Bus connection can go too. */
		secret_service_disconnect();
	}
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static int secret_open(void **ret_state, struct err_detail *e)
{
	struct secret_state *st = NULL;
	SecretCollection *coll = NULL;
	GCancellable *c = NULL;
	GError *error = NULL;
	pthread_condattr_t ca;
	int r = KR_ERR_KEYRING;

	if (!have_session_bus()) {
		err_set(e, r, NULL, 0,
		        "start keyroled inside your login session, or choose another cache backend",
		        "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is "
		        "no $XDG_RUNTIME_DIR/bus)");
		goto out;
	}
	r = KR_ERR_NOMEM;
	if (!(st = calloc(1, sizeof(*st)))) {
		err_set_code(e, r);
		goto out;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&st->watchdog, NULL, watchdog_main, st) != 0) {
		err_set(e, r, NULL, 0, NULL, "cannot start the D-Bus watchdog thread");
		goto out;
	}
	st->watchdog_running = true;

	r = KR_ERR_KEYRING;
	c = arm(st, KR_SS_OPEN_MS);
	st->service = secret_service_get_sync(SECRET_SERVICE_OPEN_SESSION, c, &error);
	if (!st->service) {
		r = secret_fail(st, error, "cannot connect to the Secret Service");
		error = NULL;
		*e = st->err;
		goto out;
	}
	coll = secret_collection_for_alias_sync(st->service, SECRET_COLLECTION_DEFAULT,
	                                        SECRET_COLLECTION_NONE, c, &error);
	if (!coll) {
		if (error) {
			r = secret_fail(st, error, "cannot find the default collection");
			error = NULL;
			*e = st->err;
		} else {
			err_set(e, r, NULL, 0, "create a login keyring that is unlocked at login",
			        "the Secret Service has no default collection");
		}
		goto out;
	}
	if (secret_collection_get_locked(coll)) {
		/* Lookups would find nothing and stores would prompt: not usable. */
		err_set(e, r, NULL, 0,
		        "unlock the login keyring (keyrole never prompts), or choose another cache "
		        "backend",
		        "the default collection is locked");
		goto out;
	}
	r = KR_OK;
out:
	if (c)
		disarm(st, c);
	if (coll)
		g_object_unref(coll);
	if (r == KR_OK) {
		*ret_state = st;
		st = NULL;
	}
	secret_close(st);
	return r;
}

/*
 * Is the default collection unlocked now? Asked over D-Bus each time (the
 * proxies' cached properties are not updated on this thread), bounded like
 * every call, and never with anything that could prompt.
 */
static int check_unlocked(struct secret_state *st)
{
	GDBusProxy *proxy = G_DBUS_PROXY(st->service);
	GCancellable *c = arm(st, KR_SS_CALL_MS);
	GVariant *v = NULL, *locked = NULL;
	GError *error = NULL;
	int r = KR_OK;

	v = g_dbus_connection_call_sync(
	    g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy), KR_SS_DEFAULT_PATH,
	    "org.freedesktop.DBus.Properties", "Get",
	    g_variant_new("(ss)", "org.freedesktop.Secret.Collection", "Locked"),
	    G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, (int)KR_SS_CALL_MS, c, &error);
	disarm(st, c);
	if (!v)
		return secret_fail(st, error,
		                   "cannot tell whether the default collection is locked");
	g_variant_get(v, "(v)", &locked);
	if (!g_variant_is_of_type(locked, G_VARIANT_TYPE_BOOLEAN) ||
	    g_variant_get_boolean(locked)) {
		r = KR_ERR_KEYRING;
		err_set(&st->err, r, NULL, 0,
		        "keyrole never prompts: unlock the login keyring and it is used again",
		        "the default collection is locked");
	}
	g_variant_unref(locked);
	g_variant_unref(v);
	return r;
}

static const struct err_detail *secret_last_error(void *state)
{
	struct secret_state *st = state;

	return st->err.code < 0 ? &st->err : NULL;
}

/* Attributes for a search; NULL values are left out. Strings are borrowed. */
static GHashTable *attrs_new(const char *key, const char *kind, const char *profile)
{
	GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

	if (key)
		g_hash_table_insert(h, (gpointer) "key", (gpointer)key);
	if (kind)
		g_hash_table_insert(h, (gpointer) "kind", (gpointer)kind);
	if (profile)
		g_hash_table_insert(h, (gpointer) "profile", (gpointer)profile);
	return h;
}

/* "expires" attribute: unix seconds; -1 if malformed. */
static int64_t parse_expires(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	return (int64_t)v;
}

/* Metadata of a found item (untrusted: checked by keyring_item_new). */
static int item_from(SecretItem *si, const char *secret, struct keyring_item **ret)
{
	GHashTable *a = secret_item_get_attributes(si);
	const char *role;
	int64_t exp;
	int r = KR_ERR_PARSE;

	if (!a)
		goto out;
	exp = parse_expires(g_hash_table_lookup(a, "expires"));
	if (exp < 0)
		goto out;
	role = g_hash_table_lookup(a, "role");
	r = keyring_item_new(g_hash_table_lookup(a, "key"), g_hash_table_lookup(a, "kind"),
	                     g_hash_table_lookup(a, "profile"), role && *role ? role : NULL, exp,
	                     secret, ret);
	if (r < 0)
		r = KR_ERR_PARSE;
out:
	if (a)
		g_hash_table_unref(a);
	return r;
}

static bool expired(const struct keyring_item *it)
{
	return it->expiration != 0 && it->expiration <= (int64_t)time(NULL);
}

/* Delete an item (bounded); callers that do not care ignore the result. */
static int delete_item(struct secret_state *st, SecretItem *si)
{
	GCancellable *c = arm(st, KR_SS_CALL_MS);
	GError *error = NULL;
	int r = KR_OK;

	if (!secret_item_delete_sync(si, c, &error))
		r = secret_fail(st, error, "cannot delete an item");
	disarm(st, c);
	return r;
}

/*
 * Search our items. The list holds at most KR_KEYRING_ITEMS_MAX items; the
 * caller frees it with g_list_free_full(list, g_object_unref).
 */
static int search(struct secret_state *st, GHashTable *attrs, bool secrets, GList **ret)
{
	GCancellable *c = arm(st, KR_SS_CALL_MS);
	GError *error = NULL;
	GList *l;
	int r = KR_OK;

	l = secret_service_search_sync(
	    st->service, &schema, attrs,
	    SECRET_SEARCH_ALL | (secrets ? SECRET_SEARCH_LOAD_SECRETS : 0), c, &error);
	if (error)
		r = secret_fail(st, error, "cannot search the Secret Service");
	disarm(st, c);
	if (r == KR_OK) {
		/* Bound what a crowded keyring can make us hold. */
		GList *cut = g_list_nth(l, KR_KEYRING_ITEMS_MAX);
		if (cut) {
			cut->prev->next = NULL;
			cut->prev = NULL;
			g_list_free_full(cut, g_object_unref);
		}
		*ret = l;
	}
	return r;
}

static int secret_store(void *state, const struct keyring_item *item)
{
	struct secret_state *st = state;
	GHashTable *attrs = NULL, *match = NULL;
	SecretValue *value = NULL;
	GCancellable *c = NULL;
	GError *error = NULL;
	char label[KR_KEYRING_ROLE_MAX + 512], expires[32];
	int r;

	if ((r = keyring_item_label(item, label, sizeof(label))) < 0 ||
	    (r = check_unlocked(st)) < 0)
		goto out;
	snprintf(expires, sizeof(expires), "%lld", (long long)item->expiration);
	attrs = attrs_new(item->key, item->kind, item->profile);
	g_hash_table_insert(attrs, (gpointer) "role",
	                    (gpointer)(item->role_arn ? item->role_arn : ""));
	g_hash_table_insert(attrs, (gpointer) "expires", expires);

	/* One item per key: the service only replaces items with equal attributes. */
	match = attrs_new(item->key, NULL, NULL);
	c = arm(st, KR_SS_CALL_MS);
	if (!secret_service_clear_sync(st->service, &schema, match, c, &error) && error) {
		r = secret_fail(st, error, "cannot replace the old item");
		goto out;
	}
	disarm(st, c);
	c = NULL;

	value = secret_value_new(item->secret, -1, "text/plain");
	c = arm(st, KR_SS_CALL_MS);
	if (!secret_service_store_sync(st->service, &schema, attrs, SECRET_COLLECTION_DEFAULT,
	                               label, value, c, &error)) {
		r = secret_fail(st, error, "cannot store in the default collection");
		goto out;
	}
	r = KR_OK;
out:
	if (c)
		disarm(st, c);
	if (value)
		secret_value_unref(value);
	if (attrs)
		g_hash_table_unref(attrs);
	if (match)
		g_hash_table_unref(match);
	return r;
}

static int secret_lookup(void *state, const char *key, struct keyring_item **ret)
{
	struct secret_state *st = state;
	GHashTable *attrs = attrs_new(key, NULL, NULL);
	struct keyring_item *best = NULL;
	GList *found = NULL;
	int r;

	if ((r = check_unlocked(st)) < 0 || (r = search(st, attrs, true, &found)) < 0)
		goto out;
	for (GList *l = found; l; l = l->next) {
		SecretItem *si = l->data;
		SecretValue *v = secret_item_get_secret(si);
		const char *text = v ? secret_value_get_text(v) : NULL;
		struct keyring_item *it = NULL;

		if (!v && secret_item_get_locked(si))
			err_set(&st->err, KR_ERR_KEYRING, NULL, 0, NULL,
			        "an item is in a locked collection (not unlocking it)");
		if (item_from(si, text, &it) == KR_OK) {
			if (expired(it)) {
				delete_item(st, si);
				keyring_item_free(it);
			} else if (!it->secret || strcmp(it->key, key) != 0) {
				keyring_item_free(it);
			} else if (!best || it->expiration > best->expiration) {
				keyring_item_free(best);
				best = it;
			} else {
				keyring_item_free(it);
			}
		}
		if (v)
			secret_value_unref(v); /* libsecret wipes its copy */
	}
	r = KR_ERR_NOCREDS;
	if (!best)
		goto out;
	*ret = best;
	best = NULL;
	r = KR_OK;
out:
	keyring_item_free(best);
	g_list_free_full(found, g_object_unref);
	g_hash_table_unref(attrs);
	return r;
}

static int secret_remove(void *state, const char *key)
{
	struct secret_state *st = state;
	GHashTable *attrs = attrs_new(key, NULL, NULL);
	GCancellable *c = NULL;
	GError *error = NULL;
	int r;

	if ((r = check_unlocked(st)) < 0)
		goto out;
	c = arm(st, KR_SS_CALL_MS);
	/* FALSE without an error means nothing matched: not a failure. */
	if (!secret_service_clear_sync(st->service, &schema, attrs, c, &error) && error)
		r = secret_fail(st, error, "cannot remove an item");
	disarm(st, c);
out:
	g_hash_table_unref(attrs);
	return r;
}

static int secret_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	struct secret_state *st = state;
	GHashTable *attrs = attrs_new(NULL, kind, profile);
	GList *found = NULL;
	int count = 0, r;

	if ((r = check_unlocked(st)) < 0 || (r = search(st, attrs, false, &found)) < 0)
		goto out;
	for (GList *l = found; l; l = l->next) {
		GCancellable *c = arm(st, KR_SS_CALL_MS);
		GError *error = NULL;

		if (secret_item_delete_sync(l->data, c, &error))
			count++;
		else
			r = secret_fail(st, error, "cannot delete an item");
		disarm(st, c);
		if (r == KR_ERR_TIMEOUT)
			break;
	}
	if (r == KR_OK)
		*ret_count = count;
out:
	g_list_free_full(found, g_object_unref);
	g_hash_table_unref(attrs);
	return r;
}

static int secret_list(void *state, const char *kind, struct keyring_item ***ret_items,
                       size_t *ret_n)
{
	struct secret_state *st = state;
	GHashTable *attrs = attrs_new(NULL, kind, NULL);
	struct keyring_item **items = NULL;
	GList *found = NULL;
	size_t n = 0;
	int r;

	if ((r = check_unlocked(st)) < 0 || (r = search(st, attrs, false, &found)) < 0)
		goto out;
	r = KR_ERR_NOMEM;
	if (found && !(items = calloc(g_list_length(found), sizeof(*items))))
		goto out;
	for (GList *l = found; l; l = l->next) {
		struct keyring_item *it = NULL;

		if (item_from(l->data, NULL, &it) < 0)
			continue;
		if (expired(it)) {
			delete_item(st, l->data);
			keyring_item_free(it);
			continue;
		}
		items[n++] = it;
	}
	*ret_items = items;
	*ret_n = n;
	items = NULL;
	n = 0;
	r = KR_OK;
out:
	keyring_items_free(items, n);
	g_list_free_full(found, g_object_unref);
	g_hash_table_unref(attrs);
	return r;
}

/*
 * Delete expired session items. Without this an expired item goes only
 * when its key is looked up again, and the keys of chains nobody uses any
 * more never are: they would pile up in the user's login keyring. The
 * "kind" attribute finds our sessions, "expires" tells which are dead.
 * Bounded by KR_KEYRING_SWEEP_MAX deletions and KR_SS_SWEEP_MS.
 */
static int secret_sweep(void *state, int *ret_count)
{
	struct secret_state *st = state;
	GHashTable *attrs = attrs_new(NULL, KEYRING_KIND_SESSION, NULL);
	int64_t until = mono_ms() + KR_SS_SWEEP_MS;
	GList *found = NULL;
	int count = 0, r;

	if ((r = check_unlocked(st)) < 0 || (r = search(st, attrs, false, &found)) < 0)
		goto out;
	for (GList *l = found; l && r == KR_OK && count < KR_KEYRING_SWEEP_MAX && mono_ms() < until;
	     l = l->next) {
		struct keyring_item *it = NULL;

		if (item_from(l->data, NULL, &it) == KR_OK && expired(it) &&
		    (r = delete_item(st, l->data)) == KR_OK)
			count++;
		keyring_item_free(it);
	}
	if (r == KR_OK)
		*ret_count = count;
out:
	g_list_free_full(found, g_object_unref);
	g_hash_table_unref(attrs);
	return r;
}

const struct keyring_ops keyring_secret_ops = {
    .name = "secret-service",
    .persistent = 1,
    .open = secret_open,
    .close = secret_close,
    .store = secret_store,
    .lookup = secret_lookup,
    .remove = secret_remove,
    .remove_profile = secret_remove_profile,
    .list = secret_list,
    .last_error = secret_last_error,
    .sweep = secret_sweep,
};
