/* keyrole wrap: the tool profile of a chain profile, printed or added to the config file. */
#ifndef KR_CMD_WRAP_H
#define KR_CMD_WRAP_H

#include "cmd.h"

int cmd_wrap_run(struct cmd_ctx *x);

#endif
