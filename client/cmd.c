/*
 * keyrole subcommands.
 *
 * Invariants:
 * - One request per command (two when the daemon asks for an MFA code), no
 *   config reading, no work beyond that: this runs for every AWS call.
 * - Credentials pass through JSON trees (common/json.c: json_free() wipes)
 *   and struct buf (wipes itself); the MFA code and the keys of `add` are
 *   wiped on every path. No secret is ever written to stderr.
 * - stdout is written in one go at the end, completely or not at all as far
 *   as the exit status goes; failures print exactly one line on stderr.
 */
#include "cmd.h"

#include "buf.h"
#include "conn.h"
#include "err.h"
#include "caps.h"
#include "json.h"
#include "mem.h"
#include "mfa.h"
#include "proto.h"
#include "shellquote.h"
#include "sockpath.h"
#include "tty.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef KR_VERSION
#define KR_VERSION "unknown"
#endif

#define KR_CLIENT_OUT_MAX  (8 * 1024 * 1024) /* text we print (status/check of a big config) */
#define KR_CLIENT_LINE_MAX 2048              /* the one error line */
#define KR_ADD_INPUT_MAX   4096              /* `keyrole add` input on stdin */

enum {
	OPT_MFA_CODE = 1 << 0,
	OPT_NO_AUTOSTART = 1 << 1,
	OPT_FORCE = 1 << 2,
	OPT_ALL = 1 << 3,
	OPT_VERIFY = 1 << 4,
	OPT_JSON = 1 << 5,
};

static const struct {
	const char *name;
	unsigned bit;
	int has_arg;
} option_defs[] = {
    {"mfa-code", OPT_MFA_CODE, 1}, {"no-autostart", OPT_NO_AUTOSTART, 0},
    {"force", OPT_FORCE, 0},       {"all", OPT_ALL, 0},
    {"verify", OPT_VERIFY, 0},     {"json", OPT_JSON, 0},
};

struct command;

struct ctx {
	const struct command *cmd;
	const char *profile; /* NULL for commands without one */
	const char *mfa_code;
	unsigned opts;
	char **exec_argv; /* exec: the command, NULL-terminated (argv's tail) */
	struct conn conn;
	struct buf out; /* everything for stdout, written at the end */
};

enum { PROFILE_NONE, PROFILE_REQUIRED, PROFILE_OPTIONAL };

struct command {
	const char *name;
	unsigned opts;
	int profile;
	int (*run)(struct ctx *x);
	const char *help;
};

int cmd_exit_code(int err)
{
	switch (err) {
	case KR_OK:
		return CMD_EXIT_OK;
	case KR_ERR_NODAEMON:
		return CMD_EXIT_NODAEMON;
	case KR_ERR_NOPROFILE:
	case KR_ERR_CONFIG:
	case KR_ERR_NOCREDS:
	case KR_ERR_UNSUPPORTED:
		return CMD_EXIT_CONFIG;
	case KR_ERR_AWS:
		return CMD_EXIT_AWS;
	case KR_ERR_MFA:
		return CMD_EXIT_MFA;
	case KR_ERR_NETWORK:
	case KR_ERR_TLS:
	case KR_ERR_TIMEOUT:
		return CMD_EXIT_NETWORK;
	default:
		return CMD_EXIT_ERROR;
	}
}

/* ---- output ---- */

/* Write the whole line to stderr at once; control characters become spaces. */
static void put_err_line(const char *prefix, const char *fmt, va_list ap)
{
	char line[KR_CLIENT_LINE_MAX];
	size_t n;
	int w;

	w = snprintf(line, sizeof(line), "keyrole: %s", prefix);
	n = (w < 0 || (size_t)w >= sizeof(line)) ? 0 : (size_t)w;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = ' ';
	if (n + 1 < sizeof(line))
		line[n++] = '\n';
	else
		line[n - 1] = '\n';
	(void)proto_write_all(2, line, n, 0);
}

/* Report a failure on one stderr line and return the exit status for err. */
static int fail(const struct ctx *x, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const struct ctx *x, int err, const char *fmt, ...)
{
	char prefix[KR_NAME_MAX + 8] = "";
	va_list ap;

	if (x && x->profile)
		snprintf(prefix, sizeof(prefix), "%s: ", x->profile);
	va_start(ap, fmt);
	put_err_line(prefix, fmt, ap);
	va_end(ap);
	return cmd_exit_code(err);
}

static int usage_error(const struct command *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const struct command *c, const char *fmt, ...)
{
	char prefix[64] = "", msg[KR_CLIENT_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c)
		snprintf(prefix, sizeof(prefix), "%s: ", c->name);
	fail(NULL, KR_ERR_INVAL, "%s%s (see 'keyrole %s%s--help')", prefix, msg, c ? c->name : "",
	     c ? " " : "");
	return CMD_EXIT_USAGE;
}

/* Write x->out to stdout; a short write (EPIPE, ENOSPC) is a failure. */
static int emit(struct ctx *x)
{
	int r;

	if (x->out.len == 0)
		return CMD_EXIT_OK;
	errno = 0;
	r = proto_write_all(1, x->out.data, x->out.len, 0);
	buf_reset(&x->out);
	if (r < 0)
		return fail(x, KR_ERR_IO, "cannot write to standard output: %s",
		            errno ? strerror(errno) : err_str(r));
	return CMD_EXIT_OK;
}

/* ---- requests ---- */

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

static struct json *new_request(const struct ctx *x, const char *op, int with_env)
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

static int autostart_allowed(const struct ctx *x)
{
	const char *e = getenv("KEYROLE_NO_AUTOSTART");

	return !(x->opts & OPT_NO_AUTOSTART) && !(e && strcmp(e, "1") == 0);
}

/*
 * Send req and read the reply, which may be a failure reply. On a transport
 * failure report it and return the exit status; 0 with *ret_reply set
 * otherwise.
 */
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

static int call_raw(struct ctx *x, const struct json *req, unsigned flags, struct json **ret_reply)
{
	int64_t busy_until = proto_now_ms() + KR_CLIENT_BUSY_MS;
	struct json *reply = NULL;
	int r;

	for (int attempt = 0;; attempt++) {
		r = conn_open(&x->conn, flags);
		if (r == KR_OK)
			r = conn_request(&x->conn, req, proto_now_ms() + KR_CLIENT_REPLY_MS,
			                 &reply);
		/* A herd larger than the daemon's connection cap: queue up politely. */
		if (r != KR_OK || !reply_busy(reply) || proto_now_ms() >= busy_until)
			break;
		json_free(reply);
		reply = NULL;
		busy_backoff(attempt);
	}
	if (r == KR_ERR_NODAEMON && !autostart_allowed(x))
		return fail(x, r,
		            "keyroled is not running: %s (autostart is off); start it with "
		            "'keyroled &' or 'systemctl --user enable --now keyroled.socket'",
		            x->conn.detail);
	if (r == KR_ERR_NODAEMON)
		return fail(x, r, "keyroled is not running: %s", x->conn.detail);
	if (r == KR_ERR_TIMEOUT)
		return fail(x, r, "%s (%d s)", x->conn.detail, KR_CLIENT_REPLY_MS / 1000);
	if (r < 0)
		return fail(x, r, "%s", x->conn.detail);
	*ret_reply = reply;
	return CMD_EXIT_OK;
}

static int reply_ok(const struct json *reply)
{
	return json_type(json_get(reply, "ok")) == JSON_TRUE;
}

/* Report a failure reply: the daemon's message already names role, code and fix. */
static int fail_reply(const struct ctx *x, const struct json *reply)
{
	const char *name = json_get_str(reply, "error");
	const char *msg = json_get_str(reply, "message");
	int err = err_from_name(name);

	if (!msg || !*msg)
		msg = err_str(err);
	return fail(x, err, "%s", msg);
}

/* call_raw() that turns a failure reply into the reported failure. */
static int call(struct ctx *x, const struct json *req, struct json **ret_reply)
{
	unsigned flags = autostart_allowed(x) ? CONN_AUTOSTART : 0;
	struct json *reply = NULL;
	int rc;

	rc = call_raw(x, req, flags, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!reply_ok(reply)) {
		rc = fail_reply(x, reply);
		goto out;
	}
	*ret_reply = reply;
	reply = NULL;
out:
	json_free(reply);
	return rc;
}

/* Obtain an MFA code the way the reply and the options allow. */
static int obtain_mfa_code(struct ctx *x, const struct json *reply, char ret_code[KR_MFA_CODE_BUF])
{
	const char *serial = json_get_str(reply, "mfa_serial");
	const char *proc = json_get_str(reply, "mfa_process");
	int r;

	if (!serial || !*serial)
		serial = "the MFA device";
	if (x->mfa_code) {
		memcpy(ret_code, x->mfa_code, strlen(x->mfa_code) + 1); /* checked by parse() */
		return CMD_EXIT_OK;
	}
	if (proc && *proc) {
		r = mfa_from_process(proc, proto_now_ms() + KR_PROC_TIMEOUT_MS, ret_code);
		if (r < 0)
			return fail(
			    x, KR_ERR_MFA,
			    "MFA code required for %s, but mfa_process '%s' gave none (%s); "
			    "fix it or pass --mfa-code",
			    serial, proc, err_str(r));
		return CMD_EXIT_OK;
	}
	r = mfa_from_tty(serial, proto_now_ms() + KR_CLIENT_REPLY_MS, ret_code);
	if (r == KR_ERR_IO)
		return fail(x, KR_ERR_MFA,
		            "MFA code required for %s: run 'keyrole get %s' in a terminal (or "
		            "pass --mfa-code) once; the session is then cached",
		            serial, x->profile);
	if (r < 0)
		return fail(x, KR_ERR_MFA, "MFA code required for %s: %s", serial,
		            r == KR_ERR_PARSE ? "that is not an MFA code" : err_str(r));
	return CMD_EXIT_OK;
}

/* The "get" request, with one MFA round when the daemon asks for a code. */
static int get_creds(struct ctx *x, struct json **ret_reply)
{
	unsigned flags = autostart_allowed(x) ? CONN_AUTOSTART : 0;
	char code[KR_MFA_CODE_BUF] = "";
	struct json *req, *reply = NULL;
	const char *name;
	int rc;

	req = new_request(x, "get", 1);
	if (!req) {
		rc = fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		goto out;
	}
	rc = call_raw(x, req, flags, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	name = json_get_str(reply, "error");
	if (!reply_ok(reply) && name && strcmp(name, "mfa") == 0) {
		rc = obtain_mfa_code(x, reply, code);
		if (rc != CMD_EXIT_OK)
			goto out;
		if (json_add_str(req, "mfa_code", code) < 0) {
			rc = fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
			goto out;
		}
		json_free(reply);
		reply = NULL;
		rc = call_raw(x, req, flags, &reply);
		if (rc != CMD_EXIT_OK)
			goto out;
	}
	if (!reply_ok(reply)) {
		rc = fail_reply(x, reply); /* a second "mfa": the code was not accepted */
		goto out;
	}
	if (!json_get_str(reply, "AccessKeyId") || !*json_get_str(reply, "AccessKeyId") ||
	    !json_get_str(reply, "SecretAccessKey") || !*json_get_str(reply, "SecretAccessKey")) {
		rc = fail(x, KR_ERR_PROTO, "keyroled's answer has no AccessKeyId/SecretAccessKey");
		goto out;
	}
	/* Served, but a refresh failed: the SDKs ignore stderr on success, people do not. */
	if (json_get_str(reply, "refresh_error"))
		fprintf(stderr,
		        "keyrole: %s: warning: refresh failed, serving credentials valid until %s: "
		        "%s\n",
		        x->profile,
		        json_get_str(reply, "Expiration") ? json_get_str(reply, "Expiration") : "?",
		        json_get_str(reply, "refresh_error"));
	*ret_reply = reply;
	reply = NULL;
out:
	mem_wipe(code, sizeof(code));
	json_free(req); /* held the code: json_free() wipes */
	json_free(reply);
	return rc;
}

/* ---- get / env / exec ---- */

static int run_get(struct ctx *x)
{
	static const char *const keys[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
	                                   "Expiration", "AccountId"};
	struct json *reply = NULL, *o = NULL;
	int rc, r;

	rc = get_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	o = json_new_object();
	r = o ? json_add_num(o, "Version", 1) : KR_ERR_NOMEM;
	for (size_t i = 0; r == KR_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_get_str(reply, keys[i]);

		if (v && *v)
			r = json_add_str(o, keys[i], v);
	}
	if (r == KR_OK)
		r = json_print(o, JSON_PRETTY, &x->out);
	if (r == KR_OK)
		r = buf_putc(&x->out, '\n');
	if (r < 0) {
		rc = fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = emit(x);
out:
	json_free(o); /* held the credentials: json_free() wipes */
	json_free(reply);
	return rc;
}

/* The variables `env` and `exec` set, from a "get" reply: NULL value = unset. */
struct var {
	const char *name;
	const char *value;
};

static size_t reply_vars(const struct json *reply, struct var vars[6])
{
	const char *region = json_get_str(reply, "region");
	size_t n = 0;

	vars[n++] = (struct var){"AWS_ACCESS_KEY_ID", json_get_str(reply, "AccessKeyId")};
	vars[n++] = (struct var){"AWS_SECRET_ACCESS_KEY", json_get_str(reply, "SecretAccessKey")};
	/* Absent members are unset, so no stale token or expiry stays around. */
	vars[n++] = (struct var){"AWS_SESSION_TOKEN", json_get_str(reply, "SessionToken")};
	vars[n++] = (struct var){"AWS_CREDENTIAL_EXPIRATION", json_get_str(reply, "Expiration")};
	if (region && *region) {
		vars[n++] = (struct var){"AWS_REGION", region};
		vars[n++] = (struct var){"AWS_DEFAULT_REGION", region};
	}
	return n;
}

static int run_env(struct ctx *x)
{
	struct var vars[6];
	struct json *reply = NULL;
	size_t n;
	int rc, r = KR_OK;

	rc = get_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	n = reply_vars(reply, vars);
	for (size_t i = 0; r == KR_OK && i < n; i++) {
		if (vars[i].value && *vars[i].value) {
			r = buf_printf(&x->out, "export %s=", vars[i].name);
			if (r == KR_OK)
				r = shellquote_append(&x->out, vars[i].value);
			if (r == KR_OK)
				r = buf_putc(&x->out, '\n');
		} else {
			r = buf_printf(&x->out, "unset %s\n", vars[i].name);
		}
	}
	/* A profile in the environment would make the SDK resolve it again. */
	if (r == KR_OK)
		r = buf_puts(&x->out, "unset AWS_PROFILE AWS_DEFAULT_PROFILE\n");
	if (r < 0) {
		rc = fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = emit(x);
out:
	json_free(reply);
	return rc;
}

static int run_exec(struct ctx *x)
{
	char *shell_argv[2] = {NULL, NULL};
	const char *nested = getenv("KEYROLE_PROFILE");
	char **argv = x->exec_argv;
	struct var vars[6];
	struct json *reply = NULL;
	size_t n;
	int rc, e;

	if (nested && *nested && !(x->opts & OPT_FORCE)) {
		rc = fail(x, KR_ERR_INVAL,
		          "already inside 'keyrole exec %s' (KEYROLE_PROFILE is set): nesting "
		          "would mix credentials; leave that shell first or pass --force",
		          nested);
		goto out;
	}
	if (!argv || !argv[0]) {
		const char *sh = getenv("SHELL");

		shell_argv[0] = (char *)(sh && *sh == '/' ? sh : "/bin/sh");
		argv = shell_argv;
	}
	rc = get_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	n = reply_vars(reply, vars);
	for (size_t i = 0; i < n; i++) {
		int r = vars[i].value && *vars[i].value ? setenv(vars[i].name, vars[i].value, 1)
		                                        : unsetenv(vars[i].name);
		if (r < 0) {
			rc = fail(x, KR_ERR_NOMEM, "cannot set %s: %s", vars[i].name,
			          strerror(errno));
			goto out;
		}
	}
	if (unsetenv("AWS_PROFILE") < 0 || unsetenv("AWS_DEFAULT_PROFILE") < 0 ||
	    setenv("KEYROLE_PROFILE", x->profile, 1) < 0) {
		rc = fail(x, KR_ERR_NOMEM, "cannot set the environment: %s", strerror(errno));
		goto out;
	}
	json_free(reply); /* the environment holds the copies the command needs */
	reply = NULL;
	signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored across exec */
	execvp(argv[0], argv);
	e = errno;
	signal(SIGPIPE, SIG_IGN);
	/* Like a shell: 127 when the command is missing, 126 when it cannot run. */
	if (e == ENOENT) {
		fail(NULL, KR_ERR_INVAL, "%s: command not found", argv[0]);
		rc = CMD_EXIT_NOTFOUND;
	} else {
		fail(NULL, KR_ERR_INVAL, "%s: %s", argv[0], strerror(e));
		rc = CMD_EXIT_NOEXEC;
	}
out:
	json_free(reply);
	return rc;
}

/* ---- status / forget / remove ---- */

/* Print item as pretty JSON and a newline, for --json. */
static int print_json(struct ctx *x, const struct json *item)
{
	int r = json_print(item, JSON_PRETTY, &x->out);

	if (r == KR_OK)
		r = buf_putc(&x->out, '\n');
	if (r < 0)
		return fail(x, r, "%s", err_str(r));
	return emit(x);
}

static long num(const struct json *o, const char *key, long dflt)
{
	const struct json *it = json_get(o, key);

	/* Counts, seconds and pids: far inside +-1e15; anything else is nonsense. */
	if (json_type(it) != JSON_NUMBER || json_num(it) < -1e15 || json_num(it) > 1e15)
		return dflt;
	return (long)json_num(it);
}

static const char *str_or(const struct json *o, const char *key, const char *dflt)
{
	const char *s = json_get_str(o, key);

	return s && *s ? s : dflt;
}

/* Seconds from now until an RFC 3339 UTC time; 0 with *ok = 0 if unparsable. */
static long secs_until(const char *t, int *ok)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, s, used = 0;
	time_t when;

	*ok = 0;
	if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 ||
	    used != 19)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	when = timegm(&tm);
	if (when == (time_t)-1)
		return 0;
	*ok = 1;
	return (long)(when - time(NULL));
}

static void fmt_duration(char *out, size_t n, long s)
{
	if (s >= 86400)
		snprintf(out, n, "%ldd%02ldh", s / 86400, (s % 86400) / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
	else if (s >= 60)
		snprintf(out, n, "%ldm", s / 60);
	else
		snprintf(out, n, "%lds", s < 0 ? 0 : s);
}

static int status_entries(struct ctx *x, const struct json *entries)
{
	const struct json *e;
	int width = 7, r;

	if (json_type(entries) != JSON_ARRAY || json_count(entries) == 0)
		return buf_puts(&x->out, "cached sessions: none\n");
	json_for_each(e, entries)
	{
		int l = (int)strlen(str_or(e, "profile", "-"));

		if (l > width)
			width = l > 40 ? 40 : l;
	}
	r = buf_printf(&x->out, "cached sessions:\n  %-*s  %3s  %-10s  %-7s  %s\n", width,
	               "PROFILE", "HOP", "EXPIRES", "FROM", "ROLE");
	json_for_each(e, entries)
	{
		char left[32] = "?", dur[24];
		const char *rerr = json_get_str(e, "refresh_error");
		int ok;
		long s = secs_until(json_get_str(e, "expiration"), &ok);

		if (r < 0)
			break;
		if (ok && s <= 0) {
			snprintf(left, sizeof(left), "expired");
		} else if (ok) {
			fmt_duration(dur, sizeof(dur), s);
			snprintf(left, sizeof(left), "in %s", dur);
		}
		r = buf_printf(&x->out, "  %-*s  %3ld  %-10s  %-7s  %s\n", width,
		               str_or(e, "profile", "-"), num(e, "hop", 0), left,
		               str_or(e, "from", "-"), str_or(e, "role", "-"));
		if (r == KR_OK && rerr && *rerr)
			r = buf_printf(&x->out, "  %*s  refresh failed: %s\n", width, "", rerr);
	}
	return r;
}

static int status_text(struct ctx *x, const struct json *reply)
{
	const struct json *keys = json_get(reply, "stored_keys");
	const struct json *counters = json_get(reply, "counters");
	const struct json *it;
	char up[24];
	int r, first = 1;

	fmt_duration(up, sizeof(up), num(reply, "uptime", 0));
	r = buf_printf(&x->out, "keyroled %s, pid %ld, up %s, cache %s\n",
	               str_or(reply, "version", "?"), num(reply, "pid", 0), up,
	               str_or(reply, "backend", "?"));
	/* The keyring's state matters as much as the cache: say when it failed. */
	if (r == KR_OK && json_get_str(reply, "keyring_warning"))
		r = buf_printf(&x->out, "keyring warning: %s\n",
		               json_get_str(reply, "keyring_warning"));
	if (r == KR_OK && json_get_str(reply, "note"))
		r = buf_printf(&x->out, "note: %s\n", json_get_str(reply, "note"));
	if (r == KR_OK)
		r = status_entries(x, json_get(reply, "entries"));
	if (r == KR_OK)
		r = buf_puts(&x->out, "stored long-term keys:");
	json_for_each(it, keys)
	{
		if (r == KR_OK && json_str(it))
			r = buf_printf(&x->out, "%s %s", first ? "" : ",", json_str(it));
		first = 0;
	}
	if (r == KR_OK)
		r = buf_puts(&x->out, first ? " none\n" : "\n");
	first = 1;
	json_for_each(it, counters)
	{
		if (r == KR_OK && json_type(it) == JSON_NUMBER && json_key(it)) {
			r = buf_printf(&x->out, "%s%s %ld", first ? "counters: " : ", ",
			               json_key(it), (long)json_num(it));
			first = 0;
		}
	}
	if (r == KR_OK && !first)
		r = buf_putc(&x->out, '\n');
	first = 1;
	json_for_each(it, json_get(counters, "sts_errors"))
	{
		if (r == KR_OK && json_type(it) == JSON_NUMBER && json_key(it)) {
			r = buf_printf(&x->out, "%s%s %ld", first ? "sts errors: " : ", ",
			               json_key(it), (long)json_num(it));
			first = 0;
		}
	}
	if (r == KR_OK && !first)
		r = buf_putc(&x->out, '\n');
	return r;
}

static int run_status(struct ctx *x)
{
	struct json *req, *reply = NULL;
	int rc, r;

	req = new_request(x, "status", 0);
	rc = req ? call(x, req, &reply) : fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	if (x->opts & OPT_JSON) {
		json_remove(reply, "v");
		json_remove(reply, "ok");
		rc = print_json(x, reply);
		goto out;
	}
	r = status_text(x, reply);
	rc = r < 0 ? fail(x, r, "%s", err_str(r)) : emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

/* forget and remove: one request, a count back, one line of confirmation. */
static int run_drop(struct ctx *x, const char *op)
{
	struct json *req, *reply = NULL;
	long removed;
	int rc, r;

	/* forget resolves the profile's chain as get does: it needs the caller's env. */
	req = new_request(x, op, strcmp(op, "forget") == 0);
	if (req && (x->opts & OPT_ALL) && json_add_bool(req, "all", 1) < 0) {
		json_free(req);
		req = NULL;
	}
	rc = req ? call(x, req, &reply) : fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	removed = num(reply, "removed", 0);
	if (strcmp(op, "remove") == 0)
		r = buf_printf(&x->out, "removed %ld stored key entr%s for %s\n", removed,
		               removed == 1 ? "y" : "ies", x->profile);
	else if (x->profile)
		r = buf_printf(&x->out, "forgot %ld cached entr%s for %s\n", removed,
		               removed == 1 ? "y" : "ies", x->profile);
	else
		r = buf_printf(&x->out, "forgot %ld cached entr%s\n", removed,
		               removed == 1 ? "y" : "ies");
	rc = r < 0 ? fail(x, r, "%s", err_str(r)) : emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

static int run_forget(struct ctx *x)
{
	return run_drop(x, "forget");
}

static int run_remove(struct ctx *x)
{
	return run_drop(x, "remove");
}

/* ---- add ---- */

static int key_id_valid(const char *s)
{
	size_t n = strnlen(s, KR_KEY_ID_MAX + 1);

	if (n < KR_KEY_ID_MIN || n > KR_KEY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

static int secret_valid(const char *s)
{
	size_t n = strnlen(s, KR_SECRET_KEY_MAX + 1);

	if (n == 0 || n > KR_SECRET_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

/* Copy line number idx (0-based, without its \r\n) of text into ret_line (n bytes). */
static int nth_line(const char *text, int idx, size_t n, char *ret_line)
{
	const char *p = text;
	size_t len;

	for (int i = 0; i < idx && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return KR_ERR_PARSE;
	len = strcspn(p, "\r\n");
	if (len >= n)
		return KR_ERR_TOOBIG;
	memcpy(ret_line, p, len);
	ret_line[len] = '\0';
	return KR_OK;
}

/* The long-term keys of `keyrole add`; wiped by the caller. */
struct keys {
	char id[KR_KEY_ID_MAX + 2];
	char secret[KR_SECRET_KEY_MAX + 2];
};

/* The keys from stdin: first line the access key id, second the secret. */
static int read_keys_stdin(struct keys *ret_keys)
{
	struct keys k;
	struct buf in;
	char chunk[512];
	int r = KR_OK;

	buf_init(&in, KR_ADD_INPUT_MAX);
	for (;;) {
		ssize_t got = read(0, chunk, sizeof(chunk));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = KR_ERR_IO;
			break;
		}
		if (got == 0)
			break;
		r = buf_append(&in, chunk, (size_t)got);
		if (r < 0)
			break;
	}
	if (r == KR_OK && (!in.data || memchr(in.data, '\0', in.len)))
		r = KR_ERR_PARSE;
	if (r == KR_OK)
		r = nth_line(in.data, 0, sizeof(k.id), k.id);
	if (r == KR_OK)
		r = nth_line(in.data, 1, sizeof(k.secret), k.secret);
	if (r == KR_OK)
		*ret_keys = k;
	mem_wipe(&k, sizeof(k));
	mem_wipe(chunk, sizeof(chunk));
	buf_free(&in);
	return r;
}

/* The keys from the terminal: the id echoed, the secret not. */
static int read_keys_tty(const char *profile, struct keys *ret_keys)
{
	int64_t deadline = proto_now_ms() + KR_CLIENT_REPLY_MS;
	char prompt[KR_NAME_MAX + 64];
	struct keys k;
	int fd = -1, r;

	r = tty_open(&fd);
	if (r < 0)
		return r;
	snprintf(prompt, sizeof(prompt), "AWS access key id for %s: ", profile);
	r = tty_read_line(fd, prompt, 1, deadline, sizeof(k.id), k.id);
	snprintf(prompt, sizeof(prompt), "AWS secret access key for %s: ", profile);
	if (r == KR_OK)
		r = tty_read_line(fd, prompt, 0, deadline, sizeof(k.secret), k.secret);
	if (r == KR_OK)
		*ret_keys = k;
	mem_wipe(&k, sizeof(k));
	close(fd);
	return r;
}

static int run_add(struct ctx *x)
{
	struct keys k = {.id = "", .secret = ""};
	const char *const id = k.id, *const secret = k.secret;
	struct json *req = NULL, *reply = NULL;
	const char *arn;
	int rc, r;

	if (isatty(0))
		r = read_keys_tty(x->profile, &k);
	else
		r = read_keys_stdin(&k);
	if (r < 0) {
		rc = fail(x, KR_ERR_INVAL,
		          "cannot read the keys (%s): give the access key id on the first line "
		          "and the secret access key on the second",
		          err_str(r));
		goto out;
	}
	if (!key_id_valid(id)) {
		rc = fail(x, KR_ERR_INVAL,
		          "that does not look like an access key id (16 to 128 of A-Z and 0-9, "
		          "e.g. AKIA...)");
		goto out;
	}
	if (!secret_valid(secret)) {
		rc = fail(x, KR_ERR_INVAL,
		          "that does not look like a secret access key (1 to %d printable "
		          "characters, no spaces)",
		          KR_SECRET_KEY_MAX);
		goto out;
	}
	req = new_request(x, "add", 1);
	if (!req || json_add_str(req, "access_key_id", id) < 0 ||
	    json_add_str(req, "secret_access_key", secret) < 0 ||
	    json_add_bool(req, "verify", (x->opts & OPT_VERIFY) != 0) < 0) {
		rc = fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		goto out;
	}
	mem_wipe(k.secret, sizeof(k.secret)); /* the request holds the only copy now */
	rc = call(x, req, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (json_get_str(reply, "note")) /* e.g. the kernel keyring does not survive a reboot */
		fprintf(stderr, "keyrole: %s: note: %s\n", x->profile, json_get_str(reply, "note"));
	arn = json_get_str(reply, "arn");
	if (arn && *arn)
		r = buf_printf(&x->out, "stored long-term keys for %s (verified: %s)\n", x->profile,
		               arn);
	else
		r = buf_printf(&x->out, "stored long-term keys for %s\n", x->profile);
	rc = r < 0 ? fail(x, r, "%s", err_str(r)) : emit(x);
out:
	mem_wipe(&k, sizeof(k));
	json_free(req); /* held the secret: json_free() wipes */
	json_free(reply);
	return rc;
}

/* ---- check ---- */

static int check_step(struct ctx *x, const struct json *step, int first)
{
	const char *kind = str_or(step, "kind", "?");
	int r = buf_puts(&x->out, first ? "  chain: " : " -> ");

	if (r < 0)
		return r;
	if (strcmp(kind, "source") == 0) {
		const char *type = str_or(step, "type", "?");
		const char *akid = json_get_str(step, "access_key_id");

		if (strcmp(type, "environment") == 0)
			return buf_puts(&x->out, "environment keys");
		r = buf_printf(&x->out, "%s (%s", str_or(step, "profile", "?"), type);
		if (r == KR_OK && akid && *akid)
			r = buf_printf(&x->out, " %s", akid);
		if (r == KR_OK)
			r = buf_putc(&x->out, ')');
		return r;
	}
	r = buf_puts(&x->out, str_or(step, "role_arn", "?"));
	if (r == KR_OK && json_get_str(step, "mfa_serial"))
		r = buf_puts(&x->out, " (MFA)");
	return r;
}

static int check_problem(struct ctx *x, const struct json *pb)
{
	const char *file = json_get_str(pb, "file");
	const char *fix = json_get_str(pb, "fix");
	long line = num(pb, "line", 0);
	int r = KR_OK;

	if (file && *file && line > 0)
		r = buf_printf(&x->out, "%s:%ld: ", file, line);
	else if (file && *file)
		r = buf_printf(&x->out, "%s: ", file);
	if (r == KR_OK)
		r = buf_printf(&x->out, "%s: %s", str_or(pb, "severity", "error"),
		               str_or(pb, "message", "?"));
	if (r == KR_OK && fix && *fix)
		r = buf_printf(&x->out, " (fix: %s)", fix);
	if (r == KR_OK)
		r = buf_putc(&x->out, '\n');
	return r;
}

/* The text report; *ret_errors counts profiles with an error problem. */
static int check_text(struct ctx *x, const struct json *profiles, int *ret_errors)
{
	const struct json *p, *it;
	int r = KR_OK, errors = 0;

	json_for_each(p, profiles)
	{
		const struct json *steps = json_get(p, "steps");
		int bad = json_type(json_get(p, "ok")) != JSON_TRUE, first = 1;

		json_for_each(it, json_get(p, "problems"))
		{
			const char *sev = json_get_str(it, "severity");

			if (!sev || strcmp(sev, "warning") != 0)
				bad = 1;
		}
		errors += bad;
		if (r == KR_OK)
			r = buf_printf(&x->out, "%s: %s\n", str_or(p, "name", "?"),
			               bad ? "ERROR" : "ok");
		json_for_each(it, steps)
		{
			if (r == KR_OK)
				r = check_step(x, it, first);
			first = 0;
		}
		if (r == KR_OK && !first)
			r = buf_putc(&x->out, '\n');
		json_for_each(it, json_get(p, "problems"))
		{
			if (r == KR_OK)
				r = check_problem(x, it);
		}
	}
	if (r == KR_OK)
		*ret_errors = errors;
	return r;
}

static int run_check(struct ctx *x)
{
	struct json *req, *reply = NULL;
	const struct json *profiles;
	int rc, r, errors = 0;

	req = new_request(x, "check", 1);
	rc = req ? call(x, req, &reply) : fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	profiles = json_get(reply, "profiles");
	if (json_type(profiles) != JSON_ARRAY) {
		rc = fail(x, KR_ERR_PROTO, "keyroled's answer has no \"profiles\" list");
		goto out;
	}
	r = check_text(x, profiles, &errors);
	if (r == KR_OK && (x->opts & OPT_JSON)) {
		buf_reset(&x->out);
		rc = print_json(x, profiles);
	} else {
		rc = r < 0 ? fail(x, r, "%s", err_str(r)) : emit(x);
	}
	if (rc == CMD_EXIT_OK && errors > 0)
		rc = CMD_EXIT_ERROR;
out:
	json_free(req);
	json_free(reply);
	return rc;
}

/* ---- version ---- */

static int run_version(struct ctx *x)
{
	struct json *req, *reply = NULL;
	int rc;

	if (buf_printf(&x->out, "keyrole %s\n", KR_VERSION) < 0 || emit(x) != CMD_EXIT_OK)
		return CMD_EXIT_ERROR;
	req = new_request(x, "version", 0);
	/* Never autostart here: the question is whether one is running. */
	rc = req ? call_raw(x, req, 0, &reply) : fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!reply_ok(reply)) {
		rc = fail_reply(x, reply);
		goto out;
	}
	if (buf_printf(&x->out, "keyroled %s (protocol %ld)\n", str_or(reply, "version", "?"),
	               num(reply, "protocol", 0)) < 0)
		rc = fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	else
		rc = emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

/* ---- help and argument parsing ---- */

static const char help_main[] =
    "usage: keyrole COMMAND [OPTIONS]\n"
    "\n"
    "Fresh AWS role credentials from keyroled, the per-user credential cache.\n"
    "\n"
    "Commands:\n"
    "  get PROFILE              print credentials as credential_process JSON\n"
    "  env PROFILE              print 'export' lines for a shell's eval\n"
    "  exec PROFILE [-- COMMAND [ARG...]]\n"
    "                           run COMMAND (default $SHELL) with the credentials\n"
    "  status                   show the daemon, cached sessions and counters\n"
    "  forget PROFILE | --all   drop cached sessions (memory and keyring)\n"
    "  add PROFILE              store long-term access keys in the keyring\n"
    "  remove PROFILE           delete stored long-term keys\n"
    "  check [PROFILE]          show how profiles resolve and what is wrong\n"
    "  version, --version       print the versions of keyrole and keyroled\n"
    "  help [COMMAND]           show this help or a command's help\n"
    "\n"
    "'keyrole COMMAND --help' (or 'keyrole help COMMAND') describes each\n"
    "command and its options; '-h' is the same as '--help'.\n"
    "\n"
    "In ~/.aws/config, point the profile your tools use at the profile that\n"
    "holds the chain (they must be two different profiles):\n"
    "  [profile prod]\n"
    "  credential_process = keyrole get prod-chain\n"
    "\n"
    "Environment:\n"
    "  KEYROLE_SOCKET        the daemon's socket (default\n"
    "                        $XDG_RUNTIME_DIR/keyrole/agent.sock, else\n"
    "                        /run/user/UID/keyrole/agent.sock if that directory\n"
    "                        is ours, else $XDG_CACHE_HOME/keyrole/agent.sock,\n"
    "                        else ~/.cache/keyrole/agent.sock); a relative path\n"
    "                        is taken from the current directory\n"
    "  KEYROLE_NO_AUTOSTART  if \"1\", never start keyroled when nothing answers\n"
    "  KEYROLE_PROFILE       set by 'keyrole exec' for its command\n"
    "  HOME, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_REGION,\n"
    "  AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS,\n"
    "  AWS_STS_REGIONAL_ENDPOINTS, AWS_CA_BUNDLE,\n"
    "  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, AWS_ACCESS_KEY_ID,\n"
    "  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN\n"
    "                        sent with get, env, exec, check and add: the daemon\n"
    "                        answers for the caller's environment\n"
    "  HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, ALL_PROXY, all_proxy,\n"
    "  NO_PROXY, no_proxy\n"
    "                        sent too: the daemon's STS calls for this request\n"
    "                        use them as curl would (else the daemon's own)\n"
    "\n"
    "If nothing answers on the socket, keyrole starts keyroled (found next to\n"
    "keyrole, else on PATH) as 'keyroled --socket PATH' and waits up to 3 s.\n"
    "A daemon at its connection limit is asked again for up to 10 s.\n"
    "\n"
    "Exit status:\n"
    "  0    success\n"
    "  1    other error; 'check' found an error; nested 'exec' refused\n"
    "  2    usage error\n"
    "  3    keyroled not reachable (not running, autostart off or failed)\n"
    "  4    profile or configuration error (unknown profile, invalid config,\n"
    "       no credentials, unsupported credential source)\n"
    "  5    AWS refused the request (e.g. AccessDenied)\n"
    "  6    an MFA code was needed and none could be obtained\n"
    "  7    STS unreachable, timed out, or its certificate not trusted\n"
    "  126  exec: COMMAND cannot be run\n"
    "  127  exec: COMMAND not found\n";

static const char help_get[] =
    "usage: keyrole get PROFILE [--mfa-code CODE] [--no-autostart]\n"
    "\n"
    "Print the credentials of PROFILE as the credential_process JSON object:\n"
    "  {\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...,\n"
    "   \"SessionToken\": ..., \"Expiration\": \"RFC 3339 time\"}\n"
    "SessionToken and Expiration appear when the credentials have them.\n"
    "On failure stdout is empty and stderr has one line:\n"
    "  keyrole: PROFILE: MESSAGE\n"
    "\n"
    "If the profile needs an MFA code, keyrole uses --mfa-code, else the\n"
    "profile's mfa_process (run without a shell, its stdout is the code), else\n"
    "asks on the terminal (/dev/tty). Without any of these it fails with\n"
    "status 6; run it once in a terminal, the session is then cached.\n"
    "\n"
    "Options:\n"
    "  --mfa-code CODE  the current code of the profile's MFA device\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_env[] =
    "usage: keyrole env PROFILE [--mfa-code CODE] [--no-autostart]\n"
    "\n"
    "Print shell commands that put the credentials of PROFILE in the\n"
    "environment, for eval in sh or bash:\n"
    "  eval \"$(keyrole env prod)\"\n"
    "They export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
    "AWS_CREDENTIAL_EXPIRATION and, when the profile has a region, AWS_REGION\n"
    "and AWS_DEFAULT_REGION (values single-quoted); they unset the variables\n"
    "the credentials do not have, and AWS_PROFILE and AWS_DEFAULT_PROFILE so\n"
    "that tools use the keys. The keys are not refreshed: run it again when\n"
    "AWS_CREDENTIAL_EXPIRATION nears.\n"
    "\n"
    "Options:\n"
    "  --mfa-code CODE  the current code of the profile's MFA device\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_exec[] =
    "usage: keyrole exec PROFILE [--force] [--mfa-code CODE] [--no-autostart]\n"
    "                    [--] [COMMAND [ARG...]]\n"
    "\n"
    "Run COMMAND (default: $SHELL, else /bin/sh) with the credentials of\n"
    "PROFILE in its environment: the variables of 'keyrole env', with\n"
    "AWS_PROFILE and AWS_DEFAULT_PROFILE removed, and KEYROLE_PROFILE=PROFILE.\n"
    "COMMAND is looked up on PATH. keyrole replaces itself with COMMAND, so\n"
    "the status is COMMAND's; 127 if it is not found, 126 if it cannot run.\n"
    "The first word after PROFILE that is not an option starts COMMAND;\n"
    "put '--' before COMMAND when it starts with '-'.\n"
    "\n"
    "Options:\n"
    "  --force          run even inside another 'keyrole exec'\n"
    "                   (KEYROLE_PROFILE set), which is otherwise refused\n"
    "  --mfa-code CODE  the current code of the profile's MFA device\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_status[] =
    "usage: keyrole status [--json] [--no-autostart]\n"
    "\n"
    "Show the daemon (version, pid, uptime, cache backend), the cached role\n"
    "sessions (profile, hop, time left, where they came from, role, and the\n"
    "last refresh error), the profiles with stored long-term keys (names\n"
    "only), and the request counters. Never shows a secret.\n"
    "\n"
    "Options:\n"
    "  --json           print the daemon's answer as JSON\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_forget[] =
    "usage: keyrole forget PROFILE | --all [--no-autostart]\n"
    "\n"
    "Drop the cached sessions of PROFILE's chain (or of every profile with\n"
    "--all) from memory and from the keyring: every hop, intermediate ones\n"
    "included, the MFA session it starts from and a credential_process\n"
    "source's output. A fetch in flight is not kept. Stored long-term keys\n"
    "stay (see 'keyrole remove'). The next 'get PROFILE' calls STS for every\n"
    "hop.\n"
    "\n"
    "Options:\n"
    "  --all            forget every cached session\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_add[] =
    "usage: keyrole add PROFILE [--verify] [--no-autostart]\n"
    "\n"
    "Store long-term access keys for PROFILE in the keyring, so that they\n"
    "need not be in ~/.aws/credentials. The profile then needs no keys in the\n"
    "files. On a terminal keyrole asks for the access key id and the secret\n"
    "access key (not echoed); otherwise it reads them from stdin, the id on\n"
    "the first line and the secret on the second. With the kernel keyring\n"
    "as the daemon's backend, a note on stderr says that it does not survive a\n"
    "reboot.\n"
    "\n"
    "Options:\n"
    "  --verify         check the keys with STS GetCallerIdentity first\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_remove[] =
    "usage: keyrole remove PROFILE [--no-autostart]\n"
    "\n"
    "Delete the long-term keys stored for PROFILE with 'keyrole add'.\n"
    "\n"
    "Options:\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_check[] =
    "usage: keyrole check [PROFILE] [--json] [--no-autostart]\n"
    "\n"
    "Explain how PROFILE (or every profile) resolves: the chain from the\n"
    "source credentials through each role, and every problem found, as\n"
    "  FILE:LINE: error: MESSAGE (fix: WHAT TO DO)\n"
    "Nothing is sent to AWS. Exits 1 if a profile has an error.\n"
    "\n"
    "Options:\n"
    "  --json           print the list of profile reports as JSON\n"
    "  --no-autostart   do not start keyroled if nothing answers\n"
    "  -h, --help       show this help\n";

static const char help_version[] =
    "usage: keyrole version\n"
    "\n"
    "Print 'keyrole VERSION' and, if a daemon answers, 'keyroled VERSION\n"
    "(protocol N)'. Never starts keyroled; exits 3 if none answers.\n"
    "\n"
    "Options:\n"
    "  -h, --help       show this help\n";

static const char help_help[] = "usage: keyrole help [COMMAND]\n"
                                "\n"
                                "Show the overview, or the help of COMMAND.\n";

static int run_help(struct ctx *x);

static const struct command commands[] = {
    {"get", OPT_MFA_CODE | OPT_NO_AUTOSTART, PROFILE_REQUIRED, run_get, help_get},
    {"env", OPT_MFA_CODE | OPT_NO_AUTOSTART, PROFILE_REQUIRED, run_env, help_env},
    {"exec", OPT_MFA_CODE | OPT_NO_AUTOSTART | OPT_FORCE, PROFILE_REQUIRED, run_exec, help_exec},
    {"status", OPT_JSON | OPT_NO_AUTOSTART, PROFILE_NONE, run_status, help_status},
    {"forget", OPT_ALL | OPT_NO_AUTOSTART, PROFILE_OPTIONAL, run_forget, help_forget},
    {"add", OPT_VERIFY | OPT_NO_AUTOSTART, PROFILE_REQUIRED, run_add, help_add},
    {"remove", OPT_NO_AUTOSTART, PROFILE_REQUIRED, run_remove, help_remove},
    {"check", OPT_JSON | OPT_NO_AUTOSTART, PROFILE_OPTIONAL, run_check, help_check},
    {"version", 0, PROFILE_NONE, run_version, help_version},
    /* help's PROFILE slot carries the command name. */
    {"help", 0, PROFILE_OPTIONAL, run_help, help_help},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int print_text(struct ctx *x, const char *text)
{
	if (buf_puts(&x->out, text) < 0)
		return fail(NULL, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	return emit(x);
}

static int run_help(struct ctx *x)
{
	const struct command *c;

	if (!x->profile)
		return print_text(x, help_main);
	c = find_command(x->profile);
	if (!c)
		return usage_error(NULL, "unknown command '%s'", x->profile);
	x->profile = NULL;
	return print_text(x, c->help);
}

static int name_valid(const char *s)
{
	size_t n = strnlen(s, KR_NAME_MAX + 1);

	if (n == 0 || n > KR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

/* An option argument a (without "--"); *i advances past a separate value. */
static int parse_option(struct ctx *x, const char *a, int argc, char **argv, int *i)
{
	const char *eq = strchr(a, '=');
	size_t len = eq ? (size_t)(eq - a) : strlen(a);
	const char *value = NULL;

	for (size_t k = 0; k < sizeof(option_defs) / sizeof(option_defs[0]); k++) {
		if (strlen(option_defs[k].name) != len || strncmp(option_defs[k].name, a, len) != 0)
			continue;
		if (!(x->cmd->opts & option_defs[k].bit))
			break;
		if (option_defs[k].has_arg) {
			if (eq)
				value = eq + 1;
			else if (*i + 1 < argc)
				value = argv[++*i];
			else
				return usage_error(x->cmd, "option '--%s' needs a value", a);
		} else if (eq) {
			return usage_error(x->cmd, "option '--%.*s' takes no value", (int)len, a);
		}
		x->opts |= option_defs[k].bit;
		if (option_defs[k].bit == OPT_MFA_CODE)
			x->mfa_code = value;
		return CMD_EXIT_OK;
	}
	return usage_error(x->cmd, "unknown option '--%.*s'", (int)len, a);
}

/* Parse the arguments after the command name. -1: help was asked for. */
static int parse(struct ctx *x, int argc, char **argv)
{
	const struct command *c = x->cmd;
	int only_pos = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int rc;

		if (c->run == run_exec && x->profile && (only_pos || a[0] != '-')) {
			x->exec_argv = &argv[i]; /* the rest belongs to the command */
			break;
		}
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
		} else if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			return -1;
		} else if (!only_pos && a[0] == '-' && a[1] == '-') {
			rc = parse_option(x, a + 2, argc, argv, &i);
			if (rc != CMD_EXIT_OK)
				return rc;
		} else if (!only_pos && a[0] == '-' && a[1]) {
			return usage_error(c, "unknown option '%s'", a);
		} else if (c->profile != PROFILE_NONE && !x->profile) {
			x->profile = a;
		} else {
			return usage_error(c, "unexpected argument '%s'", a);
		}
	}
	if (c->profile == PROFILE_REQUIRED && !x->profile)
		return usage_error(c, "missing PROFILE");
	if (x->profile && c->run != run_help && !name_valid(x->profile))
		return usage_error(c, "invalid profile name (1 to %d printable characters)",
		                   KR_NAME_MAX);
	if (c->run == run_forget && !x->profile == !(x->opts & OPT_ALL))
		return usage_error(c, "give either PROFILE or --all");
	if (x->mfa_code && !mfa_code_valid(x->mfa_code))
		return usage_error(c, "--mfa-code needs 1 to %d printable characters",
		                   KR_MFA_CODE_MAX);
	return CMD_EXIT_OK;
}

int cmd_main(int argc, char **argv)
{
	struct ctx x = {0};
	char sock[KR_PATH_MAX];
	int rc, r;

	buf_init(&x.out, KR_CLIENT_OUT_MAX);
	if (argc < 2) {
		fail(NULL, KR_ERR_INVAL, "missing COMMAND (see 'keyrole --help')");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		rc = print_text(&x, help_main);
		goto out;
	}
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = (char *)"version";
	x.cmd = find_command(argv[1]);
	if (!x.cmd) {
		rc = usage_error(NULL, "unknown command '%s'", argv[1]);
		goto out;
	}
	rc = parse(&x, argc - 2, argv + 2);
	if (rc == -1) {
		x.profile = NULL;
		rc = print_text(&x, x.cmd->help);
		goto out;
	}
	if (rc != CMD_EXIT_OK)
		goto out;
	r = sockpath_default(sock, sizeof(sock));
	if (r == KR_OK)
		r = conn_init(&x.conn, sock);
	if (r < 0) {
		rc = fail(&x, KR_ERR_INVAL, "%s", sockpath_why(r));
		goto out;
	}
	rc = x.cmd->run(&x);
out:
	buf_free(&x.out);
	return rc;
}
