/*
 * keyrole get, env and exec: the credentials of one profile, from one
 * "get" request (request_get_creds()), printed or put in an environment.
 *
 * Invariants:
 * - Credentials live only in the reply's JSON tree, the output JSON tree
 *   and x->out, all of which wipe themselves when freed; exec hands them to
 *   the command through the environment and frees the reply before execvp().
 * - get prints the credential_process JSON object and nothing else; env
 *   prints only "export NAME='value'" and "unset NAME" lines, every value
 *   single-quoted by shellquote_append() (safe for eval whatever it holds),
 *   or their equivalents in the --format asked for, quoted for that shell
 *   (fish, PowerShell); dotenv values are never quoted, so a value outside
 *   a safe set of characters is refused rather than written.
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h).
 */
#include "cmd_creds.h"

#include "buf.h"
#include "conn.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "request.h"
#include "shellquote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cmd_creds_get(struct cmd_ctx *x)
{
	static const char *const keys[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
	                                   "Expiration", "AccountId"};
	struct json *reply = NULL, *o = NULL;
	int rc, r;

	rc = request_get_creds(x, &reply);
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
		rc = out_fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = out_emit(x);
out:
	json_free(o); /* held the credentials: json_free() wipes */
	json_free(reply);
	return rc;
}

/*
 * The variables `env` and `exec` set, from a "get" reply: NULL value = unset.
 * Every variable that could hold credentials or a region from an earlier
 * `eval "$(keyrole env ...)"` is either set or unset, never left alone.
 */
struct var {
	const char *name;
	const char *value;
};

#define VARS_MAX 7

static size_t reply_vars(const struct cmd_ctx *x, const struct json *reply,
                         struct var vars[VARS_MAX])
{
	const char *region = x->region ? x->region : json_get_str(reply, "region");
	size_t n = 0;

	vars[n++] = (struct var){"AWS_ACCESS_KEY_ID", json_get_str(reply, "AccessKeyId")};
	vars[n++] = (struct var){"AWS_SECRET_ACCESS_KEY", json_get_str(reply, "SecretAccessKey")};
	/* Absent members are unset, so no stale token or expiry stays around. */
	vars[n++] = (struct var){"AWS_SESSION_TOKEN", json_get_str(reply, "SessionToken")};
	/*
	 * The token's old name: botocore (1.43) reads it before
	 * AWS_SESSION_TOKEN, so a stale one would be paired with these keys.
	 * Always unset; the token is exported as AWS_SESSION_TOKEN alone.
	 */
	vars[n++] = (struct var){"AWS_SECURITY_TOKEN", NULL};
	vars[n++] = (struct var){"AWS_CREDENTIAL_EXPIRATION", json_get_str(reply, "Expiration")};
	/* A profile without a region leaves none behind either. */
	vars[n++] = (struct var){"AWS_REGION", region};
	vars[n++] = (struct var){"AWS_DEFAULT_REGION", region};
	return n;
}

/* One variable set (value) or unset (NULL) in a shell's format. */
static int put_var(struct buf *out, int format, const char *name, const char *value)
{
	int r;

	switch (format) {
	case CMD_FORMAT_FISH:
		if (!value)
			return buf_printf(out, "set -e %s;\n", name);
		r = buf_printf(out, "set -gx %s ", name);
		if (r == KR_OK)
			r = shellquote_append_fish(out, value);
		return r == KR_OK ? buf_puts(out, ";\n") : r;
	case CMD_FORMAT_PWSH:
		if (!value)
			return buf_printf(out, "Remove-Item -ErrorAction SilentlyContinue Env:%s\n",
			                  name);
		r = buf_printf(out, "$Env:%s = ", name);
		if (r == KR_OK)
			r = shellquote_append_pwsh(out, value);
		return r == KR_OK ? buf_putc(out, '\n') : r;
	case CMD_FORMAT_DOTENV:
		/* A .env file cannot unset; its values are taken literally by some readers
		 * (docker --env-file) and unquoted by others: only plain ones are written. */
		if (!value)
			return KR_OK;
		if (value[strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                        "0123456789+/=._:-")] != '\0')
			return KR_ERR_INVAL;
		return buf_printf(out, "%s=%s\n", name, value);
	default:
		if (!value)
			return buf_printf(out, "unset %s\n", name);
		r = buf_printf(out, "export %s=", name);
		if (r == KR_OK)
			r = shellquote_append(out, value);
		return r == KR_OK ? buf_putc(out, '\n') : r;
	}
}

/* --format json: one object of the variables that are set. */
static int put_json(struct buf *out, const struct var *vars, size_t n)
{
	struct json *o = json_new_object();
	int r = o ? KR_OK : KR_ERR_NOMEM;

	for (size_t i = 0; r == KR_OK && i < n; i++)
		if (vars[i].value && *vars[i].value)
			r = json_add_str(o, vars[i].name, vars[i].value);
	if (r == KR_OK)
		r = json_print(o, JSON_PRETTY, out);
	if (r == KR_OK)
		r = buf_putc(out, '\n');
	json_free(o); /* held the credentials: json_free() wipes */
	return r;
}

int cmd_creds_env(struct cmd_ctx *x)
{
	static const char *const profile_vars[] = {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"};
	struct var vars[VARS_MAX];
	struct json *reply = NULL;
	size_t n;
	int rc, r = KR_OK;

	rc = request_get_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	n = reply_vars(x, reply, vars);
	if (x->format == CMD_FORMAT_JSON)
		r = put_json(&x->out, vars, n);
	for (size_t i = 0; x->format != CMD_FORMAT_JSON && r == KR_OK && i < n; i++)
		r = put_var(&x->out, x->format, vars[i].name,
		            vars[i].value && *vars[i].value ? vars[i].value : NULL);
	/* A profile in the environment would make the SDK resolve it again. */
	if (r == KR_OK && x->format == CMD_FORMAT_SH)
		r = buf_puts(&x->out, "unset AWS_PROFILE AWS_DEFAULT_PROFILE\n");
	for (size_t i = 0; x->format != CMD_FORMAT_SH && x->format != CMD_FORMAT_JSON &&
	                   r == KR_OK && i < sizeof(profile_vars) / sizeof(profile_vars[0]);
	     i++)
		r = put_var(&x->out, x->format, profile_vars[i], NULL);
	if (r == KR_ERR_INVAL) {
		rc = out_fail(x, KR_ERR_INVAL,
		              "a value holds characters a dotenv file cannot carry unquoted; use "
		              "another --format");
		goto out;
	}
	if (r < 0) {
		rc = out_fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = out_emit(x);
out:
	json_free(reply);
	return rc;
}

/*
 * exec --server: the child reads the credentials endpoint, not keys. Every
 * variable an SDK would prefer to the endpoint is removed (keys, a
 * profile, the relative URI and a token file), the URL and the token set.
 */
static int server_env(const struct cmd_ctx *x, const struct json *reply)
{
	static const char *const drop[] = {"AWS_ACCESS_KEY_ID",
	                                   "AWS_SECRET_ACCESS_KEY",
	                                   "AWS_SESSION_TOKEN",
	                                   "AWS_SECURITY_TOKEN",
	                                   "AWS_CREDENTIAL_EXPIRATION",
	                                   "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"};
	const char *region = x->region ? x->region : json_get_str(reply, "region");

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (unsetenv(drop[i]) < 0)
			return -1;
	if (setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", json_get_str(reply, "url"), 1) < 0 ||
	    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", json_get_str(reply, "token"), 1) < 0)
		return -1;
	/* The region as plain exec sets it. */
	if (region && *region)
		return setenv("AWS_REGION", region, 1) < 0 ||
		               setenv("AWS_DEFAULT_REGION", region, 1) < 0
		           ? -1
		           : 0;
	return unsetenv("AWS_REGION") < 0 || unsetenv("AWS_DEFAULT_REGION") < 0 ? -1 : 0;
}

static volatile sig_atomic_t child_pid;

/*
 * A signal sent to keyrole goes on to the command. One the terminal sent
 * (SI_KERNEL: ^C, ^\\, a hang-up) reached the command's process group
 * already, and is not sent twice.
 */
static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
	if (child_pid > 0 && !(si && si->si_code == SI_KERNEL))
		kill((pid_t)child_pid, sig);
}

/* Report why argv[0] could not run; the status a shell would give. */
static int exec_failed(char **argv, int e)
{
	/* Like a shell: 127 when the command is missing, 126 when it cannot run. */
	if (e == ENOENT) {
		out_fail(NULL, KR_ERR_INVAL, "%s: command not found", argv[0]);
		return CMD_EXIT_NOTFOUND;
	}
	out_fail(NULL, KR_ERR_INVAL, "%s: %s", argv[0], strerror(e));
	return CMD_EXIT_NOEXEC;
}

/*
 * Run argv as a child while x->conn stays open (its token lives as long as
 * the connection): signals are forwarded, the status is the child's.
 */
static int run_served(struct cmd_ctx *x, char **argv)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO};
	int status = 0, err_pipe[2];
	ssize_t n;
	int e = 0;
	pid_t pid;

	/* The child tells why its exec failed through a pipe closed on exec. */
	if (pipe2(err_pipe, O_CLOEXEC) < 0)
		return out_fail(x, KR_ERR_IO, "cannot start %s: %s", argv[0], strerror(errno));
	sigemptyset(&sa.sa_mask);
	pid = fork();
	if (pid < 0) {
		close(err_pipe[0]);
		close(err_pipe[1]);
		return out_fail(x, KR_ERR_IO, "cannot start %s: %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		close(err_pipe[0]);
		signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored across exec */
		execvp(argv[0], argv);
		e = errno;
		(void)!write(err_pipe[1], &e, sizeof(e));
		_exit(e == ENOENT ? CMD_EXIT_NOTFOUND : CMD_EXIT_NOEXEC);
	}
	close(err_pipe[1]);
	child_pid = pid;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	do
		n = read(err_pipe[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(err_pipe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return out_fail(x, KR_ERR_IO, "waiting for %s: %s", argv[0],
			                strerror(errno));
	conn_close(&x->conn); /* the token dies with the command */
	if (n == (ssize_t)sizeof(e))
		return exec_failed(argv, e);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int cmd_creds_exec(struct cmd_ctx *x)
{
	char *shell_argv[2] = {NULL, NULL};
	const char *nested = getenv("KEYROLE_PROFILE");
	char **argv = x->exec_argv;
	struct var vars[VARS_MAX];
	struct json *reply = NULL;
	size_t n;
	int rc, e;

	if (nested && *nested && !(x->opts & CMD_OPT_FORCE)) {
		rc = out_fail(x, KR_ERR_INVAL,
		              "already inside 'keyrole exec %s' (KEYROLE_PROFILE is set): nesting "
		              "would mix credentials; leave that shell first or pass --force",
		              nested);
		goto out;
	}
	if ((x->opts & CMD_OPT_SERVER) && (x->opts & CMD_OPT_NO_SERVER)) {
		rc = out_fail(x, KR_ERR_INVAL, "--server and --no-server: choose one");
		goto out;
	}
	if (!argv || !argv[0]) {
		const char *sh = getenv("SHELL");

		shell_argv[0] = (char *)(sh && *sh == '/' ? sh : "/bin/sh");
		argv = shell_argv;
	}
	rc = request_exec_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (json_get_str(reply, "url")) {
		if (server_env(x, reply) < 0 || unsetenv("AWS_PROFILE") < 0 ||
		    unsetenv("AWS_DEFAULT_PROFILE") < 0 ||
		    setenv("KEYROLE_PROFILE", x->profile, 1) < 0) {
			rc = out_fail(x, KR_ERR_NOMEM, "cannot set the environment: %s",
			              strerror(errno));
			goto out;
		}
		json_free(reply); /* the environment holds the token the command needs */
		reply = NULL;
		rc = run_served(x, argv);
		goto out;
	}
	n = reply_vars(x, reply, vars);
	for (size_t i = 0; i < n; i++) {
		int r = vars[i].value && *vars[i].value ? setenv(vars[i].name, vars[i].value, 1)
		                                        : unsetenv(vars[i].name);
		if (r < 0) {
			rc = out_fail(x, KR_ERR_NOMEM, "cannot set %s: %s", vars[i].name,
			              strerror(errno));
			goto out;
		}
	}
	if (unsetenv("AWS_PROFILE") < 0 || unsetenv("AWS_DEFAULT_PROFILE") < 0 ||
	    setenv("KEYROLE_PROFILE", x->profile, 1) < 0) {
		rc = out_fail(x, KR_ERR_NOMEM, "cannot set the environment: %s", strerror(errno));
		goto out;
	}
	json_free(reply); /* the environment holds the copies the command needs */
	reply = NULL;
	signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored across exec */
	execvp(argv[0], argv);
	e = errno;
	signal(SIGPIPE, SIG_IGN);
	rc = exec_failed(argv, e);
out:
	conn_close(&x->conn);
	json_free(reply);
	return rc;
}
