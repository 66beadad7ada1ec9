/*
 * Profile resolution with botocore's semantics; see profile.h for the
 * rules and where keyrole deliberately differs.
 *
 * Invariants:
 *  - Config files are read through ini_load() (bounded, cached by stat).
 *  - Every value taken from a file is checked against KR_VALUE_MAX and
 *    its own syntax before it reaches a chain; a bad one gives
 *    KR_ERR_CONFIG with "file:line: what (fix)".
 *  - Secret values (aws_secret_access_key, session tokens, AWS_* from the
 *    caller's env) are copied only into struct profile_source and wiped
 *    there; messages, cache keys and reports name keys, never their values
 *    (access key ids appear masked to their last 4 characters).
 */
#include "profile.h"

#include "shellquote.h"

#include "endpoint.h"
#include "err.h"
#include "ini.h"
#include "caps.h"
#include "mem.h"
#include "sigv4.h"

#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the merged view of both files -------------------------------------- */

struct pent {
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
struct cfg {
	struct ini *config, *creds;
	struct pent *p; /* file order (check lists profiles in it) */
	size_t n;
	struct pent **by_name; /* into p, sorted by name: lookups bisect */
	struct sent *s;
	size_t ns;
	int refs;      /* under cfg_lock */
	uint64_t used; /* cache LRU tick */
};

#define CFG_CACHE_SLOTS 4

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER; /* refs and the cache */
static struct cfg *cfg_cache[CFG_CACHE_SLOTS];               /* each holds one reference */
static uint64_t cfg_tick;

/* One value with where it came from. */
struct val {
	const char *v;
	const char *file;
	int line;
	const struct ini_kv *kv;
};

/* An error being reported: message, where, and how to fix it. */
struct rerr {
	char msg[512];
	char fix[320];
	char file[KR_PATH_MAX + 1]; /* a copy: the path may be freed before use */
	int line;
	int selfcall; /* the error is a credential_process that would call keyrole back */
};

/*
 * The chains whose credential_process runs `keyrole get` for the chain
 * being resolved (innermost first): a self-call may go through several.
 */
struct callers {
	const struct callers *up;
	char *const *visited; /* profiles of that chain */
	size_t n;
	int depth;
};

static void seterr(struct rerr *e, const char *file, int line, const char *fix, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

static void seterr(struct rerr *e, const char *file, int line, const char *fix, const char *fmt,
                   ...)
{
	va_list ap;

	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	e->line = line;
	snprintf(e->fix, sizeof(e->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

static void cfg_destroy(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->p[i].name);
	for (size_t i = 0; i < c->ns; i++)
		free(c->s[i].name);
	free(c->p);
	free(c->by_name);
	free(c->s);
	ini_free(c->config);
	ini_free(c->creds);
	free(c);
}

static void cfg_unref(const struct cfg *cc)
{
	struct cfg *c = (struct cfg *)cc;
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
void profile_cache_clear(void)
{
	for (size_t i = 0; i < CFG_CACHE_SLOTS; i++) {
		struct cfg *c;

		pthread_mutex_lock(&cfg_lock);
		c = cfg_cache[i];
		cfg_cache[i] = NULL;
		pthread_mutex_unlock(&cfg_lock);
		cfg_unref(c);
	}
}

static struct pent *cfg_find(const struct cfg *c, const char *name)
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
	return strcmp((*(struct pent *const *)a)->name, (*(struct pent *const *)b)->name);
}

/* Index the finished map (p no longer moves) by name; cfg_add kept names unique. */
static int cfg_index(struct cfg *c)
{
	c->by_name = malloc((c->n ? c->n : 1) * sizeof(*c->by_name));
	if (!c->by_name)
		return KR_ERR_NOMEM;
	for (size_t i = 0; i < c->n; i++)
		c->by_name[i] = &c->p[i];
	qsort(c->by_name, c->n, sizeof(*c->by_name), by_name_cmp);
	return KR_OK;
}

static struct pent *cfg_add(struct cfg *c, const char *name)
{
	struct pent *pe = cfg_find(c, name), *np;

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

static int build_map(struct cfg *c)
{
	int r = KR_OK;

	for (size_t i = 0; i < c->config->n_secs && r == KR_OK; i++) {
		const struct ini_section *s = &c->config->secs[i];
		char *w = NULL;

		if (strncmp(s->name, "profile", 7) == 0) {
			r = section_word(s->name, &w);
			if (r == KR_OK && w) {
				struct pent *pe = cfg_add(c, w);

				if (pe)
					pe->cfg = s;
				else
					r = KR_ERR_NOMEM;
			}
		} else if (strncmp(s->name, "sso-session", 11) == 0) {
			/* SSO sessions: not supported, nothing to map */
		} else if (strncmp(s->name, "services", 8) == 0) {
			r = section_word(s->name, &w);
			if (r == KR_OK && w) {
				struct sent *ns = NULL;

				for (size_t k = 0; k < c->ns; k++)
					if (strcmp(c->s[k].name, w) == 0)
						ns = &c->s[k];
				if (!ns) {
					ns = realloc(c->s, (c->ns + 1) * sizeof(*ns));
					if (ns) {
						c->s = ns;
						ns = &c->s[c->ns];
						ns->name = w;
						w = NULL;
						c->ns++;
					} else {
						r = KR_ERR_NOMEM;
					}
				}
				if (ns)
					ns->sec = s;
			}
		} else if (strcmp(s->name, "default") == 0) {
			struct pent *pe = cfg_add(c, "default");

			if (pe)
				pe->cfg = s;
			else
				r = KR_ERR_NOMEM;
		}
		free(w);
	}
	for (size_t i = 0; i < c->creds->n_secs && r == KR_OK; i++) {
		struct pent *pe = cfg_add(c, c->creds->secs[i].name);

		if (pe)
			pe->cred = &c->creds->secs[i];
		else
			r = KR_ERR_NOMEM;
	}
	return r;
}

static const char *home_dir(const struct profile_env *env)
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
static int file_path(const struct profile_env *env, const char *given, const char *var,
                     const char *rel, char **ret, struct rerr *e)
{
	const char *home = home_dir(env), *rest = NULL;
	size_t n;
	char *p;

	if (given && given[0]) {
		if (strcmp(given, "~") == 0 || strncmp(given, "~/", 2) == 0)
			rest = given + 1;
		else if (strcmp(given, "$HOME") == 0 || strncmp(given, "$HOME/", 6) == 0)
			rest = given + 5;
		else if (strcmp(given, "${HOME}") == 0 || strncmp(given, "${HOME}/", 8) == 0)
			rest = given + 7;
		if (!rest) {
			if (given[0] != '/') {
				seterr(e, NULL, 0, "use an absolute path",
				       "%s=\"%.200s\" is not an absolute path", var, given);
				return KR_ERR_CONFIG;
			}
			p = mem_strdup_max(given, KR_PATH_MAX);
			if (!p) {
				seterr(e, NULL, 0, "use a shorter path", "%s is too long", var);
				return KR_ERR_CONFIG;
			}
			*ret = p;
			return KR_OK;
		}
	} else {
		rest = rel;
	}
	if (!home || home[0] != '/') {
		seterr(e, NULL, 0, "set HOME", "no home directory to find %s in", rel + 1);
		return KR_ERR_CONFIG;
	}
	n = strlen(home) + strlen(rest) + 1;
	if (n > KR_PATH_MAX) {
		seterr(e, NULL, 0, "use a shorter path", "config path is too long");
		return KR_ERR_CONFIG;
	}
	p = malloc(n);
	if (!p)
		return KR_ERR_NOMEM;
	snprintf(p, n, "%s%s", home, rest);
	*ret = p;
	return KR_OK;
}

/* Parse "FILE:LINE: message" from ini into e (FILE is known). */
static void ini_err(struct rerr *e, const char *file, const char *msg)
{
	size_t fl = strlen(file);
	int line = 0;
	const char *m = msg;

	if (strncmp(msg, file, fl) == 0 && msg[fl] == ':') {
		char *end;
		long l = strtol(msg + fl + 1, &end, 10);

		if (end != msg + fl + 1 && *end == ':' && l >= 0 && l < 1000000000) {
			line = (int)l;
			m = end + 1;
			while (*m == ' ')
				m++;
		} else {
			m = msg + fl + 1;
			while (*m == ' ')
				m++;
		}
	}
	seterr(e, file, line, "fix the file's syntax (botocore rejects the whole file too)", "%s",
	       m);
}

/* A cached map of exactly these two files, with a reference for the caller. */
static struct cfg *cfg_cached(const struct ini *config, const struct ini *creds)
{
	struct cfg *c = NULL;

	pthread_mutex_lock(&cfg_lock);
	for (size_t i = 0; i < CFG_CACHE_SLOTS && !c; i++) {
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
static void cfg_remember(struct cfg *c)
{
	struct cfg *old;
	size_t victim = 0;

	pthread_mutex_lock(&cfg_lock);
	for (size_t i = 0; i < CFG_CACHE_SLOTS; i++) {
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
 * The map for the caller's files: two stat()s (in ini_load) and, while
 * neither file changed, the map built for them before. Release with
 * cfg_unref().
 */
static int cfg_load(const struct profile_env *env, const struct cfg **ret, struct rerr *e)
{
	char *cp = NULL, *kp = NULL, ebuf[512];
	struct ini *config = NULL, *creds = NULL;
	struct cfg *c = NULL;
	int r;

	r = file_path(env, env->config_file, "AWS_CONFIG_FILE", "/.aws/config", &cp, e);
	if (r == KR_OK)
		r = file_path(env, env->credentials_file, "AWS_SHARED_CREDENTIALS_FILE",
		              "/.aws/credentials", &kp, e);
	if (r < 0)
		goto out;
	ebuf[0] = '\0';
	r = ini_load(cp, &config, ebuf, sizeof(ebuf));
	if (r < 0 && r != KR_ERR_NOMEM) {
		ini_err(e, cp, ebuf);
		r = r == KR_ERR_TOOBIG ? KR_ERR_CONFIG : r;
		goto out;
	}
	if (r == KR_OK)
		r = ini_load(kp, &creds, ebuf, sizeof(ebuf));
	if (r < 0 && r != KR_ERR_NOMEM) {
		ini_err(e, kp, ebuf);
		r = r == KR_ERR_TOOBIG ? KR_ERR_CONFIG : r;
		goto out;
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

/* Merged lookup: the credentials file's key wins (botocore's update()). */
static int pget(const struct cfg *c, const struct pent *pe, const char *key, struct val *out)
{
	const struct ini_kv *kv = NULL;
	const char *file = NULL;

	if (!pe)
		return 0;
	if (pe->cred && (kv = ini_get(pe->cred, key)) != NULL)
		file = c->creds->filename;
	else if (pe->cfg && (kv = ini_get(pe->cfg, key)) != NULL)
		file = c->config->filename;
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

static int sget(const struct cfg *c, const struct ini_section *s, int is_cred, const char *key,
                struct val *out)
{
	const struct ini_kv *kv = ini_get(s, key);

	if (!kv)
		return 0;
	out->v = kv->value;
	out->file = is_cred ? c->creds->filename : c->config->filename;
	out->line = kv->line;
	out->kv = kv;
	return 1;
}

/* Where a profile is defined (for messages about the profile as a whole). */
static void pwhere(const struct cfg *c, const struct pent *pe, const char **file, int *line)
{
	if (pe && pe->cfg) {
		*file = c->config->filename;
		*line = pe->cfg->line;
	} else if (pe && pe->cred) {
		*file = c->creds->filename;
		*line = pe->cred->line;
	} else {
		*file = c->config ? c->config->filename : NULL;
		*line = 0;
	}
}

/* A single-line value no longer than KR_VALUE_MAX, copied. */
static int take(const struct val *v, const char *key, char **ret, struct rerr *e)
{
	char *s;

	if (v->kv && v->kv->sub) {
		seterr(e, v->file, v->line, "write the value on the same line as the key",
		       "%s is an indented block, not a value", key);
		return KR_ERR_CONFIG;
	}
	if (strchr(v->v, '\n')) {
		seterr(e, v->file, v->line, "write the value on one line",
		       "%s continues on an indented line", key);
		return KR_ERR_CONFIG;
	}
	s = mem_strdup_max(v->v, KR_VALUE_MAX);
	if (!s) {
		if (strlen(v->v) > KR_VALUE_MAX) {
			seterr(e, v->file, v->line, "shorten the value",
			       "%s is longer than %d bytes", key, KR_VALUE_MAX);
			return KR_ERR_CONFIG;
		}
		return KR_ERR_NOMEM;
	}
	*ret = s;
	return KR_OK;
}

/* Optional value: NULL when absent. */
static int take_opt(const struct cfg *c, const struct pent *pe, const char *key, char **ret,
                    struct rerr *e)
{
	struct val v = {0};

	*ret = NULL;
	if (!pget(c, pe, key, &v))
		return KR_OK;
	return take(&v, key, ret, e);
}

/* ---- chains ---------------------------------------------------------------- */

static void hop_clear(struct profile_hop *h)
{
	free(h->profile);
	free(h->role_arn);
	free(h->session_name);
	free(h->external_id);
	free(h->mfa_serial);
	free(h->source_identity);
	free(h->policy);
	for (size_t i = 0; i < h->n_tags; i++) {
		free(h->tag_keys[i]);
		free(h->tag_values[i]);
	}
	free(h->tag_keys);
	free(h->tag_values);
	for (size_t i = 0; i < h->n_transitive; i++)
		free(h->transitive_keys[i]);
	free(h->transitive_keys);
	free(h->region);
	free(h->endpoint);
	free(h->file);
	memset(h, 0, sizeof(*h));
}

void profile_chain_free(struct profile_chain *c)
{
	if (!c)
		return;
	free(c->source.profile);
	mem_free_str(c->source.access_key_id);
	mem_free_str(c->source.secret_access_key);
	mem_free_str(c->source.session_token);
	free(c->source.command);
	free(c->source.file);
	for (size_t i = 0; i < c->n_hops; i++)
		hop_clear(&c->hops[i]);
	free(c->hops);
	free(c->name);
	free(c->region);
	free(c->mfa_process);
	free(c->ca_bundle);
	mem_free_str(c->proxy); /* may hold a proxy password */
	mem_free_str(c->no_proxy);
	free(c);
}

static int sts_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("_+=,.@-", ch) != NULL;
}

char *profile_default_session_name(const char *profile)
{
	char out[65];
	size_t n = 0;
	const char *pre = "keyrole-";

	if (!profile)
		return NULL;
	for (const char *p = pre; *p; p++)
		out[n++] = *p;
	for (const char *p = profile; *p && n < 64; p++)
		out[n++] = sts_name_char(*p) ? *p : '-';
	out[n] = '\0';
	return strdup(out);
}

static int valid_session_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!sts_name_char(s[i]))
			return 0;
	return 1;
}

static int set_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return KR_OK;
	*dst = strdup(src);
	return *dst ? KR_OK : KR_ERR_NOMEM;
}

/* Split "a, b ,c" into trimmed items; empty items are errors. */
static int split_list(const struct val *v, const char *key, int pairs, char ***ret_k, char ***ret_v,
                      size_t *ret_n, struct rerr *e)
{
	char **ks = calloc(KR_PROFILE_TAGS_MAX, sizeof(*ks));
	char **vs = pairs ? calloc(KR_PROFILE_TAGS_MAX, sizeof(*vs)) : NULL;
	const char *p = v->v;
	size_t n = 0;
	int r = KR_OK;

	if (!ks || (pairs && !vs)) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	if (strchr(p, '\n')) {
		seterr(e, v->file, v->line, "write the list on one line",
		       "%s continues on an indented line", key);
		r = KR_ERR_CONFIG;
		goto out;
	}
	while (*p && r == KR_OK) {
		const char *b = p, *end = strchr(p, ','), *eq = NULL, *kb, *ke;

		if (!end)
			end = p + strlen(p);
		p = *end ? end + 1 : end;
		while (b < end && (*b == ' ' || *b == '\t'))
			b++;
		while (end > b && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (b == end && !*p && n > 0)
			break; /* a trailing comma */
		if (n >= KR_PROFILE_TAGS_MAX) {
			seterr(e, v->file, v->line, "STS accepts at most 50 session tags",
			       "%s has more than %d entries", key, KR_PROFILE_TAGS_MAX);
			r = KR_ERR_CONFIG;
			break;
		}
		kb = b;
		ke = end;
		if (pairs) {
			eq = memchr(b, '=', (size_t)(end - b));
			if (!eq) {
				seterr(e, v->file, v->line, "write key=value,key2=value2",
				       "%s: entry %zu is not key=value", key, n + 1);
				r = KR_ERR_CONFIG;
				break;
			}
			ke = eq;
			while (ke > kb && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
		}
		if (ke == kb) {
			seterr(e, v->file, v->line,
			       pairs ? "write key=value,key2=value2" : "write key,key2",
			       "%s: entry %zu has an empty key", key, n + 1);
			r = KR_ERR_CONFIG;
			break;
		}
		ks[n] = strndup(kb, (size_t)(ke - kb));
		if (pairs) {
			const char *vb = eq + 1;

			while (vb < end && (*vb == ' ' || *vb == '\t'))
				vb++;
			vs[n] = strndup(vb, (size_t)(end - vb));
		}
		if (!ks[n] || (pairs && !vs[n]))
			r = KR_ERR_NOMEM;
		n++;
	}
out:
	if (r == KR_OK) {
		*ret_k = ks;
		if (pairs)
			*ret_v = vs;
		*ret_n = n;
	} else {
		for (size_t i = 0; i < KR_PROFILE_TAGS_MAX && ks; i++)
			free(ks[i]);
		for (size_t i = 0; i < KR_PROFILE_TAGS_MAX && vs; i++)
			free(vs[i]);
		free(ks);
		free(vs);
	}
	return r;
}

/* Fill a hop from the role profile pe (not region/endpoint/chaining). */
static int hop_fill(const struct cfg *c, const struct pent *pe, struct profile_hop *h,
                    struct rerr *e)
{
	struct val v = {0};
	int r;

	r = set_str(&h->profile, pe->name);
	if (r == KR_OK && pget(c, pe, "role_arn", &v)) {
		r = take(&v, "role_arn", &h->role_arn, e);
		if (r == KR_OK)
			r = set_str(&h->file, v.file);
		h->line = v.line;
		if (r == KR_OK &&
		    (strncmp(h->role_arn, "arn:", 4) != 0 || strlen(h->role_arn) < 20)) {
			seterr(e, v.file, v.line,
			       "use the role's ARN, e.g. arn:aws:iam::123456789012:role/NAME",
			       "role_arn \"%.200s\" in profile \"%s\" is not an ARN", h->role_arn,
			       pe->name);
			r = KR_ERR_CONFIG;
		}
	}
	if (r == KR_OK && pget(c, pe, "role_session_name", &v)) {
		r = take(&v, "role_session_name", &h->session_name, e);
		if (r == KR_OK && !valid_session_name(h->session_name)) {
			seterr(
			    e, v.file, v.line, "use 2-64 characters of letters, digits and _+=,.@-",
			    "role_session_name \"%.100s\" is not accepted by STS", h->session_name);
			r = KR_ERR_CONFIG;
		}
	} else if (r == KR_OK) {
		h->session_name = profile_default_session_name(pe->name);
		if (!h->session_name)
			r = KR_ERR_NOMEM;
	}
	if (r == KR_OK)
		r = take_opt(c, pe, "external_id", &h->external_id, e);
	if (r == KR_OK)
		r = take_opt(c, pe, "mfa_serial", &h->mfa_serial, e);
	if (r == KR_OK)
		r = take_opt(c, pe, "source_identity", &h->source_identity, e);
	if (r == KR_OK && pget(c, pe, "duration_seconds", &v)) {
		char *end;
		long d;

		h->duration_line = v.line;
		d = strtol(v.v, &end, 10);
		if (v.v[0] < '0' || v.v[0] > '9' || *end != '\0' || d < 900 || d > 43200) {
			seterr(
			    e, v.file, v.line,
			    "use a whole number of seconds from 900 to 43200 (and no more than the "
			    "role's maximum session duration)",
			    "duration_seconds = \"%.40s\" in profile \"%s\" is invalid", v.v,
			    pe->name);
			r = KR_ERR_CONFIG;
		} else {
			h->duration = (int)d;
		}
	}
	if (r == KR_OK && pget(c, pe, "session_tags", &v))
		r = split_list(&v, "session_tags", 1, &h->tag_keys, &h->tag_values, &h->n_tags, e);
	if (r == KR_OK && pget(c, pe, "transitive_session_tags", &v))
		r = split_list(&v, "transitive_session_tags", 0, &h->transitive_keys, NULL,
		               &h->n_transitive, e);
	return r;
}

static int has_role(const struct cfg *c, const struct pent *pe)
{
	return pget(c, pe, "role_arn", NULL) && !pget(c, pe, "web_identity_token_file", NULL);
}

static int has_static(const struct cfg *c, const struct pent *pe)
{
	return pget(c, pe, "aws_access_key_id", NULL) || pget(c, pe, "aws_secret_access_key", NULL);
}

/* Static keys from one section (botocore's Shared/ConfigProvider). */
static int static_from(const struct cfg *c, const struct ini_section *s, int is_cred,
                       const char *pname, struct profile_source *src, struct rerr *e)
{
	struct val ak = {0}, sk = {0}, tk = {0};
	int r;

	sget(c, s, is_cred, "aws_access_key_id", &ak);
	if (!sget(c, s, is_cred, "aws_secret_access_key", &sk)) {
		seterr(e, ak.file, ak.line,
		       "add aws_secret_access_key next to it, or remove both and use `keyrole add`",
		       "profile \"%s\" has aws_access_key_id but no aws_secret_access_key", pname);
		return KR_ERR_CONFIG;
	}
	src->type = PROFILE_SRC_STATIC;
	r = take(&ak, "aws_access_key_id", &src->access_key_id, e);
	if (r == KR_OK)
		r = take(&sk, "aws_secret_access_key", &src->secret_access_key, e);
	/* botocore's order: aws_security_token first, then aws_session_token. */
	if (r == KR_OK && (sget(c, s, is_cred, "aws_security_token", &tk) ||
	                   sget(c, s, is_cred, "aws_session_token", &tk)))
		r = take(&tk, "aws_session_token", &src->session_token, e);
	if (r == KR_OK)
		r = set_str(&src->file, ak.file);
	src->line = ak.line;
	if (r == KR_OK && (src->access_key_id[0] == '\0' || src->secret_access_key[0] == '\0')) {
		seterr(e, ak.file, ak.line,
		       "fill in both keys, or remove both and use `keyrole add`",
		       "profile \"%s\" has an empty access key id or secret access key", pname);
		r = KR_ERR_CONFIG;
	}
	return r;
}

static int unsupported(const struct cfg *c, const struct pent *pe, const char *key,
                       const char *what, struct profile_source *src, struct rerr *e)
{
	struct val v = {0};

	pget(c, pe, key, &v);
	src->type = PROFILE_SRC_UNSUPPORTED;
	src->line = v.line;
	if (set_str(&src->file, v.file) < 0)
		return KR_ERR_NOMEM;
	seterr(e, v.file, v.line,
	       "use static keys (keyrole add), credential_process or credential_source = "
	       "Environment for the source",
	       "profile \"%s\" uses %s (%s), which keyrole does not support", pe->name, what, key);
	return KR_ERR_UNSUPPORTED;
}

/* botocore's profile provider chain for a source (or role-less) profile. */
static int source_from_profile(const struct cfg *c, const struct pent *pe,
                               struct profile_source *src, struct rerr *e)
{
	struct val v = {0};
	int r;

	r = set_str(&src->profile, pe->name);
	if (r < 0)
		return r;
	if (pget(c, pe, "web_identity_token_file", NULL))
		return unsupported(c, pe, "web_identity_token_file", "web identity federation", src,
		                   e);
	if (pget(c, pe, "sso_account_id", NULL))
		return unsupported(c, pe, "sso_account_id", "IAM Identity Center (SSO)", src, e);
	if (pget(c, pe, "sso_role_name", NULL))
		return unsupported(c, pe, "sso_role_name", "IAM Identity Center (SSO)", src, e);
	if (pe->cred && ini_get(pe->cred, "aws_access_key_id"))
		return static_from(c, pe->cred, 1, pe->name, src, e);
	if (pget(c, pe, "login_session", NULL))
		return unsupported(c, pe, "login_session", "console login sessions", src, e);
	if (pget(c, pe, "credential_process", &v)) {
		src->type = PROFILE_SRC_PROCESS;
		src->line = v.line;
		r = set_str(&src->file, v.file);
		if (r == KR_OK)
			r = take(&v, "credential_process", &src->command, e);
		if (r == KR_OK && src->command[0] == '\0') {
			seterr(e, v.file, v.line, "give the command to run, or remove the key",
			       "credential_process in profile \"%s\" is empty", pe->name);
			r = KR_ERR_CONFIG;
		}
		return r;
	}
	if (pe->cfg && ini_get(pe->cfg, "aws_access_key_id"))
		return static_from(c, pe->cfg, 0, pe->name, src, e);
	if (pget(c, pe, "aws_secret_access_key", &v)) {
		seterr(e, v.file, v.line,
		       "add aws_access_key_id next to it, or remove both and use `keyrole add`",
		       "profile \"%s\" has aws_secret_access_key but no aws_access_key_id",
		       pe->name);
		return KR_ERR_CONFIG;
	}
	/* KEYROLE: no keys anywhere: the daemon looks in the keyring. */
	src->type = PROFILE_SRC_KEYRING;
	{
		const char *f;

		pwhere(c, pe, &f, &src->line);
		r = set_str(&src->file, f);
	}
	return r;
}

/*
 * If command runs "keyrole ... get P", P (caller frees), else NULL. The
 * client takes options before the subcommand; anything starting with '-'
 * is skipped.
 */
static char *keyrole_target(const char *command)
{
	char **argv = NULL;
	size_t argc = 0, i = 1;
	const char *base;
	char *target = NULL;

	if (shellquote_split(command, KR_PROFILE_ARGV_MAX, &argv, &argc) < 0 || argc < 3)
		goto out;
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "keyrole") != 0)
		goto out;
	while (i < argc && argv[i][0] == '-')
		i++;
	if (i >= argc || strcmp(argv[i], "get") != 0)
		goto out;
	for (i++; i < argc && argv[i][0] == '-'; i++)
		;
	if (i < argc)
		target = strdup(argv[i]);
out:
	shellquote_argv_free(argv);
	return target;
}

static int in_list(char *const *names, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(names[k], name) == 0)
			return 1;
	return 0;
}

static int resolve(const struct cfg *c, const struct profile_env *env, const char *name,
                   const struct callers *up, struct profile_chain **ret_chain, struct rerr *e);

/*
 * A credential_process source that runs `keyrole get T` would call itself
 * when T is a profile of this chain, of a chain that led here, or when T's
 * own chain comes back (through its own credential_process) to one of
 * them. T's chain is resolved to find out; only a self-call counts here
 * (T's other problems are its own report's).
 */
static int check_selfcall(const struct cfg *c, const struct profile_env *env,
                          const struct profile_chain *ch, char *const *visited, size_t n,
                          const struct callers *up, struct rerr *e)
{
	const struct profile_source *s = &ch->source;
	const char *fix = "a source profile must hold the real credentials (static keys, keyrole "
	                  "add, or another program): point credential_process elsewhere";
	char *target = keyrole_target(s->command);
	int r = KR_OK, hit = target && in_list(visited, n, target);

	for (const struct callers *u = up; target && !hit && u; u = u->up)
		hit = in_list(u->visited, u->n, target);
	if (hit) {
		seterr(e, s->file, s->line, fix,
		       "credential_process of profile \"%s\" calls keyrole for profile \"%.200s\" "
		       "of the same chain: it would call itself",
		       s->profile, target);
		r = KR_ERR_CONFIG;
	} else if (target && (up ? up->depth : 0) < KR_CHAIN_MAX) {
		struct callers me = {up, visited, n, up ? up->depth + 1 : 1};
		struct profile_chain *sub = NULL;
		struct rerr se;

		memset(&se, 0, sizeof(se));
		r = resolve(c, env, target, &me, &sub, &se);
		profile_chain_free(sub);
		if (r == KR_ERR_NOMEM)
			goto out;
		r = KR_OK;
		if (se.selfcall) {
			seterr(
			    e, s->file, s->line, fix,
			    "credential_process of profile \"%s\" calls keyrole for profile "
			    "\"%.200s\", whose chain leads back to this one: it would call itself",
			    s->profile, target);
			r = KR_ERR_CONFIG;
		}
	}
	if (r == KR_ERR_CONFIG)
		e->selfcall = 1;
out:
	free(target);
	return r;
}

/* "a -> b -> a" */
static void path_str(char *out, size_t len, char *const *visited, size_t n, const char *last)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(out + off, len - off, "%s -> ", visited[i]);

		if (w < 0)
			return;
		off += (size_t)w;
	}
	if (off < len)
		snprintf(out + off, len - off, "%s", last);
}

static int endpoint_for(const struct cfg *c, const struct pent *pe, const struct profile_env *env,
                        const char *region, char **ret_url, char **ret_sign, struct rerr *e)
{
	struct endpoint_in in;
	struct val v = {0}, sv = {0}, ig = {0}, pv = {0};
	const char *services_url = NULL;
	char ebuf[400];
	int r;

	memset(&in, 0, sizeof(in));
	in.region = region;
	in.env_endpoint_url_sts = env->endpoint_url_sts;
	in.env_endpoint_url = env->endpoint_url;
	in.ignore_configured = env->ignore_configured_endpoint_urls;
	if (!in.ignore_configured && pget(c, pe, "ignore_configured_endpoint_urls", &ig))
		in.ignore_configured = ig.v;
	in.sts_regional_endpoints = env->sts_regional_endpoints;
	if (!in.sts_regional_endpoints && pget(c, pe, "sts_regional_endpoints", &v))
		in.sts_regional_endpoints = v.v;
	if (pget(c, pe, "endpoint_url", &pv))
		in.profile_endpoint_url = pv.v;
	/* botocore looks at [services] only when no environment URL is set. */
	if (!endpoint_is_true(in.ignore_configured) &&
	    !(in.env_endpoint_url_sts && in.env_endpoint_url_sts[0]) &&
	    !(in.env_endpoint_url && in.env_endpoint_url[0]) && pget(c, pe, "services", &sv)) {
		const struct ini_section *sec = NULL;
		const struct ini_kv *sts;

		for (size_t i = 0; i < c->ns; i++)
			if (strcmp(c->s[i].name, sv.v) == 0)
				sec = c->s[i].sec;
		if (!sec || sec->n_kvs == 0) {
			seterr(e, sv.file, sv.line, "add a [services NAME] section or fix the name",
			       "profile \"%s\" uses services \"%.100s\", which does not exist",
			       pe->name, sv.v);
			return KR_ERR_CONFIG;
		}
		sts = ini_get(sec, "sts");
		if (sts && !sts->sub && sts->value[0]) {
			seterr(e, c->config->filename, sts->line,
			       "write \"sts =\" and then an indented \"endpoint_url = URL\" line",
			       "[services %.100s] has sts = a value, not an indented block", sv.v);
			return KR_ERR_CONFIG;
		}
		if (ini_sub(sts, "endpoint_url"))
			services_url = ini_sub(sts, "endpoint_url")->value;
	}
	in.services_sts_url = services_url;
	ebuf[0] = '\0';
	r = endpoint_resolve(&in, ret_url, ret_sign, ebuf, sizeof(ebuf));
	if (r == KR_ERR_CONFIG) {
		const char *f;
		int l;

		pwhere(c, pe, &f, &l);
		seterr(e, f, l, "", "profile \"%s\": %s", pe->name, ebuf);
	}
	return r;
}

/*
 * The resolver. On failure *chain is still returned (possibly partial) so
 * that the check report can show how far it got; the caller frees it.
 */
static int resolve(const struct cfg *c, const struct profile_env *env, const char *name,
                   const struct callers *up, struct profile_chain **ret_chain, struct rerr *e)
{
	struct profile_chain *ch = calloc(1, sizeof(*ch));
	char *visited[KR_CHAIN_MAX + 2];
	size_t n_visited = 0;
	const struct pent *pe, *top;
	char *url = NULL, *sign = NULL;
	struct val v = {0};
	int r = KR_OK;

	*ret_chain = ch;
	if (!ch)
		return KR_ERR_NOMEM;
	r = set_str(&ch->name, name);
	if (r < 0)
		goto out;
	top = pe = cfg_find(c, name);
	if (!pe) {
		seterr(e, c->config->filename, 0,
		       "add a [profile NAME] section to the config file, or check the name",
		       "profile \"%s\" not found", name);
		r = KR_ERR_NOPROFILE;
		goto out;
	}
	/* Region, endpoint and CA bundle come from the requested profile. */
	{
		const char *region = env->region && env->region[0] ? env->region
		                     : env->default_region && env->default_region[0]
		                         ? env->default_region
		                         : NULL;

		if (!region && pget(c, pe, "region", &v)) {
			r = take(&v, "region", &ch->region, e);
			if (r < 0)
				goto out;
		} else {
			r = set_str(&ch->region, region);
		}
		if (r == KR_OK && ch->region && ch->region[0] == '\0') {
			free(ch->region);
			ch->region = NULL;
		}
	}
	if (r == KR_OK && env->ca_bundle && env->ca_bundle[0])
		r = set_str(&ch->ca_bundle, env->ca_bundle);
	else if (r == KR_OK)
		r = take_opt(c, pe, "ca_bundle", &ch->ca_bundle, e);
	if (r == KR_OK)
		r = take_opt(c, pe, "mfa_process", &ch->mfa_process, e);
	if (r < 0)
		goto out;

	visited[n_visited++] = pe->name;
	if (!has_role(c, pe)) {
		r = source_from_profile(c, pe, &ch->source, e);
		goto process_check;
	}
	for (;;) {
		struct profile_hop *nh;
		struct val sp = {0}, cs = {0};
		const struct pent *spe;
		int has_sp, has_cs;
		const char *f;
		int l;

		if (ch->n_hops >= KR_CHAIN_MAX) {
			char path[600];

			path_str(path, sizeof(path), visited, n_visited - 1,
			         visited[n_visited - 1]);
			pwhere(c, pe, &f, &l);
			seterr(e, f, l, "shorten the chain of source_profile references",
			       "profile \"%s\": more than %d roles in one chain (%s)", name,
			       KR_CHAIN_MAX, path);
			r = KR_ERR_CONFIG;
			goto process_check;
		}
		nh = realloc(ch->hops, (ch->n_hops + 1) * sizeof(*nh));
		if (!nh) {
			r = KR_ERR_NOMEM;
			goto process_check;
		}
		ch->hops = nh;
		memset(&ch->hops[ch->n_hops], 0, sizeof(*nh));
		ch->n_hops++;
		r = hop_fill(c, pe, &ch->hops[ch->n_hops - 1], e);
		if (r < 0)
			goto process_check;
		has_sp = pget(c, pe, "source_profile", &sp);
		has_cs = pget(c, pe, "credential_source", &cs);
		pwhere(c, pe, &f, &l);
		if (has_sp && has_cs) {
			seterr(e, cs.file, cs.line,
			       "keep only one of source_profile and credential_source",
			       "profile \"%s\" has both source_profile and credential_source",
			       pe->name);
			r = KR_ERR_CONFIG;
			goto process_check;
		}
		if (!has_sp && !has_cs) {
			seterr(e, ch->hops[ch->n_hops - 1].file, ch->hops[ch->n_hops - 1].line,
			       "add source_profile = PROFILE (the profile with the keys) or "
			       "credential_source = Environment",
			       "profile \"%s\" has role_arn but neither source_profile nor "
			       "credential_source",
			       pe->name);
			r = KR_ERR_CONFIG;
			goto process_check;
		}
		if (has_cs) {
			if (strcmp(cs.v, "Environment") == 0) {
				struct profile_source *s = &ch->source;

				s->type = PROFILE_SRC_ENV;
				s->line = cs.line;
				r = set_str(&s->profile, pe->name);
				if (r == KR_OK)
					r = set_str(&s->file, cs.file);
				if (r < 0)
					goto process_check;
				if (!env->access_key_id || !env->access_key_id[0] ||
				    !env->secret_access_key || !env->secret_access_key[0]) {
					seterr(e, cs.file, cs.line,
					       "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
					       "in the "
					       "calling environment",
					       "profile \"%s\" uses credential_source = "
					       "Environment but "
					       "the caller's environment has no AWS_ACCESS_KEY_ID/"
					       "AWS_SECRET_ACCESS_KEY",
					       pe->name);
					r = KR_ERR_NOCREDS;
					goto process_check;
				}
				s->access_key_id = mem_strdup_max(env->access_key_id, KR_VALUE_MAX);
				s->secret_access_key =
				    mem_strdup_max(env->secret_access_key, KR_VALUE_MAX);
				if (env->session_token && env->session_token[0])
					s->session_token =
					    mem_strdup_max(env->session_token, KR_VALUE_MAX);
				if (!s->access_key_id || !s->secret_access_key ||
				    (env->session_token && env->session_token[0] &&
				     !s->session_token))
					r = KR_ERR_INVAL;
			} else if (strcmp(cs.v, "Ec2InstanceMetadata") == 0 ||
			           strcmp(cs.v, "EcsContainer") == 0) {
				r = unsupported(c, pe, "credential_source",
				                strcmp(cs.v, "EcsContainer") == 0
				                    ? "credential_source = EcsContainer"
				                    : "credential_source = Ec2InstanceMetadata",
				                &ch->source, e);
				if (set_str(&ch->source.profile, pe->name) < 0)
					r = KR_ERR_NOMEM;
			} else {
				seterr(
				    e, cs.file, cs.line,
				    "use Environment (Ec2InstanceMetadata and EcsContainer exist "
				    "in "
				    "botocore but keyrole does not support them)",
				    "credential_source \"%.100s\" in profile \"%s\" is not valid",
				    cs.v, pe->name);
				r = KR_ERR_CONFIG;
			}
			goto process_check;
		}
		spe = cfg_find(c, sp.v);
		if (!spe) {
			seterr(
			    e, sp.file, sp.line, "define that profile or fix the name",
			    "source_profile \"%.200s\" referenced in profile \"%s\" does not exist",
			    sp.v, pe->name);
			r = KR_ERR_CONFIG;
			goto process_check;
		}
		for (size_t k = 0; k < n_visited; k++) {
			if (strcmp(visited[k], spe->name) != 0)
				continue;
			/* Only a profile with its own static keys may source itself. */
			if (spe != pe || !has_static(c, spe)) {
				char path[600];

				path_str(path, sizeof(path), visited, n_visited, spe->name);
				seterr(e, sp.file, sp.line,
				       spe == pe
				           ? "give the profile static keys or a different "
				             "source_profile"
				           : "break the loop: one of these profiles must hold keys",
				       "source_profile loop: %s", path);
				r = KR_ERR_CONFIG;
				goto process_check;
			}
		}
		visited[n_visited++] = spe->name;
		if (has_static(c, spe) || !has_role(c, spe)) {
			r = source_from_profile(c, spe, &ch->source, e);
			break;
		}
		pe = spe;
	}
process_check:
	if (r == KR_OK && ch->source.type == PROFILE_SRC_PROCESS)
		r = check_selfcall(c, env, ch, visited, n_visited, up, e);
	/* Execution order: the hop nearest the source first (also for reports). */
	for (size_t i = 0; i < ch->n_hops / 2; i++) {
		struct profile_hop t = ch->hops[i];

		ch->hops[i] = ch->hops[ch->n_hops - 1 - i];
		ch->hops[ch->n_hops - 1 - i] = t;
	}
	if (r < 0)
		goto out;
	if (ch->n_hops > 0) {
		r = endpoint_for(c, top, env, ch->region, &url, &sign, e);
		if (r == KR_OK)
			r = endpoint_proxy(url, &env->proxy, &ch->proxy, &ch->no_proxy);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ch->n_hops && r == KR_OK; i++) {
		struct profile_hop *h = &ch->hops[i];

		/*
		 * Role chaining: the hop's source is itself a session. For hop 0
		 * that is known here for keys with a session token (files or
		 * environment); a credential_process says so only when it runs,
		 * and the agent caps the duration then.
		 */
		h->chained = i > 0 || (ch->source.session_token && ch->source.session_token[0]);
		if (h->chained && h->duration > KR_CHAINED_MAX_S) {
			h->duration = KR_CHAINED_MAX_S;
			h->duration_capped = 1;
		}
		r = set_str(&h->region, sign);
		if (r == KR_OK)
			r = set_str(&h->endpoint, url);
		if (r == KR_OK && h->mfa_serial && !ch->mfa_process) {
			const struct pent *hp = cfg_find(c, h->profile);

			r = take_opt(c, hp, "mfa_process", &ch->mfa_process, e);
		}
	}
out:
	free(url);
	free(sign);
	return r;
}

int profile_resolve(const struct profile_env *env, const char *name, struct profile_chain **ret,
                    char *errbuf, size_t errlen)
{
	const struct cfg *c = NULL;
	struct rerr e;
	struct profile_chain *ch = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!env || !name || !ret)
		return KR_ERR_INVAL;
	if (name[0] == '\0' || strlen(name) > KR_NAME_MAX) {
		seterr(&e, NULL, 0, "", "invalid profile name");
		r = KR_ERR_INVAL;
		goto out;
	}
	r = cfg_load(env, &c, &e);
	if (r < 0)
		goto out;
	r = resolve(c, env, name, NULL, &ch, &e);
	cfg_unref(c);
out:
	if (r < 0 && errbuf && errlen) {
		if (e.file[0] && e.line > 0)
			snprintf(errbuf, errlen, "%s:%d: %s%s%s%s", e.file, e.line, e.msg,
			         e.fix[0] ? " (" : "", e.fix, e.fix[0] ? ")" : "");
		else if (e.file[0])
			snprintf(errbuf, errlen, "%s: %s%s%s%s", e.file, e.msg,
			         e.fix[0] ? " (" : "", e.fix, e.fix[0] ? ")" : "");
		else
			snprintf(errbuf, errlen, "%s%s%s%s", e.msg[0] ? e.msg : err_str(r),
			         e.fix[0] ? " (" : "", e.fix, e.fix[0] ? ")" : "");
	}
	if (r == KR_OK)
		*ret = ch;
	else
		profile_chain_free(ch);
	return r;
}

/* ---- cache keys ------------------------------------------------------------ */

/* "TAG-;" for none, else "TAGLEN:VALUE;" (no printf: this runs for every request). */
static int kput(struct buf *b, const char *tag, const char *v)
{
	char num[24], *p = num + sizeof(num);
	size_t n;
	int r = buf_puts(b, tag);

	if (r < 0)
		return r;
	if (!v)
		return buf_append(b, "-;", 2);
	n = strlen(v);
	*--p = ':';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	r = buf_append(b, p, (size_t)(num + sizeof(num) - p));
	if (r == KR_OK)
		r = buf_puts(b, v);
	if (r == KR_OK)
		r = buf_putc(b, ';');
	return r;
}

/*
 * Keys with the same id but another secret (a typo, a rotated secret, a
 * new session token) are another source: they must not be answered from
 * the sessions the right ones made. The key text names them by a
 * truncated, domain-separated SHA-256, never by the secret itself.
 */
static int kput_secret(struct buf *b, const struct profile_source *s)
{
	struct buf m;
	char hex[65];
	int r;

	buf_init(&m, 2 * KR_VALUE_MAX + 64);
	r = buf_puts(&m, "keyrole source secret\n");
	if (r == KR_OK)
		r = kput(&m, "", s->secret_access_key);
	if (r == KR_OK)
		r = kput(&m, "", s->session_token);
	if (r == KR_OK)
		r = sigv4_sha256_hex(m.data, m.len, hex);
	buf_free(&m); /* wipes */
	if (r == KR_OK) {
		hex[16] = '\0';
		r = kput(b, "sec=", hex);
	}
	return r;
}

#define KEY_VERSION "kr2;"

int profile_keyring_source_prefix(const char *profile, struct buf *out)
{
	int r = buf_puts(out, KEY_VERSION);

	return r == KR_OK ? kput(out, "keyring=", profile) : r;
}

int profile_hop_key(const struct profile_chain *c, size_t i, struct buf *out)
{
	const struct profile_source *s;
	int r;

	if (!c || !out || i >= c->n_hops)
		return KR_ERR_INVAL;
	s = &c->source;
	r = buf_puts(out, KEY_VERSION);
	switch (s->type) {
	case PROFILE_SRC_STATIC:
		if (r == KR_OK)
			r = kput(out, "static=", s->access_key_id);
		if (r == KR_OK)
			r = kput_secret(out, s);
		break;
	case PROFILE_SRC_ENV:
		if (r == KR_OK)
			r = kput(out, "env=", s->access_key_id);
		if (r == KR_OK)
			r = kput_secret(out, s);
		break;
	case PROFILE_SRC_PROCESS:
		if (r == KR_OK)
			r = kput(out, "process=", s->command);
		break;
	case PROFILE_SRC_KEYRING:
		if (r == KR_OK)
			r = kput(out, "keyring=", s->profile);
		break;
	default:
		r = KR_ERR_INVAL;
	}
	for (size_t j = 0; j <= i && r == KR_OK; j++) {
		const struct profile_hop *h = &c->hops[j];

		char tag[32];

		snprintf(tag, sizeof(tag), "|hop%zu;", j);
		r = buf_puts(out, tag);
		if (r == KR_OK)
			r = kput(out, "arn=", h->role_arn);
		if (r == KR_OK)
			r = kput(out, "sn=", h->session_name);
		if (r == KR_OK)
			r = kput(out, "ext=", h->external_id);
		if (r == KR_OK)
			r = kput(out, "mfa=", h->mfa_serial);
		if (r == KR_OK) {
			char dur[24];

			snprintf(dur, sizeof(dur), "%d", h->duration);
			r = kput(out, "dur=", dur);
		}
		if (r == KR_OK)
			r = kput(out, "pol=", h->policy);
		if (r == KR_OK)
			r = kput(out, "sid=", h->source_identity);
		for (size_t t = 0; t < h->n_tags && r == KR_OK; t++) {
			r = kput(out, "tk=", h->tag_keys[t]);
			if (r == KR_OK)
				r = kput(out, "tv=", h->tag_values[t]);
		}
		for (size_t t = 0; t < h->n_transitive && r == KR_OK; t++)
			r = kput(out, "tt=", h->transitive_keys[t]);
		if (r == KR_OK)
			r = kput(out, "ep=", h->endpoint);
		if (r == KR_OK)
			r = kput(out, "reg=", h->region);
	}
	return r;
}

/* ---- check ------------------------------------------------------------------ */

/* Every key botocore 1.43 or keyrole reads from a profile. */
static const char *const known_keys[] = {
    "account_id_endpoint_mode",
    "api_versions",
    "auth_scheme_preference",
    "aws_access_key_id",
    "aws_account_id",
    "aws_secret_access_key",
    "aws_security_token",
    "aws_session_token",
    "ca_bundle",
    "cli_auto_prompt",
    "cli_binary_format",
    "cli_follow_urlparam",
    "cli_history",
    "cli_pager",
    "cli_timestamp_format",
    "credential_process",
    "credential_source",
    "csm_client_id",
    "csm_enabled",
    "csm_host",
    "csm_port",
    "data_path",
    "defaults_mode",
    "disable_host_prefix_injection",
    "disable_request_compression",
    "duration_seconds",
    "ec2_metadata_service_endpoint",
    "ec2_metadata_service_endpoint_mode",
    "ec2_metadata_v1_disabled",
    "endpoint_discovery_enabled",
    "endpoint_url",
    "external_id",
    "ignore_configured_endpoint_urls",
    "imds_use_ipv6",
    "include_profile",
    "login_session",
    "max_attempts",
    "metadata_service_num_attempts",
    "metadata_service_timeout",
    "mfa_process",
    "mfa_serial",
    "output",
    "parameter_validation",
    "region",
    "request_checksum_calculation",
    "request_min_compression_size_bytes",
    "response_checksum_validation",
    "retry_mode",
    "role_arn",
    "role_session_name",
    "s3_disable_express_session_auth",
    "sdk_ua_app_id",
    "services",
    "session_tags",
    "sigv4a_signing_region_set",
    "source_identity",
    "source_profile",
    "sso_account_id",
    "sso_region",
    "sso_registration_scopes",
    "sso_role_name",
    "sso_session",
    "sso_start_url",
    "sts_regional_endpoints",
    "tcp_keepalive",
    "transitive_session_tags",
    "use_dualstack_endpoint",
    "use_fips_endpoint",
    "web_identity_token_file",
};

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

static const char *nearest_key(const char *key)
{
	const char *best = NULL;
	size_t bd = 99, lim = strlen(key) / 3;

	if (lim < 2)
		lim = 2;
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++) {
		size_t d = edit_distance(key, known_keys[i]);

		if (d < bd) {
			bd = d;
			best = known_keys[i];
		}
	}
	return bd <= lim ? best : NULL;
}

static int is_known(const char *key)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (strcmp(key, known_keys[i]) == 0)
			return 1;
	return 0;
}

static int add_problem(cJSON *problems, const char *severity, const char *file, int line,
                       const char *message, const char *fix)
{
	cJSON *p = cJSON_CreateObject();

	if (!p || !cJSON_AddItemToArray(problems, p)) {
		cJSON_Delete(p);
		return KR_ERR_NOMEM;
	}
	if (!cJSON_AddStringToObject(p, "severity", severity) ||
	    !cJSON_AddStringToObject(p, "file", file ? file : "") ||
	    !cJSON_AddNumberToObject(p, "line", line) ||
	    !cJSON_AddStringToObject(p, "message", message) ||
	    !cJSON_AddStringToObject(p, "fix", fix ? fix : ""))
		return KR_ERR_NOMEM;
	return KR_OK;
}

static void mask_key(const char *k, char *out, size_t len)
{
	size_t n = strlen(k);

	snprintf(out, len, "****%s", n >= 4 ? k + n - 4 : "");
}

static const char *src_type_name(enum profile_source_type t)
{
	switch (t) {
	case PROFILE_SRC_STATIC:
		return "static";
	case PROFILE_SRC_KEYRING:
		return "keyring";
	case PROFILE_SRC_ENV:
		return "environment";
	case PROFILE_SRC_PROCESS:
		return "process";
	default:
		return "unsupported";
	}
}

static int add_steps(cJSON *steps, const struct profile_chain *ch, int with_source)
{
	const struct profile_source *s = &ch->source;
	cJSON *o;
	char mk[16];

	if (with_source) {
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(steps, o)) {
			cJSON_Delete(o);
			return KR_ERR_NOMEM;
		}
		if (!cJSON_AddStringToObject(o, "kind", "source") ||
		    !cJSON_AddStringToObject(o, "type", src_type_name(s->type)) ||
		    !cJSON_AddStringToObject(o, "profile", s->profile ? s->profile : "") ||
		    !cJSON_AddStringToObject(o, "file", s->file ? s->file : "") ||
		    !cJSON_AddNumberToObject(o, "line", s->line))
			return KR_ERR_NOMEM;
		if (s->access_key_id) {
			mask_key(s->access_key_id, mk, sizeof(mk));
			if (!cJSON_AddStringToObject(o, "access_key_id", mk))
				return KR_ERR_NOMEM;
		}
		if (s->command && !cJSON_AddStringToObject(o, "command", s->command))
			return KR_ERR_NOMEM;
	}
	for (size_t i = 0; i < ch->n_hops; i++) {
		const struct profile_hop *h = &ch->hops[i];

		if (!h->role_arn)
			continue; /* a hop that failed to parse */
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(steps, o)) {
			cJSON_Delete(o);
			return KR_ERR_NOMEM;
		}
		if (!cJSON_AddStringToObject(o, "kind", "role") ||
		    !cJSON_AddStringToObject(o, "profile", h->profile) ||
		    !cJSON_AddStringToObject(o, "role_arn", h->role_arn) ||
		    !cJSON_AddStringToObject(o, "session_name",
		                             h->session_name ? h->session_name : "") ||
		    (h->external_id &&
		     !cJSON_AddStringToObject(o, "external_id", h->external_id)) ||
		    (h->mfa_serial && !cJSON_AddStringToObject(o, "mfa_serial", h->mfa_serial)) ||
		    !cJSON_AddNumberToObject(o, "duration", h->duration) ||
		    !cJSON_AddBoolToObject(o, "duration_capped", h->duration_capped) ||
		    (h->region && !cJSON_AddStringToObject(o, "region", h->region)) ||
		    !cJSON_AddStringToObject(o, "endpoint", h->endpoint ? h->endpoint : "") ||
		    !cJSON_AddStringToObject(o, "file", h->file ? h->file : "") ||
		    !cJSON_AddNumberToObject(o, "line", h->line))
			return KR_ERR_NOMEM;
	}
	return KR_OK;
}

/* Problems that are visible in the profile's own sections. */
static int lint_profile(const struct cfg *c, const struct pent *pe, cJSON *problems)
{
	const struct ini_section *secs[2] = {pe->cfg, pe->cred};
	const char *files[2] = {c->config->filename, c->creds->filename};
	struct val ra = {0}, cp = {0};
	char msg[512], fix[320];
	int r = KR_OK;

	for (size_t k = 0; k < 2 && r == KR_OK; k++) {
		for (size_t i = 0; secs[k] && i < secs[k]->n_kvs && r == KR_OK; i++) {
			const struct ini_kv *kv = &secs[k]->kvs[i];
			const char *near;

			/* Per-service blocks ("s3 =" + indented lines) are botocore's. */
			if (kv->sub || is_known(kv->key))
				continue;
			near = nearest_key(kv->key);
			snprintf(msg, sizeof(msg), "unknown key \"%.100s\" in profile \"%s\"",
			         kv->key, pe->name);
			if (near)
				snprintf(fix, sizeof(fix), "did you mean \"%s\"?", near);
			else
				snprintf(fix, sizeof(fix),
				         "remove it: neither botocore nor keyrole reads it");
			r = add_problem(problems, "warning", files[k], kv->line, msg, fix);
		}
	}
	if (r == KR_OK && pget(c, pe, "role_arn", &ra) && pget(c, pe, "credential_process", &cp)) {
		char *argv0 = NULL;
		char **argv = NULL;
		size_t argc = 0;
		int keyrole = 0;

		if (shellquote_split(cp.v, KR_PROFILE_ARGV_MAX, &argv, &argc) == KR_OK &&
		    argc > 0) {
			argv0 = strrchr(argv[0], '/');
			keyrole = strcmp(argv0 ? argv0 + 1 : argv[0], "keyrole") == 0;
		}
		shellquote_argv_free(argv);
		snprintf(msg, sizeof(msg),
		         "profile \"%s\" has both role_arn and credential_process: botocore and "
		         "the AWS CLI ignore credential_process there and call AssumeRole "
		         "themselves%s",
		         pe->name, keyrole ? ", so keyrole is never used" : "");
		snprintf(
		    fix, sizeof(fix),
		    "move role_arn/source_profile into a separate profile (e.g. "
		    "\"%.60s-chain\") and set credential_process = keyrole get %.60s-chain here",
		    pe->name, pe->name);
		r = add_problem(problems, keyrole ? "error" : "warning", cp.file, cp.line, msg,
		                fix);
	}
	return r;
}

/*
 * Role chaining lowers a longer duration_seconds to 3600: say so for hop i,
 * and for a credential_process source (which shows whether it returns a
 * session only when it runs) say what will happen if it does.
 */
static int warn_chaining(cJSON *problems, const struct profile_chain *ch, size_t i)
{
	const struct profile_hop *h = &ch->hops[i];
	const struct profile_source *s = &ch->source;
	int line = h->duration_line ? h->duration_line : h->line;
	char msg[512], fix[320];

	snprintf(fix, sizeof(fix), "set duration_seconds to 3600 or less for this profile");
	if (h->duration_capped && i > 0) {
		snprintf(
		    msg, sizeof(msg),
		    "role \"%.150s\" is assumed with role-session credentials (role chaining): "
		    "STS allows at most 3600 seconds, so duration_seconds is lowered to 3600",
		    h->role_arn);
	} else if (h->duration_capped) {
		snprintf(msg, sizeof(msg),
		         "role \"%.150s\" is assumed with session credentials (%s%.100s%s), which "
		         "STS treats as role chaining: it allows at most 3600 seconds, so "
		         "duration_seconds is lowered to 3600",
		         h->role_arn,
		         s->type == PROFILE_SRC_ENV
		             ? "AWS_SESSION_TOKEN in the caller's environment"
		             : "aws_session_token in profile \"",
		         s->type == PROFILE_SRC_ENV ? "" : s->profile,
		         s->type == PROFILE_SRC_ENV ? "" : "\"");
		snprintf(
		    fix, sizeof(fix),
		    "set duration_seconds to 3600 or less for this profile, or give the source "
		    "long-term keys");
	} else if (i == 0 && s->type == PROFILE_SRC_PROCESS && h->duration > KR_CHAINED_MAX_S) {
		snprintf(msg, sizeof(msg),
		         "role \"%.150s\" is assumed with what credential_process of profile "
		         "\"%.100s\" returns: if that has a SessionToken (a session), STS treats "
		         "this as role chaining and keyrole lowers duration_seconds to 3600 at run "
		         "time",
		         h->role_arn, s->profile ? s->profile : "");
	} else {
		return KR_OK;
	}
	return add_problem(problems, "warning", h->file, line, msg, fix);
}

static int check_one(const struct cfg *c, const struct profile_env *env, const char *name,
                     cJSON *out)
{
	cJSON *rep = cJSON_CreateObject(), *steps, *problems, *p;
	struct profile_chain *ch = NULL;
	struct rerr e;
	const struct pent *pe = cfg_find(c, name);
	int r, rr, ok = 1;

	memset(&e, 0, sizeof(e));
	if (!rep || !cJSON_AddItemToArray(out, rep)) {
		cJSON_Delete(rep);
		return KR_ERR_NOMEM;
	}
	if (!cJSON_AddStringToObject(rep, "name", name))
		return KR_ERR_NOMEM;
	steps = cJSON_AddArrayToObject(rep, "steps");
	problems = cJSON_AddArrayToObject(rep, "problems");
	if (!steps || !problems)
		return KR_ERR_NOMEM;
	rr = resolve(c, env, name, NULL, &ch, &e);
	r = KR_OK;
	if (rr == KR_ERR_NOMEM) {
		r = rr;
		goto out;
	}
	if (rr == KR_OK || ch->source.type == PROFILE_SRC_UNSUPPORTED)
		r = add_steps(steps, ch, 1);
	else if (rr < 0)
		r = add_steps(steps, ch, 0);
	if (r == KR_OK && rr < 0)
		r = add_problem(problems, "error", e.file, e.line, e.msg, e.fix);
	for (size_t i = 0; r == KR_OK && rr == KR_OK && i < ch->n_hops; i++)
		r = warn_chaining(problems, ch, i);
	if (r == KR_OK && pe)
		r = lint_profile(c, pe, problems);
	cJSON_ArrayForEach(p, problems)
	{
		const cJSON *sev = cJSON_GetObjectItemCaseSensitive(p, "severity");

		if (cJSON_IsString(sev) && strcmp(sev->valuestring, "error") == 0)
			ok = 0;
	}
	if (r == KR_OK && !cJSON_AddBoolToObject(rep, "ok", ok))
		r = KR_ERR_NOMEM;
out:
	profile_chain_free(ch);
	return r;
}

int profile_check(const struct profile_env *env, const char *name_or_null, cJSON **ret_profiles)
{
	cJSON *arr = NULL;
	const struct cfg *c = NULL;
	struct rerr e;
	int r, loaded = 0;

	memset(&e, 0, sizeof(e));
	if (!env || !ret_profiles)
		return KR_ERR_INVAL;
	arr = cJSON_CreateArray();
	if (!arr)
		return KR_ERR_NOMEM;
	r = cfg_load(env, &c, &e);
	if (r == KR_ERR_NOMEM)
		goto out;
	if (r < 0) {
		/* The whole file is unusable: one report carries the reason. */
		cJSON *rep = cJSON_CreateObject();
		cJSON *problems;

		r = KR_ERR_NOMEM;
		if (!rep || !cJSON_AddItemToArray(arr, rep)) {
			cJSON_Delete(rep);
			goto out;
		}
		if (!cJSON_AddStringToObject(rep, "name", name_or_null ? name_or_null : "*") ||
		    !cJSON_AddBoolToObject(rep, "ok", 0) || !cJSON_AddArrayToObject(rep, "steps") ||
		    !(problems = cJSON_AddArrayToObject(rep, "problems")))
			goto out;
		r = add_problem(problems, "error", e.file, e.line, e.msg, e.fix);
		goto out;
	}
	loaded = 1;
	if (name_or_null) {
		r = check_one(c, env, name_or_null, arr);
	} else {
		for (size_t i = 0; i < c->n && r == KR_OK; i++)
			r = check_one(c, env, c->p[i].name, arr);
	}
out:
	if (loaded)
		cfg_unref(c);
	if (r == KR_OK) {
		*ret_profiles = arr;
	} else {
		cJSON_Delete(arr);
	}
	return r;
}
