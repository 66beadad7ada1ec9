/*
 * daemon/console.c: the partition table (federation endpoint and console
 * home of a region), the URLs keyrole console builds, GetFederationToken's
 * Name and body, the federation endpoint's answer, and the wire's
 * "destination" and "duration" of op "console".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "console.h"
#include "err.h"
#include "mem.h"
#include "msg.h"
#include "sts_req.h"

#include <stdlib.h>
#include <string.h>

static void federation_endpoint_is_the_regions_partitions(void **state)
{
	assert_string_equal(console_federation_default("us-east-1"),
	                    "https://signin.aws.amazon.com/federation");
	assert_string_equal(console_federation_default("eu-west-1"),
	                    "https://signin.aws.amazon.com/federation");
	assert_string_equal(console_federation_default(NULL),
	                    "https://signin.aws.amazon.com/federation");
	assert_string_equal(console_federation_default("us-gov-west-1"),
	                    "https://signin.amazonaws-us-gov.com/federation");
	assert_string_equal(console_federation_default("cn-north-1"),
	                    "https://signin.amazonaws.cn/federation");
	assert_string_equal(console_federation_default("cn-northwest-1"),
	                    "https://signin.amazonaws.cn/federation");
	assert_null(console_federation_default("us-iso-east-1"));
	assert_null(console_federation_default("us-isob-east-1"));
	assert_null(console_federation_default("eu-isoe-west-1"));
}

static void destination_is_the_regions_console_home(void **state)
{
	static const struct {
		const char *region, *want;
	} cases[] = {
	    {"eu-west-1", "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"},
	    {"us-gov-east-1", "https://us-gov-east-1.console.amazonaws-us-gov.com/console/"
	                      "home?region=us-gov-east-1"},
	    {"cn-north-1",
	     "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1"},
	    {NULL, "https://console.aws.amazon.com/console/home"},
	};
	struct err_detail e;
	char *d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(console_destination_default(cases[i].region, &d, &e), KR_OK);
		assert_string_equal(d, cases[i].want);
		free(d);
	}
	memset(&e, 0, sizeof(e));
	assert_int_equal(console_destination_default("us-iso-east-1", &d, &e), KR_ERR_CONFIG);
	assert_null(d);
	assert_non_null(strstr(e.fix, "--destination"));
	assert_int_equal(console_destination_default("bad region", &d, &e), KR_ERR_CONFIG);
}

static void urls_must_be_http_with_a_host(void **state)
{
	assert_true(console_url_ok("https://signin.aws.amazon.com/federation", 1));
	assert_true(console_url_ok("http://127.0.0.1:8080/federation", 1));
	assert_true(console_url_ok("https://x.example/s3/home?region=eu-west-1#a", 0));
	assert_false(console_url_ok("https://x.example/f?x=1", 1)); /* we append ?Action= */
	assert_false(console_url_ok("https://x.example/f#frag", 1));
	assert_false(console_url_ok("file:///etc/passwd", 0));
	assert_false(console_url_ok("javascript:alert(1)", 0));
	assert_false(console_url_ok("https://", 0));
	assert_false(console_url_ok("https:///path", 0));
	assert_false(console_url_ok("https://user@evil.example/", 0));
	assert_false(console_url_ok("https://x.example/a b", 0));
	assert_false(console_url_ok("https://x.example/\n", 0));
	assert_false(console_url_ok(NULL, 0));
}

static void federation_name_follows_sts_rules(void **state)
{
	char n[KR_CONSOLE_NAME_MAX + 1];

	console_federation_name("prod", n);
	assert_string_equal(n, "keyrole-prod");
	console_federation_name("a b/c:d", n);
	assert_string_equal(n, "keyrole-a-b-c-d");
	console_federation_name("x=1,y.z@w+v_u", n);
	assert_string_equal(n, "keyrole-x=1,y.z@w+v_u");
	console_federation_name("a-very-long-profile-name-that-goes-on", n);
	assert_int_equal(strlen(n), KR_CONSOLE_NAME_MAX);
	assert_string_equal(n, "keyrole-a-very-long-profile-name");
}

static void signin_token_url_carries_the_session_json(void **state)
{
	struct sts_creds c = {.access_key_id = (char *)"ASIAEXAMPLE",
	                      .secret_access_key = (char *)"se/cr+et",
	                      .session_token = (char *)"to\"ken"};
	struct buf b;

	buf_init_secret(&b, KR_HTTP_URL_MAX);
	assert_int_equal(console_signin_token_url("https://f.example/federation", &c, 0, &b),
	                 KR_OK);
	assert_string_equal(
	    b.data, "https://f.example/federation?Action=getSigninToken&Session="
	            "%7B%22sessionId%22%3A%22ASIAEXAMPLE%22%2C%22sessionKey%22%3A%22se%2Fcr%2B"
	            "et%22%2C%22sessionToken%22%3A%22to%5C%22ken%22%7D");
	buf_reset(&b);
	assert_int_equal(console_signin_token_url("http://h/f", &c, 1800, &b), KR_OK);
	assert_non_null(strstr(b.data, "?Action=getSigninToken&SessionDuration=1800&Session=%7B"));
	buf_reset(&b);
	c.session_token = NULL; /* long-term keys are never sent */
	assert_int_equal(console_signin_token_url("http://h/f", &c, 0, &b), KR_ERR_INVAL);
	buf_free(&b);
}

static void login_url_encodes_destination_and_token(void **state)
{
	struct buf b;

	buf_init_secret(&b, KR_CONSOLE_URL_MAX);
	assert_int_equal(console_login_url("https://signin.aws.amazon.com/federation",
	                                   "https://eu-west-1.console.aws.amazon.com/console/"
	                                   "home?region=eu-west-1",
	                                   "tok+en/=", &b),
	                 KR_OK);
	assert_string_equal(b.data,
	                    "https://signin.aws.amazon.com/federation?Action=login&Issuer="
	                    "keyrole&Destination=https%3A%2F%2Feu-west-1.console.aws.amazon."
	                    "com%2Fconsole%2Fhome%3Fregion%3Deu-west-1&SigninToken=tok%2Ben%"
	                    "2F%3D");
	buf_free(&b);
}

static void signin_answer_is_parsed_and_bounded(void **state)
{
	static const char ok[] = "{\"SigninToken\":\"abc-DEF_123\"}";
	struct err_detail e;
	char *t = NULL, *big;

	memset(&e, 0, sizeof(e));
	assert_int_equal(console_parse_signin(ok, strlen(ok), &t, &e), KR_OK);
	assert_string_equal(t, "abc-DEF_123");
	mem_free_str(t);
	assert_int_equal(console_parse_signin("{\"x\":1}", 7, &t, &e), KR_ERR_PARSE);
	assert_null(t);
	assert_int_equal(console_parse_signin("<html>secret</html>", 19, &t, &e), KR_ERR_PARSE);
	assert_null(strstr(e.msg, "secret")); /* the body is never quoted */
	assert_int_equal(console_parse_signin("{\"SigninToken\":\"a b\"}", 21, &t, &e),
	                 KR_ERR_PARSE);
	assert_int_equal(console_parse_signin("{\"SigninToken\":\"\"}", 18, &t, &e), KR_ERR_PARSE);
	big = malloc(KR_CONSOLE_RESP_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', KR_CONSOLE_RESP_MAX + 1);
	memcpy(big, "{\"SigninToken\":\"", 16);
	memcpy(big + KR_CONSOLE_RESP_MAX - 1, "\"}", 2); /* valid JSON, one byte over */
	assert_int_equal(console_parse_signin(big, KR_CONSOLE_RESP_MAX + 1, &t, &e), KR_ERR_PARSE);
	memcpy(big + KR_CONSOLE_RESP_MAX - 2, "\"}", 2); /* valid JSON at the cap */
	assert_int_equal(console_parse_signin(big, KR_CONSOLE_RESP_MAX, &t, &e), KR_OK);
	assert_int_equal(strlen(t), KR_CONSOLE_RESP_MAX - 18);
	mem_free_str(t);
	free(big);
}

static void federation_token_body_has_name_policy_duration(void **state)
{
	struct sts_params p = {.op = STS_GET_FEDERATION_TOKEN,
	                       .session_name = "keyrole-dev",
	                       .policy = console_default_policy,
	                       .duration = 3600};
	struct buf b;

	buf_init(&b, KR_STS_BODY_MAX);
	assert_int_equal(sts_req_body(&p, &b), KR_OK);
	assert_string_equal(
	    b.data, "Action=GetFederationToken&Version=2011-06-15&Name=keyrole-dev&Policy="
	            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect"
	            "%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%"
	            "22%7D%5D%7D&DurationSeconds=3600");
	buf_reset(&b);
	p.session_name = NULL; /* Name is required */
	assert_int_equal(sts_req_body(&p, &b), KR_ERR_INVAL);
	buf_free(&b);
	assert_string_equal(sts_op_name(STS_GET_FEDERATION_TOKEN), "GetFederationToken");
}

static void wire_takes_destination_and_duration(void **state)
{
	static const char good[] = "{\"v\":1,\"op\":\"console\",\"profile\":\"p\","
	                           "\"destination\":\"https://x/\",\"duration\":1800,"
	                           "\"env\":{\"KEYROLE_FEDERATION_URL\":\"http://127.0.0.1:1/f\"}}";
	static const char *const bad[] = {
	    "{\"v\":1,\"op\":\"console\",\"duration\":-5}",
	    "{\"v\":1,\"op\":\"console\",\"duration\":1.5}",
	    "{\"v\":1,\"op\":\"console\",\"duration\":\"900\"}",
	    "{\"v\":1,\"op\":\"console\",\"duration\":99999999999999999999}",
	};
	struct request r;
	struct err_detail e;

	assert_int_equal(msg_decode_request(good, strlen(good), &r, &e), KR_OK);
	assert_int_equal(r.op, OP_CONSOLE);
	assert_string_equal(r.destination, "https://x/");
	assert_int_equal(r.duration, 1800);
	assert_string_equal(r.env.federation_url, "http://127.0.0.1:1/f");
	request_free(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(msg_decode_request(bad[i], strlen(bad[i]), &r, &e), KR_OK);
		assert_int_equal(r.duration, -1); /* refused by the op */
		request_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(federation_endpoint_is_the_regions_partitions),
	    cmocka_unit_test(destination_is_the_regions_console_home),
	    cmocka_unit_test(urls_must_be_http_with_a_host),
	    cmocka_unit_test(federation_name_follows_sts_rules),
	    cmocka_unit_test(signin_token_url_carries_the_session_json),
	    cmocka_unit_test(login_url_encodes_destination_and_token),
	    cmocka_unit_test(signin_answer_is_parsed_and_bounded),
	    cmocka_unit_test(federation_token_body_has_name_policy_duration),
	    cmocka_unit_test(wire_takes_destination_and_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
