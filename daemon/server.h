#ifndef KR_SERVER_H
#define KR_SERVER_H

#include "agent.h"

#include <stddef.h>

struct server_opts {
	const char *socket_path; /* NULL: default (common/sockpath.h) */
	int idle_exit;           /* seconds without clients or work; 0 = never */
	size_t reply_max;        /* reply body cap (test seam); 0 = KR_RESP_MAX */
	int stderr_until_ready;  /* started by keyrole: stderr is its pipe, /dev/null once ready */
	struct agent_opts agent;
	/*
	 * SIGHUP: reread the settings into *ret (the cache backend and socket
	 * stay as they are). NULL: nothing to reload. Returns 0 or KR_ERR_*.
	 */
	int (*reload)(void *userdata, struct server_opts *ret);
	void *reload_userdata;
};

/* Listen, serve until SIGTERM/SIGINT or idle exit; returns an exit status. */
int server_run(const struct server_opts *opts);

#endif
