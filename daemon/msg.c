/*
 * JSON on the wire, both ways; see msg.h and doc/protocol.txt.
 *
 * Invariants:
 * - A request's strings are copied out of the cJSON tree into one block
 *   (struct request's), checked on the way: the tree is freed (wiped)
 *   before decoding returns.
 * - A string holding a NUL byte (raw, or "\u0000") is refused: C would see
 *   only its start ("x\u0000y" would be served as profile "x").
 * - Reply trees are freed (wiped) as soon as they are printed.
 */
#include "msg.h"

#include "caps.h"
#include "check.h"
#include "err.h"
#include "mem.h"
#include "proto.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[] = {
    [OP_UNKNOWN] = "?",   [OP_PING] = "ping",     [OP_VERSION] = "version",
    [OP_GET] = "get",     [OP_STATUS] = "status", [OP_FORGET] = "forget",
    [OP_CHECK] = "check", [OP_ADD] = "add",       [OP_REMOVE] = "remove",
};

const char *msg_op_name(enum req_op op)
{
	return (size_t)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

/* ---- requests ---- */

/* A raw NUL byte, or a "\u0000" escape inside a string. */
static int has_nul(const char *s, size_t n)
{
	int in_string = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0')
			return 1;
		if (!in_string) {
			in_string = s[i] == '"';
			continue;
		}
		if (s[i] == '"') {
			in_string = 0;
		} else if (s[i] == '\\') {
			if (i + 5 < n && memcmp(s + i + 1, "u0000", 5) == 0)
				return 1;
			i++; /* the escaped character */
		}
	}
	return 0;
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* The strings a request keeps, in the order they are copied. */
enum { S_OP, S_PROFILE, S_MFA, S_AKID, S_SECRET, S__N };

int msg_decode_request(const char *body, size_t len, struct request *ret, struct err_detail *e)
{
	const char *s[S__N], *envv[KR_ENV_MAX];
	struct request r;
	const cJSON *v, *env, *it;
	cJSON *msg = NULL;
	size_t total = 0, n_env = 0;
	char *p;
	int rc = KR_OK;

	memset(&r, 0, sizeof(r));
	memset(ret, 0, sizeof(*ret));
	memset(envv, 0, sizeof(envv));
	if (has_nul(body, len)) {
		err_set(e, KR_ERR_INVAL, NULL, 0, NULL, "a string in the request holds a NUL byte");
		return KR_ERR_INVAL;
	}
	msg = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(msg)) {
		err_set(e, KR_ERR_PROTO, NULL, 0, NULL, "request is not a JSON object");
		rc = KR_ERR_PROTO;
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(msg, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != KR_PROTO_VERSION) {
		err_set(e, KR_ERR_VERSION, NULL, 0, NULL,
		        "unsupported protocol version (upgrade keyrole and keyroled together)");
		rc = KR_ERR_VERSION;
		goto out;
	}
	s[S_OP] = get_str(msg, "op");
	s[S_PROFILE] = get_str(msg, "profile");
	s[S_MFA] = get_str(msg, "mfa_code");
	s[S_AKID] = get_str(msg, "access_key_id");
	s[S_SECRET] = get_str(msg, "secret_access_key");
	r.all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "all"));
	r.verify = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "verify"));
	env = cJSON_GetObjectItemCaseSensitive(msg, "env");
	if (env && !cJSON_IsObject(env)) {
		rc = KR_ERR_INVAL;
		goto bad_env;
	}
	cJSON_ArrayForEach(it, env)
	{
		if (++n_env > KR_ENV_MAX || !cJSON_IsString(it) || !it->string ||
		    strlen(it->valuestring) > KR_VALUE_MAX) {
			rc = KR_ERR_INVAL;
			goto bad_env;
		}
		/* Only the honoured variables; the first of a name counts. */
		for (size_t k = 0; k < caller_env_n_fields; k++)
			if (strcmp(it->string, caller_env_fields[k].name) == 0 && !envv[k])
				envv[k] = it->valuestring;
	}
	for (size_t k = 0; k < S__N; k++)
		total += s[k] ? strlen(s[k]) + 1 : 0;
	for (size_t k = 0; k < caller_env_n_fields; k++)
		total += envv[k] ? strlen(envv[k]) + 1 : 0;
	r.strings_len = total ? total : 1;
	r.strings = mem_secret_alloc(r.strings_len);
	if (!r.strings) {
		err_set_code(e, KR_ERR_NOMEM);
		rc = KR_ERR_NOMEM;
		goto out;
	}
	p = r.strings;
	for (size_t k = 0; k < S__N; k++) {
		const char **dst[S__N] = {&r.op_name, &r.profile, &r.mfa_code, &r.access_key_id,
		                          &r.secret_access_key};

		if (!s[k])
			continue;
		memcpy(p, s[k], strlen(s[k]) + 1);
		*dst[k] = p;
		p += strlen(s[k]) + 1;
	}
	for (size_t k = 0; k < caller_env_n_fields; k++) {
		if (!envv[k])
			continue;
		memcpy(p, envv[k], strlen(envv[k]) + 1);
		*(const char **)((char *)&r.env + caller_env_fields[k].offset) = p;
		p += strlen(envv[k]) + 1;
	}
	r.op = OP_UNKNOWN;
	for (size_t k = 1; r.op_name && k < sizeof(op_names) / sizeof(op_names[0]); k++)
		if (strcmp(r.op_name, op_names[k]) == 0)
			r.op = (enum req_op)k;
	*ret = r;
	goto out;
bad_env:
	err_set(e, rc, NULL, 0, NULL,
	        "bad \"env\" in request (an object of at most %d strings of at most %d bytes)",
	        KR_ENV_MAX, KR_VALUE_MAX);
out:
	cJSON_Delete(msg);
	return rc;
}

/* ---- replies ---- */

static void fmt_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Add s under key when it is set; 0 when out of memory. */
static int add_opt(cJSON *o, const char *key, const char *s)
{
	return !s || cJSON_AddStringToObject(o, key, s) != NULL;
}

static int add_error(cJSON *o, const struct reply_error *re)
{
	char line[KR_ERR_LINE_MAX];
	const struct err_detail *e = re->e;

	err_format(e, line, sizeof(line));
	return cJSON_AddFalseToObject(o, "ok") &&
	       cJSON_AddStringToObject(o, "error", err_name(e->code)) &&
	       cJSON_AddStringToObject(o, "message", line) &&
	       (!e->file[0] || cJSON_AddStringToObject(o, "file", e->file)) &&
	       (!e->line || cJSON_AddNumberToObject(o, "line", e->line)) &&
	       (!e->fix[0] || cJSON_AddStringToObject(o, "fix", e->fix)) &&
	       add_opt(o, "profile", re->profile) && add_opt(o, "role", re->role) &&
	       add_opt(o, "aws_code", re->aws_code) && add_opt(o, "aws_message", re->aws_message) &&
	       add_opt(o, "mfa_serial", re->mfa_serial) &&
	       add_opt(o, "mfa_process", re->mfa_process);
}

static int add_get(cJSON *o, const struct reply *r)
{
	const struct sts_creds *c = r->u.get.creds;
	char exp[32];

	if (c->expiration)
		fmt_time(c->expiration, exp, sizeof(exp));
	return cJSON_AddStringToObject(o, "AccessKeyId", c->access_key_id) &&
	       cJSON_AddStringToObject(o, "SecretAccessKey", c->secret_access_key) &&
	       add_opt(o, "SessionToken", c->session_token) &&
	       (!c->expiration || cJSON_AddStringToObject(o, "Expiration", exp)) &&
	       add_opt(o, "region", r->u.get.region) &&
	       cJSON_AddStringToObject(o, "from", r->u.get.from ? r->u.get.from : "memory") &&
	       add_opt(o, "refresh_error", r->u.get.refresh_error);
}

static int add_status(cJSON *o, const struct status_report *s)
{
	const struct agent_counters *c = s->counters;
	cJSON *entries, *stored, *counters, *codes;
	char exp[32];

	if (!cJSON_AddStringToObject(o, "version", KR_VERSION) ||
	    !cJSON_AddNumberToObject(o, "pid", (double)s->pid) ||
	    !cJSON_AddNumberToObject(o, "uptime", (double)s->uptime) ||
	    !cJSON_AddStringToObject(o, "backend", s->backend) ||
	    !cJSON_AddBoolToObject(o, "survives_reboot", s->survives_reboot) ||
	    !add_opt(o, "keyring_warning", s->keyring_warning) || !add_opt(o, "note", s->note) ||
	    !(entries = cJSON_AddArrayToObject(o, "entries")))
		return 0;
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct status_entry *e = &s->entries[i];
		cJSON *eo = cJSON_CreateObject();

		if (!eo || !cJSON_AddItemToArray(entries, eo)) {
			cJSON_Delete(eo);
			return 0;
		}
		if (e->expiration)
			fmt_time(e->expiration, exp, sizeof(exp));
		if (!cJSON_AddStringToObject(eo, "profile", e->profile ? e->profile : "") ||
		    !cJSON_AddStringToObject(eo, "role", e->role ? e->role : "") ||
		    !cJSON_AddStringToObject(eo, "source", e->source) ||
		    !add_opt(eo, "mfa_serial", e->mfa_serial) ||
		    !cJSON_AddNumberToObject(eo, "hop", e->hop) ||
		    (e->expiration && (!cJSON_AddStringToObject(eo, "expiration", exp) ||
		                       !cJSON_AddStringToObject(eo, "from", e->from))) ||
		    !add_opt(eo, "refresh_error", e->refresh_error) ||
		    (e->refreshing && !cJSON_AddTrueToObject(eo, "refreshing")))
			return 0;
	}
	if (!(stored = cJSON_AddArrayToObject(o, "stored_keys")))
		return 0;
	for (size_t i = 0; i < s->n_stored; i++) {
		cJSON *name = cJSON_CreateString(s->stored[i]);

		if (!name || !cJSON_AddItemToArray(stored, name)) {
			cJSON_Delete(name);
			return 0;
		}
	}
	if (!(counters = cJSON_AddObjectToObject(o, "counters")) ||
	    !cJSON_AddNumberToObject(counters, "requests", (double)c->requests) ||
	    !cJSON_AddNumberToObject(counters, "hits", (double)c->hits) ||
	    !cJSON_AddNumberToObject(counters, "misses", (double)c->misses) ||
	    !cJSON_AddNumberToObject(counters, "sts_calls", (double)c->sts_calls) ||
	    !cJSON_AddNumberToObject(counters, "refreshes", (double)c->refreshes) ||
	    !cJSON_AddNumberToObject(counters, "errors", (double)c->errors) ||
	    !(codes = cJSON_AddObjectToObject(counters, "sts_errors")))
		return 0;
	for (int i = 0; i < KR_STS_CODES_MAX && c->sts_errors[i].code[0]; i++)
		if (!cJSON_AddNumberToObject(codes, c->sts_errors[i].code,
		                             (double)c->sts_errors[i].n))
			return 0;
	return 1;
}

static int add_step(cJSON *steps, const struct step_report *s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(steps, o)) {
		cJSON_Delete(o);
		return 0;
	}
	if (strcmp(s->kind, "source") == 0)
		return cJSON_AddStringToObject(o, "kind", "source") &&
		       cJSON_AddStringToObject(o, "type", s->type) &&
		       cJSON_AddStringToObject(o, "profile", s->profile ? s->profile : "") &&
		       cJSON_AddStringToObject(o, "file", s->file ? s->file : "") &&
		       cJSON_AddNumberToObject(o, "line", s->line) &&
		       (!s->access_key_id[0] ||
		        cJSON_AddStringToObject(o, "access_key_id", s->access_key_id)) &&
		       add_opt(o, "command", s->command);
	return cJSON_AddStringToObject(o, "kind", "role") &&
	       cJSON_AddStringToObject(o, "profile", s->profile ? s->profile : "") &&
	       cJSON_AddStringToObject(o, "role_arn", s->role_arn ? s->role_arn : "") &&
	       cJSON_AddStringToObject(o, "session_name", s->session_name ? s->session_name : "") &&
	       add_opt(o, "external_id", s->external_id) &&
	       add_opt(o, "mfa_serial", s->mfa_serial) &&
	       cJSON_AddNumberToObject(o, "duration", s->duration) &&
	       cJSON_AddBoolToObject(o, "duration_capped", s->duration_capped) &&
	       add_opt(o, "region", s->region) &&
	       cJSON_AddStringToObject(o, "endpoint", s->endpoint ? s->endpoint : "") &&
	       cJSON_AddStringToObject(o, "file", s->file ? s->file : "") &&
	       cJSON_AddNumberToObject(o, "line", s->line);
}

static int add_check(cJSON *o, const struct check_reports *c)
{
	cJSON *profiles = cJSON_AddArrayToObject(o, "profiles");

	if (!profiles)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		const struct check_report *rep = &c->r[i];
		cJSON *ro = cJSON_CreateObject(), *steps, *problems;

		if (!ro || !cJSON_AddItemToArray(profiles, ro)) {
			cJSON_Delete(ro);
			return 0;
		}
		if (!cJSON_AddStringToObject(ro, "name", rep->name) ||
		    !cJSON_AddBoolToObject(ro, "ok", rep->ok) ||
		    !(steps = cJSON_AddArrayToObject(ro, "steps")) ||
		    !(problems = cJSON_AddArrayToObject(ro, "problems")))
			return 0;
		for (size_t k = 0; k < rep->n_steps; k++)
			if (rep->steps[k].kind && !add_step(steps, &rep->steps[k]))
				return 0;
		for (size_t k = 0; k < rep->n_problems; k++) {
			const struct check_problem *p = &rep->problems[k];
			cJSON *po = cJSON_CreateObject();

			if (!po || !cJSON_AddItemToArray(problems, po)) {
				cJSON_Delete(po);
				return 0;
			}
			if (!cJSON_AddStringToObject(po, "severity",
			                             p->error ? "error" : "warning") ||
			    !cJSON_AddStringToObject(po, "file", p->file ? p->file : "") ||
			    !cJSON_AddNumberToObject(po, "line", p->line) ||
			    !cJSON_AddStringToObject(po, "message", p->msg ? p->msg : "") ||
			    !cJSON_AddStringToObject(po, "fix", p->fix ? p->fix : ""))
				return 0;
		}
	}
	return 1;
}

static int add_ok(cJSON *o, const struct reply *r)
{
	if (!cJSON_AddTrueToObject(o, "ok"))
		return 0;
	switch (r->op) {
	case OP_GET:
		return add_get(o, r);
	case OP_VERSION:
		return cJSON_AddStringToObject(o, "version", KR_VERSION) &&
		       cJSON_AddNumberToObject(o, "protocol", KR_PROTO_VERSION);
	case OP_STATUS:
		return add_status(o, r->u.status);
	case OP_CHECK:
		return add_check(o, r->u.check);
	case OP_ADD:
		return add_opt(o, "arn", r->u.add.arn) && add_opt(o, "backend", r->u.add.backend) &&
		       add_opt(o, "note", r->u.add.note);
	case OP_FORGET:
	case OP_REMOVE:
		return cJSON_AddNumberToObject(o, "removed", r->u.removed) != NULL;
	default:
		return 1;
	}
}

int msg_encode_reply(const struct reply *r, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;
	int rc = KR_ERR_NOMEM;

	if (o && cJSON_AddNumberToObject(o, "v", KR_PROTO_VERSION) &&
	    (r->ok ? add_ok(o, r) : add_error(o, &r->u.error)))
		body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (body) {
		rc = proto_frame_append(out, body, strlen(body));
		cJSON_free(body); /* wiped by msg_install_json_hooks() */
	}
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
