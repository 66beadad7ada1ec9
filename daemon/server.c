/*
 * The socket side of keyroled.
 *
 * Invariants:
 * - The peer's uid (SO_PEERCRED) is checked on accept, before a byte is
 *   read; any other uid is closed and logged.
 * - A request is bounded: its length is checked against KR_REQ_MAX before
 *   the body is read, and the whole frame must arrive within
 *   KR_CONN_READ_MS. Bad frames get an error reply and a close; nothing a
 *   client sends can stop the daemon from serving the others.
 * - At most KR_CONN_MAX connections; past that a "busy" reply and a close.
 * - Out of descriptors (EMFILE, ENFILE) or any other accept failure, the
 *   listener is not watched for KR_ACCEPT_PAUSE_MS (it would stay readable
 *   and spin the loop), once logged per episode; open connections go on.
 * - Every state has a deadline: reading (KR_CONN_READ_MS), waiting for the
 *   agent (KR_CONN_IDLE_MS, a backstop: the agent bounds its own work) and
 *   writing (KR_CONN_WRITE_MS, a client that does not read its reply).
 * - Reply buffers may hold credentials: struct buf wipes them.
 * - A "serve" answer (exec --server) keeps its connection open, HELD, with
 *   no deadline, until the client closes it (its exec ended or was
 *   killed): the connection owns the credentials endpoint's registration
 *   and revokes its token when it goes. Held connections count against
 *   KR_CONN_MAX; credsrv.c bounds how many there are.
 * - Ownership of a connection: it is freed only by the code the loop
 *   called for it (on_accept, its I/O or deadline callback, or a reply
 *   the agent delivers later), never under a caller that still uses it.
 *   While agent_handle() runs (c->dispatching), a reply is only queued;
 *   once agent_handle() returns, conn_dispatch() decides: write, close,
 *   or wait.
 */
#include "server.h"

#include "err.h"
#include "caps.h"
#include "credsrv.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "msg.h"
#include "proto.h"
#include "sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct server;

struct server_conn {
	struct server *srv;
	struct list_node link; /* in srv->conns */
	int fd;
	struct loop_io *io;
	struct loop_timer *deadline;
	struct buf in;  /* request frame (header + body) */
	struct buf out; /* reply frame; may hold secrets */
	size_t body_len;
	size_t out_off;
	struct agent_req *pending;
	int state;               /* READING, WAITING, WRITING, CLOSING */
	int dispatching;         /* inside agent_handle(): a reply must not free us yet */
	struct credsrv_reg *reg; /* serve: revoked when the connection goes */
};

/*
 * CLOSING: the answer could not even be encoded as an error; close without one.
 * HELD: a serve was answered; open until the client hangs up.
 */
enum { READING, WAITING, WRITING, CLOSING, HELD };

struct server {
	struct loop *loop;
	struct agent *agent;
	int listen_fd;
	int owns_path; /* we bound it: unlink on exit */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct loop_io *listen_io;
	struct list_node conns; /* struct server_conn */
	unsigned n_conns;
	unsigned long refused_uid, refused_busy, bad_frames;
	uid_t uid;        /* ours: the only one served */
	size_t reply_max; /* reply body cap */
	const struct server_opts *opts;
	int idle_exit;
	struct loop_timer *idle_timer;
	struct loop_timer *status_timer;
	struct loop_timer *drain_timer;
	/* Made at start, so that pausing needs no new descriptor when we have none. */
	struct loop_timer *accept_timer;
	unsigned long accept_pauses; /* in the current episode of accept failures */
	int stopping;
};

static void conn_free(struct server_conn *c)
{
	struct server *s;

	if (!c)
		return;
	s = c->srv;
	if (c->pending)
		agent_req_cancel(c->pending);
	credsrv_unregister(c->reg);
	loop_io_free(c->io);
	loop_timer_free(c->deadline);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	list_unlink(&c->link);
	s->n_conns--;
	free(c);
	if (s->stopping && s->n_conns == 0)
		loop_exit(s->loop, 0);
}

static void on_conn_io(struct loop_io *io, int fd, uint32_t revents, void *userdata);
static void on_conn_deadline(struct loop_timer *t, void *userdata);

/* Watch the connection for ev, registering it with the loop on first need. */
static int conn_watch(struct server_conn *c, uint32_t ev)
{
	if (!c->io)
		return loop_io_add(c->srv->loop, c->fd, ev, on_conn_io, c, &c->io);
	return loop_io_set_events(c->io, ev);
}

/* (Re)arm the connection's one deadline, ms from now. */
static int conn_deadline(struct server_conn *c, int ms)
{
	uint64_t at = loop_now(c->srv->loop) + (uint64_t)ms * 1000;

	if (!c->deadline)
		return loop_timer_add(c->srv->loop, at, on_conn_deadline, c, &c->deadline);
	return loop_timer_set(c->deadline, at);
}

/*
 * The connection functions below return 1 when they freed c (done or
 * failed) and 0 when c waits for the loop: callers must not touch c after 1.
 */
static int conn_flush(struct server_conn *c)
{
	/* 0: the socket is full (wait for it); 1: all sent; -1: the peer is gone. */
	if (loop_send_some(c->fd, c->out.data, c->out.len, &c->out_off) == 0) {
		if (conn_watch(c, LOOP_OUT) == 0 &&
		    (c->deadline || conn_deadline(c, KR_CONN_WRITE_MS) == 0))
			return 0;
		conn_free(c);
		return 1;
	}
	if (c->reg && c->out_off == c->out.len) {
		/* The exec lives while this connection does: wait for its hang-up. */
		c->state = HELD;
		buf_free(&c->out); /* held the token */
		loop_timer_free(c->deadline);
		c->deadline = NULL;
		if (conn_watch(c, LOOP_IN) == 0)
			return 0;
	}
	conn_free(c);
	return 1;
}

/*
 * Encode reply (borrowed) as c's answer. Never frees c, so it is safe while
 * agent_handle() runs: a reply that cannot be encoded is replaced by an
 * error, and when not even that fits, c is marked CLOSING.
 */
static void conn_reply(struct server_conn *c, const struct reply *reply)
{
	int r = msg_encode_reply(reply, &c->out);

	c->state = WRITING;
	if (r == 0 && reply->ok && reply->op == OP_SERVE && reply->u.serve.reg) {
		c->reg = reply->u.serve.reg; /* ours now: revoked in conn_free() */
		*reply->u.serve.taken = 1;
	}
	if (r < 0) {
		struct err_detail e;
		struct reply er = {.ok = 0, .u.error.e = &e};

		err_set(&e, r, NULL, 0, NULL, "reply could not be encoded");
		buf_reset(&c->out);
		if (msg_encode_reply(&er, &c->out) < 0) {
			log_warning("connection: a reply could not be encoded (%s); closing",
			            err_str(r));
			buf_reset(&c->out);
			c->state = CLOSING;
		}
	}
	loop_timer_free(c->deadline);
	c->deadline = NULL;
}

static void conn_reply_error(struct server_conn *c, int err, const char *msg)
{
	struct err_detail e;
	struct reply r = {.ok = 0, .u.error.e = &e};

	err_set(&e, err, NULL, 0, NULL, "%s", msg);
	conn_reply(c, &r);
}

/* After conn_reply(): write the answer, or close when there is none. */
static int conn_answer(struct server_conn *c)
{
	if (c->state == CLOSING) {
		conn_free(c);
		return 1;
	}
	return conn_flush(c);
}

static int conn_error(struct server_conn *c, int err, const char *msg)
{
	c->srv->bad_frames++;
	log_debug("connection: %s", msg);
	conn_reply_error(c, err, msg);
	return conn_answer(c);
}

static void on_agent_reply(void *userdata, const struct reply *reply)
{
	struct server_conn *c = userdata;

	c->pending = NULL;
	conn_reply(c, reply);
	if (!c->dispatching)
		conn_answer(c); /* a later answer: nobody else holds c */
}

static int conn_dispatch(struct server_conn *c)
{
	struct agent_req *pending = NULL;
	struct request req;
	struct err_detail e;
	int r;

	r = msg_decode_request(c->in.data + KR_FRAME_HDR, c->body_len, &req, &e);
	buf_reset(&c->in); /* may carry an MFA code or keys: wipe now */
	if (r < 0)
		return conn_error(c, e.code, e.msg);
	c->state = WAITING;
	/* The read deadline no longer applies; the agent bounds its own work. */
	loop_timer_free(c->deadline);
	c->deadline = NULL;
	c->dispatching = 1;
	agent_handle(c->srv->agent, &req, on_agent_reply, c, &pending);
	c->dispatching = 0;
	request_free(&req);
	if (c->state != WAITING)
		return conn_answer(c); /* answered at once (the cache hit path); pending unused */
	c->pending = pending;
	/* Only a hang-up is expected from here: the client gave up waiting. */
	if (conn_watch(c, LOOP_IN) < 0 || conn_deadline(c, KR_CONN_IDLE_MS) < 0) {
		conn_free(c);
		return 1;
	}
	return 0;
}

static int conn_read(struct server_conn *c)
{
	unsigned char tmp[4096];

	for (;;) {
		ssize_t got;
		size_t use;

		/* One request per connection: read what is there in one call. */
		got = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (got <= 0) {
			conn_free(c); /* closed or failed before a whole request */
			return 1;
		}
		for (size_t off = 0; off < (size_t)got; off += use) {
			size_t want = c->in.len < KR_FRAME_HDR
			                  ? KR_FRAME_HDR - c->in.len
			                  : KR_FRAME_HDR + c->body_len - c->in.len;

			use = (size_t)got - off < want ? (size_t)got - off : want;
			if (buf_append(&c->in, tmp + off, use) < 0) {
				mem_wipe(tmp, sizeof(tmp));
				return conn_error(c, KR_ERR_NOMEM, "out of memory");
			}
			if (c->in.len == KR_FRAME_HDR) {
				int r = proto_frame_len((unsigned char *)c->in.data, KR_REQ_MAX,
				                        &c->body_len);
				if (r < 0) {
					mem_wipe(tmp, sizeof(tmp));
					return conn_error(
					    c, r,
					    r == KR_ERR_TOOBIG
					        ? "request larger than the 64 KiB limit"
					        : "bad frame length");
				}
			}
			if (c->in.len > KR_FRAME_HDR && c->in.len == KR_FRAME_HDR + c->body_len) {
				/* Whatever follows the one request is ignored. */
				mem_wipe(tmp, sizeof(tmp));
				return conn_dispatch(c);
			}
		}
		mem_wipe(tmp, (size_t)got);
	}
}

static void on_conn_io(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct server_conn *c = userdata;

	switch (c->state) {
	case READING:
		conn_read(c);
		break;
	case WAITING: {
		/* Only a hang-up is expected here: the client gave up waiting. */
		char b;
		ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_free(c);
		else if (n > 0)
			loop_io_set_events(c->io, 0); /* extra bytes: ignore, stop polling */
		break;
	}
	case WRITING:
		conn_flush(c);
		break;
	case HELD: {
		/* The client sends nothing more; a hang-up ends its exec's token. */
		char b[256];
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_free(c);
		break;
	}
	}
}

static void on_conn_deadline(struct loop_timer *t, void *userdata)
{
	struct server_conn *c = userdata;

	switch (c->state) {
	case READING:
		log_debug("connection: request not complete within %d ms, closing",
		          KR_CONN_READ_MS);
		c->srv->bad_frames++;
		conn_free(c);
		break;
	case WAITING:
		log_warning("connection: no answer within %d s, giving up", KR_CONN_IDLE_MS / 1000);
		agent_req_cancel(c->pending);
		c->pending = NULL;
		conn_reply_error(c, KR_ERR_TIMEOUT, "keyroled found no answer in time");
		conn_answer(c);
		break;
	case WRITING:
		log_debug("connection: reply not taken within %d ms, closing", KR_CONN_WRITE_MS);
		conn_free(c);
		break;
	}
}

static void refuse(int fd, int err, const char *msg)
{
	struct err_detail e;
	struct reply r = {.ok = 0, .u.error.e = &e};
	struct buf b;

	err_set(&e, err, NULL, 0, NULL, "%s", msg);
	buf_init(&b, KR_RESP_MAX);
	if (msg_encode_reply(&r, &b) == 0)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	buf_free(&b);
	close(fd);
}

static void arm_idle(struct server *s);

static void on_accept_resume(struct loop_timer *t, void *userdata)
{
	struct server *s = userdata;

	if (s->listen_io) /* NULL once stopping */
		loop_io_set_events(s->listen_io, LOOP_IN);
}

/*
 * accept() failed for a reason that does not go away by itself (no
 * descriptor left, no memory): the pending connection stays queued, so the
 * listener stays readable. Stop watching it for a while instead of spinning;
 * the connections already open are served meanwhile and may free some.
 */
static void pause_accepting(struct server *s, int err)
{
	if (s->accept_pauses++ == 0)
		log_warning("accept: %s (%u connections open); not accepting new ones for %d ms "
		            "at a time until it succeeds again",
		            strerror(err), s->n_conns, KR_ACCEPT_PAUSE_MS);
	if (loop_io_set_events(s->listen_io, 0) < 0 ||
	    loop_timer_set(s->accept_timer,
	                   loop_now(s->loop) + (uint64_t)KR_ACCEPT_PAUSE_MS * 1000) < 0)
		loop_io_set_events(s->listen_io, LOOP_IN); /* cannot pause: better spin than stop */
}

static void on_accept(struct loop_io *io, int lfd, uint32_t revents, void *userdata)
{
	struct server *s = userdata;

	for (int i = 0; i < 64; i++) {
		struct ucred cred = {.pid = -1, .uid = (uid_t)-1};
		socklen_t len = sizeof(cred);
		struct server_conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				pause_accepting(s, errno);
			return;
		}
		if (s->accept_pauses) {
			log_notice("accepting connections again (after %lu pause(s))",
			           s->accept_pauses);
			s->accept_pauses = 0;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    cred.uid != s->uid) {
			s->refused_uid++;
			log_warning("refused a connection from uid %ld pid %ld (not our uid %ld)",
			            (long)cred.uid, (long)cred.pid, (long)s->uid);
			close(fd);
			continue;
		}
		if (s->n_conns >= KR_CONN_MAX) {
			s->refused_busy++;
			refuse(fd, KR_ERR_BUSY, "keyroled is at its connection limit; try again");
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		buf_init(&c->in, KR_FRAME_HDR + KR_REQ_MAX);
		buf_init(&c->out, KR_FRAME_HDR + s->reply_max);
		list_push_front(&s->conns, &c->link);
		s->n_conns++;
		arm_idle(s);
		/*
		 * Fast path: a client sends its request right after connecting, so
		 * it is usually there already, and a cached answer completes here
		 * without the connection ever entering the event loop.
		 */
		if (conn_read(c))
			continue;
		if (c->state == READING &&
		    (conn_watch(c, LOOP_IN) < 0 || conn_deadline(c, KR_CONN_READ_MS) < 0))
			conn_free(c);
	}
}

static void on_idle(struct loop_timer *t, void *userdata)
{
	struct server *s = userdata;

	if (s->n_conns == 0 && !agent_busy(s->agent)) {
		log_info("idle for %d s, exiting", s->idle_exit);
		loop_exit(s->loop, 0);
		return;
	}
	arm_idle(s);
}

static void arm_idle(struct server *s)
{
	uint64_t at;

	if (!s->idle_exit) {
		/* Off (perhaps since a reload): no timer may fire. */
		loop_timer_free(s->idle_timer);
		s->idle_timer = NULL;
		return;
	}
	at = loop_now(s->loop) + (uint64_t)s->idle_exit * 1000000u;
	if (!s->idle_timer)
		loop_timer_add(s->loop, at, on_idle, s, &s->idle_timer);
	else
		loop_timer_set(s->idle_timer, at);
}

static void on_drain_timeout(struct loop_timer *t, void *userdata)
{
	struct server *s = userdata;

	log_info("shutdown: %u connection(s) still open, exiting anyway", s->n_conns);
	loop_exit(s->loop, 0);
}

static void on_stop_signal(int signo, void *userdata)
{
	struct server *s = userdata;

	if (s->stopping)
		return;
	s->stopping = 1;
	loop_notify("STOPPING=1");
	log_info("%s: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Stop accepting; let the requests in progress finish, within bounds. */
	loop_io_free(s->listen_io);
	s->listen_io = NULL;
	if (s->n_conns == 0) {
		loop_exit(s->loop, 0);
		return;
	}
	loop_timer_add(s->loop, loop_now(s->loop) + 5 * 1000000u, on_drain_timeout, s,
	               &s->drain_timer);
}

static void on_hup(int signo, void *userdata)
{
	struct server *s = userdata;
	struct server_opts o;

	if (!s->opts->reload) {
		log_info("SIGHUP: nothing to reload (~/.aws files are reread on every request)");
		return;
	}
	o = *s->opts;
	if (s->opts->reload(s->opts->reload_userdata, &o) < 0) {
		log_warning("SIGHUP: settings not reloaded (see above); keeping the old ones");
		return;
	}
	agent_reconfigure(s->agent, &o.agent);
	s->idle_exit = o.idle_exit;
	arm_idle(s);
	log_info("SIGHUP: settings reloaded (refresh margin %d s, MFA sessions %d s, idle exit "
	         "%d s)",
	         o.agent.refresh_margin, o.agent.mfa_duration, o.idle_exit);
}

/* Keep systemd's STATUS= line current while anybody listens. */
static void on_status_timer(struct loop_timer *t, void *userdata)
{
	struct server *s = userdata;
	char status[256];

	agent_status_line(s->agent, status, sizeof(status));
	loop_notify("STATUS=%u connections, %s", s->n_conns, status);
	loop_timer_set(t, loop_now(s->loop) + 10 * 1000000u);
}

/* Is someone answering on path? Then it is a live daemon, not a stale file. */
static int path_is_live(const char *path)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	int fd, live;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memcpy(su.sun_path, path, strlen(path) + 1);
	live = connect(fd, (struct sockaddr *)&su, sizeof(su)) == 0;
	close(fd);
	return live;
}

/*
 * Two daemons starting at once must not both decide the socket is stale:
 * the check, the unlink and the bind happen under an exclusive lock on
 * PATH.lock (left in place: removing a lock file races with its next user).
 */
static int lock_socket_path(const char *path)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_err("cannot open %s: %s", lock, strerror(errno));
		return KR_ERR_IO;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			log_err("cannot lock %s: %s", lock, strerror(errno));
			close(fd);
			return KR_ERR_IO;
		}
	}
	return fd;
}

static int listen_on_path(struct server *s, const char *path)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	struct stat st;
	int fd = -1, lock_fd = -1, r;

	if (strlen(path) >= sizeof(su.sun_path)) {
		log_err("socket path too long: %s", path);
		return KR_ERR_TOOBIG;
	}
	r = sockpath_prepare_dir(path);
	if (r < 0) {
		log_err("socket directory for %s: %s (it must be a directory of ours that "
		        "nobody else may write to)",
		        path, err_str(r));
		return r;
	}
	/* Checked before the lock too: a wrong path gets no PATH.lock next to it. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; not touching it", path);
		return KR_ERR_PERM;
	}
	r = lock_socket_path(path);
	if (r < 0)
		return r;
	lock_fd = r;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket; not touching it", path);
			r = KR_ERR_PERM;
			goto out;
		}
		if (path_is_live(path)) {
			log_err("another keyroled already answers on %s", path);
			r = KR_ERR_BUSY;
			goto out;
		}
		unlink(path); /* stale socket of a daemon that died */
	}
	memcpy(su.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = KR_ERR_IO;
		goto out;
	}
	/* umask 077 makes the socket 0600 from the start; chmod to be explicit. */
	if (bind(fd, (struct sockaddr *)&su, sizeof(su)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 512) < 0) {
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		r = KR_ERR_IO;
		goto out;
	}
	memcpy(s->path, path, strlen(path) + 1);
	s->owns_path = 1;
	s->listen_fd = fd;
	r = KR_OK;
out:
	close(lock_fd); /* releases the lock: the socket now answers for us */
	return r;
}

static int setup_listener(struct server *s, const char *path)
{
	char def[sizeof(s->path)];
	int n = loop_listen_fds(), r;

	if (n > 0) {
		if (n != 1 || !loop_is_unix_listener(3)) {
			log_err(
			    "systemd passed %d socket(s); expected one listening AF_UNIX stream "
			    "socket",
			    n);
			return KR_ERR_INVAL;
		}
		s->listen_fd = 3;
		fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
		fcntl(3, F_SETFD, FD_CLOEXEC);
		log_info("using the socket passed by systemd");
		return KR_OK;
	}
	if (!path) {
		r = sockpath_default(def, sizeof(def));
		if (r < 0) {
			log_err("no default socket path: %s", sockpath_why(r));
			return r;
		}
	} else {
		/* Relative: the current directory now, for the whole run (and the unlink). */
		r = sockpath_absolute(path, def, sizeof(def));
		if (r < 0) {
			log_err("socket path %s: %s", path,
			        r == KR_ERR_TOOBIG
			            ? "too long for a Unix socket once made absolute "
			              "(107 bytes at most)"
			            : "the current directory cannot be read");
			return r;
		}
	}
	return listen_on_path(s, def);
}

int server_run(const struct server_opts *opts)
{
	struct server s = {.listen_fd = -1,
	                   .idle_exit = opts->idle_exit,
	                   .opts = opts,
	                   .uid = getuid(),
	                   .reply_max = opts->reply_max ? opts->reply_max : KR_RESP_MAX};
	char status[256];
	int r, ret = 1;

	list_init(&s.conns);
	r = loop_new(&s.loop);
	if (r < 0)
		goto out;
	/*
	 * Signals first: once the socket listens, a client or a supervisor may
	 * signal us at once, and SIGHUP's default action would kill the daemon.
	 * They wait in the signalfd until the loop runs.
	 */
	if (loop_signal_add(s.loop, SIGTERM, on_stop_signal, &s) < 0 ||
	    loop_signal_add(s.loop, SIGINT, on_stop_signal, &s) < 0 ||
	    loop_signal_add(s.loop, SIGHUP, on_hup, &s) < 0)
		goto out;
	r = setup_listener(&s, opts->socket_path);
	if (r < 0)
		goto out;
	r = agent_new(s.loop, &opts->agent, &s.agent);
	if (r < 0) {
		log_err("cannot start: %s", err_str(r));
		goto out;
	}
	if (loop_timer_add(s.loop, UINT64_MAX, on_accept_resume, &s, &s.accept_timer) < 0 ||
	    loop_io_add(s.loop, s.listen_fd, LOOP_IN, on_accept, &s, &s.listen_io) < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	loop_watchdog_enable(s.loop);
	arm_idle(&s);
	agent_status_line(s.agent, status, sizeof(status));
	log_info("keyroled %s listening on %s", KR_VERSION, s.owns_path ? s.path : "fd 3");
	loop_notify("READY=1\nSTATUS=%s", status);
	if (opts->stderr_until_ready) {
		/* keyrole read why we could not start; now it has gone: no more stderr. */
		int dn = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (dn >= 0) {
			dup2(dn, 2);
			close(dn);
		}
	}
	if (getenv("NOTIFY_SOCKET"))
		loop_timer_add(s.loop, loop_now(s.loop) + 10 * 1000000u, on_status_timer, &s,
		               &s.status_timer);
	r = loop_run(s.loop);
	ret = r < 0 ? 1 : 0;
out:
	while (!list_empty(&s.conns))
		conn_free(list_entry(s.conns.next, struct server_conn, link));
	loop_io_free(s.listen_io);
	loop_timer_free(s.idle_timer);
	loop_timer_free(s.drain_timer);
	loop_timer_free(s.status_timer);
	loop_timer_free(s.accept_timer);
	agent_free(s.agent);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.owns_path)
		unlink(s.path);
	loop_free(s.loop);
	return ret;
}
