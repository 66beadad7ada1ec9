#include "conn.h"

#include "buf.h"
#include "err.h"
#include "caps.h"
#include "proto.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void set_detail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_detail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int conn_init(struct conn *c, const char *socket_path)
{
	/* Absolute: an autostarted daemon runs in / and must bind the same path. */
	int r = sockpath_absolute(socket_path, c->socket, sizeof(c->socket));

	if (r < 0)
		return r;
	c->fd = -1;
	c->detail[0] = '\0';
	return KR_OK;
}

void conn_close(struct conn *c)
{
	if (!c || c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
}

/* One connect attempt, with the peer's uid checked. */
static int try_connect(struct conn *c)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	/* Bounds a connect that waits on a full backlog, and later writes. */
	struct timeval tv = {.tv_sec = KR_CLIENT_CONNECT_MS / 1000,
	                     .tv_usec = (KR_CLIENT_CONNECT_MS % 1000) * 1000};
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd, r = KR_OK;

	memcpy(su.sun_path, c->socket, strlen(c->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		set_detail(c, "cannot create a socket: %s", strerror(errno));
		return KR_ERR_IO;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
			set_detail(c, "nothing answers on %s", c->socket);
			r = KR_ERR_NODAEMON;
		} else if (e == EAGAIN || e == ETIMEDOUT) {
			set_detail(c, "keyroled on %s does not accept connections (timed out)",
			           c->socket);
			r = KR_ERR_NODAEMON;
		} else if (e == EACCES || e == EPERM) {
			set_detail(c, "cannot connect to %s: %s", c->socket, strerror(e));
			r = KR_ERR_PERM;
		} else {
			set_detail(c, "cannot connect to %s: %s", c->socket, strerror(e));
			r = KR_ERR_IO;
		}
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		set_detail(c, "cannot check who serves %s: %s", c->socket, strerror(errno));
		r = KR_ERR_IO;
		goto out;
	}
	if (cred.uid != getuid()) {
		set_detail(c, "%s is served by uid %u, not by us (uid %u): refusing to use it",
		           c->socket, (unsigned)cred.uid, (unsigned)getuid());
		r = KR_ERR_PERM;
		goto out;
	}
	c->fd = fd;
	fd = -1;
	c->detail[0] = '\0';
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Is "DIR/keyroled" (dir of dl bytes) an executable? Then it goes to ret_path. */
static int daemon_in(const char *dir, size_t dl, size_t n, char *ret_path)
{
	char path[KR_PATH_MAX];
	int w = snprintf(path, sizeof(path), "%.*s/keyroled", (int)dl, dir);

	if (w < 0 || (size_t)w >= sizeof(path) || (size_t)w >= n || !is_executable(path))
		return KR_ERR_NODAEMON;
	memcpy(ret_path, path, (size_t)w + 1);
	return KR_OK;
}

/* keyroled next to our own executable, else the first one on PATH (absolute entries only). */
static int find_daemon(size_t n, char *ret_path)
{
	char self[KR_PATH_MAX];
	const char *path, *p, *slash;
	ssize_t len;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		self[len] = '\0';
		slash = strrchr(self, '/');
		if (slash && daemon_in(self, (size_t)(slash - self), n, ret_path) == KR_OK)
			return KR_OK;
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p;) {
		size_t dl = strcspn(p, ":");

		/* A relative entry would depend on the cwd: never start a daemon from one. */
		if (dl > 0 && p[0] == '/' && daemon_in(p, dl, n, ret_path) == KR_OK)
			return KR_OK;
		p += dl;
		if (*p == ':')
			p++;
	}
	return KR_ERR_NODAEMON;
}

static void close_from(int lowfd)
{
	if (close_range((unsigned)lowfd, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > 65536)
			max = 65536;
		for (int fd = lowfd; fd < max; fd++)
			close(fd);
	}
}

/* In the grandchild: become a clean detached process and exec the daemon. */
/*
 * In the grandchild: errfd (close-on-exec) reports a failed exec; the
 * daemon's stderr is outfd until it is ready (KEYROLE_AUTOSTARTED=1: then
 * it turns stderr to /dev/null itself), so that its own words say why it
 * could not start.
 */
static void exec_daemon(const char *exe, const char *sock, int errfd, int outfd)
{
	char *const argv[] = {(char *)"keyroled", (char *)"--socket", (char *)sock, NULL};
	sigset_t all;
	int dn, e;

	dn = open("/dev/null", O_RDWR);
	if (dn < 0 || dup2(dn, 0) < 0 || dup2(dn, 1) < 0 || dup2(outfd, 2) < 0)
		goto fail;
	/* errfd >= 3: main() made sure fds 0-2 were open before anything else. */
	if (errfd != 3 && dup3(errfd, 3, O_CLOEXEC) < 0)
		goto fail;
	if (setenv("KEYROLE_AUTOSTARTED", "1", 1) < 0)
		goto fail;
	close_from(4);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (chdir("/") < 0)
		goto fail;
	/* The daemon answers for each caller's environment, never its own keys. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_SECURITY_TOKEN");
	execv(exe, argv);
fail:
	e = errno;
	if (write(3, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Start exe detached (double fork). Returns once it has exec'd or failed
 * to; *ret_out is the read end of the daemon's stderr until it is ready.
 */
static int spawn_daemon(struct conn *c, const char *exe, int *ret_out)
{
	int pfd[2], ofd[2], status = 0, e = 0, r = KR_OK;
	ssize_t got;
	pid_t pid;

	*ret_out = -1;
	if (pipe2(ofd, O_CLOEXEC) < 0) {
		set_detail(c, "cannot start %s: pipe: %s", exe, strerror(errno));
		return KR_ERR_NODAEMON;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		set_detail(c, "cannot start %s: pipe: %s", exe, strerror(errno));
		close(ofd[0]);
		close(ofd[1]);
		return KR_ERR_NODAEMON;
	}
	pid = fork();
	if (pid < 0) {
		set_detail(c, "cannot start %s: fork: %s", exe, strerror(errno));
		r = KR_ERR_NODAEMON;
		close(pfd[1]);
		close(ofd[1]);
		goto out;
	}
	if (pid == 0) {
		pid_t p2;

		close(pfd[0]);
		if (setsid() < 0)
			_exit(1);
		p2 = fork();
		if (p2 != 0)
			_exit(p2 < 0 ? 1 : 0);
		close(ofd[0]);
		exec_daemon(exe, c->socket, pfd[1], ofd[1]);
	}
	close(pfd[1]);
	close(ofd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		set_detail(c, "cannot start %s: fork failed", exe);
		r = KR_ERR_NODAEMON;
		goto out;
	}
	/* EOF: exec succeeded (the pipe was close-on-exec); an errno: it did not. */
	do
		got = read(pfd[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)sizeof(e)) {
		set_detail(c, "cannot start %s: %s", exe, strerror(e));
		r = KR_ERR_NODAEMON;
	}
out:
	close(pfd[0]);
	if (r == KR_OK)
		*ret_out = ofd[0];
	else
		close(ofd[0]);
	return r;
}

/*
 * Read what the starting daemon wrote to stderr (its tail, bounded) for up
 * to ms; 1 once it closed stderr (it is ready, or it exited), else 0.
 */
static int read_daemon_words(int fd, long ms, char *tail, size_t cap, size_t *len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char chunk[512];
	ssize_t n;

	if (poll(&p, 1, (int)ms) <= 0)
		return 0;
	n = read(fd, chunk, sizeof(chunk) < cap ? sizeof(chunk) : cap - 1);
	if (n < 0)
		return errno != EINTR && errno != EAGAIN;
	if (n == 0)
		return 1;
	if (*len + (size_t)n >= cap) { /* keep the end: the reason comes last */
		size_t drop = *len + (size_t)n - (cap - 1);

		memmove(tail, tail + drop, *len - drop);
		*len -= drop;
	}
	memcpy(tail + *len, chunk, (size_t)n);
	*len += (size_t)n;
	tail[*len] = '\0';
	return 0;
}

/* The daemon's last error line without its "keyroled: error: " prefix, or NULL. */
static const char *daemon_reason(char *tail)
{
	char *line = NULL, *p = tail;

	while (p && *p) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		if (*p && strncmp(p, "keyroled: info: ", 16) != 0 &&
		    strncmp(p, "keyroled: notice: ", 18) != 0 &&
		    strncmp(p, "keyroled: debug: ", 17) != 0)
			line = p;
		p = nl ? nl + 1 : NULL;
	}
	if (line && strncmp(line, "keyroled: error: ", 17) == 0)
		line += 17;
	else if (line && strncmp(line, "keyroled: ", 10) == 0)
		line += 10;
	return line;
}

/* "<socket dir>/autostart.lock" into ret_path (n bytes). */
static int lock_path(const char *sock, size_t n, char *ret_path)
{
	const char *slash = strrchr(sock, '/');
	char path[KR_PATH_MAX];
	int w;

	if (slash)
		w = snprintf(path, sizeof(path), "%.*s/autostart.lock", (int)(slash - sock), sock);
	else
		w = snprintf(path, sizeof(path), "autostart.lock");
	if (w < 0 || (size_t)w >= sizeof(path) || (size_t)w >= n)
		return KR_ERR_TOOBIG;
	memcpy(ret_path, path, (size_t)w + 1);
	return KR_OK;
}

static int autostart(struct conn *c)
{
	char exe[KR_PATH_MAX], lock[KR_PATH_MAX], words[KR_CONN_DETAIL_MAX];
	struct stat st;
	int64_t deadline;
	size_t words_len = 0;
	int lfd = -1, ofd = -1, closed = 0, r;

	if (find_daemon(sizeof(exe), exe) < 0) {
		set_detail(c,
		           "nothing answers on %s and keyroled was found neither next to "
		           "keyrole nor on PATH",
		           c->socket);
		r = KR_ERR_NODAEMON;
		goto out;
	}
	/* Not a socket: nothing to start, and no lock file left next to it. */
	if (lstat(c->socket, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		set_detail(c,
		           "%s exists and is not a socket; not touching it (point KEYROLE_SOCKET "
		           "elsewhere)",
		           c->socket);
		r = KR_ERR_NODAEMON;
		goto out;
	}
	r = sockpath_prepare_dir(c->socket);
	if (r == KR_OK)
		r = lock_path(c->socket, sizeof(lock), lock);
	if (r < 0) {
		set_detail(c, "cannot start keyroled: the directory of %s is unusable (%s)",
		           c->socket, err_str(r));
		r = KR_ERR_NODAEMON;
		goto out;
	}
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0) {
		set_detail(c, "cannot start keyroled: %s: %s", lock, strerror(errno));
		r = KR_ERR_NODAEMON;
		goto out;
	}
	/* A holder keeps the lock at most KR_CLIENT_CONNECT_MS plus a spawn. */
	deadline = proto_now_ms() + 2 * KR_CLIENT_CONNECT_MS;
	while (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			set_detail(c, "cannot start keyroled: lock %s: %s", lock, strerror(errno));
			r = KR_ERR_NODAEMON;
			goto out;
		}
		if (proto_now_ms() >= deadline) {
			set_detail(c, "nothing answers on %s and another keyrole holds %s",
			           c->socket, lock);
			r = KR_ERR_NODAEMON;
			goto out;
		}
		pause_ms(2);
	}
	/* Someone may have started it while we waited for the lock. */
	r = try_connect(c);
	if (r != KR_ERR_NODAEMON)
		goto out;
	r = spawn_daemon(c, exe, &ofd);
	if (r < 0)
		goto out;
	words[0] = '\0';
	deadline = proto_now_ms() + KR_CLIENT_CONNECT_MS;
	for (long wait = 1;; wait = wait < 20 ? wait * 2 : 20) {
		r = try_connect(c);
		if (r != KR_ERR_NODAEMON)
			break;
		if (closed) { /* stderr closed and nothing answers: it exited */
			const char *why = daemon_reason(words);

			set_detail(c, "%s could not start: %s", exe,
			           why ? why : "it exited without saying why");
			break;
		}
		if (proto_now_ms() >= deadline) {
			set_detail(c, "started %s but nothing answered on %s within %d ms", exe,
			           c->socket, KR_CLIENT_CONNECT_MS);
			break;
		}
		closed = read_daemon_words(ofd, wait, words, sizeof(words), &words_len);
	}
out:
	if (ofd >= 0)
		close(ofd);
	if (lfd >= 0)
		close(lfd); /* releases the lock */
	return r;
}

int conn_open(struct conn *c, unsigned flags)
{
	int r;

	conn_close(c);
	r = try_connect(c);
	if (r == KR_ERR_NODAEMON && (flags & CONN_AUTOSTART))
		r = autostart(c);
	return r;
}

/* The reply body as a message: a JSON object of our protocol version. */
static int decode_reply(const char *body, size_t len, struct json **ret_reply)
{
	const struct json *v;
	struct json *reply = NULL;
	int r;

	r = json_parse(body, len, &reply);
	if (r < 0)
		return r == KR_ERR_NOMEM ? r : KR_ERR_PROTO;
	if (json_type(reply) != JSON_OBJECT) {
		json_free(reply);
		return KR_ERR_PROTO;
	}
	v = json_get(reply, "v");
	if (json_type(v) != JSON_NUMBER || json_num(v) != KR_PROTO_VERSION) {
		json_free(reply);
		return KR_ERR_VERSION;
	}
	*ret_reply = reply;
	return KR_OK;
}

/*
 * Wait for the reply to become readable (or the deadline), calling
 * c->on_wait as conn.h says. 1 if it was called.
 */
static int await_reply(struct conn *c, int64_t deadline_ms)
{
	int64_t start = proto_now_ms(), next = start + KR_CLIENT_WAIT_LINE_MS;
	int called = 0;

	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int64_t now = proto_now_ms(), until = next < deadline_ms ? next : deadline_ms;
		int pr;

		if (now >= deadline_ms)
			break;
		pr = poll(&p, 1, (int)(until > now ? until - now : 0));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr != 0)
			break; /* readable, closed, or an error proto_read_frame() will meet */
		if (proto_now_ms() >= next) {
			c->on_wait(c->wait_userdata, proto_now_ms() - start);
			called = 1;
			next += 1000;
		}
	}
	return called;
}

int conn_request(struct conn *c, const struct json *req, int64_t deadline_ms,
                 struct json **ret_reply)
{
	struct buf body, out, in;
	struct json *reply = NULL;
	int r, waited;

	buf_init(&body, KR_REQ_MAX);
	buf_init(&out, KR_FRAME_HDR + KR_REQ_MAX);
	buf_init(&in, KR_RESP_MAX);
	if (c->fd < 0) {
		set_detail(c, "not connected to keyroled");
		r = KR_ERR_IO;
		goto out;
	}
	r = json_print(req, 0, &body);
	if (r == KR_OK)
		r = proto_frame_append(&out, body.data, body.len);
	if (r < 0) {
		set_detail(c, "cannot build the request: %s", err_str(r));
		goto out;
	}
	r = proto_write_all(c->fd, out.data, out.len, deadline_ms);
	if (r < 0) {
		/* A daemon that refuses a connection (busy) answers first, then closes. */
		if (proto_read_frame(c->fd, KR_RESP_MAX, proto_now_ms() + 1000, &in) == KR_OK &&
		    decode_reply(in.data, in.len, &reply) == KR_OK) {
			*ret_reply = reply;
			c->detail[0] = '\0';
			r = KR_OK;
			goto out;
		}
		set_detail(c, "cannot send the request to keyroled on %s: %s", c->socket,
		           err_str(r));
		goto out;
	}
	waited = c->on_wait && await_reply(c, deadline_ms);
	r = proto_read_frame(c->fd, KR_RESP_MAX, deadline_ms, &in);
	if (waited)
		c->on_wait(c->wait_userdata, -1);
	if (r == KR_ERR_TIMEOUT)
		set_detail(c, "keyroled on %s did not answer in time", c->socket);
	else if (r == KR_ERR_IO)
		set_detail(c, "keyroled on %s closed the connection without an answer", c->socket);
	else if (r < 0)
		set_detail(c, "bad reply from keyroled on %s: %s", c->socket, err_str(r));
	if (r < 0)
		goto out;
	r = decode_reply(in.data, in.len, &reply);
	if (r < 0) {
		set_detail(c, "bad reply from keyroled on %s: %s", c->socket, err_str(r));
		goto out;
	}
	*ret_reply = reply;
	c->detail[0] = '\0';
	if (c->keep && json_type(json_get(reply, "ok")) == JSON_TRUE) {
		reply = NULL;
		goto kept; /* exec --server: the token lives while this connection does */
	}
out:
	conn_close(c);
kept:
	buf_free(&body);
	buf_free(&out);
	buf_free(&in);
	return r;
}
