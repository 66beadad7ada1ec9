/*
 * The daemon's wire (daemon/msg.c): a request's JSON becomes a typed
 * request, checked once at the edge (a NUL hidden in a string is refused,
 * only the honoured environment variables are kept), and typed replies
 * become the JSON of doc/protocol.txt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "caps.h"
#include "err.h"
#include "msg.h"
#include "proto.h"
#include "sso.h"

#include <cjson/cJSON.h>
#include <string.h>

static int decode(const char *text, struct request *r, struct err_detail *e)
{
	return msg_decode_request(text, strlen(text), r, e);
}

static void decode_rejects_non_objects_and_other_versions(void **state)
{
	struct request r;
	struct err_detail e;

	assert_int_equal(decode("[1]", &r, &e), KR_ERR_PROTO);
	assert_int_equal(e.code, KR_ERR_PROTO);
	assert_int_equal(decode("garbage", &r, &e), KR_ERR_PROTO);
	assert_int_equal(decode("{\"op\":\"ping\"}", &r, &e), KR_ERR_VERSION);
	assert_int_equal(decode("{\"v\":2}", &r, &e), KR_ERR_VERSION);
	assert_int_equal(decode("{\"v\":1}", &r, &e), KR_OK);
	assert_null(r.op_name);
	assert_int_equal(r.op, OP_UNKNOWN);
	request_free(&r);
}

static void decode_types_the_request(void **state)
{
	struct request r;
	struct err_detail e;

	assert_int_equal(
	    decode("{\"v\":1,\"op\":\"get\",\"profile\":\"prod\",\"mfa_code\":\"123456\","
	           "\"all\":true,\"env\":{\"AWS_REGION\":\"eu-west-1\",\"HOME\":\"/h\","
	           "\"NOT_OURS\":\"x\",\"https_proxy\":\"http://p\"}}",
	           &r, &e),
	    KR_OK);
	assert_int_equal(r.op, OP_GET);
	assert_string_equal(r.profile, "prod");
	assert_string_equal(r.mfa_code, "123456");
	assert_true(r.all);
	assert_false(r.verify);
	assert_string_equal(r.env.region, "eu-west-1");
	assert_string_equal(r.env.home, "/h");
	assert_string_equal(r.env.proxy.https_proxy, "http://p");
	assert_null(r.env.config_file);
	request_free(&r);
	assert_int_equal(decode("{\"v\":1,\"op\":\"frobnicate\"}", &r, &e), KR_OK);
	assert_int_equal(r.op, OP_UNKNOWN);
	assert_string_equal(r.op_name, "frobnicate");
	request_free(&r);
}

/* "x\u0000y" would be served as profile "x": refused, in any string. */
static void decode_refuses_a_nul_in_any_string(void **state)
{
	static const char *const bad[] = {
	    "{\"v\":1,\"op\":\"get\",\"profile\":\"x\\u0000y\"}",
	    "{\"v\":1,\"op\":\"get\",\"profile\":\"dev\",\"env\":{\"HOME\":\"/h\\u0000/x\"}}",
	    "{\"v\":1,\"op\":\"get\\u0000x\",\"profile\":\"dev\"}",
	};
	struct request r;
	struct err_detail e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i], &r, &e), KR_ERR_INVAL);
		assert_non_null(strstr(e.msg, "NUL"));
	}
	/* A raw NUL byte in the body, and an escaped backslash before "u0000" (no NUL). */
	assert_int_equal(
	    msg_decode_request("{\"v\":1,\"op\":\"get\",\"profile\":\"x\0y\"}", 33, &r, &e),
	    KR_ERR_INVAL);
	assert_int_equal(decode("{\"v\":1,\"op\":\"get\",\"profile\":\"a\\\\u0000\"}", &r, &e),
	                 KR_OK);
	assert_string_equal(r.profile, "a\\u0000");
	request_free(&r);
}

static void decode_bounds_the_env(void **state)
{
	char big[KR_VALUE_MAX + 64];
	struct request r;
	struct err_detail e;

	assert_int_equal(decode("{\"v\":1,\"op\":\"get\",\"env\":[1]}", &r, &e), KR_ERR_INVAL);
	assert_int_equal(decode("{\"v\":1,\"op\":\"get\",\"env\":{\"HOME\":5}}", &r, &e),
	                 KR_ERR_INVAL);
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"v\":1,\"env\":{\"HOME\":\"", 22);
	memcpy(big + sizeof(big) - 5, "\"}}", 4);
	assert_int_equal(msg_decode_request(big, strlen(big), &r, &e), KR_ERR_INVAL);
}

/* The client sends proto_env_keys; the daemon must honour exactly those. */
static void every_variable_the_client_sends_is_honoured(void **state)
{
	size_t n = 0;

	for (size_t i = 0; proto_env_keys[i]; i++, n++) {
		int found = 0;

		for (size_t k = 0; k < caller_env_n_fields; k++)
			found |= strcmp(proto_env_keys[i], caller_env_fields[k].name) == 0;
		if (!found)
			fail_msg("%s is sent but not honoured", proto_env_keys[i]);
	}
	assert_int_equal(n, caller_env_n_fields);
}

static cJSON *encode(const struct reply *r)
{
	struct buf out;
	cJSON *o;

	buf_init(&out, KR_RESP_MAX);
	assert_int_equal(msg_encode_reply(r, &out), KR_OK);
	o = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, out.len - KR_FRAME_HDR);
	buf_free(&out);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "v")->valueint, KR_PROTO_VERSION);
	return o;
}

static void error_reply_names_the_error_and_where(void **state)
{
	struct err_detail e;
	struct reply r = {.ok = 0};
	cJSON *o;

	err_set(&e, KR_ERR_CONFIG, "/h/.aws/config", 7, "fix it", "profile \"x\" is broken");
	r.u.error.e = &e;
	r.u.error.profile = "x";
	r.u.error.aws_code = "AccessDenied";
	o = encode(&r);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
	assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "config");
	assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring,
	                    "/h/.aws/config:7: profile \"x\" is broken (fix it)");
	assert_string_equal(cJSON_GetObjectItem(o, "file")->valuestring, "/h/.aws/config");
	assert_int_equal(cJSON_GetObjectItem(o, "line")->valueint, 7);
	assert_string_equal(cJSON_GetObjectItem(o, "fix")->valuestring, "fix it");
	assert_string_equal(cJSON_GetObjectItem(o, "profile")->valuestring, "x");
	assert_string_equal(cJSON_GetObjectItem(o, "aws_code")->valuestring, "AccessDenied");
	assert_null(cJSON_GetObjectItem(o, "role"));
	cJSON_Delete(o);
}

static void get_reply_carries_the_credentials(void **state)
{
	char ak[] = "ASIAX", sk[] = "s", tk[] = "t";
	struct sts_creds c = {.access_key_id = ak,
	                      .secret_access_key = sk,
	                      .session_token = tk,
	                      .expiration = 1800000000};
	struct reply r = {.op = OP_GET, .ok = 1};
	cJSON *o;

	r.u.get.creds = &c;
	r.u.get.region = "eu-west-1";
	r.u.get.from = "sts";
	o = encode(&r);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
	assert_string_equal(cJSON_GetObjectItem(o, "AccessKeyId")->valuestring, "ASIAX");
	assert_string_equal(cJSON_GetObjectItem(o, "SessionToken")->valuestring, "t");
	assert_string_equal(cJSON_GetObjectItem(o, "Expiration")->valuestring,
	                    "2027-01-15T08:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(o, "region")->valuestring, "eu-west-1");
	assert_null(cJSON_GetObjectItem(o, "refresh_error"));
	cJSON_Delete(o);
}

static void decode_takes_the_login_fields(void **state)
{
	struct request r;
	struct err_detail e;

	assert_int_equal(
	    decode("{\"v\":1,\"op\":\"login\",\"session\":\"corp\",\"force\":true}", &r, &e),
	    KR_OK);
	assert_int_equal(r.op, OP_LOGIN);
	assert_string_equal(r.session, "corp");
	assert_true(r.force);
	assert_null(r.profile);
	request_free(&r);
	assert_int_equal(
	    decode("{\"v\":1,\"op\":\"login_wait\",\"login_id\":\"login-1-ab\"}", &r, &e), KR_OK);
	assert_int_equal(r.op, OP_LOGIN_WAIT);
	assert_string_equal(r.login_id, "login-1-ab");
	assert_false(r.force);
	request_free(&r);
	assert_int_equal(decode("{\"v\":1,\"op\":\"logout\",\"profile\":\"dev\"}", &r, &e), KR_OK);
	assert_int_equal(r.op, OP_LOGOUT);
	request_free(&r);
	assert_int_equal(decode("{\"v\":1,\"op\":\"sso_profiles\",\"session\":\"c\"}", &r, &e),
	                 KR_OK);
	assert_int_equal(r.op, OP_SSO_PROFILES);
	request_free(&r);
}

/* The client's fields (client/login.c, cmd_status.c): a started login, one already there. */
static void login_replies_carry_what_the_client_reads(void **state)
{
	struct sso_login_info started = {.login_id = "login-1-ab",
	                                 .verification_uri = "https://d/",
	                                 .verification_uri_complete = "https://d/?user_code=AB",
	                                 .user_code = "AB",
	                                 .expires_in = 600,
	                                 .joined = 1};
	struct sso_login_info there = {.logged_in = 1, .expiration = 1800000000};
	struct reply r = {.op = OP_LOGIN, .ok = 1};
	cJSON *o;

	r.u.login.session = "corp";
	r.u.login.start_url = "https://corp/start";
	r.u.login.info = &started;
	o = encode(&r);
	assert_string_equal(cJSON_GetObjectItem(o, "session")->valuestring, "corp");
	assert_string_equal(cJSON_GetObjectItem(o, "start_url")->valuestring, "https://corp/start");
	assert_string_equal(cJSON_GetObjectItem(o, "login_id")->valuestring, "login-1-ab");
	assert_string_equal(cJSON_GetObjectItem(o, "verification_uri_complete")->valuestring,
	                    "https://d/?user_code=AB");
	assert_string_equal(cJSON_GetObjectItem(o, "user_code")->valuestring, "AB");
	assert_int_equal(cJSON_GetObjectItem(o, "expires_in")->valueint, 600);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "joined")));
	assert_null(cJSON_GetObjectItem(o, "logged_in"));
	cJSON_Delete(o);
	r.u.login.info = &there;
	o = encode(&r);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "logged_in")));
	assert_string_equal(cJSON_GetObjectItem(o, "expiration")->valuestring,
	                    "2027-01-15T08:00:00Z");
	assert_null(cJSON_GetObjectItem(o, "user_code"));
	cJSON_Delete(o);
	r = (struct reply){.op = OP_LOGIN_WAIT, .ok = 1};
	r.u.login_wait.session = "corp";
	r.u.login_wait.expiration = 1800000000;
	o = encode(&r);
	assert_string_equal(cJSON_GetObjectItem(o, "session")->valuestring, "corp");
	assert_string_equal(cJSON_GetObjectItem(o, "expiration")->valuestring,
	                    "2027-01-15T08:00:00Z");
	cJSON_Delete(o);
}

static void sso_profiles_and_status_list_without_tokens(void **state)
{
	char r1[] = "Admin", r2[] = "Developer", id[] = "111111111111", name[] = "prod",
	     mail[] = "a@b";
	char *roles[] = {r1, r2};
	struct sso_account_roles acc = {
	    .account_id = id, .account_name = name, .email = mail, .roles = roles, .n_roles = 2};
	struct sso_session_info ses = {.session = "corp",
	                               .start_url = "https://corp/start",
	                               .region = "eu-west-1",
	                               .expiration = 1800000000,
	                               .refresh_token = 1,
	                               .from = "keyring"};
	struct agent_counters counters;
	struct status_report st = {
	    .backend = "memory", .sso = &ses, .n_sso = 1, .counters = &counters};
	struct reply r = {.op = OP_SSO_PROFILES, .ok = 1};
	cJSON *o, *a, *s;

	memset(&counters, 0, sizeof(counters));
	r.u.sso_profiles.session = "corp";
	r.u.sso_profiles.start_url = "https://corp/start";
	r.u.sso_profiles.region = "eu-west-1";
	r.u.sso_profiles.accounts = &acc;
	r.u.sso_profiles.n = 1;
	o = encode(&r);
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "accounts"), 0);
	assert_string_equal(cJSON_GetObjectItem(a, "account_id")->valuestring, "111111111111");
	assert_string_equal(cJSON_GetObjectItem(a, "account_name")->valuestring, "prod");
	assert_string_equal(cJSON_GetObjectItem(a, "email")->valuestring, "a@b");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "roles")), 2);
	assert_string_equal(cJSON_GetObjectItem(o, "region")->valuestring, "eu-west-1");
	cJSON_Delete(o);
	r = (struct reply){.op = OP_STATUS, .ok = 1, .u.status = &st};
	o = encode(&r);
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "sso_sessions"), 0);
	assert_string_equal(cJSON_GetObjectItem(s, "session")->valuestring, "corp");
	assert_string_equal(cJSON_GetObjectItem(s, "expiration")->valuestring,
	                    "2027-01-15T08:00:00Z");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "refresh_token")));
	assert_string_equal(cJSON_GetObjectItem(s, "from")->valuestring, "keyring");
	assert_null(cJSON_GetObjectItem(s, "refreshing"));
	assert_int_equal(cJSON_GetArraySize(s), 6);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(decode_rejects_non_objects_and_other_versions),
	    cmocka_unit_test(decode_types_the_request),
	    cmocka_unit_test(decode_refuses_a_nul_in_any_string),
	    cmocka_unit_test(decode_bounds_the_env),
	    cmocka_unit_test(every_variable_the_client_sends_is_honoured),
	    cmocka_unit_test(error_reply_names_the_error_and_where),
	    cmocka_unit_test(get_reply_carries_the_credentials),
	    cmocka_unit_test(decode_takes_the_login_fields),
	    cmocka_unit_test(login_replies_carry_what_the_client_reads),
	    cmocka_unit_test(sso_profiles_and_status_list_without_tokens),
	};

	msg_install_json_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
