/*
 * libFuzzer harness: common/json.c, the client's JSON, which reads every
 * reply of the daemon. The input is one JSON text as it would arrive.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - json_parse() answers OK, PARSE or TOOBIG (or NOMEM), and leaves
 *   *ret_value untouched on failure;
 * - what it accepted prints (compact and pretty) to text that it parses
 *   back and prints again byte for byte the same (the printed form is a
 *   fixed point), and that cJSON reads as the same tree;
 * - where cJSON also accepts the input, both read the same tree. We may
 *   refuse what cJSON takes (it is lenient: leading zeros, raw control
 *   characters, "\u0000", infinities), never the reverse, except for a
 *   number of KR_JSON_NUMBER_MAX characters, one more than cJSON reads.
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "json.h"

#include "../lib/json_cjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRINT_MAX (16 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* v printed with flags into out (reset first); abort() if it cannot be. */
static void print_or_abort(const struct json *v, unsigned flags, struct buf *out)
{
	buf_reset(out);
	if (json_print(v, flags, out) != KR_OK)
		abort(); /* nothing we parsed is too deep to print, or this large */
}

/* A run of KR_JSON_NUMBER_MAX number characters: longer than cJSON reads. */
static int has_long_number(const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		run = strchr("0123456789.eE+-", s[i]) && s[i] ? run + 1 : 0;
		if (run >= KR_JSON_NUMBER_MAX)
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json *v = (struct json *)&v, *again = NULL;
	struct buf compact, pretty, other;
	cJSON *c;
	int r;

	r = json_parse(text, size, &v);
	if (r < 0) {
		if (v != (struct json *)&v ||
		    (r != KR_ERR_PARSE && r != KR_ERR_TOOBIG && r != KR_ERR_NOMEM))
			abort();
		return 0;
	}
	buf_init(&compact, PRINT_MAX);
	buf_init(&pretty, PRINT_MAX);
	buf_init(&other, PRINT_MAX);
	print_or_abort(v, 0, &compact);
	print_or_abort(v, JSON_PRETTY, &pretty);

	/* Our printing reads back to the same text, from either layout. */
	if (json_parse(compact.data, compact.len, &again) != KR_OK)
		abort();
	print_or_abort(again, 0, &other);
	if (other.len != compact.len || memcmp(other.data, compact.data, compact.len) != 0)
		abort();
	json_free(again);
	again = NULL;
	if (json_parse(pretty.data, pretty.len, &again) != KR_OK)
		abort();
	print_or_abort(again, 0, &other);
	if (other.len != compact.len || memcmp(other.data, compact.data, compact.len) != 0)
		abort();

	/* cJSON reads what we print as our tree. */
	c = cjson_parse_exact(compact.data, compact.len);
	if (!c || !json_same_as_cjson(v, c))
		abort();
	cJSON_Delete(c);

	/* And reads the input itself as we do. */
	c = cjson_parse_exact(text, size);
	if (c ? !json_same_as_cjson(v, c) : !has_long_number(text, size))
		abort();
	cJSON_Delete(c);

	json_free(again);
	json_free(v);
	buf_free(&compact);
	buf_free(&pretty);
	buf_free(&other);
	return 0;
}
