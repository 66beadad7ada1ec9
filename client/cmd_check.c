/*
 * keyrole check: the daemon resolves the profiles (nothing is sent to AWS)
 * and reports each chain and every problem; this prints the report as
 * text, or the list of profile reports as JSON with --json.
 *
 * Invariants:
 * - Every text line is made by out_printf()/out_line(), which scrub control
 *   characters (out.h): a message, fix, file or ARN from the daemon cannot
 *   forge a line; --json prints the reports as JSON (json_print() escapes).
 * - The exit status is 1 when a profile has an error (a problem that is
 *   not a warning, or "ok": false), whatever the output format.
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h).
 */
#include "cmd_check.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "request.h"

#include <string.h>

static int check_step(struct cmd_ctx *x, const struct json *step, int first)
{
	const char *kind = request_str(step, "kind", "?");
	int r = out_printf(x, "%s", first ? "  chain: " : " -> ");

	if (r < 0)
		return r;
	if (strcmp(kind, "source") == 0) {
		const char *type = request_str(step, "type", "?");
		const char *akid = json_get_str(step, "access_key_id");

		if (strcmp(type, "environment") == 0)
			return out_printf(x, "environment keys");
		if (strcmp(type, "sso") == 0)
			return out_printf(x, "%s (sso %s/%s)", request_str(step, "profile", "?"),
			                  request_str(step, "account_id", "?"),
			                  request_str(step, "role_name", "?"));
		r = out_printf(x, "%s (%s", request_str(step, "profile", "?"), type);
		if (r == KR_OK && akid && *akid)
			r = out_printf(x, " %s", akid);
		/* web identity: its role; instance metadata, container: the endpoint */
		if (r == KR_OK && json_get_str(step, "role_arn"))
			r = out_printf(x, " %s", json_get_str(step, "role_arn"));
		if (r == KR_OK && json_get_str(step, "url"))
			r = out_printf(x, " %s", json_get_str(step, "url"));
		if (r == KR_OK)
			r = out_printf(x, ")");
		return r;
	}
	r = out_printf(x, "%s", request_str(step, "role_arn", "?"));
	if (r == KR_OK && json_get_str(step, "mfa_serial"))
		r = out_printf(x, " (MFA)");
	return r;
}

static int check_problem(struct cmd_ctx *x, const struct json *pb)
{
	const char *file = json_get_str(pb, "file");
	const char *fix = json_get_str(pb, "fix");
	long line = request_num(pb, "line", 0);
	int r = KR_OK;

	if (file && *file && line > 0)
		r = out_printf(x, "%s:%ld: ", file, line);
	else if (file && *file)
		r = out_printf(x, "%s: ", file);
	if (r == KR_OK)
		r = out_printf(x, "%s: %s", request_str(pb, "severity", "error"),
		               request_str(pb, "message", "?"));
	if (r == KR_OK && fix && *fix)
		r = out_printf(x, " (fix: %s)", fix);
	if (r == KR_OK)
		r = out_eol(x);
	return r;
}

/* The text report; *ret_errors counts profiles with an error problem. */
static int check_text(struct cmd_ctx *x, const struct json *profiles, int *ret_errors)
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
			r = out_line(x, "%s: %s", request_str(p, "name", "?"),
			             bad ? "ERROR" : "ok");
		json_for_each(it, steps)
		{
			if (r == KR_OK)
				r = check_step(x, it, first);
			first = 0;
		}
		if (r == KR_OK && !first)
			r = out_eol(x);
		if (r == KR_OK && json_get_str(p, "target"))
			r = out_line(x, "  tool profile of: %s", json_get_str(p, "target"));
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

int cmd_check_run(struct cmd_ctx *x)
{
	struct json *req, *reply = NULL;
	const struct json *profiles;
	int rc, r, errors = 0;

	req = request_new(x, "check", 1);
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	profiles = json_get(reply, "profiles");
	if (json_type(profiles) != JSON_ARRAY) {
		rc = out_fail(x, KR_ERR_PROTO, "keyroled's answer has no \"profiles\" list");
		goto out;
	}
	r = check_text(x, profiles, &errors);
	if (r == KR_OK && (x->opts & CMD_OPT_JSON)) {
		buf_reset(&x->out);
		rc = out_json(x, profiles);
	} else {
		rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
	}
	if (rc == CMD_EXIT_OK && errors > 0)
		rc = CMD_EXIT_ERROR;
out:
	json_free(req);
	json_free(reply);
	return rc;
}
