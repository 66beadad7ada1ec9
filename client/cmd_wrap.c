/*
 * keyrole wrap PROFILE [--as NAME] [--write] | --all [--write]: keyroled
 * plans the tool profiles (daemon/wrap.c: names, the name-taken check,
 * which profiles are chains); this prints them, or with --write appends
 * them to the config file keyroled names (the caller's AWS_CONFIG_FILE or
 * ~/.aws/config) through awsfile.c, atomically.
 *
 * Invariants:
 * - credential_process names this very program: /proc/self/exe.
 * - Text from keyroled is printed line by line through out.h's scrub.
 */
#include "cmd_wrap.h"

#include "awsfile.h"
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Print text (several lines) line by line. */
static int print_text(struct cmd_ctx *x, const char *text)
{
	int r = KR_OK;

	while (*text && r == KR_OK) {
		size_t len = strcspn(text, "\n");

		r = out_line(x, "%.*s", (int)len, text);
		text += len + (text[len] == '\n');
	}
	return r;
}

static int write_sections(struct cmd_ctx *x, const char *file, const struct json *sections)
{
	const struct json *s;
	struct buf all;
	char why[KR_PATH_MAX + 256];
	int r = KR_OK, rc;

	buf_init(&all, KR_CONFIG_FILE_MAX);
	json_for_each(s, sections)
	{
		if (r == KR_OK && all.len)
			r = buf_putc(&all, '\n');
		if (r == KR_OK)
			r = buf_puts(&all, request_str(s, "text", ""));
	}
	if (r == KR_OK)
		r = awsfile_edit(file, NULL, 0, all.data ? all.data : "", why, sizeof(why));
	buf_free(&all);
	if (r < 0)
		return out_fail(x, r, "nothing written: %s", why[0] ? why : err_str(r));
	json_for_each(s, sections)
	{
		if (r == KR_OK)
			r = out_line(x, "added profile %s (keyrole get %s) to %s",
			             request_str(s, "name", "?"), request_str(s, "target", "?"),
			             file);
	}
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
	return rc;
}

int cmd_wrap_run(struct cmd_ctx *x)
{
	struct json *req, *reply = NULL;
	const struct json *sections, *s;
	char self[KR_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *file;
	int rc, r = KR_OK, first = 1;

	if (n <= 0 || self[0] != '/')
		snprintf(self, sizeof(self), "keyrole");
	else
		self[n] = '\0';
	req = request_new(x, "wrap", 1);
	if (req && ((x->opts & CMD_OPT_ALL) && json_add_bool(req, "all", 1) < 0))
		r = KR_ERR_NOMEM;
	if (req && r == KR_OK && x->as && json_add_str(req, "as", x->as) < 0)
		r = KR_ERR_NOMEM;
	if (req && r == KR_OK && json_add_str(req, "keyrole", self) < 0)
		r = KR_ERR_NOMEM;
	rc = req && r == KR_OK ? request_call(x, req, &reply)
	                       : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	sections = json_get(reply, "sections");
	file = request_str(reply, "file", "");
	json_for_each(s, json_get(reply, "skipped")) out_warn(
	    x, "skipped %s: %s", request_str(s, "profile", "?"), request_str(s, "reason", "?"));
	if (json_count(sections) == 0) {
		r = out_line(x, "every chain profile has a tool profile already");
		rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
		goto out;
	}
	if (x->opts & CMD_OPT_WRITE) {
		rc = write_sections(x, file, sections);
		goto out;
	}
	json_for_each(s, sections)
	{
		if (r == KR_OK && !first)
			r = out_line(x, "%s", "");
		if (r == KR_OK)
			r = print_text(x, request_str(s, "text", ""));
		first = 0;
	}
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}
