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
#define KR_CLIENT_CONNECT_MS 3000         /* wait for an autostarted daemon */
#define KR_CLIENT_REPLY_MS   (120 * 1000) /* whole answer, STS retries included */
#define KR_CLIENT_BUSY_MS    10000        /* retry a daemon at its connection cap */

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

/* Config files. */
#define KR_CONFIG_FILE_MAX (4 * 1024 * 1024)
#define KR_CONFIG_LINE_MAX (64 * 1024)
#define KR_CHAIN_MAX       16 /* hops in one chain (depth limit) */

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

/* Credentials. */
#define KR_REFRESH_MARGIN_S (15 * 60) /* botocore refreshes below this */
#define KR_MIN_LEFT_S       60        /* never hand out less than this */
#define KR_CHAINED_MAX_S    3600      /* STS cap for role chaining */
/* A stored lifetime above this is not believed (STS: 36 h at most). */
#define KR_SESSION_LIFETIME_MAX_S (7 * 24 * 3600)

#endif
