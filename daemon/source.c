/*
 * What every source shares: steps and chains (their memory and
 * references), and the masked form of an access key id. The sources
 * themselves are source_*.c; the table that picks them is sources.c.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "mem.h"
#include "sts_req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int source_what(struct step *s, const char *fmt, ...)
{
	char buf[KR_VALUE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(s->what);
	s->what = strdup(buf);
	return s->what ? KR_OK : KR_ERR_NOMEM;
}

const char *source_env_value(const struct caller_env *env, const char *name)
{
	for (size_t i = 0; name && i < caller_env_n_fields; i++)
		if (strcmp(caller_env_fields[i].name, name) == 0)
			return *(const char *const *)((const char *)env +
			                              caller_env_fields[i].offset);
	return NULL;
}

int source_setting(const struct source_parse *in, const struct pmap_profile *p,
                   const char *env_value, const char *key, char **ret, struct pmap_val *where,
                   struct err_detail *e)
{
	struct pmap_val v = {0};

	*ret = NULL;
	if (where)
		*where = v;
	if (env_value) {
		*ret = mem_strdup_max(env_value, KR_VALUE_MAX);
		if (*ret)
			return KR_OK;
		if (strlen(env_value) <= KR_VALUE_MAX)
			return KR_ERR_NOMEM;
		err_set(e, KR_ERR_CONFIG, NULL, 0, NULL,
		        "the caller's variable for %s is longer than %d bytes", key, KR_VALUE_MAX);
		return KR_ERR_CONFIG;
	}
	if (!p || !pmap_get(in->map, p, PMAP_ANY, key, &v))
		return KR_OK;
	if (where)
		*where = v;
	return pmap_take(&v, key, ret, e);
}

int step_set_where(struct step *s, const char *file, int line)
{
	char *f = file ? strdup(file) : NULL;

	if (file && !f)
		return KR_ERR_NOMEM;
	free(s->file);
	s->file = f;
	s->line = line;
	return KR_OK;
}

void step_clear(struct step *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->free)
		s->ops->free(s->conf);
	free(s->profile);
	free(s->file);
	free(s->key);
	free(s->mfa_serial);
	free(s->role_arn);
	free(s->what);
	sts_creds_clear(&s->inline_creds);
	memset(s, 0, sizeof(*s));
}

struct chain *chain_ref(struct chain *c)
{
	if (c)
		c->refs++;
	return c;
}

void chain_unref(struct chain *c)
{
	if (!c || --c->refs > 0)
		return;
	for (size_t i = 0; i < c->n; i++)
		step_clear(&c->steps[i]);
	free(c->steps);
	free(c->name);
	free(c->region);
	free(c->mfa_process);
	free(c->mfa_prompt);
	free(c->ca_bundle);
	free(c->endpoint);
	free(c->signing_region);
	free(c->endpoint_from);
	mem_free_str(c->proxy); /* may hold a proxy password */
	mem_free_str(c->no_proxy);
	free(c);
}

void source_mask_key_id(const char *akid, char out[16])
{
	size_t n = akid ? strlen(akid) : 0;

	snprintf(out, 16, "****%s", n >= 4 ? akid + n - 4 : "");
}

int source_inline_key(const struct step *s, const char *name, struct buf *out)
{
	int r = ckey_step(out, name);

	if (r == KR_OK)
		r = ckey_str(out, "id=", s->inline_creds.access_key_id);
	if (r == KR_OK)
		r = ckey_secret(out, "sec=", s->inline_creds.secret_access_key,
		                s->inline_creds.session_token);
	return r;
}

int source_fetch_inline(const struct source_fetch *f, struct source_result *res, const char *from)
{
	int r = sts_creds_copy(&res->creds, &f->step->inline_creds);

	res->from = from;
	if (r < 0) {
		err_set_code(&res->detail, r);
		return r;
	}
	return 1;
}

/* ---- sources that call STS ---- */

struct sts_fetch {
	struct sts_call *sts;
	source_done_fn done;
	void *userdata;
	int op;
	char what[KR_VALUE_MAX + 64];
	char *url, *from; /* the endpoint and where it came from (messages) */
};

static void sts_fetch_free(struct sts_fetch *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->from);
	free(c);
}

static void on_sts_fetch_done(void *userdata, struct sts_result *sr)
{
	struct sts_fetch *c = userdata;
	struct source_result res = {.err = sr->err, .from = "sts", .attempts = sr->attempts};

	if (sr->err == KR_OK) {
		res.creds = sr->creds;
		memset(&sr->creds, 0, sizeof(sr->creds));
	} else {
		sts_req_describe_at(sr, c->what, c->op, c->url, c->from, &res.detail);
		res.aws_code = sr->aws_code;
		res.aws_message = sr->aws_message;
	}
	c->sts = NULL;
	c->done(c->userdata, &res);
	sts_creds_clear(&res.creds);
	sts_fetch_free(c);
}

int source_sts_fetch(const struct source_fetch *f, struct sts_params *p, struct source_result *res,
                     void **ret_call)
{
	const struct chain *ch = f->chain;
	struct sts_fetch *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		err_set_code(&res->detail, KR_ERR_NOMEM);
		return KR_ERR_NOMEM;
	}
	snprintf(c->what, sizeof(c->what), "%s",
	         f->step->what ? f->step->what : sts_op_name(p->op));
	c->done = f->done;
	c->userdata = f->userdata;
	c->op = p->op;
	/* Copies: a fetch keeps no pointer into the chain. NULL only costs the message. */
	c->url = ch->endpoint ? strdup(ch->endpoint) : NULL;
	c->from = ch->endpoint_from ? strdup(ch->endpoint_from) : NULL;
	p->endpoint = ch->endpoint;
	p->region = ch->signing_region;
	p->ca_bundle = ch->ca_bundle;
	p->proxy = ch->proxy;
	p->no_proxy = ch->no_proxy;
	p->not_after_ms = f->not_after_ms;
	r = sts_call(f->svc->sts, p, on_sts_fetch_done, c, &c->sts);
	if (r < 0) {
		err_set(&res->detail, r, NULL, 0,
		        r == KR_ERR_INVAL ? "check the profile with 'keyrole check'" : NULL,
		        "%s: %s", c->what,
		        r == KR_ERR_INVAL     ? "invalid parameters"
		        : r == KR_ERR_TIMEOUT ? "the request's sts-deadline passed before this hop"
		                              : err_str(r));
		sts_fetch_free(c);
		return r;
	}
	*ret_call = c;
	return 0;
}

void source_sts_cancel(void *call)
{
	struct sts_fetch *c = call;

	if (!c)
		return;
	sts_call_cancel(c->sts);
	sts_fetch_free(c);
}
