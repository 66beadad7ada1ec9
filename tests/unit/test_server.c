/*
 * The socket side of keyroled, run for real in a child process (server_run
 * on a private socket, memory cache): replies that do not fit under the
 * reply cap. The cap is a server_opts parameter, so a tiny one makes every
 * reply, and even the error reply that replaces it, impossible to encode.
 * The daemon must answer what it can, close what it cannot, and go on
 * serving; under ASan (make SANITIZE=1) a connection freed while its
 * request is still being dispatched aborts the child.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "caps.h"
#include "err.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char sock[128];
	pid_t pid;
};

static void pause_a_little(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

	nanosleep(&ts, NULL);
}

static int connect_to(const char *path)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(su.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Start server_run() in a child with this reply cap; wait until it listens. */
static void start_server(struct fixture *f, size_t reply_max)
{
	int fd = -1;

	snprintf(f->dir, sizeof(f->dir), "/tmp/kr-server-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		struct server_opts o = {
		    .socket_path = f->sock,
		    .reply_max = reply_max,
		    .idle_exit = 30, /* a child a failed test leaves behind goes away */
		    .agent = {.cache = "memory",
		              .refresh_margin = KR_REFRESH_MARGIN_S,
		              .mfa_duration = 43200},
		};
		/* Die of a crash as a daemon would, not in cmocka's handlers. */
		int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		log_init(LOG_LVL_WARNING);
		_exit(server_run(&o));
	}
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = connect_to(f->sock);
		if (fd < 0)
			pause_a_little();
	}
	assert_true(fd >= 0);
	close(fd);
}

/* SIGTERM the server; its exit status (0 = clean shutdown). */
static int stop_server(struct fixture *f)
{
	int status = 0;

	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	unlink(f->sock);
	{
		char lock[160];
		snprintf(lock, sizeof(lock), "%s.lock", f->sock);
		unlink(lock);
	}
	rmdir(f->dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Send one request; everything the server sends until it closes goes to
 * out. -1 when the server cannot be reached or resets the connection.
 */
static ssize_t ask(const char *sock, const char *json, char *out, size_t n)
{
	unsigned char hdr[4];
	size_t len = strlen(json), got = 0;
	int fd = connect_to(sock);

	if (fd < 0)
		return -1;
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	assert_int_equal(send(fd, hdr, 4, MSG_NOSIGNAL), 4);
	assert_int_equal(send(fd, json, len, MSG_NOSIGNAL), (ssize_t)len);
	for (;;) {
		ssize_t r = recv(fd, out + got, n - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) { /* a reset, or a timeout: the server neither answered nor closed */
			close(fd);
			return -1;
		}
		if (r == 0 || got + (size_t)r >= n - 1) {
			got += (size_t)r;
			break;
		}
		got += (size_t)r;
	}
	out[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

static void server_reply_over_the_cap_becomes_a_toobig_error(void **state)
{
	struct fixture f;
	char out[4096];
	ssize_t n;

	/* Room for a ping reply and an error, not for a status reply. */
	start_server(&f, 128);
	n = ask(f.sock, "{\"v\":1,\"op\":\"ping\"}", out, sizeof(out));
	assert_true(n > 4);
	assert_non_null(strstr(out + 4, "\"ok\":true"));
	n = ask(f.sock, "{\"v\":1,\"op\":\"status\"}", out, sizeof(out));
	assert_true(n > 4);
	assert_non_null(strstr(out + 4, "\"error\":\"toobig\""));
	n = ask(f.sock, "{\"v\":1,\"op\":\"ping\"}", out, sizeof(out));
	assert_non_null(strstr(out + 4, "\"ok\":true"));
	assert_int_equal(stop_server(&f), 0);
}

/*
 * Not even the error fits: the connection is closed without an answer,
 * while its request is still being dispatched (a ping is answered before
 * agent_handle() returns). The server must not free it under its caller.
 */
static void server_reply_that_cannot_be_encoded_closes_only_that_connection(void **state)
{
	struct fixture f;
	char out[256];

	start_server(&f, 16);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ask(f.sock, "{\"v\":1,\"op\":\"ping\"}", out, sizeof(out)), 0);
	/* Bad frames go the same way (their error reply does not fit either). */
	assert_int_equal(ask(f.sock, "[1,2,3]", out, sizeof(out)), 0);
	assert_int_equal(ask(f.sock, "{\"v\":1,\"op\":\"ping\"}", out, sizeof(out)), 0);
	assert_int_equal(stop_server(&f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(server_reply_over_the_cap_becomes_a_toobig_error),
	    cmocka_unit_test(server_reply_that_cannot_be_encoded_closes_only_that_connection),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
