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
#include <stdio.h>
#include <stdlib.h>
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

/* The reader is strict JSON: what is not one object of valid JSON is refused. */
static void decode_is_strict_json(void **state)
{
	static const char *const bad[] = {
	    "{\"v\":1} x",                   /* something after the object */
	    "{\"v\":1,}",                    /* trailing comma */
	    "{\"v\":1,\"op\":\"a\tb\"}",     /* raw control character */
	    "{\"v\":1,\"op\":\"\\ud800\"}",  /* lone high surrogate */
	    "{\"v\":1,\"op\":\"\\udc00x\"}", /* lone low surrogate */
	    "{\"v\":1,\"op\":\"\\x\"}",      /* unknown escape */
	    "{\"v\":1,\"op\":\"\\u12\"}",    /* short \u */
	    "{\"v\":01}",                    /* leading zero */
	    "{\"v\":1,\"x\":[1,2,]}",        /* bad array */
	    "{\"v\":1,\"x\":tru}",           /* bad literal */
	    "{\"v\":1,\"x\":{\"a\" 1}}",     /* missing colon */
	    "{\"v\":1,\"op\":\"get\"",       /* unterminated */
	    "",
	};
	struct request r;
	struct err_detail e;
	char deep[4 * KR_JSON_DEPTH_MAX + 64];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode(bad[i], &r, &e) != KR_ERR_PROTO)
			fail_msg("accepted: %s", bad[i]);
	}
	/* nesting beyond the cap, in a member nobody reads */
	n += (size_t)snprintf(deep, sizeof(deep), "{\"v\":1,\"x\":");
	for (int i = 0; i < KR_JSON_DEPTH_MAX + 1; i++)
		deep[n++] = '[';
	for (int i = 0; i < KR_JSON_DEPTH_MAX + 1; i++)
		deep[n++] = ']';
	memcpy(deep + n, "}", 2);
	assert_int_equal(decode(deep, &r, &e), KR_ERR_PROTO);
	/* white space everywhere JSON allows it */
	assert_int_equal(
	    decode(" \n{ \"v\" :\t1 , \"op\" : \"ping\" ,\"x\":[ { } , [ ] ,-0.5e+3,null"
	           ",false ] }\r\n",
	           &r, &e),
	    KR_OK);
	assert_int_equal(r.op, OP_PING);
	request_free(&r);
}

/* Escapes are undone in names and values; the first of duplicate members counts. */
static void decode_undoes_escapes_and_takes_the_first_member(void **state)
{
	struct request r;
	struct err_detail e;

	assert_int_equal(
	    decode("{\"\\u0076\":1.0,\"o\\u0070\":\"g\\u0065t\",\"profile\":\"caf\\u00e9 "
	           "\\u20ac \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\","
	           "\"env\":{\"AWS\\u005fREGION\":\"eu-\\u0077est-1\"}}",
	           &r, &e),
	    KR_OK);
	assert_int_equal(r.op, OP_GET);
	assert_string_equal(r.profile,
	                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ / \b\f\n\r\t");
	assert_string_equal(r.env.region, "eu-west-1");
	request_free(&r);

	assert_int_equal(
	    decode("{\"v\":1,\"profile\":5,\"profile\":\"second\",\"all\":false,"
	           "\"all\":true,\"verify\":true,\"env\":{\"HOME\":\"/a\",\"HOME\":\"/b\"},"
	           "\"env\":{\"AWS_REGION\":\"x\"}}",
	           &r, &e),
	    KR_OK);
	assert_null(r.profile); /* the first "profile" is no string */
	assert_false(r.all);
	assert_true(r.verify);
	assert_string_equal(r.env.home, "/a");
	assert_null(r.env.region); /* only the first "env" */
	request_free(&r);

	/* "v" as the first member says, however the number is written */
	assert_int_equal(decode("{\"v\":1e0}", &r, &e), KR_OK);
	request_free(&r);
	assert_int_equal(decode("{\"v\":\"1\",\"v\":1}", &r, &e), KR_ERR_VERSION);
	assert_int_equal(decode("{\"v\":2,\"v\":1}", &r, &e), KR_ERR_VERSION);
}

/* An env value is bounded by its decoded length, and so is the number of entries. */
static void decode_bounds_env_values_after_escapes(void **state)
{
	size_t cap = KR_VALUE_MAX, n;
	char *text = malloc(2 * cap + 256);
	struct request r;
	struct err_detail e;

	assert_non_null(text);
	/* exactly the cap, written with escapes that make the text longer than the cap */
	n = (size_t)sprintf(text, "{\"v\":1,\"env\":{\"HOME\":\"");
	for (size_t i = 0; i < cap; i++)
		n += (size_t)sprintf(text + n, i % 2 ? "a" : "\\/");
	sprintf(text + n, "\"}}");
	assert_int_equal(decode(text, &r, &e), KR_OK);
	assert_int_equal(strlen(r.env.home), cap);
	request_free(&r);
	/* one byte more */
	sprintf(text + n, "b\"}}");
	assert_int_equal(decode(text, &r, &e), KR_ERR_INVAL);
	/* KR_ENV_MAX entries pass, one more does not (unknown names count too) */
	n = (size_t)sprintf(text, "{\"v\":1,\"env\":{");
	for (int i = 0; i < KR_ENV_MAX; i++)
		n += (size_t)sprintf(text + n, "%s\"X%d\":\"y\"", i ? "," : "", i);
	sprintf(text + n, "}}");
	assert_int_equal(decode(text, &r, &e), KR_OK);
	request_free(&r);
	sprintf(text + n, ",\"Z\":\"y\"}}");
	assert_int_equal(decode(text, &r, &e), KR_ERR_INVAL);
	free(text);
}

/*
 * Differential: random valid requests (members in random order, duplicates,
 * escapes, values of every type, nested members nobody reads), read by the
 * daemon and by cJSON: every string and flag the daemon keeps must be what
 * cJSON reads at the same place, the first of duplicates included.
 */
static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static void rnd_string(unsigned *seed, char *out, size_t *n)
{
	static const char *const parts[] = {"a",        "Z",       "-",       "/",
	                                    "\\/",      "\\\"",    "\\\\",    "\\n",
	                                    "\\t",      "\\u00e9", "\\u20AC", "\\ud83d\\ude00",
	                                    "\xc3\xa9", "\\u0041", " "};
	int len = (int)(rnd(seed) % 8);

	out[(*n)++] = '"';
	for (int i = 0; i < len; i++)
		*n += (size_t)sprintf(out + *n, "%s",
		                      parts[rnd(seed) % (sizeof(parts) / sizeof(parts[0]))]);
	out[(*n)++] = '"';
}

static void rnd_value(unsigned *seed, char *out, size_t *n, int depth)
{
	static const char *const atoms[] = {"true", "false", "null", "0", "-1.5e3", "12"};

	switch (rnd(seed) % (depth < 3 ? 4 : 2)) {
	case 0:
		rnd_string(seed, out, n);
		break;
	case 1:
		*n += (size_t)sprintf(out + *n, "%s", atoms[rnd(seed) % 6]);
		break;
	case 2:
		out[(*n)++] = '[';
		for (unsigned i = 0, k = rnd(seed) % 3; i < k; i++) {
			if (i)
				out[(*n)++] = ',';
			rnd_value(seed, out, n, depth + 1);
		}
		out[(*n)++] = ']';
		break;
	default:
		out[(*n)++] = '{';
		for (unsigned i = 0, k = rnd(seed) % 3; i < k; i++) {
			if (i)
				out[(*n)++] = ',';
			rnd_string(seed, out, n);
			out[(*n)++] = ':';
			rnd_value(seed, out, n, depth + 1);
		}
		out[(*n)++] = '}';
	}
}

static const char *ref_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void same_str(const char *what, const char *ours, const char *ref, const char *text)
{
	if ((ours == NULL) != (ref == NULL) || (ours && strcmp(ours, ref) != 0))
		fail_msg("%s: ours \"%s\", cJSON \"%s\" in %s", what, ours ? ours : "(null)",
		         ref ? ref : "(null)", text);
}

static void decode_agrees_with_cjson_on_random_requests(void **state)
{
	/* The strings, then the flags, then keys that are not read. */
	static const char *const keys[] = {"op",
	                                   "profile",
	                                   "mfa_code",
	                                   "access_key_id",
	                                   "secret_access_key",
	                                   "session",
	                                   "login_id",
	                                   "as",
	                                   "keyrole",
	                                   "all",
	                                   "verify",
	                                   "force",
	                                   "move",
	                                   "x",
	                                   "o\\u0070"};
	static const char *const env_keys[] = {"HOME", "AWS_REGION", "AWS_\\u0052EGION", "NOPE",
	                                       "https_proxy"};
	char *text = malloc(1 << 16);
	unsigned seed = 12345;

	assert_non_null(text);
	for (int round = 0; round < 3000; round++) {
		struct request r;
		struct err_detail e;
		size_t n = 0;
		cJSON *ref;
		const cJSON *env;

		n += (size_t)sprintf(text, "{\"v\":1");
		for (unsigned i = 0, k = rnd(&seed) % 10; i < k; i++) {
			unsigned pick = rnd(&seed) % 17;

			if (pick < 15) {
				n += (size_t)sprintf(text + n, ",\"%s\":", keys[pick]);
				if (pick < 9 && rnd(&seed) % 4)
					rnd_string(&seed, text, &n);
				else if (pick >= 9 && pick < 13 && rnd(&seed) % 2)
					n += (size_t)sprintf(text + n, "true");
				else
					rnd_value(&seed, text, &n, 0);
			} else {
				n += (size_t)sprintf(text + n, ",\"env\":{");
				for (unsigned j = 0, m = rnd(&seed) % 5; j < m; j++) {
					n += (size_t)sprintf(text + n, "%s\"%s\":", j ? "," : "",
					                     env_keys[rnd(&seed) % 5]);
					rnd_string(&seed, text, &n);
				}
				text[n++] = '}';
			}
		}
		text[n++] = '}';
		text[n] = '\0';
		ref = cJSON_ParseWithLength(text, n);
		assert_non_null(ref);
		if (decode(text, &r, &e) != KR_OK)
			fail_msg("refused (%s): %s", e.msg, text);
		same_str("op", r.op_name, ref_str(ref, "op"), text);
		same_str("profile", r.profile, ref_str(ref, "profile"), text);
		same_str("mfa_code", r.mfa_code, ref_str(ref, "mfa_code"), text);
		same_str("access_key_id", r.access_key_id, ref_str(ref, "access_key_id"), text);
		same_str("secret", r.secret_access_key, ref_str(ref, "secret_access_key"), text);
		same_str("session", r.session, ref_str(ref, "session"), text);
		same_str("login_id", r.login_id, ref_str(ref, "login_id"), text);
		same_str("as", r.as, ref_str(ref, "as"), text);
		same_str("keyrole", r.keyrole, ref_str(ref, "keyrole"), text);
		assert_int_equal(r.move,
		                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "move")));
		assert_int_equal(r.force,
		                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "force")));
		assert_int_equal(r.all, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "all")));
		assert_int_equal(r.verify,
		                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "verify")));
		env = cJSON_GetObjectItemCaseSensitive(ref, "env");
		same_str("HOME", r.env.home, env ? ref_str(env, "HOME") : NULL, text);
		same_str("AWS_REGION", r.env.region, env ? ref_str(env, "AWS_REGION") : NULL, text);
		same_str("https_proxy", r.env.proxy.https_proxy,
		         env ? ref_str(env, "https_proxy") : NULL, text);
		request_free(&r);
		cJSON_Delete(ref);
	}
	free(text);
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

/* The wait line's op and the MFA prompt's member (client/request.c reads both). */
static void waiting_and_mfa_prompt_are_on_the_wire(void **state)
{
	struct request rq;
	struct err_detail e;
	struct reply r = {.op = OP_WAITING, .ok = 1, .u.waiting = "AssumeRole x (profile p)"};
	cJSON *o;

	assert_int_equal(
	    decode("{\"v\":1,\"op\":\"waiting\",\"profile\":\"p\",\"env\":{}}", &rq, &e), KR_OK);
	assert_int_equal(rq.op, OP_WAITING);
	assert_string_equal(rq.profile, "p");
	request_free(&rq);
	o = encode(&r);
	assert_string_equal(cJSON_GetObjectItem(o, "waiting")->valuestring,
	                    "AssumeRole x (profile p)");
	cJSON_Delete(o);
	r = (struct reply){.op = OP_WAITING, .ok = 1};
	o = encode(&r);
	assert_string_equal(cJSON_GetObjectItem(o, "waiting")->valuestring, "");
	cJSON_Delete(o);
	err_set(&e, KR_ERR_MFA, NULL, 0, NULL, "MFA code required");
	r = (struct reply){.ok = 0};
	r.u.error.e = &e;
	r.u.error.mfa_serial = "arn:aws:iam::1:mfa/me";
	r.u.error.mfa_prompt = "/usr/bin/ssh-askpass";
	o = encode(&r);
	assert_string_equal(cJSON_GetObjectItem(o, "mfa_prompt")->valuestring,
	                    "/usr/bin/ssh-askpass");
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
	    cmocka_unit_test(decode_is_strict_json),
	    cmocka_unit_test(decode_undoes_escapes_and_takes_the_first_member),
	    cmocka_unit_test(decode_bounds_env_values_after_escapes),
	    cmocka_unit_test(decode_agrees_with_cjson_on_random_requests),
	    cmocka_unit_test(every_variable_the_client_sends_is_honoured),
	    cmocka_unit_test(error_reply_names_the_error_and_where),
	    cmocka_unit_test(get_reply_carries_the_credentials),
	    cmocka_unit_test(waiting_and_mfa_prompt_are_on_the_wire),
	    cmocka_unit_test(decode_takes_the_login_fields),
	    cmocka_unit_test(login_replies_carry_what_the_client_reads),
	    cmocka_unit_test(sso_profiles_and_status_list_without_tokens),
	};

	msg_install_json_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
