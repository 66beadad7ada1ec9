/*
 * keyrole login, logout and sso profiles. Each names one IAM Identity
 * Center session: SESSION (an [sso-session] name), or --profile PROFILE (the
 * session of that profile), or, with neither, the profile the AWS CLI would
 * use (cmd_default_profile()).
 *
 * Invariants:
 * - No token reaches the client: keyroled keeps it. login shows the
 *   verification URL and the user code (not secret) on the terminal, or on
 *   stderr without one; stdout gets only the final line.
 * - Every text line is made by out_line()/out_printf()/out_notice(), which
 *   scrub control characters (out.h).
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h).
 */
#include "cmd_sso.h"

#include "err.h"
#include "json.h"
#include "login.h"
#include "out.h"
#include "request.h"
#include "sso.h"
#include "tty.h"

#include <stdio.h>
#include <unistd.h>

static struct login_req named(const struct cmd_ctx *x)
{
	return (struct login_req){.session = x->session, .profile = x->session ? NULL : x->profile};
}

int cmd_sso_login(struct cmd_ctx *x)
{
	struct login_req rq = named(x);
	struct login_result res;
	char line[KR_CLIENT_LINE_MAX];
	int fd = -1, rc;

	rq.force = (x->opts & CMD_OPT_FORCE) != 0;
	rq.no_browser = (x->opts & CMD_OPT_NO_BROWSER) != 0;
	/* The URL and the code go where the user looks: the terminal, else stderr. */
	if (tty_open(&fd) < 0)
		fd = -1;
	rc = login_run(x, &rq, fd >= 0 ? fd : 2, &res);
	if (fd >= 0)
		close(fd);
	if (rc != CMD_EXIT_OK)
		return rc;
	login_done_text(&res, line, sizeof(line));
	if (out_line(x, "%s", line) < 0)
		return out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	return out_emit(x);
}

int cmd_sso_logout(struct cmd_ctx *x)
{
	struct login_req rq = named(x);
	struct json *req, *reply = NULL;
	long removed;
	int rc, r;

	req = login_request_new(x, "logout", &rq, 1);
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	removed = request_num(reply, "removed", 0);
	if (x->session)
		r = out_line(x, "logged out of %s (%ld item%s removed)", x->session, removed,
		             removed == 1 ? "" : "s");
	else
		r = out_line(x, "logged out of the session of profile %s (%ld item%s removed)",
		             x->profile, removed, removed == 1 ? "" : "s");
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

int cmd_sso_profiles(struct cmd_ctx *x)
{
	struct login_req rq = named(x);
	struct json *req, *reply = NULL;
	char exe[KR_PATH_MAX + 1];
	ssize_t n;
	int rc, r;

	/* credential_process runs with the SDK's PATH: name this keyrole absolutely. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || exe[0] != '/')
		snprintf(exe, sizeof(exe), "keyrole");
	else
		exe[n] = '\0';
	req = login_request_new(x, "sso_profiles", &rq, 1);
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	r = sso_sections(x, reply, exe);
	if (r == KR_ERR_PROTO)
		rc = out_fail(x, r, "keyroled's answer has no \"accounts\" list");
	else
		rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}
