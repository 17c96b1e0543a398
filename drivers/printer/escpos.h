/*
 * escpos — the ticket as ESC/POS bytes (Epson ESC/POS and its Chinese
 * clones), without any I/O.
 *
 * A builder is made once per layout (paper width, QR module size, the
 * hall's template) and turns ticket descriptions into the exact bytes a
 * thermal printer prints: ESC @, centring, Chinese mode (FS &), one line
 * per template directive with GS ! sizes and ESC E bold, a QR code
 * (GS ( k), an optional CODE128 barcode (GS k), feed and cut (GS V).
 * Text is converted from UTF-8 to GB18030; what cannot be printed becomes
 * '?' and is counted, lines wider than the paper are cut at a character
 * boundary. docs/printer.md describes the template and the bytes.
 *
 * Errors are errno values or codes above ESCPOS_ENOBASE, with
 * escpos_strerror() for the sentence.
 */
#ifndef ONEWINDOW_ESCPOS_H
#define ONEWINDOW_ESCPOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clk.h"

#define ESCPOS_ENOBASE 0x45500000 /* "EP" */
#define ESCPOS_ERRORS(X)                                                                           \
    X(ESCPOS_ETEMPLATE, 1, "layout template is not valid")                                         \
    X(ESCPOS_ELAYOUT, 2, "paper width must be 58 or 80 mm and QR module size 1..16")               \
    X(ESCPOS_EQR, 3, "QR payload is empty, too long for a model 2 QR code or has control bytes")   \
    X(ESCPOS_EBARCODE, 4, "barcode payload is not 1..253 printable ASCII characters without '{'")  \
    X(ESCPOS_ENUMBER, 5, "ticket number is not 1..16 printable ASCII characters fitting the line")

enum escpos_error {
#define ESCPOS_ENUM_(name, n, text) name = ESCPOS_ENOBASE + (n),
    ESCPOS_ERRORS(ESCPOS_ENUM_)
#undef ESCPOS_ENUM_
};

/* The longest QR payload accepted: a model 2 QR code of version 40 at
 * error level M (the level the builder uses) holds 2331 bytes in byte mode
 * (ISO/IEC 18004, table 7). The GS ( k store command itself would take
 * up to 7089 (pL + 256 pH <= 7092). */
#define ESCPOS_QR_MAX 2331
/* CODE128 function B: n = 2 ("{B") + data length must fit one byte. */
#define ESCPOS_BARCODE_MAX 253
/* Most directives a template may have. */
#define ESCPOS_TEMPLATE_MAX 32

/* The default template (docs/printer.md lists the directives). */
#define ESCPOS_TEMPLATE_DEFAULT                                                                    \
    "hall|number|offline|mark|area|matter|materials|windows|ahead|wait|time|name|check|missed|qr|" \
    "barcode|feed:3|cut"

typedef struct escpos_layout {
    int paper_mm;        /* 58 (32 characters of font A a line) or 80 (48) */
    int qr_module;       /* QR module size in dots, 1..16 */
    bool font_four_byte; /* the printer's font has the GB18030 four-byte
                            characters; if false they print as '?' */
    const char *tmpl;    /* template, NULL for ESCPOS_TEMPLATE_DEFAULT */
} escpos_layout;

/* One ticket. Strings are UTF-8; NULL means absent (the line is left out). */
typedef struct escpos_ticket {
    const char *hall;   /* hall name */
    const char *number; /* "A001": required, printable ASCII */
    const char *area;
    const char *matter;
    int ahead;           /* people ahead; < 0 unknown (line left out) */
    int wait_min;        /* estimated wait in minutes; < 0 unknown */
    const char *wait;    /* the wait in the screen's words ("即将叫号", "约 12 分钟"):
                            printed instead of wait_min when set */
    const char *mark;    /* "预约", "绿色通道": a mark under the number */
    const char *note;    /* a line under the mark ("请先到咨询台确认…"), wrapped */
    const char *windows; /* the windows serving the area: "办理窗口：1、2、5号" */
    const char *missed;  /* the missed-call rule */
    const char *time;    /* issue time, preformatted; if NULL and zone is
                            set, issued_ms is formatted as YYYY-MM-DD HH:MM */
    int64_t issued_ms;   /* UTC ms */
    const clk_zone *zone;
    const char *name;    /* masked citizen name ("张*") */
    const char *qr;      /* QR payload (the progress/rating URL) */
    const char *barcode; /* CODE128 payload */
    bool offline;        /* issued while the controller was unreachable */
    /* The matter's materials, printed as a checklist (one box a line). */
    const char *const *materials;
    size_t nmaterials;
    const char *check; /* the ticket's check code, shown to cancel at a kiosk */
} escpos_ticket;

/* What one build had to change in the text. */
typedef struct escpos_stats {
    unsigned invalid_utf8; /* ill-formed UTF-8 sequences, each printed as '?' */
    unsigned unprintable;  /* characters GB18030 or the font cannot give, and
                              control characters, each printed as '?' */
    unsigned truncated;    /* lines cut to the paper width */
} escpos_stats;

typedef struct escpos_builder escpos_builder;

/* A builder for a layout; the template is parsed and copied. NULL with
 * errno ESCPOS_ETEMPLATE or ESCPOS_ELAYOUT (a sentence naming the fault
 * goes to err when err is not NULL), EINVAL if layout is NULL, ENOMEM, or
 * what iconv_open() sets if GB18030 is not available. */
escpos_builder *escpos_new(const escpos_layout *layout, char *err, size_t errlen);
void escpos_free(escpos_builder *b);

/* Characters of font A on one line of this builder's paper. */
int escpos_columns(const escpos_builder *b);

/* Append the bytes of ticket t to out: all of them, or nothing on error.
 * stats (may be NULL) is overwritten with the counts of this build.
 * 0 on success; -1 with errno EINVAL (NULL argument), ESCPOS_ENUMBER,
 * ESCPOS_EQR, ESCPOS_EBARCODE, ENOMEM or ENOBUFS (out's limit). */
int escpos_build(escpos_builder *b, const escpos_ticket *t, buf *out, escpos_stats *stats);

/* Readable sentence for an ESCPOS_E* code, or strerror() for an errno. */
const char *escpos_strerror(int err);

#endif
