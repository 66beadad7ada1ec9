/*
 * The event loop over sd-event. This is the only file that uses libsystemd.
 * Timers run on CLOCK_BOOTTIME so that a refresh deadline that passed
 * during suspend fires right after resume.
 */
#include "loop.h"

#include "err.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

struct loop {
	sd_event *ev;
};

struct loop_io {
	sd_event_source *src;
	loop_io_fn fn;
	void *userdata;
};

struct loop_timer {
	sd_event_source *src;
	loop_timer_fn fn;
	void *userdata;
};

struct loop_sig {
	loop_signal_fn fn;
	void *userdata;
};

static int from_errno(int r)
{
	return r == -ENOMEM ? KR_ERR_NOMEM : KR_ERR_IO;
}

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return KR_ERR_NOMEM;
	r = sd_event_new(&l->ev);
	if (r < 0) {
		free(l);
		return from_errno(r);
	}
	*ret = l;
	return KR_OK;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	sd_event_unref(l->ev);
	free(l);
}

int loop_run(struct loop *l)
{
	int r = sd_event_loop(l->ev);

	return r < 0 ? from_errno(r) : r;
}

int loop_run_once(struct loop *l, uint64_t timeout_us)
{
	int r = sd_event_run(l->ev, timeout_us);

	return r < 0 ? from_errno(r) : KR_OK;
}

void loop_exit(struct loop *l, int code)
{
	sd_event_exit(l->ev, code);
}

uint64_t loop_now(struct loop *l)
{
	uint64_t t = 0;

	if (sd_event_now(l->ev, CLOCK_BOOTTIME, &t) < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_BOOTTIME, &ts);
		t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	}
	return t;
}

static uint32_t to_epoll(uint32_t ev)
{
	return ((ev & LOOP_IN) ? EPOLLIN : 0) | ((ev & LOOP_OUT) ? EPOLLOUT : 0);
}

static int on_sd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct loop_io *io = userdata;
	uint32_t ev = 0;

	if (revents & (EPOLLIN | EPOLLRDHUP))
		ev |= LOOP_IN;
	if (revents & EPOLLOUT)
		ev |= LOOP_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		ev |= LOOP_ERR;
	io->fn(io, fd, ev, io->userdata);
	return 0;
}

int loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *userdata,
                struct loop_io **ret)
{
	struct loop_io *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		return KR_ERR_NOMEM;
	io->fn = fn;
	io->userdata = userdata;
	r = sd_event_add_io(l->ev, &io->src, fd, to_epoll(events), on_sd_io, io);
	if (r < 0) {
		free(io);
		return from_errno(r);
	}
	if (events == 0)
		sd_event_source_set_enabled(io->src, SD_EVENT_OFF);
	*ret = io;
	return KR_OK;
}

int loop_io_set_events(struct loop_io *io, uint32_t events)
{
	int r;

	if (events == 0)
		return sd_event_source_set_enabled(io->src, SD_EVENT_OFF) < 0 ? KR_ERR_IO : KR_OK;
	r = sd_event_source_set_io_events(io->src, to_epoll(events));
	if (r >= 0)
		r = sd_event_source_set_enabled(io->src, SD_EVENT_ON);
	return r < 0 ? from_errno(r) : KR_OK;
}

void loop_io_free(struct loop_io *io)
{
	if (!io)
		return;
	sd_event_source_disable_unref(io->src);
	free(io);
}

static int on_sd_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct loop_timer *t = userdata;

	t->fn(t, t->userdata);
	return 0;
}

int loop_timer_add(struct loop *l, uint64_t at, loop_timer_fn fn, void *userdata,
                   struct loop_timer **ret)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return KR_ERR_NOMEM;
	t->fn = fn;
	t->userdata = userdata;
	/* 1 ms accuracy: cheap to coalesce, precise enough for deadlines. */
	r = sd_event_add_time(l->ev, &t->src, CLOCK_BOOTTIME, at, 1000, on_sd_timer, t);
	if (r < 0) {
		free(t);
		return from_errno(r);
	}
	*ret = t;
	return KR_OK;
}

int loop_timer_set(struct loop_timer *t, uint64_t at)
{
	int r = sd_event_source_set_time(t->src, at);

	if (r >= 0)
		r = sd_event_source_set_enabled(t->src, SD_EVENT_ONESHOT);
	return r < 0 ? from_errno(r) : KR_OK;
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	sd_event_source_disable_unref(t->src);
	free(t);
}

static int on_sd_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct loop_sig *sig = userdata;

	sig->fn((int)si->ssi_signo, sig->userdata);
	return 0;
}

static void sig_destroy(void *userdata)
{
	free(userdata);
}

int loop_signal_add(struct loop *l, int signo, loop_signal_fn fn, void *userdata)
{
	struct loop_sig *sig = calloc(1, sizeof(*sig));
	sd_event_source *src = NULL;
	sigset_t ss;
	int r;

	if (!sig)
		return KR_ERR_NOMEM;
	sig->fn = fn;
	sig->userdata = userdata;
	sigemptyset(&ss);
	sigaddset(&ss, signo);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	r = sd_event_add_signal(l->ev, &src, signo, on_sd_signal, sig);
	if (r < 0) {
		free(sig);
		return from_errno(r);
	}
	/* The source lives as long as the loop ("floating"). */
	sd_event_source_set_destroy_callback(src, sig_destroy);
	sd_event_source_set_floating(src, 1);
	sd_event_source_unref(src);
	return KR_OK;
}

int loop_listen_fds(void)
{
	int n = sd_listen_fds(1);

	return n < 0 ? KR_ERR_IO : n;
}

int loop_is_unix_listener(int fd)
{
	return sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;
}

void loop_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sd_notify(0, msg);
}

int loop_watchdog_enable(struct loop *l)
{
	int r = sd_event_set_watchdog(l->ev, 1);

	return r < 0 ? from_errno(r) : r;
}

int loop_send_some(int fd, const char *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t w = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		*off += (size_t)w;
	}
	return 1;
}
