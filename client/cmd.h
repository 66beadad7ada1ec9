/*
 * The keyrole command line: parse arguments, run one subcommand, return the
 * exit status. main() only prepares the process and calls cmd_main().
 *
 * Exit status (also in `keyrole --help`; the man page copies it):
 *   0    success
 *   1    any other error; `check` found an error; nested `exec` refused
 *   2    usage error (unknown command or option, bad argument)
 *   3    keyroled not reachable (not running and autostart off or failed)
 *   4    profile or configuration error (noprofile, config, nocreds,
 *        unsupported)
 *   5    AWS refused the request (aws)
 *   6    an MFA code was needed and none could be obtained
 *   7    STS unreachable, timed out, or its certificate not trusted
 *        (network, timeout, tls)
 *   8    an IAM Identity Center login is needed and none could be made here
 *        (login)
 *   126  exec: the command could not be run
 *   127  exec: the command was not found
 * `version` exits 3 after printing its own version when no daemon answers.
 *
 * Output contract: stdout is written completely or the status is non-zero
 * (a write error such as EPIPE is a failure); on failure stdout is empty
 * and stderr has exactly one line "keyrole: PROFILE: MESSAGE" (no profile
 * part for commands without one).
 * Text from the daemon is printed without its control characters (out.h).
 */
#ifndef KR_CMD_H
#define KR_CMD_H

#include "buf.h"
#include "conn.h"

enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_ERROR = 1,
	CMD_EXIT_USAGE = 2,
	CMD_EXIT_NODAEMON = 3,
	CMD_EXIT_CONFIG = 4,
	CMD_EXIT_AWS = 5,
	CMD_EXIT_MFA = 6,
	CMD_EXIT_NETWORK = 7,
	CMD_EXIT_LOGIN = 8,
	CMD_EXIT_NOEXEC = 126,
	CMD_EXIT_NOTFOUND = 127,
};

/* The options a command may accept (struct cmd_ctx.opts). */
enum {
	CMD_OPT_MFA_CODE = 1 << 0,
	CMD_OPT_NO_AUTOSTART = 1 << 1,
	CMD_OPT_FORCE = 1 << 2,
	CMD_OPT_ALL = 1 << 3,
	CMD_OPT_VERIFY = 1 << 4,
	CMD_OPT_JSON = 1 << 5,
	CMD_OPT_PROFILE = 1 << 6,     /* --profile PROFILE: login, logout, sso profiles */
	CMD_OPT_NO_BROWSER = 1 << 7,  /* login */
	CMD_OPT_PRINT = 1 << 8,       /* console */
	CMD_OPT_DESTINATION = 1 << 9, /* console --destination URL */
	CMD_OPT_DURATION = 1 << 10,   /* console --duration SECONDS */
	CMD_OPT_SERVER = 1 << 11,     /* exec --server: the credentials endpoint */
	CMD_OPT_NO_SERVER = 1 << 12,  /* exec --no-server: keys, whatever keyroled's default */
	CMD_OPT_REGION = 1 << 13,     /* env, exec --region REGION */
	CMD_OPT_FORMAT = 1 << 14,     /* env --format sh|fish|powershell|json|dotenv */
	CMD_OPT_AS = 1 << 15,         /* wrap --as NAME: the tool profile's name */
	CMD_OPT_WRITE = 1 << 16,      /* wrap --write: add the section to the config file */
	CMD_OPT_MOVE = 1 << 17,       /* add --move: the keys come from the files, and leave them */
};

/* keyrole env --format. */
enum { CMD_FORMAT_SH = 0, CMD_FORMAT_FISH, CMD_FORMAT_PWSH, CMD_FORMAT_JSON, CMD_FORMAT_DOTENV };

struct cmd_def; /* one entry of the command table (cmd.c) */

/*
 * One run of keyrole, as the parsed command line leaves it for the command
 * (cmd_creds.c, cmd_status.c, cmd_add.c, cmd_check.c, cmd_sso.c, cmd_console.c). cmd_main() owns
 * it; the strings point into argv.
 */
struct cmd_ctx {
	const struct cmd_def *cmd;
	const char *profile;     /* NULL for commands without one; login's --profile */
	const char *session;     /* login, logout, sso profiles: SESSION (NULL with --profile) */
	const char *mfa_code;    /* --mfa-code, already checked by valid_mfa_code() */
	unsigned opts;           /* CMD_OPT_* given */
	const char *destination; /* console --destination */
	long duration;           /* console --duration, checked; 0 when not given */
	const char *region;      /* env, exec --region, checked by valid_region() */
	int format;              /* env --format: CMD_FORMAT_* */
	const char *as;          /* wrap --as */
	char **exec_argv;        /* exec: the command, NULL-terminated (argv's tail) */
	struct conn conn;
	struct buf out; /* everything for stdout, written at the end (out_emit()) */
};

/* Run keyrole with argv; returns the exit status. */
int cmd_main(int argc, char **argv);

/* The exit status for a KR_ERR_* code (from the daemon or local). */
int cmd_exit_code(int err);

/*
 * The profile `keyrole login`, `logout` and `sso profiles` use when given
 * neither SESSION nor --profile: botocore's (and so `aws sso login`'s) --
 * AWS_DEFAULT_PROFILE, else AWS_PROFILE, else "default" (an empty variable
 * counts as unset).
 */
const char *cmd_default_profile(void);

#endif
