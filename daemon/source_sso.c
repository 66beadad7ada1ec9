/*
 * IAM Identity Center (SSO): role credentials from the portal's
 * GetRoleCredentials, with the access token of the profile's session.
 *
 * The configuration is read exactly as botocore 1.43 reads it, with its
 * messages (plus file:line and a fix):
 *  - credentials.py SSOProvider._load_sso_config: a profile with
 *    sso_account_id or sso_role_name uses this source (sources.c's rows);
 *    it needs sso_role_name, sso_account_id, sso_start_url, sso_region
 *    (and sso_session when it names one), after
 *  - _resolve_sso_session_reference: a named [sso-session] must exist,
 *    and each of its keys is merged over the profile's, a key set to two
 *    different values being an error;
 *  - then tokens.py SSOTokenProvider._load_sso_config, which a profile
 *    with sso_session meets when the token is loaded: the session section
 *    must not be empty and must itself hold sso_start_url and sso_region.
 * The portal's endpoint is the requested profile's (botocore makes the
 * client from the session), as for STS.
 *
 * Invariants:
 *  - No token passes through here: sso_token.c (sso.h) holds them. The
 *    conf is where the session lives (struct sso_where), the account and
 *    the role; the cache key is made of the same, never of a token.
 *  - A login error names the session (or the start URL of a legacy
 *    profile) and the `keyrole login` that fixes it.
 */
#include "source.h"

#include "cachekey.h"
#include "caps.h"
#include "err.h"
#include "ini.h"
#include "shellquote.h"
#include "sso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct src_sso_conf {
	struct sso_where where;
	char *account_id, *role_name;
	int complete; /* parse succeeded: where is whole */
};

struct src_sso_call {
	struct sso_call *call;
	source_done_fn done;
	void *userdata;
	char *profile;   /* the step's profile */
	char *requested; /* the requested profile (a legacy session is logged in through it) */
	char *session, *start_url, *what;
};

/* The profile's settings with its sso-session merged in (botocore's resolved_config). */
struct src_sso_view {
	const struct pmap *m;
	const struct pmap_profile *p;
	const char *name;                  /* the profile's */
	const struct ini_section *session; /* NULL: a legacy profile */
	struct pmap_val session_name;      /* the profile's sso_session */
};

/* key's merged value: the sso-session's when it has the key, else the profile's. */
static int src_sso_view_get(const struct src_sso_view *v, const char *key, struct pmap_val *out)
{
	const struct ini_kv *kv = v->session ? ini_get(v->session, key) : NULL;

	memset(out, 0, sizeof(*out));
	if (!kv)
		return pmap_get(v->m, v->p, PMAP_ANY, key, out);
	out->v = kv->value;
	out->file = pmap_filename(v->m, PMAP_CONFIG);
	out->line = kv->line;
	out->kv = kv;
	return 1;
}

/* _resolve_sso_session_reference: the named session exists, and agrees with the profile. */
static int src_sso_resolve_session(struct src_sso_view *v, struct err_detail *e)
{
	if (!pmap_get(v->m, v->p, PMAP_ANY, "sso_session", &v->session_name))
		return KR_OK; /* legacy */
	v->session = pmap_sso_session(v->m, v->session_name.v);
	if (!v->session) {
		err_set(
		    e, KR_ERR_CONFIG, v->session_name.file, v->session_name.line,
		    "add an [sso-session NAME] section with sso_start_url and sso_region, or fix "
		    "the name",
		    "The specified sso-session does not exist: \"%.200s\"", v->session_name.v);
		return KR_ERR_CONFIG;
	}
	for (size_t i = 0; i < v->session->n_kvs; i++) {
		const struct ini_kv *kv = &v->session->kvs[i];
		struct pmap_val pv;
		char fix[KR_ERR_FIX_MAX];

		if (!pmap_get(v->m, v->p, PMAP_ANY, kv->key, &pv) || strcmp(pv.v, kv->value) == 0)
			continue;
		snprintf(
		    fix, sizeof(fix),
		    "remove %s from profile \"%.100s\" (the sso-session's value applies), or make "
		    "the two equal",
		    kv->key, v->name);
		err_set(e, KR_ERR_CONFIG, pv.file, pv.line, fix,
		        "The value for %s is inconsistent between profile (%.200s) and sso-session "
		        "(%.200s).",
		        kv->key, pv.v, kv->value);
		return KR_ERR_CONFIG;
	}
	return KR_OK;
}

/* _load_sso_config's required keys, in botocore's order. */
static int src_sso_check_required(const struct src_sso_view *v, struct err_detail *e)
{
	static const char *const required[] = {"sso_role_name", "sso_account_id", "sso_start_url",
	                                       "sso_region", "sso_session"};
	size_t n = v->session ? 5 : 4;
	char missing[128] = "";
	struct pmap_val pv;
	const char *f;
	char fix[KR_ERR_FIX_MAX];
	int l, session_keys = 0;

	for (size_t i = 0; i < n; i++) {
		if (src_sso_view_get(v, required[i], &pv))
			continue;
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
		         missing[0] ? ", " : "", required[i]);
		session_keys |= i == 2 || i == 3;
	}
	if (!missing[0])
		return KR_OK;
	pmap_where(v->m, v->p, &f, &l);
	snprintf(fix, sizeof(fix), "add %s to profile \"%.100s\"%s%.100s%s", missing, v->name,
	         v->session && session_keys ? " (or to its [sso-session " : "",
	         v->session && session_keys ? v->session_name.v : "",
	         v->session && session_keys ? "])" : "");
	err_set(e, KR_ERR_CONFIG, f, l, fix,
	        "The profile \"%s\" is configured to use SSO but is missing required "
	        "configuration: %s",
	        v->name, missing);
	return KR_ERR_CONFIG;
}

/* SSOTokenProvider._load_sso_config: the session section itself is whole. */
static int src_sso_check_token(const struct src_sso_view *v, struct err_detail *e)
{
	const char *cfg = pmap_filename(v->m, PMAP_CONFIG);
	int has_url, has_region;
	char fix[KR_ERR_FIX_MAX];

	if (!v->session)
		return KR_OK;
	snprintf(fix, sizeof(fix), "add sso_start_url and sso_region to [sso-session %.100s]",
	         v->session_name.v);
	if (v->session->n_kvs == 0) {
		err_set(e, KR_ERR_CONFIG, cfg, v->session->line, fix,
		        "The profile \"%s\" is configured to use the SSO token provider but the "
		        "\"%.200s\" sso_session configuration does not exist.",
		        v->name, v->session_name.v);
		return KR_ERR_CONFIG;
	}
	has_url = ini_get(v->session, "sso_start_url") != NULL;
	has_region = ini_get(v->session, "sso_region") != NULL;
	if (has_url && has_region)
		return KR_OK;
	err_set(e, KR_ERR_CONFIG, cfg, v->session->line, fix,
	        "The profile \"%s\" is configured to use the SSO token provider but is missing "
	        "the following configuration: [%s%s%s].",
	        v->name, has_url ? "" : "'sso_start_url'", !has_url && !has_region ? ", " : "",
	        has_region ? "" : "'sso_region'");
	return KR_ERR_CONFIG;
}

static int src_sso_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	struct src_sso_view v = {.m = in->map, .p = in->profile, .name = pmap_name(in->profile)};
	struct src_sso_conf *c = calloc(1, sizeof(*c));
	struct pmap_val url, region, scopes, account, role;
	struct sso_where_in wi = {.start_url = &url, .region = &region, .top = in->top};
	const char *f;
	int l, r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	pmap_where(in->map, in->profile, &f, &l);
	r = step_set_where(s, f, l);
	if (r == KR_OK)
		r = src_sso_resolve_session(&v, e);
	if (r == KR_OK)
		r = src_sso_check_required(&v, e);
	if (r == KR_OK)
		r = src_sso_check_token(&v, e);
	if (r < 0)
		return r;
	src_sso_view_get(&v, "sso_account_id", &account);
	src_sso_view_get(&v, "sso_role_name", &role);
	src_sso_view_get(&v, "sso_start_url", &url);
	src_sso_view_get(&v, "sso_region", &region);
	if (v.session && ini_get(v.session, "sso_registration_scopes")) {
		src_sso_view_get(&v, "sso_registration_scopes", &scopes);
		wi.scopes = &scopes;
	}
	wi.session = v.session ? v.session_name.v : NULL;
	wi.profile = v.name;
	wi.file = f;
	wi.line = l;
	r = pmap_take(&account, "sso_account_id", &c->account_id, e);
	if (r == KR_OK)
		r = pmap_take(&role, "sso_role_name", &c->role_name, e);
	if (r == KR_OK)
		r = sso_where_fill(in->map, in->env, &wi, &c->where, e);
	if (r == KR_OK)
		r = source_what(s, "GetRoleCredentials %s/%s", c->account_id, c->role_name);
	c->complete = r == KR_OK;
	return r;
}

static void src_sso_conf_free(void *conf)
{
	struct src_sso_conf *c = conf;

	if (!c)
		return;
	sso_where_clear(&c->where);
	free(c->account_id);
	free(c->role_name);
	free(c);
}

const struct sso_where *source_sso_where(const struct step *s)
{
	const struct src_sso_conf *c = s && s->ops == &source_sso ? s->conf : NULL;

	return c && c->complete ? &c->where : NULL;
}

/* Everything that changes which role session the portal hands out; never a token. */
static int src_sso_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct src_sso_conf *c = s->conf;
	int r = ckey_step(out, "sso");

	/* The session's part first (sso.h): logout finds every step made with it. */
	if (r == KR_OK)
		r = sso_where_key(&c->where, out);
	if (r == KR_OK)
		r = ckey_str(out, "ses=", c->where.session);
	if (r == KR_OK)
		r = ckey_str(out, "acct=", c->account_id);
	if (r == KR_OK)
		r = ckey_str(out, "role=", c->role_name);
	if (r == KR_OK)
		r = ckey_str(out, "portal=", c->where.portal_url);
	return r;
}

static void src_sso_call_free(struct src_sso_call *c)
{
	if (!c)
		return;
	free(c->profile);
	free(c->requested);
	free(c->session);
	free(c->start_url);
	free(c->what);
	free(c);
}

/* The session needs a login: say which, and the command that makes one. */
static void src_sso_login_error(struct err_detail *d, const struct src_sso_call *c,
                                const struct err_detail *why)
{
	char word[KR_NAME_MAX * 4 + 8], fix[KR_ERR_FIX_MAX];

	shellquote_word(c->session ? c->session : c->requested, word, sizeof(word));
	snprintf(fix, sizeof(fix), "run keyrole login %s%s", c->session ? "" : "--profile ", word);
	err_set(
	    d, KR_ERR_LOGIN, NULL, 0, fix,
	    "profile \"%s\": the IAM Identity Center session \"%.200s\" needs a login%s%.300s%s",
	    c->profile, c->session ? c->session : c->start_url, why && why->msg[0] ? " (" : "",
	    why ? why->msg : "", why && why->msg[0] ? ")" : "");
}

static void src_sso_on_done(void *userdata, int err, struct sts_creds *creds,
                            const struct err_detail *e, const char *aws_code,
                            const char *aws_message)
{
	struct src_sso_call *c = userdata;
	struct source_result res = {
	    .err = err, .from = "sso", .aws_code = aws_code, .aws_message = aws_message};

	if (err == KR_OK && creds) {
		res.creds = *creds;
		memset(creds, 0, sizeof(*creds));
	} else if (err == KR_ERR_LOGIN) {
		res.sso_session = c->session ? c->session : c->start_url;
		res.sso_start_url = c->start_url;
		src_sso_login_error(&res.detail, c, e);
	} else {
		if (err == KR_OK)
			res.err = err = KR_ERR_INTERNAL;
		err_set(&res.detail, err, NULL, 0, e && e->fix[0] ? e->fix : NULL, "%s: %s",
		        c->what, e && e->msg[0] ? e->msg : err_str(err));
	}
	c->call = NULL;
	c->done(c->userdata, &res);
	sts_creds_clear(&res.creds);
	src_sso_call_free(c);
}

static int src_sso_dup(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? KR_OK : KR_ERR_NOMEM;
}

static int src_sso_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	const struct src_sso_conf *conf = f->step->conf;
	struct src_sso_call *c = calloc(1, sizeof(*c));
	int r = c ? KR_OK : KR_ERR_NOMEM;

	if (r == KR_OK)
		r = src_sso_dup(&c->profile, f->step->profile);
	if (r == KR_OK)
		r = src_sso_dup(&c->requested, f->profile ? f->profile : f->step->profile);
	if (r == KR_OK)
		r = src_sso_dup(&c->session, conf->where.session);
	if (r == KR_OK)
		r = src_sso_dup(&c->start_url, conf->where.start_url);
	if (r == KR_OK)
		r = src_sso_dup(&c->what, f->step->what);
	if (r == KR_OK && !f->svc->sso)
		r = KR_ERR_INTERNAL;
	if (r == KR_OK) {
		c->done = f->done;
		c->userdata = f->userdata;
		r = sso_role_credentials(f->svc->sso, &conf->where, conf->account_id,
		                         conf->role_name, src_sso_on_done, c, &c->call);
	}
	if (r < 0) {
		err_set(&res->detail, r, f->step->file, f->step->line, NULL,
		        "%s (profile \"%s\") cannot be started: %s",
		        f->step->what ? f->step->what : "GetRoleCredentials", f->step->profile,
		        err_str(r));
		src_sso_call_free(c);
		return r;
	}
	*ret_call = c;
	return 0;
}

static void src_sso_cancel(void *call)
{
	struct src_sso_call *c = call;

	if (!c)
		return;
	sso_call_cancel(c->call);
	src_sso_call_free(c);
}

static void src_sso_describe(const struct step *s, const struct chain *ch, struct step_report *out)
{
	const struct src_sso_conf *c = s->conf;

	out->kind = "source";
	out->type = "sso";
	if (!c)
		return;
	out->sso_session = c->where.session;
	out->start_url = c->where.start_url;
	out->region = c->where.region;
	out->endpoint = c->where.portal_url;
	out->account_id = c->account_id;
	out->role_name = c->role_name;
}

const struct source_ops source_sso = {
    .name = "sso",
    .flags = SOURCE_SESSION | SOURCE_ROLE_SESSION,
    .max_lifetime = KR_SSO_LIFETIME_MAX_S,
    .parse = src_sso_parse,
    .free = src_sso_conf_free,
    .key = src_sso_key,
    .fetch = src_sso_fetch,
    .cancel = src_sso_cancel,
    .describe = src_sso_describe,
};
