/*
 * The keyrole command line: the command table, argument parsing, help, and
 * the exit status of each error class. The commands themselves are in
 * cmd_creds.c (get, env, exec), cmd_status.c (status, forget, remove,
 * version), cmd_add.c, cmd_check.c, cmd_sso.c (login, logout, sso
 * profiles) and cmd_console.c; requests in request.c; output in out.c; help texts in help.c.
 *
 * Invariants:
 * - Every argument is checked before anything is sent: a usage error
 *   (exit 2) sends no request. Profile names and MFA codes are checked by
 *   common/valid.c, as the daemon checks them.
 * - One command runs per process, with one struct cmd_ctx; its stdout
 *   buffer is freed (wiped) here whatever the command did.
 * - Failures print exactly one stderr line (out.h).
 */
#include "cmd.h"

#include "buf.h"
#include "caps.h"
#include "cmd_add.h"
#include "cmd_check.h"
#include "cmd_console.h"
#include "cmd_creds.h"
#include "cmd_sso.h"
#include "cmd_status.h"
#include "cmd_wrap.h"
#include "conn.h"
#include "err.h"
#include "help.h"
#include "out.h"
#include "sockpath.h"
#include "valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned bit;
	int has_arg;
} option_defs[] = {
    {"mfa-code", CMD_OPT_MFA_CODE, 1},   {"no-autostart", CMD_OPT_NO_AUTOSTART, 0},
    {"force", CMD_OPT_FORCE, 0},         {"all", CMD_OPT_ALL, 0},
    {"verify", CMD_OPT_VERIFY, 0},       {"json", CMD_OPT_JSON, 0},
    {"profile", CMD_OPT_PROFILE, 1},     {"no-browser", CMD_OPT_NO_BROWSER, 0},
    {"print", CMD_OPT_PRINT, 0},         {"destination", CMD_OPT_DESTINATION, 1},
    {"duration", CMD_OPT_DURATION, 1},   {"server", CMD_OPT_SERVER, 0},
    {"no-server", CMD_OPT_NO_SERVER, 0}, {"region", CMD_OPT_REGION, 1},
    {"format", CMD_OPT_FORMAT, 1},       {"as", CMD_OPT_AS, 1},
    {"write", CMD_OPT_WRITE, 0},         {"move", CMD_OPT_MOVE, 0},
};

/*
 * What a command's words other than options are: a PROFILE (required or
 * optional), or [SESSION] with --profile as the other way to name it
 * (login, logout), or the word "profiles" and then [SESSION] (sso).
 */
enum { PROFILE_NONE, PROFILE_REQUIRED, PROFILE_OPTIONAL, SESSION_OPTIONAL, SSO_SUBCOMMAND };

struct cmd_def {
	const char *name;
	unsigned opts;
	int profile;
	int (*run)(struct cmd_ctx *x);
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
	case KR_ERR_LOGIN:
		return CMD_EXIT_LOGIN;
	default:
		return CMD_EXIT_ERROR;
	}
}

const char *cmd_default_profile(void)
{
	const char *p = getenv("AWS_DEFAULT_PROFILE");

	if (!p || !*p)
		p = getenv("AWS_PROFILE");
	return p && *p ? p : "default";
}

/* Stop after an error on one stderr line pointing at the help. */
static int usage_error(const struct cmd_def *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const struct cmd_def *c, const char *fmt, ...)
{
	char prefix[64] = "", msg[KR_CLIENT_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c)
		snprintf(prefix, sizeof(prefix), "%s: ", c->name);
	out_fail(NULL, KR_ERR_INVAL, "%s%s (see 'keyrole %s%s--help')", prefix, msg,
	         c ? c->name : "", c ? " " : "");
	return CMD_EXIT_USAGE;
}

static int run_help(struct cmd_ctx *x);

static const struct cmd_def commands[] = {
    {"get", CMD_OPT_MFA_CODE | CMD_OPT_NO_AUTOSTART, PROFILE_REQUIRED, cmd_creds_get, help_get},
    {"env", CMD_OPT_MFA_CODE | CMD_OPT_NO_AUTOSTART | CMD_OPT_REGION | CMD_OPT_FORMAT,
     PROFILE_REQUIRED, cmd_creds_env, help_env},
    {"exec",
     CMD_OPT_MFA_CODE | CMD_OPT_NO_AUTOSTART | CMD_OPT_FORCE | CMD_OPT_SERVER | CMD_OPT_NO_SERVER |
         CMD_OPT_REGION,
     PROFILE_REQUIRED, cmd_creds_exec, help_exec},
    {"status", CMD_OPT_JSON | CMD_OPT_NO_AUTOSTART, PROFILE_OPTIONAL, cmd_status_show, help_status},
    {"forget", CMD_OPT_ALL | CMD_OPT_NO_AUTOSTART, PROFILE_OPTIONAL, cmd_status_forget,
     help_forget},
    {"add", CMD_OPT_VERIFY | CMD_OPT_MOVE | CMD_OPT_NO_AUTOSTART, PROFILE_REQUIRED, cmd_add_run,
     help_add},
    {"wrap", CMD_OPT_AS | CMD_OPT_WRITE | CMD_OPT_ALL | CMD_OPT_NO_AUTOSTART, PROFILE_OPTIONAL,
     cmd_wrap_run, help_wrap},
    {"remove", CMD_OPT_NO_AUTOSTART, PROFILE_REQUIRED, cmd_status_remove, help_remove},
    {"check", CMD_OPT_JSON | CMD_OPT_NO_AUTOSTART, PROFILE_OPTIONAL, cmd_check_run, help_check},
    {"login", CMD_OPT_PROFILE | CMD_OPT_FORCE | CMD_OPT_NO_BROWSER | CMD_OPT_NO_AUTOSTART,
     SESSION_OPTIONAL, cmd_sso_login, help_login},
    {"logout", CMD_OPT_PROFILE | CMD_OPT_NO_AUTOSTART, SESSION_OPTIONAL, cmd_sso_logout,
     help_logout},
    {"sso", CMD_OPT_PROFILE | CMD_OPT_NO_AUTOSTART, SSO_SUBCOMMAND, cmd_sso_profiles, help_sso},
    {"console",
     CMD_OPT_PRINT | CMD_OPT_DESTINATION | CMD_OPT_DURATION | CMD_OPT_MFA_CODE |
         CMD_OPT_NO_AUTOSTART,
     PROFILE_REQUIRED, cmd_console_run, help_console},
    {"version", 0, PROFILE_NONE, cmd_status_version, help_version},
    /* help's PROFILE slot carries the command name. */
    {"help", 0, PROFILE_OPTIONAL, run_help, help_help},
};

static const struct cmd_def *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int print_text(struct cmd_ctx *x, const char *text)
{
	if (buf_puts(&x->out, text) < 0)
		return out_fail(NULL, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	return out_emit(x);
}

static int run_help(struct cmd_ctx *x)
{
	const struct cmd_def *c;

	if (!x->profile)
		return print_text(x, help_main);
	c = find_command(x->profile);
	if (!c)
		return usage_error(NULL, "unknown command '%s'", x->profile);
	x->profile = NULL;
	return print_text(x, c->help);
}

/* --duration SECONDS: a whole number of seconds of the console session. */
static int parse_duration(struct cmd_ctx *x, const char *v)
{
	long n = 0;

	for (const char *p = v; *p && n <= KR_CONSOLE_DURATION_MAX; p++)
		n = *p >= '0' && *p <= '9' ? n * 10 + (*p - '0') : KR_CONSOLE_DURATION_MAX + 1;
	if (!*v || n < KR_CONSOLE_DURATION_MIN || n > KR_CONSOLE_DURATION_MAX)
		return usage_error(x->cmd, "--duration needs %d to %d seconds",
		                   KR_CONSOLE_DURATION_MIN, KR_CONSOLE_DURATION_MAX);
	x->duration = n;
	return CMD_EXIT_OK;
}

/* --format NAME of keyrole env. */
static int parse_format(struct cmd_ctx *x, const char *v)
{
	static const char *const names[] = {"sh", "fish", "powershell", "json", "dotenv"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0) {
			x->format = (int)i; /* the order of CMD_FORMAT_* */
			return CMD_EXIT_OK;
		}
	return usage_error(x->cmd, "--format needs sh, fish, powershell, json or dotenv");
}

/* An option argument a (without "--"); *i advances past a separate value. */
static int parse_option(struct cmd_ctx *x, const char *a, int argc, char **argv, int *i)
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
		if (option_defs[k].bit == CMD_OPT_MFA_CODE)
			x->mfa_code = value;
		if (option_defs[k].bit == CMD_OPT_PROFILE)
			x->profile = value;
		if (option_defs[k].bit == CMD_OPT_DESTINATION)
			x->destination = value;
		if (option_defs[k].bit == CMD_OPT_REGION)
			x->region = value;
		if (option_defs[k].bit == CMD_OPT_AS)
			x->as = value;
		if (option_defs[k].bit == CMD_OPT_DURATION)
			return parse_duration(x, value);
		if (option_defs[k].bit == CMD_OPT_FORMAT)
			return parse_format(x, value);
		return CMD_EXIT_OK;
	}
	return usage_error(x->cmd, "unknown option '--%.*s'", (int)len, a);
}

/* Parse the arguments after the command name. -1: help was asked for. */
static int parse(struct cmd_ctx *x, int argc, char **argv)
{
	const struct cmd_def *c = x->cmd;
	int only_pos = 0, sub = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int rc;

		if (c->run == cmd_creds_exec && x->profile && (only_pos || a[0] != '-')) {
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
		} else if (c->profile == SSO_SUBCOMMAND && !sub) {
			if (strcmp(a, "profiles") != 0)
				return usage_error(
				    c, "unknown sso command '%s' (there is 'profiles')", a);
			sub = 1;
		} else if ((c->profile == SESSION_OPTIONAL || c->profile == SSO_SUBCOMMAND) &&
		           !x->session) {
			x->session = a;
		} else if ((c->profile == PROFILE_REQUIRED || c->profile == PROFILE_OPTIONAL) &&
		           !x->profile) {
			x->profile = a;
		} else {
			return usage_error(c, "unexpected argument '%s'", a);
		}
	}
	if (c->profile == PROFILE_REQUIRED && !x->profile)
		return usage_error(c, "missing PROFILE");
	if (c->profile == SSO_SUBCOMMAND && !sub)
		return usage_error(c, "missing 'profiles'");
	if (x->session && x->profile)
		return usage_error(c, "give SESSION or --profile PROFILE, not both");
	if (x->session && !valid_profile_name(x->session))
		return usage_error(c, "invalid session name (1 to %d printable characters)",
		                   KR_NAME_MAX);
	/* Neither: the profile the AWS CLI would use ('aws sso login'). */
	if ((c->profile == SESSION_OPTIONAL || c->profile == SSO_SUBCOMMAND) && !x->session &&
	    !x->profile)
		x->profile = cmd_default_profile();
	if (x->profile && c->run != run_help && !valid_profile_name(x->profile))
		return usage_error(c, "invalid profile name (1 to %d printable characters)",
		                   KR_NAME_MAX);
	if ((c->run == cmd_status_forget || c->run == cmd_wrap_run) &&
	    !x->profile == !(x->opts & CMD_OPT_ALL))
		return usage_error(c, "give either PROFILE or --all");
	if (x->as && (x->opts & CMD_OPT_ALL))
		return usage_error(c, "--as names one tool profile: not with --all");
	if (x->as && !valid_profile_name(x->as))
		return usage_error(c, "invalid --as name (1 to %d printable characters)",
		                   KR_NAME_MAX);
	if (x->destination && strncmp(x->destination, "https://", 8) != 0 &&
	    strncmp(x->destination, "http://", 7) != 0)
		return usage_error(c, "--destination needs an http:// or https:// URL");
	if (x->region && !valid_region(x->region))
		return usage_error(c, "--region needs a region name (e.g. eu-west-1)");
	if (x->mfa_code && !valid_mfa_code(x->mfa_code))
		return usage_error(c, "--mfa-code needs exactly %d digits", KR_MFA_CODE_LEN);
	return CMD_EXIT_OK;
}

int cmd_main(int argc, char **argv)
{
	struct cmd_ctx x = {0};
	char sock[KR_PATH_MAX];
	int rc, r;

	buf_init(&x.out, KR_CLIENT_OUT_MAX);
	if (argc < 2) {
		out_fail(NULL, KR_ERR_INVAL, "missing COMMAND (see 'keyrole --help')");
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
		rc = out_fail(&x, KR_ERR_INVAL, "%s", sockpath_why(r));
		goto out;
	}
	rc = x.cmd->run(&x);
out:
	buf_free(&x.out);
	return rc;
}
