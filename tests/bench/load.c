/*
 * load: a closed-loop load generator for a keyrole-protocol Unix socket.
 *
 *   load -s SOCKET -r REQUEST_FILE [-c CLIENTS] [-d SECONDS] [-w WARMUP_SECONDS]
 *
 * CLIENTS threads (default 64) each loop: connect, send one frame (the
 * request body from REQUEST_FILE, see doc/protocol.txt), read the whole
 * reply frame, close. One connection per request, as real `keyrole get`
 * processes do. Requests that start after the warm-up and finish before the
 * end are counted; the result is one line of JSON on stdout:
 *   {"requests":N,"errors":N,"seconds":S,"rps":R,"p50_us":..,"p99_us":..,
 *    "max_us":..,"reply_bytes":N}
 * A reply counts as an error unless it is a frame whose body says "ok":true.
 *
 * Invariants: every frame length is checked against its cap (caps.h) before
 * the body is read; every fd is close-on-exec; reply bodies (they carry
 * credentials) are wiped before the buffer is reused or freed and never
 * printed.
 */
#include "caps.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOAD_CLIENTS_MAX  1024
#define LOAD_SECONDS_MAX  600
#define LOAD_SAMPLES_MAX  (256 * 1024) /* per thread; more are counted, not kept */
#define LOAD_IO_TIMEOUT_S 10

struct shared {
	struct sockaddr_un addr;
	const unsigned char *frame; /* header + request body */
	size_t frame_len;
	int64_t t_measure; /* count requests that start at or after this */
	int64_t t_end;     /* ... and finish before this */
};

struct worker {
	pthread_t tid;
	const struct shared *sh;
	uint32_t *samples_us;
	size_t nsamples;
	uint64_t requests; /* counted, including those past LOAD_SAMPLES_MAX */
	uint64_t errors;
	size_t reply_bytes;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Overwrite n bytes in a way the compiler keeps. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
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

static int write_all(int fd, const unsigned char *p, size_t n)
{
	int r = 0;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EPIPE;
			goto out;
		}
		p += k;
		n -= (size_t)k;
	}
out:
	return r;
}

static int read_all(int fd, unsigned char *p, size_t n)
{
	int r = 0;

	while (n > 0) {
		ssize_t k = read(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -ECONNRESET;
			goto out;
		}
		p += k;
		n -= (size_t)k;
	}
out:
	return r;
}

/*
 * One request on a fresh connection. body is a KR_RESP_MAX+1 buffer owned by
 * the caller; it is wiped here after use. *ret_len is the reply body size.
 */
static int one_request(const struct shared *sh, unsigned char *body, size_t *ret_len)
{
	struct timeval tv = {.tv_sec = LOAD_IO_TIMEOUT_S};
	unsigned char hdr[KR_FRAME_HDR];
	size_t len = 0;
	int fd;
	int r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sh->addr, sizeof(sh->addr)) < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, sh->frame, sh->frame_len);
	if (r < 0)
		goto out;
	r = read_all(fd, hdr, sizeof(hdr));
	if (r < 0)
		goto out;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > KR_RESP_MAX) {
		r = -EPROTO;
		len = 0;
		goto out;
	}
	r = read_all(fd, body, len);
	if (r < 0)
		goto out;
	body[len] = '\0';
	r = strstr((const char *)body, "\"ok\":true") != NULL ? 0 : -EPROTO;
	if (r == 0)
		*ret_len = len;
out:
	wipe(body, len);
	if (fd >= 0)
		close(fd);
	return r;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct shared *sh = w->sh;
	unsigned char *body = malloc(KR_RESP_MAX + 1);

	if (body == NULL) {
		w->errors++;
		goto out;
	}
	for (;;) {
		int64_t t0 = now_ns(), t1;
		size_t len = 0;
		int r;

		if (t0 >= sh->t_end)
			break;
		r = one_request(sh, body, &len);
		t1 = now_ns();
		if (t0 < sh->t_measure || t1 > sh->t_end)
			continue;
		if (r < 0) {
			w->errors++;
			continue;
		}
		w->requests++;
		w->reply_bytes = len;
		if (w->nsamples < LOAD_SAMPLES_MAX)
			w->samples_us[w->nsamples++] = (uint32_t)((t1 - t0) / 1000);
	}
out:
	free(body); /* wiped after each request by one_request() */
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Read the request body file (at most KR_REQ_MAX bytes) and frame it. */
static int load_request(const char *path, unsigned char **ret_frame, size_t *ret_len)
{
	unsigned char *frame = NULL;
	ssize_t n = 0;
	size_t len = 0;
	int fd;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	frame = malloc(KR_FRAME_HDR + KR_REQ_MAX + 1);
	if (fd < 0 || frame == NULL) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	/* Read one byte past the cap so that an oversized file is refused, not cut. */
	while (len <= KR_REQ_MAX) {
		n = read(fd, frame + KR_FRAME_HDR + len, KR_REQ_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0 || len == 0 || len > KR_REQ_MAX) {
		r = n < 0 ? -errno : -EMSGSIZE;
		goto out;
	}
	frame[0] = (unsigned char)(len >> 24);
	frame[1] = (unsigned char)(len >> 16);
	frame[2] = (unsigned char)(len >> 8);
	frame[3] = (unsigned char)len;
	*ret_frame = frame;
	*ret_len = KR_FRAME_HDR + len;
	frame = NULL;
	r = 0;
out:
	free(frame);
	if (fd >= 0)
		close(fd);
	return r;
}

int main(int argc, char **argv)
{
	struct shared sh = {0};
	struct worker *ws = NULL;
	const char *sock = NULL, *req = NULL;
	unsigned char *frame = NULL;
	uint32_t *all = NULL;
	long clients = 64, seconds = 3, warm = 1;
	size_t total = 0, nall = 0, reply_bytes = 0;
	uint64_t errors = 0;
	long started = 0;
	int rc = 2;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:c:d:w:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'r':
			req = optarg;
			break;
		case 'c':
			if (parse_long(optarg, 1, LOAD_CLIENTS_MAX, &clients) < 0)
				goto usage;
			break;
		case 'd':
			if (parse_long(optarg, 1, LOAD_SECONDS_MAX, &seconds) < 0)
				goto usage;
			break;
		case 'w':
			if (parse_long(optarg, 0, LOAD_SECONDS_MAX, &warm) < 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (sock == NULL || req == NULL || strlen(sock) >= sizeof(sh.addr.sun_path))
		goto usage;
	if (load_request(req, &frame, &sh.frame_len) < 0) {
		fprintf(stderr, "load: cannot read a request of 1..%d bytes from %s\n", KR_REQ_MAX,
		        req);
		goto out;
	}
	sh.frame = frame;
	sh.addr.sun_family = AF_UNIX;
	memcpy(sh.addr.sun_path, sock, strlen(sock) + 1);
	sh.t_measure = now_ns() + (int64_t)warm * 1000000000;
	sh.t_end = sh.t_measure + (int64_t)seconds * 1000000000;

	ws = calloc((size_t)clients, sizeof(*ws));
	if (ws == NULL)
		goto out;
	for (long i = 0; i < clients; i++) {
		ws[i].sh = &sh;
		ws[i].samples_us = malloc(LOAD_SAMPLES_MAX * sizeof(uint32_t));
		if (ws[i].samples_us == NULL ||
		    pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "load: cannot start client thread %ld\n", i);
			goto out;
		}
		started++;
	}
	for (long i = 0; i < started; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].requests;
		nall += ws[i].nsamples;
		errors += ws[i].errors;
		if (ws[i].reply_bytes > 0)
			reply_bytes = ws[i].reply_bytes;
	}
	started = 0;
	all = malloc((nall ? nall : 1) * sizeof(uint32_t));
	if (all == NULL)
		goto out;
	nall = 0;
	for (long i = 0; i < clients; i++) {
		memcpy(all + nall, ws[i].samples_us, ws[i].nsamples * sizeof(uint32_t));
		nall += ws[i].nsamples;
	}
	qsort(all, nall, sizeof(uint32_t), cmp_u32);
	printf("{\"requests\":%zu,\"errors\":%llu,\"seconds\":%ld,\"rps\":%.1f,\"p50_us\":%u,"
	       "\"p99_us\":%u,\"max_us\":%u,\"reply_bytes\":%zu,\"clients\":%ld}\n",
	       total, (unsigned long long)errors, seconds, (double)total / (double)seconds,
	       nall ? all[nall / 2] : 0, nall ? all[(nall * 99) / 100] : 0,
	       nall ? all[nall - 1] : 0, reply_bytes, clients);
	rc = 0;
	goto out;
usage:
	fprintf(stderr, "usage: load -s SOCKET -r REQUEST_FILE [-c CLIENTS] [-d SECONDS] "
	                "[-w WARMUP_SECONDS]\n");
out:
	/* Threads still running after a failed start must finish before their memory goes. */
	for (long i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	if (ws != NULL) {
		for (long i = 0; i < clients; i++)
			free(ws[i].samples_us);
	}
	free(ws);
	free(all);
	free(frame);
	return rc;
}
