/*
 * Talking to keyroled for a command: requests, the busy retry, failure
 * replies, the MFA round of "get". The contract is in request.h.
 */
#include "request.h"

#include "caps.h"
#include "conn.h"
#include "err.h"
#include "login.h"
#include "mem.h"
#include "mfa.h"
#include "out.h"
#include "proto.h"
#include "shellquote.h"
#include "tty.h"
#include "valid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * File paths are relative to the caller's directory, which the daemon does
 * not share: send them absolute, as botocore would resolve them.
 */
static int add_env(struct json *env, const char *key, const char *v)
{
	char cwd[KR_PATH_MAX], abs[2 * KR_PATH_MAX + 2];
	int is_path = strcmp(key, "AWS_CONFIG_FILE") == 0 ||
	              strcmp(key, "AWS_SHARED_CREDENTIALS_FILE") == 0 ||
	              strcmp(key, "AWS_CA_BUNDLE") == 0;

	if (is_path && *v && *v != '/' && *v != '~' && getcwd(cwd, sizeof(cwd))) {
		snprintf(abs, sizeof(abs), "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", v);
		v = abs;
	}
	return json_add_str(env, key, v);
}

struct json *request_new(const struct cmd_ctx *x, const char *op, int with_env)
{
	struct json *req = json_new_object(), *env;
	int r;

	r = req ? json_add_num(req, "v", KR_PROTO_VERSION) : KR_ERR_NOMEM;
	if (r == KR_OK)
		r = json_add_str(req, "op", op);
	if (r == KR_OK && x->profile)
		r = json_add_str(req, "profile", x->profile);
	if (r == KR_OK && with_env) {
		r = json_add_object(req, "env", &env);
		for (size_t i = 0; r == KR_OK && proto_env_keys[i]; i++) {
			const char *v = getenv(proto_env_keys[i]);

			if (v)
				r = add_env(env, proto_env_keys[i], v);
		}
	}
	if (r < 0) {
		json_free(req);
		req = NULL;
	}
	return req;
}

static int autostart_allowed(const struct cmd_ctx *x)
{
	const char *e = getenv("KEYROLE_NO_AUTOSTART");

	return !(x->opts & CMD_OPT_NO_AUTOSTART) && !(e && strcmp(e, "1") == 0);
}

static int reply_busy(const struct json *reply)
{
	const char *e = json_get_str(reply, "error");

	return e && strcmp(e, "busy") == 0;
}

/* Wait before asking a busy daemon again: 5 ms doubling to 320 ms, jittered. */
static void busy_backoff(int attempt)
{
	long ms = 5L << (attempt < 6 ? attempt : 6);
	struct timespec ts;

	ms = ms / 2 + (long)(((unsigned)getpid() + (unsigned)attempt) * 2654435761u %
	                     (unsigned)(ms / 2 + 1));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* request_call_raw() with the reply awaited until deadline_ms (0: KR_CLIENT_REPLY_MS from now). */
static int call_until(struct cmd_ctx *x, const struct json *req, unsigned flags,
                      int64_t deadline_ms, struct json **ret_reply)
{
	int64_t busy_until = proto_now_ms() + KR_CLIENT_BUSY_MS;
	int64_t wait_ms = deadline_ms ? deadline_ms - proto_now_ms() : KR_CLIENT_REPLY_MS;
	struct json *reply = NULL;
	int r;

	for (int attempt = 0;; attempt++) {
		r = conn_open(&x->conn, flags);
		if (r == KR_OK)
			r = conn_request(&x->conn, req,
			                 deadline_ms ? deadline_ms
			                             : proto_now_ms() + KR_CLIENT_REPLY_MS,
			                 &reply);
		/* A herd larger than the daemon's connection cap: queue up politely. */
		if (r != KR_OK || !reply_busy(reply) || proto_now_ms() >= busy_until)
			break;
		json_free(reply);
		reply = NULL;
		busy_backoff(attempt);
	}
	if (r == KR_ERR_NODAEMON && !autostart_allowed(x))
		return out_fail(x, r,
		                "keyroled is not running: %s (autostart is off); start it with "
		                "'keyroled &' or 'systemctl --user enable --now keyroled.socket'",
		                x->conn.detail);
	if (r == KR_ERR_NODAEMON)
		return out_fail(x, r, "keyroled is not running: %s", x->conn.detail);
	if (r == KR_ERR_TIMEOUT)
		return out_fail(x, r, "%s (%ld s)", x->conn.detail, (long)(wait_ms / 1000));
	if (r < 0)
		return out_fail(x, r, "%s", x->conn.detail);
	*ret_reply = reply;
	return CMD_EXIT_OK;
}

int request_call_raw(struct cmd_ctx *x, const struct json *req, unsigned flags,
                     struct json **ret_reply)
{
	return call_until(x, req, flags, 0, ret_reply);
}

int request_call_until(struct cmd_ctx *x, const struct json *req, int64_t deadline_ms,
                       struct json **ret_reply)
{
	return call_until(x, req, autostart_allowed(x) ? CONN_AUTOSTART : 0, deadline_ms,
	                  ret_reply);
}

int request_reply_ok(const struct json *reply)
{
	return json_type(json_get(reply, "ok")) == JSON_TRUE;
}

int request_fail_reply(const struct cmd_ctx *x, const struct json *reply)
{
	const char *name = json_get_str(reply, "error");
	const char *msg = json_get_str(reply, "message");
	int err = err_from_name(name);

	if (!msg || !*msg)
		msg = err_str(err);
	return out_fail(x, err, "%s", msg);
}

/* request_call_raw() that turns a failure reply into the reported failure. */
int request_call(struct cmd_ctx *x, const struct json *req, struct json **ret_reply)
{
	unsigned flags = autostart_allowed(x) ? CONN_AUTOSTART : 0;
	struct json *reply = NULL;
	int rc;

	rc = request_call_raw(x, req, flags, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!request_reply_ok(reply)) {
		rc = request_fail_reply(x, reply);
		goto out;
	}
	*ret_reply = reply;
	reply = NULL;
out:
	json_free(reply);
	return rc;
}

/* Obtain an MFA code the way the reply and the options allow. */
static int obtain_mfa_code(struct cmd_ctx *x, const struct json *reply,
                           char ret_code[KR_MFA_CODE_BUF])
{
	const char *serial = json_get_str(reply, "mfa_serial");
	const char *proc = json_get_str(reply, "mfa_process");
	const char *how;
	char way[KR_PATH_MAX];
	int r;

	if (!serial || !*serial)
		serial = "the MFA device";
	if (x->mfa_code) {
		memcpy(ret_code, x->mfa_code, strlen(x->mfa_code) + 1); /* checked by parse() */
		return CMD_EXIT_OK;
	}
	if (proc && *proc) {
		r = mfa_from_process(proc, proto_now_ms() + KR_PROC_TIMEOUT_MS, ret_code);
		if (r == KR_ERR_PROCESS && (errno == ENOENT || errno == EACCES)) {
			char prog[KR_NAME_MAX];

			snprintf(prog, sizeof(prog), "%.*s", (int)strcspn(proc, " \t"), proc);
			return out_fail(
			    x, KR_ERR_MFA,
			    "MFA code required for %s, but mfa_process's program '%s' %s; "
			    "install it (or give its full path in mfa_process) or pass "
			    "--mfa-code",
			    serial, prog,
			    errno == ENOENT ? "was not found on PATH" : "cannot be run");
		}
		if (r < 0)
			return out_fail(
			    x, KR_ERR_MFA,
			    "MFA code required for %s, but mfa_process '%s' gave none (%s); "
			    "fix it or pass --mfa-code",
			    serial, proc, err_str(r));
		return CMD_EXIT_OK;
	}
	how = json_get_str(reply, "mfa_prompt");
	if (!how || !valid_mfa_prompt(how))
		how = "auto";
	r = mfa_ask(how, serial, proto_now_ms() + KR_CLIENT_REPLY_MS, ret_code, way, sizeof(way));
	if (r == KR_ERR_IO && strcmp(how, "askpass") == 0)
		return out_fail(x, KR_ERR_MFA,
		                "MFA code required for %s: the MFA prompt is askpass, but "
		                "KEYROLE_ASKPASS names no program; set it, or pass --mfa-code",
		                serial);
	if (r == KR_ERR_IO && strcmp(how, "auto") == 0)
		return out_fail(
		    x, KR_ERR_MFA,
		    "MFA code required for %s and no terminal to ask on: set "
		    "KEYROLE_ASKPASS to an askpass program (or mfa_process), pass "
		    "--mfa-code, or run 'keyrole get %s' in a terminal once; the session "
		    "is then cached",
		    serial, x->profile);
	if (r == KR_ERR_IO)
		return out_fail(x, KR_ERR_MFA,
		                "MFA code required for %s: run 'keyrole get %s' in a terminal (or "
		                "pass --mfa-code) once; the session is then cached",
		                serial, x->profile);
	if (r == KR_ERR_PROCESS && errno == ENOENT)
		return out_fail(
		    x, KR_ERR_MFA,
		    "MFA code required for %s, but the MFA prompt '%s' was not found on "
		    "PATH; install it, or pass --mfa-code",
		    serial, way);
	if (r < 0)
		return out_fail(x, KR_ERR_MFA, "MFA code required for %s: %s", serial,
		                r == KR_ERR_PARSE     ? "that is not an MFA code"
		                : r == KR_ERR_PROCESS ? "the MFA prompt was cancelled or failed"
		                                      : err_str(r));
	return CMD_EXIT_OK;
}

/*
 * The daemon answered error "login" for x->profile: its IAM Identity Center
 * session needs a login. On a terminal (tty: may one be used) run it there,
 * as `keyrole login` would; otherwise the one line and exit 8. A named
 * session is logged in by name; a legacy profile's (keyroled sends its
 * start URL, or nothing) through the profile.
 */
static int login_inline(struct cmd_ctx *x, const struct json *reply, int tty)
{
	const char *s = request_str(reply, "sso_session", NULL);
	int named = s && !strstr(s, "://");
	struct login_req rq = {.session = named ? s : NULL, .profile = named ? NULL : x->profile};
	char word[KR_NAME_MAX * 4 + 8], line[KR_CLIENT_LINE_MAX];
	struct login_result res;
	int fd = -1, rc;

	if (!tty || tty_open(&fd) < 0) {
		shellquote_word(named ? s : x->profile, word, sizeof(word));
		if (named)
			return out_fail(x, KR_ERR_LOGIN,
			                "the IAM Identity Center session \"%s\" has expired: run "
			                "keyrole login %s",
			                s, word);
		return out_fail(x, KR_ERR_LOGIN,
		                "the IAM Identity Center session%s%s%s has expired: run keyrole "
		                "login --profile %s",
		                s ? " \"" : "", s ? s : "", s ? "\"" : "", word);
	}
	out_notice(fd, "IAM Identity Center session %s needs a login", s ? s : x->profile);
	rc = login_run(x, &rq, fd, &res);
	if (rc == CMD_EXIT_OK) {
		login_done_text(&res, line, sizeof(line));
		out_notice(fd, "%s", line);
	}
	close(fd);
	return rc;
}

static int is_error(const struct json *reply, const char *name)
{
	const char *e = json_get_str(reply, "error");

	return !request_reply_ok(reply) && e && strcmp(e, name) == 0;
}

/*
 * The wait line: on a terminal, what a request for credentials waits for
 * (asked of keyroled with op "waiting" on a second connection), redrawn
 * every second on one line of /dev/tty and erased when the answer comes.
 * The AWS CLI captures a credential_process's stderr, hence the terminal;
 * without one nothing is shown.
 */
struct wait_line {
	struct cmd_ctx *x;
	int fd;
	int shown;
};

static void wait_line_text(struct wait_line *w, int64_t waited_ms, char *out, size_t n)
{
	struct json *req = request_new(w->x, "waiting", 1), *reply = NULL;
	const char *text = NULL;
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	if (req && conn_init(&c, w->x->conn.socket) == KR_OK && conn_open(&c, 0) == KR_OK &&
	    conn_request(&c, req, proto_now_ms() + KR_CLIENT_WAITING_MS, &reply) == KR_OK &&
	    request_reply_ok(reply))
		text = json_get_str(reply, "waiting");
	if (text && *text)
		snprintf(out, n, "keyrole: waiting for %s", text);
	else
		snprintf(out, n, "keyrole: waiting for keyroled (profile %s), %lld s so far",
		         w->x->profile ? w->x->profile : "?", (long long)(waited_ms / 1000));
	conn_close(&c);
	json_free(reply);
	json_free(req);
}

static void on_wait(void *userdata, int64_t waited_ms)
{
	struct wait_line *w = userdata;
	char line[KR_CLIENT_LINE_MAX];
	struct winsize ws;
	size_t cols = 80, len;

	if (waited_ms < 0) {
		if (w->shown)
			(void)proto_write_all(w->fd, "\r\033[K", 4, 0);
		w->shown = 0;
		return;
	}
	wait_line_text(w, waited_ms, line, sizeof(line));
	/* Text from the daemon: no control characters; one row, or \r cannot erase it. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	if (ioctl(w->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	len = strlen(line);
	if (len > cols - 1)
		len = cols - 1;
	(void)proto_write_all(w->fd, "\r\033[K", 4, 0);
	(void)proto_write_all(w->fd, line, len, 0);
	w->shown = 1;
}

/*
 * Send req, a request that gets a profile's credentials ("get", "serve",
 * "console"), with get's MFA and login rounds; a failure reply is reported.
 * req gets the MFA code (json_free() wipes it).
 */
static int call_with_creds(struct cmd_ctx *x, struct json *req, struct json **ret_reply)
{
	unsigned flags = autostart_allowed(x) ? CONN_AUTOSTART : 0;
	char code[KR_MFA_CODE_BUF] = "";
	struct wait_line wl = {.x = x, .fd = -1};
	struct json *reply = NULL;
	int rc, did_mfa = 0, did_login = 0;

	if (tty_open_write(&wl.fd) == KR_OK) {
		x->conn.on_wait = on_wait;
		x->conn.wait_userdata = &wl;
	}
	rc = request_call_raw(x, req, flags, &reply);
	/* At most one MFA round and one login, each followed by the same get again. */
	while (rc == CMD_EXIT_OK) {
		if (is_error(reply, "mfa") && !did_mfa) {
			rc = obtain_mfa_code(x, reply, code);
			if (rc == CMD_EXIT_OK && json_add_str(req, "mfa_code", code) < 0)
				rc = out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
			did_mfa = 1;
		} else if (is_error(reply, "login")) {
			/* A second "login" (the new token was refused too): the line. */
			rc = login_inline(x, reply, !did_login);
			did_login = 1;
		} else {
			break;
		}
		if (rc != CMD_EXIT_OK)
			goto out;
		json_free(reply);
		reply = NULL;
		rc = request_call_raw(x, req, flags, &reply);
	}
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!request_reply_ok(reply)) {
		rc = request_fail_reply(x, reply); /* a second "mfa": the code was not accepted */
		goto out;
	}
	*ret_reply = reply;
	reply = NULL;
out:
	x->conn.on_wait = NULL;
	x->conn.wait_userdata = NULL;
	if (wl.fd >= 0)
		close(wl.fd);
	mem_wipe(code, sizeof(code));
	json_free(reply);
	return rc;
}

/* get (exec 0), exec's get (1: keyroled may answer serve) or serve (2). */
static int creds_call(struct cmd_ctx *x, int exec, struct json **ret_reply)
{
	struct json *req, *reply = NULL;
	int rc;

	req = request_new(x, exec == 2 ? "serve" : "get", 1);
	if (req && exec == 1 && json_add_bool(req, "exec", 1) < 0) {
		json_free(req);
		req = NULL;
	}
	if (!req) {
		rc = out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		goto out;
	}
	x->conn.keep = exec != 0;
	rc = call_with_creds(x, req, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (json_get_str(reply, "url")) {
		/* serve: the endpoint's URL and token, no keys. */
		if (exec == 0 || !json_get_str(reply, "token") || !*json_get_str(reply, "token")) {
			rc = out_fail(x, KR_ERR_PROTO, "keyroled's serve answer has no token");
			goto out;
		}
	} else if (!json_get_str(reply, "AccessKeyId") || !*json_get_str(reply, "AccessKeyId") ||
	           !json_get_str(reply, "SecretAccessKey") ||
	           !*json_get_str(reply, "SecretAccessKey")) {
		rc = out_fail(x, KR_ERR_PROTO,
		              "keyroled's answer has no AccessKeyId/SecretAccessKey");
		goto out;
	}
	/* Served, but a refresh failed: the SDKs ignore stderr on success, people do not. */
	if (json_get_str(reply, "refresh_error"))
		out_warn(x, "warning: refresh failed, serving credentials valid until %s: %s",
		         json_get_str(reply, "Expiration") ? json_get_str(reply, "Expiration")
		                                           : "?",
		         json_get_str(reply, "refresh_error"));
	*ret_reply = reply;
	reply = NULL;
out:
	json_free(req); /* held the code: json_free() wipes */
	json_free(reply);
	if (rc != CMD_EXIT_OK || !json_get_str(*ret_reply, "url"))
		conn_close(&x->conn); /* kept only for a serve answer */
	x->conn.keep = 0;
	return rc;
}

int request_get_creds(struct cmd_ctx *x, struct json **ret_reply)
{
	return creds_call(x, 0, ret_reply);
}

int request_exec_creds(struct cmd_ctx *x, struct json **ret_reply)
{
	if (x->opts & CMD_OPT_SERVER)
		return creds_call(x, 2, ret_reply);
	return creds_call(x, x->opts & CMD_OPT_NO_SERVER ? 0 : 1, ret_reply);
}

int request_console(struct cmd_ctx *x, const char *destination, long duration,
                    struct json **ret_reply)
{
	struct json *req, *reply = NULL;
	int rc, r = KR_OK;

	req = request_new(x, "console", 1);
	if (!req)
		r = KR_ERR_NOMEM;
	if (r == KR_OK && destination)
		r = json_add_str(req, "destination", destination);
	if (r == KR_OK && duration > 0)
		r = json_add_num(req, "duration", (double)duration);
	if (r < 0) {
		rc = out_fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = call_with_creds(x, req, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!json_get_str(reply, "url") || !*json_get_str(reply, "url")) {
		rc = out_fail(x, KR_ERR_PROTO, "keyroled's answer has no url");
		goto out;
	}
	*ret_reply = reply;
	reply = NULL;
out:
	json_free(req); /* held the code: json_free() wipes */
	json_free(reply);
	return rc;
}

long request_num(const struct json *o, const char *key, long dflt)
{
	const struct json *it = json_get(o, key);

	/* Counts, seconds and pids: far inside +-1e15; anything else is nonsense. */
	if (json_type(it) != JSON_NUMBER || json_num(it) < -1e15 || json_num(it) > 1e15)
		return dflt;
	return (long)json_num(it);
}

const char *request_str(const struct json *o, const char *key, const char *dflt)
{
	const char *s = json_get_str(o, key);

	return s && *s ? s : dflt;
}
