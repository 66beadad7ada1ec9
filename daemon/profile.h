/*
 * Profiles: ~/.aws/config + ~/.aws/credentials read as botocore 1.43 reads
 * them, one requested profile resolved into a source and a chain of
 * AssumeRole hops, a cache key per hop, and the `keyrole check` report.
 *
 * Semantics (botocore's unless marked KEYROLE):
 *  - Config sections "[profile NAME]" (NAME is the second shlex word of the
 *    header; any header starting with "profile" counts) and "[default]";
 *    "[services NAME]" sections; credentials file sections are profiles by
 *    their raw name. A profile in both files is merged key by key and the
 *    credentials file wins. If several config headers name one profile, the
 *    last one wins whole.
 *  - A profile with role_arn (and no web_identity_token_file) is a role
 *    hop: exactly one of source_profile / credential_source. A source profile
 *    that has static keys, or no role_arn, is the source; one with role_arn
 *    and no keys is another hop. A profile may name itself as source_profile
 *    only when it holds static keys. Cycles are errors ("a -> b -> a").
 *  - A source profile's credentials are found in botocore's provider order:
 *    web identity / SSO (unsupported), the credentials file's keys, login
 *    (unsupported), credential_process, the config file's keys. KEYROLE: a
 *    profile with none of these is PROFILE_SRC_KEYRING (keys stored with
 *    `keyrole add`; botocore would say "must have credentials").
 *  - Every hop's STS call uses the region and endpoint of the *requested*
 *    profile (botocore creates the AssumeRole client from the session, whose
 *    profile is the requested one; the hop profiles' own region/endpoint
 *    keys are not used). Region: AWS_REGION (KEYROLE: botocore ignores it,
 *    the other SDKs and AWS CLI v2 honour it) > AWS_DEFAULT_REGION > the
 *    requested profile's region.
 *  - KEYROLE: default role_session_name is "keyrole-<profile>" with every
 *    character outside STS's [A-Za-z0-9_+=,.@-] replaced by '-', truncated
 *    to 64 characters: stable (so sessions are recognisable in CloudTrail
 *    and cache keys stay put) and informative, where botocore uses
 *    "botocore-session-<timestamp>".
 *  - KEYROLE: values are checked before any STS call: duration_seconds
 *    must be an integer in 900..43200, role_session_name must match STS's
 *    pattern, role_arn must start with "arn:". A hop whose source is a
 *    session (another role hop, or static/environment keys with a session
 *    token) is "chained" and its duration is capped at 3600 s (STS's role
 *    chaining limit), with a warning in the check report. A
 *    credential_process source shows whether it returns a session only when
 *    it runs: the agent caps hop 0 then (and the check report says so).
 *
 * Secrets (static keys, session tokens, environment credentials) live only
 * in struct profile_source; profile_chain_free() wipes them. Cache keys and
 * check reports never contain them (access key ids are shown masked).
 */
#ifndef KR_PROFILE_H
#define KR_PROFILE_H

#include "buf.h"
#include "endpoint.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* The caller's view, from the request's "env" (all may be NULL). */
struct profile_env {
	const char *home, *config_file, *credentials_file, *region, *default_region, *endpoint_url,
	    *endpoint_url_sts, *sts_regional_endpoints, *ca_bundle,
	    *ignore_configured_endpoint_urls, *access_key_id, *secret_access_key, *session_token;
	struct endpoint_proxy_env proxy; /* HTTPS_PROXY, no_proxy, ...: never in a cache key */
};

enum profile_source_type {
	PROFILE_SRC_STATIC,
	PROFILE_SRC_KEYRING,
	PROFILE_SRC_ENV,
	PROFILE_SRC_PROCESS,
	PROFILE_SRC_UNSUPPORTED, /* only inside check reports; resolve fails */
};

struct profile_source {
	enum profile_source_type type;
	char *profile; /* profile that holds the source */
	char *access_key_id, *secret_access_key,
	    *session_token; /* STATIC and ENV; secret ones wiped on free */
	char *command;      /* PROCESS: credential_process command line */
	char *file;         /* where it was defined (NULL for KEYRING without keys) */
	int line;
};

struct profile_hop {
	char *profile; /* profile that holds role_arn */
	char *role_arn, *session_name, *external_id, *mfa_serial, *source_identity, *policy;
	int duration;        /* seconds, 0 = STS default (3600); capped to 3600 when chained */
	int duration_capped; /* 1 if we lowered it because of role chaining */
	int chained;         /* source of this hop is itself a session (role chaining) */
	char **tag_keys, **tag_values; /* session_tags = k=v,k2=v2 (aws-vault style) */
	size_t n_tags;
	char **transitive_keys; /* transitive_session_tags = k,k2 */
	size_t n_transitive;
	char *region;   /* signing region for this hop's STS call */
	char *endpoint; /* final STS URL (from endpoint_resolve) */
	char *file;     /* where role_arn is */
	int line;
	int duration_line; /* line of duration_seconds (0 if none) */
};

struct profile_chain {
	struct profile_source source;
	struct profile_hop *hops; /* in execution order: hops[0] uses the source */
	size_t n_hops;
	char *name;        /* the requested profile */
	char *region;      /* the requested profile's region (for exec/env) or NULL */
	char *mfa_process; /* the requested profile's (or the MFA hop's) mfa_process, or NULL */
	char *ca_bundle;   /* AWS_CA_BUNDLE or ca_bundle key */
	char *proxy, *no_proxy; /* endpoint_proxy() for the hops' endpoint; not in the key */
};

/* Caps on the aws-vault style tag lists (STS allows 50 session tags). */
#define KR_PROFILE_TAGS_MAX 50
/* Words in a credential_process command line that we look at. */
#define KR_PROFILE_ARGV_MAX 256

/*
 * Resolve profile name for the caller described by env. On success *ret
 * is a new chain (free with profile_chain_free()). Errors, with one line
 * in errbuf naming file:line and what to fix:
 *   KR_ERR_NOPROFILE    the profile does not exist
 *   KR_ERR_CONFIG       invalid configuration (syntax, cycle, missing
 *                       source, bad value, credential_process calling keyrole
 *                       for a profile of this same chain, or of a chain
 *                       that leads back to it)
 *   KR_ERR_UNSUPPORTED  Ec2InstanceMetadata, EcsContainer, SSO, web identity,
 *                       login sessions
 *   KR_ERR_NOCREDS      credential_source = Environment without keys in env
 * A profile with no keys at all resolves to PROFILE_SRC_KEYRING: the daemon
 * then looks the keys up by source.profile and fails with NOCREDS itself.
 */
int profile_resolve(const struct profile_env *env, const char *name, struct profile_chain **ret,
                    char *errbuf, size_t errlen);

/* Wipes secrets; NULL is a no-op. */
void profile_chain_free(struct profile_chain *c);

/*
 * Profile maps are built once per pair of unchanged files and cached (a
 * few pairs); this drops them (tests, fuzzers, exit). Files are still
 * checked with stat() on every resolve, so nothing here is ever stale.
 */
void profile_cache_clear(void);

/*
 * Append a cache key for hop i: the source identity (type + access key id
 * and a truncated SHA-256 of its secret and token, command or keyring
 * profile; never a secret itself) and every parameter of hops
 * 0..i that changes the result. Plain text, each field length-prefixed so
 * that no two different chains give the same key.
 */
int profile_hop_key(const struct profile_chain *c, size_t i, struct buf *out);

/*
 * Append the start that every hop key of a chain sourced from profile's
 * keys in the keyring (`keyrole add`) shares: new or removed keys must
 * drop the sessions the old ones made.
 */
int profile_keyring_source_prefix(const char *profile, struct buf *out);

/*
 * The "profiles" array of the check op (doc/protocol.txt): one report for
 * name, or for every profile of both files when name_or_null is NULL (config
 * file order, then credentials-only profiles). When a file cannot be parsed
 * at all, one report (named after the request, or "*") carries the error.
 * A missing profile gives a report with an error, not a failure. Fails only
 * with KR_ERR_NOMEM / KR_ERR_INVAL.
 */
int profile_check(const struct profile_env *env, const char *name_or_null, cJSON **ret_profiles);

/* The default session name for a profile (see above); caller frees. */
char *profile_default_session_name(const char *profile);

#endif
