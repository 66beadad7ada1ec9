/*
 * The IAM Identity Center commands: login (a device-code login kept by
 * keyroled), logout (keyroled forgets the session's token), and sso profiles
 * (config sections for the session's accounts and roles).
 */
#ifndef KR_CMD_SSO_H
#define KR_CMD_SSO_H

#include "cmd.h"

int cmd_sso_login(struct cmd_ctx *x);
int cmd_sso_logout(struct cmd_ctx *x);
int cmd_sso_profiles(struct cmd_ctx *x);

#endif
