/*
 * TEMPORARY (branch sso-token only): what source_sso.c (branch sso-conf)
 * provides of sso.h, so that the token store, logins and ops link and can
 * be tested before the two branches meet. Deleted by the merge, where
 * source_sso.c's own functions take over.
 */
#include "sso.h"

#include "err.h"
#include "mem.h"

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
	mem_free_str(w->portal_proxy);
	mem_free_str(w->oidc_proxy);
	mem_free_str(w->no_proxy);
	free(w->cli_cache_file);
	free(w->profile);
	free(w->file);
	memset(w, 0, sizeof(*w));
}

static int dup(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? KR_ERR_NOMEM : KR_OK;
}

int sso_where_copy(struct sso_where *dst, const struct sso_where *src)
{
	struct sso_where w = {.line = src->line, .n_scopes = src->n_scopes};
	int r = KR_OK;

	memcpy(w.cache_key, src->cache_key, sizeof(w.cache_key));
	if (src->n_scopes && !(w.scopes = calloc(src->n_scopes, sizeof(*w.scopes))))
		r = KR_ERR_NOMEM;
	for (size_t i = 0; r == KR_OK && i < src->n_scopes; i++)
		r = dup(&w.scopes[i], src->scopes[i]);
	if (r == KR_OK)
		r = dup(&w.session, src->session) ?: dup(&w.start_url, src->start_url)
		    ?: dup(&w.region, src->region) ?: dup(&w.portal_url, src->portal_url)
		    ?: dup(&w.oidc_url, src->oidc_url) ?: dup(&w.ca_bundle, src->ca_bundle)
		    ?: dup(&w.portal_proxy, src->portal_proxy) ?: dup(&w.oidc_proxy, src->oidc_proxy)
		    ?: dup(&w.no_proxy, src->no_proxy) ?: dup(&w.cli_cache_file, src->cli_cache_file)
		    ?: dup(&w.profile, src->profile) ?: dup(&w.file, src->file);
	if (r < 0) {
		sso_where_clear(&w);
		memset(dst, 0, sizeof(*dst));
		return r;
	}
	*dst = w;
	return KR_OK;
}

int sso_where_resolve(const struct pmap *map, const struct caller_env *env, const char *profile,
                      const char *session, struct sso_where *out, struct err_detail *e)
{
	memset(out, 0, sizeof(*out));
	err_set(e, KR_ERR_UNSUPPORTED, NULL, 0, NULL,
	        "IAM Identity Center configuration is not read yet by this build");
	return KR_ERR_UNSUPPORTED;
}
