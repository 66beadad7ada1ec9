/*
 * Reading a line from the controlling terminal (/dev/tty), with echo off
 * for secrets, as ssh's passphrase prompt does. Used for MFA codes and for
 * the keys of `keyrole add`, never for anything read from stdin.
 *
 * Invariants: the terminal's echo setting is restored on every path,
 * including SIGINT/SIGTERM/SIGHUP/SIGQUIT while the prompt is up; the line
 * read is wiped from every intermediate buffer; only the caller's buffer
 * keeps it.
 */
#ifndef KR_TTY_H
#define KR_TTY_H

#include <stddef.h>
#include <stdint.h>

/* Open /dev/tty (O_CLOEXEC, O_NOCTTY). KR_ERR_IO when there is no terminal. */
int tty_open(int *ret_fd);

/* The same, write-only: for notes that must not reach a captured stderr. */
int tty_open_write(int *ret_fd);

/*
 * Write prompt to the terminal fd and read one line (without its newline)
 * into ret_line (n bytes incl. the NUL). Echo is turned off unless echo is
 * set. KR_ERR_TOOBIG if the line does not fit, KR_ERR_TIMEOUT past
 * deadline_ms (CLOCK_MONOTONIC ms), KR_ERR_IO on EOF or a read error.
 */
int tty_read_line(int fd, const char *prompt, int echo, int64_t deadline_ms, size_t n,
                  char *ret_line);

#endif
