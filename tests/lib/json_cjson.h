/*
 * Our JSON (common/json.c) against cJSON, for the differential unit test
 * (tests/unit/test_json.c) and the fuzz harness (tests/fuzz/fuzz_json.c).
 * cJSON is the reference: the daemon builds every reply with it.
 */
#ifndef KR_TEST_JSON_CJSON_H
#define KR_TEST_JSON_CJSON_H

#include "json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/*
 * cJSON's parse of exactly len bytes, as strict as it gets: the text is
 * copied with a NUL after it and cJSON must end at that NUL (without
 * that, cJSON ignores trailing garbage). NULL when cJSON refuses it.
 */
static inline cJSON *cjson_parse_exact(const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	cJSON *c;

	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	c = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	free(copy);
	return c;
}

/* 1 if our value a and cJSON's b are the same JSON value (member order included). */
static inline int json_same_as_cjson(const struct json *a, const cJSON *b)
{
	const struct json *ai;
	const cJSON *bi;

	if (!a || !b)
		return 0;
	switch (json_type(a)) {
	case JSON_NULL:
		return cJSON_IsNull(b);
	case JSON_FALSE:
		return cJSON_IsFalse(b);
	case JSON_TRUE:
		return cJSON_IsTrue(b);
	case JSON_NUMBER:
		return cJSON_IsNumber(b) && json_num(a) == b->valuedouble;
	case JSON_STRING:
		return cJSON_IsString(b) && strcmp(json_str(a), b->valuestring) == 0;
	case JSON_ARRAY:
		if (!cJSON_IsArray(b))
			return 0;
		break;
	case JSON_OBJECT:
		if (!cJSON_IsObject(b))
			return 0;
		break;
	default:
		return 0;
	}
	bi = b->child;
	json_for_each(ai, a)
	{
		if (!bi)
			return 0;
		if (json_type(a) == JSON_OBJECT &&
		    (!bi->string || strcmp(json_key(ai), bi->string) != 0))
			return 0;
		if (!json_same_as_cjson(ai, bi))
			return 0;
		bi = bi->next;
	}
	return bi == NULL && (size_t)cJSON_GetArraySize(b) == json_count(a);
}

#endif
