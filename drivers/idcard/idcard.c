/*
 * idcard — text block decoding, checking and encoding (idcard.h has the
 * contract). Layout: the result sentences and code tables; UCS-2LE <-> UTF-8
 * for one field; the layouts of the four card types (devices.md 4.5) as
 * tables of (offset, length, field); dates and the ID number; decode;
 * encode.
 *
 * Every field is read through field_get(), which only ever looks at
 * text[off .. off + len), and the layouts are checked against
 * SAM_TEXT_LEN, so a block of the right length is never read past.
 */
#include "idcard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "idcard_privacy.h"
#include "idnum.h"
#include "sam.h"

const char *idcard_strerror(idcard_result r)
{
    switch (r) {
#define IDCARD_CASE_(name, n, text)                                                                \
    case name:                                                                                     \
        return text;
        IDCARD_RESULTS(IDCARD_CASE_)
#undef IDCARD_CASE_
    }
    return "unknown ID card result";
}

const char *idcard_type_name(idcard_type t)
{
    switch (t) {
    case IDCARD_RESIDENT:
        return "resident";
    case IDCARD_HKMT:
        return "hkmt";
    case IDCARD_FOREIGN_2017:
        return "foreign-2017";
    case IDCARD_FOREIGN_2023:
        return "foreign-2023";
    }
    return "unknown";
}

/* ---- code tables (devices.md 4.6) ---- */

const char *idcard_sex_name(char code)
{
    switch (code) {
    case '0':
        return "未知";
    case '1':
        return "男";
    case '2':
        return "女";
    case '9':
        return "未说明";
    default:
        return NULL;
    }
}

/* GB 3304, codes 01..56, then 97 and 98. */
static const char *const nations[] = {
    "汉",     "蒙古",   "回",       "藏",     "维吾尔",   "苗",   "彝",     "壮",
    "布依",   "朝鲜",   "满",       "侗",     "瑶",       "白",   "土家",   "哈尼",
    "哈萨克", "傣",     "黎",       "傈僳",   "佤",       "畲",   "高山",   "拉祜",
    "水",     "东乡",   "纳西",     "景颇",   "柯尔克孜", "土",   "达斡尔", "仫佬",
    "羌",     "布朗",   "撒拉",     "毛南",   "仡佬",     "锡伯", "阿昌",   "普米",
    "塔吉克", "怒",     "乌孜别克", "俄罗斯", "鄂温克",   "德昂", "保安",   "裕固",
    "京",     "塔塔尔", "独龙",     "鄂伦春", "赫哲",     "门巴", "珞巴",   "基诺",
};

const char *idcard_nation_name(const char *code)
{
    int n;

    if (code == NULL || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' ||
        code[2] != '\0')
        return NULL;
    n = (code[0] - '0') * 10 + (code[1] - '0');
    if (n >= 1 && n <= (int)(sizeof nations / sizeof nations[0]))
        return nations[n - 1];
    if (n == 97)
        return "其他";
    if (n == 98)
        return "外国血统中国籍人士";
    return NULL;
}

/* ---- one field: UCS-2LE <-> UTF-8 ---- */

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Decode text[off .. off + len) (UCS-2LE, padded with spaces or NULs at
 * the end) into out. -1 if a character is a control character, a
 * surrogate, a noncharacter, or a NUL before the padding, or if out is
 * too small. */
static int field_get(const uint8_t *text, size_t off, size_t len, char *out, size_t outcap)
{
    size_t n = len / 2, o = 0;

    while (n > 0) {
        unsigned c = u16le(text + off + 2 * (n - 1));

        if (c != 0x20 && c != 0)
            break;
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned c = u16le(text + off + 2 * i);

        if (c < 0x20 || c == 0x7F || (c >= 0xD800 && c <= 0xDFFF) || c >= 0xFFFE)
            return -1;
        if (c < 0x80) {
            if (o + 1 >= outcap)
                return -1;
            out[o++] = (char)c;
        } else if (c < 0x800) {
            if (o + 2 >= outcap)
                return -1;
            out[o++] = (char)(0xC0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            if (o + 3 >= outcap)
                return -1;
            out[o++] = (char)(0xE0 | c >> 12);
            out[o++] = (char)(0x80 | (c >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    if (outcap == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* The next code point of UTF-8 s at *i, within the BMP; -1 if invalid. */
static long utf8_next(const char *s, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    unsigned long c;

    if (p[0] < 0x80) {
        *i += 1;
        return p[0];
    }
    if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
        c = (unsigned long)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        *i += 2;
        return c >= 0x80 ? (long)c : -1;
    }
    if ((p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        c = (unsigned long)(p[0] & 0x0F) << 12 | (unsigned long)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        *i += 3;
        if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))
            return -1;
        return (long)c;
    }
    return -1;
}

/* Encode UTF-8 s into out[off .. off + len) as UCS-2LE, padded with
 * spaces. -1 with errno EINVAL if s does not fit or is not BMP UTF-8. */
static int field_put(const char *s, uint8_t *out, size_t off, size_t len)
{
    size_t i = 0, o = 0;

    while (s[i] != '\0') {
        long c = utf8_next(s, &i);

        if (c < 0 || o + 2 > len) {
            errno = EINVAL;
            return -1;
        }
        out[off + o] = (uint8_t)c;
        out[off + o + 1] = (uint8_t)(c >> 8);
        o += 2;
    }
    for (; o + 1 < len; o += 2) {
        out[off + o] = 0x20;
        out[off + o + 1] = 0;
    }
    return 0;
}

/* ---- layouts (devices.md 4.5) ---- */

enum fid {
    F_NAME,
    F_NAME_EN,
    F_NAME_EN2, /* foreign-2023: English name, characters 36..46 */
    F_SEX,
    F_NATION,
    F_NATIONALITY,
    F_BIRTH,
    F_ADDRESS,
    F_NUMBER,
    F_AUTHORITY,
    F_FROM,
    F_TO,
    F_PASS,
    F_COUNT,
    F_END
};

struct slot {
    enum fid id;
    unsigned short off, len;
};

static const struct slot resident_layout[] = {
    {F_NAME, 0, 30},     {F_SEX, 30, 2},      {F_NATION, 32, 4},      {F_BIRTH, 36, 16},
    {F_ADDRESS, 52, 70}, {F_NUMBER, 122, 36}, {F_AUTHORITY, 158, 30}, {F_FROM, 188, 16},
    {F_TO, 204, 16},     {F_END, 0, 0},
};

static const struct slot hkmt_layout[] = {
    {F_NAME, 0, 30},     {F_SEX, 30, 2},         {F_BIRTH, 36, 16}, {F_ADDRESS, 52, 70},
    {F_NUMBER, 122, 36}, {F_AUTHORITY, 158, 30}, {F_FROM, 188, 16}, {F_TO, 204, 16},
    {F_PASS, 220, 18},   {F_COUNT, 238, 4},      {F_END, 0, 0},
};

static const struct slot foreign2017_layout[] = {
    {F_NAME_EN, 0, 120},   {F_SEX, 120, 2},   {F_NUMBER, 122, 30}, {F_NATIONALITY, 152, 6},
    {F_NAME, 158, 30},     {F_FROM, 188, 16}, {F_TO, 204, 16},     {F_BIRTH, 220, 16},
    {F_AUTHORITY, 240, 8}, {F_END, 0, 0},
};

static const struct slot foreign2023_layout[] = {
    {F_NAME, 0, 30},       {F_SEX, 30, 2},          {F_COUNT, 32, 4},  {F_BIRTH, 36, 16},
    {F_NAME_EN, 52, 70},   {F_NUMBER, 122, 36},     {F_FROM, 188, 16}, {F_TO, 204, 16},
    {F_NAME_EN2, 220, 22}, {F_NATIONALITY, 242, 6}, {F_END, 0, 0},
};

#define TYPE_OFF 248

static const struct slot *layout_of(idcard_type t)
{
    switch (t) {
    case IDCARD_RESIDENT:
        return resident_layout;
    case IDCARD_HKMT:
        return hkmt_layout;
    case IDCARD_FOREIGN_2017:
        return foreign2017_layout;
    case IDCARD_FOREIGN_2023:
        return foreign2023_layout;
    }
    return NULL;
}

static const char *const field_names[F_END] = {
    [F_NAME] = "name",
    [F_NAME_EN] = "English name",
    [F_NAME_EN2] = "English name",
    [F_SEX] = "sex",
    [F_NATION] = "nation",
    [F_NATIONALITY] = "nationality",
    [F_BIRTH] = "birth date",
    [F_ADDRESS] = "address",
    [F_NUMBER] = "ID number",
    [F_AUTHORITY] = "authority",
    [F_FROM] = "validity start",
    [F_TO] = "validity end",
    [F_PASS] = "pass number",
    [F_COUNT] = "issue count",
};

/* ---- dates and numbers ---- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int32_t date_key(const char *s)
{
    int32_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

bool idcard_date_valid(const char *s)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, days;

    if (s == NULL || strlen(s) != 8 || !all_digits(s, 8))
        return false;
    y = (int)(date_key(s) / 10000);
    m = (int)(date_key(s) / 100 % 100);
    d = (int)(date_key(s) % 100);
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    days = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        days = 29;
    return d <= days;
}

/* ---- decode ---- */

struct dec {
    idcard_identity *out;
    char *why;
    size_t whylen;
};

__attribute__((format(printf, 3, 4))) static idcard_result refuse(struct dec *d, idcard_result r,
                                                                  const char *fmt, ...)
{
    va_list ap;

    if (d->why != NULL && d->whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(d->why, d->whylen, fmt, ap);
        va_end(ap);
    }
    idcard_privacy_wipe(d->out, sizeof *d->out);
    return r;
}

/* Where field f of the identity goes. */
static char *dest_of(idcard_identity *id, enum fid f, char *scratch, size_t *cap)
{
    switch (f) {
    case F_NAME:
        *cap = sizeof id->name;
        return id->name;
    case F_NAME_EN:
        *cap = sizeof id->name_en;
        return id->name_en;
    case F_ADDRESS:
        *cap = sizeof id->address;
        return id->address;
    case F_NUMBER:
        *cap = sizeof id->id_number;
        return id->id_number;
    case F_AUTHORITY:
        *cap = sizeof id->authority;
        return id->authority;
    case F_PASS:
        *cap = sizeof id->pass_number;
        return id->pass_number;
    case F_BIRTH:
        *cap = sizeof id->birth;
        return id->birth;
    case F_FROM:
        *cap = sizeof id->valid_from;
        return id->valid_from;
    case F_NATIONALITY:
        *cap = sizeof id->nationality;
        return id->nationality;
    case F_NAME_EN2:
    case F_SEX:
    case F_NATION:
    case F_TO:
    case F_COUNT:
    case F_END:
        break;
    }
    *cap = 64;
    return scratch;
}

/* The 'to' field: a date, or 长期 (U+957F U+671F). */
static bool is_long_term(const char *s)
{
    return strcmp(s, "长期") == 0;
}

/* True if the first n characters of s are A..Z. */
static bool upper_prefix(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

static bool is_upper_alpha(const char *s, size_t n)
{
    return strlen(s) == n && upper_prefix(s, n);
}

/* Store the value of a field that needs more than a copy. */
static idcard_result take_special(struct dec *d, enum fid f, const char *v)
{
    idcard_identity *id = d->out;

    switch (f) {
    case F_SEX:
        if (strlen(v) != 1 || idcard_sex_name(v[0]) == NULL)
            return refuse(d, IDCARD_BAD_CODE, "unknown sex code on the card");
        id->sex_code = v[0];
        id->sex = idcard_sex_name(v[0]);
        return IDCARD_OK;
    case F_NATION:
        if (idcard_nation_name(v) == NULL)
            return refuse(d, IDCARD_BAD_CODE, "unknown nation code on the card");
        memcpy(id->nation_code, v, 3);
        id->nation = idcard_nation_name(v);
        return IDCARD_OK;
    case F_TO:
        if (is_long_term(v)) {
            id->long_term = true;
            id->valid_to[0] = '\0';
        } else if (strlen(v) < sizeof id->valid_to) {
            memcpy(id->valid_to, v, strlen(v) + 1);
        } else {
            return refuse(d, IDCARD_BAD_DATE, "the validity end is not a date");
        }
        return IDCARD_OK;
    case F_COUNT:
        if (strlen(v) != 2 || !all_digits(v, 2))
            return refuse(d, IDCARD_BAD_TEXT, "the issue count is not two digits");
        id->issue_count = (v[0] - '0') * 10 + (v[1] - '0');
        return IDCARD_OK;
    case F_NAME_EN2: {
        size_t have = strlen(id->name_en), add = strlen(v), chars = 0;

        /* A continued name fills its first part to the last character, so
         * the padding trimmed from that part was a space of the name. */
        for (size_t i = 0; add > 0 && i < have; i++)
            chars += ((unsigned char)id->name_en[i] & 0xC0) != 0x80;
        while (add > 0 && chars < 35 && have + 1 < sizeof id->name_en) {
            id->name_en[have++] = ' ';
            chars++;
        }
        id->name_en[have] = '\0';
        if (have + add + 1 > sizeof id->name_en)
            return refuse(d, IDCARD_BAD_TEXT, "the English name is too long");
        memcpy(id->name_en + have, v, add + 1);
        return IDCARD_OK;
    }
    default:
        return IDCARD_OK;
    }
}

/* Checks shared by the types whose numbers follow GB 11643: check digit,
 * birth date inside the number, and (resident, hkmt) the sex parity. */
static idcard_result check_gb11643(struct dec *d, bool parity)
{
    idcard_identity *id = d->out;

    if (strlen(id->id_number) != 18 || !all_digits(id->id_number, 17) ||
        !(all_digits(id->id_number + 17, 1) || id->id_number[17] == 'X' ||
          id->id_number[17] == 'x'))
        return refuse(d, IDCARD_BAD_NUMBER, "the ID number is not 17 digits and a check digit");
    if (!idnum_gb11643_valid(id->id_number))
        return refuse(d, IDCARD_BAD_CHECK_DIGIT,
                      "the ID number's check digit is wrong (GB 11643 MOD 11-2)");
    if (id->id_number[17] == 'x')
        id->id_number[17] = 'X';
    if (memcmp(id->id_number + 6, id->birth, 8) != 0)
        return refuse(d, IDCARD_BAD_NUMBER, "the birth date in the ID number is not the card's");
    if (parity && (id->sex_code == '1' || id->sex_code == '2') &&
        ((id->id_number[16] - '0') % 2 == 1) != (id->sex_code == '1'))
        return refuse(d, IDCARD_BAD_NUMBER, "the ID number's sex digit is not the card's sex");
    return IDCARD_OK;
}

static idcard_result check_type(struct dec *d)
{
    idcard_identity *id = d->out;
    idcard_result r;
    size_t n;

    switch (id->type) {
    case IDCARD_RESIDENT:
        if (id->address[0] == '\0' || id->authority[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the address or issuing authority is empty");
        memcpy(id->nationality, "CHN", 4);
        return check_gb11643(d, true);
    case IDCARD_HKMT:
        if (id->pass_number[0] == '\0' || id->authority[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the pass number or issuing authority is empty");
        memcpy(id->nationality, "CHN", 4);
        if (id->id_number[0] != '8' || id->id_number[1] < '1' || id->id_number[1] > '3')
            return refuse(d, IDCARD_BAD_NUMBER, "a residence permit number starts 81, 82 or 83");
        return check_gb11643(d, true);
    case IDCARD_FOREIGN_2017:
        /* 3 letters (nationality) and 12 digits; no check digit is known. */
        n = strlen(id->id_number);
        if (n != 15 || !upper_prefix(id->id_number, 3) || !all_digits(id->id_number + 3, 12))
            return refuse(d, IDCARD_BAD_NUMBER, "the permanent residence number is malformed");
        if (id->name_en[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the English name is empty");
        if (id->name[0] == '\0')
            memcpy(id->name, id->name_en,
                   strlen(id->name_en) < sizeof id->name ? strlen(id->name_en) + 1 : 0);
        if (id->name[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the name is too long");
        break;
    case IDCARD_FOREIGN_2023:
        if (id->id_number[0] != '9')
            return refuse(d, IDCARD_BAD_NUMBER, "a 2023 permanent residence number starts 9");
        if (id->name_en[0] == '\0' && id->name[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the card has no name");
        if (id->name[0] == '\0')
            return refuse(d, IDCARD_BAD_TEXT, "the Chinese name is empty");
        r = check_gb11643(d, false);
        if (r != IDCARD_OK)
            return r;
        break;
    }
    if (!is_upper_alpha(id->nationality, 3))
        return refuse(d, IDCARD_BAD_CODE, "the nationality is not an ISO 3166 alpha-3 code");
    return IDCARD_OK;
}

static idcard_result check_dates(struct dec *d, int32_t today)
{
    idcard_identity *id = d->out;

    if (!idcard_date_valid(id->birth))
        return refuse(d, IDCARD_BAD_DATE, "the birth date is not a real date");
    if (!idcard_date_valid(id->valid_from))
        return refuse(d, IDCARD_BAD_DATE, "the validity start is not a real date");
    if (!id->long_term && !idcard_date_valid(id->valid_to))
        return refuse(d, IDCARD_BAD_DATE, "the validity end is neither a real date nor 长期");
    if (date_key(id->valid_from) < date_key(id->birth))
        return refuse(d, IDCARD_BAD_DATE, "the card was issued before its holder's birth");
    if (!id->long_term && date_key(id->valid_to) <= date_key(id->valid_from))
        return refuse(d, IDCARD_BAD_DATE, "the validity ends before it starts");
    if (today > 0) {
        if (date_key(id->birth) > today)
            return refuse(d, IDCARD_BAD_DATE, "the birth date is in the future");
        if (date_key(id->valid_from) > today)
            return refuse(d, IDCARD_NOT_YET_VALID, "the card's validity starts after today");
        id->expired = !id->long_term && date_key(id->valid_to) < today;
    }
    return IDCARD_OK;
}

idcard_result idcard_decode(const uint8_t *text, size_t len, const uint8_t *addr, size_t addrlen,
                            int32_t today, idcard_identity *out, char *why, size_t whylen)
{
    struct dec d = {out, why, whylen};
    const struct slot *layout;
    unsigned flag;
    idcard_result r;

    if (out == NULL)
        return IDCARD_BAD_TEXT;
    memset(out, 0, sizeof *out);
    out->sex = out->nation = "";
    if (text == NULL || len != SAM_TEXT_LEN)
        return refuse(&d, IDCARD_BAD_TEXT, "the text block is %zu bytes, not %d", len,
                      SAM_TEXT_LEN);
    flag = u16le(text + TYPE_OFF);
    if (flag == 0x20 || flag == 0)
        out->type = IDCARD_RESIDENT;
    else if (flag == 'J')
        out->type = IDCARD_HKMT;
    else if (flag == 'I')
        out->type = IDCARD_FOREIGN_2017;
    else if (flag == 'Y')
        out->type = IDCARD_FOREIGN_2023;
    else
        return refuse(&d, IDCARD_UNKNOWN_TYPE, "unknown card type flag U+%04X", flag);
    layout = layout_of(out->type);
    for (const struct slot *s = layout; s->id != F_END; s++) {
        char scratch[64], *dst;
        size_t cap;

        dst = dest_of(out, s->id, scratch, &cap);
        if (field_get(text, s->off, s->len, dst, cap) != 0)
            return refuse(&d, IDCARD_BAD_TEXT, "the %s is not valid UCS-2 text or is too long",
                          field_names[s->id]);
        if (dst == scratch) {
            r = take_special(&d, s->id, scratch);
            idcard_privacy_wipe(scratch, sizeof scratch);
            if (r != IDCARD_OK)
                return r;
        }
    }
    if (out->name[0] == '\0' && out->name_en[0] == '\0')
        return refuse(&d, IDCARD_BAD_TEXT, "the card has no name");
    if (out->sex_code == 0)
        return refuse(&d, IDCARD_BAD_CODE, "unknown sex code on the card");
    r = check_type(&d);
    if (r != IDCARD_OK)
        return r;
    r = check_dates(&d, today);
    if (r != IDCARD_OK)
        return r;
    if (addr != NULL && addrlen > 0 && out->type != IDCARD_FOREIGN_2017 &&
        out->type != IDCARD_FOREIGN_2023) {
        size_t have = strlen(out->address);

        if (addrlen != SAM_ADDR_LEN ||
            field_get(addr, 0, addrlen, out->address + have, sizeof out->address - have) != 0)
            return refuse(&d, IDCARD_BAD_TEXT, "the appended address is not valid UCS-2 text");
    }
    return IDCARD_OK;
}

/* ---- encode ---- */

int idcard_encode(const idcard_identity *in, uint8_t *out, size_t outlen)
{
    const struct slot *layout;
    unsigned flag;

    if (in == NULL || out == NULL || outlen < SAM_TEXT_LEN ||
        (layout = layout_of(in->type)) == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (field_put("", out, 0, SAM_TEXT_LEN) != 0)
        return -1;
    for (const struct slot *s = layout; s->id != F_END; s++) {
        char tmp[192];
        const char *v = tmp;
        size_t en_split = 0;

        tmp[0] = '\0';
        switch (s->id) {
        case F_NAME:
            /* A 2017 card without a Chinese name is read with its English
             * name as the name (decode): that card has an empty field. */
            v = in->type == IDCARD_FOREIGN_2017 && strcmp(in->name, in->name_en) == 0 ? ""
                                                                                      : in->name;
            break;
        case F_NAME_EN:
        case F_NAME_EN2:
            /* foreign-2023 splits the English name: 35 characters, then 11. */
            if (in->type == IDCARD_FOREIGN_2023) {
                size_t i = 0, chars = 0;

                while (in->name_en[i] != '\0' && chars < 35) {
                    if (utf8_next(in->name_en, &i) < 0) {
                        errno = EINVAL;
                        return -1;
                    }
                    chars++;
                }
                en_split = i;
                v = s->id == F_NAME_EN ? tmp : in->name_en + en_split;
                if (s->id == F_NAME_EN) {
                    memcpy(tmp, in->name_en, en_split);
                    tmp[en_split] = '\0';
                }
            } else {
                v = in->name_en;
            }
            break;
        case F_SEX:
            tmp[0] = in->sex_code;
            tmp[1] = '\0';
            break;
        case F_NATION:
            v = in->nation_code;
            break;
        case F_NATIONALITY:
            v = in->nationality;
            break;
        case F_BIRTH:
            v = in->birth;
            break;
        case F_ADDRESS:
            v = in->address;
            break;
        case F_NUMBER:
            v = in->id_number;
            break;
        case F_AUTHORITY:
            v = in->authority;
            break;
        case F_FROM:
            v = in->valid_from;
            break;
        case F_TO:
            v = in->long_term ? "长期" : in->valid_to;
            break;
        case F_PASS:
            v = in->pass_number;
            break;
        case F_COUNT:
            snprintf(tmp, sizeof tmp, "%02d", in->issue_count % 100);
            break;
        case F_END:
            break;
        }
        if (field_put(v, out, s->off, s->len) != 0)
            return -1;
    }
    switch (in->type) {
    case IDCARD_HKMT:
        flag = 'J';
        break;
    case IDCARD_FOREIGN_2017:
        flag = 'I';
        break;
    case IDCARD_FOREIGN_2023:
        flag = 'Y';
        break;
    default:
        flag = 0x20;
        break;
    }
    out[TYPE_OFF] = (uint8_t)flag;
    out[TYPE_OFF + 1] = 0;
    return 0;
}

int idcard_encode_address(const char *utf8, uint8_t *out, size_t outlen)
{
    if (utf8 == NULL || out == NULL || outlen < SAM_ADDR_LEN) {
        errno = EINVAL;
        return -1;
    }
    return field_put(utf8, out, 0, SAM_ADDR_LEN);
}
