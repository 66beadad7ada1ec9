/*
 * What keyrole prints. A failure is one line on stderr; everything for
 * stdout is gathered in the run's buffer (struct cmd_ctx.out) and written
 * in one go at the end.
 *
 * Invariants:
 * - A stderr line is whole: "keyrole: [PROFILE: ]MESSAGE\n", at most
 *   KR_CLIENT_LINE_MAX bytes, written with one write(); control characters
 *   in it become spaces, so a message from the daemon stays one line.
 * - stdout is written completely or the exit status is non-zero (EPIPE,
 *   ENOSPC are failures); the buffer is wiped once written.
 * - Callers never pass a secret to out_fail().
 */
#ifndef KR_OUT_H
#define KR_OUT_H

#include "cmd.h"
#include "json.h"

/*
 * Report a failure on one stderr line (prefixed with x->profile when x has
 * one; x may be NULL) and return the exit status for err.
 */
int out_fail(const struct cmd_ctx *x, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write x->out to stdout and empty it; the exit status (a short write is a failure). */
int out_emit(struct cmd_ctx *x);

/* Print item as pretty JSON and a newline (--json): out_emit()'s status. */
int out_json(struct cmd_ctx *x, const struct json *item);

#endif
