/*
 * A source that botocore knows and keyrole does not support (yet): the
 * resolver fails with KR_ERR_UNSUPPORTED, naming the key that asks for it,
 * and `keyrole check` shows the step as "unsupported".
 */
#include "source.h"

#include "err.h"

#include <stdio.h>

static int src_unsupported_parse(const struct source_parse *in, struct step *s,
                                 struct err_detail *e)
{
	const struct source_row *row = in->row;
	const char *key = row->key ? row->key : "credential_source";
	struct pmap_val v = {0};
	char what[128];

	pmap_get(in->map, in->profile, PMAP_ANY, key, &v);
	if (step_set_where(s, v.file, v.line) < 0)
		return KR_ERR_NOMEM;
	if (row->credential_source)
		snprintf(what, sizeof(what), "credential_source = %s", row->credential_source);
	else
		snprintf(what, sizeof(what), "%s", row->what);
	err_set(e, KR_ERR_UNSUPPORTED, v.file, v.line,
	        "use static keys (keyrole add), credential_process or credential_source = "
	        "Environment for the source",
	        "profile \"%s\" uses %s (%s), which keyrole does not support",
	        pmap_name(in->profile), what, key);
	return KR_ERR_UNSUPPORTED;
}

static int src_unsupported_key(const struct step *s, const struct chain *c, struct buf *out)
{
	return KR_ERR_UNSUPPORTED;
}

static int src_unsupported_fetch(const struct source_fetch *f, struct source_result *res,
                                 void **ret_call)
{
	err_set_code(&res->detail, KR_ERR_UNSUPPORTED);
	return KR_ERR_UNSUPPORTED;
}

static void src_unsupported_describe(const struct step *s, const struct chain *c,
                                     struct step_report *out)
{
	out->kind = "source";
	out->type = "unsupported";
}

const struct source_ops source_unsupported = {
    .name = "unsupported",
    .parse = src_unsupported_parse,
    .key = src_unsupported_key,
    .fetch = src_unsupported_fetch,
    .describe = src_unsupported_describe,
};
