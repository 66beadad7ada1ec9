/*
 * Long-term keys stored with `keyrole add` (KEYROLE: a profile with no
 * keys at all, where botocore would find no credentials). They are looked
 * up in the keyring when the step above them must be fetched, and are never
 * kept in memory: only the sessions made with them are.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

struct src_keyring_call {
	struct store *store;
	source_done_fn done;
	void *userdata;
	char *profile;
};

static int src_keyring_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const char *file;
	int line;

	pmap_where(in->map, in->profile, &file, &line);
	if (source_what(s, "keys of profile '%s' in the keyring", s->profile) < 0)
		return KR_ERR_NOMEM;
	return step_set_where(s, file, line);
}

int source_keyring_key(const char *profile, struct buf *out)
{
	int r = ckey_step(out, "keyring");

	if (r == KR_OK)
		r = ckey_str(out, "p=", profile);
	return r;
}

static int src_keyring_key(const struct step *s, const struct chain *c, struct buf *out)
{
	return source_keyring_key(s->profile, out);
}

static void nocreds(struct err_detail *e, const char *p)
{
	err_set(e, KR_ERR_NOCREDS, NULL, 0, NULL,
	        "no credentials for source profile '%s': put its keys in ~/.aws/credentials or "
	        "store them with 'keyrole add %s'",
	        p, p);
}

static void src_keyring_call_free(struct src_keyring_call *c)
{
	if (!c)
		return;
	free(c->profile);
	free(c);
}

static void on_lookup(void *userdata, int err, struct sts_creds *creds, time_t lifetime)
{
	struct src_keyring_call *c = userdata;
	struct source_result res = {.err = err, .from = "keyring"};

	if (err == KR_OK) {
		res.creds = *creds;
		memset(creds, 0, sizeof(*creds));
		res.creds.expiration = 0; /* long-term */
	} else {
		res.err = KR_ERR_NOCREDS;
		nocreds(&res.detail, c->profile);
	}
	c->done(c->userdata, &res);
	sts_creds_clear(&res.creds);
	src_keyring_call_free(c);
}

static int src_keyring_fetch(const struct source_fetch *f, struct source_result *res,
                             void **ret_call)
{
	struct src_keyring_call *c = calloc(1, sizeof(*c));

	if (!c || !(c->profile = strdup(f->step->profile))) {
		src_keyring_call_free(c);
		err_set_code(&res->detail, KR_ERR_NOMEM);
		return KR_ERR_NOMEM;
	}
	c->store = f->svc->store;
	c->done = f->done;
	c->userdata = f->userdata;
	if (store_longterm_lookup(c->store, c->profile, on_lookup, c) < 0) {
		nocreds(&res->detail, c->profile);
		src_keyring_call_free(c);
		return KR_ERR_NOCREDS;
	}
	*ret_call = c;
	return 0;
}

static void src_keyring_cancel(void *call)
{
	struct src_keyring_call *c = call;

	if (!c)
		return;
	store_cancel(c->store, c);
	src_keyring_call_free(c);
}

static void src_keyring_describe(const struct step *s, const struct chain *c,
                                 struct step_report *out)
{
	out->kind = "source";
	out->type = "keyring";
}

const struct source_ops source_keyring = {
    .name = "keyring",
    .flags = SOURCE_LONG_TERM,
    .parse = src_keyring_parse,
    .key = src_keyring_key,
    .fetch = src_keyring_fetch,
    .cancel = src_keyring_cancel,
    .describe = src_keyring_describe,
};
