/*
 * The operations of the protocol (doc/protocol.txt), one function each:
 * ping, version, get (fetch.c does the work), status, forget, check, add,
 * remove (ops.c); login, login_wait, logout, sso_profiles (ops_sso.c).
 * They take typed requests and answer through the reply callback.
 */
#ifndef KR_OPS_H
#define KR_OPS_H

#include "agent.h"

/* Dispatch req to its operation (agent_handle's contract). */
void ops_handle(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                struct agent_req **ret_pending);

/* Before the agent goes: drop every add/remove/login... in flight without answering. */
void ops_drop_all(struct agent *a);

/* Forget the cached step of key (hash h): in memory, or in the keyring only (after a restart). */
void ops_forget_key(struct agent *a, const char *key, uint64_t h, int *removed);

/* ---- the web console (ops_console.c) ---- */

void ops_console(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                 struct agent_req **ret_pending);
void ops_console_drop_all(struct agent *a);

/* ---- IAM Identity Center (ops_sso.c) ---- */

void ops_sso_login(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                   struct agent_req **ret_pending);
void ops_sso_login_wait(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                        struct agent_req **ret_pending);
void ops_sso_logout(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                    struct agent_req **ret_pending);
void ops_sso_profiles(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                      struct agent_req **ret_pending);
/* The sessions status lists (free() the array); NULL out of memory. */
struct sso_session_info *ops_sso_status(struct agent *a, size_t *ret_n);
void ops_sso_drop_all(struct agent *a);

#endif
