/*
 * Fetching: one job per `get` (or background refresh) walks its chain from
 * the highest step still fresh in the cache, fetching each step above it
 * through its source. At most one fetch per cache key is in flight: every
 * other job that needs the key waits on its entry and is answered from it
 * (single flight). A step that needs an MFA code the client did not send
 * answers "mfa", and while one client prompts the others wait for its code.
 */
#ifndef KR_FETCH_H
#define KR_FETCH_H

#include "agent.h"
#include "cache.h"
#include "request.h"

/* Answer a "get" (see agent_handle for the contract). */
void fetch_get(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
               struct agent_req **ret_pending);

/*
 * Answer a "waiting": what a get of req's profile, in req's environment,
 * waits for now, for the wait line a client shows on its terminal: the
 * lowest step of the chain with work in flight ("AssumeRole ROLE (profile
 * P) at URL (where the URL came from), N s so far"; an MFA code another
 * client is asked for; the keyring), or "" for nothing. At once; it
 * starts nothing.
 */
void fetch_waiting(struct agent *a, const struct request *req, reply_fn fn, void *userdata);

/* The cache's timer callback: end an MFA wait, refresh in the background, or drop. */
void fetch_on_timer(struct cache_entry *e, void *agent);

/*
 * Forget e: its credentials go from memory and the keyring. A fetch in
 * flight goes on for the requests already waiting (they take its result);
 * nothing it brings is kept. *removed counts entries that held credentials.
 */
void fetch_forget(struct agent *a, struct cache_entry *e, int *removed);

/* Before the cache goes: free every waiting job without answering it. */
void fetch_drop_all(struct agent *a);

#endif
