/*
 * Where the agent socket lives: KEYROLE_SOCKET if set, else
 * $XDG_RUNTIME_DIR/keyrole/agent.sock, else /tmp/keyrole-UID/agent.sock.
 * The directory must be ours and 0700 (the daemon makes it so).
 */
#ifndef KR_SOCKPATH_H
#define KR_SOCKPATH_H

#include <stddef.h>

/* Write the default socket path into out; KR_ERR_TOOBIG if it does not fit. */
int sockpath_default(char *out, size_t n);

/*
 * Create the parent directory of path (mode 0700) if missing, and check
 * that it is a directory owned by us that nobody else may write to: a
 * keyrole* directory is made 0700, any other (a user's --socket choice)
 * is refused when group or others may write to it (even if sticky).
 * KR_ERR_PERM if it is unusable; KR_ERR_IO on other failures.
 */
int sockpath_prepare_dir(const char *path);

#endif
