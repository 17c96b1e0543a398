/*
 * conf — table-driven INI configuration (see conf.h for the contract and the
 * file syntax).
 *
 * A load runs in four steps over one struct conf_loader:
 *
 *   begin     check the table, copy out into a scratch buffer, clear the
 *             table's fields there
 *   defaults  parse every default with the same code as a file value
 *   file      inih lexes, conf_read_line() feeds it one physical line at a
 *             time (counting lines, stripping indentation, checking section
 *             headers), conf_on_pair() stores each key
 *   finish    check required keys, then either copy the scratch into out or
 *             throw it away
 *
 * Only the first error is kept: inih goes on parsing after an error, and
 * errors arrive in line order, except that inih reports lines it could not
 * parse only when it returns; such a line replaces a later error.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_WHY_MAX 512 /* reason text after "[s] k = v: " */

struct conf_loader {
    const conf_option *table;
    size_t n;               /* options before CONF_END */
    unsigned char *scratch; /* out_size bytes; the result being built */
    size_t size;
    const char *path; /* as given, for messages; NULL for defaults only */
    char *dir;        /* PATH values resolve against it; NULL = as written */
    int *set_line;    /* per option: line that set it, 0 = not in the file */
    FILE *f;
    int lineno;   /* line conf_read_line() last returned */
    bool failed;  /* err holds the first error */
    int err_line; /* its line; 0 or -1 if none (see conf_fail) */
    int errnum;   /* errno to return with it */
    char *err;
    size_t errlen;
};

static const struct {
    const char *word;
    bool value;
} conf_bools[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false},
    {"on", true},   {"off", false},   {"1", true},   {"0", false},
};

static const struct {
    const char *suffix;
    int64_t ms;
} conf_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};

/* Record an error unless one is already recorded; a line number earlier
 * than the recorded one's still wins (inih's late syntax report). The
 * message gets "file:line: " in front, "file: " for line 0, nothing for a
 * negative line (messages that name the file themselves, table errors). */
__attribute__((format(printf, 4, 5))) static void conf_fail(struct conf_loader *ld, int line,
                                                            int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t used = 0;

    if (ld->failed && !(line > 0 && ld->err_line > 0 && line < ld->err_line))
        return;
    ld->failed = true;
    ld->err_line = line;
    ld->errnum = errnum;
    if (ld->err == NULL || ld->errlen == 0)
        return;
    if (ld->path != NULL && line > 0)
        snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);
    else if (ld->path != NULL && line == 0)
        snprintf(ld->err, ld->errlen, "%s: ", ld->path);
    else
        ld->err[0] = '\0';
    used = strlen(ld->err);
    va_start(ap, fmt);
    vsnprintf(ld->err + used, ld->errlen - used, fmt, ap);
    va_end(ap);
}

/* Append to a NUL-terminated buffer, truncating silently. */
__attribute__((format(printf, 3, 4))) static void conf_append(char *buf, size_t size,
                                                              const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    if (used + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* "250ms", "30s", "5m", "2h": the largest unit that divides ms exactly. */
static void conf_format_duration(char *buf, size_t size, int64_t ms)
{
    size_t i = sizeof conf_units / sizeof conf_units[0] - 1;

    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    while (i > 0 && ms % conf_units[i].ms != 0)
        i--;
    snprintf(buf, size, "%lld%s", (long long)(ms / conf_units[i].ms), conf_units[i].suffix);
}

static void conf_format_choices(char *buf, size_t size, const char *const *choices)
{
    buf[0] = '\0';
    for (size_t i = 0; choices != NULL && choices[i] != NULL; i++)
        conf_append(buf, size, "%s%s", i > 0 ? ", " : "", choices[i]);
}

/* Compare a table name with n bytes of user text, ignoring case. */
static bool conf_name_eq(const char *name, const char *s, size_t n)
{
    return strlen(name) == n && strncasecmp(name, s, n) == 0;
}

/* Narrow s[0..*n) to its part without surrounding whitespace. */
static const char *conf_trim(const char *s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)s[0]))
        s++, (*n)--;
    while (*n > 0 && isspace((unsigned char)s[*n - 1]))
        (*n)--;
    return s;
}

static bool conf_has_section(const struct conf_loader *ld, const char *s, size_t n)
{
    for (size_t i = 0; i < ld->n; i++)
        if (conf_name_eq(ld->table[i].section, s, n))
            return true;
    return false;
}

static size_t conf_field_size(conf_type type)
{
    switch (type) {
    case CONF_T_INT:
    case CONF_T_DURATION:
        return sizeof(int64_t);
    case CONF_T_BOOL:
        return sizeof(bool);
    case CONF_T_STRING:
    case CONF_T_PATH:
        return sizeof(char *);
    case CONF_T_ENUM:
        return sizeof(int);
    }
    return 0;
}

static bool conf_is_string(conf_type type)
{
    return type == CONF_T_STRING || type == CONF_T_PATH;
}

/* Decimal digits after an optional sign; *rest points after them. -1 when
 * there are no digits, -2 when the number does not fit in int64_t. */
static int conf_scan_i64(const char *s, int64_t *v, const char **rest)
{
    const char *p = s + (*s == '+' || *s == '-');
    char *end;
    long long x;

    if (!isdigit((unsigned char)*p))
        return -1;
    errno = 0;
    x = strtoll(s, &end, 10);
    *rest = end;
    if (errno == ERANGE)
        return -2;
    *v = x;
    return 0;
}

/* value against dir, as a new string: absolute and empty values and a NULL
 * dir leave it as written. */
static char *conf_resolve(const char *dir, const char *value)
{
    char *joined;

    if (dir == NULL || value[0] == '/' || value[0] == '\0')
        return strdup(value);
    if (asprintf(&joined, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", value) < 0)
        return NULL;
    return joined;
}

/* Parse text as o's type into the scratch field. 0, or an errno value
 * (ENOMEM or EINVAL) with the reason in why. */
static int conf_set(struct conf_loader *ld, const conf_option *o, const char *text, const char *dir,
                    char *why, size_t whylen)
{
    void *field = ld->scratch + o->offset;
    char lo[32], hi[32];
    const char *rest = NULL;
    int64_t v = 0;
    int rc;

    switch (o->type) {
    case CONF_T_INT:
        rc = conf_scan_i64(text, &v, &rest);
        if (rc == -1 || *rest != '\0') {
            snprintf(why, whylen, "not an integer (allowed %lld..%lld)", (long long)o->min,
                     (long long)o->max);
            return EINVAL;
        }
        if (rc == -2 || v < o->min || v > o->max) {
            snprintf(why, whylen, "out of range (allowed %lld..%lld)", (long long)o->min,
                     (long long)o->max);
            return EINVAL;
        }
        *(int64_t *)field = v;
        return 0;
    case CONF_T_DURATION:
        conf_format_duration(lo, sizeof lo, o->min);
        conf_format_duration(hi, sizeof hi, o->max);
        rc = isdigit((unsigned char)text[0]) ? conf_scan_i64(text, &v, &rest) : -1;
        if (rc != -1 && *rest == '\0') {
            snprintf(why, whylen, "needs a unit: ms, s, m or h, e.g. 30s (allowed %s..%s)", lo, hi);
            return EINVAL;
        }
        for (size_t i = 0; rc != -1 && i < sizeof conf_units / sizeof conf_units[0]; i++) {
            if (strcmp(rest, conf_units[i].suffix) != 0)
                continue;
            if (rc == -2 || v > INT64_MAX / conf_units[i].ms || v * conf_units[i].ms < o->min ||
                v * conf_units[i].ms > o->max) {
                snprintf(why, whylen, "out of range (allowed %s..%s)", lo, hi);
                return EINVAL;
            }
            *(int64_t *)field = v * conf_units[i].ms;
            return 0;
        }
        snprintf(why, whylen, "not a duration: a number and ms, s, m or h (allowed %s..%s)", lo,
                 hi);
        return EINVAL;
    case CONF_T_BOOL:
        for (size_t i = 0; i < sizeof conf_bools / sizeof conf_bools[0]; i++) {
            if (strcasecmp(text, conf_bools[i].word) == 0) {
                *(bool *)field = conf_bools[i].value;
                return 0;
            }
        }
        snprintf(why, whylen, "not a boolean (allowed true, false, yes, no, on, off, 1, 0)");
        return EINVAL;
    case CONF_T_ENUM:
        for (int i = 0; o->choices[i] != NULL; i++) {
            if (strcmp(text, o->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        snprintf(why, whylen, "not one of ");
        conf_format_choices(why + strlen(why), whylen - strlen(why), o->choices);
        return EINVAL;
    case CONF_T_STRING:
    case CONF_T_PATH: {
        char *copy = o->type == CONF_T_PATH ? conf_resolve(dir, text) : strdup(text);

        if (copy == NULL) {
            snprintf(why, whylen, "out of memory");
            return ENOMEM;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    }
    snprintf(why, whylen, "unknown option type %d", (int)o->type);
    return EINVAL;
}

/* Check the table (programming errors must not crash a daemon), and set up
 * the scratch copy with every table field cleared. */
static void conf_begin(struct conf_loader *ld, const conf_option *table, void *out, size_t out_size,
                       const char *path)
{
    if (table == NULL || out == NULL) {
        conf_fail(ld, 0, EINVAL, "invalid argument");
        return;
    }
    for (ld->n = 0; table[ld->n].section != NULL || table[ld->n].name != NULL; ld->n++) {
        const conf_option *o = &table[ld->n];
        size_t size = conf_field_size(o->type);

        if (o->section == NULL || o->name == NULL || size == 0) {
            conf_fail(ld, -1, EINVAL, "bad table entry %zu", ld->n);
            return;
        }
        if (o->offset > out_size || size > out_size - o->offset) {
            conf_fail(ld, -1, EINVAL, "table entry [%s] %s lies outside the struct", o->section,
                      o->name);
            return;
        }
        if (o->type == CONF_T_ENUM && (o->choices == NULL || o->choices[0] == NULL)) {
            conf_fail(ld, -1, EINVAL, "table entry [%s] %s is an enum without choices", o->section,
                      o->name);
            return;
        }
        for (size_t i = 0; i < ld->n; i++) {
            if (strcasecmp(table[i].section, o->section) == 0 &&
                strcasecmp(table[i].name, o->name) == 0) {
                conf_fail(ld, -1, EINVAL, "table lists [%s] %s twice", o->section, o->name);
                return;
            }
        }
    }
    ld->size = out_size;
    ld->scratch = malloc(out_size > 0 ? out_size : 1);
    ld->set_line = calloc(ld->n > 0 ? ld->n : 1, sizeof *ld->set_line);
    if (ld->scratch == NULL || ld->set_line == NULL) {
        conf_fail(ld, 0, ENOMEM, "out of memory");
        return;
    }
    /* Fields outside the table keep the caller's values; string fields in it
     * still point at out's strings, so they are cleared, not freed. */
    memcpy(ld->scratch, out, out_size);
    for (size_t i = 0; i < ld->n; i++)
        memset(ld->scratch + table[i].offset, 0, conf_field_size(table[i].type));
    if (path != NULL) {
        const char *slash = strrchr(path, '/');
        size_t len = slash != NULL ? (size_t)(slash - path) : 0;

        while (len > 0 && path[len - 1] == '/')
            len--;
        if (slash != NULL && (ld->dir = len > 0 ? strndup(path, len) : strdup("/")) == NULL)
            conf_fail(ld, 0, ENOMEM, "out of memory");
    }
}

static void conf_apply_defaults(struct conf_loader *ld)
{
    char why[CONF_WHY_MAX];
    int e;

    for (size_t i = 0; i < ld->n && !ld->failed; i++) {
        const conf_option *o = &ld->table[i];

        if (o->def != NULL && (e = conf_set(ld, o, o->def, ld->dir, why, sizeof why)) != 0)
            conf_fail(ld, -1, e, "default for [%s] %s = %s: %s", o->section, o->name, o->def, why);
    }
}

/* The line just read is a section header: inih's rule is that the name ends
 * at the first ']' unless a ';' after whitespace starts a comment first. */
static void conf_check_section(struct conf_loader *ld, const char *line)
{
    const char *p = line + 1;
    const char *name;
    size_t n;

    while (*p != '\0' && *p != ']' && !(*p == ';' && isspace((unsigned char)p[-1])))
        p++;
    if (*p != ']') {
        conf_fail(ld, ld->lineno, EINVAL, "syntax error: expected ']' after the section name");
        return;
    }
    n = (size_t)(p - (line + 1));
    name = conf_trim(line + 1, &n);
    if (n == 0 || !conf_has_section(ld, name, n))
        conf_fail(ld, ld->lineno, EINVAL, "unknown section [%.*s]", (int)n, name);
}

/* inih's fgets-style reader. One call is one physical line, so ld->lineno
 * is the line of every handler call that follows it. Indentation and a
 * UTF-8 BOM are stripped here: inih would take an indented line for the
 * continuation of the previous value. A line longer than inih's buffer
 * (or holding a NUL byte) is an error and is handed over as blank. */
static char *conf_read_line(char *buf, int num, void *stream)
{
    struct conf_loader *ld = stream;
    size_t cap = (size_t)num - 1;
    size_t len = 0, skip = 0;
    bool too_long = false, nul = false;
    int c;

    if (num < 2)
        return NULL;
    while ((c = getc(ld->f)) != EOF && c != '\n') {
        if (c == '\0')
            nul = true;
        else if (len < cap)
            buf[len++] = (char)c;
        else
            too_long = true;
    }
    if (c == EOF && ferror(ld->f)) {
        int e = errno;

        conf_fail(ld, -1, e, "cannot read %s: %s", ld->path, strerror(e));
        return NULL;
    }
    if (c == EOF && len == 0 && !too_long && !nul)
        return NULL;
    buf[len] = '\0';
    ld->lineno++;
    if (too_long || nul) {
        if (too_long)
            conf_fail(ld, ld->lineno, EINVAL, "line too long (at most %zu characters)", cap);
        else
            conf_fail(ld, ld->lineno, EINVAL, "line contains a NUL byte");
        buf[0] = '\0';
        return buf;
    }
    if (ld->lineno == 1 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        skip = 3;
    while (skip < len && isspace((unsigned char)buf[skip]))
        skip++;
    memmove(buf, buf + skip, len - skip + 1);
    if (buf[0] == '[')
        conf_check_section(ld, buf);
    return buf;
}

/* inih's handler: one "name = value" with its section. Returns 0 when the
 * pair is an error so inih counts it too. */
static int conf_on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct conf_loader *ld = user;
    size_t sn = strlen(section);
    const char *sec = conf_trim(section, &sn);
    const conf_option *o = NULL;
    char why[CONF_WHY_MAX];
    size_t i;
    int e;

    if (ld->failed)
        return 1; /* only the first error is reported */
    if (name[0] == '\0') {
        conf_fail(ld, ld->lineno, EINVAL, "syntax error: expected key = value");
        return 0;
    }
    if (sn == 0) {
        conf_fail(ld, ld->lineno, EINVAL, "key %s is outside any [section]", name);
        return 0;
    }
    for (i = 0; i < ld->n; i++) {
        if (conf_name_eq(ld->table[i].section, sec, sn) &&
            strcasecmp(ld->table[i].name, name) == 0) {
            o = &ld->table[i];
            break;
        }
    }
    if (o == NULL) {
        if (conf_has_section(ld, sec, sn))
            conf_fail(ld, ld->lineno, EINVAL, "unknown key [%.*s] %s", (int)sn, sec, name);
        else
            conf_fail(ld, ld->lineno, EINVAL, "unknown section [%.*s]", (int)sn, sec);
        return 0;
    }
    if (ld->set_line[i] != 0) {
        conf_fail(ld, ld->lineno, EINVAL, "[%s] %s set twice (first on line %d)", o->section,
                  o->name, ld->set_line[i]);
        return 0;
    }
    if ((e = conf_set(ld, o, value, ld->dir, why, sizeof why)) != 0) {
        conf_fail(ld, ld->lineno, e, "[%s] %s = %s: %s", o->section, o->name, value, why);
        return 0;
    }
    ld->set_line[i] = ld->lineno;
    return 1;
}

static void conf_read_file(struct conf_loader *ld)
{
    int rc;

    ld->f = fopen(ld->path, "r");
    if (ld->f == NULL) {
        int e = errno;

        conf_fail(ld, -1, e, "cannot open %s: %s", ld->path, strerror(e));
        return;
    }
    rc = ini_parse_stream(conf_read_line, ld, conf_on_pair, ld);
    fclose(ld->f);
    ld->f = NULL;
    if (rc == -2)
        conf_fail(ld, 0, ENOMEM, "out of memory");
    else if (rc > 0)
        conf_fail(ld, rc, EINVAL, "syntax error: expected key = value");
}

static void conf_check_required(struct conf_loader *ld)
{
    for (size_t i = 0; i < ld->n && !ld->failed; i++) {
        const conf_option *o = &ld->table[i];

        if (o->def == NULL && ld->set_line[i] == 0)
            conf_fail(ld, 0, EINVAL, "missing required key [%s] %s", o->section, o->name);
    }
}

/* Commit the scratch into out, or drop it; either way free the loader. */
static int conf_finish(struct conf_loader *ld, void *out)
{
    int rc = 0;

    if (ld->failed) {
        if (ld->scratch != NULL)
            conf_release(ld->table, ld->scratch);
        rc = -1;
    } else {
        conf_release(ld->table, out);
        memcpy(out, ld->scratch, ld->size);
        if (ld->err != NULL && ld->errlen > 0)
            ld->err[0] = '\0';
    }
    free(ld->scratch);
    free(ld->set_line);
    free(ld->dir);
    if (rc < 0)
        errno = ld->errnum;
    return rc;
}

int conf_load(const conf_option *table, void *out, size_t out_size, const char *path, char *err,
              size_t errlen)
{
    struct conf_loader ld = {.table = table, .path = path, .err = err, .errlen = errlen};

    if (path == NULL)
        conf_fail(&ld, 0, EINVAL, "invalid argument");
    if (!ld.failed)
        conf_begin(&ld, table, out, out_size, path);
    if (!ld.failed)
        conf_apply_defaults(&ld);
    if (!ld.failed)
        conf_read_file(&ld);
    if (!ld.failed)
        conf_check_required(&ld);
    return conf_finish(&ld, out);
}

int conf_defaults(const conf_option *table, void *out, size_t out_size, char *err, size_t errlen)
{
    struct conf_loader ld = {.table = table, .err = err, .errlen = errlen};

    conf_begin(&ld, table, out, out_size, NULL);
    if (!ld.failed)
        conf_apply_defaults(&ld);
    if (!ld.failed)
        conf_check_required(&ld);
    return conf_finish(&ld, out);
}

void conf_release(const conf_option *table, void *out)
{
    if (table == NULL || out == NULL)
        return;
    for (const conf_option *o = table; o->section != NULL || o->name != NULL; o++) {
        if (conf_is_string(o->type)) {
            char **field = (char **)((unsigned char *)out + o->offset);

            free(*field);
            *field = NULL;
        }
    }
}

/* "# text" for each line of a possibly multi-line help text. */
static void conf_write_comment(FILE *f, const char *text)
{
    while (text != NULL && *text != '\0') {
        size_t n = strcspn(text, "\n");

        fprintf(f, "# %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static void conf_write_option(const conf_option *o, FILE *f)
{
    char lo[32], hi[32], list[CONF_WHY_MAX];

    conf_write_comment(f, o->help);
    switch (o->type) {
    case CONF_T_INT:
        fprintf(f, "# allowed: %lld..%lld\n", (long long)o->min, (long long)o->max);
        break;
    case CONF_T_DURATION:
        conf_format_duration(lo, sizeof lo, o->min);
        conf_format_duration(hi, sizeof hi, o->max);
        fprintf(f, "# duration, %s..%s\n", lo, hi);
        break;
    case CONF_T_BOOL:
        fprintf(f, "# boolean: true or false\n");
        break;
    case CONF_T_ENUM:
        conf_format_choices(list, sizeof list, o->choices);
        fprintf(f, "# one of: %s\n", list);
        break;
    case CONF_T_PATH:
        fprintf(f, "# path, relative to the directory of this file\n");
        break;
    case CONF_T_STRING:
        break;
    }
    if (o->def != NULL)
        fprintf(f, "%s = %s\n\n", o->name, o->def);
    else
        fprintf(f, "# %s = (required)\n\n", o->name);
}

void conf_write_sample(const conf_option *table, FILE *f)
{
    if (table == NULL || f == NULL)
        return;
    fprintf(f, "# Sample configuration: every key with its default.\n"
               "# Lines starting with '#' or ';' are comments.\n\n");
    for (const conf_option *s = table; s->section != NULL || s->name != NULL; s++) {
        bool seen = s->section == NULL || s->name == NULL;

        for (const conf_option *p = table; p != s && !seen; p++)
            seen = p->section != NULL && strcasecmp(p->section, s->section) == 0;
        if (seen)
            continue;
        fprintf(f, "[%s]\n\n", s->section);
        for (const conf_option *o = s; o->section != NULL || o->name != NULL; o++)
            if (o->section != NULL && o->name != NULL && strcasecmp(o->section, s->section) == 0)
                conf_write_option(o, f);
    }
}

int conf_pick(conf_name_fn *name_at, int n, const char *name, const char *what, char *err,
              size_t errlen)
{
    char known[256] = "";
    size_t used = 0;

    for (int i = 0; name != NULL && i < n; i++) {
        const char *choice = name_at(i);

        if (strcmp(name, choice) == 0)
            return i;
        if (used < sizeof known) {
            int w = snprintf(known + used, sizeof known - used, "%s%s", i > 0 ? ", " : "", choice);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    if (err != NULL)
        snprintf(err, errlen, "unknown %s '%s' (known: %s)", what, name != NULL ? name : "", known);
    errno = EINVAL;
    return -1;
}

bool conf_word_ok(const char *s, size_t n, bool dots)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || (dots && ch == '.')))
            return false;
    }
    return true;
}
