/*
 * conf — INI configuration described by one table (Redis's config.c table
 * is the model; inih does the lexing).
 *
 * A daemon declares every key once:
 *
 *     static const conf_option halld_options[] = {
 *         CONF_INT("listen", "port", struct halld_conf, port, 1, 65535, "7700",
 *                  "TCP port for device links"),
 *         ...
 *         CONF_END
 *     };
 *
 * conf_load() fills a caller struct from the table's defaults and then the
 * file. Every error names the file, the line, the key and what is allowed:
 *
 *     hall.ini:12: [listen] port = 99999: out of range (allowed 1..65535)
 *
 * Loading is all or nothing: the result is built in a scratch copy and only
 * copied into the caller's struct when the whole file was good, so a daemon
 * never runs on a half-read configuration (a failed reload keeps the old one).
 *
 * Types: integers with bounds; booleans (true/false/yes/no/on/off/1/0);
 * strings (malloc'd, freed by conf_release()); paths (strings resolved
 * against the directory of the file they were read from, unless absolute);
 * enums (one of a fixed list, stored as the index); durations stored in
 * milliseconds, written with a unit ("250ms", "30s", "5m", "2h") and bounds.
 *
 * What a file may contain (inih's rules, as Debian builds it, plus ours):
 *   - "[section]" lines and "key = value" lines ("key: value" works too);
 *     section and key names are matched ignoring case, and a name that is
 *     not in the table is an error, as is a key before any [section] and a
 *     key given twice. A section may be opened more than once.
 *   - Whole-line comments start with '#' or ';'. After a value only a ';'
 *     preceded by a space or tab starts a comment: "port = 7700 ; lan"
 *     is 7700, but '#' is part of the value ("7700 # lan" is not a number).
 *   - Values are trimmed of surrounding whitespace and taken as written:
 *     no quotes (a '"' is part of the value), no escapes, no line
 *     continuations. Indentation is ignored, so keys may be indented.
 *   - Enum values match exactly (case-sensitive); booleans ignore case.
 *   - A line holds at most 199 characters (inih's fixed line buffer);
 *     a longer line is an error, never silently cut.
 *   - An empty PATH value stays empty; a UTF-8 byte order mark is skipped.
 */
#ifndef ONEWINDOW_CONF_H
#define ONEWINDOW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum conf_type {
    CONF_T_INT,      /* int64_t */
    CONF_T_BOOL,     /* bool */
    CONF_T_STRING,   /* char * */
    CONF_T_PATH,     /* char *, resolved against the file's directory */
    CONF_T_ENUM,     /* int, index into choices */
    CONF_T_DURATION, /* int64_t milliseconds */
} conf_type;

typedef struct conf_option {
    const char *section;
    const char *name;
    conf_type type;
    size_t offset;              /* of the field in the caller's struct */
    int64_t min, max;           /* INT and DURATION (ms) bounds */
    const char *const *choices; /* ENUM: NULL-terminated list */
    const char *def;            /* default as it would be written in the file;
                                   NULL = the key is required */
    const char *help;
} conf_option;

/* One table row per line: clang-format would split each macro over three. */
/* clang-format off */
#define CONF_INT(sec, key, type, field, lo, hi, def, help)                                         \
    {(sec), (key), CONF_T_INT, offsetof(type, field), (lo), (hi), NULL, (def), (help)}
#define CONF_BOOL(sec, key, type, field, def, help)                                                \
    {(sec), (key), CONF_T_BOOL, offsetof(type, field), 0, 1, NULL, (def), (help)}
#define CONF_STRING(sec, key, type, field, def, help)                                              \
    {(sec), (key), CONF_T_STRING, offsetof(type, field), 0, 0, NULL, (def), (help)}
#define CONF_PATH(sec, key, type, field, def, help)                                                \
    {(sec), (key), CONF_T_PATH, offsetof(type, field), 0, 0, NULL, (def), (help)}
#define CONF_ENUM(sec, key, type, field, choices, def, help)                                       \
    {(sec), (key), CONF_T_ENUM, offsetof(type, field), 0, 0, (choices), (def), (help)}
#define CONF_DURATION(sec, key, type, field, lo_ms, hi_ms, def, help)                              \
    {(sec), (key), CONF_T_DURATION, offsetof(type, field), (lo_ms), (hi_ms), NULL, (def), (help)}
#define CONF_END {NULL, NULL, CONF_T_INT, 0, 0, 0, NULL, NULL, NULL}
/* clang-format on */

/* Fill out (a struct of size out_size) from the table's defaults, then from
 * the file at path. 0 on success. -1 on failure with a one-line message in
 * err (file, line, key, allowed values) and out untouched. On success the
 * previous contents of out are released with conf_release() first.
 *
 * out must be zeroed before its first load (its string fields are freed).
 * Fields of out that no table entry names are kept as they are. PATH
 * values, defaults included, are resolved against the directory part of
 * path as given (none when path has no '/'). On failure errno is EINVAL
 * for a bad file or table, ENOMEM, or the errno of opening or reading the
 * file; err may be NULL, and is set to "" on success. */
int conf_load(const conf_option *table, void *out, size_t out_size, const char *path, char *err,
              size_t errlen);

/* Fill out from the defaults alone (no file). Same contract as conf_load;
 * PATH defaults stay as written, and a table with a required key fails. */
int conf_defaults(const conf_option *table, void *out, size_t out_size, char *err, size_t errlen);

/* Free the strings conf_load() allocated in out and zero them. */
void conf_release(const conf_option *table, void *out);

/* Write a commented sample file listing every key, its default, its
 * allowed values and its help text. */
void conf_write_sample(const conf_option *table, FILE *f);

/* A choice made by name among n that live in a table of their own
 * (backends, transports): name_at(i) is the name of choice i. The index
 * of name, or -1 with errno EINVAL and "unknown WHAT 'name' (known: a, b)"
 * in err (when err is not NULL). */
typedef const char *conf_name_fn(int i);
/* True if the n bytes at s are all ASCII letters, digits, '-' or '_' (and
 * '.' when dots): the alphabet of ids and codes that end up in
 * certificates, logs and file names. Length limits are the caller's. */
bool conf_word_ok(const char *s, size_t n, bool dots);
int conf_pick(conf_name_fn *name_at, int n, const char *name, const char *what, char *err,
              size_t errlen);

#endif
