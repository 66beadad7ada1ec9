/*
 * A role: AssumeRole with the credentials of the step below, as botocore
 * does it for a profile with role_arn (role_session_name, external_id,
 * mfa_serial, duration_seconds; source_identity, session_tags and
 * transitive_session_tags as aws-vault reads them). A role assumed with a
 * role's session (role chaining) lasts at most 3600 s: the duration is
 * lowered when the chain says so, or when the credentials below turn out
 * to be a session at run time.
 *
 * KEYROLE: values are checked before any STS call (duration_seconds an
 * integer in 900..43200, role_session_name STS's pattern, role_arn an ARN);
 * the default session name is "keyrole-<profile>" (see resolve.h).
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "mem.h"
#include "sts_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sts_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("_+=,.@-", ch) != NULL;
}

char *source_assume_default_session_name(const char *profile)
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

int source_session_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!sts_name_char(s[i]))
			return 0;
	return 1;
}

/* Split "a, b ,c" into trimmed items; empty items are errors. */
static int split_list(const struct pmap_val *v, const char *key, int pairs, char ***ret_k,
                      char ***ret_v, size_t *ret_n, struct err_detail *e)
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
		err_set(e, KR_ERR_CONFIG, v->file, v->line, "write the list on one line",
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
			err_set(e, KR_ERR_CONFIG, v->file, v->line,
			        "STS accepts at most 50 session tags",
			        "%s has more than %d entries", key, KR_PROFILE_TAGS_MAX);
			r = KR_ERR_CONFIG;
			break;
		}
		kb = b;
		ke = end;
		if (pairs) {
			eq = memchr(b, '=', (size_t)(end - b));
			if (!eq) {
				err_set(e, KR_ERR_CONFIG, v->file, v->line,
				        "write key=value,key2=value2",
				        "%s: entry %zu is not key=value", key, n + 1);
				r = KR_ERR_CONFIG;
				break;
			}
			ke = eq;
			while (ke > kb && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
		}
		if (ke == kb) {
			err_set(e, KR_ERR_CONFIG, v->file, v->line,
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

static void src_assume_conf_free(void *conf)
{
	struct assume_conf *c = conf;

	if (!c)
		return;
	free(c->session_name);
	free(c->external_id);
	free(c->mfa_serial);
	free(c->source_identity);
	free(c->policy);
	for (size_t i = 0; i < c->n_tags; i++) {
		free(c->tag_keys[i]);
		free(c->tag_values[i]);
	}
	free(c->tag_keys);
	free(c->tag_values);
	for (size_t i = 0; i < c->n_transitive; i++)
		free(c->transitive_keys[i]);
	free(c->transitive_keys);
	free(c);
}

/*
 * arn:PARTITION:iam::ACCOUNT:role/NAME, what AssumeRole takes: STS would
 * refuse anything else after the call; check and get say so before it.
 */
static int role_arn_ok(const char *arn)
{
	const char *f[6];
	size_t n = 0;

	f[n++] = arn;
	for (const char *p = arn; *p && n < 6; p++)
		if (*p == ':')
			f[n++] = p + 1;
	if (n < 6 || strncmp(arn, "arn:", 4) != 0 || f[2] - f[1] < 2 ||
	    strncmp(f[2], "iam::", 5) != 0 || strncmp(f[5], "role/", 5) != 0 || !f[5][5])
		return 0;
	if (f[5] - f[4] < 2) /* the account: digits (12 at AWS; tests use fewer) */
		return 0;
	for (const char *p = f[4]; p < f[5] - 1; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* STS's ExternalId is 2 to 1224 characters (their kind is left to STS, as botocore does). */
static int external_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n >= 2 && n <= 1224;
}

static int src_assume_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	const struct pmap *m = in->map;
	const struct pmap_profile *p = in->profile;
	const char *name = pmap_name(p);
	struct pmap_val v = {0};
	struct assume_conf *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	pmap_get(m, p, PMAP_ANY, "role_arn", &v);
	r = step_set_where(s, v.file, v.line);
	if (r == KR_OK)
		r = pmap_take(&v, "role_arn", &s->role_arn, e);
	if (r == KR_OK && !role_arn_ok(s->role_arn)) {
		err_set(e, KR_ERR_CONFIG, v.file, v.line,
		        "use the role's ARN, e.g. arn:aws:iam::123456789012:role/NAME",
		        "role_arn \"%.200s\" in profile \"%s\" is not an ARN", s->role_arn, name);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && pmap_get(m, p, PMAP_ANY, "role_session_name", &v)) {
		r = pmap_take(&v, "role_session_name", &c->session_name, e);
		if (r == KR_OK && !source_session_name_ok(c->session_name)) {
			err_set(e, KR_ERR_CONFIG, v.file, v.line,
			        "use 2-64 characters of letters, digits and _+=,.@-",
			        "role_session_name \"%.100s\" is not accepted by STS",
			        c->session_name);
			r = KR_ERR_CONFIG;
		}
	} else if (r == KR_OK) {
		c->session_name = source_assume_default_session_name(name);
		if (!c->session_name)
			r = KR_ERR_NOMEM;
	}
	if (r == KR_OK)
		r = pmap_take_opt(m, p, "external_id", &c->external_id, e);
	if (r == KR_OK && c->external_id && !external_id_ok(c->external_id)) {
		pmap_get(m, p, PMAP_ANY, "external_id", &v);
		err_set(e, KR_ERR_CONFIG, v.file, v.line,
		        "give the id the role's trust policy expects, or delete the line",
		        "external_id \"%.100s\" is not accepted by STS (2 to 1224 characters)",
		        c->external_id);
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK)
		r = pmap_take_opt(m, p, "mfa_serial", &c->mfa_serial, e);
	if (r == KR_OK && source_what(s, "AssumeRole %s", s->role_arn) < 0)
		r = KR_ERR_NOMEM;
	if (r == KR_OK && c->mfa_serial && !(s->mfa_serial = strdup(c->mfa_serial)))
		r = KR_ERR_NOMEM;
	if (r == KR_OK)
		r = pmap_take_opt(m, p, "source_identity", &c->source_identity, e);
	if (r == KR_OK && pmap_get(m, p, PMAP_ANY, "duration_seconds", &v)) {
		char *end;
		long d;

		c->duration_line = v.line;
		d = strtol(v.v, &end, 10);
		if (v.v[0] < '0' || v.v[0] > '9' || *end != '\0' || d < 900 || d > 43200) {
			err_set(
			    e, KR_ERR_CONFIG, v.file, v.line,
			    "use a whole number of seconds from 900 to 43200 (and no more than the "
			    "role's maximum session duration)",
			    "duration_seconds = \"%.40s\" in profile \"%s\" is invalid", v.v, name);
			r = KR_ERR_CONFIG;
		} else {
			c->duration = (int)d;
		}
	}
	if (r == KR_OK && pmap_get(m, p, PMAP_ANY, "session_tags", &v))
		r = split_list(&v, "session_tags", 1, &c->tag_keys, &c->tag_values, &c->n_tags, e);
	if (r == KR_OK && pmap_get(m, p, PMAP_ANY, "transitive_session_tags", &v))
		r = split_list(&v, "transitive_session_tags", 0, &c->transitive_keys, NULL,
		               &c->n_transitive, e);
	return r;
}

/* The duration sent: STS allows role chaining 3600 s at most. */
static int duration(const struct assume_conf *c, int chained)
{
	return chained && c->duration > KR_CHAINED_MAX_S ? KR_CHAINED_MAX_S : c->duration;
}

static int src_assume_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct assume_conf *c = s->conf;
	int r = ckey_step(out, "assume-role");

	if (r == KR_OK)
		r = ckey_str(out, "arn=", s->role_arn);
	if (r == KR_OK)
		r = ckey_str(out, "sn=", c->session_name);
	if (r == KR_OK)
		r = ckey_str(out, "ext=", c->external_id);
	if (r == KR_OK)
		r = ckey_str(out, "mfa=", s->mfa_serial);
	if (r == KR_OK)
		r = ckey_int(out, "dur=", duration(c, s->chained));
	if (r == KR_OK)
		r = ckey_str(out, "pol=", c->policy);
	if (r == KR_OK)
		r = ckey_str(out, "sid=", c->source_identity);
	for (size_t t = 0; t < c->n_tags && r == KR_OK; t++) {
		r = ckey_str(out, "tk=", c->tag_keys[t]);
		if (r == KR_OK)
			r = ckey_str(out, "tv=", c->tag_values[t]);
	}
	for (size_t t = 0; t < c->n_transitive && r == KR_OK; t++)
		r = ckey_str(out, "tt=", c->transitive_keys[t]);
	if (r == KR_OK)
		r = ckey_str(out, "ep=", ch->endpoint);
	if (r == KR_OK)
		r = ckey_str(out, "reg=", ch->signing_region);
	return r;
}

static int src_assume_fetch(const struct source_fetch *f, struct source_result *res,
                            void **ret_call)
{
	const struct step *s = f->step;
	const struct assume_conf *conf = s->conf;
	struct sts_params p = {0};

	p.op = STS_ASSUME_ROLE;
	p.source.access_key_id = f->input->access_key_id;
	p.source.secret_access_key = f->input->secret_access_key;
	p.source.session_token = f->input->session_token;
	p.role_arn = s->role_arn;
	p.session_name = conf->session_name;
	p.external_id = conf->external_id;
	p.mfa_serial = s->mfa_serial; /* NULL when an MFA session below carries it */
	p.mfa_code = s->mfa_serial ? f->mfa_code : NULL;
	p.source_identity = conf->source_identity;
	p.policy = conf->policy;
	p.duration = duration(conf, s->chained || f->input_chained);
	p.tag_keys = (const char *const *)conf->tag_keys;
	p.tag_values = (const char *const *)conf->tag_values;
	p.n_tags = conf->n_tags;
	p.transitive_keys = (const char *const *)conf->transitive_keys;
	p.n_transitive = conf->n_transitive;
	return source_sts_fetch(f, &p, res, ret_call);
}

static void src_assume_describe(const struct step *s, const struct chain *ch,
                                struct step_report *out)
{
	const struct assume_conf *c = s->conf;

	if (!s->role_arn)
		return; /* a role that failed to parse */
	out->kind = "role";
	out->role_arn = s->role_arn;
	out->session_name = c->session_name;
	out->external_id = c->external_id;
	out->mfa_serial = c->mfa_serial;
	out->duration = duration(c, s->chained);
	out->duration_capped = out->duration != c->duration;
	out->region = ch->signing_region;
	out->endpoint = ch->endpoint;
}

const struct assume_conf *source_assume_conf(const struct step *s)
{
	return s->ops == &source_assume_role ? s->conf : NULL;
}

const struct source_ops source_assume_role = {
    .name = "assume-role",
    .flags = SOURCE_SESSION | SOURCE_ROLE_SESSION,
    .max_lifetime = 43200, /* AssumeRole: 12 h at most */
    .parse = src_assume_parse,
    .free = src_assume_conf_free,
    .key = src_assume_key,
    .fetch = src_assume_fetch,
    .cancel = source_sts_cancel,
    .describe = src_assume_describe,
};
