/*
 * echo_server: the floor for daemon throughput. A trivial single-threaded
 * epoll server on a Unix socket that speaks the keyrole frame protocol
 * (doc/protocol.txt): per connection it checks the peer uid, reads one
 * request frame, answers with a canned reply frame and closes. No JSON
 * parsing, no cache, no logging: what is left is the kernel's cost of
 * accept/read/write/close, which keyroled pays too.
 *
 *   echo_server -s SOCKET -r REPLY_FILE
 *
 * REPLY_FILE holds the reply body (at most KR_RESP_MAX bytes; the bench
 * writes a synthetic one the size of keyroled's real answer, no secrets).
 * Runs until killed (SIGTERM by PID); prints "ready" on stdout once it
 * listens. Every fd is close-on-exec and non-blocking; request frames are
 * checked against KR_REQ_MAX before their body is read; a connection that
 * misbehaves is dropped and the server goes on.
 */
#include "caps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ECHO_CONNS_MAX KR_CONN_MAX
#define ECHO_EVENTS    64

struct conn {
	int fd;
	unsigned char hdr[KR_FRAME_HDR];
	size_t hdr_got;
	size_t body_len; /* from the header */
	size_t body_got; /* body bytes read and discarded */
	size_t out_off;  /* bytes of the reply written */
	int writing;
};

struct server {
	int lfd;
	int ep;
	unsigned char *reply; /* header + body */
	size_t reply_len;
	size_t nconns;
};

static int read_reply(const char *path, unsigned char **ret_reply, size_t *ret_len)
{
	unsigned char *p = NULL;
	size_t len = 0;
	ssize_t n = 0;
	int fd;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	p = malloc(KR_FRAME_HDR + KR_RESP_MAX + 1);
	if (fd < 0 || p == NULL) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while (len <= KR_RESP_MAX) {
		n = read(fd, p + KR_FRAME_HDR + len, KR_RESP_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0 || len == 0 || len > KR_RESP_MAX) {
		r = n < 0 ? -errno : -EMSGSIZE;
		goto out;
	}
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	*ret_reply = p;
	*ret_len = KR_FRAME_HDR + len;
	p = NULL;
	r = 0;
out:
	free(p);
	if (fd >= 0)
		close(fd);
	return r;
}

static void conn_free(struct server *s, struct conn *c)
{
	if (c == NULL)
		return;
	close(c->fd); /* also drops it from the epoll set */
	s->nconns--;
	free(c);
}

/* Check the peer like keyroled does: same uid as ours, else refuse. */
static int peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

static void accept_all(struct server *s)
{
	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN};
		struct conn *c;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break; /* EAGAIN: accepted everything pending */
		if (s->nconns >= ECHO_CONNS_MAX || !peer_ok(fd)) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		s->nconns++;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_free(s, c);
	}
}

/* Advance one connection; returns 1 when it is finished (or broken). */
static int conn_step(struct server *s, struct conn *c)
{
	unsigned char sink[4096];
	ssize_t n;

	while (!c->writing) {
		if (c->hdr_got < KR_FRAME_HDR) {
			n = read(c->fd, c->hdr + c->hdr_got, KR_FRAME_HDR - c->hdr_got);
		} else {
			size_t want = c->body_len - c->body_got;

			n = read(c->fd, sink, want < sizeof(sink) ? want : sizeof(sink));
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return 1;
		if (c->hdr_got < KR_FRAME_HDR) {
			c->hdr_got += (size_t)n;
			if (c->hdr_got == KR_FRAME_HDR) {
				c->body_len = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 |
				              (size_t)c->hdr[2] << 8 | c->hdr[3];
				if (c->body_len == 0 || c->body_len > KR_REQ_MAX)
					return 1;
			}
		} else {
			c->body_got += (size_t)n;
		}
		if (c->hdr_got == KR_FRAME_HDR && c->body_got == c->body_len)
			c->writing = 1;
	}
	while (c->out_off < s->reply_len) {
		n = write(c->fd, s->reply + c->out_off, s->reply_len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};

			return epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0;
		}
		if (n <= 0)
			return 1;
		c->out_off += (size_t)n;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct server s = {.lfd = -1, .ep = -1};
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	const char *sock = NULL, *reply = NULL;
	int rc = 2;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:")) != -1) {
		if (opt == 's')
			sock = optarg;
		else if (opt == 'r')
			reply = optarg;
		else
			sock = NULL;
	}
	if (sock == NULL || reply == NULL || strlen(sock) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: echo_server -s SOCKET -r REPLY_FILE\n");
		goto out;
	}
	if (read_reply(reply, &s.reply, &s.reply_len) < 0) {
		fprintf(stderr, "echo_server: cannot read a reply of 1..%d bytes from %s\n",
		        KR_RESP_MAX, reply);
		goto out;
	}
	memcpy(addr.sun_path, sock, strlen(sock) + 1);
	s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.lfd < 0 || s.ep < 0 || bind(s.lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(s.lfd, SOMAXCONN) < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &ev) < 0) {
		perror("echo_server: listen");
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[ECHO_EVENTS];
		int n = epoll_wait(s.ep, evs, ECHO_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			perror("echo_server: epoll_wait");
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL)
				accept_all(&s);
			else if (conn_step(&s, c))
				conn_free(&s, c);
		}
	}
out:
	if (s.ep >= 0)
		close(s.ep);
	if (s.lfd >= 0)
		close(s.lfd);
	free(s.reply);
	return rc;
}
