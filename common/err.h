/*
 * keyrole error codes: 0 is success, failures are small negative numbers.
 * Their stable names (err_name(): "nomem", "config", ...) travel over the
 * socket (doc/protocol.txt), never the numbers, so the client can turn a
 * daemon's failure into an exit status and one line. Append new codes at
 * the end (before KR_ERR__LAST) and give each a name in err.c.
 *
 * A failure meant for a person travels as one struct err_detail: the code,
 * what failed, where (a config file and line, when one is to blame) and
 * how to fix it. It never holds a secret.
 */
#ifndef KR_ERR_H
#define KR_ERR_H

#include "caps.h"

#include <stdarg.h>
#include <stddef.h>

enum {
	KR_OK = 0,
	KR_ERR_NOMEM = -1,        /* out of memory */
	KR_ERR_INVAL = -2,        /* invalid argument or request */
	KR_ERR_IO = -3,           /* read/write/socket failure */
	KR_ERR_TOOBIG = -4,       /* input over its size cap */
	KR_ERR_PROTO = -5,        /* malformed frame or message */
	KR_ERR_VERSION = -6,      /* unsupported protocol version */
	KR_ERR_TIMEOUT = -7,      /* a deadline passed */
	KR_ERR_NODAEMON = -8,     /* no daemon answers on the socket */
	KR_ERR_PERM = -9,         /* permission denied (peer uid, file mode) */
	KR_ERR_BUSY = -10,        /* too many connections */
	KR_ERR_UNKNOWN_OP = -11,  /* request names an unknown operation */
	KR_ERR_NOPROFILE = -12,   /* profile not found */
	KR_ERR_CONFIG = -13,      /* config file invalid for this profile */
	KR_ERR_MFA = -14,         /* an MFA code is required */
	KR_ERR_AWS = -15,         /* AWS answered with an error code */
	KR_ERR_NETWORK = -16,     /* STS could not be reached */
	KR_ERR_PARSE = -17,       /* response could not be parsed */
	KR_ERR_KEYRING = -18,     /* keyring backend failure */
	KR_ERR_PROCESS = -19,     /* credential_process/mfa_process failed */
	KR_ERR_UNSUPPORTED = -20, /* feature not supported */
	KR_ERR_NOCREDS = -21,     /* no credentials for a source profile */
	KR_ERR_INTERNAL = -22,    /* a bug: should not happen */
	KR_ERR_EXPIRED = -23,     /* credentials expired and not refreshable */
	KR_ERR_TLS = -24,         /* TLS failed: certificate not trusted, handshake */
	KR_ERR_LOGIN = -25,       /* an IAM Identity Center session needs a login */
	KR_ERR__LAST = -26
};

/* One failure for a person (see above). Fixed size: filled on any path, even out of memory. */
struct err_detail {
	int code;                   /* KR_ERR_*; 0 while nothing failed */
	int line;                   /* line in file, 0 for none */
	char file[KR_PATH_MAX + 1]; /* the config file to blame, "" for none */
	char msg[KR_ERR_MSG_MAX];   /* what failed: profile, role, AWS code and message */
	char fix[KR_ERR_FIX_MAX];   /* what usually fixes it, "" for nothing to say */
};

/* Fill e (file and fix may be NULL); msg from fmt. Over-long parts are cut, never overflowed. */
void err_set(struct err_detail *e, int code, const char *file, int line, const char *fix,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* err_set() with a va_list. */
void err_vset(struct err_detail *e, int code, const char *file, int line, const char *fix,
              const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* err_set() with only a code: the message is err_str(code). */
void err_set_code(struct err_detail *e, int code);

/* The one line: "FILE:LINE: MSG (FIX)", with the parts e has; msg err_str(code) if empty. */
void err_format(const struct err_detail *e, char *out, size_t n);

/* A short, static, human-readable description; never NULL. */
const char *err_str(int err);

/* The stable identifier ("KR_ERR_NOMEM" without the prefix: "nomem"). */
const char *err_name(int err);

/* Map a name from err_name() back to its code; KR_ERR_INTERNAL if unknown. */
int err_from_name(const char *name);

#endif
