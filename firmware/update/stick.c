/*
 * stick — finding the bundle on a mounted stick and leaving the receipt
 * (see stick.h). A FIFO counts as a bundle too: it is how the tests stand
 * in for a stick that is pulled while it is read.
 */
#include "stick.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slots.h"

static int is_bundle(const struct dirent *e)
{
    size_t n = strlen(e->d_name);

    return e->d_name[0] != '.' && n > 4 && strcmp(e->d_name + n - 4, ".kub") == 0;
}

int stick_find(const char *dir, char *path, size_t cap)
{
    char sub[4096];
    struct dirent **list;
    int n, found = 0;

    if (snprintf(sub, sizeof sub, "%s/%s", dir, STICK_DIR) >= (int)sizeof sub) {
        errno = ENAMETOOLONG;
        return -1;
    }
    n = scandir(sub, &list, is_bundle, alphasort);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char p[4096];
        struct stat sb;
        if (snprintf(p, sizeof p, "%s/%s", sub, list[i]->d_name) < (int)sizeof p &&
            stat(p, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode)) && strlen(p) < cap) {
            strcpy(path, p);
            found++;
        }
        free(list[i]);
    }
    free(list);
    if (found == 0) {
        errno = ENOENT;
        return -1;
    }
    return found;
}

int stick_write_receipt(const char *dir, const char *text)
{
    char p[4096];

    if (snprintf(p, sizeof p, "%s/%s/%s", dir, STICK_DIR, STICK_RECEIPT) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return slots_write_atomic(p, text, strlen(text));
}
