/*
 * Obtaining an MFA code for the daemon: from the profile's mfa_process
 * (run without a shell) or from a prompt on the terminal.
 *
 * Invariants: a code lives only in the caller's buffer; every intermediate
 * copy (process output, terminal line) is wiped. mfa_process runs with our
 * stdin and stderr (it may prompt), its stdout captured and bounded by
 * KR_PROC_OUT_MAX, and is killed at its deadline.
 */
#ifndef KR_MFA_H
#define KR_MFA_H

#include "caps.h"

#include <stddef.h>
#include <stdint.h>

#define KR_MFA_CODE_BUF (KR_MFA_CODE_MAX + 1)

/* 1 if code is an MFA code: exactly KR_MFA_CODE_LEN digits (valid_mfa_code()). */
int mfa_code_valid(const char *code);

/*
 * Run cmdline (split by shellquote_split(), looked up on PATH) and take its
 * trimmed stdout as the code. KR_ERR_PARSE for a bad command line or
 * output that is not a code, KR_ERR_PROCESS if it cannot run or exits
 * non-zero (errno is then the error of its exec, ENOENT when the program
 * was not found, or 0 when it ran), KR_ERR_TIMEOUT past min(deadline_ms, KR_PROC_TIMEOUT_MS),
 * KR_ERR_TOOBIG for too much output.
 */
int mfa_from_process(const char *cmdline, int64_t deadline_ms, char ret_code[KR_MFA_CODE_BUF]);

/*
 * Prompt "Enter MFA code for SERIAL: " on /dev/tty (no echo) and read the
 * code. KR_ERR_IO when there is no terminal; KR_ERR_PARSE for an invalid
 * code; KR_ERR_TIMEOUT past deadline_ms.
 */
int mfa_from_tty(const char *serial, int64_t deadline_ms, char ret_code[KR_MFA_CODE_BUF]);

/*
 * Ask a person for the code of serial the way how says (valid_mfa_prompt();
 * NULL is "auto"):
 *   terminal   mfa_from_tty();
 *   askpass    the program KEYROLE_ASKPASS names;
 *   /PATH      that askpass program;
 *   zenity, kdialog   that dialog;
 *   auto       the terminal if there is one, else KEYROLE_ASKPASS, else
 *              (DISPLAY or WAYLAND_DISPLAY set) SSH_ASKPASS, zenity or
 *              kdialog, the first that is there.
 * An askpass program gets the prompt as its one argument and prints the
 * code; every program runs as mfa_from_process() runs mfa_process (no
 * shell, stdout bounded and wiped, killed past the deadline). ret_way
 * (n bytes) names what was used, for messages. KR_ERR_IO when there is no
 * way to ask (no terminal for terminal, no KEYROLE_ASKPASS for askpass,
 * nothing found for auto); otherwise mfa_from_tty()'s or
 * mfa_from_process()'s errors (errno ENOENT: the program was not found).
 */
int mfa_ask(const char *how, const char *serial, int64_t deadline_ms,
            char ret_code[KR_MFA_CODE_BUF], char *ret_way, size_t n);

#endif
