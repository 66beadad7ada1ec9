/*
 * The commands that hand out credentials: get (credential_process JSON),
 * env (shell lines for eval), exec (a command run with them).
 */
#ifndef KR_CMD_CREDS_H
#define KR_CMD_CREDS_H

#include "cmd.h"

int cmd_creds_get(struct cmd_ctx *x);
int cmd_creds_env(struct cmd_ctx *x);
int cmd_creds_exec(struct cmd_ctx *x);

#endif
