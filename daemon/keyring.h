/*
 * The persistent credential store: one backend (Secret Service, the kernel
 * user keyring, or memory = nothing persists) behind an asynchronous front.
 *
 * Invariants:
 * - The event loop never blocks on D-Bus or the kernel: every backend call
 *   runs on one worker thread; completions run on the loop thread.
 * - Every call has a deadline. A backend that stops answering ends in
 *   KR_ERR_TIMEOUT, and the front switches to "memory" with one warning;
 *   later calls answer at once.
 * - Items carry secrets in `secret` only. keyring_item_free() wipes it;
 *   every copy the front makes is wiped when dropped. Metadata (key, kind,
 *   profile, role, expiration) is not secret and may be logged or shown.
 * - Everything read back from a backend is external input: it is checked
 *   with keyring_item_check() before it is handed out.
 *
 * Threading: all keyring_* functions except the ops are called from one
 * thread (the loop thread, or any single thread when opened without a loop).
 */
#ifndef KR_KEYRING_H
#define KR_KEYRING_H

#include "caps.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>

struct loop;

/* Caps on item fields (keyring contents are untrusted when read back). */

#define KEYRING_KIND_SESSION  "session"
#define KEYRING_KIND_LONGTERM "longterm"
#define KEYRING_KIND_SSO      "sso" /* an IAM Identity Center token (sso_token.c) */

struct keyring_item {
	char *key;      /* hex sha256 of the hop's cache key, "longterm:PROFILE", "sso-token:KEY" */
	char *kind;     /* KEYRING_KIND_SESSION, _LONGTERM or _SSO */
	char *profile;  /* for forget/status; sso: the session's name */
	char *role_arn; /* NULL for longterm; sso: the start URL */
	int64_t expiration; /* unix seconds; 0 = never (longterm) */
	/* JSON {"a":AKID,"s":SECRET,"t":TOKEN,"e":EXP,"l":LIFETIME}; sso: sso_token.c's; wiped */
	char *secret;
};

/*
 * A backend. Every function runs on the worker thread only, one call at a
 * time, so a backend needs no locking of its own. Errors are KR_ERR_*
 * codes; what a person needs to know (never a secret) is a struct
 * err_detail: open()'s e, and last_error() for the other calls.
 */
struct keyring_ops {
	const char *name; /* "secret-service", "keyctl", "memory" */
	int persistent;   /* 1 if items survive a reboot */
	/* Probe and connect; fails fast when unusable (no bus, locked, no keyctl): e says why. */
	int (*open)(void **ret_state, struct err_detail *e);
	void (*close)(void *state); /* NULL state is a no-op */
	/* Replace any item with the same key. */
	int (*store)(void *state, const struct keyring_item *item);
	/* KR_ERR_NOCREDS if absent; expired items are deleted and reported absent. */
	int (*lookup)(void *state, const char *key, struct keyring_item **ret);
	/* Removing an absent key is not an error. */
	int (*remove)(void *state, const char *key);
	/* profile NULL = every profile; kind NULL = every kind. */
	int (*remove_profile)(void *state, const char *profile, const char *kind, int *ret_count);
	/* Metadata only (secret NULL); expired items are left out. */
	int (*list)(void *state, const char *kind, struct keyring_item ***ret_items, size_t *ret_n);
	/* Optional: the last failure ("add_key: Disk quota exceeded", a fix), or NULL. */
	const struct err_detail *(*last_error)(void *state);
	/*
	 * Optional: delete expired session items, at most KR_KEYRING_SWEEP_MAX
	 * in one call (a backend that expires items itself has none).
	 */
	int (*sweep)(void *state, int *ret_count);
};

extern const struct keyring_ops keyring_secret_ops; /* keyring_secret.c */
extern const struct keyring_ops keyring_kernel_ops; /* keyring_kernel.c */
extern const struct keyring_ops keyring_memory_ops; /* keyring_memory.c */

/* ---- items (keyring_item.c) ---- */

/* Wipes the secret and frees everything. NULL is a no-op. */
void keyring_item_free(struct keyring_item *it);
void keyring_items_free(struct keyring_item **items, size_t n);

/*
 * Build an item from borrowed strings (all copied; role and secret may be
 * NULL). Checks it with keyring_item_check().
 */
int keyring_item_new(const char *key, const char *kind, const char *profile, const char *role_arn,
                     int64_t expiration, const char *secret, struct keyring_item **ret);
/* Deep copy (secret included). */
int keyring_item_dup(const struct keyring_item *it, struct keyring_item **ret);

/*
 * Is the item well-formed? Key, kind, profile present and within caps; no
 * control characters in the metadata; kind known; role within its cap;
 * secret (if any) within its cap. need_secret: the secret must be present.
 * KR_ERR_INVAL or KR_ERR_TOOBIG otherwise.
 */
int keyring_item_check(const struct keyring_item *it, int need_secret);
/*
 * One text field of an item: at most max bytes, no control characters;
 * NULL or empty only when not required. KR_ERR_INVAL or KR_ERR_TOOBIG
 * otherwise.
 */
int keyring_item_check_field(const char *s, size_t max, int required);

/*
 * Human label: "keyrole: prod session (arn:...) until 2026-11-23 18:00 UTC",
 * "keyrole: IAM Identity Center session corp (https://...) until ...".
 */
int keyring_item_label(const struct keyring_item *it, char *buf, size_t len);

/* ---- the asynchronous front (keyring.c) ---- */

struct keyring;

/* Completion of a lookup, store or remove: a lookup's item is owned by the callee
 * (keyring_item_free); NULL for stores, removes and errors. */
typedef void (*keyring_done_fn)(void *userdata, int err, struct keyring_item *item);
/* Completion of a remove_profile: count of items removed. */
typedef void (*keyring_count_fn)(void *userdata, int err, int count);
/* Completion of a list: the array and its items are owned by the callee
 * (keyring_items_free). Metadata only. */
typedef void (*keyring_list_fn)(void *userdata, int err, struct keyring_item **items, size_t n);
/* The one warning when the front gives up on its backend (called on the loop thread). */
typedef void (*keyring_warn_fn)(void *userdata, const char *message);

/*
 * Open a backend by name (keyring_open.c): "auto" (secret-service, then keyctl, then memory:
 * the first whose open() succeeds), "secret-service", "keyctl" or "memory".
 * l may be NULL: then only the *_sync calls work. On failure e (may be
 * NULL) says why the named backend failed: "NAME: why", and a fix.
 */
int keyring_open(const char *which, struct loop *l, struct keyring **ret, struct err_detail *e);

/*
 * Open with an explicit ops table (test seam, and the worker of
 * keyring_open): timeout_ms is the deadline of each call (0: the default).
 */
int keyring_open_ops(const struct keyring_ops *ops, struct loop *l, unsigned timeout_ms,
                     struct keyring **ret, struct err_detail *e);

/*
 * The first of n candidates whose open() succeeds (auto is this with ours).
 * e (may be NULL) collects why each one before it failed ("a: why; b: why",
 * the first fix given), even when a later one succeeds.
 */
int keyring_open_first(const struct keyring_ops *const *candidates, size_t n, struct loop *l,
                       unsigned timeout_ms, struct keyring **ret, struct err_detail *e);

/*
 * Stop the worker and close the backend. Stores and removals already queued
 * still reach the backend (bounded by KR_KEYRING_JOIN_MS); no callback runs
 * after this. A
 * worker stuck in its backend is detached, never waited for (after a
 * failover, at once). NULL is a no-op.
 * Must not be called from inside a keyring callback.
 */
void keyring_free(struct keyring *k);

/* "secret-service", "keyctl", "memory" (the backend in use now). */
const char *keyring_backend_name(const struct keyring *k);
/* 1 if stored items survive a reboot. */
int keyring_persistent(const struct keyring *k);
/* Why the last failed call failed ("BACKEND: what", a fix; never a secret), or NULL. */
const struct err_detail *keyring_last_error(const struct keyring *k);
/* The failover warning, or NULL while the backend works. */
const char *keyring_warning(const struct keyring *k);
/* Calls queued for the backend or running on it now (0 after a failover to memory). */
size_t keyring_queued(const struct keyring *k);
void keyring_set_warn_fn(struct keyring *k, keyring_warn_fn fn, void *userdata);

/*
 * Asynchronous calls. On 0 the callback runs exactly once, later, on the
 * loop thread (never from inside the call itself), unless cancelled with
 * keyring_cancel() or the keyring is freed first. On an error return it
 * never runs. Each needs a loop (KR_ERR_INVAL without one).
 */
int keyring_lookup_async(struct keyring *k, const char *key, keyring_done_fn done, void *userdata);
/* item is copied (and the copy wiped when done); done may be NULL. */
int keyring_store_async(struct keyring *k, const struct keyring_item *item,
                        keyring_done_fn done_or_null, void *userdata);
/* Removing an absent key is not an error. */
int keyring_remove_async(struct keyring *k, const char *key, keyring_done_fn done_or_null,
                         void *userdata);
int keyring_remove_profile_async(struct keyring *k, const char *profile_or_null,
                                 const char *kind_or_null, keyring_count_fn done_or_null,
                                 void *userdata);
int keyring_list_async(struct keyring *k, const char *kind_or_null, keyring_list_fn done,
                       void *userdata);
/* Delete expired session items (the backend's sweep; count 0 without one). */
int keyring_sweep_async(struct keyring *k, keyring_count_fn done_or_null, void *userdata);

/* Drop the callbacks of every pending call made with this userdata. */
void keyring_cancel(struct keyring *k, void *userdata);

/*
 * Synchronous calls (tests, tools, shutdown): the same worker and deadline,
 * the calling thread waits. They do not need a loop.
 */
int keyring_lookup_sync(struct keyring *k, const char *key, struct keyring_item **ret);
int keyring_store_sync(struct keyring *k, const struct keyring_item *item);
int keyring_remove_sync(struct keyring *k, const char *key);
int keyring_remove_profile_sync(struct keyring *k, const char *profile_or_null,
                                const char *kind_or_null, int *ret_count);
int keyring_list_sync(struct keyring *k, const char *kind_or_null, struct keyring_item ***ret_items,
                      size_t *ret_n);
int keyring_sweep_sync(struct keyring *k, int *ret_count);

#endif
