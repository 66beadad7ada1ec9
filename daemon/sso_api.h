/*
 * The HTTP calls of IAM Identity Center (doc/sso-design.md, "APIs used"):
 * the portal (service "sso": GetRoleCredentials, ListAccounts,
 * ListAccountRoles, Logout; the access token in the
 * x-amz-sso_bearer_token header) and OIDC (service "sso-oidc":
 * RegisterClient, StartDeviceAuthorization, CreateToken). rest-json,
 * unsigned, over daemon/http.c; answers parsed with common/json.c.
 *
 * Invariants:
 * - sso_api_call() copies what it needs; secrets (the access token, a
 *   client secret, a device code, a refresh token) only into secret
 *   memory, wiped when the call ends. What a result carries that is
 *   secret is in secret memory too; the receiver steals it or it is wiped.
 * - No secret reaches res->detail or res->code: a message of the server
 *   is kept only when it is short, printable, and holds nothing we sent.
 * - Throttling (429), 5xx and network failures are retried (at most
 *   KR_SSO_RETRIES more attempts, jittered backoff, within
 *   KR_SSO_DEADLINE_MS), but for CreateToken's device grant: its caller
 *   polls anyway.
 * - fn runs exactly once, from the loop, unless the call is cancelled.
 *   Nothing here logs.
 */
#ifndef KR_SSO_API_H
#define KR_SSO_API_H

#include "err.h"
#include "sts.h"

#include <stddef.h>
#include <time.h>

struct loop;
struct http;
struct sso_api_call;

enum sso_api_op {
	SSO_GET_ROLE_CREDENTIALS = 1,
	SSO_LIST_ACCOUNTS,
	SSO_LIST_ACCOUNT_ROLES,
	SSO_LOGOUT,
	SSO_REGISTER_CLIENT,
	SSO_START_DEVICE_AUTHORIZATION,
	SSO_CREATE_TOKEN,
};

/* "GetRoleCredentials", ...; "?" for others. */
const char *sso_api_op_name(int op);

/* Where a call goes: the portal's or OIDC's URL, as sso_where resolved it. */
struct sso_api_endpoint {
	const char *url;       /* http:// or https://, no query */
	const char *ca_bundle; /* NULL: the system store */
	const char *proxy;     /* endpoint_proxy(): NULL = the daemon's environment */
	const char *no_proxy;
};

struct sso_api_params {
	enum sso_api_op op;
	struct sso_api_endpoint ep;
	const char *access_token;           /* the portal's calls (secret) */
	const char *account_id, *role_name; /* GetRoleCredentials; ListAccountRoles (account) */
	const char *next_token;             /* List*: the page after the first, else NULL */
	/* RegisterClient */
	const char *client_name;
	const char *const *scopes; /* sso_registration_scopes; may be none */
	size_t n_scopes;
	/* StartDeviceAuthorization, CreateToken */
	const char *client_id, *client_secret; /* the secret is secret */
	const char *start_url;                 /* StartDeviceAuthorization */
	/* CreateToken: exactly one of them picks the grant (both secret) */
	const char *device_code, *refresh_token;
};

struct sso_account {
	char *account_id, *account_name, *email; /* name and email may be NULL */
};

/*
 * The outcome. err: KR_OK; KR_ERR_LOGIN (the portal refused the token:
 * 401; OIDC: invalid_grant, expired_token, access_denied,
 * invalid_client: the login, refresh or registration is no good);
 * KR_ERR_AWS (any other error answer: code says which); KR_ERR_NETWORK,
 * KR_ERR_TLS, KR_ERR_TIMEOUT, KR_ERR_TOOBIG; KR_ERR_PARSE (a success
 * whose body is not what the API returns); KR_ERR_NOMEM. detail: one line
 * "<Operation>: CODE: message" and a fix, on every failure.
 */
struct sso_api_result {
	int err;
	long http_status; /* 0 when none arrived */
	char code[64];    /* OIDC's "error", else x-amzn-ErrorType's name, else ""; never secret */
	struct err_detail detail;
	int attempts;
	/* GetRoleCredentials: expiration in seconds (the API says milliseconds) */
	struct sts_creds creds;
	/* ListAccounts / ListAccountRoles, and the page after this one (NULL: last) */
	struct sso_account *accounts;
	size_t n_accounts;
	char **roles;
	size_t n_roles;
	char *next_token;
	/* RegisterClient: the secret in secret memory */
	char *client_id, *client_secret;
	time_t client_expires; /* clientSecretExpiresAt */
	/* StartDeviceAuthorization: the device code in secret memory */
	char *device_code, *user_code, *verification_uri, *verification_uri_complete;
	long interval;   /* seconds between polls (default 5) */
	long expires_in; /* StartDeviceAuthorization (default 600) and CreateToken, seconds */
	/* CreateToken: both in secret memory; refresh_token NULL when the answer had none */
	char *access_token, *refresh_token;
};

/* res is borrowed for the callback: steal what you keep (set it NULL); the rest is wiped. */
typedef void (*sso_api_fn)(void *userdata, struct sso_api_result *res);

/*
 * Start one call. KR_ERR_INVAL for a missing or oversized parameter (fn
 * never runs); else fn runs later, once. *ret (may be NULL) is valid
 * until fn runs.
 */
int sso_api_call(struct loop *l, struct http *h, const struct sso_api_params *p, sso_api_fn fn,
                 void *userdata, struct sso_api_call **ret);

/* Stop a call whose fn has not run; fn will not run. NULL is a no-op. */
void sso_api_cancel(struct sso_api_call *c);

/*
 * The success body of op (len bytes, untrusted) into res's fields for op:
 * KR_OK, KR_ERR_PARSE (not what the API returns: res holds nothing) or
 * KR_ERR_NOMEM. sso_api_call() uses it; tests and fuzzers call it alone.
 */
int sso_api_parse(int op, const char *body, size_t len, struct sso_api_result *res);

/* Wipe and free what a result holds (what the receiver did not steal). */
void sso_api_result_clear(struct sso_api_result *res);

/* Free n accounts (and the array). */
void sso_accounts_free(struct sso_account *a, size_t n);

#endif
