/*
 * Every size cap and deadline in keyrole, in one place (named caps.h, not
 * limits.h, so that it never shadows the C library's <limits.h>). A buffer gets its
 * cap when it is made; input over a cap is refused, never truncated.
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
#define KR_CLIENT_CONNECT_MS 3000              /* wait for an autostarted daemon */
#define KR_CLIENT_REPLY_MS   (120 * 1000)      /* whole answer, STS retries included */
#define KR_CLIENT_BUSY_MS    10000             /* retry a daemon at its connection cap */
#define KR_CLIENT_OUT_MAX    (8 * 1024 * 1024) /* text we print (status/check of a big config) */
#define KR_CLIENT_LINE_MAX   2048              /* the one stderr line (failure or warning) */
#define KR_ADD_INPUT_MAX     4096              /* `keyrole add` input on stdin */
#define KR_CONN_DETAIL_MAX   600               /* why a connection failed, for that line */

/* JSON the client reads (common/json.c): a reply is the largest text. */
#define KR_JSON_MAX        KR_RESP_MAX
#define KR_JSON_DEPTH_MAX  64 /* nested arrays and objects */
#define KR_JSON_NUMBER_MAX 64 /* characters of one number */

/* Strings inside messages and config. */
#define KR_NAME_MAX       256  /* profile name */
#define KR_VALUE_MAX      4096 /* one config value */
#define KR_PATH_MAX       4096
#define KR_ENV_MAX        32 /* environment entries in a request */
#define KR_MFA_CODE_MAX   16
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
#define KR_PROFILE_ARGV_MAX 256         /* words of a credential_process command line */
#define KR_CACHE_KEY_MAX    (64 * 1024) /* one step's cache key (daemon/cachekey.h) */

/* STS over HTTP. */
#define KR_HTTP_RESP_MAX   (256 * 1024) /* STS response body cap */
#define KR_HTTP_CONNECT_MS 5000
#define KR_HTTP_TOTAL_MS   15000 /* one attempt */
#define KR_STS_DEADLINE_MS 60000 /* all attempts of one call */
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

/* Credentials. */
#define KR_REFRESH_MARGIN_S (15 * 60) /* botocore refreshes below this */
#define KR_MIN_LEFT_S       60        /* never hand out less than this */
#define KR_CHAINED_MAX_S    3600      /* STS cap for role chaining */
/* A stored lifetime above this is not believed (STS: 36 h at most). */
#define KR_SESSION_LIFETIME_MAX_S (7 * 24 * 3600)

#endif
