/*
 * Keys written in a file: aws_access_key_id, aws_secret_access_key and
 * (aws_security_token, else aws_session_token) of one section, in
 * ~/.aws/credentials or ~/.aws/config (the table row says which: botocore
 * prefers the credentials file's keys, then credential_process, then the
 * config file's). They answer at once; nothing of them is cached.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

static int copy_secret(const struct pmap_val *v, const char *key, char **ret, struct err_detail *e)
{
	char *plain = NULL;
	int r = pmap_take(v, key, &plain, e);

	if (r == KR_OK) {
		*ret = mem_secret_strdup(plain, KR_VALUE_MAX);
		if (!*ret)
			r = KR_ERR_NOMEM;
	}
	mem_free_str(plain);
	return r;
}

static int src_static_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	enum pmap_file f = in->row->file;
	const char *name = pmap_name(in->profile);
	struct pmap_val ak = {0}, sk = {0}, tk = {0};
	struct sts_creds *c = &s->inline_creds;
	int r;

	pmap_get(in->map, in->profile, f, "aws_access_key_id", &ak);
	if (!pmap_get(in->map, in->profile, f, "aws_secret_access_key", &sk)) {
		err_set(
		    e, KR_ERR_CONFIG, ak.file, ak.line,
		    "add aws_secret_access_key next to it, or remove both and use `keyrole add`",
		    "profile \"%s\" has aws_access_key_id but no aws_secret_access_key", name);
		return KR_ERR_CONFIG;
	}
	r = step_set_where(s, ak.file, ak.line);
	if (r == KR_OK)
		r = pmap_take(&ak, "aws_access_key_id", &c->access_key_id, e);
	if (r == KR_OK)
		r = copy_secret(&sk, "aws_secret_access_key", &c->secret_access_key, e);
	/* botocore's order: aws_security_token first, then aws_session_token. */
	if (r == KR_OK && (pmap_get(in->map, in->profile, f, "aws_security_token", &tk) ||
	                   pmap_get(in->map, in->profile, f, "aws_session_token", &tk)))
		r = copy_secret(&tk, "aws_session_token", &c->session_token, e);
	if (r == KR_OK && (c->access_key_id[0] == '\0' || c->secret_access_key[0] == '\0')) {
		err_set(e, KR_ERR_CONFIG, ak.file, ak.line,
		        "fill in both keys, or remove both and use `keyrole add`",
		        "profile \"%s\" has an empty access key id or secret access key", name);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && c->session_token && !c->session_token[0]) {
		mem_free_str(c->session_token);
		c->session_token = NULL;
	}
	return r;
}

static int src_static_key(const struct step *s, const struct chain *c, struct buf *out)
{
	return source_inline_key(s, "static", out);
}

static int src_static_fetch(const struct source_fetch *f, struct source_result *res,
                            void **ret_call)
{
	return source_fetch_inline(f, res, "file");
}

static void src_static_describe(const struct step *s, const struct chain *c,
                                struct step_report *out)
{
	out->kind = "source";
	out->type = "static";
	source_mask_key_id(s->inline_creds.access_key_id, out->access_key_id);
}

const struct source_ops source_static = {
    .name = "static",
    .flags = SOURCE_INLINE | SOURCE_LONG_TERM,
    .parse = src_static_parse,
    .key = src_static_key,
    .fetch = src_static_fetch,
    .describe = src_static_describe,
};
