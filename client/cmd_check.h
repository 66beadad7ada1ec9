/* keyrole check: how profiles resolve and what is wrong with them, as text or JSON. */
#ifndef KR_CMD_CHECK_H
#define KR_CMD_CHECK_H

#include "cmd.h"

int cmd_check_run(struct cmd_ctx *x);

#endif
