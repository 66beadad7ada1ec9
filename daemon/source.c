/*
 * What every source shares: steps and chains (their memory and
 * references), and the masked form of an access key id. The sources
 * themselves are source_*.c; the table that picks them is sources.c.
 */
#include "source.h"

#include "err.h"
#include "mem.h"

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
	free(c->ca_bundle);
	free(c->endpoint);
	free(c->signing_region);
	mem_free_str(c->proxy); /* may hold a proxy password */
	mem_free_str(c->no_proxy);
	free(c);
}

void source_mask_key_id(const char *akid, char out[16])
{
	size_t n = akid ? strlen(akid) : 0;

	snprintf(out, 16, "****%s", n >= 4 ? akid + n - 4 : "");
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
