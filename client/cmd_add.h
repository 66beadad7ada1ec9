/* keyrole add: store a profile's long-term access keys in the daemon's keyring. */
#ifndef KR_CMD_ADD_H
#define KR_CMD_ADD_H

#include "cmd.h"

int cmd_add_run(struct cmd_ctx *x);

#endif
