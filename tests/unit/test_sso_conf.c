/*
 * IAM Identity Center configuration: daemon/pmap.c's [sso-session NAME]
 * sections and the endpoint settings of the portal and OIDC (endpoint.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "endpoint.h"
#include "err.h"
#include "ini.h"
#include "pmap.h"

#include "../lib/cfg_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(sso_session_sections_are_named_like_profiles),
	    T(sso_session_sdk_parser_cases),
	    T(sso_endpoint_settings_are_read_per_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
