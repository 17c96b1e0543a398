/*
 * log — the daemons' log sinks: stderr and syslog.
 *
 * Each message becomes exactly one line, written to stderr with a single
 * write(2), so lines from several processes (or threads) sharing the
 * stream never interleave; a line is at most LOG_LINE_MAX bytes, below
 * PIPE_BUF, so the write is atomic on a pipe too. Longer messages are cut
 * and end in "...", newlines inside a message become spaces so one
 * message stays one journal entry, and every other control character is
 * written as "\xNN" (escape_into).
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

/* Copy in to out (room bytes at most): a newline or carriage return as a
 * space, every other control character and DEL as "\xNN", so that no
 * string a device or a file supplied (a firmware version holding ESC
 * bytes, a name holding a newline) can forge a line or drive a terminal.
 * Bytes from 0x80 up are copied: UTF-8 text stays readable. Returns the
 * bytes written; *cut when in did not fit. */
static size_t escape_into(char *out, size_t room, const char *in, bool *cut)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    *cut = false;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        bool space = *p == '\n' || *p == '\r';
        bool control = !space && (*p < 0x20 || *p == 0x7f);
        size_t need = control ? 4 : 1;

        if (n + need > room) {
            *cut = true;
            break;
        }
        if (space) {
            out[n++] = ' ';
        } else if (control) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX], raw[LOG_LINE_MAX];
    static const char cut_mark[] = "...\n";
    size_t len, msg_start, room;
    int saved = errno, n;
    bool cut;
    va_list ap;

    if ((unsigned)level > LOG_LEVEL_DEBUG || level > g_log.level)
        return;
    n = line_prefix(line, sizeof line, level);
    msg_start = n > 0 ? (size_t)n : 0;  /* under 128 bytes: the ident is short */
    room = sizeof line - msg_start - 1; /* keep one byte for "\n" */
    errno = saved;                      /* for %m */
    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0)
        raw[0] = '\0';
    len = msg_start + escape_into(line + msg_start, room, raw, &cut);
    if (cut || (size_t)n >= sizeof raw) {
        len = len + sizeof cut_mark - 1 <= sizeof line ? len : sizeof line - (sizeof cut_mark - 1);
        memcpy(line + len, cut_mark, sizeof cut_mark - 1);
        len += sizeof cut_mark - 1;
    } else {
        line[len++] = '\n';
    }
    if (g_log.sinks & LOG_TO_STDERR)
        write_all(STDERR_FILENO, line, len);
    if (g_log.sinks & LOG_TO_SYSLOG) {
        line[len - 1] = '\0';
        syslog(level_prio[level], "%s", line + msg_start);
    }
    errno = saved;
}
