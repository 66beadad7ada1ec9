/*
 * Credential sources. A chain is a list of steps: the first one yields
 * credentials of its own (keys from the files, keys from the keyring,
 * another tool's credential_process, the caller's environment), every later
 * one turns the credentials below it into new ones (an MFA session from
 * GetSessionToken, a role from AssumeRole). Each kind of step is one
 * source: one file (source_NAME.c) with one struct source_ops, and a row
 * in the table of sources.c that says when a profile uses it.
 *
 * A source answers four questions:
 *  - parse: what it needs from the profile (values copied into its own
 *    conf, with file:line for errors);
 *  - key: its part of the cache key, which never holds a secret (a digest
 *    of one at most);
 *  - fetch: how it gets credentials, asynchronously, on the loop;
 *  - describe: what `keyrole check` shows of it.
 *
 * Contracts:
 * - parse runs in the resolver (resolve.c); a failure fills e with file,
 *   line and fix. conf is the source's own; free releases (and wipes) it.
 * - fetch must not keep pointers into what it is given past its return:
 *   it copies what it needs (sts_call() and proc_start() copy). It returns
 *   1 when it finished at once (res filled), 0 when done will run later
 *   from the loop (never from inside fetch) unless cancel(*ret_call) runs
 *   first, and a negative code when it could not start (res->detail says
 *   why). The receiver of res steals res->creds; the rest is borrowed.
 * - A source that keeps anything secret wipes it (mem_free_str & co.).
 */
#ifndef KR_SOURCE_H
#define KR_SOURCE_H

#include "buf.h"
#include "check.h"
#include "err.h"
#include "pmap.h"
#include "request.h"
#include "sts.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct loop;
struct store;
struct chain;
struct step;
struct source_row;
struct sso;
struct http;

/* What a fetch may use: the daemon's services and settings. */
struct source_svc {
	struct loop *loop;
	struct sts *sts;
	struct store *store;          /* long-term keys (keyrole add) */
	struct sso *sso;              /* IAM Identity Center tokens (sso.h) */
	struct http *http;            /* plain HTTP: instance metadata, container credentials */
	int mfa_duration;             /* seconds of an MFA session (keyroled --mfa-duration) */
	time_t (*now)(void);          /* the wall clock */
	char mfa_prompt[KR_PATH_MAX]; /* keyroled's mfa-prompt, "" = auto (sent with error "mfa") */
};

/* The outcome of one fetch. */
struct source_result {
	int err;
	struct sts_creds creds;             /* on success: stolen by the receiver */
	struct err_detail detail;           /* on failure: what failed and what fixes it */
	const char *aws_code, *aws_message; /* what AWS answered, when it did (borrowed) */
	const char *from;                   /* where the credentials came from: "sts", ... */
	int attempts;                       /* STS: requests made (1 + retries); 0 for others */
	/* err KR_ERR_LOGIN: the IAM Identity Center session to log in to (borrowed) */
	const char *sso_session, *sso_start_url;
};

typedef void (*source_done_fn)(void *userdata, struct source_result *res);

/* One fetch's inputs, borrowed for the duration of the fetch() call only. */
struct source_fetch {
	const struct source_svc *svc;
	const struct chain *chain;
	const struct step *step;
	const struct sts_creds *input; /* the step below's credentials; NULL for a first step */
	int input_chained;             /* input is a role session: STS caps durations at 3600 s */
	const char *mfa_code;          /* NULL when the client sent none */
	const char *profile;           /* the requested profile (for messages) */
	uint64_t not_after_ms; /* the request's deadline (sts_params.not_after_ms); 0 = none */
	source_done_fn done;
	void *userdata;
};

/* What the resolver gives parse. */
struct source_parse {
	const struct pmap *map;
	const struct pmap_profile *profile; /* the profile that uses the source */
	const struct pmap_profile *top;     /* the requested profile (its clients' endpoints) */
	const struct caller_env *env;
	const struct source_row *row; /* the table row that chose it (NULL for roles) */
	int mfa_duration;             /* keyroled's setting (part of an MFA session's key) */
};

enum {
	/* Answers at once from what parse read (keys in a file or the environment): no cache entry.
	 */
	SOURCE_INLINE = 1 << 0,
	/* Its credentials are sessions worth keeping: in memory, and in the keyring across
	   restarts. */
	SOURCE_SESSION = 1 << 1,
	/* Its credentials are a role's: assuming a role with them is role chaining. */
	SOURCE_ROLE_SESSION = 1 << 2,
	/* Its sessions are never role chaining, even with a token (GetSessionToken). */
	SOURCE_NOT_CHAINING = 1 << 3,
	/* It yields long-term keys (unless a session token is known): an MFA session may follow. */
	SOURCE_LONG_TERM = 1 << 4,
	/* It calls STS itself, at the chain's endpoint (made even without a role above it). */
	SOURCE_STS = 1 << 5,
};

struct source_ops {
	const char *name; /* shown by status and check: "static", "assume-role"... */
	unsigned flags;   /* SOURCE_* */
	/* The longest lifetime it can issue: a later Expiration is not believed (0: no bound). */
	time_t max_lifetime;
	int (*parse)(const struct source_parse *in, struct step *s, struct err_detail *e);
	void (*free)(void *conf);
	/* Append this step's part of the cache key (cachekey.h's encoder). */
	int (*key)(const struct step *s, const struct chain *c, struct buf *out);
	int (*fetch)(const struct source_fetch *f, struct source_result *res, void **ret_call);
	void (*cancel)(void *call); /* NULL for sources that finish at once */
	void (*describe)(const struct step *s, const struct chain *c, struct step_report *out);
};

/* One step of a chain. */
struct step {
	const struct source_ops *ops;
	void *conf;    /* the source's own (ops->free) */
	char *profile; /* the profile that defines the step */
	char *file;    /* where (for check and messages) */
	int line;
	char *key;         /* cache key: this step and every step below it */
	uint64_t key_hash; /* ckey_hash(key) */
	char *mfa_serial;  /* the device whose code a fetch needs, or NULL */
	char *role_arn;    /* the role it assumes, or NULL (status, logs) */
	char *what;        /* what a fetch does, for logs: "AssumeRole arn:...", or NULL */
	int role_index;    /* index among the chain's roles; -1 for other steps */
	int chained;       /* its input is known to be a role session (role chaining) */
	struct sts_creds inline_creds; /* SOURCE_INLINE: the keys parse read (secret) */
};

/*
 * A resolved profile: steps[0] yields credentials, each later step is fed
 * by the one below it. Hops to roles use the requested profile's region
 * and endpoint (botocore builds its STS client from the session).
 */
struct chain {
	char *name;         /* the requested profile */
	struct step *steps; /* steps[0] is the source */
	size_t n;
	char *region;         /* the requested profile's region, or NULL */
	char *mfa_process;    /* mfa_process of the requested profile (or the MFA hop's), or NULL */
	char *mfa_prompt;     /* keyrole_mfa_prompt, found as mfa_process is, or NULL */
	char *ca_bundle;      /* AWS_CA_BUNDLE or ca_bundle */
	char *endpoint;       /* the STS URL of every hop, or NULL without hops */
	char *signing_region; /* and its signing region */
	char *endpoint_from;  /* where endpoint comes from (endpoint_conf_origin()), or NULL */
	char *proxy, *no_proxy; /* endpoint_proxy() for endpoint; never in a key; wiped */
	int refs;               /* chains are shared by the jobs of one resolve memo */
};

/*
 * A row of the table: when a profile uses a source. Rows are tried in
 * order (botocore's provider order); the first that matches wins.
 *  - key: the profile has this key (in file), or
 *  - credential_source: a role profile's credential_source names it, or
 *  - neither: matches any profile (the fallback, last).
 */
struct source_row {
	const struct source_ops *ops;
	const char *key;
	enum pmap_file file;
	const char *credential_source;
	const char *what; /* a person's name for the feature (messages) */
	/*
	 * Or, for the requested profile only, this caller's variable set and
	 * not empty (botocore's default chain reads AWS_WEB_IDENTITY_TOKEN_FILE
	 * before the profile's key); NULL: none.
	 */
	const char *env;
};

struct source_table {
	const struct source_row *rows;
	size_t n;
};

/* The built-in table (sources.c). */
extern const struct source_table source_table_default;

/* The sources, one per file. */
extern const struct source_ops source_static;      /* keys in ~/.aws/credentials or config */
extern const struct source_ops source_keyring;     /* keys stored with `keyrole add` */
extern const struct source_ops source_process;     /* credential_process */
extern const struct source_ops source_env;         /* credential_source = Environment */
extern const struct source_ops source_unsupported; /* a source keyrole does not support */
extern const struct source_ops source_mfa_session; /* GetSessionToken with an MFA code */
extern const struct source_ops source_assume_role; /* AssumeRole */
extern const struct source_ops source_sso;         /* IAM Identity Center GetRoleCredentials */
extern const struct source_ops source_webid;       /* AssumeRoleWithWebIdentity */
extern const struct source_ops source_imds;        /* credential_source = Ec2InstanceMetadata */
extern const struct source_ops source_container;   /* credential_source = EcsContainer */

/* Set step->what (a printf format). */
int source_what(struct step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A setting botocore reads from the caller's variable before the profile's
 * key: env_value when it is set (where->file NULL), else key in profile p
 * (where: its file and line); *ret a copy, NULL when neither is set.
 * KR_ERR_CONFIG for a value over KR_VALUE_MAX or not on one line.
 */
int source_setting(const struct source_parse *in, const struct pmap_profile *p,
                   const char *env_value, const char *key, char **ret, struct pmap_val *where,
                   struct err_detail *e);

/* A caller's variable by its name (caller_env_fields), or NULL. */
const char *source_env_value(const struct caller_env *env, const char *name);

/* Set where a step is defined (copied; a previous one is freed). */
int step_set_where(struct step *s, const char *file, int line);

/* The source_keyring step's key part for profile (add and remove forget what starts with it). */
int source_keyring_key(const char *profile, struct buf *out);

/*
 * KEYROLE: the default role_session_name, "keyrole-<profile>" with every
 * character outside STS's [A-Za-z0-9_+=,.@-] replaced by '-', cut to 64
 * characters: stable (sessions are recognisable in CloudTrail and cache
 * keys stay put), where botocore uses "botocore-session-<timestamp>".
 * The caller frees it.
 */
char *source_assume_default_session_name(const char *profile);
/* Does STS take s as a RoleSessionName (2-64 of [A-Za-z0-9_+=,.@-])? */
int source_session_name_ok(const char *s);
/* What a role step holds (source_assume.c), for check and tests. */
struct assume_conf {
	char *session_name, *external_id, *mfa_serial, *source_identity, *policy;
	int duration;                  /* duration_seconds as configured; 0 = STS default (3600) */
	int duration_line;             /* of duration_seconds (0: none) */
	char **tag_keys, **tag_values; /* session_tags = k=v,k2=v2 */
	size_t n_tags;
	char **transitive_keys; /* transitive_session_tags = k,k2 */
	size_t n_transitive;
};
/* A role step's settings; NULL for other steps. */
const struct assume_conf *source_assume_conf(const struct step *s);

struct sso_where;
/* An IAM Identity Center step's session (source_sso.c); NULL for other steps or a failed parse. */
const struct sso_where *source_sso_where(const struct step *s);

/* Wipe and free a step's contents (not the step itself). */
void step_clear(struct step *s);

/* Release a chain (wipes secrets) when the last reference goes; NULL is a no-op. */
void chain_unref(struct chain *c);
struct chain *chain_ref(struct chain *c);

/*
 * The fetch of a source that calls STS: p has the operation's own
 * parameters (the source's credentials included); the chain's endpoint,
 * signing region, CA bundle and proxy are added here. A failure is
 * described as "WHAT: CODE: MESSAGE — HINT", WHAT being step->what.
 * Cancel with source_sts_cancel().
 */
int source_sts_fetch(const struct source_fetch *f, struct sts_params *p, struct source_result *res,
                     void **ret_call);
void source_sts_cancel(void *call);

/* The key part of a source of keys read at once: its name, the key id, a digest of the secret. */
int source_inline_key(const struct step *s, const char *name, struct buf *out);

/* The fetch of an SOURCE_INLINE source: a copy of step->inline_creds. */
int source_fetch_inline(const struct source_fetch *f, struct source_result *res, const char *from);

/* "****ABCD": the last 4 characters of an access key id (out: 16 bytes). */
void source_mask_key_id(const char *akid, char out[16]);

#endif
