/* Logging for the daemons' top layers: one line per event, key=value fields.
 * Library code (everything under lib/ but this file) never logs. */
#ifndef DITTO_LOG_H
#define DITTO_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* The one mutable global besides parsed options: the threshold. */
extern enum log_level log_threshold;

/* Sets the program name printed on each line (a string literal or argv[0]). */
void log_set_ident(const char *ident);

/* Prints "ts=... prog=IDENT level=LVL msg=<fmt...>" to stderr when lvl is at or
 * below the threshold. fmt should continue in key=value style, e.g.
 * log_msg(LOG_INFO, "vm_started tenant=%s pid=%d", t, pid). */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "error|warn|info|debug"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *ret);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
