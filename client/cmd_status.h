/*
 * The commands about the daemon's state: status (what is cached and
 * stored), forget (drop cached sessions), remove (delete stored keys), and
 * version.
 */
#ifndef KR_CMD_STATUS_H
#define KR_CMD_STATUS_H

#include "cmd.h"

int cmd_status_show(struct cmd_ctx *x);
int cmd_status_forget(struct cmd_ctx *x);
int cmd_status_remove(struct cmd_ctx *x);
int cmd_status_version(struct cmd_ctx *x);

#endif
