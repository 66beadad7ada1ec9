/*
 * The client's side of the socket: connect to keyroled (starting it when
 * nothing answers, as gpg-agent's clients do), send one request, read one
 * reply. One connection carries one request: conn_request() closes it.
 *
 * Invariants:
 * - Only a daemon running under our own uid is believed (SO_PEERCRED on
 *   connect): a reply carries credentials and may name a command for us to
 *   run (mfa_process).
 * - Any number of clients starting at once start at most one daemon: the
 *   start happens under an exclusive flock on <socket dir>/autostart.lock,
 *   after checking again under the lock that nothing answers.
 * - A started daemon is fully detached (own session, reparented, stdio on
 *   /dev/null, no other fd of ours, cwd /) and does not inherit the AWS
 *   secret variables of our environment.
 * - Every wait is bounded: connect and autostart by KR_CLIENT_CONNECT_MS,
 *   the reply by the caller's deadline.
 * - Request and reply bytes are wiped before they are freed (struct buf),
 *   and so are the JSON trees made of them (common/json.c).
 */
#ifndef KR_CONN_H
#define KR_CONN_H

#include "caps.h"
#include "json.h"

#include <stdint.h>
#include <sys/un.h>

enum {
	CONN_AUTOSTART = 1 << 0, /* start keyroled if nothing answers */
};

struct conn {
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;   /* -1 when closed */
	int keep; /* leave it open after a successful ("ok": true) reply (exec --server) */
	/*
	 * Why the last call failed, as a phrase for the one stderr line
	 * ("nothing answers on /run/user/1000/keyrole/agent.sock ..."). Never
	 * holds a secret. Empty after success.
	 */
	char detail[KR_CONN_DETAIL_MAX];
	/*
	 * While conn_request() awaits a reply: called after
	 * KR_CLIENT_WAIT_LINE_MS and then every second with the time waited,
	 * and once with -1 when the wait ended, if it was called at all.
	 * NULL: none (the default).
	 */
	void (*on_wait)(void *userdata, int64_t waited_ms);
	void *wait_userdata;
};

/*
 * Prepare c for socket_path (not opened), made absolute against the current
 * directory (common/sockpath.h). KR_ERR_TOOBIG if the path is too long,
 * KR_ERR_IO if a relative one cannot be resolved.
 */
int conn_init(struct conn *c, const char *socket_path);

/*
 * Connect. KR_ERR_NODAEMON when nothing answers (and autostart was not asked
 * for or failed), KR_ERR_PERM when the socket belongs to another uid,
 * KR_ERR_IO otherwise; c->detail says more.
 */
int conn_open(struct conn *c, unsigned flags);

/*
 * Send req on an open connection and read the reply by deadline_ms
 * (CLOCK_MONOTONIC ms, see proto_now_ms()). The reply may be a failure
 * reply ("ok": false): that is the caller's to interpret, but it is always
 * a JSON object whose "v" is KR_PROTO_VERSION. The connection is closed
 * afterwards, unless c->keep is set and the reply says "ok": true. The caller owns *ret_reply
 * (json_free(), which wipes: it may hold credentials).
 */
int conn_request(struct conn *c, const struct json *req, int64_t deadline_ms,
                 struct json **ret_reply);

/* Close the connection if open; safe on NULL and on a closed conn. */
void conn_close(struct conn *c);

#endif
