/*
 * An IAM Identity Center login from the client's side (doc/sso-design.md):
 * "login" starts (or joins) the device authorization of a session in
 * keyroled; the user opens the verification page, checks the code and
 * approves; "login_wait" returns once keyroled, which polls the OIDC
 * service itself, holds the token. Used by `keyrole login` and by get,
 * env and exec when keyroled answers error "login" on a terminal.
 *
 * Invariants:
 * - Nothing secret passes through the client: the verification URL and
 *   the user code are shown to the user (they are not secret; the token
 *   stays in keyroled).
 * - Every text from the daemon is shown through out_notice() (scrubbed);
 *   only a URL that browser_url_ok() accepts is handed to a browser.
 * - "login_wait" is bounded by the device code's expires_in (capped by
 *   KR_LOGIN_EXPIRES_MAX_S) plus KR_LOGIN_SLACK_MS.
 * - On failure the one stderr line is printed (out_fail(), prefixed with
 *   x->profile when it has one) and the exit status returned; a login that
 *   was refused or expired is exit status 8 (CMD_EXIT_LOGIN).
 */
#ifndef KR_LOGIN_H
#define KR_LOGIN_H

#include "caps.h"
#include "cmd.h"
#include "json.h"

struct login_req {
	const char *session; /* the session's name (or NULL: profile's session) */
	const char *profile; /* with session NULL: the profile whose session it is */
	int force;           /* log in even while a valid token is there */
	int no_browser;      /* only show the URL and the code */
};

struct login_result {
	char session[KR_NAME_MAX + 1];
	char start_url[KR_BROWSER_URL_MAX + 1];
	char expiration[64]; /* RFC 3339, as keyroled sent it */
	int already;         /* a valid token was there: no device flow ran */
};

/*
 * A request {"v", "op", "env" (with_env), "session" or "profile" (exactly
 * one, from rq), "force" (rq->force)} or NULL when out of memory: login,
 * logout, sso_profiles. The caller owns it (json_free()).
 */
struct json *login_request_new(const struct cmd_ctx *x, const char *op, const struct login_req *rq,
                               int with_env);

/*
 * Run the login of rq, showing its steps on fd (the terminal, or stderr).
 * CMD_EXIT_OK with *ret filled, or the exit status of the failure (its line
 * printed).
 */
int login_run(struct cmd_ctx *x, const struct login_req *rq, int fd, struct login_result *ret);

/* "logged in to SESSION (START_URL) until TIME", for stdout or the terminal. */
void login_done_text(const struct login_result *r, char *out, size_t n);

#endif
