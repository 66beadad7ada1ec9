/*
 * herd: start N copies of a command at the same instant and time each one.
 *
 *   herd -n N -t TIMEOUT_SECONDS CMD [ARG...]
 *
 * Forks N children that each report ready on a pipe and then block on a
 * second "go" pipe; once all are ready the go pipe is closed and they exec
 * CMD together (exec keeps the PID). The parent reaps them and prints one
 * line per child: "NANOSECONDS_SINCE_RELEASE EXITSTATUS" (status 124 when
 * it was killed at the timeout). Forked C children cost almost nothing
 * while they wait, so a herd of 1,000 fits a small machine, which Python
 * wrappers would not.
 *
 * The children's stdout and stderr go to /dev/null: they may carry
 * credentials, which a benchmark has no business reading. Every wait is
 * bounded by TIMEOUT_SECONDS; children still running then are killed by PID.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HERD_MAX         4096
#define HERD_TIMEOUT_MAX 600

struct child {
	pid_t pid;
	int64_t ns;
	int status;
	int done;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_long(const char *s, long lo, long hi, long *ret_v)
{
	char *end = NULL;
	long v;
	int r = -EINVAL;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		goto out;
	*ret_v = v;
	r = 0;
out:
	return r;
}

/* In the child: say ready, wait for the release, exec. Never returns. */
static void child_run(int go_r, int ready_w, int devnull, char **argv)
{
	char c = '.';
	ssize_t n;

	if (write(ready_w, &c, 1) != 1)
		_exit(125);
	close(ready_w);
	do {
		n = read(go_r, &c, 1); /* EOF when the parent closes the write end */
	} while (n < 0 && errno == EINTR);
	close(go_r);
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/* Read n ready bytes from fd before deadline; 0 or -ETIMEDOUT. */
static int wait_ready(int fd, long n, int64_t deadline)
{
	char buf[256];
	long got = 0;
	int r = -ETIMEDOUT;

	while (got < n) {
		int64_t left = (deadline - now_ns()) / 1000000;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (left <= 0)
			goto out;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		k = read(fd, buf, sizeof(buf));
		if (k <= 0)
			goto out;
		got += k;
	}
	r = 0;
out:
	return r;
}

static struct child *find(struct child *kids, long n, pid_t pid)
{
	for (long i = 0; i < n; i++)
		if (kids[i].pid == pid)
			return &kids[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct child *kids = NULL;
	long n = 0, timeout = 0, left;
	int go[2] = {-1, -1}, ready[2] = {-1, -1};
	int devnull = -1;
	int64_t t0, deadline;
	int rc = 2;

	if (argc < 6 || strcmp(argv[1], "-n") != 0 || parse_long(argv[2], 1, HERD_MAX, &n) < 0 ||
	    strcmp(argv[3], "-t") != 0 || parse_long(argv[4], 1, HERD_TIMEOUT_MAX, &timeout) < 0) {
		fprintf(stderr, "usage: herd -n N -t TIMEOUT_SECONDS CMD [ARG...]\n");
		goto out;
	}
	kids = calloc((size_t)n, sizeof(*kids));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (kids == NULL || devnull < 0 || pipe2(go, O_CLOEXEC) < 0 ||
	    pipe2(ready, O_CLOEXEC) < 0) {
		perror("herd: setup");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("herd: fork");
			goto out;
		}
		if (pid == 0) {
			close(go[1]);
			close(ready[0]);
			child_run(go[0], ready[1], devnull, &argv[5]);
		}
		kids[i].pid = pid;
	}
	close(ready[1]);
	ready[1] = -1;
	if (wait_ready(ready[0], n, now_ns() + (int64_t)timeout * 1000000000) < 0) {
		fprintf(stderr, "herd: not every child became ready\n");
		goto out;
	}
	t0 = now_ns();
	close(go[1]); /* release: every child's read() returns EOF now */
	go[1] = -1;
	deadline = t0 + (int64_t)timeout * 1000000000;
	left = n;
	while (left > 0) {
		int st = 0;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		struct child *c;

		if (pid < 0 && errno != EINTR)
			break;
		if (pid <= 0) {
			if (now_ns() > deadline)
				break;
			/* Reap promptly without spinning: 50 µs steps keep the timing honest. */
			nanosleep(&(struct timespec){0, 50000}, NULL);
			continue;
		}
		c = find(kids, n, pid);
		if (c == NULL || c->done)
			continue;
		c->ns = now_ns() - t0;
		c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		c->done = 1;
		left--;
	}
	rc = 0;
out:
	if (kids != NULL) {
		for (long i = 0; i < n; i++) {
			if (kids[i].pid > 0 && !kids[i].done) {
				kill(kids[i].pid, SIGKILL);
				waitpid(kids[i].pid, NULL, 0);
				kids[i].status = 124;
				kids[i].ns = -1;
			}
			if (rc == 0 && kids[i].pid > 0)
				printf("%lld %d\n", (long long)kids[i].ns, kids[i].status);
		}
	}
	free(kids);
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (ready[i] >= 0)
			close(ready[i]);
	}
	if (devnull >= 0)
		close(devnull);
	return rc;
}
