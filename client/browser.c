/*
 * Opening a URL in a browser: the command ($BROWSER or xdg-open) and a
 * detached start of it. The contract is in browser.h.
 */
#include "browser.h"

#include "caps.h"
#include "err.h"
#include "proto.h"
#include "shellquote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int browser_url_ok(const char *url)
{
	size_t n;

	if (!url)
		return 0;
	if (strncmp(url, "https://", 8) == 0)
		n = 8;
	else if (strncmp(url, "http://", 7) == 0)
		n = 7;
	else
		return 0;
	if (!url[n] || strlen(url) > KR_BROWSER_URL_MAX)
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/* s with every "%s" replaced by url, or NULL when out of memory. */
static char *subst_url(const char *s, const char *url)
{
	size_t n = 0, ul = strlen(url);
	const char *p;
	char *out, *o;

	for (p = s; *p; p++, n++)
		if (p[0] == '%' && p[1] == 's') {
			n += ul - 1;
			p++;
		}
	out = malloc(n + 1);
	if (!out)
		return NULL;
	for (p = s, o = out; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(o, url, ul);
			o += ul;
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

int browser_argv(const char *browser, int display, const char *url, char ***ret_argv)
{
	char **words = NULL, **argv = NULL;
	size_t n = 0, k = 0;
	int r, has_subst = 0;

	if (!browser_url_ok(url))
		return KR_ERR_INVAL;
	if (browser && *browser)
		r = shellquote_split(browser, KR_SHELL_WORDS_MAX, &words, &n);
	else if (display)
		r = shellquote_split("xdg-open", KR_SHELL_WORDS_MAX, &words, &n);
	else
		return KR_ERR_UNSUPPORTED;
	if (r == KR_OK && n == 0)
		r = KR_ERR_PARSE;
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		has_subst |= strstr(words[i], "%s") != NULL;
	argv = calloc(n + 2, sizeof(*argv));
	if (!argv) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	for (k = 0; k < n; k++) {
		argv[k] = has_subst ? subst_url(words[k], url) : strdup(words[k]);
		if (!argv[k]) {
			r = KR_ERR_NOMEM;
			goto out;
		}
	}
	if (!has_subst) {
		argv[k] = strdup(url);
		if (!argv[k]) {
			r = KR_ERR_NOMEM;
			goto out;
		}
	}
	*ret_argv = argv;
	argv = NULL;
out:
	shellquote_argv_free(argv);
	shellquote_argv_free(words);
	return r;
}

/*
 * In the grandchild: a session of its own, stdin and stdout on /dev/null,
 * stderr as ours; errfd (close-on-exec) moved to 3 to report a failed
 * exec, every other descriptor closed; default signal state.
 */
static void exec_detached(char **argv, int errfd)
{
	int e, null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	setsid();
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		goto fail;
	if (errfd != 3 && dup3(errfd, 3, O_CLOEXEC) < 0)
		goto fail;
	errfd = 3;
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
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

int browser_start(char **argv, int64_t deadline_ms, int *ret_errno)
{
	int pfd[2] = {-1, -1}, status, e = 0, r = KR_OK;
	size_t got = 0;
	pid_t pid;

	*ret_errno = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		*ret_errno = errno;
		return KR_ERR_PROCESS;
	}
	pid = fork();
	if (pid < 0) {
		*ret_errno = errno;
		r = KR_ERR_PROCESS;
		goto out;
	}
	if (pid == 0) {
		pid_t g;

		close(pfd[0]);
		/* The middle child exits at once: the browser is nobody's child of ours. */
		g = fork();
		if (g == 0)
			exec_detached(argv, pfd[1]);
		if (g < 0) {
			e = errno;
			(void)!write(pfd[1], &e, sizeof(e));
		}
		_exit(0);
	}
	close(pfd[1]);
	pfd[1] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* EOF: the exec closed the pipe (it succeeded); an int: the errno of the failure. */
	while (got < sizeof(e)) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int64_t left = deadline_ms - proto_now_ms();
		ssize_t n;

		if (left <= 0) {
			r = KR_ERR_TIMEOUT;
			break;
		}
		if (poll(&p, 1, (int)(left > 60000 ? 60000 : left)) <= 0)
			continue;
		n = read(pfd[0], (char *)&e + got, sizeof(e) - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (r == KR_OK && got > 0) {
		*ret_errno = got == sizeof(e) ? e : EIO;
		r = KR_ERR_PROCESS;
	}
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return r;
}
