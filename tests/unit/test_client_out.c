/* client/out.c: text from the daemon is printed without control characters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "caps.h"
#include "cmd.h"
#include "err.h"
#include "out.h"

#include <string.h>

static void ctx_init(struct cmd_ctx *x)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->out, KR_CLIENT_OUT_MAX);
}

static void test_printf_turns_c0_and_del_into_spaces(void **state)
{
	struct cmd_ctx x;

	ctx_init(&x);
	assert_int_equal(out_printf(&x, "error: %s", "a\nb\rc\td\x1b[2Je\x07\x7f"), KR_OK);
	assert_string_equal(x.out.data, "error: a b c d [2Je  ");
	buf_free(&x.out);
}

static void test_printf_turns_c1_controls_into_two_spaces(void **state)
{
	struct cmd_ctx x;

	ctx_init(&x);
	/* U+009B (CSI) and U+0085 (NEL) as UTF-8; the byte count stays. */
	assert_int_equal(out_printf(&x, "%s",
	                            "a\xc2\x9b"
	                            "31mb\xc2\x85"
	                            "c"),
	                 KR_OK);
	assert_string_equal(x.out.data, "a  31mb  c");
	buf_free(&x.out);
}

static void test_printf_keeps_other_utf8(void **state)
{
	struct cmd_ctx x;
	/* é, no-break space (U+00A0: c2 a0), € (e2 82 ac: 0x82 not after c2), 日 */
	const char *s = "caf\xc3\xa9\xc2\xa0\xe2\x82\xac \xe6\x97\xa5";

	ctx_init(&x);
	assert_int_equal(out_printf(&x, "%s", s), KR_OK);
	assert_string_equal(x.out.data, s);
	buf_free(&x.out);
}

static void test_line_ends_only_with_out_eol(void **state)
{
	struct cmd_ctx x;

	ctx_init(&x);
	assert_int_equal(out_line(&x, "  %-6s|", "p\nq"), KR_OK);
	assert_int_equal(out_printf(&x, "%s", "x\n"), KR_OK);
	assert_int_equal(out_eol(&x), KR_OK);
	assert_string_equal(x.out.data, "  p q   |\nx \n");
	buf_free(&x.out);
}

static void test_printf_over_the_cap_leaves_the_buffer(void **state)
{
	struct cmd_ctx x;

	memset(&x, 0, sizeof(x));
	buf_init(&x.out, 8);
	assert_int_equal(out_printf(&x, "%s", "1234"), KR_OK);
	assert_int_equal(out_printf(&x, "%s", "56789"), KR_ERR_TOOBIG);
	assert_int_equal(x.out.len, 4);
	assert_string_equal(x.out.data, "1234");
	buf_free(&x.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_printf_turns_c0_and_del_into_spaces),
	    cmocka_unit_test(test_printf_turns_c1_controls_into_two_spaces),
	    cmocka_unit_test(test_printf_keeps_other_utf8),
	    cmocka_unit_test(test_line_ends_only_with_out_eol),
	    cmocka_unit_test(test_printf_over_the_cap_leaves_the_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
