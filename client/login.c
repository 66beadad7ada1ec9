/*
 * The client's half of an IAM Identity Center login: "login", the URL and
 * code shown, the browser, "login_wait". The contract is in login.h.
 */
#include "login.h"

#include "browser.h"
#include "err.h"
#include "json.h"
#include "out.h"
#include "proto.h"
#include "request.h"
#include "shellquote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json *login_request_new(const struct cmd_ctx *x, const char *op, const struct login_req *rq,
                               int with_env)
{
	struct json *req = request_new(x, op, with_env);
	int r = req ? KR_OK : KR_ERR_NOMEM;

	if (req)
		json_remove(req, "profile");
	if (r == KR_OK && rq && rq->session)
		r = json_add_str(req, "session", rq->session);
	else if (r == KR_OK && rq && rq->profile)
		r = json_add_str(req, "profile", rq->profile);
	if (r == KR_OK && rq && rq->force)
		r = json_add_bool(req, "force", 1);
	if (r < 0) {
		json_free(req);
		req = NULL;
	}
	return req;
}

static void copy_str(char *out, size_t n, const char *s)
{
	snprintf(out, n, "%s", s ? s : "");
}

static void fmt_secs(char *out, size_t n, long s)
{
	if (s >= 3600)
		snprintf(out, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
	else if (s >= 60)
		snprintf(out, n, "%ldm", s / 60);
	else
		snprintf(out, n, "%lds", s);
}

/* Open url unless told not to; say on fd what happened. */
static void open_browser(const struct login_req *rq, int fd, const char *url)
{
	const char *browser = getenv("BROWSER");
	const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
	char **argv = NULL;
	int r, e = 0;

	if (rq->no_browser)
		return;
	r = browser_argv(browser, (d && *d) || (w && *w), url, &argv);
	if (r == KR_ERR_UNSUPPORTED)
		return; /* no browser here: the URL is shown, that is all */
	if (r == KR_ERR_INVAL) {
		out_notice(fd, "(not opened in a browser: keyroled's URL is not an http(s) URL)");
		return;
	}
	if (r < 0) {
		out_notice(fd, "(not opened in a browser: BROWSER is not a command: %s)",
		           err_str(r));
		return;
	}
	r = browser_start(argv, proto_now_ms() + KR_BROWSER_START_MS, &e);
	if (r == KR_OK)
		out_notice(fd, "Opened in the browser (%s).", argv[0]);
	else if (r == KR_ERR_PROCESS)
		out_notice(fd, "(could not start %s: %s)", argv[0], strerror(e));
	else
		out_notice(fd, "(could not start %s: %s)", argv[0], err_str(r));
	shellquote_argv_free(argv);
}

/* Show what the user must do for the login that reply started (or joined). */
static void show_login(const struct login_req *rq, int fd, const struct json *reply,
                       const char *session, long expires_in)
{
	const char *uri = request_str(reply, "verification_uri", NULL);
	const char *full = request_str(reply, "verification_uri_complete", NULL);
	const char *code = request_str(reply, "user_code", "?");
	const char *start = request_str(reply, "start_url", "?");
	int joined = json_type(json_get(reply, "joined")) == JSON_TRUE;
	char left[24];

	fmt_secs(left, sizeof(left), expires_in);
	if (joined)
		out_notice(fd,
		           "A login of IAM Identity Center session %s (%s) is already in "
		           "progress; to approve it, open",
		           session, start);
	else
		out_notice(fd, "To log in to IAM Identity Center session %s (%s), open", session,
		           start);
	out_notice(fd, "  %s", full ? full : uri);
	if (full && uri)
		out_notice(fd, "and check that it shows the code %s (or open %s and enter it).",
		           code, uri);
	else if (full)
		out_notice(fd, "and check that it shows the code %s.", code);
	else
		out_notice(fd, "and enter the code %s.", code);
	/* A joined login has its browser already: one page per approval. */
	if (!joined)
		open_browser(rq, fd, full ? full : uri);
	out_notice(fd, "Waiting for the approval (the code expires in %s)...", left);
}

/* Copy login_id of the "login" reply into req; KR_ERR_PROTO if it has none. */
static int add_login_id(struct json *req, const struct json *reply)
{
	const struct json *id = json_get(reply, "login_id");

	if (json_type(id) == JSON_STRING && *json_str(id))
		return json_add_str(req, "login_id", json_str(id));
	return KR_ERR_PROTO; /* keyroled's ids are strings (doc/protocol.txt) */
}

/* "login_wait" until it answers or the code expires. */
static int wait_login(struct cmd_ctx *x, const struct json *started, const char *session,
                      long expires_in, struct json **ret_reply)
{
	int64_t code_end = proto_now_ms() + (int64_t)expires_in * 1000;
	struct json *req = NULL, *reply = NULL;
	const char *name;
	int rc, r;

	req = request_new(x, "login_wait", 0);
	r = req ? KR_OK : KR_ERR_NOMEM;
	if (r == KR_OK) {
		json_remove(req, "profile");
		r = add_login_id(req, started);
	}
	if (r < 0) {
		rc = out_fail(x, r, "%s",
		              r == KR_ERR_PROTO ? "keyroled's login answer has no login_id"
		                                : err_str(r));
		goto out;
	}
	for (;;) {
		rc = request_call_until(x, req, code_end + KR_LOGIN_SLACK_MS, &reply);
		if (rc != CMD_EXIT_OK || request_reply_ok(reply))
			break;
		name = json_get_str(reply, "error");
		/* keyroled's own backstop may end a long wait early: ask again while the code
		 * lasts. */
		if (!name || strcmp(name, "timeout") != 0 || proto_now_ms() + 5000 >= code_end)
			break;
		json_free(reply);
		reply = NULL;
	}
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!request_reply_ok(reply)) {
		name = json_get_str(reply, "error");
		if (name && strcmp(name, "timeout") == 0)
			rc =
			    out_fail(x, KR_ERR_LOGIN,
			             "the login of IAM Identity Center session %s was not approved "
			             "before its code expired: run keyrole login again",
			             session);
		else
			rc = request_fail_reply(x, reply);
		goto out;
	}
	*ret_reply = reply;
	reply = NULL;
out:
	json_free(req);
	json_free(reply);
	return rc;
}

int login_run(struct cmd_ctx *x, const struct login_req *rq, int fd, struct login_result *ret)
{
	struct json *req, *reply = NULL, *done = NULL;
	char session[KR_NAME_MAX + 1];
	long expires_in;
	int rc;

	memset(ret, 0, sizeof(*ret));
	req = login_request_new(x, "login", rq, 1);
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	copy_str(session, sizeof(session),
	         request_str(reply, "session", rq->session ? rq->session : "?"));
	copy_str(ret->session, sizeof(ret->session), session);
	copy_str(ret->start_url, sizeof(ret->start_url), request_str(reply, "start_url", "?"));
	if (json_type(json_get(reply, "logged_in")) == JSON_TRUE) {
		ret->already = 1;
		copy_str(ret->expiration, sizeof(ret->expiration),
		         request_str(reply, "expiration", "?"));
		goto out;
	}
	if (!request_str(reply, "user_code", NULL) ||
	    (!request_str(reply, "verification_uri", NULL) &&
	     !request_str(reply, "verification_uri_complete", NULL))) {
		rc = out_fail(x, KR_ERR_PROTO,
		              "keyroled's login answer has no verification URL or user code");
		goto out;
	}
	expires_in = request_num(reply, "expires_in", KR_LOGIN_EXPIRES_DFL_S);
	if (expires_in <= 0 || expires_in > KR_LOGIN_EXPIRES_MAX_S)
		expires_in = expires_in <= 0 ? KR_LOGIN_EXPIRES_DFL_S : KR_LOGIN_EXPIRES_MAX_S;
	show_login(rq, fd, reply, session, expires_in);
	rc = wait_login(x, reply, session, expires_in, &done);
	if (rc != CMD_EXIT_OK)
		goto out;
	copy_str(ret->session, sizeof(ret->session), request_str(done, "session", session));
	copy_str(ret->expiration, sizeof(ret->expiration), request_str(done, "expiration", "?"));
out:
	json_free(req);
	json_free(reply);
	json_free(done);
	return rc;
}

void login_done_text(const struct login_result *r, char *out, size_t n)
{
	snprintf(out, n, "logged in to %s (%s) until %s%s", r->session, r->start_url, r->expiration,
	         r->already ? " (already; --force logs in again)" : "");
}
