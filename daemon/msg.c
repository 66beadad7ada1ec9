/*
 * JSON on the wire, both ways; see msg.h and doc/protocol.txt.
 *
 * Requests are read by msg_req.c. Invariant:
 * - A reply is written straight into the frame buffer (a struct buf: wiped
 *   with it); no tree or other copy of the credentials is made.
 */
#include "msg.h"

#include "wrap.h"

#include "caps.h"
#include "check.h"
#include "err.h"
#include "json.h"
#include "mem.h"
#include "proto.h"
#include "rfc3339.h"
#include "sso.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[] = {
    [OP_UNKNOWN] = "?",
    [OP_PING] = "ping",
    [OP_VERSION] = "version",
    [OP_GET] = "get",
    [OP_STATUS] = "status",
    [OP_FORGET] = "forget",
    [OP_CHECK] = "check",
    [OP_ADD] = "add",
    [OP_REMOVE] = "remove",
    [OP_LOGIN] = "login",
    [OP_LOGIN_WAIT] = "login_wait",
    [OP_LOGOUT] = "logout",
    [OP_SSO_PROFILES] = "sso_profiles",
    [OP_CONSOLE] = "console",
    [OP_SERVE] = "serve",
    [OP_WAITING] = "waiting",
    [OP_WRAP] = "wrap",
};

const char *msg_op_name(enum req_op op)
{
	return (size_t)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

enum req_op msg_op_from_name(const char *name)
{
	for (size_t k = 1; name && k < sizeof(op_names) / sizeof(op_names[0]); k++)
		if (strcmp(name, op_names[k]) == 0)
			return (enum req_op)k;
	return OP_UNKNOWN;
}

/* ---- replies: written straight into the frame (common/json.c's writer) ---- */

static void put_wrap(struct json_writer *w, const struct wrap_plan *p)
{
	json_w_str(w, "file", p->file);
	json_w_begin_array(w, "sections");
	for (size_t i = 0; i < p->n; i++) {
		json_w_begin_object(w, NULL);
		json_w_str(w, "name", p->s[i].name);
		json_w_str(w, "target", p->s[i].target);
		json_w_str(w, "text", p->s[i].text);
		json_w_end_object(w);
	}
	json_w_end_array(w);
	json_w_begin_array(w, "skipped");
	for (size_t i = 0; i < p->n_skipped; i++) {
		json_w_begin_object(w, NULL);
		json_w_str(w, "profile", p->skipped[i].profile);
		json_w_str(w, "reason", p->skipped[i].reason);
		json_w_end_object(w);
	}
	json_w_end_array(w);
}

static void put_time(struct json_writer *w, const char *key, time_t t)
{
	char out[RFC3339_LEN + 1];

	if (rfc3339_format(t, out) < 0)
		snprintf(out, sizeof(out), "?");
	json_w_str(w, key, out);
}

static void put_error(struct json_writer *w, const struct reply_error *re)
{
	char line[KR_ERR_LINE_MAX];
	const struct err_detail *e = re->e;

	err_format(e, line, sizeof(line));
	json_w_bool(w, "ok", 0);
	json_w_str(w, "error", err_name(e->code));
	json_w_str(w, "message", line);
	if (e->file[0])
		json_w_str(w, "file", e->file);
	if (e->line)
		json_w_int(w, "line", e->line);
	if (e->fix[0])
		json_w_str(w, "fix", e->fix);
	json_w_str_opt(w, "profile", re->profile);
	json_w_str_opt(w, "role", re->role);
	json_w_str_opt(w, "aws_code", re->aws_code);
	json_w_str_opt(w, "aws_message", re->aws_message);
	json_w_str_opt(w, "mfa_serial", re->mfa_serial);
	json_w_str_opt(w, "mfa_process", re->mfa_process);
	json_w_str_opt(w, "mfa_prompt", re->mfa_prompt);
	json_w_str_opt(w, "sso_session", re->sso_session);
	json_w_str_opt(w, "sso_start_url", re->sso_start_url);
}

static void put_get(struct json_writer *w, const struct reply *r)
{
	const struct sts_creds *c = r->u.get.creds;

	json_w_str(w, "AccessKeyId", c->access_key_id);
	json_w_str(w, "SecretAccessKey", c->secret_access_key);
	json_w_str_opt(w, "SessionToken", c->session_token);
	if (c->expiration)
		put_time(w, "Expiration", c->expiration);
	json_w_str_opt(w, "region", r->u.get.region);
	json_w_str(w, "from", r->u.get.from ? r->u.get.from : "memory");
	json_w_str_opt(w, "refresh_error", r->u.get.refresh_error);
}

static void put_status(struct json_writer *w, const struct status_report *s)
{
	const struct agent_counters *c = s->counters;

	json_w_str(w, "version", KR_VERSION);
	json_w_int(w, "pid", s->pid);
	json_w_int(w, "uptime", s->uptime);
	json_w_str(w, "backend", s->backend);
	json_w_bool(w, "survives_reboot", s->survives_reboot);
	json_w_str_opt(w, "keyring_warning", s->keyring_warning);
	json_w_int(w, "keyring_queue", (long long)s->keyring_queue);
	json_w_str_opt(w, "note", s->note);
	json_w_begin_array(w, "entries");
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct status_entry *e = &s->entries[i];

		json_w_begin_object(w, NULL);
		json_w_str(w, "profile", e->profile);
		json_w_str(w, "role", e->role);
		json_w_str(w, "source", e->source);
		json_w_str_opt(w, "mfa_serial", e->mfa_serial);
		json_w_int(w, "hop", e->hop);
		if (e->expiration) {
			put_time(w, "expiration", e->expiration);
			json_w_str(w, "from", e->from);
		}
		json_w_str_opt(w, "refresh_error", e->refresh_error);
		if (e->refreshing)
			json_w_bool(w, "refreshing", 1);
		json_w_end_object(w);
	}
	json_w_end_array(w);
	json_w_begin_array(w, "stored_keys");
	for (size_t i = 0; i < s->n_stored; i++)
		json_w_str(w, NULL, s->stored[i]);
	json_w_end_array(w);
	json_w_begin_array(w, "sso_sessions");
	for (size_t i = 0; i < s->n_sso; i++) {
		const struct sso_session_info *o = &s->sso[i];

		json_w_begin_object(w, NULL);
		json_w_str(w, "session", o->session);
		json_w_str(w, "start_url", o->start_url);
		json_w_str(w, "region", o->region);
		if (o->expiration)
			put_time(w, "expiration", o->expiration);
		json_w_bool(w, "refresh_token", o->refresh_token);
		json_w_str(w, "from", o->from);
		if (o->refreshing)
			json_w_bool(w, "refreshing", 1);
		json_w_end_object(w);
	}
	json_w_end_array(w);
	json_w_begin_object(w, "counters");
	json_w_int(w, "requests", (long long)c->requests);
	json_w_int(w, "hits", (long long)c->hits);
	json_w_int(w, "misses", (long long)c->misses);
	json_w_int(w, "sts_calls", (long long)c->sts_calls);
	json_w_int(w, "refreshes", (long long)c->refreshes);
	json_w_int(w, "errors", (long long)c->errors);
	json_w_begin_object(w, "sts_errors");
	for (int i = 0; i < KR_STS_CODES_MAX && c->sts_errors[i].code[0]; i++)
		json_w_int(w, c->sts_errors[i].code, (long long)c->sts_errors[i].n);
	json_w_end_object(w);
	json_w_end_object(w);
}

static void put_step(struct json_writer *w, const struct step_report *s)
{
	json_w_begin_object(w, NULL);
	if (strcmp(s->kind, "source") == 0) {
		json_w_str(w, "kind", "source");
		json_w_str(w, "type", s->type);
		json_w_str(w, "profile", s->profile);
		json_w_str(w, "file", s->file);
		json_w_int(w, "line", s->line);
		if (s->access_key_id[0])
			json_w_str(w, "access_key_id", s->access_key_id);
		json_w_str_opt(w, "command", s->command);
		json_w_str_opt(w, "sso_session", s->sso_session);
		json_w_str_opt(w, "start_url", s->start_url);
		json_w_str_opt(w, "region", s->region);
		json_w_str_opt(w, "account_id", s->account_id);
		json_w_str_opt(w, "role_name", s->role_name);
		json_w_str_opt(w, "endpoint", s->endpoint);
		json_w_str_opt(w, "role_arn", s->role_arn);
		json_w_str_opt(w, "session_name", s->session_name);
		json_w_str_opt(w, "token_file", s->token_file);
		json_w_str_opt(w, "url", s->url);
	} else {
		json_w_str(w, "kind", "role");
		json_w_str(w, "profile", s->profile);
		json_w_str(w, "role_arn", s->role_arn);
		json_w_str(w, "session_name", s->session_name);
		json_w_str_opt(w, "external_id", s->external_id);
		json_w_str_opt(w, "mfa_serial", s->mfa_serial);
		json_w_int(w, "duration", s->duration);
		json_w_bool(w, "duration_capped", s->duration_capped);
		json_w_str_opt(w, "region", s->region);
		json_w_str(w, "endpoint", s->endpoint);
		json_w_str(w, "file", s->file);
		json_w_int(w, "line", s->line);
	}
	json_w_end_object(w);
}

static void put_check(struct json_writer *w, const struct check_reports *c)
{
	json_w_begin_array(w, "profiles");
	for (size_t i = 0; i < c->n; i++) {
		const struct check_report *rep = &c->r[i];

		json_w_begin_object(w, NULL);
		json_w_str(w, "name", rep->name);
		json_w_bool(w, "ok", rep->ok);
		json_w_str_opt(w, "target", rep->target);
		json_w_begin_array(w, "steps");
		for (size_t k = 0; k < rep->n_steps; k++)
			if (rep->steps[k].kind)
				put_step(w, &rep->steps[k]);
		json_w_end_array(w);
		json_w_begin_array(w, "problems");
		for (size_t k = 0; k < rep->n_problems; k++) {
			const struct check_problem *p = &rep->problems[k];

			json_w_begin_object(w, NULL);
			json_w_str(w, "severity", p->error ? "error" : "warning");
			json_w_str(w, "file", p->file);
			json_w_int(w, "line", p->line);
			json_w_str(w, "message", p->msg);
			json_w_str(w, "fix", p->fix);
			json_w_end_object(w);
		}
		json_w_end_array(w);
		json_w_end_object(w);
	}
	json_w_end_array(w);
}

static void put_login(struct json_writer *w, const struct reply *r)
{
	const struct sso_login_info *i = r->u.login.info;

	json_w_str(w, "session", r->u.login.session);
	json_w_str(w, "start_url", r->u.login.start_url);
	if (i->logged_in) {
		json_w_bool(w, "logged_in", 1);
		put_time(w, "expiration", i->expiration);
		return;
	}
	json_w_str(w, "login_id", i->login_id);
	json_w_str_opt(w, "verification_uri", i->verification_uri);
	json_w_str_opt(w, "verification_uri_complete", i->verification_uri_complete);
	json_w_str(w, "user_code", i->user_code);
	json_w_int(w, "expires_in", i->expires_in);
	json_w_bool(w, "joined", i->joined);
}

static void put_sso_profiles(struct json_writer *w, const struct reply *r)
{
	json_w_str(w, "session", r->u.sso_profiles.session);
	json_w_str(w, "start_url", r->u.sso_profiles.start_url);
	json_w_str(w, "region", r->u.sso_profiles.region);
	json_w_begin_array(w, "accounts");
	for (size_t i = 0; i < r->u.sso_profiles.n; i++) {
		const struct sso_account_roles *a = &r->u.sso_profiles.accounts[i];

		json_w_begin_object(w, NULL);
		json_w_str(w, "account_id", a->account_id);
		json_w_str_opt(w, "account_name", a->account_name);
		json_w_str_opt(w, "email", a->email);
		json_w_begin_array(w, "roles");
		for (size_t k = 0; k < a->n_roles; k++)
			json_w_str(w, NULL, a->roles[k]);
		json_w_end_array(w);
		json_w_end_object(w);
	}
	json_w_end_array(w);
}

static void put_ok(struct json_writer *w, const struct reply *r)
{
	json_w_bool(w, "ok", 1);
	switch (r->op) {
	case OP_GET:
		put_get(w, r);
		break;
	case OP_VERSION:
		json_w_str(w, "version", KR_VERSION);
		json_w_int(w, "protocol", KR_PROTO_VERSION);
		break;
	case OP_STATUS:
		put_status(w, r->u.status);
		break;
	case OP_CHECK:
		put_check(w, r->u.check);
		break;
	case OP_ADD:
		json_w_str_opt(w, "arn", r->u.add.arn);
		json_w_str_opt(w, "backend", r->u.add.backend);
		json_w_str_opt(w, "note", r->u.add.note);
		if (r->u.add.n_move) {
			json_w_begin_array(w, "move");
			for (int i = 0; i < r->u.add.n_move && i < 2; i++) {
				json_w_begin_object(w, NULL);
				json_w_str(w, "file", r->u.add.move_file[i]);
				json_w_int(w, "line", r->u.add.move_line[i]);
				json_w_str(w, "key", r->u.add.move_key[i]);
				json_w_end_object(w);
			}
			json_w_end_array(w);
		}
		break;
	case OP_FORGET:
	case OP_REMOVE:
	case OP_LOGOUT:
		json_w_int(w, "removed", r->u.removed);
		break;
	case OP_LOGIN:
		put_login(w, r);
		break;
	case OP_LOGIN_WAIT:
		json_w_str(w, "session", r->u.login_wait.session);
		put_time(w, "expiration", r->u.login_wait.expiration);
		break;
	case OP_SSO_PROFILES:
		put_sso_profiles(w, r);
		break;
	case OP_CONSOLE:
		json_w_str(w, "url", r->u.console.url);
		if (r->u.console.expiration)
			put_time(w, "expiration", r->u.console.expiration);
		break;
	case OP_WAITING:
		json_w_str(w, "waiting", r->u.waiting ? r->u.waiting : "");
		break;
	case OP_WRAP:
		put_wrap(w, r->u.wrap);
		break;
	case OP_SERVE:
		json_w_str(w, "url", r->u.serve.url);
		json_w_str(w, "token", r->u.serve.token);
		if (r->u.serve.expiration)
			put_time(w, "Expiration", r->u.serve.expiration);
		json_w_str_opt(w, "region", r->u.serve.region);
		break;
	default:
		break;
	}
}

int msg_encode_reply(const struct reply *r, struct buf *out)
{
	struct json_writer w;
	size_t start;
	int rc = proto_frame_begin(out, &start);

	if (rc < 0)
		return rc;
	json_w_init(&w, out);
	json_w_begin_object(&w, NULL);
	json_w_int(&w, "v", KR_PROTO_VERSION);
	if (r->ok)
		put_ok(&w, r);
	else
		put_error(&w, &r->u.error);
	json_w_end_object(&w);
	rc = json_w_end(&w);
	if (rc == KR_OK)
		rc = proto_frame_end(out, start);
	if (rc < 0)
		buf_truncate(out, start); /* wipes what was written */
	return rc;
}

static void wiping_free(void *p)
{
	if (!p)
		return;
	/* cJSON does not pass sizes; the allocator knows the usable size. */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void msg_install_json_hooks(void)
{
	cJSON_Hooks hooks = {.malloc_fn = malloc, .free_fn = wiping_free};

	cJSON_InitHooks(&hooks);
}
