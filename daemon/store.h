/*
 * The persistent layer behind the cache: sessions written through to the
 * keyring (so that a restart does not call STS again), and the long-term
 * keys stored with `keyrole add`, over daemon/keyring.h's asynchronous
 * front. Everything read back is untrusted: an item that does not parse,
 * or whose expiry is out of what AWS can issue, is treated as absent.
 *
 * Items are named by a digest of their cache key (no profile data in the
 * name), or "longterm:PROFILE". The secret part is compact JSON
 * {"a":AKID,"s":SECRET,"t":TOKEN,"e":EXPIRATION,"l":LIFETIME}, wiped
 * wherever it goes.
 *
 * Calls return at once; callbacks run later on the loop. Nothing here
 * blocks on D-Bus or the kernel.
 */
#ifndef KR_STORE_H
#define KR_STORE_H

#include "sts.h"

#include <stddef.h>
#include <time.h>

struct loop;
struct store;
struct keyring_ops;

struct store_opts {
	const char *cache;                     /* auto|secret-service|keyctl|memory */
	const struct keyring_ops *keyring_ops; /* test seam: a backend instead of `cache` */
	int sweep_interval;                    /* seconds between sweeps; 0 = default */
	time_t (*now)(void);                   /* the wall clock */
};

/* Opens the keyring; a backend that does not work leaves memory only, with a warning. */
int store_new(struct loop *l, const struct store_opts *o, struct store **ret);
/* Queued writes and removals still reach the keyring (bounded); no callback runs after. */
void store_free(struct store *s);

/* Does anything persist (a backend other than memory)? */
int store_on(const struct store *s);
const char *store_backend(const struct store *s); /* "secret-service", "keyctl", "memory" */
int store_survives_reboot(const struct store *s);
/* The keyring's current warning (failover, failed stores), or NULL. */
const char *store_warning(const struct store *s);
/* Keyring calls not done yet (writes and removals are asynchronous): status shows it. */
size_t store_queued(const struct store *s);
/*
 * What a person must know about the backend (the kernel keyring and
 * reboots): the first call of the daemon's life has it, later ones NULL.
 * `add` gives it; status shows survives_reboot instead.
 */
const char *store_take_note(struct store *s);

/*
 * A lookup's answer: err KR_OK with creds (the callee steals them) and the
 * lifetime the session was issued with (0 when unknown: older items,
 * long-term keys), or KR_ERR_NOCREDS when there is nothing usable.
 */
typedef void (*store_creds_fn)(void *userdata, int err, struct sts_creds *creds, time_t lifetime);

/* The session stored under cache key. 0: fn runs later; <0: nothing persists (fn never runs). */
int store_session_lookup(struct store *s, const char *key, store_creds_fn fn, void *userdata);
/* Write a session through (no answer: a failure is warned about once). */
void store_session_write(struct store *s, const char *key, const char *profile, const char *role,
                         const struct sts_creds *c, time_t lifetime);
void store_session_remove(struct store *s, const char *key);
/* Every session item of profile (NULL: of every profile). */
void store_sessions_remove_profile(struct store *s, const char *profile_or_null);

/* Long-term keys of profile. 0: fn runs later; <0 none can be stored (fn never runs). */
int store_longterm_lookup(struct store *s, const char *profile, store_creds_fn fn, void *userdata);

/* add/remove answers: err, and what the keyring said (one line, no secret) when it failed. */
typedef void (*store_done_fn)(void *userdata, int err, int count, const char *why);
int store_longterm_add(struct store *s, const char *profile, const char *access_key_id,
                       const char *secret, store_done_fn fn, void *userdata);
int store_longterm_remove(struct store *s, const char *profile, store_done_fn fn, void *userdata);
/* Profiles with long-term keys (names only): borrowed until the next change. */
const char *const *store_longterm_profiles(const struct store *s, size_t *ret_n);

/*
 * IAM Identity Center tokens (sso_token.c): one item per token cache key
 * (kind "sso", key "sso-token:KEY"), named by the session (name) and its
 * start URL; the secret is sso_token.c's JSON, untrusted when read back.
 * A lookup answers KR_OK with the secret (borrowed for the call), or
 * KR_ERR_NOCREDS when there is none; 0: fn runs later; <0: nothing
 * persists (fn never runs).
 */
typedef void (*store_text_fn)(void *userdata, int err, const char *secret);
int store_sso_lookup(struct store *s, const char *cache_key, store_text_fn fn, void *userdata);
/* Write (replacing) or remove the item; a failed write is warned about as a session's is. */
void store_sso_write(struct store *s, const char *cache_key, const char *name,
                     const char *start_url, time_t expiration, const char *secret);
void store_sso_remove(struct store *s, const char *cache_key);

/* Drop the callbacks of every call made with userdata. */
void store_cancel(struct store *s, void *userdata);

#endif
