/*
 * audit — appending to and verifying the hash-chained event log (see
 * audit.h). Lines are bounded (AUDIT_LINE_MAX) and written with one
 * write() on an O_APPEND descriptor followed by fsync, so a crash leaves
 * whole lines only.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kub_sign.h"
#include "slots.h"

#define AUDIT_LINE_MAX 4096

/* JSON string body of s (quotes, backslashes and control bytes escaped),
 * truncated to fit. */
static void json_str(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    for (; s != NULL && *s != '\0' && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* Walk the log line by line: the hash of the last line, the entry count,
 * and whether the chain holds. Returns 0, or -1 (EBADMSG, *bad_line). */
static int walk(const char *path, FILE *out, uint8_t last[32], long *count, long *bad_line)
{
    FILE *f = fopen(path, "re");
    char line[AUDIT_LINE_MAX + 2], prev_hex[65], want[80];

    memset(last, 0, 32);
    *count = 0;
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);
        char *p;

        (*count)++;
        if (len == 0 || line[len - 1] != '\n')
            goto bad;
        line[--len] = '\0';
        kub_hex(last, 32, prev_hex);
        snprintf(want, sizeof want, ",\"prev\":\"%s\"}", prev_hex);
        p = strstr(line, ",\"prev\":\"");
        if (p == NULL || strcmp(p, want) != 0 || line[0] != '{')
            goto bad;
        if (out != NULL)
            fprintf(out, "%s\n", line);
        kub_sha256(line, len, last);
    }
    fclose(f);
    return 0;
bad:
    fclose(f);
    if (bad_line != NULL)
        *bad_line = *count;
    errno = EBADMSG;
    return -1;
}

int audit_append(const char *root, const char *event, const char *slot, const char *version,
                 const char *detail)
{
    char path[4096], line[AUDIT_LINE_MAX + 1], ev[64], sl[8], ver[80], det[3072], prev[65];
    char when[32];
    uint8_t last[32];
    long count;
    time_t now = time(NULL);
    struct tm tm;
    int fd, n;

    if (slots_path(path, sizeof path, root, "state/events.log") == NULL)
        return -1;
    if (walk(path, NULL, last, &count, NULL) < 0)
        return -1;
    kub_hex(last, 32, prev);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_str(ev, sizeof ev, event);
    json_str(sl, sizeof sl, slot);
    json_str(ver, sizeof ver, version);
    json_str(det, sizeof det, detail);
    n = snprintf(line, sizeof line,
                 "{\"seq\":%ld,\"time\":\"%s\",\"event\":\"%s\",\"slot\":\"%s\",\"version\":\"%s\","
                 "\"detail\":\"%s\",\"prev\":\"%s\"}\n",
                 count + 1, when, ev, sl, ver, det, prev);
    if (n < 0 || (size_t)n >= sizeof line) {
        errno = EOVERFLOW;
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

long audit_verify(const char *root, FILE *out, long *bad_line)
{
    char path[4096];
    uint8_t last[32];
    long count;

    if (slots_path(path, sizeof path, root, "state/events.log") == NULL)
        return -1;
    if (walk(path, out, last, &count, bad_line) < 0)
        return -1;
    return count;
}
