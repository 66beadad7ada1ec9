/*
 * What a name, key or code must look like, checked the same way by the
 * client (before it sends) and the daemon (when a request arrives). A
 * string over its cap, or with a byte the rule does not allow, is refused;
 * nothing here truncates. NULL is never valid.
 */
#ifndef KR_VALID_H
#define KR_VALID_H

#include <stddef.h>

/* A profile name: 1..KR_NAME_MAX bytes, no control characters (< 0x20, 0x7f). */
int valid_profile_name(const char *s);

/* The same for a name of len bytes that may hold a NUL (from the wire): a NUL is refused. */
int valid_profile_name_n(const char *s, size_t len);

/* An access key id: KR_KEY_ID_MIN..KR_KEY_ID_MAX characters of A-Z and 0-9. */
int valid_access_key_id(const char *s);

/* A secret access key: 1..KR_SECRET_KEY_MAX printable ASCII characters, no blank. */
int valid_secret_key(const char *s);

/* An MFA code: exactly KR_MFA_CODE_LEN ASCII digits (STS's TokenCode: 6 digits). */
int valid_mfa_code(const char *s);

/*
 * A region name as botocore checks it: 1..63 ASCII letters, digits and
 * '-', neither first nor last a '-', not digits alone ("12345").
 */
int valid_region(const char *s);

/*
 * How to ask for an MFA code without a code given (keyroled's mfa-prompt,
 * a profile's keyrole_mfa_prompt): "auto", "terminal", "askpass",
 * "zenity", "kdialog", or the absolute path of an askpass program (1 to
 * KR_PATH_MAX - 1 bytes, no control characters).
 */
int valid_mfa_prompt(const char *s);

#endif
