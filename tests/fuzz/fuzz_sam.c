/*
 * fuzz_sam — libFuzzer target for the ID-card reader's pure parts
 * (drivers/idcard): the input is what a reader might send, and what a
 * card's text block might hold.
 *
 *  1. The input as a byte stream from the reader, scanned as the driver
 *     scans it (whole, and in chunks whose size the first byte picks):
 *     the scanner must always make progress and keep every frame inside
 *     the buffer; each frame is split as an answer to every command and
 *     as a read answer (with and without fingerprints), and each text
 *     block found goes to the decoder.
 *  2. The first 256 bytes as a text block (and the next 70 as an
 *     appended address): a decoded card must be whole (every promised
 *     field set, the ID number checked) and encode back to a block that
 *     decodes to the same card.
 *  3. The input as commands to the software SAM (samdev), whose answers
 *     must scan as frames.
 *
 * Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idcard.h"
#include "idnum.h"
#include "sam.h"
#include "samdev.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum sam_cmd commands[] = {
    SAM_CMD_RESET, SAM_CMD_STATUS,  SAM_CMD_SAM_ID,    SAM_CMD_FIND,   SAM_CMD_SELECT,
    SAM_CMD_READ,  SAM_CMD_READ_FP, SAM_CMD_READ_ADDR, SAM_CMD_SET_RF,
};

static void same_card(const idcard_identity *a, const idcard_identity *b)
{
    CHECK(a->type == b->type);
    CHECK(strcmp(a->name, b->name) == 0);
    CHECK(strcmp(a->name_en, b->name_en) == 0);
    CHECK(a->sex_code == b->sex_code);
    CHECK(strcmp(a->nation_code, b->nation_code) == 0);
    CHECK(strcmp(a->nationality, b->nationality) == 0);
    CHECK(strcmp(a->birth, b->birth) == 0);
    CHECK(strcmp(a->address, b->address) == 0);
    CHECK(strcmp(a->id_number, b->id_number) == 0);
    CHECK(strcmp(a->authority, b->authority) == 0);
    CHECK(strcmp(a->valid_from, b->valid_from) == 0);
    CHECK(strcmp(a->valid_to, b->valid_to) == 0);
    CHECK(a->long_term == b->long_term);
    CHECK(a->expired == b->expired);
    CHECK(strcmp(a->pass_number, b->pass_number) == 0);
    CHECK(a->issue_count == b->issue_count);
}

static void decode_text(const uint8_t *text, size_t len, const uint8_t *addr, size_t addrlen)
{
    idcard_identity id, again;
    uint8_t block[SAM_TEXT_LEN];
    char why[256];
    idcard_result r = idcard_decode(text, len, addr, addrlen, 20260115, &id, why, sizeof why);

    if (r != IDCARD_OK) {
        static const idcard_identity zero;

        CHECK(why[0] != '\0');
        CHECK(memcmp(&id, &zero, sizeof id) == 0); /* nothing of the card is left */
        return;
    }
    CHECK(id.name[0] != '\0');
    CHECK(id.sex != NULL && id.sex[0] != '\0');
    CHECK(idcard_date_valid(id.birth) && idcard_date_valid(id.valid_from));
    CHECK(id.long_term || idcard_date_valid(id.valid_to));
    if (id.type != IDCARD_FOREIGN_2017)
        CHECK(idnum_gb11643_valid(id.id_number));
    if (id.type == IDCARD_RESIDENT)
        CHECK(id.nation != NULL && id.nation[0] != '\0');
    if (addr != NULL)
        return; /* the joined address need not fit one field again */
    CHECK(idcard_encode(&id, block, sizeof block) == 0);
    CHECK(idcard_decode(block, sizeof block, NULL, 0, 20260115, &again, why, sizeof why) ==
          IDCARD_OK);
    same_card(&id, &again);
}

static void take_frame(const uint8_t *payload, size_t plen)
{
    sam_reply r;

    if (sam_reply_parse(payload, plen, &r) != 0) {
        CHECK(plen < 3);
        return;
    }
    CHECK(r.datalen == plen - 3);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        (void)sam_reply_fits(commands[i], &r);
    for (int fp = 0; fp < 2; fp++) {
        sam_card_data cd;

        if (sam_card_data_parse(&r, fp != 0, &cd) != 0)
            continue;
        CHECK(cd.text >= r.data && cd.text + cd.textlen <= r.data + r.datalen);
        CHECK(cd.photo + cd.photolen <= r.data + r.datalen);
        if (cd.fp != NULL)
            CHECK(cd.fp + cd.fplen == r.data + r.datalen);
        decode_text(cd.text, cd.textlen, NULL, 0);
    }
}

/* Scan data as a stream arriving chunk bytes at a time. */
static void scan_stream(const uint8_t *data, size_t size, size_t chunk)
{
    static uint8_t buf[2 * SAM_FRAME_MAX];
    size_t len = 0, fed = 0;

    while (fed < size) {
        size_t n = size - fed < chunk ? size - fed : chunk;

        if (n > sizeof buf - len)
            n = sizeof buf - len;
        memcpy(buf + len, data + fed, n);
        len += n;
        fed += n;
        for (;;) {
            const uint8_t *p = NULL;
            size_t plen = 0, used = 0, skipped = 0;
            enum sam_scan sc = sam_scan(buf, len, &p, &plen, &used, &skipped);

            CHECK(used <= len && skipped <= used);
            if (sc == SAM_SCAN_FRAME) {
                CHECK(p >= buf + SAM_HEADER_LEN && p + plen + 1 == buf + used);
                take_frame(p, plen);
            } else if (sc != SAM_SCAN_MORE) {
                CHECK(used > 0);
            }
            memmove(buf, buf + used, len - used);
            len -= used;
            if (sc == SAM_SCAN_MORE)
                break;
        }
        /* Whatever is left is one frame at most, so the buffer never fills. */
        CHECK(len <= SAM_FRAME_MAX);
    }
}

static void drive_samdev(const uint8_t *data, size_t size)
{
    static uint8_t reply[SAMDEV_REPLY_MAX];
    samdev *d = samdev_new((samdev_card)(size > 0 ? data[0] % SAMDEV_CARD_COUNT : 0));
    size_t n;

    CHECK(d != NULL);
    (void)samdev_push(d, data, size);
    while ((n = samdev_reply(d, reply, sizeof reply)) > 0) {
        const uint8_t *p;
        size_t plen, used;

        CHECK(sam_scan(reply, n, &p, &plen, &used, NULL) == SAM_SCAN_FRAME && used == n);
    }
    samdev_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_stream(data, size, size > 0 ? size : 1);
    if (size > 0)
        scan_stream(data, size, (size_t)data[0] % 64 + 1);
    if (size >= SAM_TEXT_LEN) {
        decode_text(data, SAM_TEXT_LEN, NULL, 0);
        if (size >= SAM_TEXT_LEN + SAM_ADDR_LEN)
            decode_text(data, SAM_TEXT_LEN, data + SAM_TEXT_LEN, SAM_ADDR_LEN);
    }
    drive_samdev(data, size);
    return 0;
}
