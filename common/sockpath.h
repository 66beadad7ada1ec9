/*
 * Where the agent socket lives. The client and the daemon compute it with
 * the same code, so that they meet:
 *
 *   1. $KEYROLE_SOCKET, if set;
 *   2. $XDG_RUNTIME_DIR/keyrole/agent.sock, if XDG_RUNTIME_DIR is absolute;
 *   3. /run/user/UID/keyrole/agent.sock, if /run/user/UID is a directory of
 *      ours that nobody else may write to (the runtime directory logind
 *      made, when the variable was lost: su, sudo, cron, ssh without PAM);
 *   4. $XDG_CACHE_HOME/keyrole/agent.sock if XDG_CACHE_HOME is absolute,
 *      else $HOME/.cache/keyrole/agent.sock: a place under our home, as
 *      gpg-agent falls back to ~/.gnupg.
 *
 * Never a fixed name in /tmp: any user could make /tmp/keyrole-UID first
 * and so deny us the service. A relative path (KEYROLE_SOCKET, or the
 * daemon's --socket) means the current directory at start: it is made
 * absolute once, so that a daemon started from elsewhere (the client starts
 * it in /) or one that changes directory later uses the same socket.
 *
 * The directory must be ours and not writable by others (the daemon makes
 * it so); sockpath_prepare_dir() checks it.
 */
#ifndef KR_SOCKPATH_H
#define KR_SOCKPATH_H

#include <stddef.h>

/*
 * Write the default socket path (absolute) into out. KR_ERR_TOOBIG if it
 * does not fit in a socket address; KR_ERR_INVAL if there is no place for
 * it (none of the variables above, no /run/user/UID); KR_ERR_IO if a
 * relative KEYROLE_SOCKET cannot be resolved (no current directory).
 */
int sockpath_default(char *out, size_t n);

/* The same, with run_user in place of "/run/user" (a test seam). */
int sockpath_default_at(const char *run_user, char *out, size_t n);

/*
 * path made absolute against the current directory into out (n bytes, at
 * most a socket address's worth). KR_ERR_TOOBIG if it does not fit;
 * KR_ERR_IO if the current directory cannot be read.
 */
int sockpath_absolute(const char *path, char *out, size_t n);

/* One phrase saying why sockpath_default() failed with err, for the user. */
const char *sockpath_why(int err);

/*
 * Create the parent directory of path (an absolute path) if missing, with
 * any missing directories above it (mode 0700), and check that it is a
 * directory owned by us that nobody else may write to: a keyrole*
 * directory is made 0700, any other (a user's --socket choice) is refused
 * when group or others may write to it (even if sticky).
 * KR_ERR_INVAL for a relative path; KR_ERR_PERM if the directory is
 * unusable; KR_ERR_IO on other failures.
 */
int sockpath_prepare_dir(const char *path);

#endif
