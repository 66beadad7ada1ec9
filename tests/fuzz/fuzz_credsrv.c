/*
 * libFuzzer harness: the bytes the credentials endpoint (daemon/credsrv.c)
 * reads from a loopback connection, as they arrive, through
 * credsrv_parse().
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - the result is 1, 0, KR_ERR_TOOBIG or KR_ERR_PROTO, and TOOBIG never
 *   for fewer than KR_CREDSRV_REQ_MAX bytes without an end of headers;
 * - a complete request lies inside the input and within the cap: method,
 *   target and Authorization value point into the headers, the method is
 *   a token and the target has no space or control character;
 * - parsing is monotonic: a prefix shorter than the headers is incomplete
 *   or malformed, never complete, and the headers alone parse the same.
 */
#include "caps.h"
#include "credsrv.h"
#include "err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct credsrv_req q, q2;
	int r = credsrv_parse(buf, size, &q);

	if (r != 1 && r != 0 && r != KR_ERR_TOOBIG && r != KR_ERR_PROTO)
		abort();
	if (r != 1)
		return 0;
	if (q.head_len > size || q.head_len > KR_CREDSRV_REQ_MAX)
		abort();
	if (!inside(q.method, q.method_len, buf, q.head_len) || q.method_len == 0 ||
	    !inside(q.target, q.target_len, buf, q.head_len) || q.target_len == 0)
		abort();
	for (size_t i = 0; i < q.target_len; i++)
		if ((unsigned char)q.target[i] <= ' ' || (unsigned char)q.target[i] >= 0x7f)
			abort();
	if (q.auth && !inside(q.auth, q.auth_len, buf, q.head_len))
		abort();
	if (credsrv_parse(buf, q.head_len - 1, &q2) == 1)
		abort();
	if (credsrv_parse(buf, q.head_len, &q2) != 1 || q2.head_len != q.head_len ||
	    q2.auth_len != q.auth_len || (q.auth && memcmp(q.auth, q2.auth, q.auth_len)))
		abort();
	return 0;
}
