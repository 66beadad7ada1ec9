/*
 * An MFA session: GetSessionToken with long-term keys, a device's serial
 * and a code. One session per device serves every role that uses it, so a
 * person types one code per session, not one per role (aws-vault's
 * approach). The resolver puts this step between long-term keys and the
 * first role when that role has mfa_serial; the role is then assumed
 * without a code. Its session is not role chaining.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "mem.h"
#include "sts_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct src_mfa_conf {
	int duration; /* keyroled's --mfa-duration when the chain was resolved */
};

static int src_mfa_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	struct pmap_val v = {0};
	struct src_mfa_conf *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	c->duration = in->mfa_duration;
	pmap_get(in->map, in->profile, PMAP_ANY, "mfa_serial", &v);
	r = step_set_where(s, v.file, v.line);
	if (r == KR_OK)
		r = pmap_take(&v, "mfa_serial", &s->mfa_serial, e);
	if (r == KR_OK && source_what(s, "GetSessionToken (MFA %s)", s->mfa_serial) < 0)
		r = KR_ERR_NOMEM;
	return r;
}

static void src_mfa_conf_free(void *conf)
{
	free(conf);
}

static int src_mfa_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct src_mfa_conf *c = s->conf;
	int r = ckey_step(out, "mfa-session");

	if (r == KR_OK)
		r = ckey_str(out, "mfa=", s->mfa_serial);
	if (r == KR_OK)
		r = ckey_int(out, "dur=", c->duration);
	if (r == KR_OK)
		r = ckey_str(out, "ep=", ch->endpoint);
	if (r == KR_OK)
		r = ckey_str(out, "reg=", ch->signing_region);
	return r;
}

static int src_mfa_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	const struct src_mfa_conf *conf = f->step->conf;
	struct sts_params p = {0};

	p.op = STS_GET_SESSION_TOKEN;
	p.source.access_key_id = f->input->access_key_id; /* long-term keys: no token */
	p.source.secret_access_key = f->input->secret_access_key;
	p.mfa_serial = f->step->mfa_serial;
	p.mfa_code = f->mfa_code;
	p.duration = conf->duration;
	return source_sts_fetch(f, &p, res, ret_call);
}

static void src_mfa_describe(const struct step *s, const struct chain *c, struct step_report *out)
{
	out->kind = NULL; /* check shows the role's MFA, not a step of its own */
}

const struct source_ops source_mfa_session = {
    .name = "mfa-session",
    .flags = SOURCE_SESSION | SOURCE_NOT_CHAINING,
    .max_lifetime = 36 * 3600, /* GetSessionToken: 129600 s at most */
    .parse = src_mfa_parse,
    .free = src_mfa_conf_free,
    .key = src_mfa_key,
    .fetch = src_mfa_fetch,
    .cancel = source_sts_cancel,
    .describe = src_mfa_describe,
};
