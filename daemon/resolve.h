/*
 * The resolver: one requested profile, read as botocore 1.43 reads it,
 * becomes a chain of steps (source.h), each with its cache key.
 *
 * Semantics (botocore's unless marked KEYROLE):
 *  - A profile with role_arn (and no web_identity_token_file) is a role:
 *    exactly one of source_profile / credential_source. A source profile
 *    that has static keys, or no role_arn, holds the credentials; one with
 *    role_arn and no keys is another role. A profile may name itself as
 *    source_profile only when it holds static keys. Cycles are errors
 *    ("a -> b -> a"). More than KR_CHAIN_MAX roles is an error.
 *  - Which source a credentials profile uses, and which a credential_source
 *    names, is the table of sources.c.
 *  - Every role's STS call uses the region and endpoint of the *requested*
 *    profile (botocore creates the AssumeRole client from the session).
 *    Region: AWS_REGION (KEYROLE: botocore ignores it; the other SDKs and
 *    AWS CLI v2 honour it) > AWS_DEFAULT_REGION > the requested profile's.
 *  - KEYROLE: a role whose input is a session (another role, or keys with
 *    a session token) is "chained" and its duration is capped at 3600 s.
 *  - KEYROLE: long-term keys (in a file, the environment or the keyring)
 *    under a first role with mfa_serial get an MFA session step
 *    (GetSessionToken) in between: one code serves every role of the device.
 *  - KEYROLE: a credential_process that would call keyrole for a profile of
 *    this same chain (or of a chain that leads back to it) is an error, not
 *    an endless loop.
 *
 * Secrets (keys from files or the environment) live only in steps'
 * inline_creds; chain_unref() wipes them. Keys and reports never hold them.
 */
#ifndef KR_RESOLVE_H
#define KR_RESOLVE_H

#include "err.h"
#include "pmap.h"
#include "request.h"
#include "source.h"

struct resolve_opts {
	const struct source_table *sources; /* NULL: the built-in table */
	int mfa_duration;                   /* seconds of MFA sessions (their key has it) */
};

/*
 * Resolve name for the caller described by env into a chain (one
 * reference: chain_unref()). Chains are remembered (a few dozen) while
 * both files are unchanged, for the same name, environment and options:
 * a request for a profile resolved before costs the files' checks and a
 * lookup. Errors, with e naming file:line and a fix:
 *   KR_ERR_NOPROFILE    the profile does not exist
 *   KR_ERR_CONFIG       invalid configuration (syntax, cycle, missing
 *                       source, bad value, a credential_process that calls
 *                       keyrole for this chain)
 *   KR_ERR_UNSUPPORTED  a source keyrole does not support
 *   KR_ERR_NOCREDS      credential_source = Environment without keys
 *   KR_ERR_INVAL        an invalid name
 */
int resolve_chain(const struct caller_env *env, const char *name, const struct resolve_opts *o,
                  struct chain **ret, struct err_detail *e);

/*
 * The requested profile's STS client without its steps: a chain with no
 * step whose region, CA bundle, endpoint, signing region and proxies are
 * those every role of name's chain would use (`keyrole console` calls
 * GetFederationToken with it, for a profile that has no role). Not
 * remembered; chain_unref() it. Errors as resolve_chain().
 */
int resolve_sts_client(const struct caller_env *env, const char *name, struct chain **ret,
                       struct err_detail *e);

/* Forget the remembered chains (they hold the keys of static sources). */
void resolve_memo_clear(void);

/*
 * The same on a loaded map, for `keyrole check`: *ret_partial is set
 * whatever the outcome (as far as resolution got: the roles in execution
 * order, and the source when it was reached), or NULL out of memory.
 */
int resolve_in_map(const struct pmap *m, const struct caller_env *env, const char *name,
                   const struct resolve_opts *o, struct chain **ret_partial, struct err_detail *e);

/*
 * If command (a credential_process) runs "keyrole ... get P", P (the
 * caller frees it), else NULL: argv[0] is keyrole or a path ending in
 * /keyrole; options before and after the subcommand are skipped.
 */
char *resolve_keyrole_target(const char *command);

/*
 * Tool profiles. A tool profile is what the AWS tools use: its chain is
 * one credential_process that runs `keyrole get T`, and it stands for T
 * (resolve_chain() and resolve_sts_client() resolve T for it, so get,
 * env, exec, console, forget and status act on T's chain).
 * resolve_chain_target(): T for a chain that is such a step, else NULL;
 * resolve_tool_target(): T for profile name of m, else NULL (also when
 * name does not resolve). The caller frees T.
 */
char *resolve_chain_target(const struct chain *ch);
char *resolve_tool_target(const struct pmap *m, const struct caller_env *env, const char *name,
                          const struct resolve_opts *o);

#endif
