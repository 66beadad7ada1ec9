/*
 * The table of sources: which one a profile uses. For a profile that holds
 * credentials (no role_arn, or the source_profile of a role), the first
 * row whose key the profile has wins, in botocore 1.43's provider order:
 * web identity, IAM Identity Center, the credentials file's keys, login
 * sessions, credential_process, the config file's keys; KEYROLE: a profile
 * with none of them has keys stored with `keyrole add`. A role's
 * credential_source picks the row of that name. Web identity is also the
 * requested profile's source when the caller has AWS_WEB_IDENTITY_TOKEN_FILE
 * (botocore's default chain).
 *
 * A new source is a file of its own (source_NAME.c) and a row here.
 */
#include "source.h"

static const struct source_row rows[] = {
    {&source_webid, "web_identity_token_file", PMAP_ANY, NULL, "web identity federation",
     "AWS_WEB_IDENTITY_TOKEN_FILE"},
    {&source_sso, "sso_account_id", PMAP_ANY, NULL, "IAM Identity Center (SSO)", NULL},
    {&source_sso, "sso_role_name", PMAP_ANY, NULL, "IAM Identity Center (SSO)", NULL},
    {&source_static, "aws_access_key_id", PMAP_CREDENTIALS, NULL, "keys in the credentials file",
     NULL},
    {&source_unsupported, "login_session", PMAP_ANY, NULL, "console login sessions", NULL},
    {&source_process, "credential_process", PMAP_ANY, NULL, "credential_process", NULL},
    {&source_static, "aws_access_key_id", PMAP_CONFIG, NULL, "keys in the config file", NULL},
    {&source_env, NULL, PMAP_ANY, "Environment", "the caller's environment", NULL},
    {&source_imds, NULL, PMAP_ANY, "Ec2InstanceMetadata", "instance metadata", NULL},
    {&source_container, NULL, PMAP_ANY, "EcsContainer", "container credentials", NULL},
    {&source_keyring, NULL, PMAP_ANY, NULL, "keys stored with keyrole add", NULL},
};

const struct source_table source_table_default = {rows, sizeof(rows) / sizeof(rows[0])};
