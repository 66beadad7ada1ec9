/*
 * botocore-compatible INI parser; see ini.h for the dialect and contract.
 *
 * Invariants:
 *  - Every length is checked before it is used; a line longer than
 *    KR_CONFIG_LINE_MAX or a file longer than KR_CONFIG_FILE_MAX is refused.
 *  - Duplicate checks use a hash set, so hostile files cost O(n), not O(n^2).
 *  - Every string that came from a file (it may be a secret key) is wiped
 *    before it is freed: mem_free_str(), struct buf, mem_free_secret().
 *    The file's bytes and every value live in secret memory (in keyroled,
 *    out of core dumps); section names and keys do not.
 */
#include "ini.h"

#include "fwatch.h"

#define INI_FIX "fix the file's syntax (botocore rejects the whole file too)"

#include "buf.h"
#include "err.h"
#include "caps.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_SECT UINT32_MAX

/* ---- Python's whitespace, on UTF-8 ---------------------------------- */

/* Length of the whitespace character at p (0 if none). str.isspace(). */
static size_t ws_at(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = (size_t)(end - p);

	if (n == 0)
		return 0;
	if (u[0] == ' ' || (u[0] >= 0x09 && u[0] <= 0x0d) || (u[0] >= 0x1c && u[0] <= 0x1f))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
		return 2;
	if (n >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80)
		return 3;
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
	    ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
		return 3;
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f)
		return 3;
	if (n >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
		return 3;
	return 0;
}

/* Length of the whitespace character that ends at end (0 if none). */
static size_t ws_before(const char *start, const char *end)
{
	size_t n = (size_t)(end - start);

	/* The text is valid UTF-8, so a match here is a whole character. */
	if (n >= 1 && ws_at(end - 1, end) == 1)
		return 1;
	if (n >= 2 && ws_at(end - 2, end) == 2)
		return 2;
	if (n >= 3 && ws_at(end - 3, end) == 3)
		return 3;
	return 0;
}

static void strip(const char **b, const char **e)
{
	size_t k;

	while (*b < *e && (k = ws_at(*b, *e)) > 0)
		*b += k;
	while (*e > *b && (k = ws_before(*b, *e)) > 0)
		*e -= k;
}

/* Index of the first non-space character, counted in characters. */
static size_t indent_chars(const char *b, const char *e)
{
	size_t k, n = 0;

	while (b < e && (k = ws_at(b, e)) > 0) {
		b += k;
		n++;
	}
	return n;
}

/* Offset of the first invalid UTF-8 byte, or len if all valid. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (len - i <= n)
			return i;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* ---- a hash set of (section, name) for duplicate checks -------------- */

struct hent {
	uint32_t sect; /* NO_SECT for section names */
	const char *name;
};

struct hset {
	struct hent *t;
	size_t cap, n;
};

static uint64_t hash_of(uint32_t sect, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ sect;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

/* 1 if present, 0 if added, negative on error. name must outlive the set. */
static int hset_add(struct hset *h, uint32_t sect, const char *name, int add)
{
	size_t i;

	if (add && (h->n + 1) * 2 > h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct hent *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return KR_ERR_NOMEM;
		for (size_t k = 0; k < h->cap; k++) {
			if (!h->t[k].name)
				continue;
			i = hash_of(h->t[k].sect, h->t[k].name) & (ncap - 1);
			while (nt[i].name)
				i = (i + 1) & (ncap - 1);
			nt[i] = h->t[k];
		}
		free(h->t);
		h->t = nt;
		h->cap = ncap;
	}
	if (h->cap == 0)
		return 0;
	i = hash_of(sect, name) & (h->cap - 1);
	while (h->t[i].name) {
		if (h->t[i].sect == sect && strcmp(h->t[i].name, name) == 0)
			return 1;
		i = (i + 1) & (h->cap - 1);
	}
	if (add) {
		h->t[i].sect = sect;
		h->t[i].name = name;
		h->n++;
	}
	return 0;
}

/* ---- building ---------------------------------------------------------- */

static void kv_clear(struct ini_kv *kv)
{
	mem_free_str(kv->key);
	mem_free_str(kv->value);
	for (size_t i = 0; i < kv->n_sub; i++)
		kv_clear(&kv->sub[i]);
	free(kv->sub);
	memset(kv, 0, sizeof(*kv));
}

static void section_clear(struct ini_section *s)
{
	mem_free_str(s->name);
	for (size_t i = 0; i < s->n_kvs; i++)
		kv_clear(&s->kvs[i]);
	free(s->kvs);
	memset(s, 0, sizeof(*s));
}

static void ini_destroy(struct ini *ini)
{
	if (!ini)
		return;
	for (size_t i = 0; i < ini->n_secs; i++)
		section_clear(&ini->secs[i]);
	free(ini->secs);
	free(ini->filename);
	free(ini);
}

/* Grow an array of elements of size sz to hold n+1; a no-op when it does. */
static int grow(void **arr, size_t n, size_t sz)
{
	void *p;
	size_t ncap;

	/* Capacity (never stored) is 4, then the next power of two >= n. */
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return KR_OK;
	ncap = n ? n * 2 : 4;
	if (ncap > SIZE_MAX / sz)
		return KR_ERR_NOMEM;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return KR_ERR_NOMEM;
	*arr = p;
	return KR_OK;
}

static char *dup_range(const char *b, const char *e)
{
	size_t n = (size_t)(e - b);
	char *r = malloc(n + 1);

	if (!r)
		return NULL;
	memcpy(r, b, n);
	r[n] = '\0';
	return r;
}

struct line_parser {
	const char *filename;
	struct err_detail *e;
	struct ini *ini;
	struct ini_section defaults; /* [DEFAULT], not a section */
	struct hset seen;
	struct ini_section *cur; /* current section (may be &defaults) */
	uint32_t cur_idx;        /* index or NO_SECT-1 for defaults */
	struct ini_kv *opt;      /* the option that continuation lines extend */
	struct buf val;          /* its value, being built */
	size_t blanks;           /* blank lines pending inside that value */
	size_t indent_level;
	int first_err_line; /* syntax errors are reported after the whole file */
	char first_err[160];
};

static void perr(struct line_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct line_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	if (!p->e)
		return;
	err_set(p->e, KR_ERR_CONFIG, p->filename, line, INI_FIX, "%s", "");
	va_start(ap, fmt);
	vsnprintf(p->e->msg, sizeof(p->e->msg), fmt, ap);
	va_end(ap);
}

/* Move the value being built into the current option. */
static int flush_opt(struct line_parser *p)
{
	char *s;
	int r = KR_OK;

	if (p->opt) {
		if (p->val.len == 0) {
			s = mem_secret_strdup("", 0);
			if (!s)
				r = KR_ERR_NOMEM;
		} else {
			s = buf_steal(&p->val, NULL);
		}
		if (r == KR_OK)
			p->opt->value = s;
	}
	buf_free(&p->val);
	buf_init_secret(&p->val, KR_CONFIG_FILE_MAX);
	p->opt = NULL;
	p->blanks = 0;
	return r;
}

static int add_section(struct line_parser *p, const char *b, const char *e, int line)
{
	struct ini *ini = p->ini;
	struct ini_section *s;
	char *name = dup_range(b, e);
	int r;

	if (!name)
		return KR_ERR_NOMEM;
	if (strcmp(name, "DEFAULT") == 0) {
		free(name);
		p->cur = &p->defaults;
		p->cur_idx = NO_SECT - 1;
		return KR_OK;
	}
	r = hset_add(&p->seen, NO_SECT, name, 0);
	if (r == 1) {
		perr(p, line, "section [%s] appears twice (merge the two sections into one)", name);
		free(name);
		return KR_ERR_CONFIG;
	}
	r = grow((void **)&ini->secs, ini->n_secs, sizeof(*ini->secs));
	if (r < 0) {
		free(name);
		return r;
	}
	s = &ini->secs[ini->n_secs];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->line = line;
	ini->n_secs++;
	r = hset_add(&p->seen, NO_SECT, s->name, 1);
	if (r < 0)
		return r;
	p->cur = s;
	p->cur_idx = (uint32_t)(ini->n_secs - 1);
	return KR_OK;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int add_option(struct line_parser *p, const char *b, const char *e, int line)
{
	struct ini_section *s = p->cur;
	const char *d = b, *kb = b, *ke, *vb, *ve = e;
	struct ini_kv *kv;
	char *key;
	int r;

	while (d < e && *d != '=' && *d != ':')
		d++;
	if (d == e || d == b) {
		/* configparser keeps going and reports the first bad line. */
		if (!p->first_err_line) {
			p->first_err_line = line;
			snprintf(p->first_err, sizeof(p->first_err), "%s",
			         d == e ? "not a \"key = value\" line, section header or comment"
			                : "a line starts with '=' or ':' (missing key name)");
		}
		return KR_OK;
	}
	ke = d;
	while (ke > kb && ws_before(kb, ke) > 0)
		ke -= ws_before(kb, ke);
	vb = d + 1;
	strip(&vb, &ve);
	key = dup_range(kb, ke);
	if (!key)
		return KR_ERR_NOMEM;
	lower_ascii(key);
	if (hset_add(&p->seen, p->cur_idx, key, 0) == 1) {
		perr(p, line, "key \"%s\" appears twice in section [%s] (keep one)", key,
		     s == &p->defaults ? "DEFAULT" : s->name);
		free(key);
		return KR_ERR_CONFIG;
	}
	r = grow((void **)&s->kvs, s->n_kvs, sizeof(*s->kvs));
	if (r < 0) {
		free(key);
		return r;
	}
	kv = &s->kvs[s->n_kvs++];
	memset(kv, 0, sizeof(*kv));
	kv->key = key;
	kv->line = line;
	kv->colon = *d == ':';
	r = hset_add(&p->seen, p->cur_idx, kv->key, 1);
	if (r < 0)
		return r;
	p->opt = kv;
	return buf_append(&p->val, vb, (size_t)(ve - vb));
}

static int parse_line(struct line_parser *p, const char *b, const char *e, int line)
{
	const char *sb = b, *se = e;
	size_t ind;
	int r;

	strip(&sb, &se);
	if (sb < se && (*sb == '#' || *sb == ';'))
		return KR_OK; /* a comment, even inside a continued value */
	if (sb == se) {
		if (p->opt)
			p->blanks++;
		return KR_OK;
	}
	ind = indent_chars(b, e);
	if (p->cur && p->opt && ind > p->indent_level) {
		for (size_t i = 0; i <= p->blanks; i++) {
			r = buf_putc(&p->val, '\n');
			if (r < 0)
				return r;
		}
		p->blanks = 0;
		return buf_append(&p->val, sb, (size_t)(se - sb));
	}
	r = flush_opt(p);
	if (r < 0)
		return r;
	p->indent_level = ind;
	if (*sb == '[') {
		const char *close = se;

		while (close > sb + 1 && close[-1] != ']')
			close--;
		/* "[x]...": the header runs to the last ']' and is not empty. */
		if (close > sb + 2 && close[-1] == ']')
			return add_section(p, sb + 1, close - 1, line);
		/*
		 * "[profile x" (no ']', no '=' or ':'): configparser notes a bad
		 * line and goes on, so a later line's error (a key twice in the
		 * section before) would be the one reported. The header is the
		 * mistake: say so at its own line.
		 */
		if (close == sb + 1 && !memchr(sb, '=', (size_t)(se - sb)) &&
		    !memchr(sb, ':', (size_t)(se - sb))) {
			perr(p, line, "section header \"%.*s\" has no closing ']'",
			     (int)(se - sb > 64 ? 64 : se - sb), sb);
			return KR_ERR_CONFIG;
		}
	}
	if (!p->cur) {
		perr(p, line, "text before the first [section] header");
		return KR_ERR_CONFIG;
	}
	return add_option(p, sb, se, line);
}

static int copy_kv(struct ini_kv *dst, const struct ini_kv *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = strdup(src->key);
	dst->value =
	    mem_secret_strdup(src->value ? src->value : "", src->value ? strlen(src->value) : 0);
	dst->line = src->line;
	if (!dst->key || !dst->value) {
		kv_clear(dst);
		return KR_ERR_NOMEM;
	}
	return KR_OK;
}

/* Length of a str.splitlines() separator at p (0 if none). */
static size_t line_break_at(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = (size_t)(end - p);

	if (u[0] == '\n' || u[0] == 0x0b || u[0] == 0x0c || (u[0] >= 0x1c && u[0] <= 0x1e))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return 2;
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* Parse "\nk = v\n..." into kv->sub (botocore's _parse_nested). */
static int parse_nested(struct line_parser *p, struct ini_kv *kv)
{
	const char *s = kv->value, *end = s + strlen(s);
	int r = KR_OK;

	while (s < end && r == KR_OK) {
		size_t brk = 0;
		const char *le = s, *b = s, *e, *eq;
		struct ini_kv *sub = NULL;

		while (le < end && (brk = line_break_at(le, end)) == 0)
			le++;
		e = le;
		s = le < end ? le + brk : end;
		strip(&b, &e);
		if (b == e)
			continue;
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq) {
			perr(p, kv->line,
			     "the indented lines under \"%s\" must each be \"name = value\"",
			     kv->key);
			return KR_ERR_CONFIG;
		}
		{
			const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
			char *k;

			strip(&kb, &ke);
			strip(&vb, &ve);
			k = dup_range(kb, ke);
			if (!k)
				return KR_ERR_NOMEM;
			for (size_t i = 0; i < kv->n_sub; i++)
				if (strcmp(kv->sub[i].key, k) == 0)
					sub = &kv->sub[i];
			if (sub) {
				free(k);
				mem_free_str(sub->value);
				sub->value = NULL;
			} else {
				r = grow((void **)&kv->sub, kv->n_sub, sizeof(*kv->sub));
				if (r < 0) {
					free(k);
					return r;
				}
				sub = &kv->sub[kv->n_sub++];
				memset(sub, 0, sizeof(*sub));
				sub->key = k;
			}
			sub->line = kv->line;
			sub->value = dup_range(vb, ve);
			if (!sub->value)
				r = KR_ERR_NOMEM;
		}
	}
	return r;
}

static int parse_finish(struct line_parser *p)
{
	struct ini *ini = p->ini;
	int r = KR_OK;

	/* [DEFAULT] keys are inherited by every section that lacks them. */
	for (size_t i = 0; i < ini->n_secs && r == KR_OK; i++) {
		struct ini_section *s = &ini->secs[i];

		for (size_t j = 0; j < p->defaults.n_kvs && r == KR_OK; j++) {
			const struct ini_kv *d = &p->defaults.kvs[j];

			if (hset_add(&p->seen, (uint32_t)i, d->key, 0) == 1)
				continue;
			r = grow((void **)&s->kvs, s->n_kvs, sizeof(*s->kvs));
			if (r == KR_OK)
				r = copy_kv(&s->kvs[s->n_kvs], d);
			if (r == KR_OK)
				s->n_kvs++;
		}
	}
	for (size_t i = 0; i < ini->n_secs && r == KR_OK; i++)
		for (size_t j = 0; j < ini->secs[i].n_kvs && r == KR_OK; j++)
			if (ini->secs[i].kvs[j].value[0] == '\n')
				r = parse_nested(p, &ini->secs[i].kvs[j]);
	return r;
}

int ini_parse(const char *data, size_t len, const char *filename, struct ini **ret,
              struct err_detail *e)
{
	struct line_parser p;
	const char *s = data, *end = data + len;
	size_t bad;
	int line = 0, r = KR_OK;

	memset(&p, 0, sizeof(p));
	p.filename = filename ? filename : "(config)";
	p.e = e;
	buf_init_secret(&p.val, KR_CONFIG_FILE_MAX);
	if (!data && len) {
		r = KR_ERR_INVAL;
		goto out;
	}
	if (len > KR_CONFIG_FILE_MAX) {
		perr(&p, 0, "file is larger than %d bytes", KR_CONFIG_FILE_MAX);
		r = KR_ERR_TOOBIG;
		if (e)
			e->code = r;
		goto out;
	}
	bad = len ? utf8_check((const unsigned char *)data, len) : 0;
	if (bad < len) {
		int bl = 1;

		for (size_t i = 0; i < bad; i++)
			if (data[i] == '\n' ||
			    (data[i] == '\r' && (i + 1 >= len || data[i + 1] != '\n')))
				bl++;
		perr(&p, bl, "%s (save the file as UTF-8 text)",
		     data[bad] ? "invalid UTF-8" : "a NUL byte");
		r = KR_ERR_CONFIG;
		goto out;
	}
	p.ini = calloc(1, sizeof(*p.ini));
	if (!p.ini) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	p.ini->refs = 1;
	p.ini->found = 1;
	p.ini->filename = strdup(p.filename);
	if (!p.ini->filename) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	while (s < end && r == KR_OK) {
		const char *eol = s;

		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		line++;
		if ((size_t)(eol - s) > KR_CONFIG_LINE_MAX) {
			perr(&p, line, "line is longer than %d bytes", KR_CONFIG_LINE_MAX);
			r = KR_ERR_TOOBIG;
			break;
		}
		r = parse_line(&p, s, eol, line);
		if (eol < end && *eol == '\r' && eol + 1 < end && eol[1] == '\n')
			eol++;
		s = eol < end ? eol + 1 : end;
	}
	if (r == KR_OK)
		r = flush_opt(&p);
	if (r == KR_OK && p.first_err_line) {
		perr(&p, p.first_err_line, "%s", p.first_err);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK)
		r = parse_finish(&p);
out:
	if (r == KR_ERR_NOMEM)
		perr(&p, line, "out of memory");
	if (r < 0 && e)
		e->code = r;
	/* A value still being built belongs to no kv yet. */
	buf_free(&p.val);
	section_clear(&p.defaults);
	free(p.seen.t);
	if (r == KR_OK) {
		*ret = p.ini;
	} else {
		/* Options whose value never got flushed hold NULL values. */
		ini_destroy(p.ini);
	}
	return r;
}

/* ---- lookups ----------------------------------------------------------- */

const struct ini_section *ini_section(const struct ini *ini, const char *name)
{
	if (!ini || !name)
		return NULL;
	for (size_t i = 0; i < ini->n_secs; i++)
		if (strcmp(ini->secs[i].name, name) == 0)
			return &ini->secs[i];
	return NULL;
}

const struct ini_kv *ini_get(const struct ini_section *s, const char *key)
{
	if (!s || !key)
		return NULL;
	for (size_t i = 0; i < s->n_kvs; i++)
		if (strcmp(s->kvs[i].key, key) == 0)
			return &s->kvs[i];
	return NULL;
}

const struct ini_kv *ini_sub(const struct ini_kv *kv, const char *key)
{
	if (!kv || !key)
		return NULL;
	for (size_t i = 0; i < kv->n_sub; i++)
		if (strcmp(kv->sub[i].key, key) == 0)
			return &kv->sub[i];
	return NULL;
}

/* ---- loading and the cache ------------------------------------------- */

struct cache_slot {
	char *path;
	struct stat st;  /* all zero: the file did not exist */
	struct ini *ini; /* holds one reference */
	uint64_t used;
	uint64_t gen; /* daemon/fwatch.c: the file is as read while this holds; 0: stat it */
};

static const struct stat missing_st; /* the stat of a file that is not there */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_slot cache[KR_INI_CACHE_SLOTS];
static uint64_t cache_tick;

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void unref_locked(struct ini *ini)
{
	if (ini && --ini->refs == 0)
		ini_destroy(ini);
}

void ini_free(struct ini *ini)
{
	if (!ini)
		return;
	pthread_mutex_lock(&cache_lock);
	unref_locked(ini);
	pthread_mutex_unlock(&cache_lock);
}

void ini_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < KR_INI_CACHE_SLOTS; i++) {
		unref_locked(cache[i].ini);
		free(cache[i].path);
		memset(&cache[i], 0, sizeof(cache[i]));
	}
	fwatch_reset();
	pthread_mutex_unlock(&cache_lock);
}

static int empty_ini(const char *path, struct ini **ret)
{
	struct ini *ini = calloc(1, sizeof(*ini));

	if (!ini)
		return KR_ERR_NOMEM;
	ini->refs = 1;
	ini->filename = strdup(path);
	if (!ini->filename) {
		free(ini);
		return KR_ERR_NOMEM;
	}
	*ret = ini;
	return KR_OK;
}

/* Read the whole file (bounded); the caller wipes and frees *ret_data. */
static int read_file(int fd, const struct stat *st, const char *path, char **ret_data,
                     size_t *ret_len, struct err_detail *e)
{
	size_t cap = (size_t)st->st_size, len = 0;
	char *data;
	int r = KR_OK;

	if (st->st_size < 0 || st->st_size > KR_CONFIG_FILE_MAX) {
		err_set(e, KR_ERR_TOOBIG, path, 0, "keep config files under 4 MiB",
		        "file is larger than %d bytes", KR_CONFIG_FILE_MAX);
		return KR_ERR_TOOBIG;
	}
	/* One byte more than the size, to notice a file that grew meanwhile. */
	data = mem_secret_alloc(cap + 1);
	if (!data)
		return KR_ERR_NOMEM;
	for (;;) {
		ssize_t n = read(fd, data + len, cap + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, KR_ERR_IO, path, 0, NULL, "%s", strerror(errno));
			r = KR_ERR_IO;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			err_set(e, KR_ERR_IO, path, 0, "try again",
			        "file changed while being read");
			r = KR_ERR_IO;
			break;
		}
	}
	if (r == KR_OK) {
		*ret_data = data;
		*ret_len = len;
	} else {
		mem_free_secret(data, cap + 1);
	}
	return r;
}

/* ini_load(); sync: read the file watch's pending events first (once per batch of loads). */
static int load(const char *path, struct ini **ret, struct err_detail *e, int sync)
{
	struct stat st;
	struct ini *ini = NULL;
	char *data = NULL;
	size_t len = 0, victim = 0;
	uint64_t gen;
	int fd = -1, r = KR_OK, cacheable = 0;
	if (!path || !ret)
		return KR_ERR_INVAL;
	/*
	 * The fast path: a file whose directory is watched (daemon/fwatch.c)
	 * and had no event since it was read costs no system call but the
	 * watch's (empty) read; any other file one stat() and, when it is
	 * unchanged, a cache hit, also for a file that is not there (most users
	 * have no credentials file, or no config).
	 */
	pthread_mutex_lock(&cache_lock);
	if (sync)
		fwatch_sync();
	for (size_t i = 0; i < KR_INI_CACHE_SLOTS && !ini; i++) {
		if (cache[i].path && cache[i].gen && strcmp(cache[i].path, path) == 0 &&
		    cache[i].gen == fwatch_gen(path)) {
			ini = cache[i].ini;
			ini->refs++;
			cache[i].used = ++cache_tick;
		}
	}
	gen = ini ? 0 : fwatch_start(path); /* before the stat: a change after it moves gen on */
	pthread_mutex_unlock(&cache_lock);
	if (ini) {
		*ret = ini;
		return KR_OK;
	}
	if (stat(path, &st) == 0)
		cacheable = S_ISREG(st.st_mode);
	else if (errno == ENOENT || errno == ENOTDIR) {
		st = missing_st;
		cacheable = 1;
	}
	if (cacheable) {
		pthread_mutex_lock(&cache_lock);
		for (size_t i = 0; i < KR_INI_CACHE_SLOTS; i++) {
			if (cache[i].path && strcmp(cache[i].path, path) == 0 &&
			    same_file(&cache[i].st, &st)) {
				ini = cache[i].ini;
				ini->refs++;
				cache[i].used = ++cache_tick;
				cache[i].gen = gen; /* checked again, as of gen */
				break;
			}
		}
		pthread_mutex_unlock(&cache_lock);
		if (ini) {
			*ret = ini;
			return KR_OK;
		}
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		/* botocore: a missing config file (or a directory) is no config. */
		if (errno == ENOENT || errno == ENOTDIR) {
			st = missing_st;
			r = empty_ini(path, &ini);
			goto remember;
		}
		if (errno == EISDIR)
			return empty_ini(path, ret);
		/* Unreadable (EACCES, ELOOP, ...): a configuration error, exit status 4. */
		r = KR_ERR_CONFIG;
		err_set(e, r, path, 0, "make the file readable, or point AWS_CONFIG_FILE elsewhere",
		        "cannot read it: %s", strerror(errno));
		return r;
	}
	/* What is parsed is what this fd reads; its stat() is what gets cached. */
	if (fstat(fd, &st) < 0) {
		err_set(e, KR_ERR_IO, path, 0, NULL, "%s", strerror(errno));
		r = KR_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = empty_ini(path, &ini);
		goto out;
	}
	r = read_file(fd, &st, path, &data, &len, e);
	if (r == KR_OK)
		r = ini_parse(data, len, path, &ini, e);
remember:
	if (r < 0)
		goto out;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < KR_INI_CACHE_SLOTS; i++) {
		if (cache[i].path && strcmp(cache[i].path, path) == 0) {
			victim = i;
			break;
		}
		if (cache[i].used < cache[victim].used)
			victim = i;
	}
	{
		char *p = strdup(path);

		if (p) {
			unref_locked(cache[victim].ini);
			free(cache[victim].path);
			cache[victim].path = p;
			cache[victim].st = st;
			cache[victim].ini = ini;
			cache[victim].used = ++cache_tick;
			cache[victim].gen = gen;
			ini->refs++;
		}
	}
	pthread_mutex_unlock(&cache_lock);
out:
	if (data)
		mem_free_secret(data, len);
	if (fd >= 0)
		close(fd);
	if (r == KR_OK)
		*ret = ini;
	return r;
}

int ini_load(const char *path, struct ini **ret, struct err_detail *e)
{
	return load(path, ret, e, 1);
}

int ini_load_pair(const char *a, const char *b, struct ini **ret_a, struct ini **ret_b,
                  struct err_detail *e)
{
	int r = load(a, ret_a, e, 1);

	if (r == KR_OK) {
		r = load(b, ret_b, e, 0); /* the events up to a's load were read: b's too */
		if (r < 0) {
			ini_free(*ret_a);
			*ret_a = NULL;
		}
	}
	return r;
}
