/*
 * `keyrole check`: every profile resolved as `get` would resolve it, with
 * the problems found on the way (the resolver's error, role chaining that
 * lowers a duration, unknown keys with a did-you-mean, a role_arn next to
 * credential_process) as plain data; see check.h. msg.c puts it on the
 * wire, the client prints it.
 */
#include "check.h"

#include "err.h"
#include "mem.h"
#include "pmap.h"
#include "resolve.h"
#include "sdkdiff.h"
#include "shellquote.h"
#include "source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    "keyrole_mfa_prompt",
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

const char *check_nearest_profile(const struct pmap *m, const char *name)
{
	const char *best = NULL;
	size_t bd = 99, lim = strlen(name) / 3;

	if (lim < 2)
		lim = 2;
	for (size_t i = 0; i < pmap_count(m); i++) {
		const char *n = pmap_name(pmap_at(m, i));
		size_t d = edit_distance(name, n);

		if (d < bd) {
			bd = d;
			best = n;
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

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int add_problem(struct check_report *rep, int error, const char *file, int line,
                       const char *msg, const char *fix)
{
	struct check_problem *p, *np;

	np = realloc(rep->problems, (rep->n_problems + 1) * sizeof(*np));
	if (!np)
		return KR_ERR_NOMEM;
	rep->problems = np;
	p = &np[rep->n_problems];
	memset(p, 0, sizeof(*p));
	rep->n_problems++;
	p->error = error;
	p->line = line;
	p->file = dup_or_null(file ? file : "");
	p->msg = dup_or_null(msg);
	p->fix = dup_or_null(fix ? fix : "");
	if (!p->file || !p->msg || !p->fix)
		return KR_ERR_NOMEM;
	if (error)
		rep->ok = 0;
	return KR_OK;
}

static int add_problem_e(struct check_report *rep, const struct err_detail *e)
{
	return add_problem(rep, 1, e->file, e->line, e->msg[0] ? e->msg : err_str(e->code), e->fix);
}

/* One line that botocore and the other SDKs read differently: a warning. */
struct sdk_ctx {
	struct check_report *rep;
	const char *file;
};

static int sdk_warn(void *ctx, int line, const char *msg, const char *fix)
{
	struct sdk_ctx *c = ctx;

	return add_problem(c->rep, 0, c->file, line, msg, fix);
}

/*
 * The SDK warnings of both files: of p's own sections, or (p NULL) of
 * every section, for the whole-file report of a check of every profile.
 */
static int lint_sdk(const struct pmap *m, const struct pmap_profile *p, struct check_report *rep)
{
	const enum pmap_file files[2] = {PMAP_CONFIG, PMAP_CREDENTIALS};
	int r = KR_OK;

	for (size_t i = 0; i < 2 && r == KR_OK; i++) {
		struct sdk_ctx c = {rep, pmap_filename(m, files[i])};
		const struct ini_section *only = p ? pmap_section(m, p, files[i]) : NULL;

		if (!p || only)
			r = sdkdiff_lint(pmap_ini(m, files[i]), files[i] == PMAP_CONFIG, only,
			                 sdk_warn, &c);
	}
	return r;
}

/* Problems that are visible in the profile's own sections. */
static int lint_profile(const struct pmap *m, const struct pmap_profile *p,
                        struct check_report *rep)
{
	const enum pmap_file files[2] = {PMAP_CONFIG, PMAP_CREDENTIALS};
	struct pmap_val ra = {0}, cp = {0};
	char msg[512], fix[320];
	int r = KR_OK;

	for (size_t k = 0; k < 2 && r == KR_OK; k++) {
		const struct ini_section *sec = pmap_section(m, p, files[k]);

		for (size_t i = 0; sec && i < sec->n_kvs && r == KR_OK; i++) {
			const struct ini_kv *kv = &sec->kvs[i];
			const char *near;

			/* Per-service blocks ("s3 =" + indented lines) are botocore's. */
			if (kv->sub || is_known(kv->key))
				continue;
			near = nearest_key(kv->key);
			snprintf(msg, sizeof(msg), "unknown key \"%.100s\" in profile \"%s\"",
			         kv->key, pmap_name(p));
			if (near)
				snprintf(fix, sizeof(fix), "did you mean \"%s\"?", near);
			else
				snprintf(fix, sizeof(fix),
				         "remove it: neither botocore nor keyrole reads it");
			r = add_problem(rep, 0, pmap_filename(m, files[k]), kv->line, msg, fix);
		}
	}
	if (r == KR_OK && pmap_get(m, p, PMAP_ANY, "role_arn", &ra) &&
	    pmap_get(m, p, PMAP_ANY, "credential_process", &cp)) {
		char **argv = NULL;
		size_t argc = 0;
		int keyrole = 0;

		if (shellquote_split(cp.v, KR_PROFILE_ARGV_MAX, &argv, &argc) == KR_OK &&
		    argc > 0) {
			const char *base = strrchr(argv[0], '/');

			keyrole = strcmp(base ? base + 1 : argv[0], "keyrole") == 0;
		}
		shellquote_argv_free(argv);
		snprintf(msg, sizeof(msg),
		         "profile \"%s\" has both role_arn and credential_process: botocore and "
		         "the AWS CLI ignore credential_process there and call AssumeRole "
		         "themselves%s",
		         pmap_name(p), keyrole ? ", so keyrole is never used" : "");
		snprintf(
		    fix, sizeof(fix),
		    "move role_arn/source_profile into a separate profile (e.g. "
		    "\"%.60s-chain\") and set credential_process = keyrole get %.60s-chain here",
		    pmap_name(p), pmap_name(p));
		r = add_problem(rep, keyrole, cp.file, cp.line, msg, fix);
	}
	return r;
}

/*
 * Role chaining lowers a longer duration_seconds to 3600: say so for role
 * step s (below: the step that feeds it), and for a credential_process
 * source (which shows whether it returns a session only when it runs) say
 * what will happen if it does.
 */
static int warn_chaining(struct check_report *rep, const struct chain *ch, size_t i)
{
	const struct step *s = &ch->steps[i], *below = &ch->steps[i - 1];
	const struct assume_conf *conf = source_assume_conf(s);
	char msg[512], fix[320];
	int duration, line;

	if (!conf)
		return KR_OK;
	duration = conf->duration;
	line = conf->duration_line ? conf->duration_line : s->line;
	snprintf(fix, sizeof(fix), "set duration_seconds to 3600 or less for this profile");
	if (s->chained && duration > KR_CHAINED_MAX_S && below->ops == &source_assume_role) {
		snprintf(
		    msg, sizeof(msg),
		    "role \"%.150s\" is assumed with role-session credentials (role chaining): "
		    "STS allows at most 3600 seconds, so duration_seconds is lowered to 3600",
		    s->role_arn);
	} else if (s->chained && duration > KR_CHAINED_MAX_S && below->ops == &source_sso) {
		snprintf(
		    msg, sizeof(msg),
		    "role \"%.150s\" is assumed with the IAM Identity Center role credentials "
		    "of profile \"%.100s\" (role chaining): STS allows at most 3600 seconds, so "
		    "duration_seconds is lowered to 3600",
		    s->role_arn, below->profile ? below->profile : "");
	} else if (s->chained && duration > KR_CHAINED_MAX_S) {
		int env = below->ops == &source_env;

		snprintf(msg, sizeof(msg),
		         "role \"%.150s\" is assumed with session credentials (%s%.100s%s), which "
		         "STS treats as role chaining: it allows at most 3600 seconds, so "
		         "duration_seconds is lowered to 3600",
		         s->role_arn,
		         env ? "AWS_SESSION_TOKEN in the caller's environment"
		             : "aws_session_token in profile \"",
		         env ? "" : below->profile, env ? "" : "\"");
		snprintf(
		    fix, sizeof(fix),
		    "set duration_seconds to 3600 or less for this profile, or give the source "
		    "long-term keys");
	} else if (below->ops == &source_process && duration > KR_CHAINED_MAX_S) {
		snprintf(msg, sizeof(msg),
		         "role \"%.150s\" is assumed with what credential_process of profile "
		         "\"%.100s\" returns: if that has a SessionToken (a session), STS treats "
		         "this as role chaining and keyrole lowers duration_seconds to 3600 at run "
		         "time",
		         s->role_arn, below->profile ? below->profile : "");
	} else {
		return KR_OK;
	}
	return add_problem(rep, 0, s->file, line, msg, fix);
}

/*
 * A tool profile (its credential_process runs `keyrole get T`) works only
 * if T does: a missing or broken T is the tool profile's error, at its
 * credential_process line.
 */
static int check_target(const struct pmap *m, const struct caller_env *env,
                        const struct resolve_opts *o, const struct chain *ch,
                        struct check_report *rep)
{
	const struct step *s = &ch->steps[0];
	char *t = resolve_chain_target(ch);
	char msg[KR_ERR_MSG_MAX + 256], fix[KR_ERR_MSG_MAX];
	struct chain *sub = NULL;
	struct err_detail e;
	int r = KR_OK;

	memset(&e, 0, sizeof(e));
	if (!t)
		return KR_OK;
	rep->target = strdup(t);
	if (!rep->target) {
		free(t);
		return KR_ERR_NOMEM;
	}
	if (!pmap_find(m, t)) {
		const char *near = check_nearest_profile(m, t);

		snprintf(
		    msg, sizeof(msg),
		    "credential_process of profile \"%s\" runs keyrole get %.200s, and there is "
		    "no profile \"%.200s\": every AWS command with this profile fails",
		    s->profile, t, t);
		if (near)
			snprintf(fix, sizeof(fix), "did you mean \"%s\"?", near);
		else
			snprintf(fix, sizeof(fix), "fix the name, or define [profile %.200s]", t);
		r = add_problem(rep, 1, s->file, s->line, msg, fix);
	} else if (resolve_in_map(m, env, t, o, &sub, &e) < 0 && e.code != KR_ERR_NOMEM) {
		snprintf(msg, sizeof(msg),
		         "credential_process of profile \"%s\" runs keyrole get %.200s, which does "
		         "not work: %s%s%.*s%s",
		         s->profile, t, e.msg[0] ? e.msg : err_str(e.code),
		         e.file[0] ? " (at " : "", (int)sizeof(e.file), e.file,
		         e.file[0] ? ")" : "");
		snprintf(fix, sizeof(fix), "%s",
		         e.fix[0] ? e.fix : "see keyrole check for that profile");
		r = add_problem(rep, 1, s->file, s->line, msg, fix);
	} else if (e.code == KR_ERR_NOMEM || !sub) {
		r = KR_ERR_NOMEM;
	}
	chain_unref(sub);
	free(t);
	return r;
}

/* Keys in a file are used before stored ones: say so where they are. */
static int warn_shadow(const struct pmap *m, const struct pmap_profile *p,
                       const struct check_in *in, struct check_report *rep)
{
	struct pmap_val v;
	char msg[512], fix[320];
	int stored = 0;

	for (size_t i = 0; in && i < in->n_stored && !stored; i++)
		stored = strcmp(in->stored[i], pmap_name(p)) == 0;
	if (!stored || !pmap_get(m, p, PMAP_ANY, "aws_access_key_id", &v))
		return KR_OK;
	snprintf(msg, sizeof(msg),
	         "profile \"%s\" has keys here and in the keyring (keyrole add): these are used, "
	         "the stored ones never are",
	         pmap_name(p));
	snprintf(fix, sizeof(fix),
	         "delete the aws_access_key_id and aws_secret_access_key lines (keyrole add %.60s "
	         "--move does it), or keyrole remove %.60s",
	         pmap_name(p), pmap_name(p));
	return add_problem(rep, 0, v.file, v.line, msg, fix);
}

static int check_one(const struct pmap *m, const struct caller_env *env,
                     const struct resolve_opts *o, const struct check_in *in, const char *name,
                     struct check_report *rep)
{
	const struct pmap_profile *p = pmap_find(m, name);
	struct err_detail e;
	struct chain *ch = NULL;
	int rr, r = KR_OK, show_source;

	memset(&e, 0, sizeof(e));
	rep->ok = 1;
	rep->name = strdup(name);
	if (!rep->name)
		return KR_ERR_NOMEM;
	rr = resolve_in_map(m, env, name, o, &ch, &e);
	rep->chain = ch;
	if (!ch || rr == KR_ERR_NOMEM)
		return KR_ERR_NOMEM;
	/* A source that failed to parse is not shown, unless it is one keyrole lacks. */
	show_source = rr == KR_OK || (ch->n > 0 && ch->steps[0].ops == &source_unsupported);
	rep->steps = calloc(ch->n ? ch->n : 1, sizeof(*rep->steps));
	if (!rep->steps)
		return KR_ERR_NOMEM;
	for (size_t i = 0; i < ch->n; i++) {
		const struct step *s = &ch->steps[i];
		struct step_report *sr = &rep->steps[rep->n_steps];

		if (s->role_index < 0 && !show_source)
			continue;
		sr->profile = s->profile;
		sr->file = s->file;
		sr->line = s->line;
		s->ops->describe(s, ch, sr);
		if (sr->kind)
			rep->n_steps++;
		else
			memset(sr, 0, sizeof(*sr));
	}
	if (rr < 0)
		r = add_problem_e(rep, &e);
	for (size_t i = 1; r == KR_OK && rr == KR_OK && i < ch->n; i++)
		r = warn_chaining(rep, ch, i);
	if (r == KR_OK && rr == KR_OK)
		r = check_target(m, env, o, ch, rep);
	if (r == KR_OK && p)
		r = lint_profile(m, p, rep);
	if (r == KR_OK && p)
		r = warn_shadow(m, p, in, rep);
	return r;
}

static struct check_report *new_report(struct check_reports *c)
{
	struct check_report *nr = realloc(c->r, (c->n + 1) * sizeof(*nr));

	if (!nr)
		return NULL;
	c->r = nr;
	memset(&nr[c->n], 0, sizeof(*nr));
	return &nr[c->n++];
}

static int config_missing(const struct pmap *m)
{
	const char *cf = pmap_filename(m, PMAP_CONFIG);

	return cf && access(cf, F_OK) != 0 && errno == ENOENT;
}

/*
 * The whole-report problems of a check of every profile, so that it never
 * says nothing: the config file AWS_CONFIG_FILE names (or the default one,
 * when there is no profile at all) does not exist, or no file has a profile.
 */
static int no_config(const struct pmap *m, const struct caller_env *env, struct check_report *rep)
{
	const char *cf = pmap_filename(m, PMAP_CONFIG);
	char msg[KR_PATH_MAX + 64];

	rep->name = strdup("*");
	if (!rep->name)
		return KR_ERR_NOMEM;
	if (!cf[0])
		snprintf(msg, sizeof(msg),
		         "AWS_CONFIG_FILE is set but empty: no config file is "
		         "read (as in botocore)");
	else
		snprintf(msg, sizeof(msg), "the config file %s%s does not exist", cf,
		         env->config_file ? " (AWS_CONFIG_FILE)" : "");
	return add_problem(rep, 1, cf, 0, msg,
	                   env->config_file
	                       ? "point AWS_CONFIG_FILE at your config file, or unset it for "
	                         "~/.aws/config"
	                       : "create it with a [profile NAME] section");
}

static int no_profiles(const struct pmap *m, const struct caller_env *env, struct check_report *rep)
{
	const char *cf = pmap_filename(m, PMAP_CONFIG), *kf = pmap_filename(m, PMAP_CREDENTIALS);
	const char *from = env->config_file ? " (AWS_CONFIG_FILE)" : "";
	char msg[2 * KR_PATH_MAX + 64];

	rep->name = strdup("*");
	if (!rep->name)
		return KR_ERR_NOMEM;
	snprintf(msg, sizeof(msg), "no profiles in %s%s or %s", cf ? cf : "the config file", from,
	         kf ? kf : "the credentials file");
	return add_problem(rep, 1, cf, 0, msg, "add a [profile NAME] section to the config file");
}

int check_profiles(const struct caller_env *env, const char *name,
                   const struct source_table *sources, struct check_reports **ret)
{
	return check_profiles_in(env, name, sources, NULL, ret);
}

int check_profiles_in(const struct caller_env *env, const char *name,
                      const struct source_table *sources, const struct check_in *in,
                      struct check_reports **ret)
{
	struct resolve_opts o = {.sources = sources};
	struct check_reports *c = calloc(1, sizeof(*c));
	const struct pmap *m = NULL;
	struct check_report *rep;
	struct err_detail e;
	int r;

	memset(&e, 0, sizeof(e));
	if (!c)
		return KR_ERR_NOMEM;
	r = pmap_load(env, &m, &e);
	if (r == KR_ERR_NOMEM)
		goto out;
	if (r < 0) {
		/* The whole file is unusable: one report carries the reason. */
		r = KR_ERR_NOMEM;
		rep = new_report(c);
		if (rep && (rep->name = strdup(name ? name : "*")) != NULL)
			r = add_problem_e(rep, &e);
		goto out;
	}
	if (name) {
		rep = new_report(c);
		r = rep ? check_one(m, env, &o, in, name, rep) : KR_ERR_NOMEM;
		if (r == KR_OK && pmap_find(m, name))
			r = lint_sdk(m, pmap_find(m, name), rep);
	} else {
		/* Every section's SDK warnings in one report ("*"), also of sections
		 * that are no profile to botocore. */
		struct check_report sdk = {0};

		r = lint_sdk(m, NULL, &sdk);
		if (r == KR_OK && sdk.n_problems > 0) {
			rep = new_report(c);
			if (rep) {
				*rep = sdk;
				rep->ok = 1;
				memset(&sdk, 0, sizeof(sdk));
				rep->name = strdup("*");
			}
			r = rep && rep->name ? KR_OK : KR_ERR_NOMEM;
		}
		for (size_t k = 0; k < sdk.n_problems; k++) {
			free(sdk.problems[k].file);
			free(sdk.problems[k].msg);
			free(sdk.problems[k].fix);
		}
		free(sdk.problems);
		if (config_missing(m) && (env->config_file || pmap_count(m) == 0)) {
			rep = new_report(c);
			r = rep ? no_config(m, env, rep) : KR_ERR_NOMEM;
		} else if (pmap_count(m) == 0) {
			rep = new_report(c);
			r = rep ? no_profiles(m, env, rep) : KR_ERR_NOMEM;
		}
		for (size_t i = 0; i < pmap_count(m) && r == KR_OK; i++) {
			rep = new_report(c);
			r = rep ? check_one(m, env, &o, in, pmap_name(pmap_at(m, i)), rep)
			        : KR_ERR_NOMEM;
		}
	}
out:
	pmap_release(m);
	if (r < 0) {
		check_reports_free(c);
		return r;
	}
	*ret = c;
	return KR_OK;
}

void check_reports_free(struct check_reports *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct check_report *rep = &c->r[i];

		for (size_t k = 0; k < rep->n_problems; k++) {
			free(rep->problems[k].file);
			free(rep->problems[k].msg);
			free(rep->problems[k].fix);
		}
		free(rep->problems);
		free(rep->steps);
		chain_unref(rep->chain);
		free(rep->name);
		free(rep->target);
	}
	free(c->r);
	free(c);
}
