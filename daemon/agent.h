/*
 * The agent: everything keyroled knows and does behind the socket. It takes
 * decoded requests (doc/protocol.txt) and answers them, at once or later,
 * through a callback. It owns the credential cache, single-flight STS calls,
 * background refresh and the keyring.
 */
#ifndef KR_AGENT_H
#define KR_AGENT_H

#include "loop.h"
#include "sts.h"

#include <cjson/cJSON.h>
#include <time.h>

struct agent;
struct agent_req;
struct keyring_ops;

struct agent_opts {
	const char *cache;             /* auto|secret-service|keyctl|memory */
	int refresh_margin;            /* seconds; botocore re-runs below 15 min */
	int mfa_duration;              /* GetSessionToken duration for MFA sessions */
	time_t (*now)(void);           /* wall clock (test seam); NULL = time() */
	const struct sts_ops *sts_ops; /* STS transport (test seam); NULL = real HTTP */
	/* Keyring backend (test seam); NULL = the one `cache` names. */
	const struct keyring_ops *keyring_ops;
	int sweep_interval; /* seconds between keyring sweeps (test seam); 0 = default */
};

int agent_new(struct loop *l, const struct agent_opts *opts, struct agent **ret);
void agent_free(struct agent *a);

/*
 * Reply callback: reply is owned by the callee (it must cJSON_Delete it).
 * Called exactly once per request unless the request was cancelled.
 */
typedef void (*agent_reply_fn)(void *userdata, cJSON *reply);

/*
 * Handle one request. Either fn is called before this returns (and
 * *ret_pending is NULL), or later from the loop (and *ret_pending is a
 * handle for agent_req_cancel, valid until fn runs).
 */
void agent_handle(struct agent *a, const cJSON *req, agent_reply_fn fn, void *userdata,
                  struct agent_req **ret_pending);

/* The client went away: drop the request without calling its callback. */
void agent_req_cancel(struct agent_req *r);

/* True while STS calls or other work are in flight (idle exit waits). */
int agent_busy(const struct agent *a);

/* Take new settings (refresh margin, MFA duration) after a reload. */
void agent_reconfigure(struct agent *a, const struct agent_opts *opts);

/* A one-line summary for sd_notify STATUS=. */
void agent_status_line(const struct agent *a, char *out, size_t n);

#endif
