/*
 * `keyrole sso profiles`: ready-to-paste ~/.aws/config sections for every
 * (account, role) an IAM Identity Center session may use, from keyroled's
 * "sso_profiles" reply. Nothing is written anywhere but stdout.
 *
 * Naming (keyrole's usual split, keyrole(1) CAVEATS): for each pair
 *   [profile NAME-chain]   the SSO profile keyrole resolves: sso_session
 *                          (or, for a legacy session, sso_start_url and
 *                          sso_region), sso_account_id, sso_role_name, region
 *   [profile NAME]         the profile tools use (AWS_PROFILE=NAME):
 *                          credential_process = KEYROLE get NAME-chain, region
 * where NAME is ACCOUNTNAME-ROLE (sso_profile_name()), "-ACCOUNTID" added
 * when two accounts' names come out the same, and KEYROLE is the absolute
 * path of the running keyrole.
 *
 * Invariants: every string from the reply is printed through out_printf()
 * (scrubbed); names are built from [A-Za-z0-9._-] only, so a section header
 * or a credential_process line cannot be broken by an account's name.
 */
#ifndef KR_CLIENT_SSO_H
#define KR_CLIENT_SSO_H

#include "cmd.h"
#include "json.h"

#include <stddef.h>

/* What sso_profile_name() leaves for suffixes ("-chain", "-ACCOUNTID") under KR_NAME_MAX. */
#define SSO_NAME_MAX 200

/*
 * The profile name for a role of an account: "ACCOUNT-ROLE", each part with
 * every run of characters outside [A-Za-z0-9._] made one '-', no '-' or '.'
 * at either end of a part; ACCOUNT is the account's name, else its id; at
 * most SSO_NAME_MAX bytes (the account part is shortened). n must be more
 * than SSO_NAME_MAX.
 */
void sso_profile_name(const char *account_name, const char *account_id, const char *role, char *out,
                      size_t n);

/*
 * Append the sections for reply (an "sso_profiles" success reply) to
 * x->out; exe is keyrole's path for credential_process. KR_ERR_PROTO when
 * the reply has no "accounts" list; KR_ERR_TOOBIG past x->out's cap.
 */
int sso_sections(struct cmd_ctx *x, const struct json *reply, const char *exe);

#endif
