#include "mfa.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "proto.h"
#include "shellquote.h"
#include "tty.h"
#include "valid.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int mfa_code_valid(const char *code)
{
	return valid_mfa_code(code);
}

/* Take the trimmed text of s (len bytes) as a code. */
static int take_code(const char *s, size_t len, char ret_code[KR_MFA_CODE_BUF])
{
	char tmp[KR_MFA_CODE_BUF];
	int r = KR_ERR_PARSE;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
	                   s[len - 1] == '\t'))
		len--;
	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		len--;
	}
	if (len > 0 && len <= KR_MFA_CODE_MAX) {
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (mfa_code_valid(tmp) && strlen(tmp) == len) {
			memcpy(ret_code, tmp, len + 1);
			r = KR_OK;
		}
	}
	mem_wipe(tmp, sizeof(tmp));
	return r;
}

/*
 * In the child: stdout to the pipe, stdin and stderr as they are, and no
 * other descriptor (not even one without close-on-exec that keyrole's own
 * caller left open); default signal state.
 */
static void child_exec(char **argv, int outfd, int errfd)
{
	sigset_t none;
	int e;

	if (dup2(outfd, 1) < 0 || (errfd != 3 && dup3(errfd, 3, O_CLOEXEC) < 0))
		_exit(127);
	/* fd 3 (close-on-exec) tells the parent why an exec failed. */
	if (close_range(4, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > 65536)
			max = 65536;
		for (int fd = 4; fd < max; fd++)
			close(fd);
	}
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	e = errno;
	(void)!write(3, &e, sizeof(e));
	_exit(127);
}

/* The errno of a failed exec the child wrote to fd (0: the exec succeeded). */
static int exec_errno(int fd)
{
	ssize_t n;
	int e = 0;

	do
		n = read(fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(e) ? e : 0;
}

/* Wait for pid, killing it first if r says we gave up or once limit passes. */
static int reap(pid_t pid, int r, int64_t limit, int *status)
{
	pid_t w;

	if (r < 0)
		kill(pid, SIGKILL);
	for (;;) {
		w = waitpid(pid, status, r < 0 ? 0 : WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (w == 0 && proto_now_ms() >= limit) {
			r = KR_ERR_TIMEOUT; /* closed stdout but did not exit */
			kill(pid, SIGKILL);
		} else if (w == 0) {
			poll(NULL, 0, 5);
		}
	}
	return r;
}

/*
 * Run argv (no shell, looked up on PATH) and take its trimmed stdout, read
 * up to KR_PROC_OUT_MAX bytes and wiped, as the code; killed past
 * min(deadline_ms, KR_PROC_TIMEOUT_MS from now). errno as mfa_from_process().
 */
static int run_for_code(char **argv, int64_t deadline_ms, char ret_code[KR_MFA_CODE_BUF])
{
	int64_t limit = proto_now_ms() + KR_PROC_TIMEOUT_MS;
	struct buf out;
	int pfd[2] = {-1, -1}, efd[2] = {-1, -1}, status = 0, r = KR_OK, exec_err = 0;
	pid_t pid = -1;

	buf_init(&out, KR_PROC_OUT_MAX);
	if (deadline_ms > 0 && deadline_ms < limit)
		limit = deadline_ms;
	if (pipe2(pfd, O_CLOEXEC) < 0 || pipe2(efd, O_CLOEXEC) < 0) {
		r = KR_ERR_PROCESS;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = KR_ERR_PROCESS;
		goto out;
	}
	if (pid == 0)
		child_exec(argv, pfd[1], efd[1]);
	close(pfd[1]);
	close(efd[1]);
	pfd[1] = efd[1] = -1;
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int64_t left = limit - proto_now_ms();
		char chunk[512];
		ssize_t got;

		if (left <= 0) {
			r = KR_ERR_TIMEOUT;
			break;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			r = KR_ERR_PROCESS;
			break;
		}
		if (!p.revents)
			continue;
		got = read(pfd[0], chunk, sizeof(chunk));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			r = KR_ERR_PROCESS;
			break;
		}
		if (got == 0)
			break;
		r = buf_append(&out, chunk, (size_t)got);
		mem_wipe(chunk, sizeof(chunk));
		if (r < 0)
			break;
	}
	r = reap(pid, r, limit, &status);
	exec_err = exec_errno(efd[0]); /* the child is gone: its end is closed */
	if (r == KR_OK && (exec_err || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = KR_ERR_PROCESS;
	if (r == KR_OK)
		r = take_code(out.data ? out.data : "", out.len, ret_code);
out:
	for (int i = 0; i < 2; i++) {
		if (pfd[i] >= 0)
			close(pfd[i]);
		if (efd[i] >= 0)
			close(efd[i]);
	}
	buf_free(&out);
	errno = r == KR_ERR_PROCESS ? exec_err : 0;
	return r;
}

int mfa_from_process(const char *cmdline, int64_t deadline_ms, char ret_code[KR_MFA_CODE_BUF])
{
	char **argv = NULL;
	size_t argc = 0;
	int r, e = 0;

	r = shellquote_split(cmdline, KR_SHELL_WORDS_MAX, &argv, &argc);
	if (r == KR_OK && argc == 0)
		r = KR_ERR_PARSE;
	if (r == KR_OK) {
		r = run_for_code(argv, deadline_ms, ret_code);
		e = errno;
	}
	shellquote_argv_free(argv);
	errno = e;
	return r;
}

int mfa_from_tty(const char *serial, int64_t deadline_ms, char ret_code[KR_MFA_CODE_BUF])
{
	char prompt[512], line[64];
	int fd = -1, r;

	r = tty_open(&fd);
	if (r < 0)
		return r;
	snprintf(prompt, sizeof(prompt), "Enter MFA code for %s: ", serial);
	/* The serial comes from the config via the daemon: no escape sequences. */
	for (char *p = prompt; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	r = tty_read_line(fd, prompt, 0, deadline_ms, sizeof(line), line);
	if (r == KR_OK)
		r = take_code(line, strlen(line), ret_code);
	mem_wipe(line, sizeof(line));
	close(fd);
	return r;
}

/* Is name an executable file in a directory of PATH? */
static int on_path(const char *name)
{
	const char *path = getenv("PATH"), *p, *end;
	char full[KR_PATH_MAX];

	for (p = path && *path ? path : "/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end > p &&
		    (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)(end - p), p, name) <
		        sizeof(full) &&
		    access(full, X_OK) == 0)
			return 1;
	}
	return 0;
}

static const char *env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int mfa_ask(const char *how, const char *serial, int64_t deadline_ms,
            char ret_code[KR_MFA_CODE_BUF], char *ret_way, size_t n)
{
	const char *display = env_set("DISPLAY") ? env_set("DISPLAY") : env_set("WAYLAND_DISPLAY");
	const char *askpass = env_set("KEYROLE_ASKPASS");
	char prompt[512], *argv[8] = {NULL};
	int fd, r, e;

	if (!how || !*how)
		how = "auto";
	snprintf(ret_way, n, "%s", how);
	if (strcmp(how, "auto") == 0 || strcmp(how, "terminal") == 0) {
		if (tty_open(&fd) == KR_OK) {
			close(fd);
			snprintf(ret_way, n, "the terminal");
			return mfa_from_tty(serial, deadline_ms, ret_code);
		}
		if (strcmp(how, "terminal") == 0)
			return KR_ERR_IO;
		/* auto: ssh's order, then a dialog of the desktop. */
		if (!askpass && display)
			askpass = env_set("SSH_ASKPASS");
		how = askpass              ? askpass
		      : !display           ? NULL
		      : on_path("zenity")  ? "zenity"
		      : on_path("kdialog") ? "kdialog"
		                           : NULL;
		if (!how)
			return KR_ERR_IO;
	} else if (strcmp(how, "askpass") == 0) {
		if (!askpass)
			return KR_ERR_IO;
		how = askpass;
	}
	/* The serial comes from the config via the daemon: no control or markup characters. */
	snprintf(prompt, sizeof(prompt), "Enter MFA code for %s", serial);
	for (char *p = prompt; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '&')
			*p = '?';
	if (strcmp(how, "zenity") == 0) {
		argv[0] = (char *)"zenity";
		argv[1] = (char *)"--entry";
		argv[2] = (char *)"--hide-text";
		argv[3] = (char *)"--title=keyrole";
		argv[4] = (char *)"--text";
		argv[5] = prompt;
	} else if (strcmp(how, "kdialog") == 0) {
		argv[0] = (char *)"kdialog";
		argv[1] = (char *)"--title";
		argv[2] = (char *)"keyrole";
		argv[3] = (char *)"--password";
		argv[4] = prompt;
	} else {
		/* An askpass program, as SSH_ASKPASS: the prompt is its one argument. */
		argv[0] = (char *)how;
		argv[1] = prompt;
	}
	snprintf(ret_way, n, "%s", how);
	r = run_for_code(argv, deadline_ms, ret_code);
	e = errno;
	mem_wipe(prompt, sizeof(prompt));
	errno = e;
	return r;
}
