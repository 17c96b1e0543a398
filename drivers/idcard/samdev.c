/*
 * samdev — the software SAM reader (samdev.h has the contract): the card
 * table, the command dispatcher and the one-shot faults. Received bytes
 * collect in a buffer of two frames; sam_scan() finds the commands, as it
 * finds answers for the driver.
 */
#include "samdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idcard_privacy.h"
#include "idnum.h"

#define IN_CAP (2 * SAM_FRAME_MAX)

struct samdev {
    samdev_card card;
    samdev_fault fault;
    bool fault_any;
    uint8_t in[IN_CAP];
    size_t inlen;
    unsigned long commands;
    uint32_t noise; /* state of the noise generator */
};

static const char *const card_names[SAMDEV_CARD_COUNT] = {
    [SAMDEV_NONE] = "none",
    [SAMDEV_VALID] = "valid",
    [SAMDEV_EXPIRED] = "expired",
    [SAMDEV_BAD_CHECK] = "bad-check",
    [SAMDEV_BAD_DATE] = "bad-date",
    [SAMDEV_PERMANENT] = "permanent",
    [SAMDEV_PERMANENT_2017] = "permanent-2017",
    [SAMDEV_HKMT] = "hkmt",
};

static const char *const fault_names[SAMDEV_FAULT_COUNT] = {
    [SAMDEV_FAULT_NONE] = "none",
    [SAMDEV_FAULT_GARBAGE] = "garbage",
    [SAMDEV_FAULT_NOISE] = "noise",
    [SAMDEV_FAULT_TRUNCATED] = "truncated",
    [SAMDEV_FAULT_BAD_CHECKSUM] = "bad-checksum",
};

const char *samdev_card_name(samdev_card c)
{
    return (int)c >= 0 && c < SAMDEV_CARD_COUNT ? card_names[c] : NULL;
}

int samdev_card_parse(const char *name, samdev_card *out)
{
    for (int i = 0; name != NULL && i < SAMDEV_CARD_COUNT; i++)
        if (strcmp(name, card_names[i]) == 0) {
            *out = (samdev_card)i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

const char *samdev_fault_name(samdev_fault f)
{
    return (int)f >= 0 && f < SAMDEV_FAULT_COUNT ? fault_names[f] : NULL;
}

int samdev_fault_parse(const char *name, samdev_fault *out)
{
    for (int i = 0; name != NULL && i < SAMDEV_FAULT_COUNT; i++)
        if (strcmp(name, fault_names[i]) == 0) {
            *out = (samdev_fault)i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

/* A resident card of a fictitious person: number is 17 digits, the check
 * digit is computed. */
static void resident(idcard_identity *id, const char *name, char sex, const char *birth,
                     const char *first17, const char *from, const char *to)
{
    id->type = IDCARD_RESIDENT;
    strcpy(id->name, name);
    id->sex_code = sex;
    strcpy(id->nation_code, "01");
    strcpy(id->birth, birth);
    strcpy(id->address, "北京市东城区示例路1号");
    memcpy(id->id_number, first17, 17);
    id->id_number[17] = idnum_check_digit(first17);
    id->id_number[18] = '\0';
    strcpy(id->authority, "北京市公安局东城分局");
    strcpy(id->valid_from, from);
    strcpy(id->valid_to, to);
}

int samdev_card_identity(samdev_card c, idcard_identity *id)
{
    memset(id, 0, sizeof *id);
    switch (c) {
    case SAMDEV_VALID:
        resident(id, "张三", '1', "19900307", "11010119900307123", "20200101", "20400101");
        return 0;
    case SAMDEV_EXPIRED:
        resident(id, "李四", '2', "19800101", "44052419800101002", "20000101", "20200101");
        return 0;
    case SAMDEV_BAD_CHECK:
        resident(id, "王五", '1', "19900307", "11010119900307133", "20200101", "20400101");
        /* any digit but the right one */
        id->id_number[17] = id->id_number[17] == '0' ? '1' : '0';
        return 0;
    case SAMDEV_BAD_DATE:
        resident(id, "赵六", '1', "19900230", "11010119900230123", "20200101", "20400101");
        return 0;
    case SAMDEV_PERMANENT:
        id->type = IDCARD_FOREIGN_2023;
        strcpy(id->name, "玛丽");
        strcpy(id->name_en, "SMITH MARY ANN ELIZABETH CATHERINE JOHNSON");
        id->sex_code = '2';
        strcpy(id->birth, "19850615");
        strcpy(id->id_number, "91184019850615002");
        id->id_number[17] = idnum_check_digit(id->id_number);
        id->id_number[18] = '\0';
        strcpy(id->nationality, "USA");
        strcpy(id->valid_from, "20230601");
        strcpy(id->valid_to, "20330601");
        id->issue_count = 0;
        return 0;
    case SAMDEV_PERMANENT_2017:
        id->type = IDCARD_FOREIGN_2017;
        strcpy(id->name_en, "DOE JOHN");
        strcpy(id->name, "约翰");
        id->sex_code = '1';
        strcpy(id->id_number, "USA110085061501");
        strcpy(id->nationality, "USA");
        strcpy(id->birth, "19850615");
        strcpy(id->valid_from, "20170601");
        strcpy(id->valid_to, "20270601");
        strcpy(id->authority, "1100");
        return 0;
    case SAMDEV_HKMT:
        id->type = IDCARD_HKMT;
        strcpy(id->name, "陈大文");
        id->sex_code = '1';
        strcpy(id->birth, "19880808");
        strcpy(id->address, "广东省深圳市福田区示例街2号");
        strcpy(id->id_number, "81000019880808031");
        id->id_number[17] = idnum_check_digit(id->id_number);
        id->id_number[18] = '\0';
        strcpy(id->authority, "深圳市公安局");
        strcpy(id->valid_from, "20240101");
        strcpy(id->valid_to, "20290101");
        strcpy(id->pass_number, "H12345678");
        id->issue_count = 1;
        return 0;
    case SAMDEV_NONE:
    case SAMDEV_CARD_COUNT:
        break;
    }
    errno = EINVAL;
    return -1;
}

samdev *samdev_new(samdev_card c)
{
    samdev *d;

    if ((int)c < 0 || c >= SAMDEV_CARD_COUNT) {
        errno = EINVAL;
        return NULL;
    }
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->card = c;
    d->noise = 0x2545F491u;
    return d;
}

void samdev_free(samdev *d)
{
    free(d);
}

void samdev_set_card(samdev *d, samdev_card c)
{
    if ((int)c >= 0 && c < SAMDEV_CARD_COUNT)
        d->card = c;
}

samdev_card samdev_get_card(const samdev *d)
{
    return d->card;
}

void samdev_set_fault(samdev *d, samdev_fault f, bool any)
{
    d->fault = f;
    d->fault_any = any;
}

unsigned long samdev_commands(const samdev *d)
{
    return d->commands;
}

int samdev_push(samdev *d, const uint8_t *in, size_t len)
{
    int rc = 0;

    if (len > IN_CAP) {
        in += len - IN_CAP;
        len = IN_CAP;
        rc = -1;
    }
    if (d->inlen + len > IN_CAP) {
        size_t drop = d->inlen + len - IN_CAP;

        memmove(d->in, d->in + drop, d->inlen - drop);
        d->inlen -= drop;
        rc = -1;
    }
    memcpy(d->in + d->inlen, in, len);
    d->inlen += len;
    if (rc != 0)
        errno = ENOBUFS;
    return rc;
}

/* Bytes of noise that never contain 0xAA, so they never start a frame. */
static void noise(samdev *d, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        d->noise ^= d->noise << 13;
        d->noise ^= d->noise >> 17;
        d->noise ^= d->noise << 5;
        out[i] = (uint8_t)d->noise;
        if (out[i] == 0xAA)
            out[i] = 0x55;
    }
}

/* The card's read answer data: lengths, text, a photo pattern and, for
 * 30 10, a fingerprint pattern (the valid card has fingerprints). */
static size_t read_data(samdev *d, bool with_fp, uint8_t *out, size_t cap)
{
    uint8_t photo[SAM_PHOTO_LEN], fp[SAM_FP_LEN], text[SAM_TEXT_LEN];
    idcard_identity id;
    sam_card_data cd = {0};
    size_t n;

    if (samdev_card_identity(d->card, &id) != 0 || idcard_encode(&id, text, sizeof text) != 0)
        return 0;
    for (size_t i = 0; i < sizeof photo; i++) {
        photo[i] = (uint8_t)(i * 7 + 1);
        fp[i] = (uint8_t)(i * 13 + 3);
    }
    cd.text = text;
    cd.textlen = sizeof text;
    cd.photo = photo;
    cd.photolen = sizeof photo;
    cd.fp = fp;
    cd.fplen = d->card == SAMDEV_VALID ? sizeof fp : 0;
    n = sam_card_data_build(&cd, with_fp, out, cap);
    idcard_privacy_wipe(&id, sizeof id);
    idcard_privacy_wipe(text, sizeof text);
    return n;
}

/* The answer to one command payload (CMD PARA DATA). */
static size_t answer(samdev *d, const uint8_t *p, size_t plen, uint8_t *out, size_t cap)
{
    static const uint8_t zeros[SAM_SELECT_LEN] = {0};
    static const uint8_t samid[SAM_SAMID_LEN] = {0x05, 0x02, 0x20, 0x26, 0x01, 0x15, 0x00, 0x00,
                                                 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x01};
    uint8_t data[SAM_FRAME_MAX];
    unsigned cmd;
    bool card = d->card != SAMDEV_NONE;
    size_t n;

    if (plen < 2)
        return sam_response(SAM_SW_BAD_LEN, NULL, 0, out, cap);
    cmd = (unsigned)p[0] << 8 | p[1];
    if ((cmd == SAM_CMD_SET_RF) != (plen == 3) || plen > 3)
        return sam_response(SAM_SW_BAD_LEN, NULL, 0, out, cap);
    switch (cmd) {
    case SAM_CMD_RESET:
    case SAM_CMD_STATUS:
    case SAM_CMD_SET_RF:
        return sam_response(SAM_SW_OK, NULL, 0, out, cap);
    case SAM_CMD_SAM_ID:
        return sam_response(SAM_SW_OK, samid, sizeof samid, out, cap);
    case SAM_CMD_FIND:
        return card ? sam_response(SAM_SW_FOUND, zeros, SAM_FIND_LEN, out, cap)
                    : sam_response(SAM_SW_NO_CARD, NULL, 0, out, cap);
    case SAM_CMD_SELECT:
        return card ? sam_response(SAM_SW_OK, zeros, SAM_SELECT_LEN, out, cap)
                    : sam_response(SAM_SW_SELECT_FAILED, NULL, 0, out, cap);
    case SAM_CMD_READ:
    case SAM_CMD_READ_FP:
        if (!card)
            return sam_response(SAM_SW_READ_FAILED, NULL, 0, out, cap);
        n = read_data(d, cmd == SAM_CMD_READ_FP, data, sizeof data);
        return n > 0 ? sam_response(SAM_SW_OK, data, n, out, cap)
                     : sam_response(SAM_SW_UNKNOWN, NULL, 0, out, cap);
    case SAM_CMD_READ_ADDR:
        /* The hkmt card carries an appended address; the others none. */
        if (d->card != SAMDEV_HKMT)
            return sam_response(card ? SAM_SW_NO_ITEM : SAM_SW_READ_FAILED, NULL, 0, out, cap);
        if (idcard_encode_address("（迁入）福田区示例街3号", data, SAM_ADDR_LEN) != 0)
            return sam_response(SAM_SW_UNKNOWN, NULL, 0, out, cap);
        return sam_response(SAM_SW_OK, data, SAM_ADDR_LEN, out, cap);
    default:
        return sam_response(SAM_SW_BAD_CMD, NULL, 0, out, cap);
    }
}

/* Apply the armed fault to the answer out[0..n) if it is due. */
static size_t misbehave(samdev *d, const uint8_t *p, size_t plen, uint8_t *out, size_t n,
                        size_t cap)
{
    bool is_read = plen >= 2 && p[0] == 0x30 && (p[1] == 0x01 || p[1] == 0x10);

    if (d->fault == SAMDEV_FAULT_NONE || n == 0 || !(d->fault_any || is_read))
        return n;
    switch (d->fault) {
    case SAMDEV_FAULT_GARBAGE:
        n = 32;
        noise(d, out, n);
        break;
    case SAMDEV_FAULT_NOISE:
        if (n + 16 <= cap) {
            memmove(out + 16, out, n);
            noise(d, out, 16);
            n += 16;
        }
        break;
    case SAMDEV_FAULT_TRUNCATED:
        n /= 2;
        break;
    case SAMDEV_FAULT_BAD_CHECKSUM:
        out[n - 1] ^= 0x5A;
        break;
    case SAMDEV_FAULT_NONE:
    case SAMDEV_FAULT_COUNT:
        break;
    }
    d->fault = SAMDEV_FAULT_NONE;
    return n;
}

size_t samdev_reply(samdev *d, uint8_t *out, size_t cap)
{
    for (;;) {
        const uint8_t *p = NULL;
        size_t plen = 0, used = 0, n;
        enum sam_scan sc = sam_scan(d->in, d->inlen, &p, &plen, &used, NULL);

        if (sc == SAM_SCAN_MORE) {
            memmove(d->in, d->in + used, d->inlen - used);
            d->inlen -= used;
            return 0;
        }
        if (sc == SAM_SCAN_FRAME) {
            n = answer(d, p, plen, out, cap);
            n = misbehave(d, p, plen, out, n, cap);
        } else {
            n = sam_response(sc == SAM_SCAN_BADCHK ? SAM_SW_BAD_CHK : SAM_SW_BAD_LEN, NULL, 0, out,
                             cap);
        }
        memmove(d->in, d->in + used, d->inlen - used);
        d->inlen -= used;
        d->commands++;
        if (n > 0)
            return n;
    }
}
