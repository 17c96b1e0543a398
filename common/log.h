/*
 * log — the daemons' logging. Libraries do not log; they return errors and
 * the daemon decides what to say.
 *
 * Lines go to stderr (with a UTC timestamp and the level), to syslog, or
 * both. When stderr is connected to journald (systemd sets JOURNAL_STREAM)
 * each line is prefixed with its "<N>" priority instead of a timestamp, as
 * sd-daemon(3) describes, so journald keeps the levels.
 */
#ifndef ONEWINDOW_LOG_H
#define ONEWINDOW_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#define LOG_TO_STDERR 1
#define LOG_TO_SYSLOG 2

/* ident names the program in syslog and on stderr. Safe to call again (on
 * reload) to change the level or the sinks. */
void log_open(const char *ident, enum log_level level, int sinks);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_close(void);

/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
