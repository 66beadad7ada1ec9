/* MFA codes: validation, mfa_process, and the exit statuses of the client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cmd.h"
#include "err.h"
#include "mfa.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int64_t soon(void)
{
	return proto_now_ms() + 10000;
}

static void test_code_valid_accepts_six_digits(void **state)
{
	assert_true(mfa_code_valid("123456"));
	assert_true(mfa_code_valid("000000"));
}

/* STS's TokenCode is exactly 6 digits: anything else is refused before a call. */
static void test_code_valid_rejects_all_but_six_digits(void **state)
{
	static const char *const bad[] = {"",
	                                  "1",
	                                  "12345",
	                                  "1234567",
	                                  "123 456",
	                                  "123456\n",
	                                  " 123456",
	                                  "A23456",
	                                  "12345a",
	                                  "12345\x7f",
	                                  "\xd9\xa1\xd9\xa2\xd9\xa3",
	                                  "-12345",
	                                  "+12345",
	                                  "1234567890123456"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mfa_code_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_process_stdout_is_the_code_trimmed(void **state)
{
	char code[KR_MFA_CODE_BUF] = "";

	assert_int_equal(mfa_from_process("printf '  654321\\n\\n'", soon(), code), KR_OK);
	assert_string_equal(code, "654321");
}

static void test_process_runs_without_shell(void **state)
{
	char code[KR_MFA_CODE_BUF] = "";

	/* A shell would send the code to /dev/null; split words pass ">/dev/null" on to printf. */
	assert_int_equal(mfa_from_process("printf 123456 >/dev/null", soon(), code), KR_OK);
	assert_string_equal(code, "123456");
}

static void test_process_nonzero_exit_fails(void **state)
{
	char code[KR_MFA_CODE_BUF] = "untouched";

	assert_int_equal(mfa_from_process("sh -c 'echo 123456; exit 3'", soon(), code),
	                 KR_ERR_PROCESS);
	assert_int_equal(errno, 0); /* it ran: not a missing program */
	assert_string_equal(code, "untouched");
}

static void test_process_missing_program_fails(void **state)
{
	char code[KR_MFA_CODE_BUF];

	assert_int_equal(mfa_from_process("/nonexistent/keyrole-mfa", soon(), code),
	                 KR_ERR_PROCESS);
	assert_int_equal(errno, ENOENT); /* "not found", not "failed" */
	assert_int_equal(mfa_from_process("keyrole-no-such-program-on-path 1", soon(), code),
	                 KR_ERR_PROCESS);
	assert_int_equal(errno, ENOENT);
}

static void test_process_output_that_is_not_a_code_fails(void **state)
{
	char code[KR_MFA_CODE_BUF];

	assert_int_equal(mfa_from_process("echo 123 456", soon(), code), KR_ERR_PARSE);
	assert_int_equal(mfa_from_process("echo 12345", soon(), code), KR_ERR_PARSE);
	assert_int_equal(mfa_from_process("echo 12345678901234567890", soon(), code), KR_ERR_PARSE);
	assert_int_equal(mfa_from_process("true", soon(), code), KR_ERR_PARSE);
}

static void test_process_bad_command_line_fails(void **state)
{
	char code[KR_MFA_CODE_BUF];

	assert_int_equal(mfa_from_process("echo 'unterminated", soon(), code), KR_ERR_PARSE);
	assert_int_equal(mfa_from_process("   ", soon(), code), KR_ERR_PARSE);
}

static void test_process_past_deadline_is_killed(void **state)
{
	char code[KR_MFA_CODE_BUF];
	int64_t start = proto_now_ms();

	assert_int_equal(mfa_from_process("sleep 10", start + 200, code), KR_ERR_TIMEOUT);
	assert_true(proto_now_ms() - start < 3000);
}

static void test_process_flood_of_output_is_refused(void **state)
{
	char code[KR_MFA_CODE_BUF];

	assert_int_equal(mfa_from_process("head -c 200000 /dev/zero", soon(), code), KR_ERR_TOOBIG);
}

/*
 * keyrole's caller may leave descriptors open without close-on-exec (an
 * SDK's pipes, a shell's): mfa_process sees none of them, only stdin,
 * stdout (our pipe) and stderr. build/tests/fd_report fails if it sees more.
 */
static void test_process_inherits_only_stdin_stdout_stderr(void **state)
{
	char self[4096], cmd[4200], code[KR_MFA_CODE_BUF] = "";
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int leak, sv[2], r;

	assert_true(len > 0);
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "%s/fd_report", self);
	if (access(cmd, X_OK) != 0)
		skip(); /* not built: make tests */
	snprintf(cmd, sizeof(cmd), "%s/fd_report --text 246810", self);
	leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
	assert_true(leak > 2);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r = mfa_from_process(cmd, soon(), code);
	close(leak);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(r, KR_OK);
	assert_string_equal(code, "246810");
}

static void test_exit_codes_follow_the_documented_classes(void **state)
{
	assert_int_equal(cmd_exit_code(KR_OK), 0);
	assert_int_equal(cmd_exit_code(KR_ERR_NODAEMON), 3);
	assert_int_equal(cmd_exit_code(KR_ERR_NOPROFILE), 4);
	assert_int_equal(cmd_exit_code(KR_ERR_CONFIG), 4);
	assert_int_equal(cmd_exit_code(KR_ERR_NOCREDS), 4);
	assert_int_equal(cmd_exit_code(KR_ERR_UNSUPPORTED), 4);
	assert_int_equal(cmd_exit_code(KR_ERR_AWS), 5);
	assert_int_equal(cmd_exit_code(KR_ERR_MFA), 6);
	assert_int_equal(cmd_exit_code(KR_ERR_NETWORK), 7);
	assert_int_equal(cmd_exit_code(KR_ERR_TIMEOUT), 7);
	assert_int_equal(cmd_exit_code(KR_ERR_INTERNAL), 1);
	assert_int_equal(cmd_exit_code(KR_ERR_KEYRING), 1);
	assert_int_equal(cmd_exit_code(err_from_name("no-such-error")), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_valid_accepts_six_digits),
	    cmocka_unit_test(test_code_valid_rejects_all_but_six_digits),
	    cmocka_unit_test(test_process_stdout_is_the_code_trimmed),
	    cmocka_unit_test(test_process_runs_without_shell),
	    cmocka_unit_test(test_process_nonzero_exit_fails),
	    cmocka_unit_test(test_process_missing_program_fails),
	    cmocka_unit_test(test_process_output_that_is_not_a_code_fails),
	    cmocka_unit_test(test_process_bad_command_line_fails),
	    cmocka_unit_test(test_process_past_deadline_is_killed),
	    cmocka_unit_test(test_process_flood_of_output_is_refused),
	    cmocka_unit_test(test_process_inherits_only_stdin_stdout_stderr),
	    cmocka_unit_test(test_exit_codes_follow_the_documented_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
