/*
 * One asynchronous STS operation (AssumeRole, GetSessionToken,
 * GetCallerIdentity, GetFederationToken): build the form body, sign it (SigV4, service "sts"),
 * POST it, parse the XML answer, and retry throttling / 5xx / network
 * failures with exponential backoff and full jitter inside one overall
 * deadline, all without ever blocking the daemon's loop.
 *
 * Invariants:
 * - sts_call() copies every parameter it needs; the caller may free its
 *   own copies as soon as sts_call() returns. Copies of secrets (source
 *   secret key, session token, MFA code) are wiped when the call ends.
 * - The done callback runs exactly once per successful sts_call(), from the
 *   loop (never from inside sts_call()), unless the call is cancelled first.
 * - Nothing here logs; errors come back in struct sts_result.
 */
#ifndef KR_STS_H
#define KR_STS_H

#include "caps.h"
#include "err.h"

#include "http.h"
#include "loop.h"
#include "sigv4.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on caller-supplied parameters (STS's own limits, rounded up). */

/* Temporary credentials. Every string is owned and wiped by sts_creds_clear(). */
struct sts_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;
	time_t expiration; /* UTC seconds; 0 for GetCallerIdentity */
	char *arn;         /* AssumedRoleUser/Arn (AssumeRole) or caller ARN */
};

/* Wipe and free every member; the struct is zeroed. NULL is a no-op. */
void sts_creds_clear(struct sts_creds *c);

/* Replace *dst with a deep copy of src (secrets in secret memory); dst unchanged on failure. */
int sts_creds_copy(struct sts_creds *dst, const struct sts_creds *src);

enum sts_op {
	STS_ASSUME_ROLE = 1,
	STS_GET_SESSION_TOKEN = 2,
	STS_GET_CALLER_IDENTITY = 3,
	STS_GET_FEDERATION_TOKEN = 4, /* keyrole console, for long-term keys */
	/* Web identity (source_webid.c): unsigned; role_arn, session_name, web_identity_token. */
	STS_ASSUME_ROLE_WITH_WEB_IDENTITY = 5,
};

/* A short name of the operation ("AssumeRole", ...); "?" for others. */
const char *sts_op_name(int op);

struct sts_params {
	enum sts_op op;
	const char
	    *endpoint; /* full URL: https://sts.eu-west-1.amazonaws.com, http://127.0.0.1:5000 */
	const char *region;        /* signing region, e.g. "us-east-1" */
	const char *ca_bundle;     /* AWS_CA_BUNDLE of the caller, or NULL for the system store */
	const char *proxy;         /* endpoint_proxy(): NULL = the daemon's environment */
	const char *no_proxy;      /* likewise; may hold a proxy password: wiped */
	struct sigv4_creds source; /* credentials that sign the request (none: web identity) */
	const char *web_identity_token; /* AssumeRoleWithWebIdentity: secret, wiped with the body */

	/*
	 * AssumeRole (role_arn, session_name required); NULL/0 = not sent.
	 * GetFederationToken: session_name is its Name (required), policy
	 * and duration are sent when set.
	 */
	const char *role_arn;
	const char *session_name;
	const char *external_id;
	const char *mfa_serial; /* AssumeRole and GetSessionToken */
	const char *mfa_code;   /* sent only together with mfa_serial */
	const char *source_identity;
	const char *policy;
	int duration; /* DurationSeconds; 0 = STS default */
	/*
	 * An end for every attempt earlier than the sts-deadline setting gives
	 * (the request's own deadline, when its chain has run hops before this
	 * one), in the sts clock's milliseconds; 0 = none.
	 */
	uint64_t not_after_ms;
	const char *const *tag_keys;
	const char *const *tag_values;
	size_t n_tags;
	const char *const *transitive_keys;
	size_t n_transitive;
};

/*
 * The outcome of one call. err is KR_OK, KR_ERR_AWS (aws_code, aws_message
 * and http_status say what AWS answered), KR_ERR_NETWORK, KR_ERR_TLS,
 * KR_ERR_TIMEOUT, KR_ERR_PARSE, KR_ERR_TOOBIG or KR_ERR_NOMEM. detail is
 * set on every failure: its code is err, its msg one line for a person
 * ("<Operation>: ...", no secrets), its fix set when there is one to give
 * (the AWS hint is the caller's: sts_req_describe()). attempts counts HTTP
 * requests made (1 + retries).
 */
struct sts_result {
	int err;
	long http_status; /* last HTTP status, 0 if none was received */
	char *aws_code;
	char *aws_message;
	struct sts_creds creds; /* set when err == KR_OK (AssumeRole, GetSessionToken,
	                           GetFederationToken: arn is the federated user's) */
	char *account;          /* GetCallerIdentity */
	char *user_id;          /* GetCallerIdentity */
	int attempts;
	uint64_t elapsed_ms; /* from the call's start to its outcome */
	char transport[256]; /* the last attempt's transport failure (libcurl's words), or "" */
	struct err_detail detail;
};

/*
 * res is borrowed for the duration of the callback: take what you need
 * (steal pointers and set them to NULL, the rest is wiped and freed after
 * the callback returns). The sts_call handle is dead once done runs.
 */
typedef void (*sts_done_fn)(void *userdata, struct sts_result *res);

/*
 * Test seams. Any NULL member takes the default:
 * - http_post/http_cancel: daemon/http.c on the loop given to sts_new()
 *   (http_userdata is then ignored). A replacement must never call done
 *   from inside http_post (deliver it from the loop instead), and after
 *   http_cancel done must not be called.
 * - now_ms: a monotonic clock in milliseconds (default loop_now() / 1000);
 *   the overall deadline KR_STS_DEADLINE_MS is measured with it.
 * - wall_now: the wall clock that dates SigV4 signatures (default time()).
 * - random: 32 random bits for the backoff jitter (default getrandom()).
 */
struct sts_ops {
	int (*http_post)(void *http_userdata, const struct http_request *req, http_done_fn done,
	                 void *userdata, struct http_xfer **ret);
	void (*http_cancel)(void *http_userdata, struct http_xfer *x);
	void *http_userdata;
	uint64_t (*now_ms)(void *clock_userdata);
	time_t (*wall_now)(void *clock_userdata);
	void *clock_userdata;
	uint32_t (*random)(void *random_userdata);
	void *random_userdata;
};

struct sts;
struct sts_call;

/* ops may be NULL (real HTTP, loop clock, getrandom); it is copied. */
int sts_new(struct loop *l, const struct sts_ops *ops, struct sts **ret);

/*
 * The overall deadline of each later call, all its attempts and backoffs
 * included (KR_STS_DEADLINE_MS until set; at least KR_STS_MIN_ATTEMPT_MS).
 */
void sts_set_deadline(struct sts *s, unsigned ms);

/* Cancels every call still in flight (their done callbacks do not run). NULL is a no-op. */
void sts_free(struct sts *s);

/*
 * Start one operation. KR_ERR_INVAL for missing/oversized parameters (done
 * is then never called); otherwise done runs later, exactly once.
 * *ret (may be NULL if the caller never cancels) stays valid until done runs.
 */
int sts_call(struct sts *s, const struct sts_params *p, sts_done_fn done, void *userdata,
             struct sts_call **ret);

/* Stop a call before its done ran; done will not run. NULL is a no-op. */
void sts_call_cancel(struct sts_call *c);

#endif
