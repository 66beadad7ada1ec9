/*
 * Requests to keyroled and what comes back: build a request, send it
 * (retrying a daemon at its connection cap), turn a failure reply or a
 * transport failure into the one stderr line, and read members of a reply.
 *
 * Invariants:
 * - One request per command; `get` (and env/exec) sends it again only when
 *   the daemon asks for an MFA code (once) or for an IAM Identity Center
 *   login (once, after the login ran on the terminal: login.h).
 * - Requests and replies are JSON trees: json_free() wipes them (they may
 *   hold credentials, keys, an MFA code). The MFA code is wiped on every
 *   path, and only ever sent to the daemon.
 * - A function that returns an exit status has already printed the one
 *   stderr line when that status is not CMD_EXIT_OK.
 */
#ifndef KR_REQUEST_H
#define KR_REQUEST_H

#include "cmd.h"
#include "json.h"

#include <stdint.h>

/*
 * A request {"v", "op", "profile" (when x has one), "env" (with_env: the
 * caller's environment variables of proto_env_keys, file paths made
 * absolute)}, or NULL when out of memory. The caller owns it (json_free()).
 */
struct json *request_new(const struct cmd_ctx *x, const char *op, int with_env);

/*
 * Send req (flags: CONN_AUTOSTART or 0) and read the reply, which may be a
 * failure reply. On a transport failure report it and return the exit
 * status; CMD_EXIT_OK with *ret_reply set (the caller's to json_free())
 * otherwise.
 */
int request_call_raw(struct cmd_ctx *x, const struct json *req, unsigned flags,
                     struct json **ret_reply);

/*
 * request_call_raw() with the reply awaited until deadline_ms
 * (proto_now_ms()'s clock) instead of KR_CLIENT_REPLY_MS from now, and
 * autostart as the options allow: "login_wait" lasts as long as the device
 * code. A failure reply is returned, not reported.
 */
int request_call_until(struct cmd_ctx *x, const struct json *req, int64_t deadline_ms,
                       struct json **ret_reply);

/*
 * request_call_raw() with autostart as the options and KEYROLE_NO_AUTOSTART
 * allow, a failure reply reported and turned into its exit status.
 */
int request_call(struct cmd_ctx *x, const struct json *req, struct json **ret_reply);

/* 1 if reply says "ok": true. */
int request_reply_ok(const struct json *reply);

/* Report a failure reply (the daemon's message names role, code and fix); its exit status. */
int request_fail_reply(const struct cmd_ctx *x, const struct json *reply);

/*
 * The "get" request for x->profile, with one MFA round when the daemon asks
 * for a code (--mfa-code, else mfa_process, else the terminal), and one
 * login when it answers error "login": on a terminal the login runs there
 * and the get is sent again; without one it fails with one line naming
 * `keyrole login SESSION`, exit status 8. A reply
 * without AccessKeyId/SecretAccessKey is a failure; a served reply with a
 * refresh_error is reported on stderr as a warning. *ret_reply holds the
 * credentials: json_free() it.
 */
int request_get_creds(struct cmd_ctx *x, struct json **ret_reply);

/*
 * The "console" request for x->profile (destination and duration, seconds,
 * when given: NULL, 0), with get's MFA and login rounds. *ret_reply has
 * "url", a credential: json_free() (wipes) it.
 */
int request_console(struct cmd_ctx *x, const char *destination, long duration,
                    struct json **ret_reply);

/*
 * request_get_creds() for `keyrole exec`: with --server a "serve" (the
 * reply has "url" and "token" instead of keys, and x->conn stays open: the
 * token lives while it does); with --no-server a plain get; else a get
 * that keyroled answers as a serve when its exec-server setting is on.
 */
int request_exec_creds(struct cmd_ctx *x, struct json **ret_reply);

/* The number member key of o as a long (counts, seconds, pids), dflt if absent or absurd. */
long request_num(const struct json *o, const char *key, long dflt);

/* The string member key of o, dflt if absent or empty. */
const char *request_str(const struct json *o, const char *key, const char *dflt);

#endif
