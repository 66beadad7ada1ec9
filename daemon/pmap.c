/*
 * The profile map; see pmap.h for the rules.
 *
 * Invariants:
 *  - Config files are read through ini_load() (bounded, cached by stat,
 *    wiped when dropped: the credentials file holds secrets).
 *  - Every value handed out with pmap_take() is a single line of at most
 *    KR_VALUE_MAX bytes; anything else is a config error naming file:line.
 */
#include "pmap.h"

#include "caps.h"
#include "err.h"
#include "ini.h"
#include "mem.h"
#include "shellquote.h"

#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pmap_profile {
	char *name;
	const struct ini_section *cfg;  /* config file section, or NULL */
	const struct ini_section *cred; /* credentials file section, or NULL */
};

struct sent {
	char *name;
	const struct ini_section *sec;
};

/*
 * The merged map of one (config file, credentials file) pair. Built once
 * and shared, read-only, while both files are unchanged: ini_load() hands
 * out the same struct ini until a file changes, and a cached map holds its
 * references, so the pair of pointers identifies the map.
 */
struct pmap {
	struct ini *config, *creds;
	struct pmap_profile *p; /* file order (check lists profiles in it) */
	size_t n;
	struct pmap_profile **by_name; /* into p, sorted by name: lookups bisect */
	struct sent *s;                /* [services NAME] */
	size_t ns;
	struct sent *ss; /* [sso-session NAME] */
	size_t nss;
	int refs;      /* under cfg_lock */
	uint64_t used; /* cache LRU tick */
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER; /* refs and the cache */
static struct pmap *cfg_cache[KR_PMAP_CACHE_SLOTS];          /* each holds one reference */
static uint64_t cfg_tick;

static void cfg_destroy(struct pmap *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->p[i].name);
	for (size_t i = 0; i < c->ns; i++)
		free(c->s[i].name);
	for (size_t i = 0; i < c->nss; i++)
		free(c->ss[i].name);
	free(c->p);
	free(c->by_name);
	free(c->s);
	free(c->ss);
	ini_free(c->config);
	ini_free(c->creds);
	free(c);
}

static void cfg_unref(const struct pmap *cc)
{
	struct pmap *c = (struct pmap *)cc;
	int last;

	if (!c)
		return;
	pthread_mutex_lock(&cfg_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&cfg_lock);
	if (last)
		cfg_destroy(c);
}

/* Drop the cached maps (tests, and the fuzzers between inputs). */
void pmap_cache_clear(void)
{
	for (size_t i = 0; i < KR_PMAP_CACHE_SLOTS; i++) {
		struct pmap *c;

		pthread_mutex_lock(&cfg_lock);
		c = cfg_cache[i];
		cfg_cache[i] = NULL;
		pthread_mutex_unlock(&cfg_lock);
		cfg_unref(c);
	}
}

static struct pmap_profile *cfg_find(const struct pmap *c, const char *name)
{
	size_t lo = 0, hi = c->n;

	if (!c->by_name) { /* while the map is being built */
		for (size_t i = 0; i < c->n; i++)
			if (strcmp(c->p[i].name, name) == 0)
				return &c->p[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->by_name[mid]->name, name);

		if (d == 0)
			return c->by_name[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int by_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct pmap_profile *const *)a)->name,
	              (*(struct pmap_profile *const *)b)->name);
}

/* Index the finished map (p no longer moves) by name; cfg_add kept names unique. */
static int cfg_index(struct pmap *c)
{
	c->by_name = malloc((c->n ? c->n : 1) * sizeof(*c->by_name));
	if (!c->by_name)
		return KR_ERR_NOMEM;
	for (size_t i = 0; i < c->n; i++)
		c->by_name[i] = &c->p[i];
	qsort(c->by_name, c->n, sizeof(*c->by_name), by_name_cmp);
	return KR_OK;
}

static struct pmap_profile *cfg_add(struct pmap *c, const char *name)
{
	struct pmap_profile *pe = cfg_find(c, name), *np;

	if (pe)
		return pe;
	np = realloc(c->p, (c->n + 1) * sizeof(*np));
	if (!np)
		return NULL;
	c->p = np;
	pe = &c->p[c->n];
	memset(pe, 0, sizeof(*pe));
	pe->name = strdup(name);
	if (!pe->name)
		return NULL;
	c->n++;
	return pe;
}

/* botocore's _parse_section: the second of exactly two shlex words. */
static int section_word(const char *header, char **ret)
{
	char **argv = NULL;
	size_t argc = 0;
	int r;

	*ret = NULL;
	r = shellquote_split(header, 3, &argv, &argc);
	if (r == KR_ERR_PARSE || r == KR_ERR_TOOBIG)
		return KR_OK; /* not a profile, as in botocore */
	if (r < 0)
		return r;
	if (argc == 2) {
		*ret = argv[1];
		argv[1] = strdup("");
		if (!argv[1]) {
			free(*ret);
			*ret = NULL;
			r = KR_ERR_NOMEM;
		}
	}
	shellquote_argv_free(argv);
	return r;
}

/*
 * A named section ([services NAME], [sso-session NAME]): the last of
 * several with one name wins, as botocore's dict update does. Takes *name.
 */
static int sent_put(struct sent **arr, size_t *n, char **name, const struct ini_section *sec)
{
	struct sent *ns = NULL;

	for (size_t k = 0; k < *n && !ns; k++)
		if (strcmp((*arr)[k].name, *name) == 0)
			ns = &(*arr)[k];
	if (!ns) {
		ns = realloc(*arr, (*n + 1) * sizeof(*ns));
		if (!ns)
			return KR_ERR_NOMEM;
		*arr = ns;
		ns = &ns[(*n)++];
		ns->name = *name;
		*name = NULL;
	}
	ns->sec = sec;
	return KR_OK;
}

static int build_map(struct pmap *c)
{
	int r = KR_OK;

	for (size_t i = 0; i < c->config->n_secs && r == KR_OK; i++) {
		const struct ini_section *s = &c->config->secs[i];
		char *w = NULL;

		if (strncmp(s->name, "profile", 7) == 0) {
			r = section_word(s->name, &w);
			if (r == KR_OK && w) {
				struct pmap_profile *pe = cfg_add(c, w);

				if (pe)
					pe->cfg = s;
				else
					r = KR_ERR_NOMEM;
			}
		} else if (strncmp(s->name, "sso-session", 11) == 0) {
			r = section_word(s->name, &w);
			if (r == KR_OK && w)
				r = sent_put(&c->ss, &c->nss, &w, s);
		} else if (strncmp(s->name, "services", 8) == 0) {
			r = section_word(s->name, &w);
			if (r == KR_OK && w)
				r = sent_put(&c->s, &c->ns, &w, s);
		} else if (strcmp(s->name, "default") == 0) {
			struct pmap_profile *pe = cfg_add(c, "default");

			if (pe)
				pe->cfg = s;
			else
				r = KR_ERR_NOMEM;
		}
		free(w);
	}
	for (size_t i = 0; i < c->creds->n_secs && r == KR_OK; i++) {
		struct pmap_profile *pe = cfg_add(c, c->creds->secs[i].name);

		if (pe)
			pe->cred = &c->creds->secs[i];
		else
			r = KR_ERR_NOMEM;
	}
	return r;
}

static const char *home_dir(const struct caller_env *env)
{
	const char *h = env->home;
	struct passwd *pw;

	if (h && h[0])
		return h;
	h = getenv("HOME");
	if (h && h[0])
		return h;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

/*
 * The path of a config file: the variable (with a leading "~" or $HOME /
 * ${HOME} expanded from the caller's HOME, as botocore's expanduser and
 * expandvars would) or HOME/rel. Relative paths are refused: the daemon
 * does not know the caller's working directory.
 */
static int file_path(const struct caller_env *env, const char *given, const char *var,
                     const char *rel, char **ret, struct err_detail *e)
{
	const char *home = home_dir(env), *rest = NULL;
	size_t n;
	char *p;

	if (given && !given[0]) {
		/*
		 * Set but empty: botocore opens "" and reads no file at all (no
		 * fall-back to the default path). The path "" is a file that is
		 * never there (ini.c: missing, so empty; fwatch ignores it).
		 */
		p = strdup("");
		if (!p)
			return KR_ERR_NOMEM;
		*ret = p;
		return KR_OK;
	}
	if (given && given[0]) {
		if (strcmp(given, "~") == 0 || strncmp(given, "~/", 2) == 0)
			rest = given + 1;
		else if (strcmp(given, "$HOME") == 0 || strncmp(given, "$HOME/", 6) == 0)
			rest = given + 5;
		else if (strcmp(given, "${HOME}") == 0 || strncmp(given, "${HOME}/", 8) == 0)
			rest = given + 7;
		if (!rest) {
			if (given[0] != '/') {
				err_set(e, KR_ERR_CONFIG, NULL, 0, "use an absolute path",
				        "%s=\"%.200s\" is not an absolute path", var, given);
				return KR_ERR_CONFIG;
			}
			p = mem_strdup_max(given, KR_PATH_MAX);
			if (!p) {
				err_set(e, KR_ERR_CONFIG, NULL, 0, "use a shorter path",
				        "%s is too long", var);
				return KR_ERR_CONFIG;
			}
			*ret = p;
			return KR_OK;
		}
	} else {
		rest = rel;
	}
	if (!home || home[0] != '/') {
		err_set(e, KR_ERR_CONFIG, NULL, 0, "set HOME", "no home directory to find %s in",
		        rel + 1);
		return KR_ERR_CONFIG;
	}
	n = strlen(home) + strlen(rest) + 1;
	if (n > KR_PATH_MAX) {
		err_set(e, KR_ERR_CONFIG, NULL, 0, "use a shorter path", "config path is too long");
		return KR_ERR_CONFIG;
	}
	p = malloc(n);
	if (!p)
		return KR_ERR_NOMEM;
	snprintf(p, n, "%s%s", home, rest);
	*ret = p;
	return KR_OK;
}

/* A cached map of exactly these two files, with a reference for the caller. */
static struct pmap *cfg_cached(const struct ini *config, const struct ini *creds)
{
	struct pmap *c = NULL;

	pthread_mutex_lock(&cfg_lock);
	for (size_t i = 0; i < KR_PMAP_CACHE_SLOTS && !c; i++) {
		if (cfg_cache[i] && cfg_cache[i]->config == config &&
		    cfg_cache[i]->creds == creds) {
			c = cfg_cache[i];
			c->refs++;
			c->used = ++cfg_tick;
		}
	}
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

/* Keep c (one reference more) in place of the least recently used map. */
static void cfg_remember(struct pmap *c)
{
	struct pmap *old;
	size_t victim = 0;

	pthread_mutex_lock(&cfg_lock);
	for (size_t i = 0; i < KR_PMAP_CACHE_SLOTS; i++) {
		if (!cfg_cache[i]) {
			victim = i;
			break;
		}
		if (cfg_cache[i]->used < cfg_cache[victim]->used)
			victim = i;
	}
	old = cfg_cache[victim];
	cfg_cache[victim] = c;
	c->refs++;
	c->used = ++cfg_tick;
	pthread_mutex_unlock(&cfg_lock);
	cfg_unref(old);
}

/*
 * The map for the caller's files: their checks (ini_load_pair: one read of
 * the file watch, or two stat()s) and, while
 * neither file changed, the map built for them before. Release with
 * pmap_release().
 */
int pmap_load(const struct caller_env *env, const struct pmap **ret, struct err_detail *e)
{
	char *cp = NULL, *kp = NULL;
	struct ini *config = NULL, *creds = NULL;
	struct pmap *c = NULL;
	int r;

	r = file_path(env, env->config_file, "AWS_CONFIG_FILE", "/.aws/config", &cp, e);
	if (r == KR_OK)
		r = file_path(env, env->credentials_file, "AWS_SHARED_CREDENTIALS_FILE",
		              "/.aws/credentials", &kp, e);
	if (r < 0)
		goto out;
	r = ini_load_pair(cp, kp, &config, &creds, e);
	if (r == KR_ERR_TOOBIG) {
		r = KR_ERR_CONFIG; /* an oversized file is the configuration's fault */
		e->code = r;
	}
	if (r < 0)
		goto out;
	c = cfg_cached(config, creds);
	if (c)
		goto out; /* config and creds are references of ours: released below */
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	c->refs = 1;
	c->config = config;
	c->creds = creds;
	config = creds = NULL; /* the map owns them now */
	r = build_map(c);
	if (r == KR_OK)
		r = cfg_index(c);
	if (r == KR_OK)
		cfg_remember(c);
out:
	ini_free(config);
	ini_free(creds);
	free(cp);
	free(kp);
	if (r < 0) {
		cfg_unref(c);
		c = NULL;
	} else {
		*ret = c;
	}
	return r;
}

void pmap_release(const struct pmap *m)
{
	cfg_unref(m);
}

const struct pmap *pmap_ref(const struct pmap *m)
{
	struct pmap *c = (struct pmap *)m;

	pthread_mutex_lock(&cfg_lock);
	c->refs++;
	pthread_mutex_unlock(&cfg_lock);
	return m;
}

const struct pmap_profile *pmap_find(const struct pmap *m, const char *name)
{
	return cfg_find(m, name);
}

size_t pmap_count(const struct pmap *m)
{
	return m->n;
}

const struct pmap_profile *pmap_at(const struct pmap *m, size_t i)
{
	return i < m->n ? &m->p[i] : NULL;
}

const char *pmap_name(const struct pmap_profile *p)
{
	return p->name;
}

const struct ini_section *pmap_section(const struct pmap *m, const struct pmap_profile *p,
                                       enum pmap_file f)
{
	return f == PMAP_CREDENTIALS ? p->cred : p->cfg;
}

const char *pmap_filename(const struct pmap *m, enum pmap_file f)
{
	return f == PMAP_CREDENTIALS ? m->creds->filename : m->config->filename;
}

const struct ini *pmap_ini(const struct pmap *m, enum pmap_file f)
{
	return f == PMAP_CREDENTIALS ? m->creds : f == PMAP_CONFIG ? m->config : NULL;
}

static const struct ini_section *sent_find(const struct sent *arr, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(arr[i].name, name) == 0)
			return arr[i].sec;
	return NULL;
}

const struct ini_section *pmap_services(const struct pmap *m, const char *name)
{
	return sent_find(m->s, m->ns, name);
}

const struct ini_section *pmap_sso_session(const struct pmap *m, const char *name)
{
	return name ? sent_find(m->ss, m->nss, name) : NULL;
}

/* Merged lookup (PMAP_ANY): the credentials file's key wins (botocore's update()). */
int pmap_get(const struct pmap *m, const struct pmap_profile *p, enum pmap_file f, const char *key,
             struct pmap_val *out)
{
	const struct ini_kv *kv = NULL;
	const char *file = NULL;

	if (!p)
		return 0;
	if (f != PMAP_CONFIG && p->cred && (kv = ini_get(p->cred, key)) != NULL)
		file = m->creds->filename;
	else if (f != PMAP_CREDENTIALS && p->cfg && (kv = ini_get(p->cfg, key)) != NULL)
		file = m->config->filename;
	if (!kv)
		return 0;
	if (out) {
		out->v = kv->value;
		out->file = file;
		out->line = kv->line;
		out->kv = kv;
	}
	return 1;
}

void pmap_where(const struct pmap *m, const struct pmap_profile *p, const char **ret_file,
                int *ret_line)
{
	if (p && p->cfg) {
		*ret_file = m->config->filename;
		*ret_line = p->cfg->line;
	} else if (p && p->cred) {
		*ret_file = m->creds->filename;
		*ret_line = p->cred->line;
	} else {
		*ret_file = m->config ? m->config->filename : NULL;
		*ret_line = 0;
	}
}

int pmap_take(const struct pmap_val *v, const char *key, char **ret, struct err_detail *e)
{
	char *s;

	if (v->kv && v->kv->sub) {
		err_set(e, KR_ERR_CONFIG, v->file, v->line,
		        "write the value on the same line as the key",
		        "%s is an indented block, not a value", key);
		return KR_ERR_CONFIG;
	}
	if (strchr(v->v, '\n')) {
		err_set(e, KR_ERR_CONFIG, v->file, v->line, "write the value on one line",
		        "%s continues on an indented line", key);
		return KR_ERR_CONFIG;
	}
	s = mem_strdup_max(v->v, KR_VALUE_MAX);
	if (!s) {
		if (strlen(v->v) > KR_VALUE_MAX) {
			err_set(e, KR_ERR_CONFIG, v->file, v->line, "shorten the value",
			        "%s is longer than %d bytes", key, KR_VALUE_MAX);
			return KR_ERR_CONFIG;
		}
		return KR_ERR_NOMEM;
	}
	*ret = s;
	return KR_OK;
}

int pmap_take_opt(const struct pmap *m, const struct pmap_profile *p, const char *key, char **ret,
                  struct err_detail *e)
{
	struct pmap_val v = {0};

	*ret = NULL;
	if (!pmap_get(m, p, PMAP_ANY, key, &v))
		return KR_OK;
	return pmap_take(&v, key, ret, e);
}
