/*
 * keyrole status, forget, remove and version: one request each, answered
 * without credentials; the text printed comes from the daemon's reply.
 *
 * Invariants:
 * - Every text line is made by out_line()/out_printf(), which scrub control
 *   characters (out.h): a refresh error, note, keyring warning, profile,
 *   role, IAM Identity Center session or counter name from the daemon
 *   cannot forge a line.
 * - Nothing here handles a secret: the daemon's status never has one
 *   (stored keys are listed by profile name only, IAM Identity Center
 *   sessions without their tokens).
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h). `status --json` prints the reply as JSON (escaped by
 *   json_print()).
 */
#include "cmd_status.h"

#include "err.h"
#include "json.h"
#include "out.h"
#include "rfc3339.h"
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef KR_VERSION
#define KR_VERSION "unknown"
#endif

/* Seconds from now until an RFC 3339 UTC time; 0 with *ok = 0 if unparsable. */
static long secs_until(const char *t, int *ok)
{
	time_t when;

	*ok = rfc3339_parse(t, &when) == KR_OK;
	return *ok ? (long)(when - time(NULL)) : 0;
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

static int status_entries(struct cmd_ctx *x, const struct json *entries)
{
	const struct json *e;
	int width = 7, r;

	if (json_type(entries) != JSON_ARRAY || json_count(entries) == 0)
		return out_line(x, "cached sessions: none");
	json_for_each(e, entries)
	{
		int l = (int)strlen(request_str(e, "profile", "-"));

		if (l > width)
			width = l > 40 ? 40 : l;
	}
	r = out_line(x, "cached sessions:");
	if (r == KR_OK)
		r = out_line(x, "  %-*s  %3s  %-13s  %-7s  %-11s  %s", width, "PROFILE", "HOP",
		             "EXPIRES", "FROM", "SOURCE", "ROLE");
	json_for_each(e, entries)
	{
		char left[32] = "?", dur[24];
		const char *rerr = json_get_str(e, "refresh_error");
		const char *exp = json_get_str(e, "expiration");
		int ok;
		long s = secs_until(exp, &ok);

		if (r < 0)
			break;
		/* No expiration: the entry's fetch never succeeded (its error follows). */
		if (!exp) {
			snprintf(left, sizeof(left), "never fetched");
		} else if (ok && s <= 0) {
			snprintf(left, sizeof(left), "expired");
		} else if (ok) {
			fmt_duration(dur, sizeof(dur), s);
			snprintf(left, sizeof(left), "in %s", dur);
		}
		r = out_line(x, "  %-*s  %3ld  %-13s  %-7s  %-11s  %s", width,
		             request_str(e, "profile", "-"), request_num(e, "hop", 0), left,
		             request_str(e, "from", "-"), request_str(e, "source", "-"),
		             request_str(e, "role", "-"));
		if (r == KR_OK && rerr && *rerr)
			r = out_line(x, "  %*s  %s: %s", width, "",
			             exp ? "refresh failed" : "last error", rerr);
	}
	return r;
}

/* The IAM Identity Center sessions keyroled holds a token for (never the token). */
static int status_sso(struct cmd_ctx *x, const struct json *sessions)
{
	const struct json *e;
	int width = 7, r;

	if (json_type(sessions) != JSON_ARRAY)
		return KR_OK; /* a keyroled without IAM Identity Center support */
	if (json_count(sessions) == 0)
		return out_line(x, "IAM Identity Center sessions: none");
	json_for_each(e, sessions)
	{
		int l = (int)strlen(request_str(e, "session", "-"));

		if (l > width)
			width = l > 40 ? 40 : l;
	}
	r = out_line(x, "IAM Identity Center sessions:");
	if (r == KR_OK)
		r = out_line(x, "  %-*s  %-14s  %-10s  %-7s  %-13s  %s", width, "SESSION", "REGION",
		             "EXPIRES", "REFRESH", "FROM", "START URL");
	json_for_each(e, sessions)
	{
		char left[32] = "-", dur[24];
		const char *exp = json_get_str(e, "expiration");
		int ok;
		long s = secs_until(exp, &ok);

		if (r < 0)
			break;
		if (ok && s <= 0) {
			snprintf(left, sizeof(left), "expired");
		} else if (ok) {
			fmt_duration(dur, sizeof(dur), s);
			snprintf(left, sizeof(left), "in %s", dur);
		} else if (exp) {
			snprintf(left, sizeof(left), "?");
		}
		r = out_line(x, "  %-*s  %-14s  %-10s  %-7s  %-13s  %s%s", width,
		             request_str(e, "session", "-"), request_str(e, "region", "-"), left,
		             json_type(json_get(e, "refresh_token")) == JSON_TRUE ? "yes" : "no",
		             request_str(e, "from", "-"), request_str(e, "start_url", "-"),
		             json_type(json_get(e, "refreshing")) == JSON_TRUE ? " (refreshing)"
		                                                               : "");
	}
	return r;
}

static int status_text(struct cmd_ctx *x, const struct json *reply)
{
	const struct json *keys = json_get(reply, "stored_keys");
	const struct json *counters = json_get(reply, "counters");
	const struct json *it;
	char up[24];
	int r, first = 1;

	fmt_duration(up, sizeof(up), request_num(reply, "uptime", 0));
	r = out_line(x, "keyroled %s, pid %ld, up %s, cache %s%s",
	             request_str(reply, "version", "?"), request_num(reply, "pid", 0), up,
	             request_str(reply, "backend", "?"),
	             json_type(json_get(reply, "survives_reboot")) == JSON_FALSE &&
	                     strcmp(request_str(reply, "backend", "memory"), "memory") != 0
	                 ? " (lost at reboot)"
	                 : "");
	/* The keyring's state matters as much as the cache: say when it failed. */
	if (r == KR_OK && json_get_str(reply, "keyring_warning"))
		r = out_line(x, "keyring warning: %s", json_get_str(reply, "keyring_warning"));
	if (r == KR_OK && json_get_str(reply, "note"))
		r = out_line(x, "note: %s", json_get_str(reply, "note"));
	if (r == KR_OK)
		r = status_entries(x, json_get(reply, "entries"));
	if (r == KR_OK)
		r = status_sso(x, json_get(reply, "sso_sessions"));
	if (r == KR_OK)
		r = out_printf(x, "stored long-term keys:");
	json_for_each(it, keys)
	{
		if (r == KR_OK && json_str(it))
			r = out_printf(x, "%s %s", first ? "" : ",", json_str(it));
		first = 0;
	}
	if (r == KR_OK)
		r = first ? out_line(x, " none") : out_eol(x);
	first = 1;
	json_for_each(it, counters)
	{
		if (r == KR_OK && json_type(it) == JSON_NUMBER && json_key(it)) {
			r = out_printf(x, "%s%s %ld", first ? "counters: " : ", ", json_key(it),
			               (long)json_num(it));
			first = 0;
		}
	}
	if (r == KR_OK && !first)
		r = out_eol(x);
	first = 1;
	json_for_each(it, json_get(counters, "sts_errors"))
	{
		if (r == KR_OK && json_type(it) == JSON_NUMBER && json_key(it)) {
			r = out_printf(x, "%s%s %ld", first ? "sts errors: " : ", ", json_key(it),
			               (long)json_num(it));
			first = 0;
		}
	}
	if (r == KR_OK && !first)
		r = out_eol(x);
	return r;
}

int cmd_status_show(struct cmd_ctx *x)
{
	struct json *req, *reply = NULL;
	int rc, r;

	/* status PROFILE resolves the profile's chain as get does: it needs the caller's env. */
	req = request_new(x, "status", x->profile != NULL);
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	if (x->opts & CMD_OPT_JSON) {
		json_remove(reply, "v");
		json_remove(reply, "ok");
		rc = out_json(x, reply);
		goto out;
	}
	r = status_text(x, reply);
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

/* forget and remove: one request, a count back, one line of confirmation. */
static int run_drop(struct cmd_ctx *x, const char *op)
{
	struct json *req, *reply = NULL;
	long removed;
	int rc, r;

	/* forget resolves the profile's chain as get does: it needs the caller's env. */
	req = request_new(x, op, strcmp(op, "forget") == 0);
	if (req && (x->opts & CMD_OPT_ALL) && json_add_bool(req, "all", 1) < 0) {
		json_free(req);
		req = NULL;
	}
	rc = req ? request_call(x, req, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	removed = request_num(reply, "removed", 0);
	if (strcmp(op, "remove") == 0)
		r = out_line(x, "removed %ld stored key entr%s for %s", removed,
		             removed == 1 ? "y" : "ies", x->profile);
	else if (x->profile)
		r = out_line(x, "forgot %ld cached entr%s for %s", removed,
		             removed == 1 ? "y" : "ies", x->profile);
	else
		r = out_line(x, "forgot %ld cached entr%s", removed, removed == 1 ? "y" : "ies");
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

int cmd_status_forget(struct cmd_ctx *x)
{
	return run_drop(x, "forget");
}

int cmd_status_remove(struct cmd_ctx *x)
{
	return run_drop(x, "remove");
}

int cmd_status_version(struct cmd_ctx *x)
{
	struct json *req, *reply = NULL;
	int rc;

	if (out_line(x, "keyrole %s", KR_VERSION) < 0 || out_emit(x) != CMD_EXIT_OK)
		return CMD_EXIT_ERROR;
	/* Never autostart here: the question is whether one is running. None is an answer. */
	if (conn_open(&x->conn, 0) == KR_ERR_NODAEMON) {
		if (out_line(x, "keyroled not running (%s)", x->conn.detail) < 0)
			return out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		return out_emit(x);
	}
	req = request_new(x, "version", 0);
	rc = req ? request_call_raw(x, req, 0, &reply)
	         : out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	if (rc != CMD_EXIT_OK)
		goto out;
	if (!request_reply_ok(reply)) {
		rc = request_fail_reply(x, reply);
		goto out;
	}
	if (out_line(x, "keyroled %s (protocol %ld)", request_str(reply, "version", "?"),
	             request_num(reply, "protocol", 0)) < 0)
		rc = out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
	else
		rc = out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}
