/*
 * The lines botocore and the SDKs' shared profile-file specification read
 * differently; see sdkdiff.h. Only parsed, bounded data is looked at
 * (names and values that ini.c kept); values may be secrets (credentials
 * file), so a message quotes a value only up to its comment and only for
 * keys that are no secrets.
 */
#include "sdkdiff.h"

#include "caps.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The specification's profile-name characters. */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-/.%@_:+", c) != NULL;
}

/* Its property-name characters. */
static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int secret_key(const char *k)
{
	return strcmp(k, "aws_secret_access_key") == 0 || strcmp(k, "aws_session_token") == 0 ||
	       strcmp(k, "aws_security_token") == 0;
}

/* The profile of a config section name ("profile X" -> X, "default"), or NULL. */
static const char *config_profile(const char *name, size_t *ret_len)
{
	const char *p;
	size_t n;

	if (strcmp(name, "default") == 0) {
		*ret_len = 7;
		return name;
	}
	if (strncmp(name, "profile", 7) != 0 || !is_space(name[7]))
		return NULL;
	for (p = name + 7; is_space(*p); p++)
		;
	n = strlen(p);
	while (n > 0 && is_space(p[n - 1]))
		n--;
	*ret_len = n;
	return p;
}

static int lint_section_name(const struct ini_section *s, int is_config, sdkdiff_fn fn, void *ctx)
{
	char msg[KR_ERR_MSG_MAX], fix[KR_ERR_FIX_MAX];
	const char *name = s->name, *pname;
	size_t n = strlen(name), b = 0, e = n, plen = 0;

	while (b < n && is_space(name[b]))
		b++;
	while (e > b && is_space(name[e - 1]))
		e--;
	if (b > 0 || (!is_config && e < n)) {
		snprintf(
		    msg, sizeof(msg),
		    "botocore reads the section name \"%.200s\" with its spaces%s; the other AWS "
		    "SDKs (Go, JavaScript, Java, Rust) trim it to \"%.*s\"",
		    name, is_config ? " (so it is no profile)" : "", (int)(e - b), name + b);
		snprintf(fix, sizeof(fix), "write [%.*s] without the spaces", (int)(e - b),
		         name + b);
		return fn(ctx, s->line, msg, fix);
	}
	pname = is_config ? config_profile(name, &plen) : name;
	if (!is_config)
		plen = n;
	if (!pname)
		return 0;
	for (size_t i = 0; i < plen; i++) {
		if (name_char(pname[i]))
			continue;
		/* A config name with a space in it is ignored by both. */
		if (is_config && is_space(pname[i]))
			return 0;
		snprintf(msg, sizeof(msg),
		         "botocore reads profile \"%.*s\"; the other AWS SDKs ignore it (they take "
		         "only letters, digits and - / . %% @ _ : + in a profile name%s)",
		         (int)plen, pname,
		         !is_config && strncmp(name, "profile ", 8) == 0
		             ? ", and no \"profile \" prefix in the credentials file"
		             : "");
		snprintf(fix, sizeof(fix), "rename the profile to use only those characters");
		return fn(ctx, s->line, msg, fix);
	}
	return 0;
}

/* fn with a message made from fmt. */
static int warn(sdkdiff_fn fn, void *ctx, int line, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int warn(sdkdiff_fn fn, void *ctx, int line, const char *fix, const char *fmt, ...)
{
	char msg[KR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fn(ctx, line, msg, fix);
}

/* The offset of an inline comment (" #" or " ;") in the value's first line, or 0. */
static size_t inline_comment(const char *v, size_t first)
{
	for (size_t i = 1; i < first; i++)
		if ((v[i] == '#' || v[i] == ';') && is_space(v[i - 1]))
			return i;
	return 0;
}

static int lint_kv(const struct ini_kv *kv, sdkdiff_fn fn, void *ctx)
{
	const char *v = kv->value;
	size_t first = v[0] == '\n' ? 0 : strcspn(v, "\n"), c = inline_comment(v, first), keep = c;
	int r = 0;

	if (kv->colon)
		r = warn(
		    fn, ctx, kv->line, "write KEY = VALUE",
		    "botocore reads \"%.100s: ...\" as %.100s = ...; the other AWS SDKs reject "
		    "the line (they need '=')",
		    kv->key, kv->key);
	for (const char *k = kv->key; r == 0 && *k; k++)
		if (!key_char(*k)) {
			r = warn(fn, ctx, kv->line, "rename or remove the key",
			         "botocore reads the key \"%.100s\"; the other AWS SDKs ignore it "
			         "(only letters, digits, - and _ in a key)",
			         kv->key);
			break;
		}
	while (keep > 0 && is_space(v[keep - 1]))
		keep--;
	if (r == 0 && c > 0 && secret_key(kv->key))
		r = warn(fn, ctx, kv->line, "put the comment on a line of its own",
		         "botocore reads the whole value of %.100s, the \"%c ...\" at its end "
		         "included; the other AWS SDKs end it before \" %c\" (an inline comment)",
		         kv->key, v[c], v[c]);
	else if (r == 0 && c > 0)
		r = warn(fn, ctx, kv->line,
		         "put the comment on a line of its own (or, if it belongs to the value, "
		         "write it without the space before it)",
		         "botocore reads %.100s = \"%.*s\"; the other AWS SDKs read \"%.*s\" "
		         "(\" %c\" starts a comment for them)",
		         kv->key, (int)(first > 300 ? 300 : first), v,
		         (int)(keep > 300 ? 300 : keep), v, v[c]);
	for (size_t i = 0; r == 0 && i < kv->n_sub; i++)
		if (!kv->sub[i].key[0])
			r = warn(
			    fn, ctx, kv->sub[i].line,
			    "give the nested setting its name, or remove "
			    "the line",
			    "botocore reads a nested line of %.100s without a name (\"= ...\"); "
			    "the other AWS SDKs reject it",
			    kv->key);
	return r;
}

int sdkdiff_lint(const struct ini *ini, int is_config, const struct ini_section *only,
                 sdkdiff_fn fn, void *ctx)
{
	const struct ini_section *dflt = NULL, *pdflt = NULL;
	int r = 0;

	if (!ini)
		return 0;
	for (size_t i = 0; i < ini->n_secs && r == 0; i++) {
		const struct ini_section *s = &ini->secs[i];
		size_t plen;
		const char *pn = is_config ? config_profile(s->name, &plen) : NULL;

		if (pn && plen == 7 && strncmp(pn, "default", 7) == 0)
			*(pn == s->name ? &dflt : &pdflt) = s;
		if (only && s != only)
			continue;
		r = lint_section_name(s, is_config, fn, ctx);
		for (size_t k = 0; k < s->n_kvs && r == 0; k++)
			if (s->kvs[k].line >= s->line) /* not one inherited from [DEFAULT] */
				r = lint_kv(&s->kvs[k], fn, ctx);
	}
	/* botocore takes the later of the two, the specification [profile default]. */
	if (r == 0 && dflt && pdflt && dflt->line > pdflt->line &&
	    (!only || only == dflt || only == pdflt))
		r = fn(ctx, dflt->line,
		       "botocore reads this [default] and ignores the [profile default] above it; "
		       "the other AWS SDKs read [profile default] and ignore [default]",
		       "keep one of the two sections");
	return r;
}
