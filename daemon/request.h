/*
 * A request as the daemon's operations see it, and the replies they give:
 * plain C types. daemon/msg.c turns the wire's JSON (doc/protocol.txt) into
 * a struct request once, at the edge, and a struct reply back into JSON;
 * nothing past it sees JSON.
 *
 * Invariants:
 * - Every string of a struct request points into one block it owns, wiped
 *   by request_free() (it may hold an MFA code, long-term keys, the
 *   caller's AWS_SECRET_ACCESS_KEY or a proxy password).
 * - A reply is borrowed by whoever receives it, for the duration of the
 *   call: it points at the sender's data and is encoded at once.
 */
#ifndef KR_REQUEST_H
#define KR_REQUEST_H

#include "caps.h"
#include "endpoint.h"
#include "err.h"
#include "sts.h"

#include <stddef.h>
#include <time.h>

enum req_op {
	OP_UNKNOWN = 0, /* an op this daemon does not know */
	OP_PING,
	OP_VERSION,
	OP_GET,
	OP_STATUS,
	OP_FORGET,
	OP_CHECK,
	OP_ADD,
	OP_REMOVE,
	OP_LOGIN,        /* IAM Identity Center: start or join a device authorization */
	OP_LOGIN_WAIT,   /* ... wait for its token */
	OP_LOGOUT,       /* ... drop a session's token and what it made */
	OP_SSO_PROFILES, /* ... the accounts and roles of a session */
	OP_CONSOLE,      /* a sign-in URL of the web console (ops_console.c) */
	OP_SERVE,        /* exec --server: a token for the credentials endpoint */
	OP_WAITING,      /* what a get of the profile waits for now (the client's wait line) */
	OP_WRAP,         /* the tool profile of a chain profile, as text (wrap.c) */
};

/*
 * The caller's view of the world: the environment variables a request
 * carries (common/proto.c's proto_env_keys), NULL when unset. The daemon
 * answers for these, never for its own environment.
 */
struct caller_env {
	const char *home, *config_file, *credentials_file, *region, *default_region, *endpoint_url,
	    *endpoint_url_sts, *sts_regional_endpoints, *ca_bundle,
	    *ignore_configured_endpoint_urls, *access_key_id, *secret_access_key, *session_token,
	    *endpoint_url_sso, *endpoint_url_sso_oidc;
	const char *use_fips_endpoint, *use_dualstack_endpoint; /* AWS_USE_..._ENDPOINT */
	const char *federation_url; /* KEYROLE_FEDERATION_URL: console's sign-in endpoint */
	/* AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME (source_webid.c) */
	const char *web_identity_token_file, *role_arn, *role_session_name;
	/* AWS_EC2_METADATA_* and AWS_METADATA_SERVICE_* (source_imds.c) */
	const char *ec2_metadata_disabled, *ec2_metadata_service_endpoint,
	    *ec2_metadata_service_endpoint_mode, *ec2_metadata_v1_disabled, *imds_use_ipv6,
	    *metadata_service_timeout, *metadata_service_num_attempts;
	/* AWS_CONTAINER_* (source_container.c); container_token is secret */
	const char *container_relative_uri, *container_full_uri, *container_token,
	    *container_token_file;
	struct endpoint_proxy_env proxy; /* HTTPS_PROXY, no_proxy, ...: never in a cache key */
};

/* The name of each member of struct caller_env, for msg.c and caller_env_dup(). */
struct caller_env_field {
	const char *name; /* "AWS_REGION" */
	size_t offset;    /* of its const char * in struct caller_env */
};
extern const struct caller_env_field caller_env_fields[];
extern const size_t caller_env_n_fields;

/* A copy of env in one block (its strings included); free with caller_env_free(). */
struct caller_env *caller_env_dup(const struct caller_env *env);
/* Wipes (it may hold secrets). NULL is a no-op. */
void caller_env_free(struct caller_env *env);

struct request {
	enum req_op op;
	const char *op_name;  /* as sent; NULL when missing */
	const char *profile;  /* NULL when missing */
	const char *mfa_code; /* get: the code the client obtained; secret */
	const char *access_key_id, *secret_access_key; /* add; the secret is secret */
	int all;                                       /* forget --all */
	int verify;                                    /* add --verify */
	const char *session;     /* login, logout, sso_profiles: the [sso-session] (or start URL) */
	const char *login_id;    /* login_wait */
	int force;               /* login --force */
	const char *destination; /* console: the page to open, or NULL (the region's home) */
	long duration;           /* console: seconds, 0 = not given, -1 = not a valid number */
	int exec;                /* get for `keyrole exec`: serve instead when exec-server is on */
	const char *as;          /* wrap --as: the tool profile's name, or NULL (the default) */
	const char *keyrole;     /* wrap: the client's absolute path, for credential_process */
	int move;                /* add --move: the keys come from the files, and leave them */
	int no_wait; /* not on the wire: the credentials endpoint's get (take usable, do not wait)
	              */
	struct caller_env env;
	/* private: the block every string above points into */
	char *strings;
	size_t strings_len;
};

/* Wipe and free what r owns (r itself is the caller's). */
void request_free(struct request *r);

/* ---- replies ---- */

/* The counters of `status`. */
struct agent_counters {
	unsigned long requests, hits, misses, sts_calls, refreshes, errors;
	struct {
		char code[64];
		unsigned long n;
	} sts_errors[KR_STS_CODES_MAX]; /* by AWS code, or our error name; "" ends the list */
};

struct status_entry {
	const char *profile;    /* the profile that last used it, else the one that holds it */
	const char *role;       /* role ARN; NULL for a step that is no role */
	const char *source;     /* the source's name: "assume-role", "mfa-session", "process" */
	const char *mfa_serial; /* the device it needs a code for, or NULL */
	int hop;                /* index among the chain's roles; -1 for other steps */
	time_t expiration;      /* 0: no credentials (only a failed fetch) */
	const char *from;       /* "sts", "keyring", "process"... */
	const char *refresh_error;
	int refreshing;
};

/* sso.h */
struct sso_session_info;
struct sso_login_info;
struct sso_account_roles;

struct status_report {
	long pid, uptime;
	const char *backend;
	int survives_reboot;
	const char *keyring_warning, *note; /* NULL for none */
	size_t keyring_queue;               /* keyring calls not done yet */
	const struct status_entry *entries;
	size_t n_entries;
	const char *const *stored; /* profiles with long-term keys */
	size_t n_stored;
	const struct sso_session_info *sso; /* IAM Identity Center sessions held (never a token) */
	size_t n_sso;
	const struct agent_counters *counters;
};

struct check_reports; /* check.h */
struct wrap_plan;     /* wrap.h */
struct credsrv_reg;   /* credsrv.h */

struct reply_error {
	const struct err_detail *e;
	const char *profile, *role;              /* NULL for none */
	const char *aws_code, *aws_message;      /* what AWS answered, or NULL */
	const char *mfa_serial, *mfa_process;    /* error "mfa": the device, the profile's helper */
	const char *mfa_prompt;                  /* error "mfa": how to ask (valid_mfa_prompt()) */
	const char *sso_session, *sso_start_url; /* error "login": the session, its start URL */
};

struct reply {
	enum req_op op; /* the shape of a success reply */
	int ok;
	union {
		struct reply_error error; /* !ok */
		struct {
			const struct sts_creds *creds;
			const char *region, *from, *refresh_error;
		} get;
		const struct status_report *status;
		const struct check_reports *check;
		const struct wrap_plan *wrap;
		struct {
			const char *arn, *backend, *note;
			/* add --move: the lines the client deletes (file, line, key), n_move of
			 * them */
			const char *move_file[2], *move_key[2];
			int move_line[2], n_move;
		} add;
		int removed; /* forget, remove, logout */
		struct {
			const char *session, *start_url; /* the session's name (or start URL) */
			const struct sso_login_info *info;
		} login;
		struct {
			const char *session;
			time_t expiration;
		} login_wait;
		/*
		 * The receiver that keeps the connection open takes reg
		 * (server.c: revoked when the connection closes); one that
		 * does not leaves it, and the sender revokes it.
		 */
		struct {
			const char *url, *token, *region; /* token: secret */
			time_t expiration;
			struct credsrv_reg *reg;
			int *taken; /* set to 1 by the receiver that takes reg */
		} serve;
		struct {
			const char *session, *start_url, *region;
			const struct sso_account_roles *accounts;
			size_t n;
		} sso_profiles;
		struct {
			const char *url;   /* the sign-in URL: a credential (never logged) */
			time_t expiration; /* of the credentials behind it, 0 = unknown */
		} console;
		const char *waiting; /* "" for nothing in flight */
	} u;
};

/* Where replies go: r is borrowed for the call (encode it at once). */
typedef void (*reply_fn)(void *userdata, const struct reply *r);

/* Reply with an error (e: code, message, fix); the other fields of re may be left 0. */
void reply_error(reply_fn fn, void *userdata, const struct reply_error *re);
/* Reply with an error made of a code and a printf message (no file, no fix). */
void reply_errorf(reply_fn fn, void *userdata, int code, const char *profile, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
