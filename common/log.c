/*
 * log — the daemons' log sinks: stderr and syslog.
 *
 * Each message becomes exactly one line, written to stderr with a single
 * write(2), so lines from several processes (or threads) sharing the
 * stream never interleave; a line is at most LOG_LINE_MAX bytes, below
 * PIPE_BUF, so the write is atomic on a pipe too. Longer messages are cut
 * and end in "...", and newlines inside a message become spaces so one
 * message stays one journal entry.
 *
 * The state is process-wide, as a log is. Set it up with log_open() from
 * the main thread before starting workers.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"

#define LOG_LINE_MAX 2048

static struct {
    char ident[64];       /* openlog() keeps the pointer: it must live here */
    enum log_level level; /* messages above it are dropped */
    int sinks;            /* LOG_TO_STDERR | LOG_TO_SYSLOG */
    bool journal;         /* stderr is journald's stream: "<N>" prefixes */
    bool syslog_open;
} g_log = {"", LOG_LEVEL_INFO, LOG_TO_STDERR, false, false};

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* True if JOURNAL_STREAM ("device:inode") names the file stderr is; only
 * then was stderr handed to us by systemd (sd-daemon(3)). */
static bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int used = 0;

    if (env == NULL || sscanf(env, "%llu:%llu%n", &dev, &ino, &used) != 2 || env[used] != '\0' ||
        fstat(STDERR_FILENO, &st) < 0)
        return false;
    return st.st_dev == dev && st.st_ino == ino;
}

void log_open(const char *ident, enum log_level level, int sinks)
{
    if (g_log.syslog_open)
        closelog();
    snprintf(g_log.ident, sizeof g_log.ident, "%s",
             ident != NULL ? ident : program_invocation_short_name);
    g_log.level = level;
    g_log.sinks = sinks;
    g_log.journal = stderr_is_journal();
    g_log.syslog_open = (sinks & LOG_TO_SYSLOG) != 0;
    if (g_log.syslog_open)
        openlog(g_log.ident, LOG_PID, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
    g_log.level = level;
}

enum log_level log_get_level(void)
{
    return g_log.level;
}

/* Closes syslog; later lines go to stderr only, with the same level and ident. */
void log_close(void)
{
    if (g_log.syslog_open)
        closelog();
    g_log.syslog_open = false;
    g_log.sinks = LOG_TO_STDERR;
    g_log.journal = false;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level >= sizeof level_names / sizeof level_names[0])
        return "?";
    return level_names[level];
}

/* The line prefix: "<6>" for journald, else UTC time, ident, pid, level.
 * The time is the system clock's, also when the hall clock is injected, so
 * that the lines of every process on the machine sort together. */
static int line_prefix(char *out, size_t size, enum log_level level)
{
    int64_t now = clk_system_utc_ms();
    time_t secs = (time_t)(now / 1000);
    const char *ident = g_log.ident[0] != '\0' ? g_log.ident : program_invocation_short_name;
    struct tm tm;

    if (g_log.journal)
        return snprintf(out, size, "<%d>", level_prio[level]);
    gmtime_r(&secs, &tm);
    return snprintf(out, size,
                    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%ld] %s: ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000),
                    ident, (long)getpid(), level_names[level]);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere left to report it */
        p += w;
        n -= (size_t)w;
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    static const char cut[] = "...\n";
    size_t len, msg_start, room;
    int saved = errno, n;
    va_list ap;

    if ((unsigned)level > LOG_LEVEL_DEBUG || level > g_log.level)
        return;
    n = line_prefix(line, sizeof line, level);
    msg_start = n > 0 ? (size_t)n : 0;  /* under 128 bytes: the ident is short */
    room = sizeof line - msg_start - 1; /* keep one byte for "\n" */
    errno = saved;                      /* for %m */
    va_start(ap, fmt);
    n = vsnprintf(line + msg_start, room + 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > room) {
        len = sizeof line;
        memcpy(line + len - (sizeof cut - 1), cut, sizeof cut - 1);
    } else {
        len = msg_start + (size_t)n;
        line[len++] = '\n';
    }
    for (char *p = line + msg_start; p < line + len - 1; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (g_log.sinks & LOG_TO_STDERR)
        write_all(STDERR_FILENO, line, len);
    if (g_log.sinks & LOG_TO_SYSLOG) {
        line[len - 1] = '\0';
        syslog(level_prio[level], "%s", line + msg_start);
    }
    errno = saved;
}
