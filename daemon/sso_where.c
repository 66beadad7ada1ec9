/*
 * Where an IAM Identity Center session lives (struct sso_where, sso.h):
 * filled from the configuration for one caller, copied, released, and
 * found for a login, logout or `sso profiles` by session name or by
 * profile.
 *
 * By session name (the AWS CLI's `aws sso login --sso-session NAME`): an
 * [sso-session NAME] section, whose clients take the endpoint settings of
 * [default] (the CLI's session profile without AWS_PROFILE); KEYROLE: or a
 * start URL, for legacy sessions, taken from the first profile (file order)
 * that has that sso_start_url and no sso_session.
 *
 * By profile (`aws sso login --profile P`): P's sso_session, else P's own
 * sso_start_url and sso_region (legacy). KEYROLE: a profile without either
 * is followed to its credentials as `get` resolves them: source_profile
 * chains, and a credential_process that runs `keyrole get OTHER` (the
 * profiles `keyrole sso profiles` prints), to its IAM Identity Center source.
 *
 * Invariants: no token passes through here. The proxies may hold a
 * password: they are wiped when released. Values from the files are single
 * lines of at most KR_VALUE_MAX bytes (pmap_take()).
 */
#include "sso.h"

#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "ini.h"
#include "mem.h"
#include "request.h"
#include "resolve.h"
#include "sigv4.h"
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sso_where_clear(struct sso_where *w)
{
	if (!w)
		return;
	free(w->session);
	free(w->start_url);
	free(w->region);
	for (size_t i = 0; i < w->n_scopes; i++)
		free(w->scopes[i]);
	free(w->scopes);
	free(w->portal_url);
	free(w->oidc_url);
	free(w->ca_bundle);
	mem_free_str(w->portal_proxy); /* a proxy URL may carry a password */
	mem_free_str(w->oidc_proxy);
	mem_free_str(w->no_proxy);
	free(w->cli_cache_file);
	free(w->profile);
	free(w->file);
	memset(w, 0, sizeof(*w));
}

static int where_dup(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? KR_OK : KR_ERR_NOMEM;
}

int sso_where_copy(struct sso_where *dst, const struct sso_where *src)
{
	int r;

	memset(dst, 0, sizeof(*dst));
	r = where_dup(&dst->session, src->session);
	if (r == KR_OK)
		r = where_dup(&dst->start_url, src->start_url);
	if (r == KR_OK)
		r = where_dup(&dst->region, src->region);
	if (r == KR_OK && src->n_scopes) {
		dst->scopes = calloc(src->n_scopes, sizeof(*dst->scopes));
		r = dst->scopes ? KR_OK : KR_ERR_NOMEM;
		for (size_t i = 0; i < src->n_scopes && r == KR_OK; i++, dst->n_scopes++)
			r = where_dup(&dst->scopes[i], src->scopes[i]);
	}
	memcpy(dst->cache_key, src->cache_key, sizeof(dst->cache_key));
	if (r == KR_OK)
		r = where_dup(&dst->portal_url, src->portal_url);
	if (r == KR_OK)
		r = where_dup(&dst->oidc_url, src->oidc_url);
	if (r == KR_OK)
		r = where_dup(&dst->ca_bundle, src->ca_bundle);
	if (r == KR_OK)
		r = where_dup(&dst->portal_proxy, src->portal_proxy);
	if (r == KR_OK)
		r = where_dup(&dst->oidc_proxy, src->oidc_proxy);
	if (r == KR_OK)
		r = where_dup(&dst->no_proxy, src->no_proxy);
	if (r == KR_OK)
		r = where_dup(&dst->cli_cache_file, src->cli_cache_file);
	if (r == KR_OK)
		r = where_dup(&dst->profile, src->profile);
	if (r == KR_OK)
		r = where_dup(&dst->file, src->file);
	dst->line = src->line;
	if (r < 0)
		sso_where_clear(dst);
	return r;
}

/* Python's str.isspace() for the ASCII the AWS CLI's strip() meets in practice. */
static int where_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The AWS CLI's parse_sso_registration_scopes: split at ',', strip, drop empty ones. */
static int where_split_scopes(const struct pmap_val *v, struct sso_where *w, struct err_detail *e)
{
	char *raw = NULL;
	const char *p;
	int r = pmap_take(v, "sso_registration_scopes", &raw, e);

	if (r < 0)
		return r;
	w->scopes = calloc(KR_SSO_SCOPES_MAX, sizeof(*w->scopes));
	if (!w->scopes)
		r = KR_ERR_NOMEM;
	for (p = raw; r == KR_OK && p && *p;) {
		const char *b = p, *end = strchr(p, ',');

		if (!end)
			end = p + strlen(p);
		p = *end ? end + 1 : NULL;
		while (b < end && where_is_space(*b))
			b++;
		while (end > b && where_is_space(end[-1]))
			end--;
		if (b == end)
			continue;
		if (w->n_scopes >= KR_SSO_SCOPES_MAX) {
			err_set(e, KR_ERR_CONFIG, v->file, v->line, "list fewer scopes",
			        "sso_registration_scopes has more than %d scopes",
			        KR_SSO_SCOPES_MAX);
			r = KR_ERR_CONFIG;
		} else if (!(w->scopes[w->n_scopes++] = strndup(b, (size_t)(end - b)))) {
			r = KR_ERR_NOMEM;
		}
	}
	free(raw);
	return r;
}

/* The portal's and OIDC's URLs for a client of in->top; an error blames in->top. */
static int where_fill_endpoints(const struct pmap *m, const struct caller_env *env,
                                const struct sso_where_in *in, struct sso_where *w,
                                struct err_detail *e)
{
	const enum endpoint_service svc[2] = {ENDPOINT_SSO, ENDPOINT_SSO_OIDC};
	char **url[2] = {&w->portal_url, &w->oidc_url};
	struct endpoint_conf c;
	int r = KR_OK;

	for (size_t i = 0; i < 2 && r == KR_OK; i++) {
		r = endpoint_conf_read(m, in->top, env, svc[i], &c, e);
		if (r == KR_OK)
			r = endpoint_service_url(svc[i], w->region, &c, url[i], e);
	}
	if (r == KR_ERR_CONFIG && !e->file[0] && in->top) {
		char msg[KR_ERR_MSG_MAX];
		const char *f;
		int l;

		pmap_where(m, in->top, &f, &l);
		snprintf(msg, sizeof(msg), "profile \"%s\": %s", pmap_name(in->top), e->msg);
		memcpy(e->msg, msg, sizeof(msg));
		snprintf(e->file, sizeof(e->file), "%s", f ? f : "");
		e->line = l;
	}
	return r;
}

/* AWS_CA_BUNDLE, else top's ca_bundle; the proxies of both URLs; the CLI's cache file. */
static int where_fill_transport(const struct pmap *m, const struct caller_env *env,
                                const struct sso_where_in *in, struct sso_where *w,
                                struct err_detail *e)
{
	char *no_proxy = NULL;
	int r;

	if (env->ca_bundle && env->ca_bundle[0])
		r = where_dup(&w->ca_bundle, env->ca_bundle);
	else
		r = in->top ? pmap_take_opt(m, in->top, "ca_bundle", &w->ca_bundle, e) : KR_OK;
	if (r == KR_OK)
		r = endpoint_proxy(w->portal_url, &env->proxy, &w->portal_proxy, &w->no_proxy);
	if (r == KR_OK)
		r = endpoint_proxy(w->oidc_url, &env->proxy, &w->oidc_proxy, &no_proxy);
	mem_free_str(no_proxy); /* the same exceptions as the portal's */
	if (r == KR_OK && env->home && env->home[0] == '/') {
		size_t n =
		    strlen(env->home) + sizeof("/.aws/sso/cache/.json") + sizeof(w->cache_key);

		if (n > KR_PATH_MAX)
			return KR_OK; /* no cache file to read */
		w->cli_cache_file = malloc(n);
		if (!w->cli_cache_file)
			return KR_ERR_NOMEM;
		snprintf(w->cli_cache_file, n, "%s/.aws/sso/cache/%s.json", env->home,
		         w->cache_key);
	}
	return r;
}

int sso_where_fill(const struct pmap *m, const struct caller_env *env,
                   const struct sso_where_in *in, struct sso_where *out, struct err_detail *e)
{
	const char *named;
	int r;

	memset(out, 0, sizeof(*out));
	r = where_dup(&out->session, in->session);
	if (r == KR_OK)
		r = pmap_take(in->start_url, "sso_start_url", &out->start_url, e);
	if (r == KR_OK)
		r = pmap_take(in->region, "sso_region", &out->region, e);
	if (r == KR_OK && !endpoint_region_valid(out->region)) {
		/* botocore's InvalidRegionError, when it makes the portal's client */
		err_set(e, KR_ERR_CONFIG, in->region->file, in->region->line,
		        "set sso_region to the region of your IAM Identity Center (e.g. eu-west-1)",
		        "Provided region_name '%.100s' doesn't match a supported format.",
		        out->region);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && in->scopes)
		r = where_split_scopes(in->scopes, out, e);
	named = out->session ? out->session : out->start_url;
	if (r == KR_OK && sigv4_sha1_hex(named, named ? strlen(named) : 0, out->cache_key) < 0)
		r = KR_ERR_INTERNAL;
	if (r == KR_OK)
		r = where_fill_endpoints(m, env, in, out, e);
	if (r == KR_OK)
		r = where_fill_transport(m, env, in, out, e);
	if (r == KR_OK)
		r = where_dup(&out->profile, in->profile);
	if (r == KR_OK)
		r = where_dup(&out->file, in->file);
	out->line = in->line;
	if (r < 0) {
		if (e->code == 0)
			err_set_code(e, r);
		sso_where_clear(out);
	}
	return r;
}

/* ---- finding the session of a login, logout or `sso profiles` ---- */

/* A key of an sso-session section as a pmap value. */
static int where_section_val(const struct pmap *m, const struct ini_section *sec, const char *key,
                             struct pmap_val *out)
{
	const struct ini_kv *kv = ini_get(sec, key);

	memset(out, 0, sizeof(*out));
	if (!kv)
		return 0;
	out->v = kv->value;
	out->file = pmap_filename(m, PMAP_CONFIG);
	out->line = kv->line;
	out->kv = kv;
	return 1;
}

/* The [sso-session name] section (the AWS CLI's _get_sso_session_config); blame: where it was
 * named. */
static int where_from_session(const struct pmap *m, const struct caller_env *env, const char *name,
                              const struct pmap_profile *top, const struct pmap_val *blame,
                              struct sso_where *out, struct err_detail *e)
{
	const struct ini_section *sec = pmap_sso_session(m, name);
	const char *cfg = pmap_filename(m, PMAP_CONFIG);
	struct pmap_val url, region, scopes;
	struct sso_where_in in = {
	    .session = name, .start_url = &url, .region = &region, .top = top};
	int has_url, has_region;

	if (!sec) {
		err_set(
		    e, KR_ERR_CONFIG, blame ? blame->file : cfg, blame ? blame->line : 0,
		    "add an [sso-session NAME] section with sso_start_url and sso_region, or fix "
		    "the name",
		    "The specified sso-session does not exist: \"%.200s\"", name);
		return KR_ERR_CONFIG;
	}
	has_url = where_section_val(m, sec, "sso_start_url", &url);
	has_region = where_section_val(m, sec, "sso_region", &region);
	if (!has_url || !has_region) {
		err_set(e, KR_ERR_CONFIG, cfg, sec->line, "add the missing keys to the section",
		        "[sso-session %.200s] is missing required configuration: %s%s%s", name,
		        has_url ? "" : "sso_start_url", !has_url && !has_region ? ", " : "",
		        has_region ? "" : "sso_region");
		return KR_ERR_CONFIG;
	}
	if (where_section_val(m, sec, "sso_registration_scopes", &scopes))
		in.scopes = &scopes;
	in.profile = top ? pmap_name(top) : NULL;
	in.file = cfg;
	in.line = sec->line;
	return sso_where_fill(m, env, &in, out, e);
}

/* A legacy profile's own sso_start_url and sso_region (the AWS CLI's _get_legacy_sso_config). */
static int where_from_legacy(const struct pmap *m, const struct caller_env *env,
                             const struct pmap_profile *p, struct sso_where *out,
                             struct err_detail *e)
{
	struct pmap_val url = {0}, region = {0};
	struct sso_where_in in = {.start_url = &url, .region = &region, .top = p};
	int has_url = pmap_get(m, p, PMAP_ANY, "sso_start_url", &url);
	int has_region = pmap_get(m, p, PMAP_ANY, "sso_region", &region);

	pmap_where(m, p, &in.file, &in.line);
	if (!has_url || !has_region) {
		err_set(e, KR_ERR_CONFIG, in.file, in.line,
		        "add the missing keys, or sso_session = NAME with an [sso-session NAME] "
		        "section",
		        "profile \"%s\" is missing required configuration for IAM Identity Center: "
		        "%s%s%s",
		        pmap_name(p), has_url ? "" : "sso_start_url",
		        !has_url && !has_region ? ", " : "", has_region ? "" : "sso_region");
		return KR_ERR_CONFIG;
	}
	in.profile = pmap_name(p);
	return sso_where_fill(m, env, &in, out, e);
}

/* A session given by name: an [sso-session NAME], else a legacy profile's start URL. */
static int where_by_session(const struct pmap *m, const struct caller_env *env, const char *name,
                            struct sso_where *out, struct err_detail *e)
{
	struct pmap_val v;

	if (pmap_sso_session(m, name))
		return where_from_session(m, env, name, pmap_find(m, "default"), NULL, out, e);
	for (size_t i = 0; i < pmap_count(m); i++) {
		const struct pmap_profile *p = pmap_at(m, i);

		if (!pmap_get(m, p, PMAP_ANY, "sso_session", NULL) &&
		    pmap_get(m, p, PMAP_ANY, "sso_start_url", &v) && strcmp(v.v, name) == 0)
			return where_from_legacy(m, env, p, out, e);
	}
	return where_from_session(m, env, name, NULL, NULL, out, e); /* "does not exist" */
}

static int where_by_profile(const struct pmap *m, const struct caller_env *env, const char *name,
                            int depth, struct sso_where *out, struct err_detail *e);

/*
 * profile resolves, as `get` resolves it, to an IAM Identity Center source
 * (its session), or to a credential_process that runs `keyrole get OTHER`
 * (OTHER's session).
 */
static int where_through_chain(const struct pmap *m, const struct caller_env *env, const char *name,
                               int depth, struct sso_where *out, struct err_detail *e)
{
	struct resolve_opts o = {0};
	struct chain *ch = NULL;
	const struct sso_where *w;
	struct step_report rep;
	char *target = NULL;
	int r = resolve_in_map(m, env, name, &o, &ch, e);

	if (!ch)
		return KR_ERR_NOMEM;
	w = ch->n > 0 ? source_sso_where(&ch->steps[0]) : NULL;
	memset(&rep, 0, sizeof(rep));
	if (!w && ch->n > 0 && ch->steps[0].ops == &source_process) {
		ch->steps[0].ops->describe(&ch->steps[0], ch, &rep);
		target = resolve_keyrole_target(rep.command);
	}
	if (w) {
		memset(e, 0, sizeof(*e)); /* the session is fine even if a role above is not */
		r = sso_where_copy(out, w);
	} else if (target && depth < KR_CHAIN_MAX) {
		memset(e, 0, sizeof(*e));
		r = where_by_profile(m, env, target, depth + 1, out, e);
	} else if (target) {
		err_set(
		    e, KR_ERR_CONFIG, ch->steps[0].file, ch->steps[0].line,
		    "point credential_process at the profile with the IAM Identity Center source",
		    "profile \"%s\": more than %d profiles whose credential_process runs keyrole",
		    name, KR_CHAIN_MAX);
		r = KR_ERR_CONFIG;
	} else if (r == KR_OK) {
		const struct step *s = &ch->steps[0];

		err_set(
		    e, KR_ERR_CONFIG, s->file, s->line,
		    "name an [sso-session NAME], or a profile with sso_session or "
		    "sso_account_id and sso_role_name",
		    "profile \"%s\" does not use IAM Identity Center: its credentials come from "
		    "%s (profile \"%s\")",
		    name, s->ops->name, s->profile ? s->profile : name);
		r = KR_ERR_CONFIG;
	}
	free(target);
	chain_unref(ch);
	return r;
}

static int where_by_profile(const struct pmap *m, const struct caller_env *env, const char *name,
                            int depth, struct sso_where *out, struct err_detail *e)
{
	const struct pmap_profile *p = pmap_find(m, name);
	struct pmap_val sv;

	if (!p) {
		err_set(e, KR_ERR_NOPROFILE, pmap_filename(m, PMAP_CONFIG), 0,
		        "add a [profile NAME] section to the config file, or check the name",
		        "profile \"%s\" not found", name);
		return KR_ERR_NOPROFILE;
	}
	if (pmap_get(m, p, PMAP_ANY, "sso_session", &sv))
		return where_from_session(m, env, sv.v, p, &sv, out, e);
	if (pmap_get(m, p, PMAP_ANY, "sso_start_url", NULL))
		return where_from_legacy(m, env, p, out, e);
	return where_through_chain(m, env, name, depth, out, e);
}

int sso_where_resolve(const struct pmap *map, const struct caller_env *env, const char *profile,
                      const char *session, struct sso_where *out, struct err_detail *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (!map || !env || !out || !!profile == !!session) {
		err_set(e, KR_ERR_INVAL, NULL, 0, NULL, "name either a session or a profile");
		return KR_ERR_INVAL;
	}
	r = session ? where_by_session(map, env, session, out, e)
	            : where_by_profile(map, env, profile, 0, out, e);
	if (r < 0 && e->code == 0)
		err_set_code(e, r);
	return r;
}
