/*
 * The operations of the protocol (doc/protocol.txt), one function each:
 * ping, version, get (fetch.c does the work), status, forget, check, add,
 * remove. They take typed requests and answer through the reply callback.
 */
#ifndef KR_OPS_H
#define KR_OPS_H

#include "agent.h"

/* Dispatch req to its operation (agent_handle's contract). */
void ops_handle(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                struct agent_req **ret_pending);

/* Before the agent goes: drop every add/remove in flight without answering. */
void ops_drop_all(struct agent *a);

#endif
