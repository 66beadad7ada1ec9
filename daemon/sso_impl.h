/*
 * Inside the IAM Identity Center parts of the daemon: what sso_token.c
 * (the token store), sso_portal.c (the calls made with a token) and
 * sso_login.c (device authorizations) share. Nothing else includes it;
 * the rest of the daemon sees sso.h.
 *
 * Invariants (sso.h's, and):
 * - One struct sso_tok per token cache key (sso_where.cache_key). Its
 *   access token, refresh token and client secret live in secret memory
 *   and are wiped when replaced or dropped.
 * - At most one keyring lookup and one refresh per tok are in flight;
 *   every call that needs its token meanwhile waits on it (tok->waiters).
 * - A call's callback runs from the loop, never from inside the function
 *   that started it (sso_call_defer()).
 */
#ifndef KR_SSO_IMPL_H
#define KR_SSO_IMPL_H

#include "list.h"
#include "sso.h"
#include "sso_api.h"

#include <stdint.h>

struct sso_login;

struct sso_tok {
	struct list_node link; /* in sso->toks, most recently used first */
	struct sso *s;
	char key[41];           /* the token cache key */
	struct sso_where where; /* the last request's (endpoints, CLI file); owned */
	/* The token: secrets in secret memory. */
	char *access;   /* NULL: none */
	time_t expires; /* of access */
	char *refresh;  /* NULL: none */
	char *client_id, *client_secret;
	time_t reg_expires;      /* of the registration */
	char *reg_scopes;        /* the scopes it was registered with, space-separated, or NULL */
	char *reg_scopes_wanted; /* those the session asks for now (a login's) */
	const char *from;        /* "keyring", "aws-cli-cache", "login", "refresh" */
	uint8_t refused[32];     /* SHA-256 of an access token the portal refused */
	int has_refused;
	int keyring_checked; /* the keyring item was read (or nothing persists) */
	int lookup_pending;  /* the keyring lookup is in flight */
	struct sso_api_call *refresh_call;
	int refresh_tried;    /* this round of waiters had its refresh */
	int last_refresh_err; /* how the last refresh ended, and why */
	struct err_detail last_refresh_detail;
	int cli_token, cli_client; /* the token / registration came from the AWS CLI's file */
	int used;                  /* its token was used since the background timer was armed */
	struct loop_timer *timer;  /* background refresh */
	int armed;                 /* ... and it is armed */
	struct list_node waiters;  /* struct sso_call (link) */
	struct sso_login *login;   /* the device authorization of this session, or NULL */
};

struct sso {
	struct sso_opts o;
	struct list_node toks; /* struct sso_tok */
	size_t n_toks;
	struct list_node calls;  /* struct sso_call not waiting on a tok */
	struct list_node logins; /* struct sso_login (sso_login.c) */
	unsigned long login_seq;
};

enum sso_call_kind {
	SSO_CALL_CREDS = 1, /* GetRoleCredentials */
	SSO_CALL_ACCOUNTS,  /* ListAccounts + ListAccountRoles, every page */
	SSO_CALL_LOGOUT,    /* Logout, then the token dropped */
	SSO_CALL_TOKEN,     /* is there a usable token? (login) */
	SSO_CALL_LOADED,    /* the keyring was read (login's registration) */
	SSO_CALL_WAIT,      /* login_wait (sso_login.c) */
};

/* One caller's request: waits on a tok, then runs its own API calls. */
struct sso_call {
	struct list_node link; /* in tok->waiters, s->calls, or a login's lists */
	struct sso *s;
	struct sso_tok *t; /* NULL for login_wait */
	enum sso_call_kind kind;
	char *account, *role; /* CREDS */
	char *token;          /* the access token its API call sent (secret memory) */
	struct sso_api_call *api;
	struct loop_timer *timer; /* deferred answer, or login_wait's deadline */
	int err;                  /* a deferred answer's */
	struct err_detail e;
	/* ACCOUNTS: what is gathered so far */
	struct sso_account_roles *acc;
	size_t n_acc, next_acc; /* accounts, the one whose roles come next */
	int listing_roles;      /* the accounts are all there */
	char *next_token;
	int removed; /* LOGOUT: tokens dropped */
	int joined;  /* TOKEN, LOADED: the login was in progress already */
	/* the callbacks: one per kind */
	sso_creds_fn creds_fn;
	sso_accounts_fn accounts_fn;
	sso_logout_fn logout_fn;
	sso_login_fn login_fn; /* TOKEN and LOADED: the login (sso_login.c) goes on */
	sso_wait_fn wait_fn;
	void *userdata;
	struct sso_login *login; /* WAIT: the login it waits on */
	char *session;           /* WAIT: what the answer names */
	time_t expiration;       /* WAIT: the new token's expiry */
};

/* What one copy outside memory holds (sso_copies.c): secrets in secret memory. */
struct sso_found {
	char *access, *refresh, *client_id, *client_secret, *scopes;
	time_t expires, reg_expires; /* 0: none */
	const char *from;            /* "keyring", "aws-cli-cache" */
	int cli;                     /* from the AWS CLI's file: kept in memory only */
};

/* ---- sso_copies.c ---- */

/* Write t to the keyring (or remove its item when nothing of it is to be kept there). */
void sso_tok_persist(struct sso_tok *t);
/* keyrole's item (its secret, untrusted) into f; KR_ERR_PARSE when it is not one for t. */
int sso_item_parse(const struct sso_tok *t, const char *text, struct sso_found *f);
/* The AWS CLI's file of t's session into f (untrusted: checked); KR_ERR_NOCREDS: none. */
int sso_cli_parse(const struct sso_tok *t, struct sso_found *f);
/* The same on the file's text (len bytes, untrusted): tests and fuzzers. */
int sso_cli_parse_text(const struct sso_tok *t, const char *text, size_t len, struct sso_found *f);
/* Wipe and free what f holds; f is zeroed. */
void sso_found_clear(struct sso_found *f);

/* ---- sso_token.c ---- */

/* The tok of w's cache key, made when new (w copied). NULL out of memory. */
struct sso_tok *sso_tok_get(struct sso *s, const struct sso_where *w);
/* A new call of kind on t (or no tok), linked where it waits. NULL out of memory. */
struct sso_call *sso_call_new(struct sso *s, struct sso_tok *t, enum sso_call_kind kind);
/* Wait on t for what the kind needs; then sso_portal_resume() (or the login) goes on. */
void sso_tok_wait(struct sso_tok *t, struct sso_call *c);
/* sso_tok_wait(c->t, c) from the loop, so that no answer comes from inside the starting call. */
int sso_call_start(struct sso_call *c);
/* Answer c later, from the loop, with err and e (NULL: err's own words). */
void sso_call_defer(struct sso_call *c, int err, const struct err_detail *e);
/* Unlink, stop and free c (no callback). */
void sso_call_free(struct sso_call *c);
/* The token is usable (more than KR_SSO_TOKEN_MIN_LEFT_S left) / fresh (out of the refresh window).
 */
int sso_tok_usable(const struct sso_tok *t);
/* Take a new token (stolen: access, refresh), its registration, from where; kept in the keyring. */
void sso_tok_set(struct sso_tok *t, char **access, time_t expires, char **refresh,
                 const char *from);
/* Take a registration (stolen secret) and keep it (keyring). */
void sso_tok_set_client(struct sso_tok *t, char **client_id, char **client_secret, time_t expires,
                        const char *scopes);
/* Drop the registration (it was refused). */
void sso_tok_drop_client(struct sso_tok *t);
/* The portal refused this access token: drop it (and its refresh token) unless replaced. */
void sso_tok_refused(struct sso_tok *t, const char *access);
/* Forget everything of t (memory and keyring); 1 when it held a token. t is freed. */
int sso_tok_drop(struct sso_tok *t);
time_t sso_now(const struct sso *s);
/* e: KR_ERR_LOGIN "IAM Identity Center session S ...: msg" with the fix naming keyrole login. */
void sso_login_needed(struct err_detail *e, const struct sso_where *w, const char *why);

/* ---- sso_portal.c ---- */

/* A new call of kind on w's session, for userdata (its callback is the caller's to set); NULL
 * out of memory or without s or w. */
struct sso_call *sso_call_open(struct sso *s, const struct sso_where *w, enum sso_call_kind kind,
                               void *userdata);
/* Start c from the loop (sso_call_start()) and hand it out in *ret (may be NULL); KR_ERR_NOMEM
 * (c freed) when it cannot be. */
int sso_call_go(struct sso_call *c, struct sso_call **ret);

/* t's token is ready (or not: err) for c: run c's own calls, or answer. */
void sso_portal_resume(struct sso_call *c, int err, const struct err_detail *e);
/* Answer c now with err (kind's callback), then free it. */
void sso_call_answer(struct sso_call *c, int err, const struct err_detail *e);

/* ---- sso_login.c ---- */

/* The tok goes: its login ends (waiters answered with err). */
void sso_login_tok_gone(struct sso_tok *t);
/* Free every login (sso_free). */
void sso_login_free_all(struct sso *s);
/* c (TOKEN or LOADED) is resumed. */
void sso_login_resume(struct sso_call *c, int err, const struct err_detail *e);
/* Cancel a WAIT call's part in its login. */
void sso_login_call_gone(struct sso_call *c);

#endif
