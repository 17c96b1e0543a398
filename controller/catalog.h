/*
 * catalog — the hall's one-window catalog (the areas citizens queue for,
 * and the matters, 事项, handled in each) read from a CSV or a JSON file.
 *
 * A catalog object exists only if its whole file parsed and validated:
 * catalog_load() reads everything, checks every field and every relation
 * (unique codes and prefixes, matters in known areas, exactly one general
 * area) and returns NULL with the first error if anything is wrong, so an
 * import stores all of a file or none of it (store_replace_catalog() then
 * writes it in one transaction).
 *
 * Errors name the file, where in it, the column or key, and what is
 * wrong:
 *
 *   catalog.csv:7: column area: no area 'Z' in this catalog
 *   catalog.json: matters[3].in_one_window: expected true or false
 *
 * CSV line numbers are those of the line a record starts on (a quoted
 * field may span lines). The formats and rules: docs/catalog.md.
 *
 * Errors return NULL with errno EINVAL (the content), ENOMEM, or the
 * errno of reading the file, and a one-line reason in err.
 */
#ifndef ONEWINDOW_CATALOG_H
#define ONEWINDOW_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"
#include "store.h"

#define CATALOG_FILE_MAX    (4 * 1024 * 1024) /* bytes */
#define CATALOG_AREAS_MAX   100
#define CATALOG_MATTERS_MAX 5000
#define CATALOG_TEXT_MAX    4000 /* conditions, sample: bytes */
#define CATALOG_ITEM_MAX    500  /* one material or review point: bytes */
#define CATALOG_ITEMS_MAX   50   /* materials or review points per matter */

typedef struct catalog catalog;

typedef enum catalog_format { CATALOG_AUTO = 0, CATALOG_CSV, CATALOG_JSON } catalog_format;

/* By the file name's extension (.csv, .json, any case); CATALOG_AUTO if it
 * says neither. */
catalog_format catalog_format_of(const char *path);
/* "csv" or "json"; -1 for anything else. */
int catalog_format_parse(const char *name);

/* Read, parse and validate a catalog file. fmt CATALOG_AUTO: by the
 * extension (an unknown one is an error). */
catalog *catalog_load(const char *path, catalog_format fmt, char *err, size_t errlen);
/* The same from memory (len bytes, need not be NUL-terminated); name is
 * the file name used in messages; fmt must be CSV or JSON. */
catalog *catalog_parse(const char *name, const char *text, size_t len, catalog_format fmt,
                       char *err, size_t errlen);
void catalog_free(catalog *c);

/* Areas and matters in file order. A matter's text fields are owned by the
 * catalog; materials and review points hold one item per line. */
size_t catalog_area_count(const catalog *c);
const q_area *catalog_areas(const catalog *c);
size_t catalog_matter_count(const catalog *c);
const store_matter *catalog_matters(const catalog *c);

/* The catalog's rules, for names given elsewhere (hallctl applies them to
 * windows and clerks): a code is 1..15 of [A-Za-z0-9_-]; a name is one
 * line of valid UTF-8 without control characters or surrounding spaces
 * that fits cap bytes with its NUL. */
bool catalog_code_ok(const char *code);
bool catalog_name_ok(const char *name, size_t cap);

#endif
