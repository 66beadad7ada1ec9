/*
 * libFuzzer harness: STS response bodies (daemon/sts_xml.c), the bytes an
 * endpoint or anything in between can send us. Also the Expiration time
 * parser on the same bytes as a string.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - a failed parse leaves *ret untouched (all zero here) and its code and
 *   a reason in the err_detail, NUL-terminated inside their arrays;
 * - a successful parse gives NUL-terminated strings within the text cap
 *   and a root name that fits its array;
 * - rfc3339_parse() writes its result only on success.
 */
#include "err.h"
#include "mem.h"
#include "rfc3339.h"
#include "sts_xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s)
{
	if (s && strnlen(s, KR_STS_XML_TEXT_MAX + 1) > KR_STS_XML_TEXT_MAX)
		abort();
}

static void check_time(const uint8_t *data, size_t size)
{
	char s[128];
	time_t t = (time_t)-12345;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	if (rfc3339_parse(s, &t) < 0 && t != (time_t)-12345)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sts_xml_result zero;
	struct sts_xml_result res;
	struct err_detail e;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&e, 'x', sizeof(e));
	r = sts_xml_parse((const char *)data, size, &res, &e);
	if (r < 0) {
		if (memcmp(&res, &zero, sizeof(res)) != 0 || e.code != r ||
		    strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg) ||
		    strnlen(e.fix, sizeof(e.fix)) == sizeof(e.fix))
			abort();
	} else {
		if (strnlen(res.root, sizeof(res.root)) == sizeof(res.root))
			abort();
		check_str(res.access_key_id);
		check_str(res.secret_access_key);
		check_str(res.session_token);
		check_str(res.arn);
		check_str(res.account);
		check_str(res.user_id);
		check_str(res.error_code);
		check_str(res.error_message);
		sts_xml_result_clear(&res);
		if (memcmp(&res, &zero, sizeof(res)) != 0)
			abort();
	}
	check_time(data, size);
	return 0;
}
