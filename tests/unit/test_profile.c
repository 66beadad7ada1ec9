/*
 * Profile resolution, cache keys and check reports (daemon/resolve.c,
 * daemon/pmap.c, daemon/check.c and the sources). The tests read a chain
 * through a flat view (struct profile_chain below): the source step and
 * the role steps, as `keyrole check` and the logs name them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "check.h"
#include "ini.h"
#include "msg.h"
#include "pmap.h"
#include "proto.h"
#include "resolve.h"
#include "source.h"

#include "../lib/cfg_fixture.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a flat view of a resolved chain ---- */

enum { PROFILE_SRC_STATIC, PROFILE_SRC_KEYRING, PROFILE_SRC_ENV, PROFILE_SRC_PROCESS };

struct src_view {
	int type;
	const char *profile, *access_key_id, *secret_access_key, *session_token, *command, *file;
	int line;
};

struct hop_view {
	const char *profile, *role_arn, *session_name, *external_id, *mfa_serial, *source_identity,
	    *policy, *region, *endpoint, *file;
	int duration, duration_capped, chained, line;
	char **tag_keys, **tag_values, **transitive_keys;
	size_t n_tags, n_transitive;
	const char *key;
};

struct profile_chain {
	struct chain *ch;
	struct src_view source;
	struct hop_view hops[KR_CHAIN_MAX];
	size_t n_hops;
	const char *name, *region, *mfa_process, *proxy, *no_proxy;
};

static struct profile_chain *view(struct chain *ch)
{
	struct profile_chain *c = calloc(1, sizeof(*c));
	const struct step *s = &ch->steps[0];
	struct step_report rep;

	assert_non_null(c);
	c->ch = ch;
	c->name = ch->name;
	c->region = ch->region;
	c->mfa_process = ch->mfa_process;
	c->proxy = ch->proxy;
	c->no_proxy = ch->no_proxy;
	c->source.type = s->ops == &source_static    ? PROFILE_SRC_STATIC
	                 : s->ops == &source_keyring ? PROFILE_SRC_KEYRING
	                 : s->ops == &source_env     ? PROFILE_SRC_ENV
	                 : s->ops == &source_process ? PROFILE_SRC_PROCESS
	                                             : -1;
	memset(&rep, 0, sizeof(rep));
	s->ops->describe(s, ch, &rep);
	c->source.profile = s->profile;
	c->source.access_key_id = s->inline_creds.access_key_id;
	c->source.secret_access_key = s->inline_creds.secret_access_key;
	c->source.session_token = s->inline_creds.session_token;
	c->source.command = rep.command;
	c->source.file = s->file;
	c->source.line = s->line;
	for (size_t i = 1; i < ch->n; i++) {
		const struct step *r = &ch->steps[i];
		const struct assume_conf *ac = source_assume_conf(r);
		struct hop_view *h;

		if (!ac)
			continue; /* the MFA session */
		memset(&rep, 0, sizeof(rep));
		r->ops->describe(r, ch, &rep);
		h = &c->hops[c->n_hops++];
		h->profile = r->profile;
		h->role_arn = r->role_arn;
		h->session_name = ac->session_name;
		h->external_id = ac->external_id;
		h->mfa_serial = ac->mfa_serial;
		h->source_identity = ac->source_identity;
		h->policy = ac->policy;
		h->duration = rep.duration;
		h->duration_capped = rep.duration_capped;
		h->chained = r->chained;
		h->tag_keys = ac->tag_keys;
		h->tag_values = ac->tag_values;
		h->n_tags = ac->n_tags;
		h->transitive_keys = ac->transitive_keys;
		h->n_transitive = ac->n_transitive;
		h->region = ch->signing_region;
		h->endpoint = ch->endpoint;
		h->file = r->file;
		h->line = r->line;
		h->key = r->key;
	}
	return c;
}

static int profile_resolve(const struct caller_env *env, const char *name,
                           struct profile_chain **ret, char *err, size_t errlen)
{
	struct resolve_opts o = {.mfa_duration = 43200};
	struct err_detail e;
	struct chain *ch = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	r = resolve_chain(env, name, &o, &ch, &e);
	if (err && errlen)
		err_format(&e, err, errlen);
	*ret = r == 0 ? view(ch) : NULL;
	return r;
}

static void profile_chain_free(struct profile_chain *c)
{
	if (!c)
		return;
	chain_unref(c->ch);
	free(c);
}

/* The cache key of role i (0: the first after the source). */
static int profile_hop_key(const struct profile_chain *c, size_t i, struct buf *out)
{
	if (i >= c->n_hops)
		return KR_ERR_INVAL;
	return buf_puts(out, c->hops[i].key);
}

static char *profile_default_session_name(const char *p)
{
	return source_assume_default_session_name(p);
}

static char *key_text(const struct profile_chain *c, size_t i)
{
	assert_true(i < c->n_hops);
	return strdup(c->hops[i].key);
}

/* The check op's "profiles" array, as the client sees it. */
static int profile_check(const struct caller_env *env, const char *name, cJSON **ret)
{
	struct check_reports *reps = NULL;
	struct reply r = {.op = OP_CHECK, .ok = 1};
	struct buf out;
	cJSON *msg;
	int rc = check_profiles(env, name, NULL, &reps);

	if (rc < 0)
		return rc;
	buf_init(&out, KR_RESP_MAX);
	r.u.check = reps;
	assert_int_equal(msg_encode_reply(&r, &out), 0);
	msg = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, out.len - KR_FRAME_HDR);
	assert_non_null(msg);
	*ret = cJSON_DetachItemFromObject(msg, "profiles");
	cJSON_Delete(msg);
	buf_free(&out);
	check_reports_free(reps);
	return 0;
}

static const char base_cfg[] = "[profile base]\n"
                               "aws_access_key_id = AKIABASE00000001\n"
                               "aws_secret_access_key = basesecret\n";

static struct profile_chain *resolve_ok(struct fx *fx, const char *name)
{
	struct profile_chain *c = NULL;
	char err[512] = "";
	int r = profile_resolve(&fx->env, name, &c, err, sizeof(err));

	if (r != 0)
		fail_msg("resolve %s: %d %s", name, r, err);
	return c;
}

static int resolve_err(struct fx *fx, const char *name, char *err, size_t len)
{
	struct profile_chain *c = NULL;
	int r = profile_resolve(&fx->env, name, &c, err, len);

	assert_null(c);
	return r;
}

static const cJSON *first_problem(const cJSON *rep, const char *needle)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(rep, "problems"))
	{
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "message");

		if (cJSON_IsString(m) && strstr(m->valuestring, needle))
			return p;
	}
	return NULL;
}

static void profile_static_source_has_no_hops(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	put(fx->config, base_cfg);
	c = resolve_ok(fx, "base");
	assert_int_equal(c->source.type, PROFILE_SRC_STATIC);
	assert_string_equal(c->source.access_key_id, "AKIABASE00000001");
	assert_string_equal(c->source.secret_access_key, "basesecret");
	assert_int_equal(c->source.line, 2);
	assert_int_equal(c->n_hops, 0);
	profile_chain_free(c);
}

static void profile_chain_is_in_execution_order(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile a]\nrole_arn = arn:aws:iam::1:role/aaaaaa\nsource_profile = base\n"
	         "[profile b]\nrole_arn = arn:aws:iam::1:role/bbbbbb\nsource_profile = a\n"
	         "external_id = ex\nmfa_serial = arn:aws:iam::1:mfa/m\nregion = eu-west-1\n",
	         base_cfg);
	put(fx->config, cfg);
	c = resolve_ok(fx, "b");
	assert_int_equal(c->n_hops, 2);
	assert_string_equal(c->source.profile, "base");
	assert_string_equal(c->hops[0].role_arn, "arn:aws:iam::1:role/aaaaaa");
	assert_false(c->hops[0].chained);
	assert_string_equal(c->hops[1].role_arn, "arn:aws:iam::1:role/bbbbbb");
	assert_true(c->hops[1].chained);
	assert_string_equal(c->hops[1].external_id, "ex");
	assert_string_equal(c->hops[1].mfa_serial, "arn:aws:iam::1:mfa/m");
	/* Every hop uses the requested profile's region and endpoint. */
	assert_string_equal(c->hops[0].region, "eu-west-1");
	assert_string_equal(c->hops[0].endpoint, "https://sts.eu-west-1.amazonaws.com");
	assert_string_equal(c->region, "eu-west-1");
	assert_int_equal(c->hops[1].line, 8);
	profile_chain_free(c);
}

static void profile_credentials_file_keys_win(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	put(fx->config, base_cfg);
	put(fx->creds, "[base]\naws_access_key_id = AKIACREDS0000002\naws_secret_access_key = s2\n"
	               "aws_session_token = tok\n");
	c = resolve_ok(fx, "base");
	assert_string_equal(c->source.access_key_id, "AKIACREDS0000002");
	assert_string_equal(c->source.session_token, "tok");
	assert_string_equal(c->source.file, fx->creds);
	profile_chain_free(c);
}

static void profile_credential_process_beats_config_keys(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	put(fx->config, "[profile p]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n"
	                "credential_process = /bin/creds --x\n");
	c = resolve_ok(fx, "p");
	assert_int_equal(c->source.type, PROFILE_SRC_PROCESS);
	assert_string_equal(c->source.command, "/bin/creds --x");
	profile_chain_free(c);
}

static void profile_cycle_is_config_error_naming_path(void **state)
{
	struct fx *fx = *state;
	char err[512];

	put(fx->config, "[profile a]\nrole_arn = arn:aws:iam::1:role/aaaaaa\nsource_profile = b\n"
	                "[profile b]\nrole_arn = arn:aws:iam::1:role/bbbbbb\nsource_profile = a\n");
	assert_int_equal(resolve_err(fx, "a", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "a -> b -> a"));
	assert_non_null(strstr(err, ":6:"));
}

static void profile_self_source_needs_static_keys(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512];

	put(fx->config, "[profile s]\nrole_arn = arn:aws:iam::1:role/ssssss\nsource_profile = s\n"
	                "aws_access_key_id = AKIASELF\naws_secret_access_key = x\n"
	                "[profile n]\nrole_arn = arn:aws:iam::1:role/nnnnnn\nsource_profile = n\n");
	c = resolve_ok(fx, "s");
	assert_int_equal(c->n_hops, 1);
	assert_string_equal(c->source.access_key_id, "AKIASELF");
	profile_chain_free(c);
	assert_int_equal(resolve_err(fx, "n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "n -> n"));
}

/* What STS would refuse after the call is a configuration error before it, at its line. */
static void profile_role_arn_and_external_id_are_checked(void **state)
{
	static const char *const bad_arns[] = {
	    "arn:aws:iam:123456789012:role/x",          "arn:aws:iam::123456789012:user/x",
	    "arn:aws:sts::123456789012:role/x",         "arn:aws:iam::12345678901a:role/x",
	    "arn:aws:iam::123456789012:role/",          "arn::iam::123456789012:role/x",
	    "arn:aws:iam:us-east-1:123456789012:role/x"};
	struct fx *fx = *state;
	struct profile_chain *c;
	char cfg[512], err[512];

	for (size_t i = 0; i < sizeof(bad_arns) / sizeof(bad_arns[0]); i++) {
		snprintf(cfg, sizeof(cfg),
		         "[profile dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = x\n"
		         "[profile r]\nsource_profile = dev\nrole_arn = %s\n",
		         bad_arns[i]);
		put(fx->config, cfg);
		assert_int_equal(resolve_err(fx, "r", err, sizeof(err)), KR_ERR_CONFIG);
		if (!strstr(err, ":6: role_arn") || !strstr(err, "is not an ARN"))
			fail_msg("%s: %s", bad_arns[i], err);
	}
	put(fx->config, "[profile dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = x\n"
	                "[profile r]\nsource_profile = dev\n"
	                "role_arn = arn:aws-cn:iam::123456789012:role/team/ops\nexternal_id =\n");
	assert_int_equal(resolve_err(fx, "r", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, ":7: external_id \"\" is not accepted by STS"));
	put(fx->config,
	    "[profile dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = x\n"
	    "[profile r]\nsource_profile = dev\n"
	    "role_arn = arn:aws-cn:iam::123456789012:role/team/ops\nexternal_id = 42\n");
	c = resolve_ok(fx, "r");
	profile_chain_free(c);
}

static void profile_missing_profile_is_noprofile(void **state)
{
	struct fx *fx = *state;
	char err[512];

	put(fx->config, base_cfg);
	assert_int_equal(resolve_err(fx, "nope", err, sizeof(err)), KR_ERR_NOPROFILE);
	assert_non_null(strstr(err, "nope"));
}

static void profile_bad_source_settings_are_config_errors(void **state)
{
	struct fx *fx = *state;
	char err[512], cfg[1024];

	snprintf(
	    cfg, sizeof(cfg),
	    "%s[profile missing]\nrole_arn = arn:aws:iam::1:role/mmmmmm\nsource_profile = zz\n"
	    "[profile both]\nrole_arn = arn:aws:iam::1:role/mmmmmm\nsource_profile = base\n"
	    "credential_source = Environment\n"
	    "[profile neither]\nrole_arn = arn:aws:iam::1:role/mmmmmm\n"
	    "[profile bogus]\nrole_arn = arn:aws:iam::1:role/mmmmmm\ncredential_source = env\n",
	    base_cfg);
	put(fx->config, cfg);
	assert_int_equal(resolve_err(fx, "missing", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "\"zz\""));
	assert_int_equal(resolve_err(fx, "both", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "both source_profile and credential_source"));
	assert_int_equal(resolve_err(fx, "neither", err, sizeof(err)), KR_ERR_CONFIG);
	assert_int_equal(resolve_err(fx, "bogus", err, sizeof(err)), KR_ERR_CONFIG);
}

static void profile_environment_source_uses_callers_env(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512];

	put(fx->config, "[profile e]\nrole_arn = arn:aws:iam::1:role/eeeeee\n"
	                "credential_source = Environment\nduration_seconds = 7200\n");
	assert_int_equal(resolve_err(fx, "e", err, sizeof(err)), KR_ERR_NOCREDS);
	fx->env.access_key_id = "AKIAENV";
	fx->env.secret_access_key = "envsecret";
	c = resolve_ok(fx, "e");
	assert_false(c->hops[0].chained); /* long-term keys keep the duration */
	assert_int_equal(c->hops[0].duration, 7200);
	profile_chain_free(c);
	fx->env.session_token = "envtoken";
	c = resolve_ok(fx, "e");
	assert_int_equal(c->source.type, PROFILE_SRC_ENV);
	assert_string_equal(c->source.access_key_id, "AKIAENV");
	assert_string_equal(c->source.session_token, "envtoken");
	/* A session in the environment: role chaining, at most 3600 s. */
	assert_true(c->hops[0].chained);
	assert_int_equal(c->hops[0].duration, 3600);
	assert_true(c->hops[0].duration_capped);
	profile_chain_free(c);
}

static void profile_unsupported_sources_say_so(void **state)
{
	struct fx *fx = *state;
	char err[512];

	put(fx->config, "[profile console]\nlogin_session = arn:aws:iam::1:user/u\n");
	assert_int_equal(resolve_err(fx, "console", err, sizeof(err)), KR_ERR_UNSUPPORTED);
	assert_non_null(strstr(err, "not support"));
}

static void profile_without_keys_is_keyring_source(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	put(fx->config, "[profile stored]\nregion = us-east-2\n[profile r]\n"
	                "role_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = stored\n");
	c = resolve_ok(fx, "r");
	assert_int_equal(c->source.type, PROFILE_SRC_KEYRING);
	assert_string_equal(c->source.profile, "stored");
	assert_null(c->source.secret_access_key);
	profile_chain_free(c);
}

static void profile_process_calling_keyrole_for_chain_is_error(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512];

	put(fx->config,
	    "[profile x]\ncredential_process = keyrole get x\n"
	    "[profile y]\nrole_arn = arn:aws:iam::1:role/yyyyyy\nsource_profile = h\n"
	    "[profile h]\ncredential_process = /usr/bin/keyrole -q get y\n"
	    "[profile ok]\ncredential_process = keyrole get other\n"
	    "[profile other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s\n"
	    "[profile typo]\ncredential_process = keyrole get --mfa-code 1 othr\n");
	assert_int_equal(resolve_err(fx, "x", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "call itself"));
	assert_int_equal(resolve_err(fx, "y", err, sizeof(err)), KR_ERR_CONFIG);
	c = resolve_ok(fx, "ok");
	profile_chain_free(c);
	/* A tool profile stands for its target: a missing one is the tool's error. */
	assert_int_equal(resolve_err(fx, "typo", err, sizeof(err)), KR_ERR_NOPROFILE);
	assert_non_null(strstr(err, "profile \"typo\" runs keyrole get othr"));
}

static void profile_process_calling_keyrole_back_through_another_chain_is_error(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512];

	/* h calls keyrole for y, whose source is h: "get h" would run itself. */
	put(fx->config, "[profile y]\nrole_arn = arn:aws:iam::1:role/yyyyyy\nsource_profile = h\n"
	                "[profile h]\ncredential_process = keyrole get y\n"
	                /* a ring of three through credential_process only */
	                "[profile r1]\ncredential_process = keyrole get r2\n"
	                "[profile r2]\ncredential_process = keyrole --no-autostart get r3\n"
	                "[profile r3]\ncredential_process = /usr/bin/keyrole get r1\n"
	                /* calling keyrole for a sound chain is fine */
	                "[profile fine]\ncredential_process = keyrole get z\n"
	                "[profile z]\nrole_arn = arn:aws:iam::1:role/zzzzzz\nsource_profile = k\n"
	                "[profile k]\naws_access_key_id = AKIAK\naws_secret_access_key = s\n");
	assert_int_equal(resolve_err(fx, "h", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, ":5: "));
	assert_non_null(strstr(err, "call itself"));
	assert_non_null(strstr(err, "point credential_process elsewhere"));
	assert_int_equal(resolve_err(fx, "r1", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, ":7: "));
	assert_int_equal(resolve_err(fx, "r3", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, ":11: "));
	c = resolve_ok(fx, "fine");
	profile_chain_free(c);
}

static void profile_duration_must_be_in_range(void **state)
{
	struct fx *fx = *state;
	char err[512], cfg[512];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile d]\nrole_arn = arn:aws:iam::1:role/dddddd\nsource_profile = base\n"
	         "duration_seconds = 899\n",
	         base_cfg);
	put(fx->config, cfg);
	assert_int_equal(resolve_err(fx, "d", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, ":7:"));
	assert_non_null(strstr(err, "900"));
}

static void profile_chained_duration_is_capped(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile a]\nrole_arn = arn:aws:iam::1:role/aaaaaa\nsource_profile = base\n"
	         "duration_seconds = 43200\n"
	         "[profile b]\nrole_arn = arn:aws:iam::1:role/bbbbbb\nsource_profile = a\n"
	         "duration_seconds = 7200\n",
	         base_cfg);
	put(fx->config, cfg);
	c = resolve_ok(fx, "b");
	assert_int_equal(c->hops[0].duration, 43200);
	assert_false(c->hops[0].duration_capped);
	assert_int_equal(c->hops[1].duration, 3600);
	assert_true(c->hops[1].duration_capped);
	profile_chain_free(c);
}

/* Write the one role profile "r" (duration 7200) over source profile "src". */
static void put_role_over(struct fx *fx, const char *config_src, const char *creds_src)
{
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile r]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = src\n"
	         "duration_seconds = 7200\n",
	         config_src);
	put(fx->config, cfg);
	put(fx->creds, creds_src);
}

static struct profile_chain *chain_over(struct fx *fx, const char *config_src,
                                        const char *creds_src)
{
	put_role_over(fx, config_src, creds_src);
	return resolve_ok(fx, "r");
}

static void profile_first_hop_from_a_session_is_chained(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	/* Long-term keys: not chained, the duration stays. */
	c = chain_over(fx, "[profile src]\n",
	               "[src]\naws_access_key_id = AKIASRC0000000001\naws_secret_access_key = s\n");
	assert_false(c->hops[0].chained);
	assert_int_equal(c->hops[0].duration, 7200);
	assert_false(c->hops[0].duration_capped);
	profile_chain_free(c);
	/* A session token in the credentials file. */
	c = chain_over(fx, "[profile src]\n",
	               "[src]\naws_access_key_id = ASIASRC0000000001\naws_secret_access_key = s\n"
	               "aws_session_token = tok\n");
	assert_true(c->hops[0].chained);
	assert_int_equal(c->hops[0].duration, 3600);
	assert_true(c->hops[0].duration_capped);
	profile_chain_free(c);
	/* ... in the config file, under its older name. */
	c = chain_over(fx,
	               "[profile src]\naws_access_key_id = ASIASRC0000000001\n"
	               "aws_secret_access_key = s\naws_security_token = tok\n",
	               "");
	assert_true(c->hops[0].chained);
	assert_int_equal(c->hops[0].duration, 3600);
	profile_chain_free(c);
	/* credential_process: known only when it runs (the agent caps it then). */
	c = chain_over(fx, "[profile src]\ncredential_process = /bin/true\n", "");
	assert_false(c->hops[0].chained);
	assert_int_equal(c->hops[0].duration, 7200);
	profile_chain_free(c);
}

/* The check report of "r" over src: the chaining warning, if any. */
static const cJSON *chaining_warning(struct fx *fx, const char *config_src, cJSON **arr)
{
	put_role_over(fx, config_src, "");
	cJSON_Delete(*arr);
	*arr = NULL;
	assert_int_equal(profile_check(&fx->env, "r", arr), 0);
	return first_problem(cJSON_GetArrayItem(*arr, 0), "role chaining");
}

static void profile_check_warns_when_a_session_source_caps_the_first_hop(void **state)
{
	struct fx *fx = *state;
	const cJSON *p;
	cJSON *arr = NULL;

	assert_null(chaining_warning(fx,
	                             "[profile src]\naws_access_key_id = AKIASRC0000000001\n"
	                             "aws_secret_access_key = s\n",
	                             &arr));
	p = chaining_warning(fx,
	                     "[profile src]\naws_access_key_id = ASIASRC0000000001\n"
	                     "aws_secret_access_key = s\naws_session_token = tok\n",
	                     &arr);
	assert_non_null(p);
	assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(p, "message")->valuestring,
	                       "aws_session_token in profile \"src\""));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "line")->valueint, 8);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "severity")->valuestring,
	                    "warning");
	p = chaining_warning(fx, "[profile src]\ncredential_process = /bin/true\n", &arr);
	assert_non_null(p);
	assert_non_null(
	    strstr(cJSON_GetObjectItemCaseSensitive(p, "message")->valuestring, "at run time"));
	cJSON_Delete(arr);
}

static void profile_default_session_name_is_sanitised(void **state)
{
	struct fx *fx = *state;
	char *s = profile_default_session_name("my prof/ä");
	char *l = profile_default_session_name(
	    "0123456789012345678901234567890123456789012345678901234567890123456789");

	(void)fx;
	assert_string_equal(s, "keyrole-my-prof---");
	assert_int_equal(strlen(l), 64);
	free(s);
	free(l);
}

static void profile_session_tags_are_parsed(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512], cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile t]\nrole_arn = arn:aws:iam::1:role/tttttt\nsource_profile = base\n"
	         "session_tags = team = core, env=prod\ntransitive_session_tags = team, env\n"
	         "source_identity = alice\nmfa_serial = arn:aws:iam::1:mfa/m\n"
	         "mfa_process = otp\n"
	         "[profile bad]\nrole_arn = arn:aws:iam::1:role/tttttt\nsource_profile = base\n"
	         "session_tags = novalue\n",
	         base_cfg);
	put(fx->config, cfg);
	c = resolve_ok(fx, "t");
	assert_int_equal(c->hops[0].n_tags, 2);
	assert_string_equal(c->hops[0].tag_keys[0], "team");
	assert_string_equal(c->hops[0].tag_values[0], "core");
	assert_string_equal(c->hops[0].tag_values[1], "prod");
	assert_int_equal(c->hops[0].n_transitive, 2);
	assert_string_equal(c->hops[0].transitive_keys[1], "env");
	assert_string_equal(c->hops[0].source_identity, "alice");
	assert_string_equal(c->mfa_process, "otp");
	profile_chain_free(c);
	assert_int_equal(resolve_err(fx, "bad", err, sizeof(err)), KR_ERR_CONFIG);
}

static void profile_region_precedence(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char cfg[512];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile r]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = base\n"
	         "region = eu-west-2\n",
	         base_cfg);
	put(fx->config, cfg);
	c = resolve_ok(fx, "r");
	assert_string_equal(c->hops[0].region, "eu-west-2");
	profile_chain_free(c);
	fx->env.default_region = "us-west-1";
	c = resolve_ok(fx, "r");
	assert_string_equal(c->hops[0].region, "us-west-1");
	profile_chain_free(c);
	fx->env.region = "ap-south-1";
	c = resolve_ok(fx, "r");
	assert_string_equal(c->hops[0].region, "ap-south-1");
	assert_string_equal(c->region, "ap-south-1");
	profile_chain_free(c);
}

static void profile_hop_keys_separate_sources_and_share_identical_chains(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *a, *x;
	struct buf ka, kx;
	char cfg[1024];

	/* The same role and session name: only the source differs. */
	snprintf(cfg, sizeof(cfg),
	         "%s[profile other]\naws_access_key_id = AKIAOTHER0000003\n"
	         "aws_secret_access_key = othersecret\n"
	         "[profile a]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = base\n"
	         "role_session_name = same\n"
	         "[profile x]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = other\n"
	         "role_session_name = same\n",
	         base_cfg);
	put(fx->config, cfg);
	a = resolve_ok(fx, "a");
	x = resolve_ok(fx, "x");
	buf_init(&ka, 8192);
	buf_init(&kx, 8192);
	assert_int_equal(profile_hop_key(a, 0, &ka), 0);
	assert_int_equal(profile_hop_key(x, 0, &kx), 0);
	assert_string_not_equal(ka.data, kx.data);
	assert_null(strstr(ka.data, "basesecret"));
	assert_null(strstr(kx.data, "othersecret"));
	assert_non_null(strstr(ka.data, "AKIABASE00000001"));
	assert_int_equal(profile_hop_key(a, 1, &ka), KR_ERR_INVAL);
	buf_free(&ka);
	buf_free(&kx);
	profile_chain_free(a);
	profile_chain_free(x);
}

/*
 * A two-hop chain with every field that changes a role's result set, as
 * config text: each mutation below changes exactly one input, and the key
 * of each hop must change with it (policy has no config key: it is not an
 * input a profile can give).
 */
struct kp {
	const char *src, *mid, *top; /* profile names */
	const char *src_body;        /* the source's section in the credentials file */
	const char *src_config;      /* the source's section in the config file, or NULL */
	const char *mid_source;      /* "source_profile = SRC" or a credential_source line */
	const char *arn, *sn, *ext, *mfa, *dur, *sid, *tags, *trans; /* hop 0; NULL: absent */
	const char *top_sn;                                          /* hop 1's session name */
	const char *region, *endpoint;                               /* of the requested profile */
	const char *pad; /* blank lines: other line numbers */
	int env_keys;    /* put the keys in the caller's environment */
};

static const struct kp kp_base = {
    .src = "base",
    .mid = "mid",
    .top = "top",
    .src_body = "aws_access_key_id = AKIAKEYTEST00001\naws_secret_access_key = secret-one\n",
    .arn = "arn:aws:iam::1:role/hop0",
    .sn = "sess",
    .ext = "ext",
    .mfa = "arn:aws:iam::1:mfa/me",
    .dur = "3600",
    .sid = "alice",
    .tags = "team=ops, env=prod",
    .trans = "team",
    .top_sn = "sess",
    .region = "eu-west-1",
    .pad = "",
};

static void opt_line(struct buf *b, const char *key, const char *v)
{
	if (v)
		assert_int_equal(buf_printf(b, "%s = %s\n", key, v), 0);
}

/* Write the config for kp, resolve the top profile and return hop i's key. */
static char *kp_key(struct fx *fx, const struct kp *kp, size_t i)
{
	struct profile_chain *c;
	struct buf cfg, cred;
	char *k, err[512];

	buf_init(&cfg, 8192);
	buf_init(&cred, 8192);
	assert_int_equal(buf_printf(&cred, "%s[%s]\n%s", kp->pad, kp->src, kp->src_body), 0);
	if (kp->src_config)
		assert_int_equal(buf_printf(&cfg, "[profile %s]\n%s", kp->src, kp->src_config), 0);
	assert_int_equal(buf_printf(&cfg, "%s[profile %s]\n", kp->pad, kp->mid), 0);
	opt_line(&cfg, "role_arn", kp->arn);
	if (kp->mid_source)
		assert_int_equal(buf_printf(&cfg, "%s\n", kp->mid_source), 0);
	else
		opt_line(&cfg, "source_profile", kp->src);
	opt_line(&cfg, "role_session_name", kp->sn);
	opt_line(&cfg, "external_id", kp->ext);
	opt_line(&cfg, "mfa_serial", kp->mfa);
	opt_line(&cfg, "duration_seconds", kp->dur);
	opt_line(&cfg, "source_identity", kp->sid);
	opt_line(&cfg, "session_tags", kp->tags);
	opt_line(&cfg, "transitive_session_tags", kp->trans);
	assert_int_equal(buf_printf(&cfg,
	                            "[profile %s]\nrole_arn = arn:aws:iam::1:role/hop1\n"
	                            "source_profile = %s\nrole_session_name = %s\n",
	                            kp->top, kp->mid, kp->top_sn),
	                 0);
	opt_line(&cfg, "region", kp->region);
	opt_line(&cfg, "endpoint_url", kp->endpoint);
	put(fx->config, cfg.data);
	put(fx->creds, cred.data);
	fx->env.access_key_id = kp->env_keys ? "AKIAKEYTEST00001" : NULL;
	fx->env.secret_access_key = kp->env_keys ? "secret-one" : NULL;
	if (profile_resolve(&fx->env, kp->top, &c, err, sizeof(err)) != 0)
		fail_msg("resolve: %s", err);
	assert_true(i < c->n_hops);
	k = strdup(c->hops[i].key);
	profile_chain_free(c);
	buf_free(&cfg);
	buf_free(&cred);
	return k;
}

static void profile_hop_key_changes_with_each_input_alone(void **state)
{
	struct fx *fx = *state;
	struct kp muts[24];
	const char *what[24];
	size_t n = 0;
	struct kp same = kp_base;
	char *b0 = kp_key(fx, &kp_base, 0), *b1 = kp_key(fx, &kp_base, 1), *k[24], *t;

#define MUT(name, field, value)                                                                    \
	do {                                                                                       \
		muts[n] = kp_base;                                                                 \
		muts[n].field = value;                                                             \
		what[n++] = name;                                                                  \
	} while (0)
	MUT("source type", mid_source, "credential_source = Environment"); /* same key id */
	muts[n - 1].env_keys = 1;
	MUT("source access key id", src_body,
	    "aws_access_key_id = AKIAKEYTEST00002\naws_secret_access_key = secret-one\n");
	MUT("source secret", src_body,
	    "aws_access_key_id = AKIAKEYTEST00001\naws_secret_access_key = secret-two\n");
	MUT("source session token", src_body,
	    "aws_access_key_id = AKIAKEYTEST00001\naws_secret_access_key = secret-one\n"
	    "aws_session_token = token-two\n");
	MUT("credential_process source", src_body, "");
	muts[n - 1].src_config = "credential_process = AKIAKEYTEST00001\n";
	MUT("keyring source", src_body, "");
	MUT("role ARN", arn, "arn:aws:iam::1:role/other");
	MUT("session name", sn, "sess2");
	MUT("external id", ext, "ext2");
	MUT("no external id", ext, NULL);
	MUT("MFA serial", mfa, "arn:aws:iam::1:mfa/other");
	MUT("no MFA serial", mfa, NULL);
	MUT("duration", dur, "3601");
	MUT("tag key", tags, "team=ops, stage=prod");
	MUT("tag value", tags, "team=ops, env=dev");
	MUT("one tag fewer", tags, "team=ops");
	MUT("tag key/value boundary", tags, "teamo=ps, env=prod");
	MUT("transitive tag key", trans, "env");
	MUT("no transitive tags", trans, NULL);
	MUT("SourceIdentity", sid, "bob");
	MUT("endpoint", endpoint, "https://sts.amazonaws.com");
	MUT("region", region, "eu-west-2");
#undef MUT
	/*
	 * Identical inputs, in other profiles at other lines, give identical
	 * keys for every hop. (The secret is an input: see "source secret".)
	 */
	same.src = "other-base";
	same.mid = "other-mid";
	same.top = "elsewhere";
	same.pad = "\n\n\n";
	t = kp_key(fx, &same, 0);
	assert_string_equal(t, b0);
	free(t);
	t = kp_key(fx, &same, 1);
	assert_string_equal(t, b1);
	free(t);
	assert_null(strstr(b1, "secret-one"));
	/* A change in hop 1 leaves hop 0's key alone. */
	same.top_sn = "sess2";
	t = kp_key(fx, &same, 0);
	assert_string_equal(t, b0);
	free(t);
	t = kp_key(fx, &same, 1);
	assert_string_not_equal(t, b1);
	free(t);
	for (size_t i = 0; i < n; i++) {
		char *k1;

		k[i] = kp_key(fx, &muts[i], 0);
		k1 = kp_key(fx, &muts[i], 1);
		if (strcmp(k[i], b0) == 0)
			fail_msg("%s alone does not change hop 0's key", what[i]);
		if (strcmp(k1, b1) == 0)
			fail_msg("%s alone does not change hop 1's key", what[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(k[i], k[j]) == 0)
				fail_msg("%s and %s give the same key", what[i], what[j]);
		free(k1);
	}
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(b0);
	free(b1);
}

static void profile_identical_chains_share_a_key(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *a, *b;
	struct buf ka, kb;
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile a]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = base\n"
	         "role_session_name = same\n"
	         "[profile b]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = base\n"
	         "role_session_name = same\n",
	         base_cfg);
	put(fx->config, cfg);
	a = resolve_ok(fx, "a");
	b = resolve_ok(fx, "b");
	buf_init(&ka, 8192);
	buf_init(&kb, 8192);
	assert_int_equal(profile_hop_key(a, 0, &ka), 0);
	assert_int_equal(profile_hop_key(b, 0, &kb), 0);
	assert_string_equal(ka.data, kb.data);
	buf_free(&ka);
	buf_free(&kb);
	profile_chain_free(a);
	profile_chain_free(b);
}

static void profile_proxy_goes_with_the_chain_but_not_in_its_key(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char cfg[512], *plain, *proxied;

	snprintf(cfg, sizeof(cfg),
	         "%s[profile r]\nrole_arn = arn:aws:iam::1:role/rrrrrr\nsource_profile = base\n"
	         "region = eu-west-1\n",
	         base_cfg);
	put(fx->config, cfg);
	c = resolve_ok(fx, "r");
	assert_null(c->proxy); /* nothing from the caller: the daemon's own environment */
	assert_null(c->no_proxy);
	plain = key_text(c, 0);
	profile_chain_free(c);
	fx->env.proxy.https_proxy_uc = "http://proxy.corp:3128";
	fx->env.proxy.no_proxy = "169.254.169.254";
	c = resolve_ok(fx, "r");
	assert_string_equal(c->proxy, "http://proxy.corp:3128");
	assert_string_equal(c->no_proxy, "169.254.169.254");
	proxied = key_text(c, 0);
	assert_string_equal(plain, proxied);
	assert_null(strstr(proxied, "proxy.corp"));
	profile_chain_free(c);
	free(plain);
	free(proxied);
}

static void profile_depth_limit_is_enforced(void **state)
{
	struct fx *fx = *state;
	char cfg[8192], err[1024];
	size_t off;

	off = (size_t)snprintf(cfg, sizeof(cfg), "%s", base_cfg);
	off += (size_t)snprintf(cfg + off, sizeof(cfg) - off,
	                        "[profile p0]\nrole_arn = arn:aws:iam::1:role/r0000\n"
	                        "source_profile = base\n");
	for (int i = 1; i <= KR_CHAIN_MAX + 1; i++)
		off += (size_t)snprintf(cfg + off, sizeof(cfg) - off,
		                        "[profile p%d]\nrole_arn = arn:aws:iam::1:role/r%04d\n"
		                        "source_profile = p%d\n",
		                        i, i, i - 1);
	put(fx->config, cfg);
	assert_int_equal(resolve_err(fx, "p16", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "more than"));
	{
		struct profile_chain *c = resolve_ok(fx, "p15");

		assert_int_equal(c->n_hops, KR_CHAIN_MAX);
		profile_chain_free(c);
	}
}

static void profile_edited_config_is_seen_next_time(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;
	char err[512];

	put(fx->config, base_cfg);
	assert_int_equal(resolve_err(fx, "late", err, sizeof(err)), KR_ERR_NOPROFILE);
	put(fx->config, "[profile late]\naws_access_key_id = AKIALATE\naws_secret_access_key = s\n"
	                "region = eu-north-1\n");
	c = resolve_ok(fx, "late");
	assert_string_equal(c->source.access_key_id, "AKIALATE");
	profile_chain_free(c);
}

static void profile_syntax_error_names_file_and_line(void **state)
{
	struct fx *fx = *state;
	char err[512];

	put(fx->config, "[profile a]\nregion = x\n[profile a]\n");
	assert_int_equal(resolve_err(fx, "a", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, fx->config));
	assert_non_null(strstr(err, ":3:"));
}

static void profile_relative_config_path_is_refused(void **state)
{
	struct fx *fx = *state;
	char err[512];

	fx->env.config_file = "relative/config";
	assert_int_equal(resolve_err(fx, "a", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "absolute"));
}

static void profile_tilde_paths_use_callers_home(void **state)
{
	struct fx *fx = *state;
	struct profile_chain *c;

	put(fx->config, base_cfg);
	fx->env.config_file = "~/config";
	c = resolve_ok(fx, "base");
	profile_chain_free(c);
	fx->env.config_file = NULL; /* default: HOME/.aws/config, which does not exist */
	{
		char err[256];

		assert_int_equal(resolve_err(fx, "base", err, sizeof(err)), KR_ERR_NOPROFILE);
	}
}

static void profile_check_reports_traps_and_typos(void **state)
{
	struct fx *fx = *state;
	cJSON *arr = NULL;
	const cJSON *rep, *p;
	char cfg[1024], *txt;

	snprintf(cfg, sizeof(cfg),
	         "%s[profile prod]\nrole_arn = arn:aws:iam::1:role/pppppp\nsource_profile = base\n"
	         "credential_process = keyrole get prod\nmfa_seriall = x\n",
	         base_cfg);
	put(fx->config, cfg);
	assert_int_equal(profile_check(&fx->env, "prod", &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	rep = cJSON_GetArrayItem(arr, 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rep, "ok")));
	p = first_problem(rep, "role_arn and credential_process");
	assert_non_null(p);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "line")->valueint, 7);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "severity")->valuestring, "error");
	p = first_problem(rep, "mfa_seriall");
	assert_non_null(p);
	assert_non_null(
	    strstr(cJSON_GetObjectItemCaseSensitive(p, "fix")->valuestring, "\"mfa_serial\""));
	txt = cJSON_PrintUnformatted(arr);
	assert_null(strstr(txt, "basesecret"));
	assert_null(strstr(txt, "AKIABASE00000001"));
	assert_non_null(strstr(txt, "\"****0001\""));
	cJSON_free(txt);
	cJSON_Delete(arr);
}

static void profile_check_lists_every_profile_and_warns_on_cap(void **state)
{
	struct fx *fx = *state;
	cJSON *arr = NULL;
	const cJSON *rep;
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	         "%s[profile a]\nrole_arn = arn:aws:iam::1:role/aaaaaa\nsource_profile = base\n"
	         "[profile b]\nrole_arn = arn:aws:iam::1:role/bbbbbb\nsource_profile = a\n"
	         "duration_seconds = 7200\n",
	         base_cfg);
	put(fx->config, cfg);
	put(fx->creds, "[only-creds]\naws_access_key_id = AKIAC\naws_secret_access_key = s\n");
	assert_int_equal(profile_check(&fx->env, NULL, &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 4);
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 3), "name")->valuestring,
	    "only-creds");
	rep = cJSON_GetArrayItem(arr, 2);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "ok")));
	assert_non_null(first_problem(rep, "role chaining"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "steps")), 3);
	cJSON_Delete(arr);
}

static void profile_check_of_broken_file_is_one_report(void **state)
{
	struct fx *fx = *state;
	cJSON *arr = NULL;
	const cJSON *rep;

	put(fx->config, "key before section\n");
	assert_int_equal(profile_check(&fx->env, NULL, &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	rep = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(rep, "name")->valuestring, "*");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rep, "ok")));
	cJSON_Delete(arr);
}

static void profile_chain_free_accepts_null(void **state)
{
	(void)state;
	profile_chain_free(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(profile_static_source_has_no_hops),
	    T(profile_chain_is_in_execution_order),
	    T(profile_credentials_file_keys_win),
	    T(profile_credential_process_beats_config_keys),
	    T(profile_cycle_is_config_error_naming_path),
	    T(profile_self_source_needs_static_keys),
	    T(profile_role_arn_and_external_id_are_checked),
	    T(profile_missing_profile_is_noprofile),
	    T(profile_bad_source_settings_are_config_errors),
	    T(profile_environment_source_uses_callers_env),
	    T(profile_unsupported_sources_say_so),
	    T(profile_without_keys_is_keyring_source),
	    T(profile_process_calling_keyrole_for_chain_is_error),
	    T(profile_process_calling_keyrole_back_through_another_chain_is_error),
	    T(profile_duration_must_be_in_range),
	    T(profile_chained_duration_is_capped),
	    T(profile_first_hop_from_a_session_is_chained),
	    T(profile_check_warns_when_a_session_source_caps_the_first_hop),
	    T(profile_default_session_name_is_sanitised),
	    T(profile_session_tags_are_parsed),
	    T(profile_region_precedence),
	    T(profile_hop_keys_separate_sources_and_share_identical_chains),
	    T(profile_identical_chains_share_a_key),
	    T(profile_hop_key_changes_with_each_input_alone),
	    T(profile_proxy_goes_with_the_chain_but_not_in_its_key),
	    T(profile_depth_limit_is_enforced),
	    T(profile_edited_config_is_seen_next_time),
	    T(profile_syntax_error_names_file_and_line),
	    T(profile_relative_config_path_is_refused),
	    T(profile_tilde_paths_use_callers_home),
	    T(profile_check_reports_traps_and_typos),
	    T(profile_check_lists_every_profile_and_warns_on_cap),
	    T(profile_check_of_broken_file_is_one_report),
	    cmocka_unit_test(profile_chain_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
