/* Endpoint precedence (daemon/endpoint.c) for STS, the IAM Identity Center portal and OIDC, as
 * tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "endpoint.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

struct row {
	const char *name;
	struct endpoint_in in;
	int want_r;
	const char *url, *sign;
};

static const struct row rows[] = {
    {"no region is global", {0}, 0, "https://sts.amazonaws.com", "us-east-1"},
    {"regional by default",
     {.region = "eu-west-1"},
     0,
     "https://sts.eu-west-1.amazonaws.com",
     "eu-west-1"},
    {"explicit regional",
     {.region = "us-east-1", .sts_regional_endpoints = "regional"},
     0,
     "https://sts.us-east-1.amazonaws.com",
     "us-east-1"},
    {"legacy + legacy region is global",
     {.region = "eu-west-1", .sts_regional_endpoints = "legacy"},
     0,
     "https://sts.amazonaws.com",
     "us-east-1"},
    {"legacy + newer region stays regional",
     {.region = "me-south-1", .sts_regional_endpoints = "legacy"},
     0,
     "https://sts.me-south-1.amazonaws.com",
     "me-south-1"},
    {"empty sts_regional_endpoints is regional",
     {.region = "eu-west-1", .sts_regional_endpoints = ""},
     0,
     "https://sts.eu-west-1.amazonaws.com",
     "eu-west-1"},
    {"aws-global is global", {.region = "aws-global"}, 0, "https://sts.amazonaws.com", "us-east-1"},
    {"china partition",
     {.region = "cn-north-1"},
     0,
     "https://sts.cn-north-1.amazonaws.com.cn",
     "cn-north-1"},
    {"china + legacy stays regional",
     {.region = "cn-northwest-1", .sts_regional_endpoints = "legacy"},
     0,
     "https://sts.cn-northwest-1.amazonaws.com.cn",
     "cn-northwest-1"},
    {"iso partition",
     {.region = "us-iso-east-1"},
     0,
     "https://sts.us-iso-east-1.c2s.ic.gov",
     "us-iso-east-1"},
    {"cn-foo is no china region (aws)",
     {.region = "cn-foo"},
     0,
     "https://sts.cn-foo.amazonaws.com",
     "cn-foo"},
    {"eusc partition",
     {.region = "eusc-de-east-1"},
     0,
     "https://sts.eusc-de-east-1.amazonaws.eu",
     "eusc-de-east-1"},
    {"eu-isof is no partition (aws)",
     {.region = "eu-isof-south-1"},
     0,
     "https://sts.eu-isof-south-1.amazonaws.com",
     "eu-isof-south-1"},
    {"aws-cn-global is china's by name",
     {.region = "aws-cn-global"},
     0,
     "https://sts.aws-cn-global.amazonaws.com.cn",
     "aws-cn-global"},
    {"fips",
     {.region = "us-east-1", .use_fips = "TRUE"},
     0,
     "https://sts-fips.us-east-1.amazonaws.com",
     "us-east-1"},
    {"fips beats legacy global",
     {.region = "us-east-1", .use_fips = "true", .sts_regional_endpoints = "legacy"},
     0,
     "https://sts-fips.us-east-1.amazonaws.com",
     "us-east-1"},
    {"fips pseudo region",
     {.region = "fips-us-east-2"},
     0,
     "https://sts-fips.us-east-2.amazonaws.com",
     "us-east-2"},
    {"fips in govcloud keeps the host",
     {.region = "us-gov-west-1", .use_fips = "true"},
     0,
     "https://sts.us-gov-west-1.amazonaws.com",
     "us-gov-west-1"},
    {"dualstack",
     {.region = "eu-west-1", .use_dualstack = "true"},
     0,
     "https://sts.eu-west-1.api.aws",
     "eu-west-1"},
    {"fips + dualstack in china",
     {.region = "cn-north-1", .use_fips = "true", .use_dualstack = "true"},
     0,
     "https://sts-fips.cn-north-1.api.amazonwebservices.com.cn",
     "cn-north-1"},
    {"dualstack in iso",
     {.region = "us-iso-east-1", .use_dualstack = "true"},
     0,
     "https://sts.us-iso-east-1.api.aws.ic.gov",
     "us-iso-east-1"},
    {"no dualstack in iso-f",
     {.region = "us-isof-south-1", .use_dualstack = "true"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
    {"no region + fips is aws-global's",
     {.use_fips = "true"},
     0,
     "https://sts-fips.aws-global.amazonaws.com",
     "us-east-1"},
    {"fips ignored with a configured url",
     {.region = "eu-west-1", .use_fips = "true", .profile_endpoint_url = "http://d:4"},
     0,
     "http://d:4",
     "eu-west-1"},
    {"fips = 1 is not true",
     {.region = "eu-west-1", .use_fips = "1"},
     0,
     "https://sts.eu-west-1.amazonaws.com",
     "eu-west-1"},
    {"empty region fails", {.region = ""}, KR_ERR_CONFIG, NULL, NULL},
    {"digits are no region", {.region = "12345"}, KR_ERR_CONFIG, NULL, NULL},
    {"underscore in the host",
     {.region = "eu-west-1", .profile_endpoint_url = "http://sts_local:5000"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
    {"ipv6 host",
     {.region = "eu-west-1", .profile_endpoint_url = "http://[::1]:5000/"},
     0,
     "http://[::1]:5000/",
     "eu-west-1"},
    {"env sts url wins over everything",
     {.region = "eu-west-1",
      .env_endpoint_url_sts = "http://a:1",
      .env_endpoint_url = "http://b:2",
      .services_sts_url = "http://c:3",
      .profile_endpoint_url = "http://d:4"},
     0,
     "http://a:1",
     "eu-west-1"},
    {"env global url next",
     {.region = "eu-west-1",
      .env_endpoint_url = "http://b:2",
      .services_sts_url = "http://c:3",
      .profile_endpoint_url = "http://d:4"},
     0,
     "http://b:2",
     "eu-west-1"},
    {"services section next",
     {.region = "eu-west-1",
      .services_sts_url = "http://c:3",
      .profile_endpoint_url = "http://d:4"},
     0,
     "http://c:3",
     "eu-west-1"},
    {"profile endpoint_url last",
     {.region = "eu-west-1", .profile_endpoint_url = "http://d:4"},
     0,
     "http://d:4",
     "eu-west-1"},
    {"empty env url falls through",
     {.region = "eu-west-1", .env_endpoint_url_sts = "", .profile_endpoint_url = "http://d:4"},
     0,
     "http://d:4",
     "eu-west-1"},
    {"ignore configured urls (any case)",
     {.region = "eu-west-1",
      .env_endpoint_url_sts = "http://a:1",
      .profile_endpoint_url = "http://d:4",
      .ignore_configured = "TRUE"},
     0,
     "https://sts.eu-west-1.amazonaws.com",
     "eu-west-1"},
    {"ignore = yes is not true",
     {.region = "eu-west-1", .profile_endpoint_url = "http://d:4", .ignore_configured = "yes"},
     0,
     "http://d:4",
     "eu-west-1"},
    {"configured url without region signs us-east-1",
     {.profile_endpoint_url = "https://x"},
     0,
     "https://x",
     "us-east-1"},
    {"configured url skips sts_regional_endpoints check",
     {.region = "eu-west-1", .profile_endpoint_url = "http://d:4", .sts_regional_endpoints = "bad"},
     0,
     "http://d:4",
     "eu-west-1"},
    {"scheme in capitals is lowered",
     {.region = "eu-west-1", .env_endpoint_url_sts = "HTTPS://Sts.Example.COM:8443/Path"},
     0,
     "https://Sts.Example.COM:8443/Path",
     "eu-west-1"},
    {"mixed-case http scheme from the services section",
     {.region = "eu-west-1", .services_sts_url = "Http://c:3"},
     0,
     "http://c:3",
     "eu-west-1"},
    {"mixed-case scheme in the profile's endpoint_url",
     {.profile_endpoint_url = "hTTp://d:4"},
     0,
     "http://d:4",
     "us-east-1"},
    {"invalid sts_regional_endpoints",
     {.region = "eu-west-1", .sts_regional_endpoints = "Legacy"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
    {"invalid region", {.region = "eu_west_1"}, KR_ERR_CONFIG, NULL, NULL},
    {"region with leading dash", {.region = "-eu"}, KR_ERR_CONFIG, NULL, NULL},
    {"url without scheme",
     {.region = "eu-west-1", .profile_endpoint_url = "localhost:5000"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
    {"url with space",
     {.region = "eu-west-1", .profile_endpoint_url = "http://a b"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
    {"url with empty host",
     {.region = "eu-west-1", .profile_endpoint_url = "http:///x"},
     KR_ERR_CONFIG,
     NULL,
     NULL},
};

static void endpoint_precedence_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *url = NULL, *sign = NULL;
		struct err_detail err = {0};
		int r = endpoint_resolve(&rows[i].in, &url, &sign, &err);

		if (r != rows[i].want_r)
			fail_msg("%s: r=%d want %d (%s)", rows[i].name, r, rows[i].want_r, err.msg);
		if (r == 0) {
			if (strcmp(url, rows[i].url) != 0 || strcmp(sign, rows[i].sign) != 0)
				fail_msg("%s: got %s / %s", rows[i].name, url, sign);
		} else {
			assert_null(url);
			assert_true(err.msg[0] != '\0');
			assert_int_equal(err.code, KR_ERR_CONFIG);
		}
		free(url);
		free(sign);
	}
}

struct prow {
	const char *name, *url;
	struct endpoint_proxy_env env;
	const char *proxy, *no_proxy; /* NULL NULL: the daemon's own environment */
};

static const struct prow prows[] = {
    {"no variables: the daemon's environment", "https://sts.amazonaws.com", {0}, NULL, NULL},
    {"https_proxy for https", "https://h", {.https_proxy = "http://p:1"}, "http://p:1", ""},
    {"HTTPS_PROXY for https", "https://h", {.https_proxy_uc = "http://P:1"}, "http://P:1", ""},
    {"lower case wins",
     "https://h",
     {.https_proxy = "http://a:1", .https_proxy_uc = "http://b:2"},
     "http://a:1",
     ""},
    {"empty lower case is unset",
     "https://h",
     {.https_proxy = "", .https_proxy_uc = "http://b:2"},
     "http://b:2",
     ""},
    {"https_proxy is not for http", "http://h", {.https_proxy = "http://p:1"}, "", ""},
    {"http_proxy for http", "http://h", {.http_proxy = "http://p:1"}, "http://p:1", ""},
    {"HTTP_PROXY is ignored (CGI)", "http://h", {.http_proxy_uc = "http://p:1"}, "", ""},
    {"http_proxy is not for https", "https://h", {.http_proxy = "http://p:1"}, "", ""},
    {"all_proxy when no scheme proxy",
     "http://h",
     {.all_proxy = "http://a:1", .all_proxy_uc = "http://b:2"},
     "http://a:1",
     ""},
    {"ALL_PROXY", "https://h", {.all_proxy_uc = "socks5://b:2"}, "socks5://b:2", ""},
    {"scheme proxy beats all_proxy",
     "https://h",
     {.https_proxy_uc = "http://s:1", .all_proxy = "http://a:1"},
     "http://s:1",
     ""},
    {"no_proxy, lower case first",
     "https://h",
     {.https_proxy = "http://p:1", .no_proxy = "127.0.0.1", .no_proxy_uc = "x"},
     "http://p:1",
     "127.0.0.1"},
    {"NO_PROXY",
     "https://h",
     {.https_proxy = "http://p:1", .no_proxy_uc = ".corp"},
     "http://p:1",
     ".corp"},
    {"only NO_PROXY: the caller's view has no proxy", "https://h", {.no_proxy_uc = "x"}, "", "x"},
    {"an empty variable still replaces the daemon's set", "https://h", {.https_proxy = ""}, "", ""},
};

static void endpoint_proxy_follows_libcurls_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(prows) / sizeof(prows[0]); i++) {
		char *p = (char *)"x", *np = (char *)"x";

		assert_int_equal(endpoint_proxy(prows[i].url, &prows[i].env, &p, &np), 0);
		if (!prows[i].proxy) {
			if (p || np)
				fail_msg("%s: got %s / %s", prows[i].name, p, np);
			continue;
		}
		if (!p || !np || strcmp(p, prows[i].proxy) != 0 ||
		    strcmp(np, prows[i].no_proxy) != 0)
			fail_msg("%s: got %s / %s", prows[i].name, p ? p : "(null)",
			         np ? np : "(null)");
		free(p);
		free(np);
	}
}

static void endpoint_rejects_null_arguments(void **state)
{
	char *u, *s;

	(void)state;
	assert_int_equal(endpoint_resolve(NULL, &u, &s, NULL), KR_ERR_INVAL);
}

static void endpoint_region_names(void **state)
{
	(void)state;
	assert_true(endpoint_region_valid("us-east-1"));
	assert_true(endpoint_region_valid("a"));
	assert_false(endpoint_region_valid(""));
	assert_false(endpoint_region_valid("eu-"));
	assert_false(endpoint_region_valid("eu.west"));
	assert_false(endpoint_region_valid("12345"));
	assert_true(endpoint_region_valid("1a"));
	assert_false(endpoint_region_valid(
	    "a123456789012345678901234567890123456789012345678901234567890123"));
}

/* The IAM Identity Center portal (sso) and OIDC (sso-oidc): the same rules, other defaults. */
struct srow {
	const char *name;
	enum endpoint_service svc;
	const char *region;
	struct endpoint_conf conf;
	int want_r;
	const char *url;
};

static const struct srow srows[] = {
    {"portal by default",
     ENDPOINT_SSO,
     "eu-west-1",
     {0},
     0,
     "https://portal.sso.eu-west-1.amazonaws.com"},
    {"oidc by default",
     ENDPOINT_SSO_OIDC,
     "eu-west-1",
     {0},
     0,
     "https://oidc.eu-west-1.amazonaws.com"},
    {"portal in china",
     ENDPOINT_SSO,
     "cn-north-1",
     {0},
     0,
     "https://portal.sso.cn-north-1.amazonaws.com.cn"},
    {"oidc in china",
     ENDPOINT_SSO_OIDC,
     "cn-northwest-1",
     {0},
     0,
     "https://oidc.cn-northwest-1.amazonaws.com.cn"},
    {"portal in govcloud",
     ENDPOINT_SSO,
     "us-gov-west-1",
     {0},
     0,
     "https://portal.sso.us-gov-west-1.amazonaws.com"},
    {"oidc in iso-b",
     ENDPOINT_SSO_OIDC,
     "us-isob-east-1",
     {0},
     0,
     "https://oidc.us-isob-east-1.sc2s.sgov.gov"},
    {"portal in iso-e",
     ENDPOINT_SSO,
     "eu-isoe-west-1",
     {0},
     0,
     "https://portal.sso.eu-isoe-west-1.cloud.adc-e.uk"},
    {"portal fips",
     ENDPOINT_SSO,
     "eu-west-1",
     {.use_fips = "true"},
     0,
     "https://portal.sso-fips.eu-west-1.amazonaws.com"},
    {"oidc fips + dualstack",
     ENDPOINT_SSO_OIDC,
     "eusc-de-east-1",
     {.use_fips = "true", .use_dualstack = "true"},
     0,
     "https://oidc-fips.eusc-de-east-1.api.amazonwebservices.eu"},
    {"oidc fips in govcloud",
     ENDPOINT_SSO_OIDC,
     "us-gov-east-1",
     {.use_fips = "true"},
     0,
     "https://oidc.us-gov-east-1.amazonaws.com"},
    {"no portal dualstack in iso-e",
     ENDPOINT_SSO,
     "eu-isoe-west-1",
     {.use_dualstack = "true"},
     KR_ERR_CONFIG,
     NULL},
    {"no legacy global endpoint for sso",
     ENDPOINT_SSO,
     "aws-global",
     {0},
     0,
     "https://portal.sso.aws-global.amazonaws.com"},
    {"service variable wins",
     ENDPOINT_SSO,
     "eu-west-1",
     {.env_service = "http://a:1",
      .env_global = "http://b:2",
      .services_url = "http://c:3",
      .profile_url = "http://d:4"},
     0,
     "http://a:1"},
    {"then AWS_ENDPOINT_URL",
     ENDPOINT_SSO_OIDC,
     "eu-west-1",
     {.env_global = "http://b:2", .services_url = "http://c:3", .profile_url = "http://d:4"},
     0,
     "http://b:2"},
    {"then the services block",
     ENDPOINT_SSO,
     "eu-west-1",
     {.services_url = "http://c:3", .profile_url = "http://d:4"},
     0,
     "http://c:3"},
    {"then the profile's endpoint_url",
     ENDPOINT_SSO_OIDC,
     "eu-west-1",
     {.profile_url = "http://d:4"},
     0,
     "http://d:4"},
    {"empty values are skipped",
     ENDPOINT_SSO,
     "eu-west-1",
     {.env_service = "", .env_global = "", .profile_url = "http://d:4"},
     0,
     "http://d:4"},
    {"ignore switches every override off",
     ENDPOINT_SSO,
     "eu-west-1",
     {.env_service = "http://a:1", .profile_url = "http://d:4", .ignore = "TRUE"},
     0,
     "https://portal.sso.eu-west-1.amazonaws.com"},
    {"ignore = false keeps them",
     ENDPOINT_SSO_OIDC,
     "eu-west-1",
     {.env_service = "http://a:1", .ignore = "false"},
     0,
     "http://a:1"},
    {"scheme lowered",
     ENDPOINT_SSO,
     "eu-west-1",
     {.env_service = "HTTPS://x:1/p"},
     0,
     "https://x:1/p"},
    {"bad URL", ENDPOINT_SSO, "eu-west-1", {.env_service = "ftp://x"}, KR_ERR_CONFIG, NULL},
    {"bad region", ENDPOINT_SSO, "eu west", {0}, KR_ERR_CONFIG, NULL},
    {"bad region even with a URL",
     ENDPOINT_SSO_OIDC,
     "eu/west",
     {.env_service = "http://a:1"},
     KR_ERR_CONFIG,
     NULL},
    {"no region", ENDPOINT_SSO, NULL, {0}, KR_ERR_CONFIG, NULL},
    {"empty region", ENDPOINT_SSO_OIDC, "", {0}, KR_ERR_CONFIG, NULL},
};

static void endpoint_sso_and_oidc_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(srows) / sizeof(srows[0]); i++) {
		const struct srow *t = &srows[i];
		struct err_detail e;
		char *url = NULL;
		int r;

		memset(&e, 0, sizeof(e));
		r = endpoint_service_url(t->svc, t->region, &t->conf, &url, &e);
		if (r != t->want_r)
			fail_msg("%s: r=%d want %d (%s)", t->name, r, t->want_r, e.msg);
		if (r == 0 && strcmp(url, t->url) != 0)
			fail_msg("%s: got %s want %s", t->name, url, t->url);
		if (r != 0 && (!e.msg[0] || !e.fix[0]))
			fail_msg("%s: an error without message or fix", t->name);
		free(url);
	}
}

static void endpoint_service_url_is_not_for_sts(void **state)
{
	struct endpoint_conf c = {0};
	char *url = NULL;

	(void)state;
	assert_int_equal(endpoint_service_url(ENDPOINT_STS, "eu-west-1", &c, &url, NULL),
	                 KR_ERR_INVAL);
	assert_null(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(endpoint_precedence_table),
	    cmocka_unit_test(endpoint_proxy_follows_libcurls_rules),
	    cmocka_unit_test(endpoint_rejects_null_arguments),
	    cmocka_unit_test(endpoint_region_names),
	    cmocka_unit_test(endpoint_sso_and_oidc_table),
	    cmocka_unit_test(endpoint_service_url_is_not_for_sts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
