/*
 * HTTP POST and GET over the libcurl multi interface, driven by the daemon
 * loop (the only file that uses libcurl).
 *
 * Invariants:
 * - Never blocks: curl's sockets are loop I/O watches
 *   (CURLMOPT_SOCKETFUNCTION), its timeout a loop timer
 *   (CURLMOPT_TIMERFUNCTION); curl_multi_socket_action() is only called
 *   from those loop callbacks.
 * - TLS verification is always on (VERIFYPEER, VERIFYHOST=2); only the CA
 *   bundle may change. Redirects are not followed; only http and https.
 * - Request headers and body are our own copies in secret memory
 *   (mem_secret_*: they carry the Authorization header, the session token,
 *   maybe an MFA code), handed to curl by pointer (our own curl_slist
 *   nodes, CURLOPT_POSTFIELDS), and wiped when the transfer ends. The
 *   response body (credentials) is a capped secret struct buf.
 * - Everything libcurl allocates is wiped when libcurl frees it
 *   (curl_global_init_mem with mem.c's wiping free/realloc): its request
 *   buffer, header buffer and receive buffer (CURLOPT_BUFFERSIZE, freed by
 *   curl_easy_cleanup() when a transfer ends). A connection kept alive in
 *   the multi handle's cache keeps no plaintext: TLS contexts get
 *   SSL_OP_CLEANSE_PLAINTEXT (secmem_tls_ctx()), and OpenSSL's own frees
 *   are wiped (secmem.c).
 * - Response headers are not kept, but for the one a request names
 *   (x-amzn-ErrorType: which error AWS means), capped, for its done.
 * - done runs from the loop only, never inside http_post(); a cancelled
 *   transfer's done never runs. http_free() from inside a done callback is
 *   allowed: the free is deferred until the dispatch unwinds.
 * - Every socket curl opens is SOCK_CLOEXEC (CURLOPT_OPENSOCKETFUNCTION).
 */
#include "http.h"

#include "err.h"
#include "caps.h"
#include "list.h"
#include "mem.h"
#include "secmem.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#ifndef KR_VERSION
#define KR_VERSION "dev"
#endif

struct sockw {
	struct http *h;
	struct loop_io *io;
	curl_socket_t fd;
	struct list_node link; /* in h->socks */
};

struct http_xfer {
	struct http *h;
	CURL *easy;
	struct curl_slist *nodes; /* n_hdr nodes, each ->data an owned copy */
	size_t n_hdr;
	char *body; /* owned copy, wiped */
	size_t body_len;
	struct buf resp;
	int toobig;
	int get;                                    /* a GET: no body */
	int put;                                    /* a PUT (the IMDSv2 token): no body */
	size_t resp_max;                            /* the response body's cap */
	char keep_name[64];                         /* the response header to keep; "" for none */
	char keep_val[KR_HTTP_HEADER_KEEP_MAX + 1]; /* its value */
	int kept;                                   /* the last response had it */
	http_done_fn done;
	void *userdata;
	char errbuf[CURL_ERROR_SIZE];
	struct list_node link; /* in h->xfers once added to curl */
};

struct http {
	struct loop *l;
	CURLM *multi;
	struct loop_timer *timer;
	struct list_node xfers; /* struct http_xfer */
	struct list_node socks; /* struct sockw */
	int busy;               /* inside a loop callback that dispatches to users */
	int dying;              /* http_free() was called while busy */
};

static void really_free(struct http *h);

/* Remove from curl and from our list, wipe and free. */
static void xfer_free(struct http_xfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		curl_multi_remove_handle(x->h->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	list_unlink(&x->link);
	for (size_t i = 0; i < x->n_hdr; i++)
		mem_free_str(x->nodes[i].data);
	free(x->nodes);
	mem_free_secret(x->body, x->body_len + 1);
	buf_free(&x->resp);
	mem_wipe(x->errbuf, sizeof(x->errbuf));
	free(x);
}

const char *http_xfer_header(const struct http_xfer *x)
{
	return x && x->kept ? x->keep_val : NULL;
}

static void sockw_free(struct sockw *w)
{
	if (!w)
		return;
	list_unlink(&w->link);
	loop_io_free(w->io);
	free(w);
}

/* Collect finished transfers and tell their owners. */
static void check_done(struct http *h)
{
	CURLMsg *m;
	int left;

	while (!h->dying && (m = curl_multi_info_read(h->multi, &left))) {
		struct http_xfer *x = NULL;
		long status = 0;
		int err = KR_OK;
		struct err_detail e;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		switch (m->data.result) {
		case CURLE_OK:
			break;
		case CURLE_OPERATION_TIMEDOUT:
			err = KR_ERR_TIMEOUT;
			break;
		case CURLE_FILESIZE_EXCEEDED:
			err = KR_ERR_TOOBIG;
			break;
		case CURLE_WRITE_ERROR:
			err = x->toobig ? KR_ERR_TOOBIG : KR_ERR_NETWORK;
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			/* Retrying does not make a certificate trusted. */
			err = KR_ERR_TLS;
			break;
		default:
			err = KR_ERR_NETWORK;
			break;
		}
		if (err == KR_ERR_TOOBIG)
			err_set(&e, err, NULL, 0, NULL, "response over its size cap");
		else if (err != KR_OK)
			err_set(&e, err, NULL, 0, NULL, "%s",
			        x->errbuf[0] ? x->errbuf : curl_easy_strerror(m->data.result));
		/* m is invalid once the handle is removed: take everything first. */
		curl_multi_remove_handle(h->multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
		list_unlink(&x->link);
		x->done(x->userdata, err, status, &x->resp, err == KR_OK ? NULL : &e);
		xfer_free(x);
	}
}

static void enter(struct http *h)
{
	h->busy++;
}

/* Returns 1 if h was freed. */
static int leave(struct http *h)
{
	h->busy--;
	if (h->busy == 0 && h->dying) {
		really_free(h);
		return 1;
	}
	return 0;
}

static void on_curl_io(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct sockw *w = userdata;
	struct http *h = w->h;
	int running = 0, mask = 0;

	if (revents & LOOP_IN)
		mask |= CURL_CSELECT_IN;
	if (revents & LOOP_OUT)
		mask |= CURL_CSELECT_OUT;
	if (revents & LOOP_ERR)
		mask |= CURL_CSELECT_ERR;
	enter(h);
	/* w may be freed inside (CURL_POLL_REMOVE): use only h and fd from here. */
	curl_multi_socket_action(h->multi, fd, mask, &running);
	check_done(h);
	leave(h);
}

static void on_curl_timer(struct loop_timer *t, void *userdata)
{
	struct http *h = userdata;
	int running = 0;

	enter(h);
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
	leave(h);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sockw *w = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(h->multi, s, NULL);
		sockw_free(w);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= LOOP_IN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= LOOP_OUT;
	if (w)
		return loop_io_set_events(w->io, ev) < 0 ? -1 : 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->h = h;
	w->fd = s;
	list_init(&w->link);
	if (loop_io_add(h->l, s, ev, on_curl_io, w, &w->io) < 0) {
		free(w);
		return -1;
	}
	list_push_front(&h->socks, &w->link);
	curl_multi_assign(h->multi, s, w);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;
	uint64_t at;

	if (timeout_ms < 0) {
		loop_timer_free(h->timer);
		h->timer = NULL;
		return 0;
	}
	at = loop_now(h->l) + (uint64_t)timeout_ms * 1000u;
	if (h->timer)
		return loop_timer_set(h->timer, at) < 0 ? -1 : 0;
	return loop_timer_add(h->l, at, on_curl_timer, h, &h->timer) < 0 ? -1 : 0;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static CURLcode ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *userdata)
{
	return secmem_tls_ctx(ssl_ctx) < 0 ? CURLE_SSL_CERTPROBLEM : CURLE_OK;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct http_xfer *x = userdata;
	size_t n = size * nmemb;

	if (buf_append(&x->resp, p, n) < 0) {
		x->toobig = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/*
 * One response header line ("Name: value\r\n", not NUL-terminated); curl
 * calls it for the status line too. Only the header the request named is
 * kept, and only the last response's (a 100 Continue comes before).
 */
static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct http_xfer *x = userdata;
	size_t n = size * nmemb, name_len = strlen(x->keep_name), v, end;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		x->kept = 0; /* a new response begins */
		return n;
	}
	if (!name_len || n <= name_len || p[name_len] != ':' ||
	    strncasecmp(p, x->keep_name, name_len) != 0)
		return n;
	for (v = name_len + 1; v < n && (p[v] == ' ' || p[v] == '\t'); v++)
		;
	for (end = n; end > v && (p[end - 1] == '\r' || p[end - 1] == '\n' || p[end - 1] == ' ' ||
	                          p[end - 1] == '\t');
	     end--)
		;
	if (end - v > KR_HTTP_HEADER_KEEP_MAX)
		end = v + KR_HTTP_HEADER_KEEP_MAX;
	memcpy(x->keep_val, p + v, end - v);
	x->keep_val[end - v] = '\0';
	x->kept = 1;
	return n;
}

int http_new(struct loop *l, struct http **ret)
{
	struct http *h = NULL;
	int r;

	if (!l || !ret)
		return KR_ERR_INVAL;
	/* Idempotent and cheap after the first call (later calls keep the first
	 * allocators); libcurl is used from the loop's thread only. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, mem_wiping_free, mem_wiping_realloc,
	                         strdup, calloc) != CURLE_OK)
		return KR_ERR_INTERNAL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	h->l = l;
	list_init(&h->xfers);
	list_init(&h->socks);
	h->multi = curl_multi_init();
	if (!h->multi) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*ret = h;
	h = NULL;
	r = KR_OK;
out:
	if (h)
		really_free(h);
	return r;
}

static void really_free(struct http *h)
{
	while (!list_empty(&h->xfers))
		xfer_free(list_entry(h->xfers.next, struct http_xfer, link));
	if (h->multi)
		curl_multi_cleanup(h->multi);
	while (!list_empty(&h->socks))
		sockw_free(list_entry(h->socks.next, struct sockw, link));
	loop_timer_free(h->timer);
	free(h);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	if (h->busy) {
		/* Inside a done callback: cancel everything now, free on unwind. */
		while (!list_empty(&h->xfers))
			xfer_free(list_entry(h->xfers.next, struct http_xfer, link));
		h->dying = 1;
		return;
	}
	really_free(h);
}

static int copy_request(struct http_xfer *x, const struct http_request *req)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *hd = req->headers[i];
		if (!hd || strnlen(hd, KR_HTTP_URL_MAX * 4 + 1) > KR_HTTP_URL_MAX * 4 ||
		    strpbrk(hd, "\r\n"))
			return KR_ERR_INVAL;
	}
	x->nodes = calloc(req->n_headers + 1, sizeof(*x->nodes));
	if (!x->nodes)
		return KR_ERR_NOMEM;
	for (size_t i = 0; i < req->n_headers; i++) {
		x->nodes[i].data = mem_secret_strdup(req->headers[i], KR_HTTP_URL_MAX * 4);
		if (!x->nodes[i].data)
			return KR_ERR_NOMEM;
		x->n_hdr = i + 1;
		if (i > 0)
			x->nodes[i - 1].next = &x->nodes[i];
	}
	/* Empty "Expect:" stops curl from waiting for 100-continue. */
	x->nodes[x->n_hdr].data = mem_strdup_max("Expect:", 16);
	if (!x->nodes[x->n_hdr].data)
		return KR_ERR_NOMEM;
	if (x->n_hdr > 0)
		x->nodes[x->n_hdr - 1].next = &x->nodes[x->n_hdr];
	x->n_hdr++;
	x->body = mem_secret_alloc(req->body_len + 1);
	if (!x->body)
		return KR_ERR_NOMEM;
	if (req->body_len)
		memcpy(x->body, req->body, req->body_len);
	x->body[req->body_len] = '\0';
	x->body_len = req->body_len;
	return KR_OK;
}

static int setup_easy(struct http_xfer *x, const struct http_request *req)
{
	CURL *e = x->easy;
	CURLcode c = CURLE_OK;
	long cto = req->connect_ms > 0 ? req->connect_ms : KR_HTTP_CONNECT_MS;
	long tto = req->total_ms > 0 ? req->total_ms : KR_HTTP_TOTAL_MS;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(e, opt, val);                                         \
	} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	if (x->get) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (x->put) {
		/* An empty PUT: a POST of nothing under another name (no Expect, no upload). */
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		SET(CURLOPT_CUSTOMREQUEST, "PUT");
	} else {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, x->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
	}
	SET(CURLOPT_HTTPHEADER, x->nodes);
	SET(CURLOPT_USERAGENT, "keyrole/" KR_VERSION);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_bundle)
		SET(CURLOPT_CAINFO, req->ca_bundle);
	/* Set, these replace curl's reading of the daemon's own proxy variables. */
	if (req->proxy)
		SET(CURLOPT_PROXY, req->proxy);
	if (req->no_proxy)
		SET(CURLOPT_NOPROXY, req->no_proxy);
	SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
	SET(CURLOPT_TIMEOUT_MS, tto);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->resp_max);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	if (x->keep_name[0]) {
		SET(CURLOPT_HEADERFUNCTION, on_header);
		SET(CURLOPT_HEADERDATA, x);
	}
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	/* A libcurl on another TLS library has no SSL_CTX: then no connection is
	 * kept for reuse, so no TLS buffer outlives its transfer. */
	if (c == CURLE_OK && curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK)
		SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_PRIVATE, x);
#undef SET
	return c == CURLE_OK ? KR_OK : KR_ERR_INVAL;
}

int http_post(struct http *h, const struct http_request *req, http_done_fn done, void *userdata,
              struct http_xfer **ret)
{
	struct http_xfer *x = NULL;
	int get = req && req->method && strcmp(req->method, "GET") == 0;
	int put = req && req->method && strcmp(req->method, "PUT") == 0;
	int r;

	if (!h || h->dying || !req || !req->url || !done ||
	    (req->method && !get && !put && strcmp(req->method, "POST") != 0) ||
	    ((get || put) && req->body_len) ||
	    (req->keep_header && (!*req->keep_header || strlen(req->keep_header) >= 64)) ||
	    strnlen(req->url, KR_HTTP_URL_MAX + 1) > KR_HTTP_URL_MAX ||
	    (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0) ||
	    req->n_headers > KR_HTTP_HEADERS_MAX || req->body_len > KR_HTTP_BODY_MAX ||
	    (req->body_len && !req->body) || (req->n_headers && !req->headers)) {
		r = KR_ERR_INVAL;
		goto out;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	list_init(&x->link);
	x->h = h;
	x->done = done;
	x->userdata = userdata;
	x->get = get;
	x->put = put;
	if (req->keep_header)
		memcpy(x->keep_name, req->keep_header, strlen(req->keep_header) + 1);
	x->resp_max =
	    req->resp_max && req->resp_max < KR_HTTP_RESP_MAX ? req->resp_max : KR_HTTP_RESP_MAX;
	buf_init_secret(&x->resp, x->resp_max);
	r = copy_request(x, req);
	if (r < 0)
		goto out;
	x->easy = curl_easy_init();
	if (!x->easy) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	r = setup_easy(x, req);
	if (r < 0)
		goto out;
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
		r = KR_ERR_INTERNAL;
		goto out;
	}
	list_push_front(&h->xfers, &x->link);
	if (ret)
		*ret = x;
	x = NULL;
	r = KR_OK;
out:
	if (x) {
		if (x->easy) {
			curl_easy_cleanup(x->easy);
			x->easy = NULL;
		}
		xfer_free(x);
	}
	return r;
}

void http_cancel(struct http_xfer *x)
{
	xfer_free(x);
}
