/*
 * HTTP POST and GET over libcurl's multi interface, driven by the daemon's loop:
 * curl's sockets become loop I/O watches and its timer a loop timer, so a
 * transfer never blocks the loop. This is the only file that uses libcurl.
 *
 * Invariants:
 * - TLS peer and host verification are always on; only the CA bundle can
 *   be changed (per request, from the caller's AWS_CA_BUNDLE).
 * - Proxies: the request's own proxy and no-proxy list when given (the
 *   caller's variables, chosen by endpoint_proxy()), else libcurl's usual
 *   environment variables (https_proxy, no_proxy, ...) of the daemon.
 * - The request body and headers are copied at http_post() time and wiped
 *   when the transfer ends; the response body lives in a struct buf (capped
 *   at KR_HTTP_RESP_MAX while it arrives, wiped when freed).
 */
#ifndef KR_HTTP_H
#define KR_HTTP_H

#include "buf.h"
#include "err.h"
#include "loop.h"

#include <stddef.h>

struct http;
struct http_xfer;

struct http_request {
	const char *method;         /* "POST" (also when NULL), "GET" or "PUT" (no body) */
	const char *url;            /* http:// or https:// only */
	const char *const *headers; /* "Name: value" lines, may hold secrets */
	size_t n_headers;
	const char *body; /* may hold secrets */
	size_t body_len;
	const char *ca_bundle; /* PEM file, or NULL for the system store */
	const char *proxy;     /* CURLOPT_PROXY ("" = none); NULL = the daemon's environment */
	const char *no_proxy;  /* CURLOPT_NOPROXY ("" = none); NULL = the daemon's environment */
	long connect_ms;       /* 0 = KR_HTTP_CONNECT_MS */
	long total_ms;         /* 0 = KR_HTTP_TOTAL_MS */
	/* A response header to keep for done (http_xfer_header()), e.g. "x-amzn-ErrorType"; NULL:
	 * none. */
	const char *keep_header;
	size_t resp_max; /* the response body's cap; 0 (or more) = KR_HTTP_RESP_MAX */
};

/*
 * Completion. err is KR_OK when an HTTP response arrived (whatever its
 * status), KR_ERR_NETWORK (connect/transfer failure), KR_ERR_TLS
 * (certificate or handshake), KR_ERR_TIMEOUT or KR_ERR_TOOBIG (response
 * over KR_HTTP_RESP_MAX). status is the HTTP status, 0 when none. body is
 * borrowed: the callback may take its contents with buf_steal() (secret
 * memory: free it with mem_free_str()); whatever is left is wiped and freed
 * after it returns. e is NULL on success, else what failed (e->code is err;
 * e->msg libcurl's words, for a person). The transfer handle is dead once
 * done runs.
 */
typedef void (*http_done_fn)(void *userdata, int err, long status, struct buf *body,
                             const struct err_detail *e);

int http_new(struct loop *l, struct http **ret);

/* Aborts every transfer still running (their done does not run). NULL is a no-op. */
void http_free(struct http *h);

/*
 * Start a request (req->method: POST or GET). done is always called later
 * from the loop, never from inside http_post(). KR_ERR_INVAL for a bad
 * URL or method, or an oversized request (a GET with a body included).
 * *ret (may be NULL) is valid until done runs, and inside done.
 */
int http_post(struct http *h, const struct http_request *req, http_done_fn done, void *userdata,
              struct http_xfer **ret);

/*
 * Inside done: the value of the response header req->keep_header named
 * (the last response's, surrounding blanks trimmed, at most
 * KR_HTTP_HEADER_KEEP_MAX bytes), or NULL when it had none. Never a
 * secret (the caller names which header is kept).
 */
const char *http_xfer_header(const struct http_xfer *x);

/* Abort a transfer whose done has not run yet; done will not run. NULL is a no-op. */
void http_cancel(struct http_xfer *x);

#endif
