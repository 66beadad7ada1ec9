/*
 * The credentials endpoint's request parser (credsrv_parse()): what a
 * complete request is, where the Authorization header is, and the bounds
 * and refusals that keep a malformed or endless request from being
 * believed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "caps.h"
#include "credsrv.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct credsrv_req *q)
{
	return credsrv_parse(s, strlen(s), q);
}

static void a_whole_get_gives_method_target_and_authorization(void **state)
{
	const char *s = "GET /keyrole/credentials HTTP/1.1\r\nHost: 127.0.0.1:4\r\n"
	                "authorization:   abc123  \r\nAccept: */*\r\n\r\n";
	struct credsrv_req q;

	assert_int_equal(parse(s, &q), 1);
	assert_int_equal(q.method_len, 3);
	assert_memory_equal(q.method, "GET", 3);
	assert_int_equal(q.target_len, strlen("/keyrole/credentials"));
	assert_memory_equal(q.target, "/keyrole/credentials", q.target_len);
	assert_non_null(q.auth);
	assert_int_equal(q.auth_len, 6); /* white space around the value is not part of it */
	assert_memory_equal(q.auth, "abc123", 6);
	assert_int_equal(q.head_len, strlen(s));
}

static void no_authorization_header_leaves_auth_null(void **state)
{
	struct credsrv_req q;

	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &q), 1);
	assert_null(q.auth);
	assert_int_equal(parse("GET / HTTP/1.1\r\nX-Authorization: t\r\n\r\n", &q), 1);
	assert_null(q.auth);
}

static void a_request_without_its_blank_line_is_incomplete(void **state)
{
	struct credsrv_req q;

	assert_int_equal(parse("", &q), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\n", &q), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nAuthorization: x\r\n", &q), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nAuthoriz", &q), 0);
}

static void headers_past_the_cap_are_too_big(void **state)
{
	size_t n = KR_CREDSRV_REQ_MAX + 16;
	char *s = malloc(n + 1);
	struct credsrv_req q;

	assert_non_null(s);
	memset(s, 'a', n);
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	s[n] = '\0';
	/* No end in sight at the cap: refused, not read for ever. */
	assert_int_equal(credsrv_parse(s, KR_CREDSRV_REQ_MAX, &q), KR_ERR_TOOBIG);
	/* An end that comes only past the cap is refused too. */
	memcpy(s + n - 4, "\r\n\r\n", 4);
	assert_int_equal(credsrv_parse(s, n, &q), KR_ERR_TOOBIG);
	free(s);
}

static void malformed_requests_are_refused(void **state)
{
	static const char *const bad[] = {
	    "GARBAGE\r\n\r\n",
	    "GET\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",           /* empty target */
	    "GET / HTTP/2.0\r\n\r\n",            /* not HTTP/1.x */
	    "GET / HTTP/1.1 x\r\n\r\n",          /* a third space */
	    "G(T / HTTP/1.1\r\n\r\n",            /* not a token */
	    "GET /\x01 HTTP/1.1\r\n\r\n",        /* a control character in the target */
	    "GET / HTTP/1.1\r\nNoColon\r\n\r\n", /* a header without a colon */
	    "GET / HTTP/1.1\r\n: v\r\n\r\n",     /* an empty name */
	    "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",  /* a control character in a value */
	    "GET / HTTP/1.1\r\n folded\r\n\r\n",    /* obsolete line folding */
	    "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", /* a bare LF inside */
	    "GET / HTTP/1.1\r\nAuthorization: a\r\nAUTHORIZATION: b\r\n\r\n", /* two */
	};
	struct credsrv_req q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i], &q);

		if (r != KR_ERR_PROTO)
			fail_msg("request %zu: %d, expected KR_ERR_PROTO", i, r);
	}
}

static void a_nul_byte_is_refused(void **state)
{
	static const char s[] = "GET / HTTP/1.1\r\nAuthorization: ab\0cd\r\n\r\n";
	struct credsrv_req q;

	assert_int_equal(credsrv_parse(s, sizeof(s) - 1, &q), KR_ERR_PROTO);
}

static void bytes_after_the_headers_are_not_part_of_them(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nAuthorization: t\r\n\r\nAuthorization: u\r\n\r\n";
	struct credsrv_req q;

	assert_int_equal(parse(s, &q), 1);
	assert_int_equal(q.auth_len, 1);
	assert_memory_equal(q.auth, "t", 1);
	assert_int_equal(q.head_len, strlen("GET / HTTP/1.1\r\nAuthorization: t\r\n\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_whole_get_gives_method_target_and_authorization),
	    cmocka_unit_test(no_authorization_header_leaves_auth_null),
	    cmocka_unit_test(a_request_without_its_blank_line_is_incomplete),
	    cmocka_unit_test(headers_past_the_cap_are_too_big),
	    cmocka_unit_test(malformed_requests_are_refused),
	    cmocka_unit_test(a_nul_byte_is_refused),
	    cmocka_unit_test(bytes_after_the_headers_are_not_part_of_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
