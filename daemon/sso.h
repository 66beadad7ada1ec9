/*
 * IAM Identity Center (SSO): what its parts share. doc/sso-design.md is the
 * whole contract; this header is the seam between
 *
 *   - source_sso.c: the configuration (sso-session sections, botocore's
 *     rules and messages, endpoints) and the credential source;
 *   - sso_token.c: the token store (memory, keyrole's keyring item, the AWS
 *     CLI's cache file read-only), refreshes;
 *   - sso_portal.c: what is done with a token: role credentials, the
 *     accounts and roles, logout;
 *   - sso_login.c: device authorizations (one per session, joined);
 *   - sso_api.c: the HTTP calls to the portal and OIDC (JSON, common/json).
 *
 * Invariants:
 * - No token, refresh token or client secret is ever logged, put in an
 *   error or a reply other than a get's credentials; every copy lives in
 *   secret memory (mem_secret_*) and is wiped when dropped.
 * - The AWS CLI's cache file is read, never written.
 * - One refresh, one GetRoleCredentials per (session, account, role) and
 *   one device authorization per session at a time (single flight).
 */
#ifndef KR_SSO_H
#define KR_SSO_H

#include "err.h"
#include "pmap.h"
#include "sts.h"

#include <stddef.h>
#include <time.h>

struct loop;
struct http;
struct store;
struct pmap;
struct caller_env;

/*
 * Where an SSO session lives, resolved for one request from the files and
 * the caller's environment. Owns its strings (sso_where_clear). No secret.
 */
struct sso_where {
	char *session;   /* the [sso-session NAME], or NULL for a legacy profile */
	char *start_url; /* sso_start_url */
	char *region;    /* sso_region */
	char **scopes;   /* sso_registration_scopes (sso-session only); NULL when none */
	size_t n_scopes;
	char cache_key[41];   /* hex SHA-1 of the session name, else of the start URL */
	char *portal_url;     /* https://portal.sso.REGION.<suffix>, or the configured override */
	char *oidc_url;       /* https://oidc.REGION.<suffix>, or the configured override */
	char *ca_bundle;      /* AWS_CA_BUNDLE, else the profile's ca_bundle, or NULL */
	char *portal_proxy;   /* endpoint_proxy() for portal_url (NULL: the daemon's own) */
	char *oidc_proxy;     /* endpoint_proxy() for oidc_url */
	char *no_proxy;       /* with them */
	char *cli_cache_file; /* $HOME/.aws/sso/cache/<cache_key>.json, or NULL without HOME */
	char *profile, *file; /* where it was configured (messages) */
	int line;
};

struct buf;

/* The session's name for messages and replies: the [sso-session] name, else the start URL. */
const char *sso_where_name(const struct sso_where *w);

/*
 * The session's part of an SSO step's cache key (cachekey.h's fields: the
 * token cache key and the start URL): source_sso.c's key begins with it,
 * right after its ckey_step(), so that every step made with a session
 * (and every hop above one) has a key that starts the same way (logout).
 */
int sso_where_key(const struct sso_where *w, struct buf *out);

/* Release what w owns; w is zeroed. */
void sso_where_clear(struct sso_where *w);
/* A deep copy; KR_ERR_NOMEM leaves dst zeroed. */
int sso_where_copy(struct sso_where *dst, const struct sso_where *src);

/*
 * The session for a login, logout or `sso profiles` (source_sso.c): named
 * (session: an [sso-session NAME], or a start URL for legacy profiles), or
 * the one profile uses, following source_profile chains and a
 * credential_process that runs `keyrole get OTHER` to the SSO source.
 * Exactly one of session and profile is non-NULL. KR_ERR_CONFIG (or
 * KR_ERR_NOPROFILE) with e saying what to fix.
 */
int sso_where_resolve(const struct pmap *map, const struct caller_env *env, const char *profile,
                      const char *session, struct sso_where *out, struct err_detail *e);

/* A session's settings as the configuration gives them (sso_where_fill's input; borrowed). */
struct sso_where_in {
	const char *session;                       /* the [sso-session NAME], or NULL (legacy) */
	const struct pmap_val *start_url, *region; /* required */
	const struct pmap_val *scopes;             /* sso_registration_scopes, or NULL */
	const struct pmap_profile *top; /* whose endpoint settings the clients use; NULL: none */
	const char *profile, *file;     /* where it was configured (messages) */
	int line;
};

/*
 * Fill out from in for the caller's environment (sso_where.c): values
 * checked (one line, bounded; sso_region a region name), the scopes split
 * as the AWS CLI splits them, the token cache key, the portal and OIDC
 * endpoints (endpoint.h: botocore's rules, top's settings), the CA bundle
 * (AWS_CA_BUNDLE, else top's ca_bundle), the proxies, the CLI's cache file.
 * KR_ERR_CONFIG with e naming file:line, or KR_ERR_NOMEM; out is zeroed on
 * failure.
 */
int sso_where_fill(const struct pmap *m, const struct caller_env *env,
                   const struct sso_where_in *in, struct sso_where *out, struct err_detail *e);

/* ---- the token store (sso_token.c) ---- */

struct sso;      /* one per daemon */
struct sso_call; /* a call in flight */

struct sso_opts {
	struct loop *loop;
	struct http *http;
	struct store *store; /* keyrole's keyring items (kind "sso") */
	time_t (*now)(void); /* the wall clock */
};

int sso_new(const struct sso_opts *o, struct sso **ret);
/* Cancels everything in flight (no callback runs); wipes every token. NULL is a no-op. */
void sso_free(struct sso *s);

/*
 * The answer of sso_role_credentials: err KR_OK with creds (the receiver
 * steals them), else KR_ERR_LOGIN (no usable token: the user must log in),
 * KR_ERR_DENIED, KR_ERR_NETWORK, ... with e saying what failed and what
 * fixes it, and aws_code/aws_message what the portal answered (borrowed,
 * may be NULL).
 */
typedef void (*sso_creds_fn)(void *userdata, int err, struct sts_creds *creds,
                             const struct err_detail *e, const char *aws_code,
                             const char *aws_message);

/*
 * Role credentials of account/role through w's session: an access token
 * (memory, keyring, the CLI's file; refreshed in botocore's 15-minute
 * window when it can be), then GetRoleCredentials. A 401 drops the token
 * and answers KR_ERR_LOGIN. fn always runs later, from the loop, unless
 * sso_call_cancel() runs first. Returns 0, or <0 when it could not start.
 */
int sso_role_credentials(struct sso *s, const struct sso_where *w, const char *account_id,
                         const char *role_name, sso_creds_fn fn, void *userdata,
                         struct sso_call **ret);
/* Stop a call of this file's functions before its callback ran; it will not run. NULL is a no-op.
 */
void sso_call_cancel(struct sso_call *c);

/* ---- the other calls made with a session's token (sso_portal.c) ---- */

/* One account and the roles the user may take in it (all pages). */
struct sso_account_roles {
	char *account_id, *account_name, *email; /* name and email may be NULL */
	char **roles;
	size_t n_roles;
};

/* err KR_OK with the accounts (borrowed for the call), else e says why (KR_ERR_LOGIN ...). */
typedef void (*sso_accounts_fn)(void *userdata, int err, const struct sso_account_roles *accounts,
                                size_t n, const struct err_detail *e);

/* `keyrole sso profiles`: ListAccounts, then ListAccountRoles of each, every page. */
int sso_list_accounts(struct sso *s, const struct sso_where *w, sso_accounts_fn fn, void *userdata,
                      struct sso_call **ret);

/* err KR_OK and how many tokens were dropped (0 or 1), else e says why. */
typedef void (*sso_logout_fn)(void *userdata, int err, int removed, const struct err_detail *e);

/*
 * `keyrole logout`: the portal's Logout with the token keyrole holds (its
 * failure ignored), then the token, refresh token and registration go
 * from memory and the keyring. The AWS CLI's file is never touched.
 */
int sso_logout(struct sso *s, const struct sso_where *w, sso_logout_fn fn, void *userdata,
               struct sso_call **ret);

/* What status shows of one session held in memory: never a token. */
struct sso_session_info {
	const char *session; /* the [sso-session] name, else the start URL */
	const char *start_url, *region;
	time_t expiration; /* of the access token; 0: none (a refresh token only) */
	int refresh_token; /* a refresh token is held */
	const char *from;  /* "keyring", "aws-cli-cache", "login", "refresh" */
	int refreshing;
};

/* The sessions with a token or a refresh token, at most max into out (borrowed until the loop
 * runs). */
size_t sso_sessions(const struct sso *s, struct sso_session_info *out, size_t max);
size_t sso_session_count(const struct sso *s);

/* ---- logins: device authorizations (sso_login.c) ---- */

struct sso_login_info {
	int logged_in;     /* a usable token is there already (no device flow) */
	time_t expiration; /* its expiry (logged_in) */
	const char *login_id, *verification_uri, *verification_uri_complete, *user_code;
	long expires_in; /* seconds the device code has left */
	int joined;      /* the flow was in progress already */
};

/* err KR_OK with info (borrowed for the call), else e says why. */
typedef void (*sso_login_fn)(void *userdata, int err, const struct sso_login_info *info,
                             const struct err_detail *e);

/*
 * `keyrole login`: with a usable token and no force, say so; else start
 * the device authorization of w's session (RegisterClient when keyrole
 * holds no valid registration, StartDeviceAuthorization), or join the one
 * in progress. keyroled then polls CreateToken itself.
 */
int sso_login_start(struct sso *s, const struct sso_where *w, int force, sso_login_fn fn,
                    void *userdata, struct sso_call **ret);

/*
 * err KR_OK once the login's token is kept (session: the name or start
 * URL, expiration its expiry); KR_ERR_LOGIN when it was denied or refused;
 * KR_ERR_TIMEOUT past the device code's expiry, or after KR_SSO_WAIT_MS
 * of waiting (ask again while the code lasts); KR_ERR_INVAL for an
 * unknown login_id.
 */
typedef void (*sso_wait_fn)(void *userdata, int err, const char *session, time_t expiration,
                            const struct err_detail *e);
int sso_login_wait(struct sso *s, const char *login_id, sso_wait_fn fn, void *userdata,
                   struct sso_call **ret);

#endif
