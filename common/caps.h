/*
 * Every size cap and deadline in keyrole, in one place (named caps.h, not
 * limits.h, so that it never shadows the C library's <limits.h>), by the
 * module that applies it. A buffer gets its cap when it is made; input over
 * a cap is refused, never truncated. Deadlines are in milliseconds (_MS)
 * or seconds (_S); the daemon converts them to its loop's clock where it
 * arms them.
 */
#ifndef KR_CAPS_H
#define KR_CAPS_H

/* Wire protocol (doc/protocol.txt). */
#define KR_PROTO_VERSION 1
#define KR_FRAME_HDR     4                 /* big-endian u32 length */
#define KR_REQ_MAX       (64 * 1024)       /* request body cap */
#define KR_RESP_MAX      (4 * 1024 * 1024) /* response body cap */

/* Daemon connections. */
#define KR_CONN_MAX      1024            /* open connections */
#define KR_CONN_READ_MS  2000            /* whole request must arrive in this */
#define KR_CONN_IDLE_MS  (5 * 60 * 1000) /* backstop: a waiting request (MFA, STS) gives up */
#define KR_CONN_WRITE_MS 10000           /* a reply must be taken within this */
/* Out of descriptors (EMFILE): stop accepting this long, then try again. */
#define KR_ACCEPT_PAUSE_MS 200

/* Client. */
#define KR_CLIENT_CONNECT_MS   3000              /* wait for an autostarted daemon */
#define KR_CLIENT_REPLY_MS     (120 * 1000)      /* whole answer, STS retries included */
#define KR_CLIENT_BUSY_MS      10000             /* retry a daemon at its connection cap */
#define KR_CLIENT_WAIT_LINE_MS 1000              /* a terminal is told what is awaited after this */
#define KR_CLIENT_WAITING_MS   500               /* for the daemon's "waiting" answer */
#define KR_CLIENT_OUT_MAX      (8 * 1024 * 1024) /* text we print (status/check of a big config) */
#define KR_CLIENT_LINE_MAX     2048              /* the one stderr line (failure or warning) */
#define KR_ADD_INPUT_MAX       4096              /* `keyrole add` input on stdin */
#define KR_CONN_DETAIL_MAX     600               /* why a connection failed, for that line */

/* IAM Identity Center logins in the client (client/login.c, client/browser.c). */
#define KR_LOGIN_EXPIRES_MAX_S 3600  /* a device code said to last longer is not believed */
#define KR_LOGIN_EXPIRES_DFL_S 600   /* ... and one without expires_in lasts this (AWS: 600) */
#define KR_LOGIN_SLACK_MS      30000 /* login_wait's reply deadline beyond the code's expiry */
#define KR_BROWSER_URL_MAX     8192  /* a URL handed to a browser (a console sign-in URL) */
#define KR_BROWSER_START_MS    3000  /* to learn whether the browser could be started */

/* JSON the client reads (common/json.c): a reply is the largest text. */
#define KR_JSON_MAX        KR_RESP_MAX
#define KR_JSON_DEPTH_MAX  64 /* nested arrays and objects */
#define KR_JSON_NUMBER_MAX 64 /* characters of one number */

/* Strings inside messages and config. */
#define KR_NAME_MAX       256  /* profile name */
#define KR_VALUE_MAX      4096 /* one config value */
#define KR_PATH_MAX       4096
#define KR_ENV_MAX        64 /* environment entries in a request */
#define KR_MFA_CODE_LEN   6  /* an MFA code: exactly this many digits */
#define KR_MFA_CODE_MAX   16 /* room for one read before it is trimmed and checked */
#define KR_KEY_ID_MIN     16 /* access key id: [A-Z0-9]{16,128} */
#define KR_KEY_ID_MAX     128
#define KR_SECRET_KEY_MAX 128 /* AWS secrets are 40; leave room */

/* Error details (common/err.h): one line for a person. */
#define KR_ERR_MSG_MAX  768 /* what failed, AWS's message included */
#define KR_ERR_FIX_MAX  320 /* how to fix it */
#define KR_ERR_LINE_MAX (KR_PATH_MAX + KR_ERR_MSG_MAX + KR_ERR_FIX_MAX + 32) /* err_format() */

/* Config files. */
#define KR_CONFIG_FILE_MAX  (4 * 1024 * 1024)
#define KR_CONFIG_LINE_MAX  (64 * 1024)
#define KR_CHAIN_MAX        16          /* hops in one chain (depth limit) */
#define KR_PROFILE_TAGS_MAX 50          /* session_tags (STS allows 50) */
#define KR_SSO_SCOPES_MAX   64          /* sso_registration_scopes of one sso-session */
#define KR_PROFILE_ARGV_MAX 256         /* words of a credential_process command line */
#define KR_CACHE_KEY_MAX    (64 * 1024) /* one step's cache key (daemon/cachekey.h) */

/* STS over HTTP. */
#define KR_HTTP_RESP_MAX   (256 * 1024) /* STS response body cap */
#define KR_HTTP_CONNECT_MS 5000
#define KR_HTTP_TOTAL_MS   15000 /* one attempt */
#define KR_STS_DEADLINE_MS 60000 /* all attempts of all a request's calls */
#define KR_STS_RETRIES     4     /* extra attempts after the first */
#define KR_STS_BACKOFF_MS  200   /* first backoff; doubles, jittered */

/* credential_process / mfa_process. */
#define KR_PROC_OUT_MAX    (64 * 1024)
#define KR_PROC_TIMEOUT_MS 60000
#define KR_PROC_ERR_KEEP   1024 /* stderr: the tail kept for the error message */

/* The daemon's cache (daemon/cache.c, daemon/fetch.c). */
#define KR_CACHE_ENTRIES_MAX 10000 /* cached steps by default (keyroled --max-entries) */
#define KR_MFA_WAIT_MS       90000 /* others wait this long for one client's MFA prompt */
#define KR_STS_CODES_MAX     32    /* distinct AWS error codes counted in status */

/* The container credentials endpoint of `keyrole exec --server` (daemon/credsrv.c). */
#define KR_CREDSRV_REQ_MAX   8192  /* request line and headers */
#define KR_CREDSRV_CONN_MAX  256   /* open HTTP connections; past it the oldest unread goes */
#define KR_CREDSRV_READ_MS   3000  /* a whole request must arrive in this */
#define KR_CREDSRV_WAIT_MS   60000 /* an answer that waits on a fetch (STS) */
#define KR_CREDSRV_WRITE_MS  3000  /* a reply must be taken within this */
#define KR_CREDSRV_REGS_MAX  256   /* live `exec --server` registrations */
#define KR_CREDSRV_TOKEN_LEN 32    /* random bytes of a token (64 hex characters) */

/* Credentials. */
#define KR_REFRESH_MARGIN_S (15 * 60) /* botocore refreshes below this */
#define KR_MIN_LEFT_S       60        /* never hand out less than this */
#define KR_CHAINED_MAX_S    3600      /* STS cap for role chaining */
/* A stored lifetime above this is not believed (STS: 36 h at most). */
#define KR_SESSION_LIFETIME_MAX_S (7 * 24 * 3600)
/* IAM Identity Center role credentials: a permission set's session lasts at most 12 h (+ skew) */
#define KR_SSO_LIFETIME_MAX_S (12 * 3600 + 600)

/* The keyring (daemon/keyring.h): its contents are untrusted when read back. */
#define KR_KEYRING_KEY_MAX       300   /* "longterm:" + a profile name, or 64 hex */
#define KR_KEYRING_ROLE_MAX      2048  /* IAM ARN length limit */
#define KR_KEYRING_SECRET_MAX    16384 /* compact JSON {"a","s","t","e","l"} */
#define KR_KEYRING_ITEMS_MAX     4096  /* items one list/remove call looks at */
#define KR_KEYRING_TIMEOUT_MS    2000  /* default deadline of one call */
#define KR_KEYRING_OPEN_MS       3000  /* deadline of a backend's open() probe */
#define KR_KEYRING_JOIN_MS       1000  /* keyring_free waits this long for the worker */
#define KR_KEYRING_QUEUE_MAX     1024  /* calls waiting for the worker */
#define KR_KEYRING_SWEEP_MAX     64    /* expired items one sweep call deletes */
#define KR_KEYRING_SWEEP_S       3600  /* the daemon sweeps this often */
#define KR_KEYRING_SWEEP_AGAIN_S 10    /* ... and this soon after a sweep that deleted some */

/* The kernel keyring (daemon/keyring_kernel.c). */
#define KR_KCTL_DIGEST_CUT  32                             /* hex chars of a digest kept */
#define KR_KCTL_PAYLOAD_MAX (KR_KEYRING_SECRET_MAX + 4096) /* header + secret */
#define KR_KCTL_SCAN_MAX    4096                           /* keys in @u we look at */
#define KR_KCTL_GC_WAIT_MS  250 /* wait for the kernel gc after an eviction */

/* Secret Service (daemon/keyring_secret.c). */
#define KR_SS_CALL_MS  (KR_KEYRING_TIMEOUT_MS + 500)
#define KR_SS_OPEN_MS  (KR_KEYRING_OPEN_MS - 500)
#define KR_SS_SWEEP_MS (KR_KEYRING_TIMEOUT_MS / 2)

/* IAM Identity Center (daemon/sso_api.c, sso_token.c, sso_login.c). */
#define KR_SSO_TOKEN_MAX        8192 /* an access or refresh token, a client secret, a device code */
#define KR_SSO_FIELD_MAX        2048        /* any other string of an answer or a request */
#define KR_SSO_MESSAGE_MAX      200         /* a server's message kept for an error line */
#define KR_SSO_PAGE_MAX         1000        /* accounts or roles in one answer */
#define KR_SSO_ACCOUNTS_MAX     5000        /* accounts `sso profiles` asks for at most */
#define KR_SSO_RETRIES          2           /* extra attempts after a 429, 5xx or network failure */
#define KR_SSO_BACKOFF_MS       200         /* first backoff; doubles, jittered */
#define KR_SSO_DEADLINE_MS      30000       /* all attempts of one call */
#define KR_SSO_CLI_FILE_MAX     (64 * 1024) /* the AWS CLI's token cache file */
#define KR_SSO_TOKEN_MIN_LEFT_S 10          /* an access token with less left is not used */
#define KR_SSO_POLL_DFL_S       5           /* device flow: poll interval without one (the CLI's) */
#define KR_SSO_POLL_MAX_S       60          /* ... and at most this, slow_down included */
#define KR_SSO_SLOW_DOWN_S      5           /* slow_down adds this (RFC 8628) */
#define KR_SSO_WAIT_MS          (4 * 60 * 1000) /* login_wait answers "timeout" after this */

/* STS parameters a caller may give (STS's own limits, rounded up). */
#define KR_STS_TAGS_MAX     50   /* session tags per call */
#define KR_STS_POLICY_MAX   8192 /* inline session policy, bytes */
#define KR_STS_PARAM_MAX    2048 /* any other single parameter, bytes */
#define KR_STS_ENDPOINT_MAX 2048

/* STS retries (daemon/sts.c). */
#define KR_STS_BACKOFF_MAX_MS 20000 /* one backoff never exceeds this */
#define KR_STS_MIN_ATTEMPT_MS 250   /* do not start an attempt with less time left */

/* STS requests (daemon/sts_req.c). */
#define KR_STS_BODY_MAX (64 * 1024) /* one request body */
#define KR_STS_HOST_MAX 512

/* STS answers (daemon/sts_xml.c). */
#define KR_STS_XML_DEPTH    16          /* element nesting */
#define KR_STS_XML_TEXT_MAX (16 * 1024) /* text of one element */

/* HTTP (daemon/http.c). */
#define KR_HTTP_HEADERS_MAX     64
#define KR_HTTP_BODY_MAX        (1024 * 1024)
#define KR_HTTP_URL_MAX         16384 /* a getSigninToken URL carries a session token */
#define KR_HTTP_HEADER_KEEP_MAX 256   /* a response header kept for the caller (x-amzn-ErrorType) */

/* Secret memory (daemon/secmem.c). */
#define KR_SECMEM_MAX     ((size_t)32 << 20)
#define KR_SECMEM_MIN     ((size_t)1 << 20)
#define KR_SECMEM_MINSIZE 32 /* smallest block: an access key id (20) fits */

/* SigV4 (common/sigv4.c). */
#define KR_SIGV4_TARGET_MAX  8192          /* request-target (path + query) */
#define KR_SIGV4_HEADERS_MAX 64            /* caller headers */
#define KR_SIGV4_HEADER_MAX  (16 * 1024)   /* one header value */
#define KR_SIGV4_NAME_MAX    256           /* one header name */
#define KR_SIGV4_BODY_MAX    (1024 * 1024) /* request body */
#define KR_SIGV4_KEY_MAX     256           /* access key id, secret key */
#define KR_SIGV4_TOKEN_MAX   (8 * 1024)    /* session token */
#define KR_SIGV4_SCOPE_MAX   64            /* region, service */
#define KR_SIGV4_CREQ_MAX    (256 * 1024)  /* canonical request */

/* Shell words (common/shellquote.c): credential_process and mfa_process. */
#define KR_SHELL_WORDS_MAX 256
#define KR_SHELL_LINE_MAX  (16 * 1024)

/* Parsed files and profile maps kept while their files are unchanged. */
#define KR_INI_CACHE_SLOTS    8
#define KR_PMAP_CACHE_SLOTS   4
#define KR_RESOLVE_MEMO_SLOTS 32 /* resolved chains remembered (daemon/resolve.c) */
#define KR_FWATCH_DIRS_MAX    16 /* directories of config files watched (daemon/fwatch.c) */

/* keyrole console (daemon/console.c, ops_console.c). */
#define KR_DURATION_MAX         129600 /* "duration" on the wire: GetFederationToken's most */
#define KR_CONSOLE_DURATION_MIN 900    /* the console session: 15 minutes .. */
#define KR_CONSOLE_DURATION_MAX 43200  /* .. 12 hours */
#define KR_CONSOLE_RESP_MAX     16384  /* the federation endpoint's answer ({"SigninToken":...}) */
#define KR_CONSOLE_URL_MAX      8192   /* a sign-in URL (KR_BROWSER_URL_MAX for the client) */
#define KR_CONSOLE_NAME_MAX     32     /* GetFederationToken's Name: 2 .. 32 of [\w+=,.@-] */

/* Web identity, instance metadata, container credentials (source_webid.c, source_imds.c,
 * source_container.c, metadata.c). */
#define KR_WEBID_TOKEN_MAX      20480       /* a web identity token file (STS takes 20,000 chars) */
#define KR_CONTAINER_TOKEN_MAX  8192        /* AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) */
#define KR_METADATA_RESP_MAX    (64 * 1024) /* one IMDS or container endpoint answer */
#define KR_IMDS_TOKEN_MAX       1024        /* an IMDSv2 session token */
#define KR_IMDS_ROLE_MAX        128         /* an instance profile's role name (IAM: 64) */
#define KR_IMDS_TIMEOUT_MAX_S   3600        /* metadata_service_timeout: at most an hour */
#define KR_IMDS_ATTEMPTS_MAX    10          /* metadata_service_num_attempts: at most ten */
#define KR_CONTAINER_TIMEOUT_MS 2000        /* botocore's ContainerMetadataFetcher: 2 s, */
#define KR_CONTAINER_ATTEMPTS   3           /* 3 attempts, */
#define KR_CONTAINER_SLEEP_MS   1000        /* 1 s apart */

#endif
