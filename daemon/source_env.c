/*
 * credential_source = Environment: the caller's AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (the request's env, never
 * keyroled's own). They answer at once; nothing of them is cached.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

static int src_env_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const struct caller_env *env = in->env;
	struct sts_creds *c = &s->inline_creds;
	struct pmap_val cs = {0};
	int r;

	pmap_get(in->map, in->profile, PMAP_ANY, "credential_source", &cs);
	r = step_set_where(s, cs.file, cs.line);
	if (r < 0)
		return r;
	if (!env->access_key_id || !env->access_key_id[0] || !env->secret_access_key ||
	    !env->secret_access_key[0]) {
		err_set(
		    e, KR_ERR_NOCREDS, cs.file, cs.line,
		    "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the calling environment",
		    "profile \"%s\" uses credential_source = Environment but the caller's "
		    "environment has no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
		    pmap_name(in->profile));
		return KR_ERR_NOCREDS;
	}
	c->access_key_id = mem_strdup_max(env->access_key_id, KR_VALUE_MAX);
	c->secret_access_key = mem_secret_strdup(env->secret_access_key, KR_VALUE_MAX);
	if (env->session_token && env->session_token[0])
		c->session_token = mem_secret_strdup(env->session_token, KR_VALUE_MAX);
	if (!c->access_key_id || !c->secret_access_key ||
	    (env->session_token && env->session_token[0] && !c->session_token))
		return KR_ERR_NOMEM;
	return KR_OK;
}

static int src_env_key(const struct step *s, const struct chain *c, struct buf *out)
{
	return source_inline_key(s, "environment", out);
}

static int src_env_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	return source_fetch_inline(f, res, "environment");
}

static void src_env_describe(const struct step *s, const struct chain *c, struct step_report *out)
{
	out->kind = "source";
	out->type = "environment";
	source_mask_key_id(s->inline_creds.access_key_id, out->access_key_id);
}

const struct source_ops source_env = {
    .name = "environment",
    .flags = SOURCE_INLINE | SOURCE_LONG_TERM,
    .parse = src_env_parse,
    .key = src_env_key,
    .fetch = src_env_fetch,
    .describe = src_env_describe,
};
