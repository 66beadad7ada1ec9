/*
 * The credential cache: one entry per cache key (a step of a chain, see
 * cachekey.h), in a hash table and a list, with the rules of how long an
 * entry lives.
 *
 * Lifetimes (all decided here):
 * - An entry is served without a fetch while it has more than its refresh
 *   threshold left: botocore's 15 minutes (the refresh margin), or half
 *   the lifetime for credentials too short for that, never less than its
 *   minimum left: KR_MIN_LEFT_S, or a quarter of the lifetime of a session
 *   shorter than 4 * KR_MIN_LEFT_S (cache_min_left()). Below the threshold
 *   it is still served while it has more than its minimum left, when a
 *   refresh cannot be made (no MFA code, a failed call). Expired
 *   credentials are never served.
 * - After a fetch, an entry's timer fires 30..90 s (jittered) before its
 *   threshold (for a short session: within half the time between its
 *   threshold and its minimum left), for a background refresh when a
 *   client used it since; else it lives until its minimum left and is
 *   dropped. A session of any length is so renewed once, not per request.
 * - The cache holds at most max_entries; past that, expired entries go
 *   first, then the idle entry obtained longest ago (a minute old at
 *   least). An entry that is busy (a fetch or keyring lookup in flight),
 *   has waiters, or is pinned is never dropped: pin an entry while its
 *   waiters are handed on, since they may make room for others.
 *
 * The timer callback (fetch.c's) decides what a firing means.
 */
#ifndef KR_CACHE_H
#define KR_CACHE_H

#include "list.h"
#include "request.h"
#include "sts.h"

#include <stdint.h>
#include <time.h>

struct loop;
struct loop_timer;
struct source_ops;
struct step;
struct store;
struct cache;

struct cache_entry {
	struct cache *cache;
	struct list_node link;     /* every entry, newest first */
	struct cache_entry *hnext; /* same hash bucket */
	uint64_t hash;
	char *key;
	/* What it is, from the step that made it (status, logs). */
	char *profile;      /* the profile that holds the step */
	char *role_arn;     /* NULL for a step that is no role */
	char *mfa_serial;   /* the device a fetch needs a code for, or NULL */
	const char *source; /* the source's name */
	char *what;         /* what its fetch does, for logs */
	int role_index;
	/* Who to refresh it for: the last client's profile and environment. */
	char *requested_by;
	struct caller_env *last_env;
	int served; /* a client was answered from it since it was obtained */
	/* What it holds. */
	struct sts_creds creds;
	int has_creds;
	time_t obtained;
	const char *from; /* "sts", "keyring", "process" */
	char *last_error; /* the last failed fetch, one line */
	/* Work on it. */
	const struct source_ops *ops; /* of the fetch in flight */
	void *call;                   /* the fetch in flight, or NULL */
	uint64_t call_started;        /* loop clock */
	int store_pending;            /* a keyring lookup is in flight */
	int store_checked;            /* the keyring was asked once since the entry was made */
	unsigned pins;
	int forgotten;            /* forgotten while busy: what the fetch brings is not kept */
	struct list_node waiters; /* jobs waiting for it (fetch.c) */
	struct loop_timer *timer; /* refresh, expiry, end of an MFA wait */
	uint64_t mfa_wait_until;  /* loop clock: a client is prompting for its code; 0: none */
};

typedef void (*cache_timer_fn)(struct cache_entry *e, void *userdata);

struct cache_opts {
	unsigned max_entries; /* 0: KR_CACHE_ENTRIES_MAX */
	int refresh_margin;   /* seconds; 0: KR_REFRESH_MARGIN_S */
	time_t (*now)(void);  /* the wall clock; NULL: time() */
	struct store *store;  /* to cancel a lookup of an entry that is dropped */
	cache_timer_fn on_timer;
	void *userdata;
};

int cache_new(struct loop *l, const struct cache_opts *o, struct cache **ret);
/* Drops every entry (cancelling their work); no entry may have waiters. NULL is a no-op. */
void cache_free(struct cache *c);
void cache_set_refresh_margin(struct cache *c, int seconds);

time_t cache_now(const struct cache *c);
/* cache_opts.userdata. */
void *cache_userdata(const struct cache *c);
unsigned cache_count(const struct cache *c);
/* Every entry, newest first (list_entry(n, struct cache_entry, link)). */
struct list_node *cache_entries(struct cache *c);

/* The entry of key, whose ckey_hash() is h (steps keep theirs: struct step's key_hash). */
struct cache_entry *cache_find(struct cache *c, const char *key, uint64_t h);
/* Find, or make an empty one (making room when full); NULL out of memory. */
struct cache_entry *cache_get(struct cache *c, const char *key, uint64_t h);
/* Take the step's names for status and logs. */
int cache_label(struct cache_entry *e, const struct step *s);

/* Above its refresh threshold / above its minimum left (cache_min_left()). */
int cache_fresh(const struct cache_entry *e);
int cache_usable(const struct cache_entry *e);
/* The least it is handed out with: KR_MIN_LEFT_S, or a quarter of a shorter session's life. */
time_t cache_min_left(const struct cache_entry *e);
/* Work in flight on it / nothing at all (no work, no waiters, no pins). */
int cache_busy(const struct cache_entry *e);
int cache_idle(const struct cache_entry *e);

/* Store creds (stolen) obtained at `obtained`, from where; and drop them (wiped). */
void cache_set_creds(struct cache_entry *e, struct sts_creds *creds, time_t obtained,
                     const char *from);
void cache_clear_creds(struct cache_entry *e);
/*
 * When credentials loaded from the keyring were obtained, from the
 * lifetime they were issued with (0: unknown, older items: assume one long
 * enough for the full refresh margin).
 */
time_t cache_loaded_obtained(const struct cache *c, time_t expiration, time_t lifetime);

/* Fire the entry's timer at wall-clock time when / at loop-clock time at. */
void cache_arm(struct cache_entry *e, time_t when);
void cache_arm_at(struct cache_entry *e, uint64_t at);
/* After a fetch: refresh in the background before clients would see the threshold. */
void cache_schedule(struct cache_entry *e);

void cache_pin(struct cache_entry *e);
void cache_unpin(struct cache_entry *e);

/* Drop e now (its work cancelled); the caller made sure nobody waits on it. */
void cache_drop(struct cache_entry *e);

#endif
