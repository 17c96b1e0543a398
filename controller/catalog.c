/*
 * catalog — see catalog.h. Parts, in order:
 *
 *   - the catalog object and its growth;
 *   - errors: every message says where (file, CSV line and column, or
 *     JSON key path) and what;
 *   - field rules shared by both formats (codes, prefixes, names, text,
 *     lists, booleans);
 *   - the CSV reader (RFC 4180) and the CSV layout;
 *   - the JSON layout (jansson);
 *   - the checks across rows (unique codes and prefixes, one general area,
 *     known areas), run after the whole file parsed.
 */
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

/* Where an area or a matter came from: its CSV line, or its JSON index. */
struct origin {
    int line;
    size_t index;
};

/* The text a matter owns; store_matter points at these (or at ""). */
struct owned {
    char *conditions, *materials, *sample, *review_points;
};

struct catalog {
    q_area *areas;
    struct origin *area_at;
    size_t nareas, area_cap;
    store_matter *matters;
    struct origin *matter_at;
    struct owned *owned;
    size_t nmatters, matter_cap;
};

struct parse {
    catalog *c;
    const char *name; /* file name, for messages */
    catalog_format fmt;
    char *err;
    size_t errlen;
};

/* ---- The object ------------------------------------------------------------ */

void catalog_free(catalog *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nmatters; i++) {
        free(c->owned[i].conditions);
        free(c->owned[i].materials);
        free(c->owned[i].sample);
        free(c->owned[i].review_points);
    }
    free(c->areas);
    free(c->area_at);
    free(c->matters);
    free(c->matter_at);
    free(c->owned);
    free(c);
}

size_t catalog_area_count(const catalog *c)
{
    return c->nareas;
}

const q_area *catalog_areas(const catalog *c)
{
    return c->areas;
}

size_t catalog_matter_count(const catalog *c)
{
    return c->nmatters;
}

const store_matter *catalog_matters(const catalog *c)
{
    return c->matters;
}

catalog_format catalog_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot == NULL || strchr(dot, '/') != NULL)
        return CATALOG_AUTO;
    if (strcasecmp(dot, ".csv") == 0)
        return CATALOG_CSV;
    if (strcasecmp(dot, ".json") == 0)
        return CATALOG_JSON;
    return CATALOG_AUTO;
}

int catalog_format_parse(const char *name)
{
    if (strcmp(name, "csv") == 0)
        return CATALOG_CSV;
    if (strcmp(name, "json") == 0)
        return CATALOG_JSON;
    return -1;
}

/* ---- Errors ---------------------------------------------------------------- */

static int bad(struct parse *p, bool area, const struct origin *o, const char *key, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* Fill the error with the place (o NULL: the whole file) and the reason,
 * control characters shown as '?'; always returns -1 with errno EINVAL. */
static int bad(struct parse *p, bool area, const struct origin *o, const char *key, const char *fmt,
               ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o == NULL)
        snprintf(p->err, p->errlen, "%s: %s", p->name, msg);
    else if (p->fmt == CATALOG_CSV && key != NULL)
        snprintf(p->err, p->errlen, "%s:%d: column %s: %s", p->name, o->line, key, msg);
    else if (p->fmt == CATALOG_CSV)
        snprintf(p->err, p->errlen, "%s:%d: %s", p->name, o->line, msg);
    else if (key != NULL)
        snprintf(p->err, p->errlen, "%s: %s[%zu].%s: %s", p->name, area ? "areas" : "matters",
                 o->index, key, msg);
    else
        snprintf(p->err, p->errlen, "%s: %s[%zu]: %s", p->name, area ? "areas" : "matters",
                 o->index, msg);
    /* One line whatever the file holds: jansson's messages quote it raw. */
    for (char *c = p->err; p->errlen > 0 && *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    errno = EINVAL;
    return -1;
}

/* Out of memory: the error says so; always returns -1 with errno ENOMEM. */
static int nomem(struct parse *p)
{
    snprintf(p->err, p->errlen, "out of memory");
    errno = ENOMEM;
    return -1;
}

/* "line 3" or "areas[2]": the other party of a duplicate. */
static const char *place(const struct parse *p, bool area, const struct origin *o, char *buf,
                         size_t n)
{
    if (p->fmt == CATALOG_CSV)
        snprintf(buf, n, "line %d", o->line);
    else
        snprintf(buf, n, "%s[%zu]", area ? "areas" : "matters", o->index);
    return buf;
}

/* A value quoted in a message: at most 40 bytes, cut on a character
 * boundary, control characters shown as '?'. */
static const char *shown(const char *v, size_t n, char *buf, size_t cap)
{
    size_t k = 0;

    if (n > 40) {
        n = 40;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        buf[k++] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    buf[k] = '\0';
    return buf;
}

/* ---- Field rules ---------------------------------------------------------- */

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF (RFC 3629). */
static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = u[i];
        size_t len;
        unsigned min;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Surrounding spaces and tabs are not part of a value. */
static void trim(const char **v, size_t *n)
{
    while (*n > 0 && (**v == ' ' || **v == '\t'))
        (*v)++, (*n)--;
    while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

static bool has_control(const char *v, size_t n, bool newlines)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && !(newlines && (ch == '\n' || ch == '\t'))) || ch == 0x7f)
            return true;
    }
    return false;
}

static bool code_ok(const char *v, size_t n)
{
    return conf_word_ok(v, n, false);
}

/* Area and matter codes: 1..15 of [A-Za-z0-9_-]. */
static int take_code(struct parse *p, bool area, const struct origin *o, const char *key,
                     const char *v, char out[Q_CODE_MAX])
{
    size_t n = strlen(v);
    char show[64];

    trim(&v, &n);
    if (n == 0)
        return bad(p, area, o, key, "missing: a code of 1 to %d letters, digits, '-' or '_'",
                   Q_CODE_MAX - 1);
    if (n >= Q_CODE_MAX)
        return bad(p, area, o, key, "'%s' is longer than %d characters",
                   shown(v, n, show, sizeof show), Q_CODE_MAX - 1);
    if (!code_ok(v, n))
        return bad(p, area, o, key, "'%s': use only letters, digits, '-' and '_'",
                   shown(v, n, show, sizeof show));
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* Display number prefixes: 1..3 uppercase ASCII letters ("A", "GJJ"). */
static int take_prefix(struct parse *p, const struct origin *o, const char *key, const char *v,
                       char out[8])
{
    size_t n = strlen(v);
    char show[64];

    trim(&v, &n);
    if (n == 0)
        return bad(p, true, o, key, "missing: 1 to 3 uppercase letters (A-Z)");
    bool ok = n <= 3;
    for (size_t i = 0; ok && i < n; i++)
        ok = v[i] >= 'A' && v[i] <= 'Z';
    if (!ok)
        return bad(p, true, o, key, "'%s': use 1 to 3 uppercase letters (A-Z)",
                   shown(v, n, show, sizeof show));
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* Names: one line of UTF-8 that fits cap bytes with its NUL. */
static int take_name(struct parse *p, bool area, const struct origin *o, const char *key,
                     const char *v, char *out, size_t cap)
{
    size_t n = strlen(v);

    trim(&v, &n);
    if (n == 0)
        return bad(p, area, o, key, "missing: a name is required");
    if (!utf8_valid(v, n))
        return bad(p, area, o, key, "not valid UTF-8 (save the file as UTF-8)");
    if (has_control(v, n, false))
        return bad(p, area, o, key, "a name is one line without control characters");
    if (n >= cap)
        return bad(p, area, o, key, "%zu bytes long, at most %zu", n, cap - 1);
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* An English name: optional (empty when not given), else a name. */
static int take_name_en(struct parse *p, bool area, const struct origin *o, const char *v,
                        char *out, size_t cap)
{
    size_t n = strlen(v);
    const char *t = v;

    trim(&t, &n);
    out[0] = '\0';
    return n == 0 ? 0 : take_name(p, area, o, "name_en", v, out, cap);
}

/* Free text (conditions, sample): may be empty, may span lines (CR LF
 * becomes LF). A new string in *out. */
static int take_text(struct parse *p, const struct origin *o, const char *key, const char *v,
                     char **out)
{
    size_t n = strlen(v), k = 0;

    trim(&v, &n);
    if (!utf8_valid(v, n))
        return bad(p, false, o, key, "not valid UTF-8 (save the file as UTF-8)");
    if (n > CATALOG_TEXT_MAX)
        return bad(p, false, o, key, "%zu bytes long, at most %d", n, CATALOG_TEXT_MAX);
    char *t = malloc(n + 1);
    if (t == NULL)
        return nomem(p);
    for (size_t i = 0; i < n; i++)
        if (!(v[i] == '\r' && i + 1 < n && v[i + 1] == '\n'))
            t[k++] = v[i];
    t[k] = '\0';
    if (has_control(t, k, true)) {
        free(t);
        return bad(p, false, o, key, "control characters other than line breaks and tabs");
    }
    *out = t;
    return 0;
}

/* A list stored one item per line. */
struct list {
    char *buf;
    size_t len;
    int n;
};

static int list_add(struct parse *p, const struct origin *o, const char *key, struct list *l,
                    const char *v, size_t n)
{
    if (!utf8_valid(v, n))
        return bad(p, false, o, key, "not valid UTF-8 (save the file as UTF-8)");
    if (has_control(v, n, false))
        return bad(p, false, o, key, "an item is one line without control characters");
    if (n > CATALOG_ITEM_MAX)
        return bad(p, false, o, key, "an item of %zu bytes, at most %d", n, CATALOG_ITEM_MAX);
    if (l->n == CATALOG_ITEMS_MAX)
        return bad(p, false, o, key, "more than %d items", CATALOG_ITEMS_MAX);
    char *grown = realloc(l->buf, l->len + n + 2);
    if (grown == NULL)
        return nomem(p);
    l->buf = grown;
    if (l->n > 0)
        l->buf[l->len++] = '\n';
    memcpy(l->buf + l->len, v, n);
    l->len += n;
    l->buf[l->len] = '\0';
    l->n++;
    return 0;
}

/* The list's text, "" for none; the list is emptied. */
static int list_take(struct parse *p, struct list *l, char **out)
{
    if (l->buf == NULL && (l->buf = calloc(1, 1)) == NULL)
        return nomem(p);
    *out = l->buf;
    *l = (struct list){0};
    return 0;
}

/* CSV booleans: true/false, yes/no, 1/0 (any case), 是/否. Empty: *empty. */
static int take_bool(struct parse *p, bool area, const struct origin *o, const char *key,
                     const char *v, bool *out, bool *empty)
{
    static const char *const yes[] = {"true", "yes", "1", "是"};
    static const char *const no[] = {"false", "no", "0", "否"};
    size_t n = strlen(v);
    char show[64];

    trim(&v, &n);
    *empty = n == 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strlen(yes[i]) == n && strncasecmp(v, yes[i], n) == 0)
            return *out = true, 0;
        if (strlen(no[i]) == n && strncasecmp(v, no[i], n) == 0)
            return *out = false, 0;
    }
    return bad(p, area, o, key, "'%s': expected true or false (also yes/no, 1/0, 是/否)",
               shown(v, n, show, sizeof show));
}

/* ---- Adding areas and matters --------------------------------------------- */

/* Whether the areas (area) or the matters, with n rows, may take one
 * more; if not, the error says so against the row at o. */
static bool room_for(struct parse *p, bool area, const struct origin *o, size_t n)
{
    int max = area ? CATALOG_AREAS_MAX : CATALOG_MATTERS_MAX;

    if (n < (size_t)max)
        return true;
    bad(p, area, o, NULL, "more than %d %s", max, area ? "areas" : "matters");
    return false;
}

/* A new zeroed area from o. The arrays of a table grow together; one
 * realloc() that worked is kept when a later one fails (the arrays are
 * then only larger than the capacity says). */
static q_area *new_area(struct parse *p, const struct origin *o)
{
    catalog *c = p->c;

    if (!room_for(p, true, o, c->nareas))
        return NULL;
    if (c->nareas == c->area_cap) {
        size_t cap = c->area_cap ? 2 * c->area_cap : 8;
        q_area *a = realloc(c->areas, cap * sizeof *a);
        if (a != NULL)
            c->areas = a;
        struct origin *at = a ? realloc(c->area_at, cap * sizeof *at) : NULL;
        if (at == NULL)
            return nomem(p), NULL;
        c->area_at = at;
        c->area_cap = cap;
    }
    c->area_at[c->nareas] = *o;
    q_area *a = &c->areas[c->nareas++];
    memset(a, 0, sizeof *a);
    return a;
}

/* A new matter from o, its texts "" (see new_area()). */
static store_matter *new_matter(struct parse *p, const struct origin *o)
{
    catalog *c = p->c;

    if (!room_for(p, false, o, c->nmatters))
        return NULL;
    if (c->nmatters == c->matter_cap) {
        size_t cap = c->matter_cap ? 2 * c->matter_cap : 32;
        store_matter *m = realloc(c->matters, cap * sizeof *m);
        if (m != NULL)
            c->matters = m;
        struct origin *at = m ? realloc(c->matter_at, cap * sizeof *at) : NULL;
        if (at != NULL)
            c->matter_at = at;
        struct owned *ow = at ? realloc(c->owned, cap * sizeof *ow) : NULL;
        if (ow == NULL)
            return nomem(p), NULL;
        c->owned = ow;
        c->matter_cap = cap;
    }
    c->matter_at[c->nmatters] = *o;
    c->owned[c->nmatters] = (struct owned){0};
    store_matter *m = &c->matters[c->nmatters++];
    *m = (store_matter){.conditions = "", .materials = "", .sample = "", .review_points = ""};
    return m;
}

/* The owned text of the matter just added. */
static struct owned *last_owned(struct parse *p)
{
    return &p->c->owned[p->c->nmatters - 1];
}

/* ---- CSV ------------------------------------------------------------------- */

/* The one CSV layout: a header row naming these columns (any order), then
 * one row per area or matter, said by the kind column. */
enum col {
    COL_KIND,
    COL_CODE,
    COL_NAME,
    COL_PREFIX,
    COL_GENERAL,
    COL_AREA,
    COL_CONDITIONS,
    COL_MATERIALS,
    COL_SAMPLE,
    COL_REVIEW_POINTS,
    COL_IN_ONE_WINDOW,
    COL_ONLINE_DOABLE,
    COL_NAME_EN, /* optional: the English name */
    COL_COUNT
};

/* Columns a header may leave out (an older file): empty in every row. */
static bool col_optional(int k)
{
    return k == COL_NAME_EN;
}

static const char *const col_names[COL_COUNT] = {
    "kind",          "code",          "name",      "prefix", "general",
    "area",          "conditions",    "materials", "sample", "review_points",
    "in_one_window", "online_doable", "name_en",
};

/* One record: its fields as NUL-terminated strings. */
struct record {
    char **f;
    size_t n, cap;
    int line; /* where it starts */
};

static void record_clear(struct record *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i]);
    r->n = 0;
}

static void record_free(struct record *r)
{
    record_clear(r);
    free(r->f);
}

struct csv {
    const char *p, *end;
    int line; /* of the next byte */
};

/* A growable field buffer. */
struct field {
    char *s;
    size_t len, cap;
};

static int field_put(struct field *f, char ch)
{
    if (f->len + 1 >= f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        char *s = realloc(f->s, cap);
        if (s == NULL)
            return -1;
        f->s = s;
        f->cap = cap;
    }
    f->s[f->len++] = ch;
    f->s[f->len] = '\0';
    return 0;
}

/* A column's name for messages: from the header when there is one. */
static const char *col_label(const struct record *header, size_t i, char *buf, size_t n)
{
    if (header != NULL && i < header->n)
        return header->f[i];
    snprintf(buf, n, "%zu", i + 1);
    return buf;
}

/* Read one record (RFC 4180: fields separated by commas, records by CRLF
 * or LF; a field in double quotes may hold commas, line breaks and doubled
 * quotes). 1 with the record, 0 at the end of the text, -1 on an error. */
static int csv_record(struct parse *p, struct csv *r, const struct record *header,
                      struct record *rec)
{
    struct field f = {0};
    char label[24];

    record_clear(rec);
    rec->line = r->line;
    if (r->p == r->end)
        return 0;
    for (;;) {
        struct origin at = {.line = r->line};
        size_t col = rec->n;
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            for (;;) {
                if (r->p == r->end) {
                    bad(p, false, &at, col_label(header, col, label, sizeof label),
                        "quoted field is never closed (a '\"' is missing)");
                    goto fail;
                }
                char ch = *r->p++;
                if (ch == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        r->p++;
                    } else {
                        break;
                    }
                } else if (ch == '\n') {
                    r->line++;
                } else if (ch == '\r' && r->p < r->end && *r->p == '\n') {
                    continue; /* CR LF inside a field is a line break: LF */
                } else if (ch == '\0') {
                    bad(p, false, &at, col_label(header, col, label, sizeof label),
                        "NUL byte in the file");
                    goto fail;
                }
                if (field_put(&f, ch) < 0)
                    goto nomem;
            }
            if (r->p < r->end && *r->p != ',' && *r->p != '\n' &&
                !(*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
                bad(p, false, &at, col_label(header, col, label, sizeof label),
                    "text after the closing quote (write a quote inside a quoted field as "
                    "\"\")");
                goto fail;
            }
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' &&
                   !(*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
                char ch = *r->p++;
                if (ch == '"' || ch == '\0') {
                    bad(p, false, &at, col_label(header, col, label, sizeof label),
                        ch == '"' ? "a '\"' inside a field that does not start with one "
                                    "(quote the whole field and double the quote)"
                                  : "NUL byte in the file");
                    goto fail;
                }
                if (field_put(&f, ch) < 0)
                    goto nomem;
            }
        }
        if (f.s == NULL && (f.s = calloc(1, 1)) == NULL)
            goto nomem; /* an empty field */
        if (rec->n == rec->cap) {
            size_t cap = rec->cap ? 2 * rec->cap : 16;
            char **fs = realloc(rec->f, cap * sizeof *fs);
            if (fs == NULL)
                goto nomem;
            rec->f = fs;
            rec->cap = cap;
        }
        rec->f[rec->n++] = f.s;
        f = (struct field){0};
        if (r->p == r->end)
            return 1;
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        r->p += *r->p == '\r' ? 2 : 1; /* CR LF or LF */
        r->line++;
        return 1;
    }
nomem:
    nomem(p);
fail:
    free(f.s);
    return -1;
}

static bool record_blank(const struct record *rec)
{
    for (size_t i = 0; i < rec->n; i++) {
        const char *v = rec->f[i];
        size_t n = strlen(v);
        trim(&v, &n);
        if (n > 0)
            return false;
    }
    return true;
}

/* A field of the record, "" for an optional column the header left out. */
static const char *csv_field(const struct record *rec, const int *col, enum col c)
{
    return col[c] >= 0 ? rec->f[col[c]] : "";
}

/* Columns that do not apply to a row's kind must be empty: a value there
 * is usually a row shifted by a missing comma. */
static int csv_empty(struct parse *p, const struct origin *o, const struct record *rec,
                     const int *col, const enum col *which, size_t n, const char *kind)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = csv_field(rec, col, which[i]);
        size_t len = strlen(v);
        trim(&v, &len);
        if (len > 0)
            return bad(p, false, o, col_names[which[i]], "must be empty in %s rows", kind);
    }
    return 0;
}

static int csv_area(struct parse *p, const struct origin *o, const struct record *rec,
                    const int *col)
{
    static const enum col unused[] = {COL_AREA,         COL_CONDITIONS,    COL_MATERIALS,
                                      COL_SAMPLE,       COL_REVIEW_POINTS, COL_IN_ONE_WINDOW,
                                      COL_ONLINE_DOABLE};
    bool empty;

    if (csv_empty(p, o, rec, col, unused, sizeof unused / sizeof unused[0], "area") < 0)
        return -1;
    q_area *a = new_area(p, o);
    if (a == NULL || take_code(p, true, o, "code", rec->f[col[COL_CODE]], a->code) < 0 ||
        take_name(p, true, o, "name", rec->f[col[COL_NAME]], a->name, sizeof a->name) < 0 ||
        take_prefix(p, o, "prefix", rec->f[col[COL_PREFIX]], a->prefix) < 0 ||
        take_bool(p, true, o, "general", rec->f[col[COL_GENERAL]], &a->general, &empty) < 0 ||
        take_name_en(p, true, o, csv_field(rec, col, COL_NAME_EN), a->name_en, sizeof a->name_en) <
            0)
        return -1;
    if (empty)
        a->general = false;
    return 0;
}

/* A CSV list: items separated by ';', the full-width '；' or line breaks;
 * items are trimmed and empty ones skipped. */
static int csv_list(struct parse *p, const struct origin *o, const char *key, const char *v,
                    char **out)
{
    static const char fullwidth[] = "\xEF\xBC\x9B"; /* U+FF1B '；' */
    struct list l = {0};

    for (;;) {
        size_t n = 0, skip = 0;
        while (v[n] != '\0') {
            if (v[n] == ';' || v[n] == '\n') {
                skip = 1;
                break;
            }
            if (strncmp(v + n, fullwidth, 3) == 0) {
                skip = 3;
                break;
            }
            n++;
        }
        const char *item = v;
        size_t len = n;
        if (len > 0 && item[len - 1] == '\r')
            len--;
        trim(&item, &len);
        if (len > 0 && list_add(p, o, key, &l, item, len) < 0) {
            free(l.buf);
            return -1;
        }
        if (skip == 0)
            break;
        v += n + skip;
    }
    return list_take(p, &l, out);
}

static int csv_flag(struct parse *p, const struct origin *o, const char *key, const char *v,
                    bool *out)
{
    bool empty;

    if (take_bool(p, false, o, key, v, out, &empty) < 0)
        return -1;
    if (empty)
        return bad(p, false, o, key, "missing: write true or false");
    return 0;
}

static int csv_matter(struct parse *p, const struct origin *o, const struct record *rec,
                      const int *col)
{
    static const enum col unused[] = {COL_PREFIX, COL_GENERAL};

    if (csv_empty(p, o, rec, col, unused, 2, "matter") < 0)
        return -1;
    store_matter *m = new_matter(p, o);
    if (m == NULL)
        return -1;
    struct owned *ow = last_owned(p);
    if (take_code(p, false, o, "code", rec->f[col[COL_CODE]], m->code) < 0 ||
        take_name(p, false, o, "name", rec->f[col[COL_NAME]], m->name, sizeof m->name) < 0 ||
        take_name_en(p, false, o, csv_field(rec, col, COL_NAME_EN), m->name_en, sizeof m->name_en) <
            0 ||
        take_code(p, false, o, "area", rec->f[col[COL_AREA]], m->area) < 0 ||
        take_text(p, o, "conditions", rec->f[col[COL_CONDITIONS]], &ow->conditions) < 0 ||
        csv_list(p, o, "materials", rec->f[col[COL_MATERIALS]], &ow->materials) < 0 ||
        take_text(p, o, "sample", rec->f[col[COL_SAMPLE]], &ow->sample) < 0 ||
        csv_list(p, o, "review_points", rec->f[col[COL_REVIEW_POINTS]], &ow->review_points) < 0 ||
        csv_flag(p, o, "in_one_window", rec->f[col[COL_IN_ONE_WINDOW]], &m->in_one_window) < 0 ||
        csv_flag(p, o, "online_doable", rec->f[col[COL_ONLINE_DOABLE]], &m->online_doable) < 0)
        return -1;
    m->conditions = ow->conditions;
    m->materials = ow->materials;
    m->sample = ow->sample;
    m->review_points = ow->review_points;
    return 0;
}

/* Map the header's columns; every known column once, nothing else. */
static int csv_header(struct parse *p, const struct record *h, int *col)
{
    struct origin o = {.line = h->line};
    char label[24], show[64];

    for (int i = 0; i < COL_COUNT; i++)
        col[i] = -1;
    for (size_t i = 0; i < h->n; i++) {
        const char *v = h->f[i];
        size_t n = strlen(v);
        trim(&v, &n);
        int k = 0;
        while (k < COL_COUNT && !(strlen(col_names[k]) == n && strncmp(col_names[k], v, n) == 0))
            k++;
        if (k == COL_COUNT)
            return bad(p, false, &o, col_label(NULL, i, label, sizeof label),
                       "unknown column '%s' in the header (expected kind, code, name, prefix, "
                       "general, area, conditions, materials, sample, review_points, "
                       "in_one_window, online_doable, name_en)",
                       shown(v, n, show, sizeof show));
        if (col[k] >= 0)
            return bad(p, false, &o, col_names[k], "named twice in the header");
        col[k] = (int)i;
    }
    for (int k = 0; k < COL_COUNT; k++)
        if (col[k] < 0 && !col_optional(k))
            return bad(p, false, &o, NULL,
                       "the header has no column '%s' (the first row must "
                       "name the columns)",
                       col_names[k]);
    return 0;
}

static int parse_csv(struct parse *p, const char *text, size_t len)
{
    struct csv r = {text, text + len, 1};
    struct record header = {0}, rec = {0};
    int col[COL_COUNT], rc;
    char show[64];

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3; /* UTF-8 byte order mark, as Excel writes it */
    rc = csv_record(p, &r, NULL, &header);
    if (rc == 0)
        bad(p, false, NULL, NULL, "empty: expected a header row naming the columns");
    if (rc <= 0 || csv_header(p, &header, col) < 0)
        goto fail;
    while ((rc = csv_record(p, &r, &header, &rec)) == 1) {
        struct origin o = {.line = rec.line};
        if (record_blank(&rec))
            continue;
        if (rec.n != header.n) {
            bad(p, false, &o, NULL, "%zu fields, but the header has %zu", rec.n, header.n);
            goto fail;
        }
        const char *kind = rec.f[col[COL_KIND]];
        size_t n = strlen(kind);
        trim(&kind, &n);
        if (n == 4 && strncmp(kind, "area", 4) == 0)
            rc = csv_area(p, &o, &rec, col);
        else if (n == 6 && strncmp(kind, "matter", 6) == 0)
            rc = csv_matter(p, &o, &rec, col);
        else
            rc = bad(p, false, &o, "kind", "'%s': expected area or matter",
                     shown(kind, n, show, sizeof show));
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    record_free(&header);
    record_free(&rec);
    return 0;
fail:
    record_free(&header);
    record_free(&rec);
    return -1;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Only the keys listed may appear in an object: a misspelt key would
 * otherwise be ignored silently. */
static int json_keys(struct parse *p, bool area, const struct origin *o, json_t *obj,
                     const char *const *allowed, const char *list)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL) {
            char show[64];
            return bad(p, area, o, shown(key, strlen(key), show, sizeof show),
                       "unknown key (allowed: %s)", list);
        }
    }
    return 0;
}

/* A string member: 1 and *out, 0 if absent and optional, -1. */
static int json_str(struct parse *p, bool area, const struct origin *o, json_t *obj,
                    const char *key, bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = "";
    if (v == NULL)
        return required ? bad(p, area, o, key, "missing") : 0;
    if (!json_is_string(v))
        return bad(p, area, o, key, "expected a string");
    *out = json_string_value(v);
    return 1;
}

static int json_flag(struct parse *p, bool area, const struct origin *o, json_t *obj,
                     const char *key, bool required, bool *out)
{
    json_t *v = json_object_get(obj, key);

    *out = false;
    if (v == NULL)
        return required ? bad(p, area, o, key, "missing: true or false") : 0;
    if (!json_is_boolean(v))
        return bad(p, area, o, key, "expected true or false");
    *out = json_is_true(v);
    return 1;
}

/* A list member: an array of non-empty strings (absent: empty list). */
static int json_list(struct parse *p, const struct origin *o, json_t *obj, const char *key,
                     char **out)
{
    json_t *v = json_object_get(obj, key), *item;
    struct list l = {0};
    size_t i;
    char path[64];

    if (v != NULL && !json_is_array(v))
        return bad(p, false, o, key, "expected a list of strings");
    json_array_foreach(v, i, item)
    {
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        if (!json_is_string(item)) {
            free(l.buf);
            return bad(p, false, o, path, "expected a string");
        }
        const char *s = json_string_value(item);
        size_t n = json_string_length(item);
        trim(&s, &n);
        if (n == 0 || list_add(p, o, path, &l, s, n) < 0) {
            if (n == 0)
                bad(p, false, o, path, "empty item");
            free(l.buf);
            return -1;
        }
    }
    return list_take(p, &l, out);
}

static int json_area(struct parse *p, size_t i, json_t *v)
{
    static const char *const keys[] = {"code", "name", "name_en", "prefix", "general", NULL};
    struct origin o = {.index = i};
    const char *code, *name, *name_en, *prefix;

    if (!json_is_object(v))
        return bad(p, true, &o, NULL, "expected an object");
    if (json_keys(p, true, &o, v, keys, "code, name, name_en, prefix, general") < 0)
        return -1;
    q_area *a = new_area(p, &o);
    if (a == NULL || json_str(p, true, &o, v, "code", true, &code) < 0 ||
        take_code(p, true, &o, "code", code, a->code) < 0 ||
        json_str(p, true, &o, v, "name", true, &name) < 0 ||
        take_name(p, true, &o, "name", name, a->name, sizeof a->name) < 0 ||
        json_str(p, true, &o, v, "name_en", false, &name_en) < 0 ||
        take_name_en(p, true, &o, name_en, a->name_en, sizeof a->name_en) < 0 ||
        json_str(p, true, &o, v, "prefix", true, &prefix) < 0 ||
        take_prefix(p, &o, "prefix", prefix, a->prefix) < 0 ||
        json_flag(p, true, &o, v, "general", false, &a->general) < 0)
        return -1;
    return 0;
}

static int json_matter(struct parse *p, size_t i, json_t *v)
{
    static const char *const keys[] = {"code",          "area",          "name",   "name_en",
                                       "conditions",    "materials",     "sample", "review_points",
                                       "in_one_window", "online_doable", NULL};
    struct origin o = {.index = i};
    const char *code, *area, *name, *name_en, *conditions, *sample;

    if (!json_is_object(v))
        return bad(p, false, &o, NULL, "expected an object");
    if (json_keys(p, false, &o, v, keys,
                  "code, area, name, name_en, conditions, materials, sample, review_points, "
                  "in_one_window, online_doable") < 0)
        return -1;
    store_matter *m = new_matter(p, &o);
    if (m == NULL)
        return -1;
    struct owned *ow = last_owned(p);
    if (json_str(p, false, &o, v, "code", true, &code) < 0 ||
        take_code(p, false, &o, "code", code, m->code) < 0 ||
        json_str(p, false, &o, v, "area", true, &area) < 0 ||
        take_code(p, false, &o, "area", area, m->area) < 0 ||
        json_str(p, false, &o, v, "name", true, &name) < 0 ||
        take_name(p, false, &o, "name", name, m->name, sizeof m->name) < 0 ||
        json_str(p, false, &o, v, "name_en", false, &name_en) < 0 ||
        take_name_en(p, false, &o, name_en, m->name_en, sizeof m->name_en) < 0 ||
        json_str(p, false, &o, v, "conditions", false, &conditions) < 0 ||
        take_text(p, &o, "conditions", conditions, &ow->conditions) < 0 ||
        json_list(p, &o, v, "materials", &ow->materials) < 0 ||
        json_str(p, false, &o, v, "sample", false, &sample) < 0 ||
        take_text(p, &o, "sample", sample, &ow->sample) < 0 ||
        json_list(p, &o, v, "review_points", &ow->review_points) < 0 ||
        json_flag(p, false, &o, v, "in_one_window", true, &m->in_one_window) < 0 ||
        json_flag(p, false, &o, v, "online_doable", true, &m->online_doable) < 0)
        return -1;
    m->conditions = ow->conditions;
    m->materials = ow->materials;
    m->sample = ow->sample;
    m->review_points = ow->review_points;
    return 0;
}

static int parse_json(struct parse *p, const char *text, size_t len)
{
    static const char *const keys[] = {"areas", "matters", NULL};
    json_error_t je;
    json_t *root, *list, *v;
    const char *key;
    size_t i;
    int rc = -1;

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3, len -= 3;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return bad(p, false, NULL, NULL, "line %d, column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(root)) {
        bad(p, false, NULL, NULL, "expected an object with \"areas\" and \"matters\"");
        goto done;
    }
    json_object_foreach(root, key, v)
    {
        size_t k = 0;
        while (keys[k] != NULL && strcmp(keys[k], key) != 0)
            k++;
        if (keys[k] == NULL) {
            char show[64];
            bad(p, false, NULL, NULL, "unknown key \"%s\" (allowed: areas, matters)",
                shown(key, strlen(key), show, sizeof show));
            goto done;
        }
    }
    list = json_object_get(root, "areas");
    if (!json_is_array(list)) {
        bad(p, false, NULL, NULL, "\"areas\": %s", list ? "expected a list" : "missing");
        goto done;
    }
    json_array_foreach(list, i, v)
    {
        if (json_area(p, i, v) < 0)
            goto done;
    }
    list = json_object_get(root, "matters");
    if (list != NULL && !json_is_array(list)) {
        bad(p, false, NULL, NULL, "\"matters\": expected a list");
        goto done;
    }
    json_array_foreach(list, i, v)
    {
        if (json_matter(p, i, v) < 0)
            goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- Checks across rows ---------------------------------------------------- */

static int check_areas(struct parse *p)
{
    const catalog *c = p->c;
    size_t general = c->nareas;
    char other[32];

    if (c->nareas == 0)
        return bad(p, true, NULL, NULL, "no areas: a catalog needs at least the general area");
    for (size_t i = 0; i < c->nareas; i++) {
        const q_area *a = &c->areas[i];
        for (size_t j = 0; j < i; j++) {
            const q_area *b = &c->areas[j];
            if (strcmp(a->code, b->code) == 0)
                return bad(p, true, &c->area_at[i], "code", "area '%s' is defined twice (also %s)",
                           a->code, place(p, true, &c->area_at[j], other, sizeof other));
            if (strcmp(a->prefix, b->prefix) == 0)
                return bad(p, true, &c->area_at[i], "prefix",
                           "prefix '%s' is already used by area %s (%s)", a->prefix, b->code,
                           place(p, true, &c->area_at[j], other, sizeof other));
        }
        if (a->general && general < c->nareas)
            return bad(p, true, &c->area_at[i], "general",
                       "area %s is marked general, and so is area %s (%s): mark exactly one",
                       a->code, c->areas[general].code,
                       place(p, true, &c->area_at[general], other, sizeof other));
        if (a->general)
            general = i;
    }
    if (general == c->nareas)
        return bad(p, true, NULL, NULL,
                   "no area is marked general: mark exactly one (the hall's general intake "
                   "area, for one-tap tickets)");
    return 0;
}

static int by_code(const void *a, const void *b)
{
    const store_matter *const *x = a, *const *y = b;
    int rc = strcmp((*x)->code, (*y)->code);

    return rc ? rc : (*x < *y ? -1 : *x > *y);
}

static int check_matters(struct parse *p)
{
    const catalog *c = p->c;
    char other[32];

    for (size_t i = 0; i < c->nmatters; i++) {
        const store_matter *m = &c->matters[i];
        size_t k = 0;
        while (k < c->nareas && strcmp(c->areas[k].code, m->area) != 0)
            k++;
        if (k == c->nareas)
            return bad(p, false, &c->matter_at[i], "area", "no area '%s' in this catalog", m->area);
    }
    if (c->nmatters < 2)
        return 0;
    /* Sorted by code (then file order), duplicates sit side by side;
     * report the one that comes first in the file. */
    const store_matter **sorted = malloc(c->nmatters * sizeof *sorted);
    if (sorted == NULL)
        return nomem(p);
    for (size_t i = 0; i < c->nmatters; i++)
        sorted[i] = &c->matters[i];
    qsort(sorted, c->nmatters, sizeof *sorted, by_code);
    size_t dup = c->nmatters, first = 0;
    for (size_t i = 1; i < c->nmatters; i++) {
        if (strcmp(sorted[i]->code, sorted[i - 1]->code) == 0) {
            size_t at = (size_t)(sorted[i] - c->matters);
            if (at < dup) {
                dup = at;
                first = (size_t)(sorted[i - 1] - c->matters);
            }
        }
    }
    free(sorted);
    if (dup < c->nmatters)
        return bad(p, false, &c->matter_at[dup], "code", "matter '%s' is defined twice (also %s)",
                   c->matters[dup].code,
                   place(p, false, &c->matter_at[first], other, sizeof other));
    return 0;
}

/* ---- Rules for other modules ------------------------------------------------ */

bool catalog_code_ok(const char *code)
{
    size_t n = strlen(code);

    return n > 0 && n < Q_CODE_MAX && code_ok(code, n);
}

bool catalog_name_ok(const char *name, size_t cap)
{
    const char *v = name;
    size_t n = strlen(name), trimmed = n;

    trim(&v, &trimmed);
    return n > 0 && trimmed == n && n < cap && utf8_valid(name, n) && !has_control(name, n, false);
}

/* ---- Entry points ------------------------------------------------------------ */

catalog *catalog_parse(const char *name, const char *text, size_t len, catalog_format fmt,
                       char *err, size_t errlen)
{
    struct parse p = {.name = name, .fmt = fmt, .err = err, .errlen = errlen};

    if (fmt != CATALOG_CSV && fmt != CATALOG_JSON) {
        snprintf(err, errlen, "%s: no catalog format given", name);
        errno = EINVAL;
        return NULL;
    }
    if ((p.c = calloc(1, sizeof *p.c)) == NULL) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    int rc = fmt == CATALOG_CSV ? parse_csv(&p, text, len) : parse_json(&p, text, len);
    if (rc < 0 || check_areas(&p) < 0 || check_matters(&p) < 0) {
        catalog_free(p.c);
        return NULL;
    }
    return p.c;
}

catalog *catalog_load(const char *path, catalog_format fmt, char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd = -1;

    if (fmt == CATALOG_AUTO && (fmt = catalog_format_of(path)) == CATALOG_AUTO) {
        snprintf(err, errlen, "%s: cannot tell the format from the name (use .csv or .json)", path);
        errno = EINVAL;
        return NULL;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
        goto io_error;
    if (!S_ISREG(st.st_mode) || st.st_size > CATALOG_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "larger than 4 MiB" : "not a regular file");
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL)
        goto io_error;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto io_error;
        if (n == 0)
            break; /* the file shrank: parse what is there */
        len += (size_t)n;
    }
    close(fd);
    catalog *c = catalog_parse(path, text, len, fmt, err, errlen);
    int saved = errno;
    free(text);
    errno = saved;
    return c;
io_error:;
    int e = errno;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
    if (fd >= 0)
        close(fd);
    free(text);
    errno = e;
    return NULL;
}
