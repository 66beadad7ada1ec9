/*
 * daemon/sts_req.c: form bodies byte for byte (what moto re-encodes and
 * AWS hashes), endpoint splitting, retry classification, hints, and the
 * err_detail a failed call is described with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "sts_req.h"

#include <stdlib.h>
#include <string.h>

static char *encode(const char *s, size_t n)
{
	struct buf b;
	char *r;

	buf_init(&b, 1 << 16);
	assert_int_equal(sts_req_urlencode(&b, s, n), KR_OK);
	r = buf_steal(&b, NULL);
	assert_non_null(r);
	return r;
}

static char *body_of(const struct sts_params *p, int expect)
{
	struct buf b;
	char *r = NULL;

	buf_init(&b, KR_STS_BODY_MAX);
	assert_int_equal(sts_req_body(p, &b), expect);
	if (expect == KR_OK) {
		r = buf_steal(&b, NULL);
		assert_non_null(r);
	}
	buf_free(&b);
	return r;
}

static void urlencode_escapes_everything_but_unreserved(void **state)
{
	char *e = encode("AZaz09-_.~", 10);

	assert_string_equal(e, "AZaz09-_.~");
	free(e);
	/* Space is %20, never '+'; '+' itself is %2B; hex is uppercase. */
	e = encode(":/=+ ~,@&?#%", 12);
	assert_string_equal(e, "%3A%2F%3D%2B%20~%2C%40%26%3F%23%25");
	free(e);
	/* Non-ASCII UTF-8 and raw high/control bytes, byte by byte. */
	e = encode("\xc3\xa9\xe2\x82\xac\x01\xff", 7);
	assert_string_equal(e, "%C3%A9%E2%82%AC%01%FF");
	free(e);
	/* Embedded NUL is data too when a length is given. */
	e = encode("a\0b", 3);
	assert_string_equal(e, "a%00b");
	free(e);
}

static void assume_role_body_matches_python_urlencode(void **state)
{
	struct sts_params p = {
	    .op = STS_ASSUME_ROLE,
	    .role_arn = "arn:aws:iam::123456789012:role/team/ops/name",
	    .session_name = "a=b,c@d.e-f_g",
	    .external_id = "x:/=+~y",
	};
	char *b = body_of(&p, KR_OK);

	/* Python: urlencode({'Action':..., 'Version':..., 'RoleArn':..., ...}) */
	assert_string_equal(b, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%"
	                       "3A123456789012%3Arole%2Fteam%2Fops%2Fname&RoleSessionName=a%3Db%"
	                       "2Cc%40d.e-f_g&ExternalId=x%3A%2F%3D%2B~y");
	free(b);
}

static void assume_role_body_has_every_parameter_in_botocore_order(void **state)
{
	const char *keys[] = {"Project", "Cost Center"};
	const char *values[] = {"kr", ""};
	const char *trans[] = {"Project"};
	struct sts_params p = {
	    .op = STS_ASSUME_ROLE,
	    .role_arn = "arn:aws:iam::1:role/r",
	    .session_name = "s",
	    .policy = "{\"Version\":\"2012-10-17\"}",
	    .duration = 3600,
	    .tag_keys = keys,
	    .tag_values = values,
	    .n_tags = 2,
	    .transitive_keys = trans,
	    .n_transitive = 1,
	    .external_id = "ext",
	    .mfa_serial = "arn:aws:iam::1:mfa/u",
	    .mfa_code = "123456",
	    .source_identity = "me",
	};
	char *b = body_of(&p, KR_OK);

	assert_string_equal(b, "Action=AssumeRole&Version=2011-06-15"
	                       "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"
	                       "&RoleSessionName=s"
	                       "&Policy=%7B%22Version%22%3A%222012-10-17%22%7D"
	                       "&DurationSeconds=3600"
	                       "&Tags.member.1.Key=Project&Tags.member.1.Value=kr"
	                       "&Tags.member.2.Key=Cost%20Center&Tags.member.2.Value="
	                       "&TransitiveTagKeys.member.1=Project"
	                       "&ExternalId=ext"
	                       "&SerialNumber=arn%3Aaws%3Aiam%3A%3A1%3Amfa%2Fu"
	                       "&TokenCode=123456"
	                       "&SourceIdentity=me");
	free(b);
}

static void get_session_token_and_caller_identity_bodies(void **state)
{
	struct sts_params p = {.op = STS_GET_SESSION_TOKEN};
	char *b = body_of(&p, KR_OK);

	assert_string_equal(b, "Action=GetSessionToken&Version=2011-06-15");
	free(b);
	p.duration = 900;
	p.mfa_serial = "GAHT12345678";
	p.mfa_code = "012345";
	b = body_of(&p, KR_OK);
	assert_string_equal(b, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"
	                       "&SerialNumber=GAHT12345678&TokenCode=012345");
	free(b);
	memset(&p, 0, sizeof(p));
	p.op = STS_GET_CALLER_IDENTITY;
	b = body_of(&p, KR_OK);
	assert_string_equal(b, "Action=GetCallerIdentity&Version=2011-06-15");
	free(b);
}

static void missing_or_oversized_parameters_are_invalid(void **state)
{
	static char big[KR_STS_PARAM_MAX + 2];
	const char *keys[KR_STS_TAGS_MAX + 1];
	struct sts_params p = {.op = STS_ASSUME_ROLE, .session_name = "s"};

	assert_null(body_of(&p, KR_ERR_INVAL)); /* no role */
	p.role_arn = "arn:aws:iam::1:role/r";
	p.session_name = NULL;
	assert_null(body_of(&p, KR_ERR_INVAL)); /* no session name */
	p.session_name = "";
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.session_name = "s";
	memset(big, 'a', sizeof(big) - 1);
	p.external_id = big;
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.external_id = NULL;
	p.mfa_code = "123456"; /* a code without its device */
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.mfa_code = NULL;
	p.duration = -1;
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.duration = 0;
	for (size_t i = 0; i < KR_STS_TAGS_MAX + 1; i++)
		keys[i] = "k";
	p.tag_keys = keys;
	p.tag_values = keys;
	p.n_tags = KR_STS_TAGS_MAX + 1;
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.n_tags = 1;
	p.tag_values = NULL;
	assert_null(body_of(&p, KR_ERR_INVAL));
	p.n_tags = 0;
	p.op = (enum sts_op)99;
	assert_null(body_of(&p, KR_ERR_INVAL));
}

static void body_over_buffer_cap_is_toobig(void **state)
{
	struct sts_params p = {.op = STS_ASSUME_ROLE, .role_arn = "r", .session_name = "s"};
	struct buf b;

	buf_init(&b, 16);
	assert_int_equal(sts_req_body(&p, &b), KR_ERR_TOOBIG);
	buf_free(&b);
}

static void endpoint_is_split_into_host_and_path(void **state)
{
	static const struct {
		const char *url, *host, *path;
	} ok[] = {
	    {"https://sts.amazonaws.com", "sts.amazonaws.com", "/"},
	    {"https://sts.eu-west-1.amazonaws.com/", "sts.eu-west-1.amazonaws.com", "/"},
	    {"http://127.0.0.1:5000", "127.0.0.1:5000", "/"},
	    {"https://sts.example:443/", "sts.example", "/"},
	    {"http://h:80", "h", "/"},
	    {"http://h:443", "h:443", "/"},
	    {"https://vpce-1.sts.us-east-1.vpce.amazonaws.com/base/",
	     "vpce-1.sts.us-east-1.vpce.amazonaws.com", "/base/"},
	    {"http://[::1]:8080/x", "[::1]:8080", "/x"},
	    {"HTTPS://STS.AMAZONAWS.COM", "STS.AMAZONAWS.COM", "/"},
	};
	static const char *const bad[] = {
	    "",
	    "sts.amazonaws.com",
	    "ftp://h/",
	    "https://",
	    "https:///x",
	    "https://user:pw@h/",
	    "https://h/?a=b",
	    "https://h/#f",
	    "https://h:/",
	    "https://h:0/",
	    "https://h:65536/",
	    "https://h:12a/",
	    "https://h x/",
	    "https://h\r\nX: y/",
	    "http://[::1/",
	    "http://[::1]x/",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *h = NULL, *p = NULL;
		assert_int_equal(sts_req_endpoint(ok[i].url, &h, &p), KR_OK);
		assert_string_equal(h, ok[i].host);
		assert_string_equal(p, ok[i].path);
		free(h);
		free(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *h = (char *)"untouched", *p = NULL;
		assert_int_equal(sts_req_endpoint(bad[i], &h, &p), KR_ERR_INVAL);
		assert_string_equal(h, "untouched");
	}
}

static void throttling_5xx_and_network_errors_are_retryable(void **state)
{
	static const char *const codes[] = {
	    "Throttling",
	    "ThrottlingException",
	    "RequestLimitExceeded",
	    "TooManyRequestsException",
	    "IDPCommunicationError",
	    "InternalError",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(sts_req_retryable(KR_OK, 400, codes[i]), 1);
	assert_int_equal(sts_req_retryable(KR_OK, 500, NULL), 1);
	assert_int_equal(sts_req_retryable(KR_OK, 502, NULL), 1);
	assert_int_equal(sts_req_retryable(KR_OK, 503, NULL), 1);
	assert_int_equal(sts_req_retryable(KR_OK, 503, "ServiceUnavailable"), 1);
	assert_int_equal(sts_req_retryable(KR_OK, 429, NULL), 1);
	assert_int_equal(sts_req_retryable(KR_ERR_NETWORK, 0, NULL), 1);
	assert_int_equal(sts_req_retryable(KR_ERR_TIMEOUT, 0, NULL), 1);
}

static void auth_and_validation_errors_are_not_retryable(void **state)
{
	static const char *const codes[] = {
	    "AccessDenied",
	    "SignatureDoesNotMatch",
	    "InvalidClientTokenId",
	    "ExpiredToken",
	    "ValidationError",
	    "MalformedPolicyDocument",
	    "RegionDisabledException",
	    "PackedPolicyTooLarge",
	    "InvalidIdentityToken",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_int_equal(sts_req_retryable(KR_OK, 400, codes[i]), 0);
		assert_int_equal(sts_req_retryable(KR_OK, 403, codes[i]), 0);
	}
	assert_int_equal(sts_req_retryable(KR_OK, 400, NULL), 0);
	assert_int_equal(sts_req_retryable(KR_OK, 200, NULL), 0);
	assert_int_equal(sts_req_retryable(KR_ERR_TOOBIG, 200, NULL), 0);
	assert_int_equal(sts_req_retryable(KR_ERR_PARSE, 200, NULL), 0);
}

static void hints_name_the_likely_fix(void **state)
{
	const char *h = sts_req_hint("AccessDenied", STS_ASSUME_ROLE);

	assert_non_null(h);
	assert_non_null(strstr(h, "trust policy"));
	assert_non_null(strstr(h, "sts:AssumeRole"));
	h = sts_req_hint("AccessDenied", STS_GET_SESSION_TOKEN);
	assert_non_null(strstr(h, "MFA"));
	assert_non_null(
	    strstr(sts_req_hint("SignatureDoesNotMatch", STS_ASSUME_ROLE), "secret access key"));
	h = sts_req_hint("InvalidClientTokenId", STS_GET_CALLER_IDENTITY);
	assert_non_null(strstr(h, "access key id"));
	assert_non_null(strstr(h, "session token"));
	assert_non_null(strstr(sts_req_hint("ExpiredToken", STS_ASSUME_ROLE), "expired"));
	assert_non_null(
	    strstr(sts_req_hint("RegionDisabledException", STS_ASSUME_ROLE), "global endpoint"));
	assert_null(sts_req_hint("NoSuchCode", STS_ASSUME_ROLE));
	assert_null(sts_req_hint(NULL, STS_ASSUME_ROLE));
}

static void describe_keeps_what_sts_said_and_its_fix(void **state)
{
	char code[] = "AccessDenied", message[] = "not authorized";
	struct sts_result res;
	struct err_detail e;

	/* AWS answered with a code: the code, its message and the hint. */
	memset(&res, 0, sizeof(res));
	res.err = KR_ERR_AWS;
	res.aws_code = code;
	res.aws_message = message;
	sts_req_describe(&res, "AssumeRole arn:aws:iam::1:role/r", STS_ASSUME_ROLE, &e);
	assert_int_equal(e.code, KR_ERR_AWS);
	assert_non_null(strstr(e.msg, "AssumeRole arn:aws:iam::1:role/r: AccessDenied: "
	                              "not authorized — "));
	/* An answer without a code: what the call's detail says about it. */
	memset(&res, 0, sizeof(res));
	res.err = KR_ERR_AWS;
	err_set(&res.detail, KR_ERR_AWS, NULL, 0, NULL, "AssumeRole: STS answered HTTP 503");
	sts_req_describe(&res, "AssumeRole r", STS_ASSUME_ROLE, &e);
	assert_string_equal(e.msg, "AssumeRole r: AssumeRole: STS answered HTTP 503");
	/* A parse failure keeps the fix the parser gave. */
	res.err = KR_ERR_PARSE;
	err_set(&res.detail, KR_ERR_PARSE, NULL, 0, "check the proxy", "AssumeRole: HTML");
	sts_req_describe(&res, "AssumeRole r", STS_ASSUME_ROLE, &e);
	assert_int_equal(e.code, KR_ERR_PARSE);
	assert_string_equal(e.fix, "check the proxy");
	/* An untrusted certificate: advice on the CA bundle. */
	res.err = KR_ERR_TLS;
	err_set(&res.detail, KR_ERR_TLS, NULL, 0, NULL, "AssumeRole: SSL certificate problem");
	sts_req_describe(&res, "AssumeRole r", STS_ASSUME_ROLE, &e);
	assert_non_null(strstr(e.msg, "SSL certificate problem — the STS endpoint's certificate"));
	assert_non_null(strstr(e.fix, "AWS_CA_BUNDLE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(urlencode_escapes_everything_but_unreserved),
	    cmocka_unit_test(assume_role_body_matches_python_urlencode),
	    cmocka_unit_test(assume_role_body_has_every_parameter_in_botocore_order),
	    cmocka_unit_test(get_session_token_and_caller_identity_bodies),
	    cmocka_unit_test(missing_or_oversized_parameters_are_invalid),
	    cmocka_unit_test(body_over_buffer_cap_is_toobig),
	    cmocka_unit_test(endpoint_is_split_into_host_and_path),
	    cmocka_unit_test(throttling_5xx_and_network_errors_are_retryable),
	    cmocka_unit_test(auth_and_validation_errors_are_not_retryable),
	    cmocka_unit_test(hints_name_the_likely_fix),
	    cmocka_unit_test(describe_keeps_what_sts_said_and_its_fix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
