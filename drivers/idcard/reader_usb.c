/*
 * reader_usb — the "usb" backend (reader_usb.h): find the device by
 * vendor and product id, claim its interface, and move frames with
 * libusb's synchronous bulk transfers, which all take a timeout. Each
 * reader has its own libusb context, so two readers (or a reader and the
 * USB printer) never share state.
 *
 * Bytes of an IN packet that do not fit the caller's buffer wait in rx
 * for the next recv. For the "huashi" model the backend follows the frame
 * being received (header from one endpoint, body from the other), which
 * is the only place it looks inside the bytes.
 */
#include "reader_usb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libusb.h>

#include "idcard_privacy.h"
#include "sam.h"

#define RX_CAP 1024

enum usb_model { MODEL_BULK, MODEL_HUASHI };

struct usb {
    libusb_context *ctx;
    libusb_device_handle *h;
    uint16_t vid, pid;
    int iface;
    enum usb_model model;
    bool claimed;
    unsigned char ep_out, ep_in;           /* bulk: found in the descriptors */
    unsigned char ep_out_body, ep_in_body; /* huashi: the second pair */
    int packet;                            /* IN read size: wMaxPacketSize */
    uint8_t rx[RX_CAP];                    /* received, not yet returned */
    size_t rxlen;
    size_t body_left; /* huashi: body bytes of the current answer still to read */
    size_t head_have; /* huashi: header bytes of the current answer read */
    uint8_t head[SAM_HEADER_LEN];
};

static void dev_close(struct usb *u)
{
    if (u->h != NULL) {
        if (u->claimed)
            libusb_release_interface(u->h, u->iface);
        libusb_close(u->h);
    }
    u->h = NULL;
    u->claimed = false;
}

/* Bulk endpoints of interface iface (altsetting 0): the first OUT and the
 * first IN, and the IN's packet size. */
static int find_endpoints(struct usb *u, char *err, size_t errlen)
{
    struct libusb_config_descriptor *cfg = NULL;
    const struct libusb_interface_descriptor *alt;
    int rc = libusb_get_active_config_descriptor(libusb_get_device(u->h), &cfg);

    if (rc != 0) {
        snprintf(err, errlen, "USB card reader %04x:%04x: no configuration: %s", u->vid, u->pid,
                 libusb_strerror(rc));
        return -1;
    }
    if (u->iface >= cfg->bNumInterfaces || cfg->interface[u->iface].num_altsetting < 1) {
        snprintf(err, errlen, "USB card reader %04x:%04x: no interface %d", u->vid, u->pid,
                 u->iface);
        libusb_free_config_descriptor(cfg);
        return -1;
    }
    alt = &cfg->interface[u->iface].altsetting[0];
    u->ep_out = u->ep_in = 0;
    for (int i = 0; i < alt->bNumEndpoints; i++) {
        const struct libusb_endpoint_descriptor *ep = &alt->endpoint[i];

        if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK)
            continue;
        if ((ep->bEndpointAddress & LIBUSB_ENDPOINT_DIR_MASK) == LIBUSB_ENDPOINT_IN) {
            if (u->ep_in == 0) {
                u->ep_in = ep->bEndpointAddress;
                u->packet = ep->wMaxPacketSize;
            }
        } else if (u->ep_out == 0) {
            u->ep_out = ep->bEndpointAddress;
        }
    }
    libusb_free_config_descriptor(cfg);
    if (u->ep_in == 0 || u->ep_out == 0 || u->packet <= 0 || u->packet > RX_CAP) {
        snprintf(err, errlen, "USB card reader %04x:%04x: interface %d has no bulk IN and OUT pair",
                 u->vid, u->pid, u->iface);
        return -1;
    }
    return 0;
}

static int dev_open(struct usb *u, char *err, size_t errlen)
{
    int rc;

    u->h = libusb_open_device_with_vid_pid(u->ctx, u->vid, u->pid);
    if (u->h == NULL) {
        snprintf(err, errlen, "USB card reader %04x:%04x: not found (or no permission)", u->vid,
                 u->pid);
        errno = ENODEV;
        return -1;
    }
    /* Detach a kernel driver only when one is known to be bound: where
     * the question cannot be answered (an error, not 0 or 1) claiming is
     * still worth a try, and auto-detach would make the claim fail. */
    if (libusb_kernel_driver_active(u->h, u->iface) == 1)
        (void)libusb_detach_kernel_driver(u->h, u->iface);
    rc = libusb_claim_interface(u->h, u->iface);
    if (rc != 0) {
        snprintf(err, errlen, "USB card reader %04x:%04x: cannot claim interface %d: %s", u->vid,
                 u->pid, u->iface, libusb_strerror(rc));
        dev_close(u);
        errno = EBUSY;
        return -1;
    }
    u->claimed = true;
    if (u->model == MODEL_HUASHI) {
        u->ep_out = 0x02;
        u->ep_out_body = 0x06;
        u->ep_in = 0x81;
        u->ep_in_body = 0x85;
        u->packet = 64;
    } else if (find_endpoints(u, err, errlen) != 0) {
        dev_close(u);
        errno = ENODEV;
        return -1;
    }
    u->rxlen = u->body_left = u->head_have = 0;
    return 0;
}

static void usb_close(void *be)
{
    struct usb *u = be;

    if (u == NULL)
        return;
    dev_close(u);
    if (u->ctx != NULL)
        libusb_exit(u->ctx);
    idcard_privacy_wipe(u->rx, sizeof u->rx);
    free(u);
}

static int usb_open(const reader_conf *conf, void **be, char *err, size_t errlen)
{
    struct usb *u;
    char ignore[8];
    int rc;

    if (err == NULL) {
        err = ignore;
        errlen = sizeof ignore;
    }
    if (conf->usb.vid == 0 || conf->usb.pid == 0 || conf->usb.interface < 0) {
        snprintf(err, errlen, "USB card reader: vendor and product id required");
        errno = EINVAL;
        return -1;
    }
    u = calloc(1, sizeof *u);
    if (u == NULL) {
        snprintf(err, errlen, "USB card reader: out of memory");
        return -1;
    }
    u->vid = conf->usb.vid;
    u->pid = conf->usb.pid;
    u->iface = conf->usb.interface;
    if (strcmp(conf->usb.model, "bulk") == 0 || conf->usb.model[0] == '\0') {
        u->model = MODEL_BULK;
    } else if (strcmp(conf->usb.model, "huashi") == 0) {
        u->model = MODEL_HUASHI;
    } else {
        snprintf(err, errlen, "USB card reader: unknown model '%.15s' (known: bulk, huashi)",
                 conf->usb.model);
        free(u);
        errno = EINVAL;
        return -1;
    }
    rc = libusb_init(&u->ctx);
    if (rc != 0) {
        snprintf(err, errlen, "USB card reader: libusb: %s", libusb_strerror(rc));
        free(u);
        errno = EIO;
        return -1;
    }
    if (dev_open(u, err, errlen) != 0) {
        int e = errno;

        usb_close(u);
        errno = e;
        return -1;
    }
    *be = u;
    return 0;
}

/* A libusb error as a result; an unplugged device is closed, to be opened
 * again by the next send. */
static idcard_result usb_error(struct usb *u, const char *what, int rc, char *detail,
                               size_t detaillen)
{
    if (rc == LIBUSB_ERROR_TIMEOUT) {
        snprintf(detail, detaillen, "USB %s timed out", what);
        return IDCARD_NO_ANSWER;
    }
    snprintf(detail, detaillen, "USB %s: %s", what, libusb_strerror(rc));
    if (rc == LIBUSB_ERROR_NO_DEVICE || rc == LIBUSB_ERROR_IO || rc == LIBUSB_ERROR_PIPE)
        dev_close(u);
    return IDCARD_IO;
}

static idcard_result bulk_out(struct usb *u, unsigned char ep, const uint8_t *data, size_t len,
                              int timeout_ms, char *detail, size_t detaillen)
{
    int done = 0, rc;

    rc = libusb_bulk_transfer(u->h, ep, (unsigned char *)(uintptr_t)data, (int)len, &done,
                              (unsigned)timeout_ms);
    if (rc != 0)
        return usb_error(u, "write", rc, detail, detaillen);
    if ((size_t)done != len) {
        snprintf(detail, detaillen, "USB write: %d of %zu bytes sent", done, len);
        return IDCARD_IO;
    }
    return IDCARD_OK;
}

static idcard_result usb_send(void *be, const uint8_t *frame, size_t len, int timeout_ms,
                              char *detail, size_t detaillen)
{
    struct usb *u = be;
    idcard_result rc;

    if (u->h == NULL && dev_open(u, detail, detaillen) != 0)
        return IDCARD_IO;
    u->rxlen = u->body_left = u->head_have = 0;
    if (u->model == MODEL_BULK)
        return bulk_out(u, u->ep_out, frame, len, timeout_ms, detail, detaillen);
    if (len < SAM_HEADER_LEN) {
        snprintf(detail, detaillen, "USB write: a frame shorter than its header");
        return IDCARD_IO;
    }
    rc = bulk_out(u, u->ep_out, frame, SAM_HEADER_LEN, timeout_ms, detail, detaillen);
    if (rc == IDCARD_OK)
        rc = bulk_out(u, u->ep_out_body, frame + SAM_HEADER_LEN, len - SAM_HEADER_LEN, timeout_ms,
                      detail, detaillen);
    return rc;
}

/* huashi: which endpoint the next bytes come from, following the header. */
static unsigned char next_in(struct usb *u)
{
    return u->model == MODEL_HUASHI && u->head_have == SAM_HEADER_LEN && u->body_left > 0
               ? u->ep_in_body
               : u->ep_in;
}

/* huashi: note received bytes against the frame being received. */
static void follow(struct usb *u, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && u->model == MODEL_HUASHI; i++) {
        if (u->head_have < SAM_HEADER_LEN) {
            u->head[u->head_have++] = p[i];
            if (u->head_have == SAM_HEADER_LEN)
                u->body_left = (size_t)u->head[5] << 8 | u->head[6];
        } else if (u->body_left > 0 && --u->body_left == 0) {
            u->head_have = 0;
        }
    }
}

static idcard_result usb_recv(void *be, uint8_t *buf, size_t cap, size_t *got, int timeout_ms,
                              char *detail, size_t detaillen)
{
    struct usb *u = be;
    size_t n;

    *got = 0;
    if (u->h == NULL) {
        snprintf(detail, detaillen, "USB card reader %04x:%04x is not open", u->vid, u->pid);
        return IDCARD_IO;
    }
    if (u->rxlen == 0) {
        int done = 0, rc;

        rc = libusb_bulk_transfer(u->h, next_in(u), u->rx, u->packet, &done, (unsigned)timeout_ms);
        if (rc != 0 && !(rc == LIBUSB_ERROR_TIMEOUT && done > 0))
            return usb_error(u, "read", rc, detail, detaillen);
        if (done <= 0)
            return IDCARD_NO_ANSWER;
        u->rxlen = (size_t)done;
        follow(u, u->rx, u->rxlen);
    }
    n = u->rxlen < cap ? u->rxlen : cap;
    memcpy(buf, u->rx, n);
    memmove(u->rx, u->rx + n, u->rxlen - n);
    u->rxlen -= n;
    *got = n;
    return IDCARD_OK;
}

static void usb_flush(void *be)
{
    struct usb *u = be;

    idcard_privacy_wipe(u->rx, u->rxlen);
    u->rxlen = u->body_left = u->head_have = 0;
}

static const struct reader_ops usb_ops = {
    .name = "usb",
    .open = usb_open,
    .send = usb_send,
    .recv = usb_recv,
    .flush = usb_flush,
    .close = usb_close,
};

const struct reader_ops *reader_usb_backend(void)
{
    return &usb_ops;
}
