/*
 * What keyrole prints. A failure is one line on stderr; everything for
 * stdout is gathered in the run's buffer (struct cmd_ctx.out) and written
 * in one go at the end.
 *
 * Invariants:
 * - A stderr line (out_fail(), out_warn()) is whole: "keyrole: [PROFILE: ]
 *   MESSAGE\n", at most KR_CLIENT_LINE_MAX bytes, written with one write().
 * - Text is scrubbed in one place (out.c's scrub()): in every stderr line,
 *   every notice (out_notice()) and in everything out_printf()/out_line() add to stdout, each
 * control character becomes a space, byte for byte: C0 (< 0x20: \n \r \t ESC...), DEL (0x7f) and
 * the C1 controls U+0080..U+009F as UTF-8 (0xc2 0x80-0x9f, two spaces). So a string from the daemon
 * (an error message, a refresh error, a note, a status entry, a check report, an ARN) can neither
 *   forge a line nor send the terminal an escape sequence; the widths of
 *   the status table stay as they were. Line ends come only from
 *   out_line()/out_eol(). Not scrubbed, because they escape by their own
 *   rules: --json output (out_json(), json_print()) and `env` lines
 *   (shellquote_append()); help texts are ours.
 * - stdout is written completely or the exit status is non-zero (EPIPE,
 *   ENOSPC are failures); the buffer is wiped once written.
 * - Callers never pass a secret to out_fail() or out_warn().
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

/* One warning line on stderr, as out_fail() prints it; the command goes on. */
void out_warn(const struct cmd_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One line of text for a person on fd (the terminal, or stderr when there
 * is none), scrubbed, written at once, without the "keyrole: " prefix: the
 * steps of an IAM Identity Center login (login.c). Never a secret.
 */
void out_notice(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Append text to x->out, every control character in it turned into a space
 * (fmt itself holds no newline: see out_line()). KR_ERR_TOOBIG past
 * KR_CLIENT_OUT_MAX (x->out unchanged).
 */
int out_printf(struct cmd_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* out_printf() and a newline: one whole line of text. */
int out_line(struct cmd_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* End the line that out_printf() calls made. */
int out_eol(struct cmd_ctx *x);

/* Write x->out to stdout and empty it; the exit status (a short write is a failure). */
int out_emit(struct cmd_ctx *x);

/* Print item as pretty JSON and a newline (--json): out_emit()'s status. */
int out_json(struct cmd_ctx *x, const struct json *item);

#endif
