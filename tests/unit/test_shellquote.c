/* Shell quoting (keyrole env) and shlex word splitting (credential_process, mfa_process). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "shellquote.h"

#include <stdlib.h>
#include <string.h>

static char *quoted(const char *s)
{
	struct buf b;
	char *out;

	buf_init(&b, 4096);
	assert_int_equal(shellquote_append(&b, s), KR_OK);
	out = buf_steal(&b, NULL);
	assert_non_null(out);
	return out;
}

/* Split line, expecting success and exactly the n words given. */
static void expect_words(const char *line, size_t n, ...)
{
	char **argv = NULL;
	size_t argc = 99;
	va_list ap;

	assert_int_equal(shellquote_split(line, KR_SHELL_WORDS_MAX, &argv, &argc), KR_OK);
	assert_int_equal(argc, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(argv[i], va_arg(ap, const char *));
	va_end(ap);
	assert_null(argv[n]);
	shellquote_argv_free(argv);
}

static void expect_split_error(const char *line, size_t max_words, int err)
{
	char **argv = NULL;
	size_t argc = 99;

	assert_int_equal(shellquote_split(line, max_words, &argv, &argc), err);
	assert_null(argv);
	assert_int_equal(argc, 99); /* untouched on failure */
}

static void test_quote_wraps_plain_value_in_single_quotes(void **state)
{
	char *q = quoted("AKIAEXAMPLE");

	assert_string_equal(q, "'AKIAEXAMPLE'");
	free(q);
}

static void test_quote_escapes_single_quote_as_close_escape_reopen(void **state)
{
	char *q = quoted("it's");

	assert_string_equal(q, "'it'\\''s'");
	free(q);
}

static void test_quote_of_empty_string_is_two_quotes(void **state)
{
	char *q = quoted("");

	assert_string_equal(q, "''");
	free(q);
}

static void test_quote_leaves_dollar_backquote_backslash_literal(void **state)
{
	char *q = quoted("a$b`c`\\d\"e\nf");

	assert_string_equal(q, "'a$b`c`\\d\"e\nf'");
	free(q);
}

static void test_quote_fails_past_buffer_cap(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(shellquote_append(&b, "abcdef"), KR_ERR_TOOBIG);
	buf_free(&b);
}

static char *quoted_with(int (*fn)(struct buf *, const char *), const char *s)
{
	struct buf b;
	char *out;

	buf_init(&b, 4096);
	assert_int_equal(fn(&b, s), KR_OK);
	out = buf_steal(&b, NULL);
	assert_non_null(out);
	return out;
}

/* fish: inside '...' only \\ and \' are escapes; $ ( ) ; and newlines stay literal. */
static void test_fish_quote_escapes_only_quote_and_backslash(void **state)
{
	char *q = quoted_with(shellquote_append_fish, "a'b\\c$d(e);\nf");

	assert_string_equal(q, "'a\\'b\\\\c$d(e);\nf'");
	free(q);
	q = quoted_with(shellquote_append_fish, "");
	assert_string_equal(q, "''");
	free(q);
}

/* PowerShell: a quote character is doubled, the typographic ones (U+2018..U+201B) too. */
static void test_pwsh_quote_doubles_every_quote_character(void **state)
{
	char *q = quoted_with(shellquote_append_pwsh, "it's $x `y` \xe2\x80\x98z\xe2\x80\x9b");

	assert_string_equal(q, "'it''s $x `y` \xe2\x80\x98\xe2\x80\x98z\xe2\x80\x9b\xe2\x80\x9b'");
	free(q);
	/* Other characters of the same lead bytes are not quotes: U+201C is kept once. */
	q = quoted_with(shellquote_append_pwsh, "\xe2\x80\x9c");
	assert_string_equal(q, "'\xe2\x80\x9c'");
	free(q);
}

static void test_split_of_quoted_value_gives_the_value_back(void **state)
{
	static const char *const values[] = {
	    "plain", "",       "it's",      "''",        "a b  c", "$HOME", "`id`",     "\\",
	    "x\\'y", "\"dq\"", "tab\there", "new\nline", "~user",  "*",     "a'\"'\"b",
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *q = quoted(values[i]);

		expect_words(q, 1, values[i]);
		free(q);
	}
}

static void test_split_separates_words_on_blanks(void **state)
{
	expect_words("  oathtool  --totp\t-b\nSECRET  ", 4, "oathtool", "--totp", "-b", "SECRET");
}

static void test_split_blank_line_gives_no_words(void **state)
{
	expect_words("", 0);
	expect_words(" \t\n ", 0);
}

static void test_split_single_quotes_keep_everything_literal(void **state)
{
	expect_words("echo 'a \\ \"b\" $c'", 2, "echo", "a \\ \"b\" $c");
}

/* Expected values below are what Python's shlex.split() gives. */
static void test_split_double_quotes_escape_only_quote_and_backslash(void **state)
{
	expect_words("\"\\$ \\` \\\" \\\\ \\n \\a\"", 1, "\\$ \\` \" \\ \\n \\a");
}

static void test_split_double_quotes_keep_backslash_newline(void **state)
{
	expect_words("\"ab\\\ncd\"", 1, "ab\\\ncd");
}

static void test_split_unquoted_backslash_escapes_next_character(void **state)
{
	expect_words("a\\ b \\'c \\\\", 3, "a b", "'c", "\\");
}

static void test_split_unquoted_backslash_makes_newline_literal(void **state)
{
	expect_words("ab\\\ncd", 1, "ab\ncd");
	expect_words("a\rb", 2, "a", "b");
}

static void test_split_matches_python_shlex(void **state)
{
	/* shlex.split("profile  'a b' \"c\\\"d\" e\\ f ''") */
	expect_words("profile  'a b' \"c\\\"d\" e\\ f ''", 5, "profile", "a b", "c\"d", "e f", "");
	expect_words("\"a\\b\"", 1, "a\\b");
}

static void test_split_does_no_expansion(void **state)
{
	expect_words("$HOME ~ * `id` $(id) ${X}", 6, "$HOME", "~", "*", "`id`", "$(id)", "${X}");
}

static void test_split_treats_shell_operators_as_ordinary_characters(void **state)
{
	expect_words("a|b;c&d >e <f", 3, "a|b;c&d", ">e", "<f");
}

static void test_split_keeps_empty_quoted_words(void **state)
{
	expect_words("cmd '' \"\" x", 4, "cmd", "", "", "x");
}

static void test_split_joins_adjacent_quoted_parts(void **state)
{
	expect_words("a'b'\"c\"d", 1, "abcd");
}

static void test_split_rejects_unterminated_quotes(void **state)
{
	expect_split_error("echo 'abc", KR_SHELL_WORDS_MAX, KR_ERR_PARSE);
	expect_split_error("echo \"abc", KR_SHELL_WORDS_MAX, KR_ERR_PARSE);
	expect_split_error("echo \"abc\\\"", KR_SHELL_WORDS_MAX, KR_ERR_PARSE);
}

static void test_split_rejects_trailing_backslash(void **state)
{
	expect_split_error("echo abc\\", KR_SHELL_WORDS_MAX, KR_ERR_PARSE);
}

static void test_split_rejects_more_words_than_allowed(void **state)
{
	char **argv = NULL;
	size_t argc = 0;

	expect_split_error("a b c d", 3, KR_ERR_TOOBIG);
	assert_int_equal(shellquote_split("a b c", 3, &argv, &argc), KR_OK);
	assert_int_equal(argc, 3);
	shellquote_argv_free(argv);
}

static void test_split_rejects_line_over_cap(void **state)
{
	char *line = malloc(KR_SHELL_LINE_MAX + 2);

	assert_non_null(line);
	memset(line, 'a', KR_SHELL_LINE_MAX + 1);
	line[KR_SHELL_LINE_MAX + 1] = '\0';
	expect_split_error(line, KR_SHELL_WORDS_MAX, KR_ERR_TOOBIG);
	free(line);
}

static void test_word_is_quoted_only_when_it_must_be(void **state)
{
	char out[64];

	(void)state;
	shellquote_word("corp-dev_1.x@a:b,c/d=e+f%g", out, sizeof(out));
	assert_string_equal(out, "corp-dev_1.x@a:b,c/d=e+f%g");
	shellquote_word("my corp", out, sizeof(out));
	assert_string_equal(out, "'my corp'");
	shellquote_word("it's;$(x)", out, sizeof(out));
	assert_string_equal(out, "'it'\\''s;$(x)'");
	shellquote_word("", out, sizeof(out));
	assert_string_equal(out, "");
	shellquote_word("a b c d e f g h", out, 8);
	assert_string_equal(out, "'...'");
}

static void test_argv_free_accepts_null(void **state)
{
	shellquote_argv_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quote_wraps_plain_value_in_single_quotes),
	    cmocka_unit_test(test_fish_quote_escapes_only_quote_and_backslash),
	    cmocka_unit_test(test_pwsh_quote_doubles_every_quote_character),
	    cmocka_unit_test(test_quote_escapes_single_quote_as_close_escape_reopen),
	    cmocka_unit_test(test_quote_of_empty_string_is_two_quotes),
	    cmocka_unit_test(test_quote_leaves_dollar_backquote_backslash_literal),
	    cmocka_unit_test(test_quote_fails_past_buffer_cap),
	    cmocka_unit_test(test_word_is_quoted_only_when_it_must_be),
	    cmocka_unit_test(test_split_of_quoted_value_gives_the_value_back),
	    cmocka_unit_test(test_split_separates_words_on_blanks),
	    cmocka_unit_test(test_split_blank_line_gives_no_words),
	    cmocka_unit_test(test_split_single_quotes_keep_everything_literal),
	    cmocka_unit_test(test_split_double_quotes_escape_only_quote_and_backslash),
	    cmocka_unit_test(test_split_double_quotes_keep_backslash_newline),
	    cmocka_unit_test(test_split_unquoted_backslash_escapes_next_character),
	    cmocka_unit_test(test_split_unquoted_backslash_makes_newline_literal),
	    cmocka_unit_test(test_split_matches_python_shlex),
	    cmocka_unit_test(test_split_does_no_expansion),
	    cmocka_unit_test(test_split_treats_shell_operators_as_ordinary_characters),
	    cmocka_unit_test(test_split_keeps_empty_quoted_words),
	    cmocka_unit_test(test_split_joins_adjacent_quoted_parts),
	    cmocka_unit_test(test_split_rejects_unterminated_quotes),
	    cmocka_unit_test(test_split_rejects_trailing_backslash),
	    cmocka_unit_test(test_split_rejects_more_words_than_allowed),
	    cmocka_unit_test(test_split_rejects_line_over_cap),
	    cmocka_unit_test(test_argv_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
