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
 *   single-quoted by shellquote_append() (safe for eval whatever it holds).
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h).
 */
#include "cmd_creds.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "request.h"
#include "shellquote.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

static size_t reply_vars(const struct json *reply, struct var vars[VARS_MAX])
{
	const char *region = json_get_str(reply, "region");
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

int cmd_creds_env(struct cmd_ctx *x)
{
	struct var vars[VARS_MAX];
	struct json *reply = NULL;
	size_t n;
	int rc, r = KR_OK;

	rc = request_get_creds(x, &reply);
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
		rc = out_fail(x, r, "%s", err_str(r));
		goto out;
	}
	rc = out_emit(x);
out:
	json_free(reply);
	return rc;
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
	if (!argv || !argv[0]) {
		const char *sh = getenv("SHELL");

		shell_argv[0] = (char *)(sh && *sh == '/' ? sh : "/bin/sh");
		argv = shell_argv;
	}
	rc = request_get_creds(x, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	n = reply_vars(reply, vars);
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
	/* Like a shell: 127 when the command is missing, 126 when it cannot run. */
	if (e == ENOENT) {
		out_fail(NULL, KR_ERR_INVAL, "%s: command not found", argv[0]);
		rc = CMD_EXIT_NOTFOUND;
	} else {
		out_fail(NULL, KR_ERR_INVAL, "%s: %s", argv[0], strerror(e));
		rc = CMD_EXIT_NOEXEC;
	}
out:
	json_free(reply);
	return rc;
}
