/*
 * The daemon's one event loop. A thin layer over sd-event so that no other
 * module touches libsystemd: I/O watches, one-shot timers on CLOCK_BOOTTIME
 * (so deadlines keep counting across suspend), signals, sd_notify and the
 * sockets systemd passes. Every callback runs on the loop's thread.
 *
 * Ownership: loop_*_add() returns a handle the caller owns; freeing it
 * (NULL is a no-op) removes the watch. Handles must be freed before the loop.
 */
#ifndef KR_LOOP_H
#define KR_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;

enum {
	LOOP_IN = 1 << 0,
	LOOP_OUT = 1 << 1,
	LOOP_ERR = 1 << 2, /* error or hang-up (only reported) */
};

typedef void (*loop_io_fn)(struct loop_io *io, int fd, uint32_t revents, void *userdata);
typedef void (*loop_timer_fn)(struct loop_timer *t, void *userdata);
typedef void (*loop_signal_fn)(int signo, void *userdata);

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

/* Run until loop_exit(); returns the exit code given there. */
int loop_run(struct loop *l);
void loop_exit(struct loop *l, int code);

/* Run one iteration, waiting at most timeout_us for something to happen (tests, tools). */
int loop_run_once(struct loop *l, uint64_t timeout_us);

/* Microseconds on CLOCK_BOOTTIME (counts across suspend). */
uint64_t loop_now(struct loop *l);

int loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *userdata,
                struct loop_io **ret);
int loop_io_set_events(struct loop_io *io, uint32_t events);

/*
 * Send buf[*off, len) on a non-blocking socket, moving *off on: 1 when all
 * is sent, 0 when the socket is full (wait for LOOP_OUT), -1 when the peer
 * is gone. Never SIGPIPE.
 */
int loop_send_some(int fd, const char *buf, size_t len, size_t *off);
void loop_io_free(struct loop_io *io);

/* A one-shot timer that fires at absolute time `at` (loop_now() units). */
int loop_timer_add(struct loop *l, uint64_t at, loop_timer_fn fn, void *userdata,
                   struct loop_timer **ret);
/* Re-arm (or arm again after it fired) for absolute time `at`. */
int loop_timer_set(struct loop_timer *t, uint64_t at);
void loop_timer_free(struct loop_timer *t);

/* Handle signo on the loop (the signal is blocked for the process). */
int loop_signal_add(struct loop *l, int signo, loop_signal_fn fn, void *userdata);

/*
 * Sockets passed by systemd (LISTEN_FDS for this pid). Returns the number
 * of fds (starting at 3), 0 when none were passed, negative on error.
 */
int loop_listen_fds(void);

/* Is fd a listening AF_UNIX stream socket? */
int loop_is_unix_listener(int fd);

/* sd_notify with a printf-style state string; a no-op without NOTIFY_SOCKET. */
void loop_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Enable the systemd watchdog if WATCHDOG_USEC asks for it. */
int loop_watchdog_enable(struct loop *l);

#endif
