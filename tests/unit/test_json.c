/*
 * Unit tests for common/json.c, the client's JSON: parsing (escapes, caps,
 * invalid text), the tree, builders, printers, wiping, and a differential
 * test against cJSON, which builds every reply the client reads.
 *
 * Linked with -Wl,--wrap=free (Makefile): every block our code frees is
 * checked for a marker secret first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "json.h"

#include "../lib/json_cjson.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- free() with a look inside ---- */

#define MARKER "KRSECRETwipeME42"

static size_t unwiped_frees;

void __real_free(void *p);
void __wrap_free(void *p);

void __wrap_free(void *p)
{
	if (p && memmem(p, malloc_usable_size(p), MARKER, strlen(MARKER)))
		unwiped_frees++;
	__real_free(p);
}

/* ---- helpers ---- */

static struct json *parse_ok(const char *text)
{
	struct json *v = NULL;

	assert_int_equal(json_parse(text, strlen(text), &v), KR_OK);
	assert_non_null(v);
	return v;
}

static void expect_parse_error(const char *text, size_t len, int err)
{
	struct json *v = (struct json *)&v; /* must stay untouched */

	if (json_parse(text, len, &v) != err)
		fail_msg("json_parse(\"%.*s\") did not give %s", (int)len, text, err_name(err));
	assert_ptr_equal(v, (struct json *)&v);
}

/* v printed (compact or pretty) into a new string; free() it. */
static char *print(const struct json *v, unsigned flags)
{
	struct buf b;
	char *s;

	buf_init(&b, KR_JSON_MAX);
	assert_int_equal(json_print(v, flags, &b), KR_OK);
	s = buf_steal(&b, NULL);
	assert_non_null(s);
	return s;
}

/* text parses and prints compactly as exactly want. */
static void expect_compact(const char *text, const char *want)
{
	struct json *v = parse_ok(text);
	char *got = print(v, 0);

	assert_string_equal(got, want);
	free(got);
	json_free(v);
}

/* ---- parsing ---- */

static void parse_reads_every_type_in_order(void **state)
{
	struct json *v = parse_ok(" {\"s\":\"x\", \"n\":-1.5e2, \"t\":true, \"f\":false, "
	                          "\"z\":null, \"a\":[1,\"two\",[]], \"o\":{}} ");
	const struct json *a, *it;
	const char *keys[] = {"s", "n", "t", "f", "z", "a", "o"};
	size_t i = 0;

	assert_int_equal(json_type(v), JSON_OBJECT);
	assert_int_equal(json_count(v), 7);
	json_for_each(it, v) assert_string_equal(json_key(it), keys[i++]);
	assert_string_equal(json_get_str(v, "s"), "x");
	assert_true(json_num(json_get(v, "n")) == -150.0);
	assert_int_equal(json_type(json_get(v, "t")), JSON_TRUE);
	assert_int_equal(json_type(json_get(v, "f")), JSON_FALSE);
	assert_int_equal(json_type(json_get(v, "z")), JSON_NULL);
	assert_int_equal(json_type(json_get(v, "o")), JSON_OBJECT);
	assert_int_equal(json_count(json_get(v, "o")), 0);
	a = json_get(v, "a");
	assert_int_equal(json_type(a), JSON_ARRAY);
	assert_int_equal(json_count(a), 3);
	assert_true(json_num(json_first(a)) == 1.0);
	assert_null(json_key(json_first(a)));
	assert_string_equal(json_str(json_next(json_first(a))), "two");
	assert_int_equal(json_type(json_next(json_next(json_first(a)))), JSON_ARRAY);
	assert_null(json_next(json_next(json_next(json_first(a)))));
	/* Exact keys only; the wrong type reads as nothing. */
	assert_null(json_get(v, "S"));
	assert_null(json_get(v, "s "));
	assert_null(json_get_str(v, "n"));
	assert_true(json_num(json_get(v, "s")) == 0);
	assert_null(json_get(a, "s"));
	json_free(v);
}

static void parse_takes_any_value_at_the_top(void **state)
{
	struct json *v = parse_ok("\t\r\n \"only\" \n");

	assert_string_equal(json_str(v), "only");
	assert_null(json_key(v));
	json_free(v);
	v = parse_ok("null");
	assert_int_equal(json_type(v), JSON_NULL);
	json_free(v);
	v = parse_ok("-0");
	assert_true(json_num(v) == 0 && signbit(json_num(v)));
	json_free(v);
}

static void parse_finds_the_first_of_duplicate_keys(void **state)
{
	struct json *v = parse_ok("{\"k\":\"first\",\"k\":\"second\"}");

	assert_int_equal(json_count(v), 2);
	assert_string_equal(json_get_str(v, "k"), "first");
	json_free(v);
}

static void parse_decodes_every_escape_to_utf8(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"\"\\\"\"", "\""},
	    {"\"\\\\\"", "\\"},
	    {"\"\\/\"", "/"},
	    {"\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t"},
	    {"\"\\u0001\\u001f\\u0020\"", "\x01\x1f "},
	    {"\"\\u0041\\u007a\\u007F\"", "Az\x7f"},
	    {"\"\\u00e9\\u00C9\"", "\xc3\xa9\xc3\x89"},                   /* 2 bytes */
	    {"\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80"},               /* 2/3 boundary */
	    {"\"\\u20ac\\uffff\"", "\xe2\x82\xac\xef\xbf\xbf"},           /* 3 bytes */
	    {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},                   /* surrogate pair */
	    {"\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80"},                   /* lowest pair */
	    {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf"},                   /* U+10FFFF */
	    {"\"a\\nb\\u0041c\"", "a\nbAc"},                              /* mixed */
	    {"\"caf\xc3\xa9 \xe2\x82\xac\"", "caf\xc3\xa9 \xe2\x82\xac"}, /* raw UTF-8 */
	    {"\"\"", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json *v = parse_ok(cases[i].json);

		assert_string_equal(json_str(v), cases[i].want);
		json_free(v);
	}
}

static void parse_rejects_invalid_text(void **state)
{
	static const char *const bad[] = {
	    "",
	    " ",
	    "{",
	    "}",
	    "[",
	    "]",
	    "[1,]",
	    "[,1]",
	    "[1 2]",
	    "{\"a\":1,}",
	    "{,}",
	    "{\"a\"}",
	    "{\"a\" 1}",
	    "{\"a\":}",
	    "{a:1}",
	    "{'a':1}",
	    "{1:1}",
	    "{\"a\":1 \"b\":2}",
	    "01",
	    "-01",
	    "1.",
	    ".5",
	    "1.e5",
	    "-",
	    "+1",
	    "1e",
	    "1e+",
	    "0x10",
	    "--1",
	    "1.5.5",
	    "NaN",
	    "Infinity",
	    "-Infinity",
	    "1e999",
	    "-1e999",
	    "tru",
	    "truex",
	    "nul",
	    "nulls",
	    "True",
	    "FALSE",
	    "'a'",
	    "\"abc",
	    "\"\\\"",
	    "\"\\x\"",
	    "\"\\U0041\"",
	    "\"\\u12\"",
	    "\"\\u12g4\"",
	    "\"\\u\"",
	    "\"\\ud800\"",
	    "\"\\udc00\"",
	    "\"\\ud800\\u0041\"",
	    "\"\\ud800\\ud800\"",
	    "\"\\ud800x\"",
	    "\"\\u0000\"",
	    "\"a\\u0000b\"",
	    "\"a\tb\"",
	    "\"\x01\"",
	    "\"\n\"",
	    "\x0b"
	    "1",
	    "\f1",
	    "1 2",
	    "[] x",
	    "{\"a\":1}}",
	    "[]]",
	    "\"a\"\"b\"",
	    "/* c */ 1",
	    "1 // c",
	    "[1]\x0b",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_parse_error(bad[i], strlen(bad[i]), KR_ERR_PARSE);
	expect_parse_error(NULL, 0, KR_ERR_PARSE);
}

static void parse_rejects_nul_bytes_anywhere(void **state)
{
	expect_parse_error("{\"a\":1}\0", 8, KR_ERR_PARSE);
	expect_parse_error("\0{\"a\":1}", 8, KR_ERR_PARSE);
	expect_parse_error("\"a\0b\"", 5, KR_ERR_PARSE);
	expect_parse_error("{\"a\0\":1}", 8, KR_ERR_PARSE);
	expect_parse_error("[1,\0 2]", 7, KR_ERR_PARSE);
	expect_parse_error("tr\0e", 4, KR_ERR_PARSE);
}

static void parse_reads_only_len_bytes(void **state)
{
	struct json *v = NULL;

	/* What follows len is never looked at: a number cut short stays short. */
	assert_int_equal(json_parse("12345", 2, &v), KR_OK);
	assert_true(json_num(v) == 12.0);
	json_free(v);
	assert_int_equal(json_parse("[1]garbage", 3, &v), KR_OK);
	json_free(v);
	expect_parse_error("\"abc\"", 4, KR_ERR_PARSE);
	expect_parse_error("true", 3, KR_ERR_PARSE);
	expect_parse_error("\"\\u0041\"", 6, KR_ERR_PARSE);
	expect_parse_error("\"\\ud83d\\ude00\"", 9, KR_ERR_PARSE);
}

/* n arrays (or objects) nested in each other. */
static char *nested(int n, int objects)
{
	size_t len = (size_t)n * (objects ? 6 : 2) + 2;
	char *s = malloc(len), *p = s;

	assert_non_null(s);
	for (int i = 0; i < n; i++) {
		const char *open = objects ? "{\"k\":" : "[";

		memcpy(p, open, strlen(open));
		p += strlen(open);
	}
	*p++ = objects ? '1' : ' ';
	for (int i = 0; i < n; i++)
		*p++ = objects ? '}' : ']';
	*p = '\0';
	return s;
}

static void parse_caps_nesting_depth(void **state)
{
	for (int objects = 0; objects <= 1; objects++) {
		char *ok = nested(KR_JSON_DEPTH_MAX, objects);
		char *deep = nested(KR_JSON_DEPTH_MAX + 1, objects);
		char *very = nested(100000, objects); /* no stack overflow either */
		struct json *v = parse_ok(ok);
		char *again = print(v, JSON_PRETTY);

		json_free(v);
		json_free(parse_ok(again)); /* printed at the cap, read back */
		expect_parse_error(deep, strlen(deep), KR_ERR_TOOBIG);
		expect_parse_error(very, strlen(very), KR_ERR_TOOBIG);
		free(ok);
		free(deep);
		free(very);
		free(again);
	}
}

static void parse_caps_size_and_number_length(void **state)
{
	char *big = malloc(KR_JSON_MAX + 2);
	char num[KR_JSON_NUMBER_MAX + 2];
	struct json *v;

	assert_non_null(big);
	/* Exactly the cap (a number padded with whitespace) is fine; one more is not. */
	memset(big, ' ', KR_JSON_MAX + 1);
	big[0] = '7';
	v = NULL;
	assert_int_equal(json_parse(big, KR_JSON_MAX, &v), KR_OK);
	assert_true(json_num(v) == 7.0);
	json_free(v);
	expect_parse_error(big, KR_JSON_MAX + 1, KR_ERR_TOOBIG);
	free(big);

	memset(num, '1', sizeof(num));
	num[1] = '.';
	v = NULL;
	assert_int_equal(json_parse(num, KR_JSON_NUMBER_MAX, &v), KR_OK);
	assert_true(fabs(json_num(v) - 1.1111111111111111) < 1e-15);
	json_free(v);
	expect_parse_error(num, KR_JSON_NUMBER_MAX + 1, KR_ERR_TOOBIG);
}

static void numbers_read_as_doubles_and_print_shortest(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"0", "0"},
	    {"-0", "-0"},
	    {"1", "1"},
	    {"-42", "-42"},
	    {"1.0", "1"},
	    {"1e3", "1000"},
	    {"2.5E-1", "0.25"},
	    {"3600", "3600"},
	    {"1764000000", "1764000000"},
	    {"999999999999999", "999999999999999"},
	    {"9007199254740993", "9007199254740992"}, /* 2^53 + 1 is not a double */
	    {"0.1", "0.1"},
	    {"-0.3", "-0.3"},
	    {"0.30000000000000004", "0.30000000000000004"},
	    {"3.141592653589793", "3.141592653589793"},
	    {"1e300", "1e+300"},
	    {"1.7976931348623157e308", "1.7976931348623157e+308"},
	    {"5e-324", "4.94065645841247e-324"}, /* few digits in a denormal */
	    {"1e-400", "0"},                     /* underflow is a number, not an error */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_compact(cases[i].json, cases[i].want);
}

/* ---- printing ---- */

static void print_escapes_strings_and_reads_them_back(void **state)
{
	struct json *o = json_new_object(), *v;
	const char *nasty = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f caf\xc3\xa9 \xff";
	char *text;

	assert_int_equal(json_add_str(o, "k\"\n", nasty), KR_OK);
	text = print(o, 0);
	assert_string_equal(text, "{\"k\\\"\\n\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f "
	                          "caf\xc3\xa9 \xff\"}");
	v = parse_ok(text);
	assert_string_equal(json_get_str(v, "k\"\n"), nasty);
	json_free(v);
	free(text);
	json_free(o);
}

/* The writer scans eight bytes at a time: every byte that needs an escape, at every offset of
 * a string among bytes that do not (high bytes included), is escaped once and reads back. */
static void print_escapes_at_every_offset_of_a_word(void **state)
{
	const char specials[] = {'"', '\\', '\n', '\x01', '\x1f'};
	const char *fill = "\x7f\x80\xff !#/[]~\x20\x21\x5b\x5d\xc3\xa9";

	for (size_t k = 0; k < sizeof(specials); k++) {
		for (size_t at = 0; at < 24; at++) {
			char in[25], want[40];
			size_t n = 0;
			struct json *o = json_new_object(), *v;
			char *text;

			for (size_t i = 0; i < 24; i++)
				in[i] = i == at ? specials[k] : fill[i % strlen(fill)];
			in[24] = '\0';
			assert_int_equal(json_add_str(o, "k", in), KR_OK);
			text = print(o, 0);
			/* the escape appears at its place, nowhere else */
			for (size_t i = 0; i < 24; i++) {
				unsigned char c = (unsigned char)in[i];

				if (c == '"' || c == '\\')
					n +=
					    (size_t)snprintf(want + n, sizeof(want) - n, "\\%c", c);
				else if (c == '\n')
					n += (size_t)snprintf(want + n, sizeof(want) - n, "\\n");
				else if (c < 0x20)
					n += (size_t)snprintf(want + n, sizeof(want) - n, "\\u%04x",
					                      c);
			}
			assert_non_null(strstr(text, want));
			assert_int_equal(strlen(text), strlen("{\"k\":\"\"}") + 23 + n);
			v = parse_ok(text);
			assert_string_equal(json_get_str(v, "k"), in);
			json_free(v);
			free(text);
			json_free(o);
		}
	}
}

static void print_compact_and_pretty_layout(void **state)
{
	struct json *v = parse_ok("{\"Version\":1,\"a\":[1,{\"b\":true},[]],\"o\":{},\"n\":null,"
	                          "\"s\":\"x\"}");
	char *compact = print(v, 0), *pretty = print(v, JSON_PRETTY);

	assert_string_equal(
	    compact, "{\"Version\":1,\"a\":[1,{\"b\":true},[]],\"o\":{},\"n\":null,\"s\":\"x\"}");
	assert_string_equal(pretty, "{\n"
	                            "  \"Version\": 1,\n"
	                            "  \"a\": [\n"
	                            "    1,\n"
	                            "    {\n"
	                            "      \"b\": true\n"
	                            "    },\n"
	                            "    []\n"
	                            "  ],\n"
	                            "  \"o\": {},\n"
	                            "  \"n\": null,\n"
	                            "  \"s\": \"x\"\n"
	                            "}");
	free(compact);
	free(pretty);
	json_free(v);
	v = parse_ok("[]");
	pretty = print(v, JSON_PRETTY);
	assert_string_equal(pretty, "[]");
	free(pretty);
	json_free(v);
}

static void print_refuses_trees_deeper_than_the_cap(void **state)
{
	struct json *root = json_new_object(), *o = root;
	struct buf b;

	/* root plus KR_JSON_DEPTH_MAX - 1 nested objects: printable. */
	for (int i = 1; i < KR_JSON_DEPTH_MAX; i++)
		assert_int_equal(json_add_object(o, "k", &o), KR_OK);
	buf_init(&b, KR_JSON_MAX);
	assert_int_equal(json_print(root, 0, &b), KR_OK);
	buf_free(&b);
	assert_int_equal(json_add_object(o, "k", &o), KR_OK);
	assert_int_equal(json_print(root, 0, &b), KR_ERR_TOOBIG);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	json_free(root);
}

static void print_failure_leaves_the_buffer_as_it_was(void **state)
{
	struct json *v = parse_ok("{\"k\":\"" MARKER MARKER MARKER "\"}");
	struct buf b;

	buf_init(&b, 40);
	assert_int_equal(buf_puts(&b, "before|"), KR_OK);
	assert_int_equal(json_print(v, 0, &b), KR_ERR_TOOBIG);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "before|");
	/* The part that was written is gone, not just cut off. */
	assert_null(memmem(b.data, b.cap + 1, "KRSECRET", 8));
	assert_int_equal(json_print(NULL, 0, &b), KR_ERR_INVAL);
	buf_free(&b);
	json_free(v);
}

/* ---- building ---- */

static void builders_append_members_in_order(void **state)
{
	struct json *o = json_new_object(), *child = NULL;
	char *text;

	assert_non_null(o);
	assert_int_equal(json_add_num(o, "v", 1), KR_OK);
	assert_int_equal(json_add_str(o, "op", "get"), KR_OK);
	assert_int_equal(json_add_bool(o, "yes", 1), KR_OK);
	assert_int_equal(json_add_bool(o, "no", 0), KR_OK);
	assert_int_equal(json_add_object(o, "env", &child), KR_OK);
	assert_int_equal(json_add_str(child, "HOME", "/h"), KR_OK);
	assert_int_equal(json_add_num(o, "half", -0.5), KR_OK);
	assert_int_equal(json_add_str(o, "v", "dup"), KR_OK); /* appended, not replaced */
	text = print(o, 0);
	assert_string_equal(text, "{\"v\":1,\"op\":\"get\",\"yes\":true,\"no\":false,"
	                          "\"env\":{\"HOME\":\"/h\"},\"half\":-0.5,\"v\":\"dup\"}");
	assert_true(json_num(json_get(o, "v")) == 1.0);
	free(text);
	json_free(o);
}

static void builders_refuse_non_objects_and_non_finite_numbers(void **state)
{
	struct json *o = json_new_object(), *a = parse_ok("[]"), *child = (struct json *)&a;

	assert_int_equal(json_add_str(a, "k", "v"), KR_ERR_INVAL);
	assert_int_equal(json_add_num(NULL, "k", 1), KR_ERR_INVAL);
	assert_int_equal(json_add_bool(a, "k", 1), KR_ERR_INVAL);
	assert_int_equal(json_add_object(a, "k", &child), KR_ERR_INVAL);
	assert_ptr_equal(child, (struct json *)&a);
	assert_int_equal(json_add_str(o, NULL, "v"), KR_ERR_INVAL);
	assert_int_equal(json_add_str(o, "k", NULL), KR_ERR_INVAL);
	assert_int_equal(json_add_num(o, "k", NAN), KR_ERR_INVAL);
	assert_int_equal(json_add_num(o, "k", INFINITY), KR_ERR_INVAL);
	assert_int_equal(json_count(o), 0);
	assert_int_equal(json_count(a), 0);
	json_free(a);
	json_free(o);
}

static void remove_drops_every_member_with_the_key(void **state)
{
	struct json *v = parse_ok("{\"v\":1,\"a\":1,\"v\":2,\"b\":2,\"v\":3}");
	char *text;

	json_remove(v, "v");
	assert_int_equal(json_count(v), 2);
	assert_int_equal(json_add_num(v, "c", 3), KR_OK); /* the last member is right */
	text = print(v, 0);
	assert_string_equal(text, "{\"a\":1,\"b\":2,\"c\":3}");
	free(text);
	json_remove(v, "a");
	json_remove(v, "c");
	json_remove(v, "missing");
	json_remove(NULL, "b");
	assert_int_equal(json_add_num(v, "d", 4), KR_OK);
	text = print(v, 0);
	assert_string_equal(text, "{\"b\":2,\"d\":4}");
	free(text);
	json_free(v);
}

static void null_is_nothing_everywhere(void **state)
{
	const struct json *it;
	int n = 0;

	json_free(NULL);
	assert_int_equal(json_type(NULL), JSON_NONE);
	assert_null(json_get(NULL, "k"));
	assert_null(json_str(NULL));
	assert_null(json_get_str(NULL, "k"));
	assert_true(json_num(NULL) == 0);
	assert_int_equal(json_count(NULL), 0);
	assert_null(json_key(NULL));
	assert_null(json_next(NULL));
	json_for_each(it, NULL) n++;
	assert_int_equal(n, 0);
}

/* ---- wiping ---- */

static void everything_freed_is_wiped(void **state)
{
	static const char *const texts[] = {
	    "{\"" MARKER "\":\"" MARKER "\",\"a\":[\"x" MARKER "\",{\"k\":\"" MARKER "\"}]}",
	    "\"\\u004bRSECRETwipeME42\\n\"", /* escapes decode to the marker */
	};
	/* Fail after secrets were decoded: at the end, mid-escape, mid-key. */
	static const char *const bad[] = {
	    "{\"" MARKER "\":\"" MARKER "\",\"a\":[\"" MARKER "\"],}",
	    "[\"" MARKER "\\ud800\"]",
	    "{\"" MARKER "\":\"" MARKER "\" , \"" MARKER "\" }",
	    "[\"" MARKER "\"] trailing",
	};
	struct json *o, *child;
	struct buf b;
	char *plain;

	/* The check itself sees an unwiped block. */
	unwiped_frees = 0;
	plain = strdup("x" MARKER);
	assert_non_null(plain); /* the pointer escapes: the compiler keeps the block */
	free(plain);
	assert_int_equal(unwiped_frees, 1);

	unwiped_frees = 0;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct json *v = parse_ok(texts[i]);

		buf_init(&b, KR_JSON_MAX);
		assert_int_equal(json_print(v, 0, &b), KR_OK);
		assert_int_equal(json_print(v, JSON_PRETTY, &b), KR_OK);
		buf_free(&b);
		json_remove(v, MARKER);
		json_free(v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_parse_error(bad[i], strlen(bad[i]), KR_ERR_PARSE);
	o = json_new_object();
	assert_int_equal(json_add_str(o, MARKER, MARKER), KR_OK);
	assert_int_equal(json_add_object(o, "o", &child), KR_OK);
	assert_int_equal(json_add_str(child, "s", MARKER), KR_OK);
	buf_init(&b, 30); /* too small: the print fails half way */
	assert_int_equal(json_print(o, JSON_PRETTY, &b), KR_ERR_TOOBIG);
	buf_free(&b);
	json_free(o);
	assert_int_equal(unwiped_frees, 0);
}

/* ---- against cJSON ---- */

/* Valid texts of every kind, and replies shaped like the daemon's. */
static const char *const corpus[] = {
    "{\"v\":1,\"ok\":true,\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"s/+=\","
    "\"SessionToken\":\"FwoGZXIvYXdzE\",\"Expiration\":\"2026-11-23T18:00:00Z\",\"from\":\"sts\"}",
    "{\"v\":1,\"ok\":false,\"error\":\"mfa\",\"message\":\"MFA code required\","
    "\"mfa_serial\":\"arn:aws:iam::1:mfa/a\"}",
    "{\"v\":1,\"ok\":true,\"version\":\"0.1.0\",\"pid\":1234,\"uptime\":61,\"backend\":\"memory\","
    "\"survives_reboot\":false,\"entries\":[{\"profile\":\"a\",\"hop\":1,\"expiration\":"
    "\"2026-11-23T18:00:00Z\",\"refreshing\":true}],\"stored_keys\":[\"dev\",\"ops\"],"
    "\"counters\":{\"requests\":10,\"sts_errors\":{\"Throttling\":2}}}",
    "{\"v\":1,\"ok\":true,\"profiles\":[{\"name\":\"p\",\"ok\":false,\"steps\":[{\"kind\":"
    "\"source\",\"line\":3}],\"problems\":[{\"severity\":\"error\",\"file\":\"/h/.aws/config\","
    "\"line\":7,\"message\":\"role_arn and credential_process\",\"fix\":\"split\"}]}]}",
    "[]",
    "{}",
    "[[[[[]]]],{},{\"a\":{\"b\":{\"c\":[]}}}]",
    "  [ 1 , -1 , 0.5 , -0.0 , 1e10 , 1E-10 , 123456789.125 , 4e-320 , 1.5e+300 ]  ",
    "[true,false,null]",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9\\u20ac\\ud83d\\ude00\"",
    "{\"\\u00e9\":\"caf\xc3\xa9\",\"\":\"\",\"a b\":\" \"}",
    "{\"dup\":1,\"dup\":2}",
    "\"raw bytes \xff\xfe are copied\"",
    "1",
    "-12.5e-3",
    "null",
};

static void differential_both_parse_the_same_tree(void **state)
{
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		struct json *v = parse_ok(corpus[i]);
		cJSON *c = cjson_parse_exact(corpus[i], strlen(corpus[i]));

		if (!c)
			fail_msg("cJSON refuses corpus[%zu]", i);
		if (!json_same_as_cjson(v, c))
			fail_msg("trees differ for corpus[%zu]", i);
		cJSON_Delete(c);
		json_free(v);
	}
}

static void differential_cjson_reads_what_we_print(void **state)
{
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		struct json *v = parse_ok(corpus[i]);

		for (unsigned flags = 0; flags <= JSON_PRETTY; flags += JSON_PRETTY) {
			char *text = print(v, flags), *again_text;
			cJSON *c = cjson_parse_exact(text, strlen(text));
			struct json *again = parse_ok(text);

			if (!c || !json_same_as_cjson(v, c))
				fail_msg(
				    "cJSON reads corpus[%zu] printed (flags %u) differently: %s", i,
				    flags, text);
			/* Our own reading of our printing is the same tree. */
			again_text = print(again, flags);
			assert_string_equal(again_text, text);
			free(again_text);
			json_free(again);
			cJSON_Delete(c);
			free(text);
		}
		json_free(v);
	}
}

static void differential_we_refuse_only_what_is_invalid(void **state)
{
	/* cJSON takes these (leniently); none is valid JSON, and we refuse them. */
	static const char *const lenient[] = {
	    "01",
	    "1.",
	    "1.e5",
	    "-01",
	    "\"a\tb\"",
	    "\"\x01\"",
	    "\x0b"
	    "1",
	    "1e999",
	    "\"\\u0000\"",
	};

	for (size_t i = 0; i < sizeof(lenient) / sizeof(lenient[0]); i++) {
		cJSON *c = cjson_parse_exact(lenient[i], strlen(lenient[i]));

		assert_non_null(c); /* the premise: cJSON accepts it */
		cJSON_Delete(c);
		expect_parse_error(lenient[i], strlen(lenient[i]), KR_ERR_PARSE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_reads_every_type_in_order),
	    cmocka_unit_test(parse_takes_any_value_at_the_top),
	    cmocka_unit_test(parse_finds_the_first_of_duplicate_keys),
	    cmocka_unit_test(parse_decodes_every_escape_to_utf8),
	    cmocka_unit_test(parse_rejects_invalid_text),
	    cmocka_unit_test(parse_rejects_nul_bytes_anywhere),
	    cmocka_unit_test(parse_reads_only_len_bytes),
	    cmocka_unit_test(parse_caps_nesting_depth),
	    cmocka_unit_test(parse_caps_size_and_number_length),
	    cmocka_unit_test(numbers_read_as_doubles_and_print_shortest),
	    cmocka_unit_test(print_escapes_strings_and_reads_them_back),
	    cmocka_unit_test(print_escapes_at_every_offset_of_a_word),
	    cmocka_unit_test(print_compact_and_pretty_layout),
	    cmocka_unit_test(print_refuses_trees_deeper_than_the_cap),
	    cmocka_unit_test(print_failure_leaves_the_buffer_as_it_was),
	    cmocka_unit_test(builders_append_members_in_order),
	    cmocka_unit_test(builders_refuse_non_objects_and_non_finite_numbers),
	    cmocka_unit_test(remove_drops_every_member_with_the_key),
	    cmocka_unit_test(null_is_nothing_everywhere),
	    cmocka_unit_test(everything_freed_is_wiped),
	    cmocka_unit_test(differential_both_parse_the_same_tree),
	    cmocka_unit_test(differential_cjson_reads_what_we_print),
	    cmocka_unit_test(differential_we_refuse_only_what_is_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
