/*
 * The resolver; see resolve.h for the rules.
 *
 * One resolution walks from the requested profile down its source_profile
 * references (walk()), one role step per profile with role_arn, until a
 * profile holds credentials (pick_source()) or names a credential_source
 * (pick_credential_source()). finish() then turns what was found into a
 * chain in execution order: the endpoint of the roles, role chaining, the
 * MFA session step and every step's cache key.
 *
 * Invariants:
 *  - Every value taken from a file is checked against KR_VALUE_MAX and its
 *    own syntax (by the source that reads it) before it reaches a chain; a
 *    bad one gives KR_ERR_CONFIG with file, line and fix.
 *  - Secret values are copied only into steps' inline_creds.
 */
#include "resolve.h"

#include "cachekey.h"
#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "mem.h"
#include "shellquote.h"
#include "valid.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The chains whose credential_process runs `keyrole get` for the chain
 * being resolved (innermost first): a self-call may go through several.
 */
struct callers {
	const struct callers *up;
	const char *const *visited; /* profiles of that chain */
	size_t n;
	int depth;
};

/* One resolution in progress. */
struct walk {
	const struct pmap *m;
	const struct caller_env *env;
	const struct resolve_opts *o;
	const struct source_table *t;
	const struct callers *up;
	struct err_detail *e;
	struct chain *ch;
	const struct pmap_profile *top;
	struct step roles[KR_CHAIN_MAX]; /* from the requested profile down */
	size_t n_roles;
	struct step src;
	int has_src;
	const char *visited[KR_CHAIN_MAX + 2]; /* profile names, borrowed from the map */
	size_t n_visited;
	int selfcall; /* the error is a credential_process that would call keyrole back */
};

static int walk_profile(const struct pmap *m, const struct caller_env *env,
                        const struct resolve_opts *o, const char *name, const struct callers *up,
                        struct chain **ret, struct err_detail *e, int *ret_selfcall);

static const char *follow_tools(const struct pmap *m, const struct caller_env *env,
                                const struct resolve_opts *o, const char *name, char **ret_owned,
                                struct err_detail *where);

static int set_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return KR_OK;
	*dst = strdup(src);
	return *dst ? KR_OK : KR_ERR_NOMEM;
}

static int has(const struct walk *w, const struct pmap_profile *p, const char *key)
{
	return pmap_get(w->m, p, PMAP_ANY, key, NULL);
}

static int has_role(const struct walk *w, const struct pmap_profile *p)
{
	return has(w, p, "role_arn") && !has(w, p, "web_identity_token_file");
}

static int has_static(const struct walk *w, const struct pmap_profile *p)
{
	return has(w, p, "aws_access_key_id") || has(w, p, "aws_secret_access_key");
}

/* Parse one step of row's source (NULL row: a role) for profile p. */
static int parse_step(struct walk *w, const struct source_ops *ops, const struct source_row *row,
                      const struct pmap_profile *p, struct step *s)
{
	struct source_parse in = {.map = w->m,
	                          .profile = p,
	                          .top = w->top,
	                          .env = w->env,
	                          .row = row,
	                          .mfa_duration = w->o->mfa_duration};

	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->role_index = -1;
	if (set_str(&s->profile, pmap_name(p)) < 0)
		return KR_ERR_NOMEM;
	return ops->parse(&in, s, w->e);
}

/* keyrole_mfa_prompt of p, checked, unless the chain has one already. */
static int take_mfa_prompt(struct walk *w, const struct pmap_profile *p)
{
	struct pmap_val v = {0};

	if (w->ch->mfa_prompt || !p || !pmap_get(w->m, p, PMAP_ANY, "keyrole_mfa_prompt", &v))
		return KR_OK;
	if (!valid_mfa_prompt(v.v)) {
		err_set(w->e, KR_ERR_CONFIG, v.file, v.line,
		        "use auto, terminal, askpass, zenity, kdialog or an askpass program's "
		        "absolute path",
		        "profile \"%s\": keyrole_mfa_prompt = \"%.100s\" is not a way to ask",
		        pmap_name(p), v.v);
		return KR_ERR_CONFIG;
	}
	return set_str(&w->ch->mfa_prompt, v.v);
}

/*
 * The requested profile's region, CA bundle, mfa_process and
 * keyrole_mfa_prompt. The region: AWS_REGION when not empty (botocore does
 * not read it; the other SDKs do), else AWS_DEFAULT_REGION when set, even
 * empty, as in botocore, else the profile's. An empty region stays ""
 * (endpoint_resolve refuses it).
 */
static int top_settings(struct walk *w)
{
	const struct caller_env *env = w->env;
	const char *region = env->region && env->region[0] ? env->region : env->default_region;
	struct chain *ch = w->ch;
	struct pmap_val v = {0};
	int r;

	if (!region && pmap_get(w->m, w->top, PMAP_ANY, "region", &v))
		r = pmap_take(&v, "region", &ch->region, w->e);
	else
		r = set_str(&ch->region, region);
	if (r == KR_OK && env->ca_bundle && env->ca_bundle[0])
		r = set_str(&ch->ca_bundle, env->ca_bundle);
	else if (r == KR_OK)
		r = pmap_take_opt(w->m, w->top, "ca_bundle", &ch->ca_bundle, w->e);
	if (r == KR_OK)
		r = pmap_take_opt(w->m, w->top, "mfa_process", &ch->mfa_process, w->e);
	if (r == KR_OK)
		r = take_mfa_prompt(w, w->top);
	return r;
}

/*
 * Does the row match profile p by its key? A row with a caller's variable
 * (env) matches the requested profile by that variable when it is set:
 * set and empty, it hides the key as well (botocore reads the variable
 * first, and an empty path is no source).
 */
static int row_matches(const struct walk *w, const struct source_row *row,
                       const struct pmap_profile *p)
{
	const char *ev = row->env && p == w->top ? source_env_value(w->env, row->env) : NULL;

	if (ev)
		return ev[0] != '\0';
	return !row->key || pmap_get(w->m, p, row->file, row->key, NULL);
}

/* A profile that holds credentials: the first row of the table it matches. */
static int pick_source(struct walk *w, const struct pmap_profile *p)
{
	for (size_t i = 0; i < w->t->n; i++) {
		const struct source_row *row = &w->t->rows[i];

		if (row->credential_source || !row_matches(w, row, p))
			continue;
		w->has_src = 1;
		return parse_step(w, row->ops, row, p, &w->src);
	}
	err_set(w->e, KR_ERR_INTERNAL, NULL, 0, NULL, "no source in the table for profile \"%s\"",
	        pmap_name(p));
	return KR_ERR_INTERNAL;
}

/* A role's credential_source = NAME: the row of that name. */
static int pick_credential_source(struct walk *w, const struct pmap_profile *p,
                                  const struct pmap_val *cs)
{
	char names[256] = "";

	for (size_t i = 0; i < w->t->n; i++) {
		const struct source_row *row = &w->t->rows[i];

		if (!row->credential_source)
			continue;
		if (strcmp(row->credential_source, cs->v) == 0) {
			w->has_src = 1;
			return parse_step(w, row->ops, row, p, &w->src);
		}
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
		         names[0] ? ", " : "", row->credential_source);
	}
	err_set(w->e, KR_ERR_CONFIG, cs->file, cs->line, NULL,
	        "credential_source \"%.100s\" in profile \"%s\" is not valid", cs->v, pmap_name(p));
	snprintf(w->e->fix, sizeof(w->e->fix), "use one of %s", names);
	return KR_ERR_CONFIG;
}

/* "a -> b -> a" */
static void path_str(char *out, size_t len, const char *const *visited, size_t n, const char *last)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int wr = snprintf(out + off, len - off, "%s -> ", visited[i]);

		if (wr < 0)
			return;
		off += (size_t)wr;
	}
	if (off < len)
		snprintf(out + off, len - off, "%s", last);
}

/* The role in profile p, and where its credentials come from; *ret_next: the next role profile. */
static int walk_role(struct walk *w, const struct pmap_profile *p,
                     const struct pmap_profile **ret_next)
{
	struct pmap_val sp = {0}, cs = {0};
	const struct pmap_profile *spe;
	char path[600];
	const char *f;
	int l, r;

	*ret_next = NULL;
	if (w->n_roles >= KR_CHAIN_MAX) {
		path_str(path, sizeof(path), w->visited, w->n_visited - 1,
		         w->visited[w->n_visited - 1]);
		pmap_where(w->m, p, &f, &l);
		err_set(w->e, KR_ERR_CONFIG, f, l, "shorten the chain of source_profile references",
		        "profile \"%s\": more than %d roles in one chain (%s)", w->ch->name,
		        KR_CHAIN_MAX, path);
		return KR_ERR_CONFIG;
	}
	r = parse_step(w, &source_assume_role, NULL, p, &w->roles[w->n_roles++]);
	if (r < 0)
		return r;
	pmap_get(w->m, p, PMAP_ANY, "source_profile", &sp);
	pmap_get(w->m, p, PMAP_ANY, "credential_source", &cs);
	if (sp.v && cs.v) {
		err_set(w->e, KR_ERR_CONFIG, cs.file, cs.line,
		        "keep only one of source_profile and credential_source",
		        "profile \"%s\" has both source_profile and credential_source",
		        pmap_name(p));
		return KR_ERR_CONFIG;
	}
	if (!sp.v && !cs.v) {
		const struct step *s = &w->roles[w->n_roles - 1];

		err_set(
		    w->e, KR_ERR_CONFIG, s->file, s->line,
		    "add source_profile = PROFILE (the profile with the keys) or "
		    "credential_source = Environment",
		    "profile \"%s\" has role_arn but neither source_profile nor credential_source",
		    pmap_name(p));
		return KR_ERR_CONFIG;
	}
	if (cs.v)
		return pick_credential_source(w, p, &cs);
	spe = pmap_find(w->m, sp.v);
	if (!spe) {
		err_set(w->e, KR_ERR_CONFIG, sp.file, sp.line,
		        "define that profile or fix the name",
		        "source_profile \"%.200s\" referenced in profile \"%s\" does not exist",
		        sp.v, pmap_name(p));
		return KR_ERR_CONFIG;
	}
	for (size_t k = 0; k < w->n_visited; k++) {
		if (strcmp(w->visited[k], pmap_name(spe)) != 0)
			continue;
		/* Only a profile with its own static keys may source itself. */
		if (spe != p || !has_static(w, spe)) {
			path_str(path, sizeof(path), w->visited, w->n_visited, pmap_name(spe));
			err_set(w->e, KR_ERR_CONFIG, sp.file, sp.line,
			        spe == p
			            ? "give the profile static keys or a different source_profile"
			            : "break the loop: one of these profiles must hold keys",
			        "source_profile loop: %s", path);
			return KR_ERR_CONFIG;
		}
	}
	w->visited[w->n_visited++] = pmap_name(spe);
	if (has_static(w, spe) || !has_role(w, spe))
		return pick_source(w, spe);
	*ret_next = spe;
	return KR_OK;
}

char *resolve_keyrole_target(const char *command)
{
	char **argv = NULL;
	size_t argc = 0, i = 1;
	const char *base;
	char *target = NULL;

	if (!command || shellquote_split(command, KR_PROFILE_ARGV_MAX, &argv, &argc) < 0 ||
	    argc < 3)
		goto out;
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "keyrole") != 0)
		goto out;
	while (i < argc && argv[i][0] == '-')
		i++;
	if (i >= argc || strcmp(argv[i], "get") != 0)
		goto out;
	/* get's options: --mfa-code takes a value (also as --mfa-code=V); -- ends them. */
	for (i++; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--mfa-code") == 0)
			i++;
	}
	if (i < argc)
		target = strdup(argv[i]);
out:
	shellquote_argv_free(argv);
	return target;
}

static int in_list(const char *const *names, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(names[k], name) == 0)
			return 1;
	return 0;
}

/*
 * A source that runs `keyrole get T` would call itself when T is a profile
 * of this chain, of a chain that led here, or when T's own chain comes
 * back (through its own credential_process) to one of them. T's chain is
 * resolved to find out; only a self-call counts here (T's other problems
 * are its own report's).
 */
static int check_selfcall(struct walk *w)
{
	const char *fix = "a source profile must hold the real credentials (static keys, keyrole "
	                  "add, or another program): point credential_process elsewhere";
	struct step_report rep;
	const struct step *s = &w->src;
	char *target;
	int r = KR_OK, hit;

	memset(&rep, 0, sizeof(rep));
	s->ops->describe(s, w->ch, &rep);
	target = resolve_keyrole_target(rep.command);
	hit = target && in_list(w->visited, w->n_visited, target);
	for (const struct callers *u = w->up; target && !hit && u; u = u->up)
		hit = in_list(u->visited, u->n, target);
	if (hit) {
		err_set(
		    w->e, KR_ERR_CONFIG, s->file, s->line, fix,
		    "credential_process of profile \"%s\" calls keyrole for profile \"%.200s\" of "
		    "the same chain: it would call itself",
		    s->profile, target);
		r = KR_ERR_CONFIG;
	} else if (target && (w->up ? w->up->depth : 0) < KR_CHAIN_MAX) {
		struct callers me = {w->up, w->visited, w->n_visited, w->up ? w->up->depth + 1 : 1};
		struct chain *sub = NULL;
		struct err_detail se;
		int sub_selfcall = 0;

		memset(&se, 0, sizeof(se));
		r = walk_profile(w->m, w->env, w->o, target, &me, &sub, &se, &sub_selfcall);
		chain_unref(sub);
		if (r != KR_ERR_NOMEM)
			r = KR_OK;
		if (sub_selfcall) {
			err_set(
			    w->e, KR_ERR_CONFIG, s->file, s->line, fix,
			    "credential_process of profile \"%s\" calls keyrole for profile "
			    "\"%.200s\", whose chain leads back to this one: it would call itself",
			    s->profile, target);
			r = KR_ERR_CONFIG;
		}
	}
	if (r == KR_ERR_CONFIG)
		w->selfcall = 1;
	free(target);
	return r;
}

/* The STS endpoint of every role: the requested profile's (botocore's session client). */
static int endpoint_for(struct walk *w)
{
	const struct caller_env *env = w->env;
	const struct pmap_profile *p = w->top;
	struct endpoint_conf conf;
	struct endpoint_in in;
	struct pmap_val v = {0};
	int r;

	r = endpoint_conf_read(w->m, p, env, ENDPOINT_STS, &conf, w->e);
	if (r < 0)
		return r;
	memset(&in, 0, sizeof(in));
	in.region = w->ch->region;
	in.env_endpoint_url_sts = conf.env_service;
	in.env_endpoint_url = conf.env_global;
	in.services_sts_url = conf.services_url;
	in.profile_endpoint_url = conf.profile_url;
	in.ignore_configured = conf.ignore;
	in.use_fips = conf.use_fips;
	in.use_dualstack = conf.use_dualstack;
	in.sts_regional_endpoints = env->sts_regional_endpoints;
	if (!in.sts_regional_endpoints && pmap_get(w->m, p, PMAP_ANY, "sts_regional_endpoints", &v))
		in.sts_regional_endpoints = v.v;
	r = endpoint_resolve(&in, &w->ch->endpoint, &w->ch->signing_region, w->e);
	if (r == KR_ERR_CONFIG) {
		char msg[KR_ERR_MSG_MAX];
		const char *f;
		int l;

		pmap_where(w->m, p, &f, &l);
		snprintf(msg, sizeof(msg), "profile \"%s\": %s", pmap_name(p), w->e->msg);
		memcpy(w->e->msg, msg, sizeof(msg));
		snprintf(w->e->file, sizeof(w->e->file), "%s", f ? f : "");
		w->e->line = l;
	}
	if (r == KR_OK) {
		char from[KR_PATH_MAX + 256];

		endpoint_conf_origin(&conf, from, sizeof(from));
		free(w->ch->endpoint_from);
		w->ch->endpoint_from = strdup(from);
		r = w->ch->endpoint_from ? KR_OK : KR_ERR_NOMEM;
	}
	if (r == KR_OK)
		r = endpoint_proxy(w->ch->endpoint, &env->proxy, &w->ch->proxy, &w->ch->no_proxy);
	return r;
}

/* Is a role assumed with step s's credentials role chaining (as far as is known now)? */
static int yields_role_session(const struct step *s)
{
	unsigned f = s->ops->flags;

	return (f & SOURCE_ROLE_SESSION) ||
	       (!(f & SOURCE_NOT_CHAINING) && s->inline_creds.session_token);
}

/* Put the steps found into the chain, in execution order (also after a failure). */
static int assemble(struct walk *w, int with_mfa)
{
	struct chain *ch = w->ch;
	size_t n = w->has_src + (with_mfa ? 1 : 0) + w->n_roles, k = 0;

	ch->steps = calloc(n ? n : 1, sizeof(*ch->steps));
	if (!ch->steps)
		return KR_ERR_NOMEM;
	if (w->has_src)
		ch->steps[k++] = w->src;
	if (with_mfa)
		k++; /* filled by finish() */
	for (size_t i = w->n_roles; i-- > 0;) {
		ch->steps[k] = w->roles[i];
		ch->steps[k].role_index = (int)(w->n_roles - 1 - i);
		k++;
	}
	ch->n = n;
	memset(&w->src, 0, sizeof(w->src));
	w->has_src = 0;
	w->n_roles = 0;
	return KR_OK;
}

/* Make each step's cache key: its own part after the key of the step below. */
static int make_keys(struct chain *ch)
{
	struct buf key;
	int r;

	buf_init(&key, KR_CACHE_KEY_MAX);
	r = ckey_begin(&key);
	for (size_t i = 0; i < ch->n && r == KR_OK; i++) {
		struct step *s = &ch->steps[i];

		r = s->ops->key(s, ch, &key);
		if (r == KR_OK && !(s->key = strdup(key.data)))
			r = KR_ERR_NOMEM;
		if (r == KR_OK)
			s->key_hash = ckey_hash(s->key);
	}
	buf_free(&key);
	return r;
}

/* The chain of a successful walk: endpoint, role chaining, the MFA session, keys. */
static int finish(struct walk *w)
{
	const struct step *first_role = w->n_roles ? &w->roles[w->n_roles - 1] : NULL;
	struct chain *ch = w->ch;
	int via_mfa, r = KR_OK;

	/* Only long-term keys may call GetSessionToken; temporary ones send the serial. */
	via_mfa = first_role && first_role->mfa_serial && (w->src.ops->flags & SOURCE_LONG_TERM) &&
	          !w->src.inline_creds.session_token;
	for (size_t i = w->n_roles; i-- > 0 && r == KR_OK;)
		if (w->roles[i].mfa_serial && !ch->mfa_process)
			r = pmap_take_opt(w->m, pmap_find(w->m, w->roles[i].profile), "mfa_process",
			                  &ch->mfa_process, w->e);
	for (size_t i = w->n_roles; i-- > 0 && r == KR_OK;)
		if (w->roles[i].mfa_serial)
			r = take_mfa_prompt(w, pmap_find(w->m, w->roles[i].profile));
	if (r == KR_OK && (w->n_roles > 0 || (w->has_src && (w->src.ops->flags & SOURCE_STS))))
		r = endpoint_for(w);
	if (r == KR_OK)
		r = assemble(w, via_mfa);
	if (r == KR_OK && via_mfa) {
		struct step *mfa = &ch->steps[1], *role = &ch->steps[2];

		r = parse_step(w, &source_mfa_session, NULL, pmap_find(w->m, role->profile), mfa);
		free(role->mfa_serial); /* the session carries the code, not the role */
		role->mfa_serial = NULL;
	}
	for (size_t i = 1; i < ch->n && r == KR_OK; i++)
		ch->steps[i].chained = yields_role_session(&ch->steps[i - 1]);
	if (r == KR_OK)
		r = make_keys(ch);
	return r;
}

static int walk_profile(const struct pmap *m, const struct caller_env *env,
                        const struct resolve_opts *o, const char *name, const struct callers *up,
                        struct chain **ret, struct err_detail *e, int *ret_selfcall)
{
	struct walk *w = calloc(1, sizeof(*w));
	const struct pmap_profile *p;
	int r;

	*ret = NULL;
	if (!w || !(w->ch = calloc(1, sizeof(*w->ch)))) {
		free(w);
		err_set_code(e, KR_ERR_NOMEM);
		return KR_ERR_NOMEM;
	}
	w->m = m;
	w->env = env;
	w->o = o;
	w->t = o->sources ? o->sources : &source_table_default;
	w->up = up;
	w->e = e;
	w->ch->refs = 1;
	r = set_str(&w->ch->name, name);
	if (r < 0)
		goto out;
	w->top = p = pmap_find(m, name);
	if (!p) {
		err_set(e, KR_ERR_NOPROFILE, pmap_filename(m, PMAP_CONFIG), 0,
		        "add a [profile NAME] section to the config file, or check the name",
		        "profile \"%s\" not found", name);
		r = KR_ERR_NOPROFILE;
		goto out;
	}
	r = top_settings(w);
	if (r < 0)
		goto out;
	w->visited[w->n_visited++] = pmap_name(p);
	if (!has_role(w, p))
		r = pick_source(w, p);
	while (r == KR_OK && p && has_role(w, p) && !w->has_src)
		r = walk_role(w, p, &p);
	if (r == KR_OK && w->src.ops && w->src.ops == &source_process)
		r = check_selfcall(w);
	if (r == KR_OK)
		r = finish(w);
	else if (assemble(w, 0) < 0)
		r = KR_ERR_NOMEM;
out:
	if (r < 0 && e->code == 0)
		err_set_code(e, r);
	if (ret_selfcall)
		*ret_selfcall = w->selfcall;
	for (size_t i = 0; i < w->n_roles; i++)
		step_clear(&w->roles[i]);
	step_clear(&w->src);
	*ret = w->ch;
	free(w);
	return r;
}

int resolve_sts_client(const struct caller_env *env, const char *name, struct chain **ret,
                       struct err_detail *e)
{
	static const struct resolve_opts o = {0};
	struct walk w;
	const struct pmap *m = NULL;
	char *owned = NULL;
	int r;

	*ret = NULL;
	if (!env || !valid_profile_name(name)) {
		err_set(e, KR_ERR_INVAL, NULL, 0, NULL, "invalid profile name");
		return KR_ERR_INVAL;
	}
	r = pmap_load(env, &m, e);
	if (r < 0)
		return r;
	name = follow_tools(m, env, &o, name, &owned, NULL);
	memset(&w, 0, sizeof(w));
	w.m = m;
	w.env = env;
	w.e = e;
	w.ch = calloc(1, sizeof(*w.ch));
	w.top = pmap_find(m, name);
	if (!w.ch) {
		r = KR_ERR_NOMEM;
	} else if (!w.top) {
		err_set(e, KR_ERR_NOPROFILE, pmap_filename(m, PMAP_CONFIG), 0, NULL,
		        "profile \"%s\" not found", name);
		r = KR_ERR_NOPROFILE;
	} else {
		w.ch->refs = 1;
		r = set_str(&w.ch->name, name);
		if (r == KR_OK)
			r = top_settings(&w);
		if (r == KR_OK)
			r = endpoint_for(&w);
	}
	pmap_release(m);
	free(owned);
	if (r < 0) {
		if (!e->code)
			err_set_code(e, r);
		chain_unref(w.ch);
		return r;
	}
	*ret = w.ch;
	return KR_OK;
}

int resolve_in_map(const struct pmap *m, const struct caller_env *env, const char *name,
                   const struct resolve_opts *o, struct chain **ret_partial, struct err_detail *e)
{
	return walk_profile(m, env, o, name, NULL, ret_partial, e, NULL);
}

char *resolve_chain_target(const struct chain *ch)
{
	struct step_report rep;

	if (!ch || ch->n != 1 || ch->steps[0].ops != &source_process)
		return NULL;
	memset(&rep, 0, sizeof(rep));
	ch->steps[0].ops->describe(&ch->steps[0], ch, &rep);
	return resolve_keyrole_target(rep.command);
}

/* T of tool profile name, and where its credential_process is (where: file and line). */
static char *tool_target(const struct pmap *m, const struct caller_env *env, const char *name,
                         const struct resolve_opts *o, struct err_detail *where)
{
	const struct pmap_profile *p = pmap_find(m, name);
	struct chain *ch = NULL;
	struct err_detail e;
	char *t = NULL;

	/* Only a profile with a credential_process can be one (no walk for the others). */
	if (!p || !pmap_get(m, p, PMAP_ANY, "credential_process", NULL))
		return NULL;
	memset(&e, 0, sizeof(e));
	if (walk_profile(m, env, o, name, NULL, &ch, &e, NULL) == KR_OK)
		t = resolve_chain_target(ch);
	if (t && where) {
		snprintf(where->file, sizeof(where->file), "%s",
		         ch->steps[0].file ? ch->steps[0].file : "");
		where->line = ch->steps[0].line;
	}
	chain_unref(ch);
	return t;
}

char *resolve_tool_target(const struct pmap *m, const struct caller_env *env, const char *name,
                          const struct resolve_opts *o)
{
	return tool_target(m, env, name, o, NULL);
}

/*
 * The profile that name stands for: name itself, or the end of the tool
 * profiles it leads through (each is followed at most KR_CHAIN_MAX times;
 * a loop is a self-call, which the walk of the first one reports).
 * *ret_owned is what to free (NULL when it is name).
 */
static const char *follow_tools(const struct pmap *m, const struct caller_env *env,
                                const struct resolve_opts *o, const char *name, char **ret_owned,
                                struct err_detail *where)
{
	char *cur = NULL, *t;

	for (int i = 0; i < KR_CHAIN_MAX; i++) {
		t = tool_target(m, env, cur ? cur : name, o, where);
		if (!t || !valid_profile_name(t)) {
			free(t);
			break;
		}
		free(cur);
		cur = t;
	}
	*ret_owned = cur;
	return cur ? cur : name;
}

/*
 * A failure of the profile a tool profile stands for, said for the tool
 * profile; a missing target is blamed on the credential_process line
 * (where) that names it.
 */
static void blame_tool(const char *name, const char *target, const struct err_detail *where,
                       struct err_detail *e)
{
	char msg[KR_ERR_MSG_MAX];

	if (target == name)
		return;
	snprintf(msg, sizeof(msg), "profile \"%s\" runs keyrole get %s: %s", name, target,
	         e->msg[0] ? e->msg : err_str(e->code));
	memcpy(e->msg, msg, sizeof(msg));
	if (e->code == KR_ERR_NOPROFILE && where->file[0]) {
		memcpy(e->file, where->file, sizeof(e->file));
		e->line = where->line;
		snprintf(e->fix, sizeof(e->fix), "%s",
		         "fix the profile name there (keyrole check suggests one)");
	}
}

/* ---- remembered chains ---- */

struct memo_slot {
	const struct pmap *map; /* a reference: the pointer identifies the files' contents */
	char *name;
	struct caller_env *env; /* a copy (it may hold the caller's secret key) */
	const struct source_table *sources;
	int mfa_duration;
	uint64_t hash, used;
	struct chain *chain; /* a reference */
};

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct memo_slot memo[KR_RESOLVE_MEMO_SLOTS];
static uint64_t memo_tick;

static uint64_t fnv(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return (h ^ (s ? 0xff : 0xfe)) * 1099511628211u; /* NULL and "" differ */
}

static uint64_t memo_hash(const struct caller_env *env, const char *name,
                          const struct resolve_opts *o)
{
	uint64_t h = fnv(1469598103934665603u, name);

	for (size_t i = 0; i < caller_env_n_fields; i++)
		h = fnv(h, *(const char *const *)((const char *)env + caller_env_fields[i].offset));
	return (h ^ (uint64_t)o->mfa_duration) * 1099511628211u;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_env(const struct caller_env *a, const struct caller_env *b)
{
	for (size_t i = 0; i < caller_env_n_fields; i++) {
		size_t off = caller_env_fields[i].offset;

		if (!same_str(*(const char *const *)((const char *)a + off),
		              *(const char *const *)((const char *)b + off)))
			return 0;
	}
	return 1;
}

static void slot_clear(struct memo_slot *s)
{
	pmap_release(s->map);
	free(s->name);
	caller_env_free(s->env);
	chain_unref(s->chain);
	memset(s, 0, sizeof(*s));
}

void resolve_memo_clear(void)
{
	pthread_mutex_lock(&memo_lock);
	for (size_t i = 0; i < KR_RESOLVE_MEMO_SLOTS; i++)
		slot_clear(&memo[i]);
	pthread_mutex_unlock(&memo_lock);
}

/* The remembered chain (a new reference), or NULL. */
static struct chain *memo_find(const struct pmap *m, const struct caller_env *env, const char *name,
                               const struct resolve_opts *o, uint64_t h)
{
	struct chain *ch = NULL;

	pthread_mutex_lock(&memo_lock);
	for (size_t i = 0; i < KR_RESOLVE_MEMO_SLOTS && !ch; i++) {
		struct memo_slot *s = &memo[i];

		if (s->chain && s->map == m && s->hash == h && s->sources == o->sources &&
		    s->mfa_duration == o->mfa_duration && strcmp(s->name, name) == 0 &&
		    same_env(s->env, env)) {
			ch = chain_ref(s->chain);
			s->used = ++memo_tick;
		}
	}
	pthread_mutex_unlock(&memo_lock);
	return ch;
}

/* Remember ch in place of the least recently used slot (nothing on failure). */
static void memo_put(const struct pmap *m, const struct caller_env *env, const char *name,
                     const struct resolve_opts *o, uint64_t h, struct chain *ch)
{
	struct memo_slot n = {.map = m,
	                      .name = strdup(name),
	                      .env = caller_env_dup(env),
	                      .sources = o->sources,
	                      .mfa_duration = o->mfa_duration,
	                      .hash = h};
	size_t victim = 0;

	if (!n.name || !n.env) {
		free(n.name);
		caller_env_free(n.env);
		return;
	}
	pthread_mutex_lock(&memo_lock);
	for (size_t i = 0; i < KR_RESOLVE_MEMO_SLOTS; i++) {
		if (!memo[i].chain) {
			victim = i;
			break;
		}
		if (memo[i].used < memo[victim].used)
			victim = i;
	}
	slot_clear(&memo[victim]);
	n.map = pmap_ref(m);
	n.chain = chain_ref(ch);
	n.used = ++memo_tick;
	memo[victim] = n;
	pthread_mutex_unlock(&memo_lock);
}

int resolve_chain(const struct caller_env *env, const char *name, const struct resolve_opts *o,
                  struct chain **ret, struct err_detail *e)
{
	const struct pmap *m = NULL;
	struct chain *ch = NULL;
	uint64_t h;
	int r;

	if (!env || !name || !ret)
		return KR_ERR_INVAL;
	if (!valid_profile_name(name)) {
		err_set(e, KR_ERR_INVAL, NULL, 0, NULL, "invalid profile name");
		return KR_ERR_INVAL;
	}
	r = pmap_load(env, &m, e);
	if (r < 0)
		return r;
	h = memo_hash(env, name, o);
	ch = memo_find(m, env, name, o, h);
	if (!ch) {
		char *owned = NULL;
		struct err_detail where;
		const char *target;

		memset(&where, 0, sizeof(where));
		target = follow_tools(m, env, o, name, &owned, &where);
		r = walk_profile(m, env, o, target, NULL, &ch, e, NULL);
		if (r == KR_OK)
			memo_put(m, env, name, o, h, ch);
		else
			blame_tool(name, target, &where, e);
		free(owned);
	}
	pmap_release(m);
	if (r < 0) {
		chain_unref(ch);
		return r;
	}
	*ret = ch;
	return KR_OK;
}
