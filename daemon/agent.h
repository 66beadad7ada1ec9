/*
 * The agent: everything keyroled knows and does behind the socket. It
 * takes typed requests (request.h, decoded by msg.c) and answers them, at
 * once or later, through a reply callback. It owns the credential cache
 * (cache.c), the fetches that fill it (fetch.c), the keyring behind it
 * (store.c) and the operations (ops.c).
 */
#ifndef KR_AGENT_H
#define KR_AGENT_H

#include "cache.h"
#include "list.h"
#include "loop.h"
#include "request.h"
#include "resolve.h"
#include "source.h"
#include "sso.h"
#include "store.h"
#include "sts.h"

#include <time.h>

struct keyring_ops;

struct agent_opts {
	const char *cache;             /* auto|secret-service|keyctl|memory */
	int refresh_margin;            /* seconds; botocore re-runs below 15 min */
	int mfa_duration;              /* GetSessionToken duration for MFA sessions */
	unsigned max_entries;          /* cached steps; 0 = KR_CACHE_ENTRIES_MAX */
	time_t (*now)(void);           /* wall clock (test seam); NULL = time() */
	const struct sts_ops *sts_ops; /* STS transport (test seam); NULL = real HTTP */
	/* Keyring backend (test seam); NULL = the one `cache` names. */
	const struct keyring_ops *keyring_ops;
	int sweep_interval; /* seconds between keyring sweeps (test seam); 0 = default */
	const struct source_table *sources; /* the sources (test seam); NULL = sources.c's */
	int exec_server; /* exec-server = yes: `keyrole exec` gets the endpoint by default */
	/* Seconds a request's STS calls may take, all hops and retries; 0 = KR_STS_DEADLINE_MS. */
	int sts_deadline;
	char mfa_prompt[KR_PATH_MAX]; /* mfa-prompt (valid_mfa_prompt()), "" = auto */
};

/*
 * The server's handle on a request answered later: agent_req_cancel()
 * when the client went away (the work goes on for others; nobody is told).
 */
struct agent_req {
	void (*cancel)(struct agent_req *r);
};

struct agent;

int agent_new(struct loop *l, const struct agent_opts *opts, struct agent **ret);
void agent_free(struct agent *a);

/*
 * Handle one request. Either fn is called before this returns (and
 * *ret_pending is NULL), or later from the loop (and *ret_pending is a
 * handle for agent_req_cancel, valid until fn runs).
 */
void agent_handle(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                  struct agent_req **ret_pending);

/* The client went away: drop the request without calling its callback. NULL is a no-op. */
void agent_req_cancel(struct agent_req *r);

/* True while STS calls or other work are in flight (idle exit waits). */
int agent_busy(const struct agent *a);

/* Take new settings (refresh margin, MFA duration) after a reload. */
void agent_reconfigure(struct agent *a, const struct agent_opts *opts);

/* A one-line summary for sd_notify STATUS=. */
void agent_status_line(const struct agent *a, char *out, size_t n);

/* ---- shared by agent.c, ops.c and fetch.c ---- */

struct agent {
	struct loop *loop;
	struct agent_opts opts;
	struct sts *sts;
	struct store *store;
	struct cache *cache;
	struct http *http; /* IAM Identity Center's calls, instance and container metadata (STS has
	                      its own) */
	struct sso *sso;   /* IAM Identity Center tokens and logins */
	struct credsrv *credsrv;   /* the credentials endpoint of exec --server */
	struct source_svc svc;     /* what sources may use */
	struct resolve_opts ropts; /* how chains are resolved */
	struct agent_counters c;
	time_t started;
	unsigned n_busy;         /* requests and refreshes in flight */
	struct list_node keyops; /* add and remove in flight (ops.c) */
	struct list_node ssoops; /* login, login_wait, logout, sso_profiles in flight (ops_sso.c) */
	struct list_node conops; /* console in flight (ops_console.c) */
};

time_t agent_now(const struct agent *a);

#endif
