/*
 * The help texts of keyrole, printed as they are (each ends with a
 * newline): help_main for `keyrole --help`, help_COMMAND for each command.
 */
#ifndef KR_HELP_H
#define KR_HELP_H

extern const char help_main[];
extern const char help_get[];
extern const char help_env[];
extern const char help_exec[];
extern const char help_status[];
extern const char help_forget[];
extern const char help_add[];
extern const char help_wrap[];
extern const char help_remove[];
extern const char help_check[];
extern const char help_login[];
extern const char help_logout[];
extern const char help_sso[];
extern const char help_console[];
extern const char help_version[];
extern const char help_help[];

#endif
