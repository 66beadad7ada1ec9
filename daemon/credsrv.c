/*
 * The container credentials endpoint of `keyrole exec --server`: the
 * SDKs' container provider (AWS_CONTAINER_CREDENTIALS_FULL_URI with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN) answered from the daemon's cache,
 * through the same get path (single flight, refresh) as `keyrole get`.
 *
 * Threat model: any local user can connect to a loopback TCP port, so the
 * token is the only gate (doc/architecture.md).
 *
 * Invariants:
 * - The listener binds 127.0.0.1 only, on an ephemeral port, and exists
 *   only while a registration does (a live `exec --server`): the first
 *   opens it, the last one's end closes it and every connection on it.
 * - A token is KR_CREDSRV_TOKEN_LEN random bytes (RAND_bytes) in hex, kept
 *   in secret memory, compared in constant time (CRYPTO_memcmp) against
 *   every live one, wiped when its registration ends. It is never logged:
 *   a refusal logs the status and the peer's port, nothing the client sent.
 * - Requests are bounded: GET only, request line and headers within
 *   KR_CREDSRV_REQ_MAX, the whole of them within KR_CREDSRV_READ_MS; any
 *   body is ignored and every connection closes after its one answer.
 * - At most KR_CREDSRV_CONN_MAX connections: a new one past it pushes out
 *   the oldest that has not finished sending its request, so a thousand
 *   held-open or half-sent requests cannot keep a good one from being read
 *   and answered. Every state has a deadline.
 * - Answers carry credentials only after the token matched; response
 *   buffers are struct buf (wiped). Expired credentials are never served
 *   (the get path's rule); when none can be had the answer is an HTTP
 *   error whose JSON body says why (botocore shows it).
 */
#include "credsrv.h"

#include "agent.h"
#include "buf.h"
#include "caps.h"
#include "json.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "rfc3339.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CREDSRV_PATH    "/keyrole/credentials"
#define CREDSRV_URL_MAX 64
#define TOKEN_HEX       (2 * KR_CREDSRV_TOKEN_LEN)

struct credsrv_reg {
	struct credsrv *s;
	struct list_node link; /* in s->regs */
	char *profile;
	struct caller_env *env;
	char *token; /* TOKEN_HEX characters, secret memory */
	char url[CREDSRV_URL_MAX];
};

enum { H_READING, H_WAITING, H_WRITING };

struct hconn {
	struct credsrv *s;
	struct list_node link; /* in s->conns, oldest first */
	int fd;
	int port; /* the peer's, for log lines */
	struct loop_io *io;
	struct loop_timer *deadline;
	struct buf in;
	struct buf out; /* may hold credentials */
	size_t out_off;
	int state;
	int dispatching;
	struct agent_req *pending;
};

struct credsrv {
	struct loop *loop;
	struct agent *agent;
	int fd; /* -1: not listening */
	int port;
	struct loop_io *listen_io;
	struct loop_timer *resume; /* out of descriptors: accept again after a pause */
	struct list_node regs;
	unsigned n_regs;
	struct list_node conns;
	unsigned n_conns;
};

/* ---- the request parser ---- */

static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int credsrv_parse(const char *buf, size_t len, struct credsrv_req *ret)
{
	const char *p = buf, *end, *line, *sp1, *sp2, *head_end = NULL;
	struct credsrv_req q = {0};

	/* The end of the headers first: nothing is believed before it is there. */
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n') {
			head_end = buf + i + 2; /* after the last header's CRLF */
			break;
		}
	if (!head_end)
		return len >= KR_CREDSRV_REQ_MAX ? KR_ERR_TOOBIG : 0;
	if ((size_t)(head_end + 2 - buf) > KR_CREDSRV_REQ_MAX)
		return KR_ERR_TOOBIG;
	end = head_end;
	/* Request line: METHOD SP TARGET SP HTTP/1.x */
	line = find_crlf(p, end);
	if (!line)
		return KR_ERR_PROTO;
	sp1 = memchr(p, ' ', (size_t)(line - p));
	if (!sp1 || sp1 == p)
		return KR_ERR_PROTO;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || line - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return KR_ERR_PROTO;
	for (const char *c = p; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return KR_ERR_PROTO;
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
			return KR_ERR_PROTO;
	q.method = p;
	q.method_len = (size_t)(sp1 - p);
	q.target = sp1 + 1;
	q.target_len = (size_t)(sp2 - sp1 - 1);
	/* Headers: NAME ":" OWS VALUE OWS; no obsolete line folding. */
	for (p = line + 2; p < end; p = line + 2) {
		const char *colon, *v, *ve;

		line = find_crlf(p, end + 2);
		if (!line || line > end)
			return KR_ERR_PROTO;
		colon = memchr(p, ':', (size_t)(line - p));
		if (!colon || colon == p)
			return KR_ERR_PROTO;
		for (const char *c = p; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				return KR_ERR_PROTO;
		for (const char *c = colon + 1; c < line; c++)
			if (((unsigned char)*c < ' ' && *c != '\t') || (unsigned char)*c == 0x7f)
				return KR_ERR_PROTO;
		v = colon + 1;
		ve = line;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if ((size_t)(colon - p) == 13 && strncasecmp(p, "authorization", 13) == 0) {
			if (q.auth)
				return KR_ERR_PROTO; /* two: which one would count? */
			q.auth = v;
			q.auth_len = (size_t)(ve - v);
		}
	}
	q.head_len = (size_t)(head_end + 2 - buf);
	*ret = q;
	return 1;
}

/* ---- connections ---- */

static void hconn_free(struct hconn *c)
{
	if (!c)
		return;
	if (c->pending)
		agent_req_cancel(c->pending);
	loop_io_free(c->io);
	loop_timer_free(c->deadline);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	list_unlink(&c->link);
	c->s->n_conns--;
	free(c);
}

static void on_hconn_io(struct loop_io *io, int fd, uint32_t revents, void *userdata);
static void on_hconn_deadline(struct loop_timer *t, void *userdata);

static int hconn_deadline(struct hconn *c, int ms)
{
	uint64_t at = loop_now(c->s->loop) + (uint64_t)ms * 1000;

	if (!c->deadline)
		return loop_timer_add(c->s->loop, at, on_hconn_deadline, c, &c->deadline);
	return loop_timer_set(c->deadline, at);
}

static int hconn_watch(struct hconn *c, uint32_t ev)
{
	if (!c->io)
		return loop_io_add(c->s->loop, c->fd, ev, on_hconn_io, c, &c->io);
	return loop_io_set_events(c->io, ev);
}

/* Write what is left of c->out; 1 when c was freed (done or failed). */
static int hconn_flush(struct hconn *c)
{
	if (loop_send_some(c->fd, c->out.data, c->out.len, &c->out_off) == 0 &&
	    hconn_watch(c, LOOP_OUT) == 0 && hconn_deadline(c, KR_CREDSRV_WRITE_MS) == 0)
		return 0;
	hconn_free(c);
	return 1;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* c->out := the whole response for status with body (JSON); never frees c. */
static void hconn_respond(struct hconn *c, int status, const struct buf *body)
{
	c->state = H_WRITING;
	buf_reset(&c->out);
	if (buf_printf(&c->out,
	               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
	               "%zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
	               status, status_text(status), body->len) < 0 ||
	    buf_append(&c->out, body->data, body->len) < 0)
		buf_reset(&c->out); /* nothing sensible to send: just close */
	c->out_off = 0;
}

/* An error answer: {"code": ..., "message": ...} (botocore shows the body). */
static void hconn_error(struct hconn *c, int status, const char *code, const char *msg)
{
	struct json_writer w;
	struct buf body;

	buf_init(&body, KR_ERR_LINE_MAX + 256);
	json_w_init(&w, &body);
	json_w_begin_object(&w, NULL);
	json_w_str(&w, "code", code);
	json_w_str(&w, "message", msg);
	json_w_end_object(&w);
	if (json_w_end(&w) < 0)
		buf_reset(&body);
	hconn_respond(c, status, &body);
	buf_free(&body);
}

static void hconn_refuse(struct hconn *c, int status, const char *why)
{
	log_notice("credentials endpoint: refused a request from port %d: %s (%d)", c->port, why,
	           status);
	hconn_error(c, status, status == 401 || status == 403 ? "AccessDenied" : "BadRequest", why);
}

static void on_get_reply(void *userdata, const struct reply *r)
{
	struct hconn *c = userdata;
	struct json_writer w;
	struct buf body;

	c->pending = NULL;
	if (!r->ok) {
		char line[KR_ERR_LINE_MAX];

		err_format(r->u.error.e, line, sizeof(line));
		log_warning("credentials endpoint: no credentials to answer with: %s", line);
		hconn_error(c, 503, err_name(r->u.error.e->code), line);
	} else if (!r->u.get.creds->expiration) {
		/* Long-term keys would never be refreshed by the SDK: not served here. */
		hconn_error(c, 503, "unsupported",
		            "the profile gives long-term keys, which the credentials endpoint does "
		            "not serve; use a role or an MFA session");
	} else {
		char when[RFC3339_LEN + 1] = "";
		const struct sts_creds *cr = r->u.get.creds;

		rfc3339_format(cr->expiration, when);
		buf_init_secret(&body, KR_CREDSRV_REQ_MAX + KR_SIGV4_TOKEN_MAX);
		json_w_init(&w, &body);
		json_w_begin_object(&w, NULL);
		json_w_str(&w, "AccessKeyId", cr->access_key_id);
		json_w_str(&w, "SecretAccessKey", cr->secret_access_key);
		json_w_str(&w, "Token", cr->session_token ? cr->session_token : "");
		json_w_str(&w, "Expiration", when);
		json_w_end_object(&w);
		if (json_w_end(&w) < 0)
			hconn_error(c, 500, "internal", "the answer could not be encoded");
		else
			hconn_respond(c, 200, &body);
		buf_free(&body);
	}
	if (!c->dispatching)
		hconn_flush(c);
}

/* Constant time over every live token; the registration it names, or NULL. */
static struct credsrv_reg *find_token(struct credsrv *s, const char *auth, size_t len)
{
	struct credsrv_reg *found = NULL;
	struct list_node *n, *t;

	if (len != TOKEN_HEX)
		return NULL;
	list_for_each_safe(n, t, &s->regs)
	{
		struct credsrv_reg *r = list_entry(n, struct credsrv_reg, link);

		if (CRYPTO_memcmp(r->token, auth, TOKEN_HEX) == 0)
			found = r;
	}
	return found;
}

/* A whole request is in c->in: answer it. 1 when c was freed. */
static int hconn_dispatch(struct hconn *c, const struct credsrv_req *q)
{
	struct credsrv_reg *reg;
	struct request req = {0};
	struct agent_req *pending = NULL;
	size_t plen = sizeof(CREDSRV_PATH) - 1;

	loop_timer_free(c->deadline);
	c->deadline = NULL;
	if (!(q->method_len == 3 && memcmp(q->method, "GET", 3) == 0)) {
		hconn_refuse(c, 405, "only GET is served");
	} else if (q->target_len < plen || memcmp(q->target, CREDSRV_PATH, plen) ||
	           (q->target_len > plen && q->target[plen] != '?')) {
		hconn_refuse(c, 404, "no such path");
	} else if (!q->auth) {
		hconn_refuse(c, 401, "no Authorization header");
	} else if (!(reg = find_token(c->s, q->auth, q->auth_len))) {
		hconn_refuse(c, 403, "the token is not one of a live keyrole exec --server");
	} else {
		req.op = OP_GET;
		req.op_name = "get";
		req.profile = reg->profile;
		req.env = *reg->env;
		req.no_wait = 1;
		buf_reset(&c->in); /* held the token */
		c->state = H_WAITING;
		c->dispatching = 1;
		agent_handle(c->s->agent, &req, on_get_reply, c, &pending);
		c->dispatching = 0;
		if (c->state == H_WAITING) {
			c->pending = pending;
			if (hconn_watch(c, 0) < 0 || hconn_deadline(c, KR_CREDSRV_WAIT_MS) < 0) {
				hconn_free(c);
				return 1;
			}
			return 0;
		}
	}
	buf_reset(&c->in);
	return hconn_flush(c);
}

/* Read what is there; 1 when c was freed. */
static int hconn_read(struct hconn *c)
{
	char tmp[2048];

	for (;;) {
		struct credsrv_req q;
		ssize_t got = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		int r;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (got <= 0) {
			hconn_free(c);
			return 1;
		}
		r = buf_append(&c->in, tmp, (size_t)got);
		mem_wipe(tmp, (size_t)got);
		if (r < 0) {
			hconn_refuse(c, 431, "request headers too large");
			return hconn_flush(c);
		}
		r = credsrv_parse(c->in.data, c->in.len, &q);
		if (r == KR_ERR_TOOBIG) {
			buf_reset(&c->in);
			hconn_refuse(c, 431, "request headers too large");
			return hconn_flush(c);
		}
		if (r < 0) {
			buf_reset(&c->in);
			hconn_refuse(c, 400, "malformed request");
			return hconn_flush(c);
		}
		if (r == 1)
			return hconn_dispatch(c, &q);
	}
}

static void on_hconn_io(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct hconn *c = userdata;

	if (c->state == H_READING)
		hconn_read(c);
	else if (c->state == H_WRITING)
		hconn_flush(c);
}

static void on_hconn_deadline(struct loop_timer *t, void *userdata)
{
	struct hconn *c = userdata;

	if (c->state == H_WAITING) {
		agent_req_cancel(c->pending);
		c->pending = NULL;
		log_warning("credentials endpoint: no credentials within %d s",
		            KR_CREDSRV_WAIT_MS / 1000);
		hconn_error(c, 503, "timeout", "keyroled found no credentials in time");
		hconn_flush(c);
		return;
	}
	log_debug("credentials endpoint: connection from port %d %s in time, closing", c->port,
	          c->state == H_READING ? "sent no whole request" : "took no answer");
	hconn_free(c);
}

/* At the cap: the oldest connection still sending its request goes. */
static int make_room(struct credsrv *s)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &s->conns)
	{
		struct hconn *c = list_entry(n, struct hconn, link);

		if (c->state == H_READING) {
			hconn_free(c);
			return 1;
		}
	}
	return 0;
}

static void on_resume(struct loop_timer *t, void *userdata)
{
	struct credsrv *s = userdata;

	if (s->listen_io)
		loop_io_set_events(s->listen_io, LOOP_IN);
}

/* accept() cannot succeed for now: stop watching (it would spin) for a while. */
static void pause_accepting(struct credsrv *s)
{
	uint64_t at = loop_now(s->loop) + (uint64_t)KR_ACCEPT_PAUSE_MS * 1000;

	if (loop_io_set_events(s->listen_io, 0) < 0)
		return;
	if ((s->resume ? loop_timer_set(s->resume, at)
	               : loop_timer_add(s->loop, at, on_resume, s, &s->resume)) < 0)
		loop_io_set_events(s->listen_io, LOOP_IN); /* better spin than stop */
}

static void on_accept(struct loop_io *io, int lfd, uint32_t revents, void *userdata)
{
	struct credsrv *s = userdata;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		struct hconn *c;
		int fd =
		    accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			/* Out of descriptors: the oldest unread request makes room, else pause. */
			if ((errno == EMFILE || errno == ENFILE) && !make_room(s))
				pause_accepting(s);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			         errno != ECONNABORTED && errno != EMFILE && errno != ENFILE)
				pause_accepting(s);
			return;
		}
		if (s->n_conns >= KR_CREDSRV_CONN_MAX && !make_room(s)) {
			close(fd); /* every one is waiting on a fetch or writing: bounded by
			              deadlines */
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->port = plen >= sizeof(peer) ? ntohs(peer.sin_port) : 0;
		buf_init_secret(&c->in, KR_CREDSRV_REQ_MAX);
		buf_init_secret(&c->out, 2 * KR_CREDSRV_REQ_MAX + KR_SIGV4_TOKEN_MAX);
		list_push_back(&s->conns, &c->link);
		s->n_conns++;
		/* The request is usually there already: answered without entering the loop. */
		if (hconn_read(c))
			continue;
		if (c->state == H_READING &&
		    (hconn_watch(c, LOOP_IN) < 0 || hconn_deadline(c, KR_CREDSRV_READ_MS) < 0))
			hconn_free(c);
	}
}

/* ---- the listener ---- */

static void stop_listening(struct credsrv *s)
{
	while (!list_empty(&s->conns))
		hconn_free(list_entry(s->conns.next, struct hconn, link));
	loop_io_free(s->listen_io);
	s->listen_io = NULL;
	loop_timer_free(s->resume);
	s->resume = NULL;
	if (s->fd >= 0) {
		close(s->fd);
		log_info(
		    "credentials endpoint: closed 127.0.0.1:%d (no keyrole exec --server left)",
		    s->port);
	}
	s->fd = -1;
	s->port = 0;
}

static int start_listening(struct credsrv *s, struct err_detail *e)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		err_set(e, KR_ERR_IO, NULL, 0, NULL,
		        "cannot listen on 127.0.0.1 for the credentials endpoint: %s",
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return KR_ERR_IO;
	}
	s->fd = fd;
	s->port = ntohs(sa.sin_port);
	if (loop_io_add(s->loop, fd, LOOP_IN, on_accept, s, &s->listen_io) < 0) {
		stop_listening(s);
		err_set(e, KR_ERR_NOMEM, NULL, 0, NULL, "cannot watch the credentials endpoint");
		return KR_ERR_NOMEM;
	}
	log_info("credentials endpoint: listening on 127.0.0.1:%d", s->port);
	return KR_OK;
}

int credsrv_new(struct loop *l, struct agent *a, struct credsrv **ret)
{
	struct credsrv *s = calloc(1, sizeof(*s));

	if (!s)
		return KR_ERR_NOMEM;
	s->loop = l;
	s->agent = a;
	s->fd = -1;
	list_init(&s->regs);
	list_init(&s->conns);
	*ret = s;
	return KR_OK;
}

void credsrv_free(struct credsrv *s)
{
	if (!s)
		return;
	while (!list_empty(&s->regs))
		credsrv_unregister(list_entry(s->regs.next, struct credsrv_reg, link));
	stop_listening(s);
	free(s);
}

static void reg_free(struct credsrv_reg *r)
{
	mem_free_str(r->token);
	free(r->profile);
	caller_env_free(r->env);
	free(r);
}

int credsrv_register(struct credsrv *s, const char *profile, const struct caller_env *env,
                     struct credsrv_reg **ret, struct err_detail *e)
{
	unsigned char raw[KR_CREDSRV_TOKEN_LEN];
	struct credsrv_reg *r;
	int rc;

	if (s->n_regs >= KR_CREDSRV_REGS_MAX) {
		err_set(e, KR_ERR_BUSY, NULL, 0, "end some of them first",
		        "%d keyrole exec --server are running already", KR_CREDSRV_REGS_MAX);
		return KR_ERR_BUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->profile = strdup(profile)) || !(r->env = caller_env_dup(env)) ||
	    !(r->token = mem_secret_alloc(TOKEN_HEX + 1))) {
		if (r)
			reg_free(r);
		err_set(e, KR_ERR_NOMEM, NULL, 0, NULL, "out of memory");
		return KR_ERR_NOMEM;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		reg_free(r);
		err_set(e, KR_ERR_INTERNAL, NULL, 0, NULL, "no random bytes for a token");
		return KR_ERR_INTERNAL;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(r->token + 2 * i, 3, "%02x", raw[i]);
	mem_wipe(raw, sizeof(raw));
	if (s->fd < 0) {
		rc = start_listening(s, e);
		if (rc < 0) {
			reg_free(r);
			return rc;
		}
	}
	r->s = s;
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d%s", s->port, CREDSRV_PATH);
	list_push_back(&s->regs, &r->link);
	s->n_regs++;
	log_info("credentials endpoint: keyrole exec --server %s started (%u running)", profile,
	         s->n_regs);
	*ret = r;
	return KR_OK;
}

void credsrv_unregister(struct credsrv_reg *r)
{
	struct credsrv *s;

	if (!r)
		return;
	s = r->s;
	list_unlink(&r->link);
	s->n_regs--;
	log_info("credentials endpoint: keyrole exec --server %s ended; its token is revoked",
	         r->profile);
	reg_free(r);
	if (s->n_regs == 0)
		stop_listening(s);
}

const char *credsrv_reg_url(const struct credsrv_reg *r)
{
	return r->url;
}

const char *credsrv_reg_token(const struct credsrv_reg *r)
{
	return r->token;
}

unsigned credsrv_count(const struct credsrv *s)
{
	return s->n_regs;
}

int credsrv_port(const struct credsrv *s)
{
	return s->port;
}
