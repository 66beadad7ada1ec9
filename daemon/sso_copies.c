/*
 * An IAM Identity Center token's copies outside the daemon's memory:
 * keyrole's own keyring item (written, and read back) and the AWS CLI's
 * cache file (read only). See sso_impl.h; the rules for using what they
 * hold are sso_token.c's.
 *
 * Invariants:
 * - The AWS CLI's cache file is only ever read: opened read-only, a
 *   regular file of this uid, at most KR_SSO_CLI_FILE_MAX bytes, parsed
 *   as untrusted input; what it holds is copied into memory and never
 *   written anywhere (not even to the keyring: the CLI owns it; a token
 *   refreshed from it is ours, and kept with the registration it needs).
 * - The keyring item is untrusted when read back: its JSON bounded, its
 *   start URL must be the session's, its expiries within what the service
 *   issues; a token that came from the CLI's file is never written to it.
 * - Secrets pass through wiping buffers and JSON trees only, and land in
 *   secret memory (struct sso_found).
 */
#include "sso_impl.h"

#include "buf.h"
#include "caps.h"
#include "json.h"
#include "mem.h"
#include "rfc3339.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCESS_LIFE_MAX (30L * 86400)  /* an access token said to last longer is not believed */
#define REG_LIFE_MAX    (400L * 86400) /* ... a registration */

/* ---- the keyring item: {"v":1,"at","ae","rt","ci","cs","ce","sc","su","rg","fr"} ---- */

void sso_tok_persist(struct sso_tok *t)
{
	struct sso *s = t->s;
	struct json *o = NULL;
	struct buf b;
	time_t exp;
	int r;

	int token = t->access && !t->cli_token; /* the CLI's own is never copied */
	int client = t->client_id && (!t->cli_client || token);

	if (!store_on(s->o.store))
		return;
	exp = token ? t->expires : 0;
	if (client && t->reg_expires > exp)
		exp = t->reg_expires;
	if (exp <= sso_now(s)) {
		store_sso_remove(s->o.store, t->key);
		return;
	}
	buf_init_secret(&b, KR_KEYRING_SECRET_MAX);
	r = (o = json_new_object()) ? json_add_num(o, "v", 1) : KR_ERR_NOMEM;
	if (r == KR_OK && token)
		r = json_add_str(o, "at", t->access);
	if (r == KR_OK && token)
		r = json_add_num(o, "ae", (double)t->expires);
	if (r == KR_OK && token && t->refresh)
		r = json_add_str(o, "rt", t->refresh);
	if (r == KR_OK && client)
		r = json_add_str(o, "ci", t->client_id);
	if (r == KR_OK && client)
		r = json_add_str(o, "cs", t->client_secret);
	if (r == KR_OK && client)
		r = json_add_num(o, "ce", (double)t->reg_expires);
	if (r == KR_OK && client && t->reg_scopes)
		r = json_add_str(o, "sc", t->reg_scopes);
	if (r == KR_OK)
		r = json_add_str(o, "su", t->where.start_url);
	if (r == KR_OK)
		r = json_add_str(o, "rg", t->where.region);
	if (r == KR_OK && token && t->from)
		r = json_add_str(o, "fr", t->from);
	if (r == KR_OK)
		r = json_print(o, 0, &b);
	if (r == KR_OK)
		store_sso_write(s->o.store, t->key, sso_where_name(&t->where), t->where.start_url,
		                exp, b.data);
	json_free(o);
	buf_free(&b);
}

/* A string of an untrusted source: present, bounded, no control character. */
static const char *str_ok(const struct json *o, const char *key, size_t max)
{
	const char *s = json_get_str(o, key);
	size_t n = s ? strnlen(s, max + 1) : 0;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return n > 0 && n <= max ? s : NULL;
}

/* Seconds within (now - 10 years, now + max], else 0. */
static time_t when_ok(const struct sso *s, double d, long max)
{
	time_t now = sso_now(s);

	return isfinite(d) && d > (double)(now - 10L * 365 * 86400) && d <= (double)(now + max)
	           ? (time_t)d
	           : 0;
}

void sso_found_clear(struct sso_found *f)
{
	mem_free_str(f->access);
	mem_free_str(f->refresh);
	free(f->client_id);
	mem_free_str(f->client_secret);
	free(f->scopes);
	memset(f, 0, sizeof(*f));
}

static int found_take(struct sso_found *f, const char *access, const char *refresh,
                      const char *client_id, const char *client_secret, const char *scopes)
{
	f->access = access ? mem_secret_strdup(access, KR_SSO_TOKEN_MAX) : NULL;
	f->refresh = refresh ? mem_secret_strdup(refresh, KR_SSO_TOKEN_MAX) : NULL;
	f->client_id = client_id ? strdup(client_id) : NULL;
	f->client_secret =
	    client_secret ? mem_secret_strdup(client_secret, KR_SSO_TOKEN_MAX) : NULL;
	f->scopes = scopes ? strdup(scopes) : NULL;
	if ((access && !f->access) || (refresh && !f->refresh) || (client_id && !f->client_id) ||
	    (client_secret && !f->client_secret) || (scopes && !f->scopes)) {
		sso_found_clear(f);
		return KR_ERR_NOMEM;
	}
	return KR_OK;
}

/* Parse keyrole's item (untrusted) into f. */
int sso_item_parse(const struct sso_tok *t, const char *text, struct sso_found *f)
{
	struct json *o = NULL;
	const char *su;
	int r = KR_ERR_PARSE;

	if (!text || json_parse(text, strlen(text), &o) < 0 || json_num(json_get(o, "v")) != 1)
		goto out;
	su = str_ok(o, "su", KR_SSO_FIELD_MAX);
	if (!su || strcmp(su, t->where.start_url) != 0)
		goto out; /* another start URL under this session's name: not ours to use */
	r = found_take(f, str_ok(o, "at", KR_SSO_TOKEN_MAX), str_ok(o, "rt", KR_SSO_TOKEN_MAX),
	               str_ok(o, "ci", KR_SSO_FIELD_MAX), str_ok(o, "cs", KR_SSO_TOKEN_MAX),
	               str_ok(o, "sc", KR_SSO_FIELD_MAX));
	if (r < 0)
		goto out;
	f->expires = when_ok(t->s, json_num(json_get(o, "ae")), ACCESS_LIFE_MAX);
	f->reg_expires = when_ok(t->s, json_num(json_get(o, "ce")), REG_LIFE_MAX);
	f->from = "keyring";
	if (!f->expires) {
		mem_free_str(f->access);
		mem_free_str(f->refresh);
		f->access = f->refresh = NULL;
	}
out:
	json_free(o);
	return r;
}

/* ---- the AWS CLI's cache file (read only) ---- */

/* "2026-01-01T00:00:00Z", "...+00:00", or the older botocore's "...UTC"; 0 when none. */
static time_t cli_time(const struct sso *s, const struct json *o, const char *key, long max)
{
	const char *v = str_ok(o, key, 64);
	char tmp[72];
	size_t n;
	time_t t = 0;

	if (!v)
		return 0;
	n = strlen(v);
	if (n > 3 && strcmp(v + n - 3, "UTC") == 0) {
		snprintf(tmp, sizeof(tmp), "%.*sZ", (int)(n - 3), v);
		v = tmp;
	}
	if (rfc3339_parse(v, &t) < 0)
		return 0;
	return when_ok(s, (double)t, max);
}

/* Read the whole file into b (secret): a regular file of ours, within the cap. */
static int read_small(const char *path, struct buf *b)
{
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd, r = KR_ERR_IO;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? KR_ERR_NOCREDS : KR_ERR_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size > KR_SSO_CLI_FILE_MAX)
		goto out;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((r = buf_append(b, chunk, (size_t)n)) < 0)
			goto out;
	r = n < 0 ? KR_ERR_IO : KR_OK;
out:
	mem_wipe(chunk, sizeof(chunk));
	close(fd);
	return r;
}

/* What the CLI's file holds for t's session, into f (untrusted: checked). */
int sso_cli_parse_text(const struct sso_tok *t, const char *text, size_t len, struct sso_found *f)
{
	struct json *o = NULL;
	const char *su;
	int r = KR_ERR_PARSE;

	if (json_parse(text ? text : "", text ? len : 0, &o) < 0 || json_type(o) != JSON_OBJECT)
		goto out;
	/* A token of another start URL under this name is for another directory. */
	su = json_get_str(o, "startUrl");
	if (su && strcmp(su, t->where.start_url) != 0) {
		r = KR_ERR_NOCREDS;
		goto out;
	}
	r = found_take(f, str_ok(o, "accessToken", KR_SSO_TOKEN_MAX),
	               str_ok(o, "refreshToken", KR_SSO_TOKEN_MAX),
	               str_ok(o, "clientId", KR_SSO_FIELD_MAX),
	               str_ok(o, "clientSecret", KR_SSO_TOKEN_MAX), NULL);
	if (r < 0)
		goto out;
	f->expires = cli_time(t->s, o, "expiresAt", ACCESS_LIFE_MAX);
	f->reg_expires = cli_time(t->s, o, "registrationExpiresAt", REG_LIFE_MAX);
	f->from = "aws-cli-cache";
	f->cli = 1;
	if (!f->expires)
		sso_found_clear(f);
out:
	json_free(o);
	return r;
}

int sso_cli_parse(const struct sso_tok *t, struct sso_found *f)
{
	struct buf b;
	int r = KR_ERR_NOCREDS;

	buf_init_secret(&b, KR_SSO_CLI_FILE_MAX);
	if (t->where.cli_cache_file)
		r = read_small(t->where.cli_cache_file, &b);
	if (r == KR_OK)
		r = sso_cli_parse_text(t, b.data, b.len, f);
	buf_free(&b);
	return r;
}
