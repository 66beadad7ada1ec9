/*
 * The credential_process runner with real children on a real loop: a
 * helper that talks a lot on stderr still succeeds (or fails with its own
 * last words), a flood on stdout is a clear error, and a helper that hangs
 * is killed at its deadline, its children with it, in bounded time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "caps.h"
#include "err.h"
#include "loop.h"
#include "proc.h"
#include "sts.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define GOOD_JSON                                                                                  \
	"{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCTEST0001\", \"SecretAccessKey\": \"s\"}"

struct outcome {
	int called, err;
	char key[64];
	struct err_detail e; /* zeroed on success */
};

static void on_done(void *userdata, int err, struct sts_creds *creds, const struct err_detail *e)
{
	struct outcome *o = userdata;

	o->called++;
	o->err = err;
	snprintf(o->key, sizeof(o->key), "%s", creds ? creds->access_key_id : "");
	if (e)
		o->e = *e;
	else
		memset(&o->e, 0, sizeof(o->e));
	assert_true(err == KR_OK ? e == NULL : e != NULL && e->code == err);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run argv under proc_start; returns the elapsed milliseconds. */
static uint64_t run_argv(char *const argv[], int timeout_ms, struct outcome *o)
{
	struct loop *l = NULL;
	struct proc *p = NULL;
	uint64_t t0 = mono_ms();

	memset(o, 0, sizeof(*o));
	assert_int_equal(loop_new(&l), KR_OK);
	assert_int_equal(proc_start(l, argv, timeout_ms, on_done, o, &p), KR_OK);
	while (!o->called && mono_ms() - t0 < 20000)
		loop_run_once(l, 100 * 1000);
	assert_int_equal(o->called, 1);
	loop_free(l);
	return mono_ms() - t0;
}

static uint64_t run_sh(const char *script, int timeout_ms, struct outcome *o)
{
	char sh[] = "sh", c[] = "-c";
	char *argv[] = {sh, c, (char *)script, NULL};

	return run_argv(argv, timeout_ms, o);
}

static void proc_chatty_stderr_does_not_kill_the_helper(void **state)
{
	struct outcome o;

	/*
	 * 300 KiB in a burst (a writer faster than we read must block, not fail),
	 * then ~200 KiB of warning lines: far over the kept tail and a pipe's buffer.
	 */
	run_sh(
	    "head -c 300000 /dev/zero | tr '\\000' w >&2 || exit 7; i=0; while [ $i -lt 4000 ]; do "
	    "echo \"warning: something harmless happened, line $i\" >&2; i=$((i+1)); done; "
	    "echo '" GOOD_JSON "'",
	    20000, &o);
	assert_int_equal(o.err, KR_OK);
	assert_string_equal(o.key, "AKIAPROCTEST0001");
}

static void proc_failure_shows_the_last_stderr_line_after_many_warnings(void **state)
{
	struct outcome o;

	run_sh("i=0; while [ $i -lt 40 ]; do echo \"warning: line $i\" >&2; i=$((i+1)); done; "
	       "echo 'fatal: the SSO token expired, run sso login' >&2; exit 3",
	       20000, &o);
	assert_int_equal(o.err, KR_ERR_PROCESS);
	assert_non_null(strstr(o.e.msg, "exited with status 3"));
	assert_non_null(strstr(o.e.msg, "fatal: the SSO token expired, run sso login"));
	assert_null(strstr(o.e.msg, "signal"));
	assert_null(strstr(o.e.msg, "warning"));
	assert_non_null(strstr(o.e.fix, "by hand"));
}

static void proc_bad_output_says_what_a_credential_process_prints(void **state)
{
	struct outcome o;

	run_sh("echo '{\"Version\": 2, \"AccessKeyId\": \"A\"}'", 20000, &o);
	assert_int_equal(o.err, KR_ERR_PROCESS);
	assert_non_null(strstr(o.e.msg, "sh: output has no \"Version\": 1"));
	assert_non_null(strstr(o.e.fix, "\"SecretAccessKey\""));
}

static void proc_stderr_control_characters_are_not_passed_on(void **state)
{
	struct outcome o;

	run_sh("printf 'bad \\033[31mred\\033[0m\\n' >&2; exit 1", 20000, &o);
	assert_int_equal(o.err, KR_ERR_PROCESS);
	assert_null(strchr(o.e.msg, '\033'));
	assert_non_null(strstr(o.e.msg, "bad ?[31mred?[0m"));
}

static void proc_stdout_over_its_cap_is_a_clear_error(void **state)
{
	struct outcome o;
	char script[128], want[64];

	snprintf(script, sizeof(script), "head -c %d /dev/zero | tr '\\000' x; exec sleep 30",
	         KR_PROC_OUT_MAX + 4096);
	assert_true(run_sh(script, 20000, &o) < 10000);
	assert_int_equal(o.err, KR_ERR_PROCESS);
	snprintf(want, sizeof(want), "more than %d KiB on standard output", KR_PROC_OUT_MAX / 1024);
	assert_non_null(strstr(o.e.msg, want));
}

static int pid_gone(pid_t pid)
{
	char path[64], st[512];
	FILE *f;
	int gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	/* An orphan may linger as a zombie until init reaps it: that is dead too. */
	gone = fgets(st, sizeof(st), f) && strstr(st, ") Z ") != NULL;
	fclose(f);
	return gone;
}

static void proc_hung_helper_is_killed_at_its_timeout_with_its_children(void **state)
{
	char pidfile[] = "/tmp/kr-test-proc-XXXXXX", script[256];
	struct outcome o;
	uint64_t ms;
	FILE *f;
	int fd, child = 0;

	fd = mkstemp(pidfile);
	assert_true(fd >= 0);
	close(fd);
	/* A helper whose own child holds the pipes and never ends. */
	snprintf(script, sizeof(script),
	         "echo 'waiting for the browser login' >&2; sleep 60 & echo $! > %s; wait",
	         pidfile);
	ms = run_sh(script, 300, &o);
	assert_int_equal(o.err, KR_ERR_TIMEOUT);
	assert_true(ms >= 300);
	assert_true(ms < 5000);
	assert_non_null(strstr(o.e.msg, "sh did not finish in 300 ms; killed"));
	assert_non_null(strstr(o.e.msg, "waiting for the browser login"));
	assert_non_null(strstr(o.e.fix, "stdin"));
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &child), 1);
	fclose(f);
	unlink(pidfile);
	for (int i = 0; i < 100 && !pid_gone(child); i++)
		usleep(10 * 1000);
	assert_true(pid_gone(child));
}

/* grep exits 0 (then "not a JSON object") when a line of its own status matches re. */
static int helper_status_has(const char *re)
{
	char grep[] = "grep", q[] = "-qxE", status[] = "/proc/self/status";
	char *argv[] = {grep, q, (char *)re, status, NULL};
	struct outcome o;

	run_argv(argv, 20000, &o);
	return strstr(o.e.msg, "not a JSON object") != NULL;
}

static void proc_helper_gets_no_blocked_or_ignored_signals(void **state)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
	sigset_t ss, old;

	/* The daemon blocks the signals its loop handles and ignores SIGPIPE. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, &old);
	sigaction(SIGPIPE, &ign, &old_pipe);
	assert_true(helper_status_has("SigBlk:\t0000000000000000"));
	/* Signals 32 and 33 are glibc's own (it sets them in the child): look at 1-31. */
	assert_true(helper_status_has("SigIgn:\t[0-9a-f]{8}[08]0000000"));
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* build/tests/NAME: a helper built next to this test program. */
static void helper_path(const char *name, char *out, size_t n)
{
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(len > 0);
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(out, n, "%s/%s", self, name);
	if (access(out, X_OK) != 0)
		skip(); /* not built: make tests */
}

/*
 * keyroled may hold descriptors without close-on-exec (libcurl's wake-up
 * socketpair, whatever its own parent left open): a helper sees none of
 * them, only its stdin, stdout and stderr.
 */
static void proc_helper_inherits_only_stdin_stdout_stderr(void **state)
{
	char exe[4200], creds[] = "--creds";
	char *argv[] = {exe, creds, NULL};
	struct outcome o;
	int leak, sv[2];

	helper_path("fd_report", exe, sizeof(exe));
	leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
	assert_true(leak > 2);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	run_argv(argv, 10000, &o);
	close(leak);
	close(sv[0]);
	close(sv[1]);
	if (o.err != KR_OK)
		print_error("%s\n", o.e.msg);
	assert_int_equal(o.err, KR_OK);
	assert_string_equal(o.key, "AKIAFDREPORT0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(proc_chatty_stderr_does_not_kill_the_helper),
	    cmocka_unit_test(proc_failure_shows_the_last_stderr_line_after_many_warnings),
	    cmocka_unit_test(proc_bad_output_says_what_a_credential_process_prints),
	    cmocka_unit_test(proc_stderr_control_characters_are_not_passed_on),
	    cmocka_unit_test(proc_stdout_over_its_cap_is_a_clear_error),
	    cmocka_unit_test(proc_hung_helper_is_killed_at_its_timeout_with_its_children),
	    cmocka_unit_test(proc_helper_gets_no_blocked_or_ignored_signals),
	    cmocka_unit_test(proc_helper_inherits_only_stdin_stdout_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
