/*
 * idcard_privacy — masks and wiping (idcard_privacy.h has the contract).
 */
#include "idcard_privacy.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "idnum.h"

/* Two-character surnames (复姓) kept whole in a masked name. */
static const char *const compound_surnames[] = {
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐",
    "长孙", "宇文", "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "申屠",
    "澹台", "公冶", "太史", "濮阳", "钟离", "闻人", "赫连", "呼延", "万俟", "拓跋",
};

void idcard_privacy_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

/* Bytes of the UTF-8 character at s, 0 if it is not one. */
static size_t utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xE0) == 0xC0)
        n = 2;
    else if ((p[0] & 0xF0) == 0xE0)
        n = 3;
    else if ((p[0] & 0xF8) == 0xF0)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

int idcard_privacy_mask_name(const char *name, char *out, size_t outlen)
{
    size_t keep, chars = 0, first = 0;

    if (name == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; name[i] != '\0';) {
        size_t l = utf8_len(name + i);

        if (l == 0) {
            errno = EINVAL;
            return -1;
        }
        if (chars == 0)
            first = l;
        chars++;
        i += l;
    }
    keep = chars > 1 ? first : 0;
    if (chars > 2) {
        for (size_t k = 0; k < sizeof compound_surnames / sizeof compound_surnames[0]; k++) {
            size_t sl = strlen(compound_surnames[k]);

            if (strncmp(name, compound_surnames[k], sl) == 0) {
                keep = sl;
                break;
            }
        }
    }
    if (outlen < keep + 2) {
        errno = ENOBUFS;
        return -1;
    }
    memcpy(out, name, keep);
    out[keep] = '*';
    out[keep + 1] = '\0';
    return 0;
}

int idcard_privacy_apply(idcard_identity *id)
{
    if (id == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (idnum_mask(id->id_number, id->masked_number, sizeof id->masked_number) != 0 ||
        idcard_privacy_mask_name(id->name[0] != '\0' ? id->name : id->name_en, id->masked_name,
                                 sizeof id->masked_name) != 0)
        return -1;
    return 0;
}
