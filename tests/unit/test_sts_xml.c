/*
 * daemon/sts_xml.c: every sample in tests/data/sts is parsed (or rejected)
 * as botocore would read it, and bodies that are not STS XML give
 * KR_ERR_PARSE without crashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "rfc3339.h"
#include "sts_xml.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read tests/data/sts/NAME (from $KR_SRC, else the current directory). */
static char *load(const char *name, size_t *ret_len)
{
	const char *src = getenv("KR_SRC");
	char path[4096];
	FILE *f;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/sts/%s", src ? src : ".", name);
	f = fopen(path, "rbe");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*ret_len = (size_t)n;
	return data;
}

static int parse_file(const char *name, struct sts_xml_result *r)
{
	size_t n;
	char *d = load(name, &n);
	struct err_detail e;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = sts_xml_parse(d, n, r, &e);
	free(d);
	return rc;
}

static int parse_str(const char *s, struct sts_xml_result *r, struct err_detail *e)
{
	memset(r, 0, sizeof(*r));
	return sts_xml_parse(s, strlen(s), r, e);
}

static time_t t_of(const char *s)
{
	time_t t = 0;

	assert_int_equal(rfc3339_parse(s, &t), KR_OK);
	return t;
}

static const char *doc_token =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW\n"
    "       LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd\n"
    "       QrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU\n"
    "       9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz\n"
    "       +scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

static void assume_role_doc_sample_parses_credentials_and_arn(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("assume-role.xml", &r), KR_OK);
	assert_string_equal(r.root, "AssumeRoleResponse");
	assert_string_equal(r.access_key_id, "ASIAIOSFODNN7EXAMPLE");
	assert_string_equal(r.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	/* Leading/trailing whitespace trimmed, inner line breaks kept (botocore). */
	assert_string_equal(r.session_token, doc_token);
	assert_true(r.has_expiration);
	assert_int_equal(r.expiration, t_of("2019-11-09T13:34:41Z"));
	assert_int_equal(r.expiration, 1573306481);
	assert_string_equal(r.arn, "arn:aws:sts::123456789012:assumed-role/demo/TestAR");
	assert_null(r.error_code);
	sts_xml_result_clear(&r);
}

static void assume_role_iam_guide_sample_trims_wrapped_secret(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("assume-role-iam-user-guide.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "AKIAIOSFODNN7EXAMPLE");
	assert_string_equal(r.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	assert_true(strncmp(r.session_token, "AQoDYXdzEPT", 11) == 0);
	assert_true(r.session_token[strlen(r.session_token) - 1] == '=');
	assert_int_equal(r.expiration, t_of("2019-07-15T23:28:33Z"));
	assert_string_equal(r.arn, "arn:aws:sts::123456789012:assumed-role/demo/John");
	sts_xml_result_clear(&r);
}

static void assume_role_recorded_sample_parses(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("assume-role-recorded.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "ASIARTESTID");
	assert_string_equal(r.secret_access_key, "TESTSECRETKEY");
	assert_string_equal(r.session_token, "TESTSESSIONTOKEN");
	assert_int_equal(r.expiration, t_of("2021-08-05T19:58:02Z"));
	assert_string_equal(
	    r.arn,
	    "arn:aws:sts::123456789012:assumed-role/integration-test/assume-role-provider-session");
	sts_xml_result_clear(&r);
}

static void web_identity_samples_parse_credentials(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("assume-role-with-web-identity.xml", &r), KR_OK);
	assert_string_equal(r.root, "AssumeRoleWithWebIdentityResponse");
	assert_string_equal(r.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
	assert_string_equal(r.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
	assert_int_equal(r.expiration, t_of("2014-10-24T23:00:23Z"));
	assert_string_equal(r.arn,
	                    "arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1");
	sts_xml_result_clear(&r);

	assert_int_equal(parse_file("assume-role-with-web-identity-recorded.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "AKIDTEST");
	assert_string_equal(r.secret_access_key, "SECRETKEYTEST");
	assert_string_equal(r.session_token, "SESSIONTOKEN_TEST");
	assert_string_equal(r.arn, "arn:aws:sts::123456789012:assumed-role/sdk-test/test-session");
	sts_xml_result_clear(&r);

	assert_int_equal(parse_file("moto/assume-role-with-web-identity.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "ASIARZPUZDIKHZDK7R54");
	assert_int_equal(r.expiration, t_of("2026-11-22T11:44:58Z"));
	sts_xml_result_clear(&r);
}

/* The whole parse of get-session-token.xml equals botocore's expected JSON. */
static void get_session_token_matches_botocore_expected(void **state)
{
	struct sts_xml_result r;
	size_t n;
	char *js = load("get-session-token.botocore-expected.json", &n);
	cJSON *j = cJSON_Parse(js), *cr;

	assert_non_null(j);
	cr = cJSON_GetObjectItem(j, "Credentials");
	assert_int_equal(parse_file("get-session-token.xml", &r), KR_OK);
	assert_string_equal(r.root, "GetSessionTokenResponse");
	assert_string_equal(r.access_key_id, cJSON_GetObjectItem(cr, "AccessKeyId")->valuestring);
	assert_string_equal(r.secret_access_key,
	                    cJSON_GetObjectItem(cr, "SecretAccessKey")->valuestring);
	assert_string_equal(r.session_token, cJSON_GetObjectItem(cr, "SessionToken")->valuestring);
	assert_int_equal(r.expiration, t_of(cJSON_GetObjectItem(cr, "Expiration")->valuestring));
	assert_null(r.arn);
	sts_xml_result_clear(&r);
	cJSON_Delete(j);
	free(js);
}

static void get_session_token_other_samples_parse(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("get-session-token-iam-user-guide.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "AKIAIOSFODNN7EXAMPLE");
	assert_string_equal(r.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	assert_true(strncmp(r.session_token, "AQoEXAMPLEH4", 12) == 0);
	assert_int_equal(r.expiration, 1310414129); /* 2011-07-11T19:55:29.611Z */
	sts_xml_result_clear(&r);

	assert_int_equal(parse_file("moto/get-session-token.xml", &r), KR_OK);
	assert_int_equal(r.expiration, t_of("2026-11-22T10:59:58Z"));
	assert_non_null(r.session_token);
	sts_xml_result_clear(&r);
}

static void moto_assume_role_with_microseconds_parses(void **state)
{
	struct sts_xml_result r;

	assert_int_equal(parse_file("moto/assume-role.xml", &r), KR_OK);
	assert_string_equal(r.access_key_id, "ASIARZPUZDIKKUUKHY4O");
	assert_string_equal(r.secret_access_key, "vmtpYlN546Z1lQfWSkJ7xEM6/4hx7SgpHP3DJeAZ");
	assert_int_equal(r.expiration, t_of("2026-11-22T11:44:58Z"));
	assert_string_equal(r.arn, "arn:aws:sts::123456789012:assumed-role/demo/testAR");
	sts_xml_result_clear(&r);
}

static void get_caller_identity_samples_parse(void **state)
{
	static const struct {
		const char *file, *arn, *account, *user_id;
	} cases[] = {
	    {"get-caller-identity.xml", "arn:aws:iam::123456789012:user/Alice", "123456789012",
	     "AIDACKCEVSQ6C2EXAMPLE"},
	    {"get-caller-identity-assumed-role.xml",
	     "arn:aws:sts::123456789012:assumed-role/my-role-name/my-role-session-name",
	     "123456789012", "ARO123EXAMPLE123:my-role-session-name"},
	    {"get-caller-identity-federated-user.xml",
	     "arn:aws:sts::123456789012:federated-user/my-federated-user-name", "123456789012",
	     "123456789012:my-federated-user-name"},
	    {"moto/get-caller-identity.xml", "arn:aws:sts::123456789012:user/moto", "123456789012",
	     "AKIAIOSFODNN7EXAMPLE"},
	    {"moto/get-caller-identity-accept-json.xml", "arn:aws:sts::123456789012:user/moto",
	     "123456789012", "AKIAIOSFODNN7EXAMPLE"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sts_xml_result r;
		assert_int_equal(parse_file(cases[i].file, &r), KR_OK);
		assert_string_equal(r.root, "GetCallerIdentityResponse");
		assert_string_equal(r.arn, cases[i].arn);
		assert_string_equal(r.account, cases[i].account);
		assert_string_equal(r.user_id, cases[i].user_id);
		assert_null(r.access_key_id);
		assert_null(r.error_code);
		sts_xml_result_clear(&r);
	}
}

static void access_denied_matches_botocore_expected(void **state)
{
	struct sts_xml_result r;
	size_t n;
	char *js = load("error-access-denied.botocore-expected.json", &n);
	cJSON *j = cJSON_Parse(js), *e;

	assert_non_null(j);
	e = cJSON_GetObjectItem(j, "Error");
	assert_int_equal(parse_file("error-access-denied.xml", &r), KR_OK);
	assert_string_equal(r.root, "ErrorResponse");
	assert_string_equal(r.error_code, cJSON_GetObjectItem(e, "Code")->valuestring);
	assert_string_equal(r.error_message, cJSON_GetObjectItem(e, "Message")->valuestring);
	assert_null(r.access_key_id);
	sts_xml_result_clear(&r);
	cJSON_Delete(j);
	free(js);
}

static void error_samples_give_code_and_message(void **state)
{
	static const struct {
		const char *file, *code, *message;
	} cases[] = {
	    {"error-expired-token.xml", "ExpiredToken",
	     "The security token included in the request is expired"},
	    {"error-invalid-identity-token-recorded.xml", "InvalidIdentityToken",
	     "No OpenIDConnect provider found in your account for "
	     "https://s3-us-west-2.amazonaws.com/oidc-test-tzzotbwmznwimurcbkebndpxaimixbkc"},
	    {"error-region-disabled.xml", "RegionDisabledException",
	     "AWS STS is not activated in the requested region for the account that is being "
	     "asked to generate credentials"},
	    {"error-throttling.xml", "Throttling", "Rate exceeded"},
	    {"error-validation-error.xml", "ValidationError", "Request ARN is invalid"},
	    {"moto/error-validation-error.xml", "ValidationError", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sts_xml_result r;
		assert_int_equal(parse_file(cases[i].file, &r), KR_OK);
		assert_string_equal(r.error_code, cases[i].code);
		assert_non_null(r.error_message);
		if (cases[i].message)
			assert_string_equal(r.error_message, cases[i].message);
		sts_xml_result_clear(&r);
	}
}

static void error_with_prefixed_namespace_and_bare_error_root_parse(void **state)
{
	struct sts_xml_result r;
	struct err_detail e;

	assert_int_equal(parse_str("<s:ErrorResponse xmlns:s=\"https://sts.amazonaws.com/doc/"
	                           "2011-06-15/\"><s:Error><s:Code>Throttling</s:Code>"
	                           "<s:Message>slow down</s:Message></s:Error></s:ErrorResponse>",
	                           &r, &e),
	                 KR_OK);
	assert_string_equal(r.error_code, "Throttling");
	assert_string_equal(r.error_message, "slow down");
	sts_xml_result_clear(&r);

	assert_int_equal(parse_str("<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>"
	                           "<Message>oops</Message></Error>",
	                           &r, &e),
	                 KR_OK);
	assert_string_equal(r.root, "Error");
	assert_string_equal(r.error_code, "InternalError");
	sts_xml_result_clear(&r);
}

static void non_xml_bodies_are_parse_errors(void **state)
{
	static const char *const bodies[] = {
	    "",
	    "   \n ",
	    "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>"
	    "<body><h1>Internal Server Error</h1></body></html>",
	    "<html><body>Bad Gateway</body></html>",
	    "Internal Server Error",
	    "{\"GetCallerIdentityResponse\":{}}",
	    "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>AKIA",
	    "<GetCallerIdentityResponse><Arn>x</Arn>",
	    "<a></b>",
	    "<a>&undefined;</a>",
	    "<a/><b/>",
	    "<a>\x01</a>",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct sts_xml_result r;
		struct err_detail e = {0};
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(sts_xml_parse(bodies[i], strlen(bodies[i]), &r, &e), KR_ERR_PARSE);
		assert_true(e.msg[0] != '\0');
		assert_int_equal(e.code, KR_ERR_PARSE);
		/* Output untouched on failure. */
		assert_int_equal(((unsigned char *)&r)[0], 0x5a);
	}
	{
		struct sts_xml_result r;
		struct err_detail e;
		assert_int_equal(sts_xml_parse(NULL, 0, &r, &e), KR_ERR_PARSE);
		assert_non_null(strstr(e.msg, "empty"));
		assert_int_equal(sts_xml_parse("<html><body>x</body></html>", 27, &r, &e),
		                 KR_ERR_PARSE);
		assert_non_null(strstr(e.msg, "HTML"));
		assert_non_null(strstr(e.fix, "proxy"));
	}
}

static void every_truncation_of_a_sample_is_rejected_cleanly(void **state)
{
	size_t n;
	char *d = load("moto/assume-role.xml", &n);

	/* Every strict prefix is incomplete XML: never a crash, never success. */
	for (size_t k = 0; k < n; k++) {
		struct sts_xml_result r;
		int rc = sts_xml_parse(d, k, &r, NULL);
		assert_true(rc == KR_ERR_PARSE);
	}
	free(d);
}

static void dtd_and_entity_expansion_are_refused(void **state)
{
	struct sts_xml_result r;
	struct err_detail e;

	assert_int_equal(parse_str("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	                           "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;\">]>"
	                           "<Error><Code>&lol2;</Code></Error>",
	                           &r, &e),
	                 KR_ERR_PARSE);
	assert_int_equal(parse_str("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><x/>", &r, &e),
	                 KR_ERR_PARSE);
}

static void deep_nesting_is_refused(void **state)
{
	struct buf b;
	struct sts_xml_result r;
	struct err_detail e;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < KR_STS_XML_DEPTH + 1; i++)
		assert_int_equal(buf_puts(&b, "<a>"), KR_OK);
	for (int i = 0; i < KR_STS_XML_DEPTH + 1; i++)
		assert_int_equal(buf_puts(&b, "</a>"), KR_OK);
	assert_int_equal(sts_xml_parse(b.data, b.len, &r, &e), KR_ERR_PARSE);
	assert_non_null(strstr(e.msg, "nested"));
	buf_free(&b);
}

static void oversized_element_text_is_refused(void **state)
{
	struct buf b;
	struct sts_xml_result r;
	struct err_detail e;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_puts(&b, "<R><Credentials><SessionToken>"), KR_OK);
	for (int i = 0; i < KR_STS_XML_TEXT_MAX + 1; i++)
		assert_int_equal(buf_putc(&b, 'A'), KR_OK);
	assert_int_equal(buf_puts(&b, "</SessionToken></Credentials></R>"), KR_OK);
	assert_int_equal(sts_xml_parse(b.data, b.len, &r, &e), KR_ERR_TOOBIG);
	buf_free(&b);
}

static void duplicate_credential_elements_are_refused(void **state)
{
	struct sts_xml_result r;
	struct err_detail e;

	assert_int_equal(parse_str("<R><Credentials><AccessKeyId>A</AccessKeyId>"
	                           "<AccessKeyId>B</AccessKeyId></Credentials></R>",
	                           &r, &e),
	                 KR_ERR_PARSE);
}

static void bad_expiration_is_a_parse_error(void **state)
{
	struct sts_xml_result r;
	struct err_detail e;

	assert_int_equal(parse_str("<R><Credentials><Expiration>tomorrow</Expiration>"
	                           "</Credentials></R>",
	                           &r, &e),
	                 KR_ERR_PARSE);
	assert_non_null(strstr(e.msg, "Expiration"));
}

static void entities_in_values_are_decoded(void **state)
{
	struct sts_xml_result r;
	struct err_detail e;

	assert_int_equal(parse_str("<ErrorResponse><Error><Code>AccessDenied</Code><Message>"
	                           "a &lt;b&gt; &amp; &#x41;</Message></Error></ErrorResponse>",
	                           &r, &e),
	                 KR_OK);
	assert_string_equal(r.error_message, "a <b> & A");
	sts_xml_result_clear(&r);
}

static void time_formats_parse_to_utc(void **state)
{
	time_t t;

	assert_int_equal(t_of("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(t_of("2019-11-09T13:34:41Z"), 1573306481);
	assert_int_equal(t_of("2019-11-09T13:34:41.999Z"), 1573306481);
	assert_int_equal(t_of("2019-11-09T13:34:41.123456Z"), 1573306481);
	assert_int_equal(t_of("2019-11-09T13:34:41+00:00"), 1573306481);
	assert_int_equal(t_of("2024-02-29T00:00:00Z"), 1709164800);

	static const char *const bad[] = {
	    "",
	    "2019-11-09",
	    "2019-11-09T13:34:41",
	    "2019-11-09 13:34:41Z",
	    "2019-11-09T13:34:41+01:00",
	    "2019-13-09T13:34:41Z",
	    "2019-11-31T13:34:41Z",
	    "2023-02-29T00:00:00Z",
	    "2019-11-09T24:00:00Z",
	    "2019-11-09T13:34:41.Z",
	    "2019-11-09T13:34:41ZZ",
	    "19-11-09T13:34:41Z",
	    "2019-11-09T13:34:4aZ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rfc3339_parse(bad[i], &t), KR_ERR_PARSE);
	assert_int_equal(rfc3339_parse(NULL, &t), KR_ERR_PARSE);
}

static void clear_accepts_null_and_zeroes(void **state)
{
	struct sts_xml_result r;

	sts_xml_result_clear(NULL);
	assert_int_equal(parse_file("assume-role-recorded.xml", &r), KR_OK);
	sts_xml_result_clear(&r);
	assert_null(r.access_key_id);
	assert_null(r.session_token);
	assert_int_equal(r.has_expiration, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(assume_role_doc_sample_parses_credentials_and_arn),
	    cmocka_unit_test(assume_role_iam_guide_sample_trims_wrapped_secret),
	    cmocka_unit_test(assume_role_recorded_sample_parses),
	    cmocka_unit_test(web_identity_samples_parse_credentials),
	    cmocka_unit_test(get_session_token_matches_botocore_expected),
	    cmocka_unit_test(get_session_token_other_samples_parse),
	    cmocka_unit_test(moto_assume_role_with_microseconds_parses),
	    cmocka_unit_test(get_caller_identity_samples_parse),
	    cmocka_unit_test(access_denied_matches_botocore_expected),
	    cmocka_unit_test(error_samples_give_code_and_message),
	    cmocka_unit_test(error_with_prefixed_namespace_and_bare_error_root_parse),
	    cmocka_unit_test(non_xml_bodies_are_parse_errors),
	    cmocka_unit_test(every_truncation_of_a_sample_is_rejected_cleanly),
	    cmocka_unit_test(dtd_and_entity_expansion_are_refused),
	    cmocka_unit_test(deep_nesting_is_refused),
	    cmocka_unit_test(oversized_element_text_is_refused),
	    cmocka_unit_test(duplicate_credential_elements_are_refused),
	    cmocka_unit_test(bad_expiration_is_a_parse_error),
	    cmocka_unit_test(entities_in_values_are_decoded),
	    cmocka_unit_test(time_formats_parse_to_utc),
	    cmocka_unit_test(clear_accepts_null_and_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
