/*
 * spawn: time fresh processes of two or more commands, interleaved.
 *
 *   spawn -n RUNS CMD1 [ARG...] :: CMD2 [ARG...] [:: CMD3 ...]
 *
 * Runs the commands round-robin (CMD1, CMD2, CMD1, CMD2, ...) RUNS times
 * each, with stdout on /dev/null and stdin from /dev/null, and prints one
 * line per run: "INDEX NANOSECONDS EXITSTATUS". Timing covers posix_spawn
 * to waitpid, the whole life of a process as a caller sees it. Interleaving
 * makes machine noise hit every command alike, so their ratio means
 * something even when absolute times drift.
 *
 * The environment is inherited: the caller sets what the commands need.
 * A benchmark driver, not a test: no secrets pass through it (the children's
 * stdout, which may carry credentials, goes to /dev/null unread).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_CMDS_MAX 8
#define SPAWN_RUNS_MAX 100000

extern char **environ;

struct cmd {
	char **argv; /* points into main's argv; NULL-terminated by us */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_runs(const char *s, long *ret_runs)
{
	char *end = NULL;
	long v;
	int r = -EINVAL;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > SPAWN_RUNS_MAX)
		goto out;
	*ret_runs = v;
	r = 0;
out:
	return r;
}

/* Spawn one command, wait for it; *ret_ns is its wall time, *ret_status its exit. */
static int run_once(const struct cmd *c, const posix_spawn_file_actions_t *fa, int64_t *ret_ns,
                    int *ret_status)
{
	pid_t pid;
	int st = 0;
	int64_t t0, t1;
	int r;

	t0 = now_ns();
	r = posix_spawn(&pid, c->argv[0], fa, NULL, c->argv, environ);
	if (r != 0) {
		r = -r;
		goto out;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	t1 = now_ns();
	*ret_ns = t1 - t0;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r = 0;
out:
	return r;
}

int main(int argc, char **argv)
{
	struct cmd cmds[SPAWN_CMDS_MAX];
	posix_spawn_file_actions_t fa;
	int have_fa = 0;
	size_t ncmds = 0;
	long runs = 0;
	int devnull = -1;
	int rc = 2;
	int i;

	if (argc < 4 || strcmp(argv[1], "-n") != 0 || parse_runs(argv[2], &runs) < 0) {
		fprintf(stderr, "usage: spawn -n RUNS CMD [ARG...] :: CMD [ARG...] ...\n");
		goto out;
	}
	/* Split argv[3..] at "::" into commands, NUL-terminating each in place. */
	cmds[0].argv = &argv[3];
	ncmds = 1;
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "::") != 0)
			continue;
		if (ncmds == SPAWN_CMDS_MAX || i + 1 >= argc) {
			fprintf(stderr, "spawn: too many commands or an empty one\n");
			goto out;
		}
		argv[i] = NULL;
		cmds[ncmds++].argv = &argv[i + 1];
	}
	for (size_t k = 0; k < ncmds; k++) {
		if (cmds[k].argv[0] == NULL) {
			fprintf(stderr, "spawn: empty command\n");
			goto out;
		}
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || posix_spawn_file_actions_init(&fa) != 0) {
		perror("spawn: /dev/null");
		goto out;
	}
	have_fa = 1;
	/* dup2 onto 0 and 1 clears FD_CLOEXEC there; the original stays close-on-exec. */
	if (posix_spawn_file_actions_adddup2(&fa, devnull, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, devnull, 1) != 0) {
		fprintf(stderr, "spawn: file actions failed\n");
		goto out;
	}
	for (long n = 0; n < runs; n++) {
		for (size_t k = 0; k < ncmds; k++) {
			int64_t ns = 0;
			int status = 0;
			int r = run_once(&cmds[k], &fa, &ns, &status);

			if (r < 0) {
				fprintf(stderr, "spawn: %s: %s\n", cmds[k].argv[0], strerror(-r));
				goto out;
			}
			printf("%zu %lld %d\n", k, (long long)ns, status);
		}
	}
	if (fflush(stdout) != 0)
		goto out;
	rc = 0;
out:
	if (have_fa)
		posix_spawn_file_actions_destroy(&fa);
	if (devnull >= 0)
		close(devnull);
	return rc;
}
