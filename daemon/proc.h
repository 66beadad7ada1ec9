/*
 * Running another tool's credential_process (and only that) without a
 * shell, on the event loop: its stdout is read with a size cap, its stderr
 * is read to the end (only its tail is kept), the whole run has a deadline
 * after which the child and its process group are killed, and the JSON it
 * prints is checked against the credential_process contract (Version 1,
 * AccessKeyId, SecretAccessKey, optional SessionToken and Expiration).
 *
 * The output carries secrets: the buffers are wiped; nothing reaches a
 * message but the last line of the tool's stderr on failure or timeout.
 */
#ifndef KR_PROC_H
#define KR_PROC_H

#include "err.h"
#include "loop.h"
#include "sts.h"

#include <stddef.h>

struct proc;

/*
 * err: KR_OK (creds filled: the callee takes ownership of the strings by
 * stealing them, the rest is wiped after the callback; e is NULL),
 * KR_ERR_PROCESS (non-zero exit, bad output) or KR_ERR_TIMEOUT: e says
 * which ("PROG exited with status 3: LAST STDERR LINE") and what may fix
 * it; e->code is err. e is borrowed for the callback.
 */
typedef void (*proc_done_fn)(void *userdata, int err, struct sts_creds *creds,
                             const struct err_detail *e);

/*
 * Start argv[0] (looked up in PATH) with stdin from /dev/null; after
 * timeout_ms it is killed and done gets KR_ERR_TIMEOUT. When it cannot be
 * started at all: KR_ERR_PROCESS with errno saying why (ENOENT: not found).
 */
int proc_start(struct loop *l, char *const argv[], int timeout_ms, proc_done_fn done,
               void *userdata, struct proc **ret);

/* Kill the child (if still running) and forget it; done is not called. NULL ok. */
void proc_cancel(struct proc *p);

/*
 * Parse credential_process JSON v1. KR_ERR_PROCESS for anything the
 * contract does not allow, *ret untouched and e filled (code, reason,
 * the contract as the fix; never a value from the output). Exposed for
 * tests and fuzzing.
 */
int proc_parse_creds(const char *json, size_t len, struct sts_creds *ret, struct err_detail *e);

#endif
