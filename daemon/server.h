#ifndef KR_SERVER_H
#define KR_SERVER_H

#include "agent.h"

struct server_opts {
	const char *socket_path; /* NULL: default (common/sockpath.h) */
	int idle_exit;           /* seconds without clients or work; 0 = never */
	struct agent_opts agent;
};

/* Listen, serve until SIGTERM/SIGINT or idle exit; returns an exit status. */
int server_run(const struct server_opts *opts);

#endif
