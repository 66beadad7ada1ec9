/*
 * keyrole console: a sign-in URL of the AWS web console for a profile,
 * made by keyroled (op "console"), opened in a browser or printed.
 */
#ifndef KR_CMD_CONSOLE_H
#define KR_CMD_CONSOLE_H

#include "cmd.h"

int cmd_console_run(struct cmd_ctx *x);

#endif
