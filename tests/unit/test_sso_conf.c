/*
 * IAM Identity Center configuration (daemon/pmap.c's [sso-session NAME]
 * sections, daemon/source_sso.c, daemon/sso_where.c): botocore's rules and
 * messages, the session a login finds, the cache key of the source, and
 * what check shows. (The token store is test_sso_token.py's.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "caps.h"
#include "check.h"
#include "endpoint.h"
#include "err.h"
#include "ini.h"
#include "loop.h"
#include "msg.h"
#include "pmap.h"
#include "resolve.h"
#include "source.h"
#include "sso.h"

#include "../lib/cfg_fixture.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct pmap *load(struct fx *fx)
{
	const struct pmap *m = NULL;
	struct err_detail e;

	memset(&e, 0, sizeof(e));
	if (pmap_load(&fx->env, &m, &e) != 0)
		fail_msg("pmap_load: %s", e.msg);
	return m;
}

static struct chain *resolve_ok(struct fx *fx, const char *name)
{
	struct resolve_opts o = {.mfa_duration = 43200};
	struct err_detail e;
	struct chain *ch = NULL;
	char line[KR_ERR_LINE_MAX];

	memset(&e, 0, sizeof(e));
	if (resolve_chain(&fx->env, name, &o, &ch, &e) != 0) {
		err_format(&e, line, sizeof(line));
		fail_msg("resolve %s: %s", name, line);
	}
	return ch;
}

/* Resolve name, which must fail with code; e gets the error. */
static void resolve_fails(struct fx *fx, const char *name, int code, struct err_detail *e)
{
	struct resolve_opts o = {.mfa_duration = 43200};
	struct chain *ch = NULL;
	int r;

	memset(e, 0, sizeof(*e));
	resolve_memo_clear();
	r = resolve_chain(&fx->env, name, &o, &ch, e);
	if (r != code)
		fail_msg("resolve %s: %d, want %d (%s)", name, r, code, e->msg);
	assert_null(ch);
	assert_true(e->fix[0] != '\0');
}

static const struct sso_where *where_of(const struct chain *ch)
{
	assert_true(ch->n > 0);
	assert_ptr_equal(ch->steps[0].ops, &source_sso);
	assert_non_null(source_sso_where(&ch->steps[0]));
	return source_sso_where(&ch->steps[0]);
}

/* The key of the chain's last step (a copy). */
static char *key_of(struct fx *fx, const char *name)
{
	struct chain *ch;
	char *k;

	resolve_memo_clear();
	pmap_cache_clear();
	ini_cache_clear();
	ch = resolve_ok(fx, name);
	k = strdup(ch->steps[ch->n - 1].key);
	chain_unref(ch);
	assert_non_null(k);
	return k;
}

/* ---- [sso-session NAME] sections ---- */

static void sso_session_sections_are_named_like_profiles(void **state)
{
	struct fx *fx = *state;
	const struct pmap *m;
	const struct ini_section *s;

	put(fx->config, "[sso-session corp]\nsso_start_url = https://a/start\n"
	                "[sso-session \"my corp\"]\nsso_region = eu-west-1\n"
	                "[sso-session twice]\nsso_region = us-east-1\n"
	                "[sso-session  twice]\nsso_region = us-east-2\n"
	                "[sso-session]\nx = 1\n"
	                "[sso-session a b]\nx = 2\n"
	                "[profile p]\nsso_session = corp\n");
	put(fx->creds, "[sso-session creds]\naws_access_key_id = AKIAEXAMPLE00001\n");
	m = load(fx);
	s = pmap_sso_session(m, "corp");
	assert_non_null(s);
	assert_string_equal(ini_get(s, "sso_start_url")->value, "https://a/start");
	assert_non_null(pmap_sso_session(m, "my corp"));
	/* Two headers that name one session: the last wins, as botocore's dict update. */
	assert_string_equal(ini_get(pmap_sso_session(m, "twice"), "sso_region")->value,
	                    "us-east-2");
	/* Not exactly two words: no session, and no profile either. */
	assert_null(pmap_sso_session(m, "a"));
	assert_null(pmap_sso_session(m, "b"));
	assert_null(pmap_sso_session(m, NULL));
	assert_null(pmap_find(m, "corp"));
	/* In the credentials file every section is a profile by its raw name. */
	assert_null(pmap_sso_session(m, "creds"));
	assert_non_null(pmap_find(m, "sso-session creds"));
	assert_int_equal(pmap_count(m), 2);
	pmap_release(m);
}

/*
 * The cross-SDK parser cases with sso-session sections (smithy-rs
 * aws/rust-runtime/aws-runtime/test-data/profile-parser-tests.json, Apache
 * License 2.0): "sso-session with properties", "sso-session without the
 * space before the name is a profile", "A typo'd sso-session will be
 * ignored".
 */
static void sso_session_sdk_parser_cases(void **state)
{
	struct fx *fx = *state;
	const struct pmap *m;

	put(fx->config, "[sso-session foo]\nname = value\n[profile bar]");
	put(fx->creds, "");
	m = load(fx);
	assert_string_equal(ini_get(pmap_sso_session(m, "foo"), "name")->value, "value");
	assert_int_equal(pmap_count(m), 1);
	assert_non_null(pmap_find(m, "bar"));
	pmap_release(m);

	put(fx->config, "");
	put(fx->creds, "[sso-sessionfoo]\nname = value\n[bar]");
	m = load(fx);
	assert_null(pmap_sso_session(m, "foo"));
	assert_non_null(pmap_find(m, "sso-sessionfoo"));
	assert_non_null(pmap_find(m, "bar"));
	assert_int_equal(pmap_count(m), 2);
	pmap_release(m);

	put(fx->config, "[sso-sesion foo]\nname = value\n[profile bar]");
	put(fx->creds, "");
	m = load(fx);
	assert_null(pmap_sso_session(m, "foo"));
	assert_int_equal(pmap_count(m), 1);
	pmap_release(m);
}

/* endpoint_conf_read: each service's variable and [services] block, botocore's names. */
static void sso_endpoint_settings_are_read_per_service(void **state)
{
	struct fx *fx = *state;
	const struct pmap *m;
	struct endpoint_conf c;
	struct err_detail e;

	put(fx->config, "[profile p]\nservices = local\nendpoint_url = http://profile:1\n"
	                "[profile q]\nservices = local\nignore_configured_endpoint_urls = true\n"
	                "[services local]\nsso =\n  endpoint_url = http://portal:2\n"
	                "sso-oidc =\n  endpoint_url = http://not-this:3\n"
	                "sso_oidc =\n  endpoint_url = http://oidc:4\n"
	                "sts =\n  endpoint_url = http://sts:5\n");
	m = load(fx);
	memset(&e, 0, sizeof(e));
	assert_int_equal(endpoint_conf_read(m, pmap_find(m, "p"), &fx->env, ENDPOINT_SSO, &c, &e),
	                 0);
	assert_string_equal(c.services_url, "http://portal:2");
	assert_string_equal(c.profile_url, "http://profile:1");
	assert_int_equal(
	    endpoint_conf_read(m, pmap_find(m, "p"), &fx->env, ENDPOINT_SSO_OIDC, &c, &e), 0);
	assert_string_equal(c.services_url, "http://oidc:4"); /* "sso_oidc =", not "sso-oidc =" */
	assert_int_equal(endpoint_conf_read(m, pmap_find(m, "p"), &fx->env, ENDPOINT_STS, &c, &e),
	                 0);
	assert_string_equal(c.services_url, "http://sts:5");
	/* With the service's variable or AWS_ENDPOINT_URL set, [services] is not read. */
	fx->env.endpoint_url_sso_oidc = "http://env-oidc:6";
	assert_int_equal(
	    endpoint_conf_read(m, pmap_find(m, "p"), &fx->env, ENDPOINT_SSO_OIDC, &c, &e), 0);
	assert_string_equal(c.env_service, "http://env-oidc:6");
	assert_null(c.services_url);
	assert_int_equal(endpoint_conf_read(m, pmap_find(m, "p"), &fx->env, ENDPOINT_SSO, &c, &e),
	                 0);
	assert_null(c.env_service);
	assert_string_equal(c.services_url, "http://portal:2");
	assert_int_equal(endpoint_conf_read(m, pmap_find(m, "q"), &fx->env, ENDPOINT_SSO, &c, &e),
	                 0);
	assert_string_equal(c.ignore, "true");
	assert_null(c.services_url);
	/* No profile: the environment only. */
	assert_int_equal(endpoint_conf_read(m, NULL, &fx->env, ENDPOINT_SSO_OIDC, &c, &e), 0);
	assert_string_equal(c.env_service, "http://env-oidc:6");
	assert_null(c.profile_url);
	pmap_release(m);
}

/* ---- the source: botocore's configuration rules ---- */

static const char corp_cfg[] = "[sso-session corp]\n"
                               "sso_start_url = https://corp.awsapps.com/start\n"
                               "sso_region = eu-west-1\n"
                               "sso_registration_scopes = sso:account:access, foo ,,\n"
                               "[profile dev]\n"
                               "sso_session = corp\n"
                               "sso_account_id = 111111111111\n"
                               "sso_role_name = Developer\n"
                               "[profile legacy]\n"
                               "sso_start_url = https://old.awsapps.com/start\n"
                               "sso_region = us-east-1\n"
                               "sso_account_id = 222222222222\n"
                               "sso_role_name = Admin\n"
                               "[profile prod]\n"
                               "role_arn = arn:aws:iam::333333333333:role/ops\n"
                               "source_profile = dev\n";

static void sso_source_of_an_sso_session_profile(void **state)
{
	struct fx *fx = *state;
	const struct sso_where *w;
	struct step_report rep;
	struct chain *ch;
	char path[256];

	put(fx->config, corp_cfg);
	ch = resolve_ok(fx, "dev");
	assert_int_equal(ch->n, 1);
	w = where_of(ch);
	assert_string_equal(w->session, "corp");
	assert_string_equal(w->start_url, "https://corp.awsapps.com/start");
	assert_string_equal(w->region, "eu-west-1");
	assert_int_equal(w->n_scopes, 2);
	assert_string_equal(w->scopes[0], "sso:account:access");
	assert_string_equal(w->scopes[1], "foo");
	assert_string_equal(w->cache_key,
	                    "ee0bfd2552fbd840c02cc48b6e823320543c450f"); /* sha1 "corp" */
	assert_string_equal(w->portal_url, "https://portal.sso.eu-west-1.amazonaws.com");
	assert_string_equal(w->oidc_url, "https://oidc.eu-west-1.amazonaws.com");
	snprintf(path, sizeof(path), "%s/.aws/sso/cache/%s.json", fx->dir, w->cache_key);
	assert_string_equal(w->cli_cache_file, path);
	assert_null(w->ca_bundle);
	assert_null(w->portal_proxy);
	assert_string_equal(w->profile, "dev");
	assert_string_equal(ch->steps[0].what, "GetRoleCredentials 111111111111/Developer");
	assert_null(ch->steps[0].role_arn);
	memset(&rep, 0, sizeof(rep));
	ch->steps[0].ops->describe(&ch->steps[0], ch, &rep);
	assert_string_equal(rep.type, "sso");
	assert_string_equal(rep.sso_session, "corp");
	assert_string_equal(rep.account_id, "111111111111");
	assert_string_equal(rep.role_name, "Developer");
	assert_string_equal(rep.region, "eu-west-1");
	assert_string_equal(rep.endpoint, "https://portal.sso.eu-west-1.amazonaws.com");
	chain_unref(ch);
}

static void sso_source_of_a_legacy_profile(void **state)
{
	struct fx *fx = *state;
	const struct sso_where *w;
	struct chain *ch;

	put(fx->config, corp_cfg);
	ch = resolve_ok(fx, "legacy");
	w = where_of(ch);
	assert_null(w->session);
	assert_int_equal(w->n_scopes, 0);
	/* The token cache key of a legacy profile: the SHA-1 of its start URL. */
	assert_string_equal(w->cache_key, "33d5ca4bf3b1a62edb96b47f7c203034a43ac435");
	assert_string_equal(w->portal_url, "https://portal.sso.us-east-1.amazonaws.com");
	chain_unref(ch);
}

static void sso_source_under_a_role_is_role_chaining(void **state)
{
	struct fx *fx = *state;
	struct chain *ch;

	put(fx->config, corp_cfg);
	ch = resolve_ok(fx, "prod");
	assert_int_equal(ch->n, 2);
	assert_ptr_equal(ch->steps[0].ops, &source_sso);
	assert_string_equal(ch->steps[0].profile, "dev");
	assert_ptr_equal(ch->steps[1].ops, &source_assume_role);
	assert_true(ch->steps[1].chained);
	assert_true(source_sso.flags & SOURCE_SESSION);
	/* The role's key names the SSO step below it. */
	assert_true(strncmp(ch->steps[1].key, ch->steps[0].key, strlen(ch->steps[0].key)) == 0);
	chain_unref(ch);
}

/* A profile's keys and its session's are merged: each may hold what the other lacks. */
static void sso_session_and_profile_values_merge(void **state)
{
	struct fx *fx = *state;
	const struct sso_where *w;
	struct chain *ch;

	put(fx->config, "[sso-session s]\nsso_start_url = https://s/start\n"
	                "[profile p]\nsso_session = s\nsso_region = ap-south-1\n"
	                "sso_start_url = https://s/start\nsso_account_id = 1\nsso_role_name = R\n");
	/* The token provider wants sso_region in the session itself (botocore's tokens.py). */
	{
		struct err_detail e;

		resolve_fails(fx, "p", KR_ERR_CONFIG, &e);
		assert_string_equal(e.msg, "The profile \"p\" is configured to use the SSO token "
		                           "provider but is missing the following configuration: "
		                           "['sso_region'].");
	}
	put(fx->config,
	    "[sso-session s]\nsso_start_url = https://s/start\nsso_region = ap-south-1\n"
	    "[profile p]\nsso_session = s\nsso_region = ap-south-1\n"
	    "sso_account_id = 1\nsso_role_name = R\n");
	ch = resolve_ok(fx, "p");
	w = where_of(ch);
	assert_string_equal(w->start_url, "https://s/start");
	assert_string_equal(w->region, "ap-south-1");
	chain_unref(ch);
}

static void sso_config_errors_are_botocores(void **state)
{
	struct fx *fx = *state;
	struct err_detail e;
	char want[128];

	put(fx->config,
	    "[sso-session corp]\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	    "[sso-session empty]\n"
	    "[profile miss]\nsso_role_name = r\n"
	    "[profile miss2]\nsso_session = corp\nsso_account_id = 1\n"
	    "[profile nosession]\nsso_session = nope\nsso_account_id = 1\n"
	    "[profile incons]\nsso_session = corp\nsso_account_id = 1\n"
	    "sso_role_name = r\nsso_region = us-east-2\n"
	    "[profile emptysession]\nsso_session = empty\nsso_account_id = 1\n"
	    "sso_role_name = r\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	    "[profile badregion]\nsso_start_url = https://c/start\nsso_region = eu west\n"
	    "sso_account_id = 1\nsso_role_name = r\n"
	    "[profile block]\nsso_start_url = https://c/start\nsso_region =\n"
	    "  x = y\nsso_account_id = 1\nsso_role_name = r\n");
	resolve_fails(fx, "miss", KR_ERR_CONFIG, &e);
	assert_string_equal(e.msg, "The profile \"miss\" is configured to use SSO but is missing "
	                           "required configuration: sso_account_id, sso_start_url, "
	                           "sso_region");
	assert_string_equal(e.file, fx->config);
	assert_int_equal(e.line, 5);
	resolve_fails(fx, "miss2", KR_ERR_CONFIG, &e);
	assert_string_equal(e.msg, "The profile \"miss2\" is configured to use SSO but is missing "
	                           "required configuration: sso_role_name");
	resolve_fails(fx, "nosession", KR_ERR_CONFIG, &e);
	assert_string_equal(e.msg, "The specified sso-session does not exist: \"nope\"");
	assert_int_equal(e.line, 11); /* the sso_session line */
	resolve_fails(fx, "incons", KR_ERR_CONFIG, &e);
	assert_string_equal(e.msg, "The value for sso_region is inconsistent between profile "
	                           "(us-east-2) and sso-session (eu-west-1).");
	assert_int_equal(e.line, 17); /* the profile's sso_region */
	resolve_fails(fx, "emptysession", KR_ERR_CONFIG, &e);
	assert_string_equal(e.msg,
	                    "The profile \"emptysession\" is configured to use the SSO token "
	                    "provider but the \"empty\" sso_session configuration does not "
	                    "exist.");
	resolve_fails(fx, "badregion", KR_ERR_CONFIG, &e);
	snprintf(want, sizeof(want), "Provided region_name '%s' doesn't match a supported format.",
	         "eu west");
	assert_string_equal(e.msg, want);
	assert_int_equal(e.line, 26); /* the sso_region line */
	resolve_fails(fx, "block", KR_ERR_CONFIG, &e);
	assert_non_null(strstr(e.msg, "sso_region is an indented block"));
}

/* botocore's provider order: IAM Identity Center before keys and credential_process. */
static void sso_comes_first_in_botocores_order(void **state)
{
	struct fx *fx = *state;
	struct chain *ch;

	put(fx->config, "[profile p]\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	                "sso_account_id = 1\nsso_role_name = r\ncredential_process = /bin/true\n"
	                "[profile q]\nsso_role_name = r\nsso_account_id = 2\n"
	                "sso_start_url = https://c/start\nsso_region = eu-west-1\n");
	put(fx->creds, "[q]\naws_access_key_id = AKIAEXAMPLE00001\naws_secret_access_key = x\n");
	ch = resolve_ok(fx, "p");
	assert_ptr_equal(ch->steps[0].ops, &source_sso);
	chain_unref(ch);
	ch = resolve_ok(fx, "q");
	assert_ptr_equal(ch->steps[0].ops, &source_sso);
	chain_unref(ch);
}

/* ---- endpoints: the requested profile's settings, botocore's rules ---- */

static void sso_endpoints_follow_the_requested_profile(void **state)
{
	struct fx *fx = *state;
	const struct sso_where *w;
	struct chain *ch;

	put(fx->config,
	    "[sso-session corp]\nsso_start_url = https://c/start\nsso_region = cn-north-1\n"
	    "[profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n"
	    "endpoint_url = http://dev-own:1\n"
	    "[profile top]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n"
	    "services = local\nca_bundle = /etc/top.pem\n"
	    "[profile ign]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n"
	    "services = local\nignore_configured_endpoint_urls = true\n"
	    "[services local]\nsso =\n  endpoint_url = http://portal:2\n"
	    "sso-oidc =\n  endpoint_url = http://not-this:3\n"
	    "sso_oidc =\n  endpoint_url = http://oidc:4\n"
	    "sts =\n  endpoint_url = http://sts:5\n");
	ch = resolve_ok(fx, "dev");
	w = where_of(ch);
	assert_string_equal(w->portal_url, "http://dev-own:1");
	assert_string_equal(w->oidc_url, "http://dev-own:1");
	chain_unref(ch);
	/* Under a role the clients are the requested profile's: its [services] block. */
	ch = resolve_ok(fx, "top");
	w = where_of(ch);
	assert_string_equal(w->portal_url, "http://portal:2");
	assert_string_equal(w->oidc_url, "http://oidc:4"); /* sso_oidc =, not sso-oidc = */
	assert_string_equal(w->ca_bundle, "/etc/top.pem");
	assert_string_equal(ch->endpoint, "http://sts:5");
	chain_unref(ch);
	ch = resolve_ok(fx, "ign");
	w = where_of(ch);
	assert_string_equal(w->portal_url, "https://portal.sso.cn-north-1.amazonaws.com.cn");
	assert_string_equal(w->oidc_url, "https://oidc.cn-north-1.amazonaws.com.cn");
	chain_unref(ch);
	/* The variables win over the files; [services] is not read then. */
	fx->env.endpoint_url_sso = "http://env-portal:6";
	fx->env.endpoint_url = "http://env-all:7";
	fx->env.ca_bundle = "/etc/env.pem";
	ch = resolve_ok(fx, "top");
	w = where_of(ch);
	assert_string_equal(w->portal_url, "http://env-portal:6");
	assert_string_equal(w->oidc_url, "http://env-all:7");
	assert_string_equal(w->ca_bundle, "/etc/env.pem");
	chain_unref(ch);
	fx->env.endpoint_url_sso_oidc = "http://env-oidc:8";
	fx->env.ignore_configured_endpoint_urls = "false"; /* the variable beats the profile's */
	ch = resolve_ok(fx, "ign");
	w = where_of(ch);
	assert_string_equal(w->oidc_url, "http://env-oidc:8");
	chain_unref(ch);
}

static void sso_endpoint_errors_name_the_profile(void **state)
{
	struct fx *fx = *state;
	struct err_detail e;

	put(fx->config, "[profile p]\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	                "sso_account_id = 1\nsso_role_name = r\nservices = nope\n"
	                "[profile q]\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	                "sso_account_id = 1\nsso_role_name = r\nservices = plain\n"
	                "[services plain]\nsso_oidc = http://x\n"
	                "[profile u]\nsso_start_url = https://c/start\nsso_region = eu-west-1\n"
	                "sso_account_id = 1\nsso_role_name = r\nendpoint_url = ftp://x\n");
	resolve_fails(fx, "p", KR_ERR_CONFIG, &e);
	assert_non_null(strstr(e.msg, "uses services \"nope\", which does not exist"));
	resolve_fails(fx, "q", KR_ERR_CONFIG, &e);
	assert_non_null(strstr(e.msg, "[services plain] has sso_oidc = a value"));
	resolve_fails(fx, "u", KR_ERR_CONFIG, &e);
	assert_non_null(strstr(e.msg, "profile \"u\": endpoint URL \"ftp://x\""));
	assert_string_equal(e.file, fx->config);
}

/* ---- the cache key ---- */

static const char key_cfg[] = "[sso-session %s]\n"
                              "sso_start_url = %s\n"
                              "sso_region = %s\n"
                              "sso_registration_scopes = %s\n"
                              "[profile p]\n"
                              "sso_session = %s\n"
                              "sso_account_id = %s\n"
                              "sso_role_name = %s\n"
                              "[profile r]\n"
                              "role_arn = arn:aws:iam::1:role/x\n"
                              "source_profile = p\n";

struct key_in {
	const char *session, *url, *region, *scopes, *account, *role, *portal, *oidc;
};

static char *key_for(struct fx *fx, const struct key_in *k, const char *profile)
{
	char cfg[1024];

	snprintf(cfg, sizeof(cfg), key_cfg, k->session, k->url, k->region, k->scopes, k->session,
	         k->account, k->role);
	put(fx->config, cfg);
	fx->env.endpoint_url_sso = k->portal;
	fx->env.endpoint_url_sso_oidc = k->oidc;
	return key_of(fx, profile);
}

static void sso_key_changes_with_each_input_alone(void **state)
{
	struct fx *fx = *state;
	const struct key_in base = {
	    "corp", "https://c/start", "eu-west-1", "a", "111111111111", "Dev", NULL, NULL};
	struct key_in k;
	char *b = key_for(fx, &base, "p"), *rb = key_for(fx, &base, "r"), *o;

	/* Each of these alone gives another key, for the source and for a role above it. */
	for (int i = 0; i < 5; i++) {
		k = base;
		if (i == 0)
			k.session = "other";
		else if (i == 1)
			k.url = "https://d/start";
		else if (i == 2)
			k.account = "999999999999";
		else if (i == 3)
			k.role = "Admin";
		else
			k.portal = "http://127.0.0.1:9";
		o = key_for(fx, &k, "p");
		if (strcmp(o, b) == 0)
			fail_msg("input %d does not change the key %s", i, b);
		free(o);
		o = key_for(fx, &k, "r");
		if (strcmp(o, rb) == 0)
			fail_msg("input %d does not change the role's key", i);
		free(o);
	}
	/* These do not change the role session the portal hands out. */
	for (int i = 0; i < 2; i++) {
		k = base;
		if (i == 0)
			k.scopes = "b,c";
		else
			k.oidc = "http://127.0.0.1:10";
		o = key_for(fx, &k, "p");
		assert_string_equal(o, b);
		free(o);
	}
	free(b);
	free(rb);
}

static void sso_key_never_holds_a_token(void **state)
{
	struct fx *fx = *state;
	const struct key_in base = {
	    "corp", "https://c/start", "eu-west-1", "a", "111111111111", "Dev", NULL, NULL};
	static const char *const dirs[] = {"/.aws/sso/cache", "/.aws/sso", "/.aws"};
	char path[256], *before, *after;

	before = key_for(fx, &base, "p");
	for (size_t i = sizeof(dirs) / sizeof(dirs[0]); i-- > 0;) {
		snprintf(path, sizeof(path), "%s%s", fx->dir, dirs[i]);
		mkdir(path, 0700);
	}
	snprintf(path, sizeof(path),
	         "%s/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json", fx->dir);
	put(path, "{\"startUrl\": \"https://c/start\", \"region\": \"eu-west-1\", "
	          "\"accessToken\": \"TOKENSECRET0123456789\", \"expiresAt\": "
	          "\"2099-01-01T00:00:00Z\", \"refreshToken\": \"REFRESHSECRET0123\", "
	          "\"clientId\": \"CID\", \"clientSecret\": \"CLIENTSECRET0123\"}");
	after = key_for(fx, &base, "p");
	assert_string_equal(before, after);
	assert_null(strstr(after, "SECRET"));
	assert_null(strstr(after, "CID"));
	free(before);
	free(after);
	unlink(path);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", fx->dir, dirs[i]);
		rmdir(path);
	}
}

/* ---- the session of a login, logout or `sso profiles` ---- */

static const char login_cfg[] =
    "[default]\nendpoint_url = http://default-ep:1\n"
    "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
    "sso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
    "[sso-session half]\nsso_start_url = https://half/start\n"
    "[profile token-only]\nsso_session = corp\n"
    "[profile dev-chain]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = Dev\n"
    "endpoint_url = http://dev-ep:2\n"
    "[profile dev]\ncredential_process = /usr/local/bin/keyrole get dev-chain\n"
    "[profile prod]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev-chain\n"
    "[profile prod-tool]\ncredential_process = keyrole get --no-autostart prod\n"
    "[profile old]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-east-1\n"
    "sso_account_id = 2\nsso_role_name = Admin\n"
    "[profile old2]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-west-2\n"
    "[profile oldhalf]\nsso_start_url = https://x/start\n"
    "[profile keys]\naws_access_key_id = AKIAEXAMPLE00001\naws_secret_access_key = s\n"
    "[profile loop-a]\ncredential_process = keyrole get loop-b\n"
    "[profile loop-b]\ncredential_process = keyrole get loop-a\n"
    "[profile nosession]\nsso_session = nope\n";

static int where_resolve(struct fx *fx, const char *profile, const char *session,
                         struct sso_where *w, struct err_detail *e)
{
	const struct pmap *m = load(fx);
	int r;

	memset(e, 0, sizeof(*e));
	r = sso_where_resolve(m, &fx->env, profile, session, w, e);
	pmap_release(m);
	return r;
}

static void sso_where_by_session_name(void **state)
{
	struct fx *fx = *state;
	struct sso_where w;
	struct err_detail e;

	put(fx->config, login_cfg);
	assert_int_equal(where_resolve(fx, NULL, "corp", &w, &e), 0);
	assert_string_equal(w.session, "corp");
	assert_string_equal(w.start_url, "https://corp.awsapps.com/start");
	assert_int_equal(w.n_scopes, 1);
	/* As `aws sso login --sso-session`: the clients of the default profile. */
	assert_string_equal(w.oidc_url, "http://default-ep:1");
	sso_where_clear(&w);
	/* A legacy session by its start URL: the first profile that has it. */
	assert_int_equal(where_resolve(fx, NULL, "https://old.awsapps.com/start", &w, &e), 0);
	assert_null(w.session);
	assert_string_equal(w.region, "us-east-1");
	assert_string_equal(w.profile, "old");
	assert_string_equal(w.cache_key, "33d5ca4bf3b1a62edb96b47f7c203034a43ac435");
	sso_where_clear(&w);
	assert_int_equal(where_resolve(fx, NULL, "nope", &w, &e), KR_ERR_CONFIG);
	assert_string_equal(e.msg, "The specified sso-session does not exist: \"nope\"");
	assert_null(w.start_url);
	assert_int_equal(where_resolve(fx, NULL, "half", &w, &e), KR_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "missing required configuration: sso_region"));
}

static void sso_where_by_profile(void **state)
{
	struct fx *fx = *state;
	struct sso_where w, copy;
	struct err_detail e;
	const char *to_corp[] = {"token-only", "dev-chain", "dev", "prod", "prod-tool"};

	put(fx->config, login_cfg);
	for (size_t i = 0; i < sizeof(to_corp) / sizeof(to_corp[0]); i++) {
		if (where_resolve(fx, to_corp[i], NULL, &w, &e) != 0)
			fail_msg("%s: %s", to_corp[i], e.msg);
		if (!w.session || strcmp(w.session, "corp") != 0)
			fail_msg("%s: session %s", to_corp[i], w.session ? w.session : "(none)");
		sso_where_clear(&w);
	}
	/* The profile's own endpoint settings for its clients. */
	assert_int_equal(where_resolve(fx, "dev-chain", NULL, &w, &e), 0);
	assert_string_equal(w.portal_url, "http://dev-ep:2");
	assert_int_equal(sso_where_copy(&copy, &w), 0);
	assert_string_equal(copy.portal_url, w.portal_url);
	assert_string_equal(copy.cache_key, w.cache_key);
	assert_string_equal(copy.scopes[0], "sso:account:access");
	assert_ptr_not_equal(copy.start_url, w.start_url);
	sso_where_clear(&w);
	sso_where_clear(&copy);
	assert_null(copy.start_url);
	assert_int_equal(where_resolve(fx, "old2", NULL, &w, &e), 0); /* a legacy profile */
	assert_null(w.session);
	assert_string_equal(w.region, "us-west-2");
	sso_where_clear(&w);

	assert_int_equal(where_resolve(fx, "keys", NULL, &w, &e), KR_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "does not use IAM Identity Center"));
	assert_true(e.fix[0] != '\0');
	assert_int_equal(where_resolve(fx, "oldhalf", NULL, &w, &e), KR_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "sso_region"));
	assert_int_equal(where_resolve(fx, "nosession", NULL, &w, &e), KR_ERR_CONFIG);
	assert_string_equal(e.msg, "The specified sso-session does not exist: \"nope\"");
	assert_int_equal(where_resolve(fx, "missing", NULL, &w, &e), KR_ERR_NOPROFILE);
	assert_int_equal(where_resolve(fx, "loop-a", NULL, &w, &e), KR_ERR_CONFIG);
	assert_int_equal(where_resolve(fx, "dev", "corp", &w, &e), KR_ERR_INVAL);
	assert_int_equal(where_resolve(fx, NULL, NULL, &w, &e), KR_ERR_INVAL);
}

/* ---- what check shows, and a login error on the wire ---- */

static void sso_check_and_login_error_on_the_wire(void **state)
{
	struct fx *fx = *state;
	struct check_reports *reps = NULL;
	struct reply r = {.op = OP_CHECK, .ok = 1};
	struct err_detail e;
	struct buf out;
	cJSON *msg, *step;

	put(fx->config, corp_cfg);
	assert_int_equal(check_profiles(&fx->env, "prod", NULL, &reps), 0);
	buf_init(&out, KR_RESP_MAX);
	r.u.check = reps;
	assert_int_equal(msg_encode_reply(&r, &out), 0);
	msg = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, out.len - KR_FRAME_HDR);
	assert_non_null(msg);
	step = cJSON_GetArrayItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "profiles"), 0),
	                        "steps"),
	    0);
	assert_string_equal(cJSON_GetObjectItem(step, "type")->valuestring, "sso");
	assert_string_equal(cJSON_GetObjectItem(step, "profile")->valuestring, "dev");
	assert_string_equal(cJSON_GetObjectItem(step, "sso_session")->valuestring, "corp");
	assert_string_equal(cJSON_GetObjectItem(step, "start_url")->valuestring,
	                    "https://corp.awsapps.com/start");
	assert_string_equal(cJSON_GetObjectItem(step, "region")->valuestring, "eu-west-1");
	assert_string_equal(cJSON_GetObjectItem(step, "account_id")->valuestring, "111111111111");
	assert_string_equal(cJSON_GetObjectItem(step, "role_name")->valuestring, "Developer");
	assert_string_equal(cJSON_GetObjectItem(step, "endpoint")->valuestring,
	                    "https://portal.sso.eu-west-1.amazonaws.com");
	cJSON_Delete(msg);
	check_reports_free(reps);

	err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login corp", "needs a login");
	r = (struct reply){.ok = 0,
	                   .u.error = {.e = &e,
	                               .profile = "dev",
	                               .sso_session = "corp",
	                               .sso_start_url = "https://corp.awsapps.com/start"}};
	buf_reset(&out);
	assert_int_equal(msg_encode_reply(&r, &out), 0);
	msg = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, out.len - KR_FRAME_HDR);
	assert_non_null(msg);
	assert_string_equal(cJSON_GetObjectItem(msg, "error")->valuestring, "login");
	assert_string_equal(cJSON_GetObjectItem(msg, "sso_session")->valuestring, "corp");
	assert_string_equal(cJSON_GetObjectItem(msg, "sso_start_url")->valuestring,
	                    "https://corp.awsapps.com/start");
	cJSON_Delete(msg);
	buf_free(&out);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(sso_session_sections_are_named_like_profiles),
	    T(sso_session_sdk_parser_cases),
	    T(sso_endpoint_settings_are_read_per_service),
	    T(sso_source_of_an_sso_session_profile),
	    T(sso_source_of_a_legacy_profile),
	    T(sso_source_under_a_role_is_role_chaining),
	    T(sso_session_and_profile_values_merge),
	    T(sso_config_errors_are_botocores),
	    T(sso_comes_first_in_botocores_order),
	    T(sso_endpoints_follow_the_requested_profile),
	    T(sso_endpoint_errors_name_the_profile),
	    T(sso_key_changes_with_each_input_alone),
	    T(sso_key_never_holds_a_token),
	    T(sso_where_by_session_name),
	    T(sso_where_by_profile),
	    T(sso_check_and_login_error_on_the_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
