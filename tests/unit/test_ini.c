/* The botocore-compatible INI parser (daemon/ini.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "caps.h"
#include "err.h"
#include "fwatch.h"
#include "ini.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ini *parse_ok(const char *text)
{
	struct ini *ini = NULL;
	struct err_detail e = {0};
	int r = ini_parse(text, strlen(text), "f", &ini, &e);

	if (r != 0)
		fail_msg("parse failed: %d %s", r, e.msg);
	return ini;
}

static int parse_err(const char *text, char *err, size_t errlen)
{
	struct err_detail e = {0};
	struct ini *ini = NULL;
	int r = ini_parse(text, strlen(text), "f", &ini, &e);

	err_format(&e, err, errlen);
	assert_null(ini);
	return r;
}

static const char *val(const struct ini *ini, const char *sec, const char *key)
{
	const struct ini_kv *kv = ini_get(ini_section(ini, sec), key);

	return kv ? kv->value : NULL;
}

static void ini_parses_sections_keys_and_lines(void **state)
{
	struct ini *ini = parse_ok("[default]\nregion = eu-west-1\n\n[profile a]\nrole_arn=x\n");

	(void)state;
	assert_int_equal(ini->n_secs, 2);
	assert_string_equal(val(ini, "default", "region"), "eu-west-1");
	assert_string_equal(val(ini, "profile a", "role_arn"), "x");
	assert_int_equal(ini_get(ini_section(ini, "profile a"), "role_arn")->line, 5);
	assert_int_equal(ini_section(ini, "profile a")->line, 4);
	ini_free(ini);
}

static void ini_lowercases_keys_but_not_sections(void **state)
{
	struct ini *ini = parse_ok("[Profile A]\nRole_ARN = x\n");

	(void)state;
	assert_non_null(ini_section(ini, "Profile A"));
	assert_null(ini_section(ini, "profile a"));
	assert_string_equal(val(ini, "Profile A", "role_arn"), "x");
	ini_free(ini);
}

static void ini_has_no_inline_comments(void **state)
{
	struct ini *ini = parse_ok("[a]\nregion = x # y\nk = v ; w\n");

	(void)state;
	assert_string_equal(val(ini, "a", "region"), "x # y");
	assert_string_equal(val(ini, "a", "k"), "v ; w");
	ini_free(ini);
}

static void ini_skips_comment_lines_even_indented(void **state)
{
	struct ini *ini =
	    parse_ok("# c\n; c\n[a]\nk = v\n    # not a continuation\n  ; nor this\n");

	(void)state;
	assert_string_equal(val(ini, "a", "k"), "v");
	ini_free(ini);
}

static void ini_splits_at_first_equals_or_colon(void **state)
{
	struct ini *ini = parse_ok("[a]\nk: arn:aws:x\nm = a=b:c\nn:=v\n");

	(void)state;
	assert_string_equal(val(ini, "a", "k"), "arn:aws:x");
	assert_string_equal(val(ini, "a", "m"), "a=b:c");
	assert_string_equal(val(ini, "a", "n"), "=v");
	ini_free(ini);
}

static void ini_joins_continuation_lines(void **state)
{
	struct ini *ini = parse_ok("[a]\nk = one\n  two\n\n   three\n\n\nz = 1\n");

	(void)state;
	assert_string_equal(val(ini, "a", "k"), "one\ntwo\n\nthree");
	assert_string_equal(val(ini, "a", "z"), "1");
	ini_free(ini);
}

static void ini_parses_nested_blocks(void **state)
{
	struct ini *ini =
	    parse_ok("[services x]\nsts =\n  endpoint_url = http://h:1\n  Other= b\n");
	const struct ini_kv *kv = ini_get(ini_section(ini, "services x"), "sts");

	(void)state;
	assert_non_null(kv);
	assert_int_equal(kv->n_sub, 2);
	assert_string_equal(ini_sub(kv, "endpoint_url")->value, "http://h:1");
	assert_string_equal(ini_sub(kv, "Other")->value, "b");
	ini_free(ini);
}

static void ini_nested_line_without_equals_is_error(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse_err("[a]\ns3 =\n  bad\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:2:"));
}

static void ini_duplicate_section_is_error_with_line(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse_err("[a]\nk=1\n[b]\n[a]\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:4:"));
	assert_non_null(strstr(err, "[a]"));
}

static void ini_duplicate_key_is_error(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse_err("[a]\nk=1\nK=2\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:3:"));
}

static void ini_text_before_section_is_error(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse_err("\nk = v\n[a]\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:2:"));
}

static void ini_reports_first_bad_line(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(parse_err("[a]\nk=v\njunk\n= x\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:3:"));
	assert_int_equal(parse_err("[]\n", err, sizeof(err)), KR_ERR_CONFIG);
}

static void ini_accepts_crlf_and_cr(void **state)
{
	struct ini *ini = parse_ok("[a]\r\nk = v\r\n\r[b]\rm = w");

	(void)state;
	assert_string_equal(val(ini, "a", "k"), "v");
	assert_string_equal(val(ini, "b", "m"), "w");
	assert_int_equal(ini_get(ini_section(ini, "b"), "m")->line, 5);
	ini_free(ini);
}

static void ini_default_section_is_inherited(void **state)
{
	struct ini *ini = parse_ok("[DEFAULT]\nx = 1\ny = 2\n[a]\ny = 3\n[b]\n");

	(void)state;
	assert_null(ini_section(ini, "DEFAULT"));
	assert_string_equal(val(ini, "a", "x"), "1");
	assert_string_equal(val(ini, "a", "y"), "3");
	assert_string_equal(val(ini, "b", "y"), "2");
	ini_free(ini);
}

static void ini_refuses_invalid_utf8_and_nul(void **state)
{
	struct ini *ini = NULL;
	char err[256];

	(void)state;
	assert_int_equal(parse_err("[a]\nk = \xff\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:2:"));
	assert_int_equal(parse_err("[a]\nk = \xed\xa0\x80\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_int_equal(ini_parse("[a]\0", 4, "f", &ini, NULL), KR_ERR_CONFIG);
	assert_null(ini);
}

/* An unclosed header is the error, at its line, even before a key that would repeat. */
static void ini_reports_an_unclosed_header_at_its_line(void **state)
{
	char err[512];
	struct ini *ini;

	assert_int_equal(
	    parse_err("[profile dev]\nregion = a\n[profile prod\nregion = b\n", err, sizeof(err)),
	    KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:3:"));
	assert_non_null(strstr(err, "\"[profile prod\" has no closing ']'"));
	assert_int_equal(parse_err("[profile prod\nregion = b\n", err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "f:1:"));
	assert_non_null(strstr(err, "no closing ']'"));
	/* configparser reads "[a=b" under a section as the key "[a" */
	ini = parse_ok("[s]\n[a=b\n");
	assert_string_equal(val(ini, "s", "[a"), "b");
	ini_free(ini);
}

static void ini_refuses_long_lines_and_files(void **state)
{
	size_t n = KR_CONFIG_LINE_MAX + 10;
	char *big = malloc(KR_CONFIG_FILE_MAX + 2);
	struct ini *ini = NULL;
	struct err_detail e = {0};

	(void)state;
	assert_non_null(big);
	memcpy(big, "[a]\nk=", 6);
	memset(big + 6, 'x', n);
	assert_int_equal(ini_parse(big, n + 6, "f", &ini, &e), KR_ERR_TOOBIG);
	assert_int_equal(e.code, KR_ERR_TOOBIG);
	assert_string_equal(e.file, "f");
	assert_int_equal(e.line, 2);
	assert_int_equal(ini_parse(big, KR_CONFIG_FILE_MAX + 1, "f", &ini, NULL), KR_ERR_TOOBIG);
	assert_null(ini);
	free(big);
}

static void ini_empty_input_is_empty(void **state)
{
	struct ini *ini = parse_ok("");

	(void)state;
	assert_int_equal(ini->n_secs, 0);
	ini_free(ini);
}

static void ini_strips_unicode_whitespace(void **state)
{
	/* U+00A0 and U+3000 are str.isspace() in Python. */
	struct ini *ini = parse_ok("[a]\nk = \xc2\xa0v\xe3\x80\x80\n");

	(void)state;
	assert_string_equal(val(ini, "a", "k"), "v");
	ini_free(ini);
}

static void ini_section_header_runs_to_last_bracket(void **state)
{
	struct ini *ini = parse_ok("[a] x]\nk=1\n  [b]\n");

	(void)state;
	assert_non_null(ini_section(ini, "a] x"));
	/* An indented header after a key continues the key, as in configparser. */
	assert_string_equal(val(ini, "a] x", "k"), "1\n[b]");
	ini_free(ini);
}

static void ini_load_missing_file_is_empty(void **state)
{
	struct ini *ini = NULL;

	(void)state;
	assert_int_equal(ini_load("/nonexistent/dir/config", &ini, NULL), 0);
	assert_int_equal(ini->found, 0);
	assert_int_equal(ini->n_secs, 0);
	ini_free(ini);
}

/* A file that exists and cannot be opened is a configuration error (exit status 4). */
static void ini_load_unreadable_file_is_a_config_error(void **state)
{
	char dir[] = "/tmp/test_ini_XXXXXX", path[64], msg[512];
	struct err_detail e = {0};
	struct ini *ini = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/loop", dir);
	assert_int_equal(symlink("loop", path), 0); /* ELOOP, even for root */
	assert_int_equal(ini_load(path, &ini, &e), KR_ERR_CONFIG);
	assert_null(ini);
	err_format(&e, msg, sizeof(msg));
	assert_non_null(strstr(msg, "cannot read it"));
	assert_string_equal(e.file, path);
	unlink(path);
	rmdir(dir);
}

static void ini_load_caches_until_file_changes(void **state)
{
	char path[] = "/tmp/kr_ini_XXXXXX";
	int fd = mkstemp(path);
	struct ini *a = NULL, *b = NULL, *c = NULL;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[a]\nk = 1\n", 10), 10);
	close(fd);
	assert_int_equal(ini_load(path, &a, NULL), 0);
	assert_int_equal(ini_load(path, &b, NULL), 0);
	assert_ptr_equal(a, b);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[a]\nk = 22\n", f);
	fclose(f);
	assert_int_equal(ini_load(path, &c, NULL), 0);
	assert_ptr_not_equal(a, c);
	assert_string_equal(val(c, "a", "k"), "22");
	assert_string_equal(val(a, "a", "k"), "1"); /* old holders keep theirs */
	ini_free(a);
	ini_free(b);
	ini_free(c);
	ini_cache_clear();
	unlink(path);
}

/* A missing file is cached too, and its creation and removal are seen. */
static void ini_load_caches_a_missing_file_until_it_appears(void **state)
{
	char dir[] = "/tmp/kr_ini_XXXXXX", path[64];
	struct ini *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/credentials", dir);
	assert_int_equal(ini_load(path, &a, NULL), 0);
	assert_int_equal(ini_load(path, &b, NULL), 0);
	assert_ptr_equal(a, b); /* one empty file for both */
	assert_int_equal(b->found, 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[a]\nk = 1\n", f);
	fclose(f);
	assert_int_equal(ini_load(path, &c, NULL), 0);
	assert_int_equal(c->found, 1);
	assert_string_equal(val(c, "a", "k"), "1");
	unlink(path);
	assert_int_equal(ini_load(path, &d, NULL), 0);
	assert_int_equal(d->found, 0);
	assert_int_equal(d->n_secs, 0);
	ini_free(a);
	ini_free(b);
	ini_free(c);
	ini_free(d);
	ini_cache_clear();
	rmdir(dir);
}

/* ---- an edit is seen by the next load, however it is made (daemon/fwatch.c) ---- */

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* k's value in path as ini_load() sees it now (the caller frees nothing). */
static void expect_k(const char *path, const char *want)
{
	struct ini *ini = NULL;

	assert_int_equal(ini_load(path, &ini, NULL), 0);
	if (strcmp(val(ini, "a", "k") ? val(ini, "a", "k") : "(none)", want) != 0)
		fail_msg("%s: k = %s, want %s", path, val(ini, "a", "k"), want);
	ini_free(ini);
}

/* Touch the file with a fixed mtime: only the watch can tell the contents changed. */
static void same_mtime(const char *path)
{
	struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};

	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void ini_load_sees_every_kind_of_edit(void **state)
{
	char dir[] = "/tmp/kr_ini_watch_XXXXXX", path[96], tmp[96], sub[96];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	snprintf(tmp, sizeof(tmp), "%s/config.new", dir);
	put_file(path, "[a]\nk = 1\n");
	same_mtime(path);
	expect_k(path, "1");
	assert_true(fwatch_gen(path) != 0); /* a plain directory is watched */
	/* In place, same size, same mtime: a stat() alone would call it unchanged. */
	put_file(path, "[a]\nk = 2\n");
	same_mtime(path);
	expect_k(path, "2");
	/* Replaced by a rename, as editors save. */
	put_file(tmp, "[a]\nk = 3\n");
	same_mtime(tmp);
	assert_int_equal(rename(tmp, path), 0);
	expect_k(path, "3");
	/* Removed, then back. */
	assert_int_equal(unlink(path), 0);
	expect_k(path, "(none)");
	put_file(path, "[a]\nk = 4\n");
	expect_k(path, "4");
	/* The directory itself removed and made again. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	expect_k(path, "(none)");
	assert_int_equal(mkdir(dir, 0700), 0);
	put_file(path, "[a]\nk = 5\n");
	same_mtime(path);
	expect_k(path, "5");
	put_file(path, "[a]\nk = 6\n");
	same_mtime(path);
	expect_k(path, "6");
	/* Through a symbolic link to a directory: not watched, stat()ed, still seen. */
	snprintf(sub, sizeof(sub), "%s/link", dir);
	assert_int_equal(symlink(dir, sub), 0);
	snprintf(tmp, sizeof(tmp), "%s/config", sub);
	expect_k(tmp, "6");
	assert_true(fwatch_gen(tmp) == 0);
	put_file(path, "[a]\nk = 7\n");
	expect_k(tmp, "7");
	unlink(sub);
	unlink(path);
	rmdir(dir);
	ini_cache_clear();
}

static void ini_survives_random_input(void **state)
{
	static const char alphabet[] = "[]=:#; \t\r\n\\'\"abAB\xc2\xa0\xff";
	char buf[512];
	unsigned seed = 12345;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % (int)sizeof(buf));
		struct ini *ini = NULL;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		if (ini_parse(buf, n, "f", &ini, NULL) == 0)
			ini_free(ini);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ini_parses_sections_keys_and_lines),
	    cmocka_unit_test(ini_lowercases_keys_but_not_sections),
	    cmocka_unit_test(ini_has_no_inline_comments),
	    cmocka_unit_test(ini_skips_comment_lines_even_indented),
	    cmocka_unit_test(ini_splits_at_first_equals_or_colon),
	    cmocka_unit_test(ini_joins_continuation_lines),
	    cmocka_unit_test(ini_parses_nested_blocks),
	    cmocka_unit_test(ini_nested_line_without_equals_is_error),
	    cmocka_unit_test(ini_duplicate_section_is_error_with_line),
	    cmocka_unit_test(ini_duplicate_key_is_error),
	    cmocka_unit_test(ini_text_before_section_is_error),
	    cmocka_unit_test(ini_reports_first_bad_line),
	    cmocka_unit_test(ini_accepts_crlf_and_cr),
	    cmocka_unit_test(ini_default_section_is_inherited),
	    cmocka_unit_test(ini_refuses_invalid_utf8_and_nul),
	    cmocka_unit_test(ini_reports_an_unclosed_header_at_its_line),
	    cmocka_unit_test(ini_refuses_long_lines_and_files),
	    cmocka_unit_test(ini_empty_input_is_empty),
	    cmocka_unit_test(ini_strips_unicode_whitespace),
	    cmocka_unit_test(ini_section_header_runs_to_last_bracket),
	    cmocka_unit_test(ini_load_missing_file_is_empty),
	    cmocka_unit_test(ini_load_unreadable_file_is_a_config_error),
	    cmocka_unit_test(ini_load_caches_until_file_changes),
	    cmocka_unit_test(ini_load_caches_a_missing_file_until_it_appears),
	    cmocka_unit_test(ini_load_sees_every_kind_of_edit),
	    cmocka_unit_test(ini_survives_random_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
