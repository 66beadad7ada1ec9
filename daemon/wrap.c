/*
 * `keyrole wrap`: plans the tool profiles of chain profiles; see wrap.h.
 * Nothing here writes a file.
 */
#include "wrap.h"

#include "caps.h"
#include "check.h"
#include "pmap.h"
#include "resolve.h"
#include "shellquote.h"
#include "source.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRAP_SUFFIX         "-chain"
#define WRAP_DEFAULT_SUFFIX "-keyrole"

void wrap_plan_free(struct wrap_plan *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->s[i].name);
		free(w->s[i].target);
		free(w->s[i].text);
	}
	for (size_t i = 0; i < w->n_skipped; i++) {
		free(w->skipped[i].profile);
		free(w->skipped[i].reason);
	}
	free(w->s);
	free(w->skipped);
	free(w->file);
	free(w);
}

/* The default tool profile name of chain: without "-chain", else with "-keyrole". */
static void default_name(const char *chain, char *out, size_t n)
{
	size_t l = strlen(chain), sl = strlen(WRAP_SUFFIX);

	if (l > sl && strcmp(chain + l - sl, WRAP_SUFFIX) == 0)
		snprintf(out, n, "%.*s", (int)(l - sl), chain);
	else
		snprintf(out, n, "%s%s", chain, WRAP_DEFAULT_SUFFIX);
}

/* Is some profile of m a tool profile for target? */
static int has_tool(const struct pmap *m, const char *target)
{
	int found = 0;

	for (size_t i = 0; i < pmap_count(m) && !found; i++) {
		struct pmap_val v;
		char *t;

		if (!pmap_get(m, pmap_at(m, i), PMAP_ANY, "credential_process", &v))
			continue;
		t = resolve_keyrole_target(v.v);
		found = t && strcmp(t, target) == 0;
		free(t);
	}
	return found;
}

/* A chain profile: one that resolves to a role or an IAM Identity Center source. */
static int is_chain(const struct chain *ch)
{
	return ch && ch->n > 0 &&
	       (ch->steps[ch->n - 1].role_index >= 0 || ch->steps[0].ops == &source_sso);
}

static int add_section(struct wrap_plan *w, const struct pmap *m, const char *chain,
                       const char *name, const char *keyrole)
{
	const struct pmap_profile *p = pmap_find(m, chain);
	struct wrap_section *ns = realloc(w->s, (w->n + 1) * sizeof(*ns));
	char prog[KR_PATH_MAX + 8], text[2 * KR_PATH_MAX + 4 * KR_NAME_MAX];
	struct pmap_val region;
	int has_region = p && pmap_get(m, p, PMAP_CONFIG, "region", &region) &&
	                 strlen(region.v) < KR_NAME_MAX && !strpbrk(region.v, "\r\n");

	if (!ns)
		return KR_ERR_NOMEM;
	w->s = ns;
	shellquote_word(keyrole, prog, sizeof(prog));
	snprintf(text, sizeof(text), "%s%s]\ncredential_process = %s get %s\n%s%s%s",
	         strcmp(name, "default") == 0 ? "[" : "[profile ", name, prog, chain,
	         has_region ? "region = " : "", has_region ? region.v : "", has_region ? "\n" : "");
	ns[w->n].name = strdup(name);
	ns[w->n].target = strdup(chain);
	ns[w->n].text = strdup(text);
	w->n++;
	return ns[w->n - 1].name && ns[w->n - 1].target && ns[w->n - 1].text ? KR_OK : KR_ERR_NOMEM;
}

static int add_skip(struct wrap_plan *w, const char *profile, const char *reason)
{
	struct wrap_skip *ns = realloc(w->skipped, (w->n_skipped + 1) * sizeof(*ns));

	if (!ns)
		return KR_ERR_NOMEM;
	w->skipped = ns;
	ns[w->n_skipped].profile = strdup(profile);
	ns[w->n_skipped].reason = strdup(reason);
	w->n_skipped++;
	return ns[w->n_skipped - 1].profile && ns[w->n_skipped - 1].reason ? KR_OK : KR_ERR_NOMEM;
}

/* One named profile: it must resolve, not be a tool profile, and its tool's name be free. */
static int wrap_one(struct wrap_plan *w, const struct pmap *m, const struct caller_env *env,
                    const struct resolve_opts *o, const char *profile, const char *as,
                    const char *keyrole, struct err_detail *e)
{
	const struct pmap_profile *p = pmap_find(m, profile), *taken;
	char name[KR_NAME_MAX + 16], *t = NULL;
	struct chain *ch = NULL;
	struct err_detail re;
	const char *f;
	int l, r;

	if (!p) {
		const char *near = check_nearest_profile(m, profile);
		char fix[KR_NAME_MAX + 32];

		snprintf(fix, sizeof(fix), near ? "did you mean \"%s\"?" : "check the name%s",
		         near ? near : "");
		err_set(e, KR_ERR_NOPROFILE, pmap_filename(m, PMAP_CONFIG), 0, fix,
		        "profile \"%s\" not found", profile);
		return KR_ERR_NOPROFILE;
	}
	memset(&re, 0, sizeof(re));
	r = resolve_in_map(m, env, profile, o, &ch, &re);
	if (r == KR_OK)
		t = resolve_chain_target(ch);
	chain_unref(ch);
	if (r == KR_ERR_NOMEM || (r == KR_OK && !ch))
		return KR_ERR_NOMEM;
	if (r < 0) {
		err_set(e, KR_ERR_CONFIG, re.file, re.line, "fix it first: keyrole check shows it",
		        "profile \"%s\" does not resolve: %s", profile, re.msg);
		return KR_ERR_CONFIG;
	}
	if (t) {
		pmap_where(m, p, &f, &l);
		err_set(e, KR_ERR_CONFIG, f, l, "wrap the chain profile it names instead",
		        "profile \"%s\" is a tool profile already: it runs keyrole get %.200s",
		        profile, t);
		free(t);
		return KR_ERR_CONFIG;
	}
	if (as)
		snprintf(name, sizeof(name), "%s", as);
	else
		default_name(profile, name, sizeof(name));
	if (!valid_profile_name(name)) {
		err_set(e, KR_ERR_INVAL, NULL, 0, "name it with --as NAME",
		        "\"%s\" is not a valid profile name", name);
		return KR_ERR_INVAL;
	}
	taken = pmap_find(m, name);
	if (taken) {
		pmap_where(m, taken, &f, &l);
		err_set(e, KR_ERR_CONFIG, f, l, "choose another name with --as NAME",
		        "a profile \"%s\" exists already", name);
		return KR_ERR_CONFIG;
	}
	return add_section(w, m, profile, name, keyrole);
}

/* Every chain profile without a tool profile; the others are listed as skipped, with why. */
static int wrap_all(struct wrap_plan *w, const struct pmap *m, const struct caller_env *env,
                    const struct resolve_opts *o, const char *keyrole)
{
	int r = KR_OK;

	for (size_t i = 0; i < pmap_count(m) && r == KR_OK; i++) {
		const char *pn = pmap_name(pmap_at(m, i));
		char name[KR_NAME_MAX + 16], why[KR_NAME_MAX + 96];
		struct chain *ch = NULL;
		struct err_detail re;
		int chain;

		memset(&re, 0, sizeof(re));
		r = resolve_in_map(m, env, pn, o, &ch, &re);
		chain = r == KR_OK && is_chain(ch);
		chain_unref(ch);
		if (r == KR_ERR_NOMEM || (!ch && r != KR_ERR_NOMEM))
			return KR_ERR_NOMEM;
		r = KR_OK;
		if (!chain || has_tool(m, pn))
			continue;
		default_name(pn, name, sizeof(name));
		if (pmap_find(m, name) || !valid_profile_name(name)) {
			snprintf(why, sizeof(why),
			         "a profile \"%s\" exists already: keyrole wrap %s --as NAME", name,
			         pn);
			r = add_skip(w, pn, why);
		} else {
			r = add_section(w, m, pn, name, keyrole);
		}
	}
	return r;
}

int wrap_make(const struct caller_env *env, const char *profile, const char *as,
              const char *keyrole, const struct source_table *sources, struct wrap_plan **ret,
              struct err_detail *e)
{
	struct resolve_opts o = {.sources = sources};
	struct wrap_plan *w = calloc(1, sizeof(*w));
	const struct pmap *m = NULL;
	int r;

	if (!w)
		return KR_ERR_NOMEM;
	if (!keyrole || keyrole[0] != '/' || strlen(keyrole) >= KR_PATH_MAX ||
	    strpbrk(keyrole, "\r\n"))
		keyrole = "keyrole";
	r = pmap_load(env, &m, e);
	if (r == KR_OK)
		r = (w->file = strdup(pmap_filename(m, PMAP_CONFIG))) ? KR_OK : KR_ERR_NOMEM;
	if (r == KR_OK)
		r = profile ? wrap_one(w, m, env, &o, profile, as, keyrole, e)
		            : wrap_all(w, m, env, &o, keyrole);
	pmap_release(m);
	if (r < 0) {
		if (!e->code)
			err_set_code(e, r);
		wrap_plan_free(w);
		return r;
	}
	*ret = w;
	return KR_OK;
}
