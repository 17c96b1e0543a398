/*
 * sam — SAM frame building and scanning (sam.h has the contract). Byte
 * order is stated once: Len and the lengths inside a read answer are
 * big-endian, and be16()/put_be16() are the only places that know it.
 */
#include "sam.h"

#include <errno.h>
#include <string.h>

static const uint8_t preamble[SAM_PREAMBLE_LEN] = {0xAA, 0xAA, 0xAA, 0x96, 0x69};

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static void put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The checksum of devices.md 4.1: XOR of Len1 .. last DATA byte. */
static uint8_t xor_of(const uint8_t *p, size_t n)
{
    uint8_t x = 0;

    for (size_t i = 0; i < n; i++)
        x ^= p[i];
    return x;
}

size_t sam_frame(uint8_t *out, size_t cap, const uint8_t *payload, size_t len)
{
    size_t total;

    if (out == NULL || payload == NULL || len == 0 || len + 1 > SAM_LEN_MAX) {
        errno = EINVAL;
        return 0;
    }
    total = SAM_HEADER_LEN + len + 1;
    if (cap < total) {
        errno = ENOBUFS;
        return 0;
    }
    memcpy(out, preamble, SAM_PREAMBLE_LEN);
    put_be16(out + SAM_PREAMBLE_LEN, len + 1);
    memmove(out + SAM_HEADER_LEN, payload, len);
    out[total - 1] = xor_of(out + SAM_PREAMBLE_LEN, 2 + len);
    return total;
}

size_t sam_command(enum sam_cmd cmd, const uint8_t *data, size_t datalen, uint8_t *out, size_t cap)
{
    uint8_t payload[3];
    size_t want = cmd == SAM_CMD_SET_RF ? 1 : 0;

    if (datalen != want || (want > 0 && data == NULL)) {
        errno = EINVAL;
        return 0;
    }
    payload[0] = (uint8_t)((unsigned)cmd >> 8);
    payload[1] = (uint8_t)cmd;
    if (want > 0)
        payload[2] = data[0];
    return sam_frame(out, cap, payload, 2 + want);
}

size_t sam_response(uint8_t sw3, const uint8_t *data, size_t datalen, uint8_t *out, size_t cap)
{
    size_t total = SAM_HEADER_LEN + 3 + datalen + 1;

    if (out == NULL || (datalen > 0 && data == NULL) || 3 + datalen + 1 > SAM_LEN_MAX) {
        errno = EINVAL;
        return 0;
    }
    if (cap < total) {
        errno = ENOBUFS;
        return 0;
    }
    /* Built in place: sam_frame moves the payload from where it already is. */
    out[SAM_HEADER_LEN] = 0;
    out[SAM_HEADER_LEN + 1] = 0;
    out[SAM_HEADER_LEN + 2] = sw3;
    if (datalen > 0)
        memmove(out + SAM_HEADER_LEN + 3, data, datalen);
    return sam_frame(out, cap, out + SAM_HEADER_LEN, 3 + datalen);
}

int sam_timeout_ms(enum sam_cmd cmd)
{
    switch (cmd) {
    case SAM_CMD_RESET:
    case SAM_CMD_STATUS:
    case SAM_CMD_SAM_ID:
    case SAM_CMD_SET_RF:
        return 300;
    case SAM_CMD_FIND:
    case SAM_CMD_SELECT:
        return 500;
    case SAM_CMD_READ:
    case SAM_CMD_READ_FP:
        return 3500;
    case SAM_CMD_READ_ADDR:
        return 1000;
    }
    return 500;
}

const char *sam_cmd_name(enum sam_cmd cmd)
{
    switch (cmd) {
    case SAM_CMD_RESET:
        return "reset SAM";
    case SAM_CMD_STATUS:
        return "SAM status";
    case SAM_CMD_SAM_ID:
        return "read SAM id";
    case SAM_CMD_FIND:
        return "find card";
    case SAM_CMD_SELECT:
        return "select card";
    case SAM_CMD_READ:
        return "read text and photo";
    case SAM_CMD_READ_FP:
        return "read text, photo and fingerprint";
    case SAM_CMD_READ_ADDR:
        return "read appended address";
    case SAM_CMD_SET_RF:
        return "set RF frame size";
    }
    return "unknown command";
}

const char *sam_status_str(uint8_t sw3)
{
    switch (sw3) {
    case SAM_SW_OK:
        return "success";
    case SAM_SW_NO_ITEM:
        return "the card has no such item";
    case SAM_SW_FOUND:
        return "card found";
    case SAM_SW_BAD_CHK:
        return "the reader received a command with a bad checksum";
    case SAM_SW_BAD_LEN:
        return "the reader received a command with a bad length";
    case SAM_SW_BAD_CMD:
        return "the reader refused the command (bad value or combination)";
    case SAM_SW_UNAUTHORISED:
        return "unauthorised operation";
    case SAM_SW_UNKNOWN:
        return "the reader reports an unrecognised error";
    case SAM_SW_CARD_AUTH:
        return "the card failed to authenticate the SAM";
    case SAM_SW_SAM_AUTH:
        return "the SAM failed to authenticate the card";
    case SAM_SW_VERIFY:
        return "information verification failed";
    case SAM_SW_FP_VERIFY:
        return "fingerprint verification error";
    case SAM_SW_INFO_LEN:
        return "information length error";
    case SAM_SW_CARD_TYPE:
        return "unrecognised card type";
    case SAM_SW_READ_FAILED:
        return "reading the card failed (card removed during the read?)";
    case SAM_SW_RANDOM:
        return "getting a random number failed";
    case SAM_SW_SELF_TEST:
        return "the SAM self-test failed: it cannot accept commands";
    case SAM_SW_NOT_AUTHORISED:
        return "the SAM is not authorised";
    case SAM_SW_NO_CARD:
        return "find card failed (no card)";
    case SAM_SW_SELECT_FAILED:
        return "select card failed";
    default:
        return "unknown status";
    }
}

/* Where buf[from..len) holds a complete preamble, or where a preamble may
 * begin that the end of buf cuts short; len if neither. */
static size_t find_preamble(const uint8_t *buf, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        size_t n = len - i < SAM_PREAMBLE_LEN ? len - i : SAM_PREAMBLE_LEN;

        if (memcmp(buf + i, preamble, n) == 0)
            return i;
    }
    return len;
}

enum sam_scan sam_scan(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *plen,
                       size_t *consumed, size_t *skipped)
{
    size_t at, flen, total;
    size_t ignore;

    if (skipped == NULL)
        skipped = &ignore;
    at = find_preamble(buf, len, 0);
    *consumed = *skipped = at;
    if (len - at < SAM_HEADER_LEN)
        return SAM_SCAN_MORE;
    flen = be16(buf + at + SAM_PREAMBLE_LEN);
    if (flen == 0 || flen > SAM_LEN_MAX) {
        *consumed = at + 1;
        return SAM_SCAN_BADLEN;
    }
    total = SAM_HEADER_LEN + flen;
    if (len - at < total)
        return SAM_SCAN_MORE;
    if (xor_of(buf + at + SAM_PREAMBLE_LEN, 2 + flen - 1) != buf[at + total - 1]) {
        *consumed = at + 1;
        return SAM_SCAN_BADCHK;
    }
    *payload = buf + at + SAM_HEADER_LEN;
    *plen = flen - 1;
    *consumed = at + total;
    return SAM_SCAN_FRAME;
}

int sam_reply_parse(const uint8_t *payload, size_t plen, sam_reply *out)
{
    if (payload == NULL || plen < 3) {
        errno = EBADMSG;
        return -1;
    }
    out->sw1 = payload[0];
    out->sw2 = payload[1];
    out->sw3 = payload[2];
    out->data = payload + 3;
    out->datalen = plen - 3;
    return 0;
}

/* The data length of a successful answer to cmd; -1 for "any". */
static long ok_length(enum sam_cmd cmd)
{
    switch (cmd) {
    case SAM_CMD_FIND:
        return SAM_FIND_LEN;
    case SAM_CMD_SELECT:
        return SAM_SELECT_LEN;
    case SAM_CMD_SAM_ID:
        return SAM_SAMID_LEN;
    case SAM_CMD_READ_ADDR:
        return SAM_ADDR_LEN;
    case SAM_CMD_RESET:
    case SAM_CMD_STATUS:
    case SAM_CMD_SET_RF:
        return 0;
    case SAM_CMD_READ:
    case SAM_CMD_READ_FP:
        break;
    }
    return -1;
}

bool sam_reply_fits(enum sam_cmd cmd, const sam_reply *r)
{
    bool ok_code = cmd == SAM_CMD_FIND ? r->sw3 == SAM_SW_FOUND : r->sw3 == SAM_SW_OK;
    long want = ok_length(cmd);

    if (ok_code) {
        if (want >= 0)
            return r->datalen == (size_t)want;
        /* A read answer carries at least its length header. */
        return r->datalen >= (cmd == SAM_CMD_READ_FP ? 6u : 4u);
    }
    /* Failures carry no data; a find answers 80 and never 90, a select or
     * read never 9F or 80. */
    if (r->datalen != 0)
        return false;
    switch (r->sw3) {
    case SAM_SW_FOUND:
    case SAM_SW_OK:
        return false;
    case SAM_SW_NO_CARD:
        return cmd == SAM_CMD_FIND;
    case SAM_SW_SELECT_FAILED:
        return cmd == SAM_CMD_SELECT;
    default:
        return true;
    }
}

int sam_card_data_parse(const sam_reply *r, bool with_fp, sam_card_data *out)
{
    size_t head = with_fp ? 6 : 4, need;

    if (r->datalen < head) {
        errno = EBADMSG;
        return -1;
    }
    out->textlen = be16(r->data);
    out->photolen = be16(r->data + 2);
    out->fplen = with_fp ? be16(r->data + 4) : 0;
    need = head + out->textlen + out->photolen + out->fplen;
    if (need != r->datalen) {
        errno = EBADMSG;
        return -1;
    }
    out->text = r->data + head;
    out->photo = out->text + out->textlen;
    out->fp = with_fp ? out->photo + out->photolen : NULL;
    return 0;
}

size_t sam_card_data_build(const sam_card_data *in, bool with_fp, uint8_t *out, size_t cap)
{
    size_t head = with_fp ? 6 : 4;
    size_t fplen = with_fp ? in->fplen : 0;
    size_t total = head + in->textlen + in->photolen + fplen;

    if (in->textlen > 0xFFFF || in->photolen > 0xFFFF || fplen > 0xFFFF) {
        errno = EINVAL;
        return 0;
    }
    if (cap < total) {
        errno = ENOBUFS;
        return 0;
    }
    put_be16(out, in->textlen);
    put_be16(out + 2, in->photolen);
    if (with_fp)
        put_be16(out + 4, fplen);
    if (in->textlen > 0)
        memcpy(out + head, in->text, in->textlen);
    if (in->photolen > 0)
        memcpy(out + head + in->textlen, in->photo, in->photolen);
    if (fplen > 0)
        memcpy(out + head + in->textlen + in->photolen, in->fp, fplen);
    return total;
}
