/*
 * Web identity: AssumeRoleWithWebIdentity with a token read from a file,
 * as botocore's AssumeRoleWithWebIdentityProvider does for a profile with
 * web_identity_token_file (and role_arn, role_session_name). For the
 * requested profile, the caller's AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN
 * and AWS_ROLE_SESSION_NAME come first, key by key (botocore's default
 * chain); a source_profile reads its own keys only (botocore turns the
 * variables off there). The call is unsigned, to the chain's STS endpoint.
 *
 * Invariants:
 * - The token file is read on every fetch (Kubernetes and CI rotate it),
 *   whole and at most KR_WEBID_TOKEN_MAX bytes, into secret memory, and
 *   wiped once sts_call() has copied it. The token is never logged and
 *   never part of a cache key: the key names the file's path, the role,
 *   the session name and the endpoint.
 * - KEYROLE: the default session name is keyrole-<profile> (botocore:
 *   botocore-session-<time>); the path must be absolute (keyroled does not
 *   know the caller's directory: the client makes the variable's absolute).
 */
#include "source.h"

#include "cachekey.h"
#include "caps.h"
#include "err.h"
#include "mem.h"
#include "metadata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct webid_conf {
	char *token_file, *session_name;
};

static void src_webid_free(void *conf)
{
	struct webid_conf *c = conf;

	if (!c)
		return;
	free(c->token_file);
	free(c->session_name);
	free(c);
}

static int src_webid_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const struct pmap_profile *p = in->profile;
	const struct caller_env *env = in->env;
	int top = p == in->top; /* the caller's variables count for the requested profile only */
	struct webid_conf *c = calloc(1, sizeof(*c));
	struct pmap_val where = {0}, v = {0};
	int r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	r = source_setting(in, p, top ? env->web_identity_token_file : NULL,
	                   "web_identity_token_file", &c->token_file, &where, e);
	if (r == KR_OK)
		r = step_set_where(s, where.file, where.line);
	if (r == KR_OK && (!c->token_file || c->token_file[0] != '/')) {
		err_set(
		    e, KR_ERR_CONFIG, where.file, where.line, "give the token file's absolute path",
		    "profile \"%s\": web_identity_token_file \"%.200s\" is not an absolute path",
		    pmap_name(p), c->token_file ? c->token_file : "");
		r = KR_ERR_CONFIG;
	}
	/* Read at every fetch; one that cannot be read now is check's error too. */
	if (r == KR_OK && access(c->token_file, R_OK) < 0) {
		err_set(e, KR_ERR_NOCREDS, where.file, where.line,
		        "check the path, and that whatever writes the token file has written it",
		        "profile \"%s\": cannot read the web identity token file %.200s: %s",
		        pmap_name(p), c->token_file, strerror(errno));
		r = KR_ERR_NOCREDS;
	}
	if (r == KR_OK)
		r = source_setting(in, p, top ? env->role_arn : NULL, "role_arn", &s->role_arn, &v,
		                   e);
	if (r == KR_OK && (!s->role_arn || !s->role_arn[0])) {
		/* botocore's words (InvalidConfigError), typo included. */
		err_set(e, KR_ERR_CONFIG, where.file, where.line,
		        "add role_arn to the profile (or export AWS_ROLE_ARN)",
		        "The provided profile or the current environment is configured to assume "
		        "role with web identity but has no role ARN configured. Ensure that the "
		        "profile has the role_arnconfiguration set or the AWS_ROLE_ARN env var is "
		        "set.");
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK)
		r = source_setting(in, p, top ? env->role_session_name : NULL, "role_session_name",
		                   &c->session_name, &v, e);
	if (r == KR_OK && c->session_name && !source_session_name_ok(c->session_name)) {
		err_set(e, KR_ERR_CONFIG, v.file, v.line,
		        "use 2-64 characters of letters, digits and _+=,.@-",
		        "role_session_name \"%.100s\" is not accepted by STS", c->session_name);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && !c->session_name &&
	    !(c->session_name = source_assume_default_session_name(pmap_name(p))))
		r = KR_ERR_NOMEM;
	if (r == KR_OK && source_what(s, "AssumeRoleWithWebIdentity %s", s->role_arn) < 0)
		r = KR_ERR_NOMEM;
	return r;
}

static int src_webid_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct webid_conf *c = s->conf;
	int r = ckey_step(out, "web-identity");

	if (r == KR_OK)
		r = ckey_str(out, "arn=", s->role_arn);
	if (r == KR_OK)
		r = ckey_str(out, "sn=", c->session_name);
	if (r == KR_OK)
		r = ckey_str(out, "file=", c->token_file);
	if (r == KR_OK)
		r = ckey_str(out, "ep=", ch->endpoint);
	if (r == KR_OK)
		r = ckey_str(out, "reg=", ch->signing_region);
	return r;
}

static int src_webid_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	const struct step *s = f->step;
	const struct webid_conf *c = s->conf;
	struct sts_params p = {0};
	char *token = NULL;
	int r;

	/* Read again on every fetch: the file is rotated under us. */
	r = metadata_read_file(c->token_file, KR_WEBID_TOKEN_MAX, "web identity token file", &token,
	                       &res->detail);
	if (r == KR_OK && !token[0]) {
		err_set(&res->detail, KR_ERR_NOCREDS, c->token_file, 0,
		        "check whatever writes the token file",
		        "the web identity token file is empty");
		r = KR_ERR_NOCREDS;
	}
	if (r < 0) {
		char msg[KR_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s: %s", s->what, res->detail.msg);
		memcpy(res->detail.msg, msg, sizeof(msg));
		mem_free_str(token);
		return r;
	}
	p.op = STS_ASSUME_ROLE_WITH_WEB_IDENTITY;
	p.role_arn = s->role_arn;
	p.session_name = c->session_name;
	p.web_identity_token = token;
	r = source_sts_fetch(f, &p, res, ret_call);
	mem_free_str(token); /* sts_call() copied it into the request body */
	return r;
}

static void src_webid_describe(const struct step *s, const struct chain *ch,
                               struct step_report *out)
{
	const struct webid_conf *c = s->conf;

	out->kind = "source";
	out->type = "web-identity";
	if (!c || !s->role_arn)
		return; /* a step that failed to parse */
	out->role_arn = s->role_arn;
	out->session_name = c->session_name;
	out->token_file = c->token_file;
	out->endpoint = ch->endpoint;
	out->region = ch->signing_region;
}

const struct source_ops source_webid = {
    .name = "web-identity",
    .flags = SOURCE_SESSION | SOURCE_ROLE_SESSION | SOURCE_STS,
    .max_lifetime = 43200, /* AssumeRoleWithWebIdentity: 12 h at most */
    .parse = src_webid_parse,
    .free = src_webid_free,
    .key = src_webid_key,
    .fetch = src_webid_fetch,
    .cancel = source_sts_cancel,
    .describe = src_webid_describe,
};
