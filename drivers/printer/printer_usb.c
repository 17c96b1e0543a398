/*
 * printer_usb — the "usb" backend: one USB printer-class device through
 * libusb-1.0. printer_usb.h describes what it promises.
 *
 * Threads. open and close run on the loop's thread, print and status on
 * the printer's worker thread, never at the same time (printer.c starts
 * the worker after open and joins it before close). The backend has its
 * own libusb context and is the only one to handle its events, so the
 * hotplug callback always runs on the thread inside libusb: the loop's
 * thread while open registers it (LIBUSB_HOTPLUG_ENUMERATE reports the
 * devices already there), the worker afterwards.
 *
 * Transfers are asynchronous underneath: each call submits one transfer
 * and handles libusb events in slices of at most SLICE_MS until it
 * completes, its deadline passes or hotplug says the device left; the
 * last two cancel it and wait for the cancellation, which libusb always
 * completes. So a removal is noticed within a slice even when the kernel
 * (or a test's emulated device) never fails the transfer itself.
 *
 * The device, as the calls see it:
 *
 *     ABSENT --a matching device arrived, opened and claimed--> OPEN
 *     OPEN --hotplug: it left, or a transfer said NO_DEVICE--> ABSENT
 *
 * (ABSENT is u->h == NULL; assert_state() checks the fields agree.)
 */
#include "printer_usb.h"

#include <assert.h>
#include <errno.h>
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLASS_PRINTER        7
#define SUBCLASS_PRINTER     1
#define PROTO_UNIDIRECTIONAL 1
#define PROTO_BIDIRECTIONAL  2

/* A job goes out in pieces of this size, so a failure can say how much of
 * it the printer took; tickets are smaller than one piece. */
#define CHUNK 4096
/* Longest single wait for libusb events: how late a removal is noticed. */
#define SLICE_MS 100
/* How long stale status bytes are drained after an answer went wrong. */
#define DRAIN_MS 50

/* DLE EOT 1, 2, 3 and 4 in one write: the printer answers one byte each,
 * in order (devices.md 1.5). */
static const uint8_t status_query[] = {0x10, 0x04, 0x01, 0x10, 0x04, 0x02,
                                       0x10, 0x04, 0x03, 0x10, 0x04, 0x04};

struct usb_be {
    libusb_context *ctx;
    uint16_t vendor, product; /* 0 = any */
    bool has_hotplug;
    libusb_hotplug_callback_handle hotplug;
    /* Set by the hotplug callback. */
    bool arrived; /* a matching device arrived since the last scan */
    bool left;    /* the open device left */

    /* OPEN state */
    libusb_device *dev; /* referenced while open */
    libusb_device_handle *h;
    int ifnum;
    bool reattach; /* the kernel driver was attached: attach it again on close */
    uint8_t ep_out;
    uint8_t ep_in; /* 0: unidirectional, no status */
    int in_len;    /* the IN endpoint's wMaxPacketSize: every read asks for this */
    bool resync;   /* an answer went wrong: drain stale bytes before the next query */
    char name[64]; /* "0416:5011 on bus 1 device 2", for messages */
};

static void assert_state(const struct usb_be *u)
{
    assert((u->h == NULL) == (u->dev == NULL));
    assert(u->h != NULL || (u->ep_out == 0 && u->ep_in == 0));
    assert(u->h == NULL || u->ep_out != 0);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *arg)
{
    struct usb_be *u = arg;

    (void)ctx;
    if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
        u->arrived = true;
    else if (dev == u->dev)
        u->left = true;
    return 0;
}

static void close_device(struct usb_be *u)
{
    if (u->h != NULL) {
        /* Both fail harmlessly when the device is gone. */
        libusb_release_interface(u->h, u->ifnum);
        if (u->reattach)
            libusb_attach_kernel_driver(u->h, u->ifnum);
        libusb_close(u->h);
        libusb_unref_device(u->dev);
    }
    u->h = NULL;
    u->dev = NULL;
    u->ep_out = u->ep_in = 0;
    u->reattach = u->resync = u->left = false;
    assert_state(u);
}

/* The printer-class interface of cfg to use: protocol 2 before protocol 1.
 * Fills the interface number and endpoints; false if there is none. */
static bool find_interface(const struct libusb_config_descriptor *cfg, int *ifnum, int *alt,
                           uint8_t *ep_out, uint8_t *ep_in, int *in_len)
{
    int best_proto = 0;

    for (int i = 0; i < cfg->bNumInterfaces; i++) {
        const struct libusb_interface *itf = &cfg->interface[i];

        for (int a = 0; a < itf->num_altsetting; a++) {
            const struct libusb_interface_descriptor *d = &itf->altsetting[a];
            uint8_t out = 0, in = 0;
            int inl = 0;

            if (d->bInterfaceClass != CLASS_PRINTER || d->bInterfaceSubClass != SUBCLASS_PRINTER ||
                (d->bInterfaceProtocol != PROTO_UNIDIRECTIONAL &&
                 d->bInterfaceProtocol != PROTO_BIDIRECTIONAL) ||
                d->bInterfaceProtocol <= best_proto)
                continue;
            for (int e = 0; e < d->bNumEndpoints; e++) {
                const struct libusb_endpoint_descriptor *ep = &d->endpoint[e];

                if ((ep->bmAttributes & 0x03) != LIBUSB_TRANSFER_TYPE_BULK)
                    continue;
                if ((ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) != 0) {
                    if (in == 0 && ep->wMaxPacketSize > 0) {
                        in = ep->bEndpointAddress;
                        inl = ep->wMaxPacketSize;
                    }
                } else if (out == 0) {
                    out = ep->bEndpointAddress;
                }
            }
            if (out == 0 || (d->bInterfaceProtocol == PROTO_BIDIRECTIONAL && in == 0))
                continue;
            best_proto = d->bInterfaceProtocol;
            *ifnum = d->bInterfaceNumber;
            *alt = d->bAlternateSetting;
            *ep_out = out;
            *ep_in = d->bInterfaceProtocol == PROTO_BIDIRECTIONAL ? in : 0;
            *in_len = inl;
        }
    }
    return best_proto != 0;
}

static const char *open_hint(int r)
{
    switch (r) {
    case LIBUSB_ERROR_ACCESS:
        return " (no permission: run as root or add a udev rule for the printer)";
    case LIBUSB_ERROR_BUSY:
        return " (another driver or a CUPS usb queue holds the interface)";
    default:
        return "";
    }
}

/* Open, detach, claim one candidate. PRINTER_OK, or a result and detail. */
static printer_result try_device(struct usb_be *u, libusb_device *dev,
                                 const struct libusb_device_descriptor *dd, char *detail,
                                 size_t detaillen)
{
    struct libusb_config_descriptor *cfg;
    int ifnum = 0, alt = 0, in_len = 0, r, active;
    uint8_t ep_out = 0, ep_in = 0;
    libusb_device_handle *h;
    bool found;

    r = libusb_get_active_config_descriptor(dev, &cfg);
    if (r != 0)
        return PRINTER_REMOVED; /* unconfigured: not a candidate yet */
    found = find_interface(cfg, &ifnum, &alt, &ep_out, &ep_in, &in_len);
    libusb_free_config_descriptor(cfg);
    if (!found)
        return PRINTER_REMOVED;

    snprintf(u->name, sizeof u->name, "%04x:%04x on bus %d device %d", dd->idVendor, dd->idProduct,
             libusb_get_bus_number(dev), libusb_get_device_address(dev));
    r = libusb_open(dev, &h);
    if (r != 0) {
        snprintf(detail, detaillen, "usb printer %s: cannot open: %s%s", u->name,
                 libusb_strerror(r), open_hint(r));
        return r == LIBUSB_ERROR_NO_DEVICE ? PRINTER_REMOVED : PRINTER_IO;
    }
    /* Exactly 1 means attached; 0 and errors (emulated devices answer
     * LIBUSB_ERROR_NOT_SUPPORTED or OTHER) mean there is nothing to detach. */
    active = libusb_kernel_driver_active(h, ifnum);
    if (active == 1 && (r = libusb_detach_kernel_driver(h, ifnum)) != 0) {
        snprintf(detail, detaillen, "usb printer %s: cannot detach the kernel driver: %s%s",
                 u->name, libusb_strerror(r), open_hint(r));
        libusb_close(h);
        return PRINTER_IO;
    }
    r = libusb_claim_interface(h, ifnum);
    if (r == 0 && alt != 0)
        r = libusb_set_interface_alt_setting(h, ifnum, alt);
    if (r != 0) {
        snprintf(detail, detaillen, "usb printer %s: cannot claim interface %d: %s%s", u->name,
                 ifnum, libusb_strerror(r), open_hint(r));
        if (active == 1)
            libusb_attach_kernel_driver(h, ifnum);
        libusb_close(h);
        return r == LIBUSB_ERROR_NO_DEVICE ? PRINTER_REMOVED : PRINTER_IO;
    }
    u->dev = libusb_ref_device(dev);
    u->h = h;
    u->ifnum = ifnum;
    u->reattach = active == 1;
    u->ep_out = ep_out;
    u->ep_in = ep_in;
    u->in_len = in_len;
    u->resync = false;
    u->left = false;
    assert_state(u);
    return PRINTER_OK;
}

/* Find and claim the first matching printer. */
static printer_result scan(struct usb_be *u, char *detail, size_t detaillen)
{
    libusb_device **list;
    ssize_t n = libusb_get_device_list(u->ctx, &list);
    printer_result best = PRINTER_REMOVED;

    if (n < 0) {
        snprintf(detail, detaillen, "usb printer: cannot list USB devices: %s",
                 libusb_strerror((int)n));
        return PRINTER_IO;
    }
    snprintf(detail, detaillen, "usb printer: no %04x:%04x printer-class device connected",
             u->vendor, u->product);
    for (ssize_t i = 0; i < n && u->h == NULL; i++) {
        struct libusb_device_descriptor dd;
        char why[192];
        printer_result r;

        if (libusb_get_device_descriptor(list[i], &dd) != 0 ||
            (u->vendor != 0 && dd.idVendor != u->vendor) ||
            (u->product != 0 && dd.idProduct != u->product))
            continue;
        why[0] = '\0';
        r = try_device(u, list[i], &dd, why, sizeof why);
        if (r == PRINTER_OK) {
            best = PRINTER_OK;
        } else if (why[0] != '\0') {
            /* A printer that is there but cannot be used says why. */
            best = r;
            snprintf(detail, detaillen, "%s", why);
        }
    }
    libusb_free_device_list(list, 1);
    return best;
}

/* Bring the device to OPEN if it can be. Pending hotplug events are
 * handled first, so a removal or arrival since the last call counts. */
static printer_result ensure_open(struct usb_be *u, char *detail, size_t detaillen)
{
    printer_result r;

    if (u->has_hotplug) {
        struct timeval zero = {0, 0};

        libusb_handle_events_timeout_completed(u->ctx, &zero, NULL);
    }
    /* The call that saw the removal reported it; this one starts afresh. */
    if (u->left)
        close_device(u);
    if (u->h != NULL)
        return PRINTER_OK;
    if (u->has_hotplug && !u->arrived) {
        snprintf(detail, detaillen, "usb printer: no %04x:%04x printer-class device connected",
                 u->vendor, u->product);
        return PRINTER_REMOVED;
    }
    u->arrived = false;
    r = scan(u, detail, detaillen);
    /* A printer that is there but refused (busy, no permission) is tried
     * again next call; an absent one waits for hotplug. */
    if (r != PRINTER_OK && r != PRINTER_REMOVED)
        u->arrived = true;
    return r;
}

static void LIBUSB_CALL transfer_done(struct libusb_transfer *t)
{
    *(int *)t->user_data = 1;
}

/* One bulk transfer of len bytes at buf on ep, finished by deadline (a
 * CLOCK_MONOTONIC time in ms) or given up when the device leaves. The
 * bytes moved go to *moved. */
static printer_result bulk(struct usb_be *u, uint8_t ep, uint8_t *buf, int len, long long deadline,
                           int *moved, char *detail, size_t detaillen)
{
    struct libusb_transfer *t = libusb_alloc_transfer(0);
    int completed = 0, r;
    bool gave_up = false;
    enum libusb_transfer_status st;

    *moved = 0;
    if (t == NULL) {
        snprintf(detail, detaillen, "usb printer %s: out of memory", u->name);
        return PRINTER_IO;
    }
    /* No libusb timeout: the loop below keeps the deadline, so that a
     * removal ends the wait early. */
    libusb_fill_bulk_transfer(t, u->h, ep, buf, len, transfer_done, &completed, 0);
    r = libusb_submit_transfer(t);
    if (r != 0) {
        libusb_free_transfer(t);
        if (r == LIBUSB_ERROR_NO_DEVICE) {
            u->left = true;
            snprintf(detail, detaillen, "usb printer %s was removed", u->name);
            return PRINTER_REMOVED;
        }
        snprintf(detail, detaillen, "usb printer %s: cannot submit a transfer: %s", u->name,
                 libusb_strerror(r));
        return PRINTER_IO;
    }
    while (!completed) {
        long long left = deadline - now_ms();
        struct timeval tv;

        if (!gave_up && (u->left || left <= 0)) {
            gave_up = true;
            libusb_cancel_transfer(t);
        }
        if (gave_up || left > SLICE_MS)
            left = SLICE_MS;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
        r = libusb_handle_events_timeout_completed(u->ctx, &tv, &completed);
        if (r != 0 && r != LIBUSB_ERROR_INTERRUPTED && r != LIBUSB_ERROR_TIMEOUT && !gave_up) {
            gave_up = true;
            libusb_cancel_transfer(t);
        }
    }
    *moved = t->actual_length;
    st = t->status;
    libusb_free_transfer(t);

    if (st == LIBUSB_TRANSFER_COMPLETED)
        return PRINTER_OK;
    if (st == LIBUSB_TRANSFER_NO_DEVICE)
        u->left = true;
    if (u->left) {
        snprintf(detail, detaillen, "usb printer %s was removed", u->name);
        return PRINTER_REMOVED;
    }
    if (st == LIBUSB_TRANSFER_CANCELLED || st == LIBUSB_TRANSFER_TIMED_OUT) {
        snprintf(detail, detaillen, "usb printer %s did not answer in time", u->name);
        return PRINTER_TIMEOUT;
    }
    if (st == LIBUSB_TRANSFER_STALL) {
        libusb_clear_halt(u->h, ep);
        snprintf(detail, detaillen, "usb printer %s: endpoint %02x stalled", u->name, ep);
        return PRINTER_IO;
    }
    snprintf(detail, detaillen, "usb printer %s: transfer on endpoint %02x failed (%s)", u->name,
             ep, st == LIBUSB_TRANSFER_OVERFLOW ? "overflow" : "error");
    return PRINTER_IO;
}

static printer_result usb_print(void *be, const uint8_t *data, size_t len, int timeout_ms,
                                char *detail, size_t detaillen)
{
    struct usb_be *u = be;
    long long deadline = now_ms() + timeout_ms;
    uint8_t chunk[CHUNK];
    size_t sent = 0;
    printer_result r = ensure_open(u, detail, detaillen);

    if (r != PRINTER_OK)
        return r;
    while (sent < len) {
        int n = (int)(len - sent < CHUNK ? len - sent : CHUNK), moved;
        char why[160];

        /* libusb may write into the buffer it is given; the job is const. */
        memcpy(chunk, data + sent, (size_t)n);
        r = bulk(u, u->ep_out, chunk, n, deadline, &moved, why, sizeof why);
        sent += (size_t)moved;
        if (r != PRINTER_OK) {
            snprintf(detail, detaillen, "%s after %zu of %zu bytes", why, sent, len);
            return r;
        }
    }
    return PRINTER_OK;
}

/* Read and throw away what the printer still had to say about an earlier
 * query, so the next answers line up with their questions. */
static void drain(struct usb_be *u)
{
    uint8_t buf[512];
    int len = u->in_len < (int)sizeof buf ? u->in_len : (int)sizeof buf;
    char ignored[160];

    for (int i = 0; i < 8; i++) {
        int moved;

        if (bulk(u, u->ep_in, buf, len, now_ms() + DRAIN_MS, &moved, ignored, sizeof ignored) !=
                PRINTER_OK ||
            moved == 0)
            break;
    }
}

static printer_result usb_status(void *be, escpos_status *out, int timeout_ms, char *detail,
                                 size_t detaillen)
{
    struct usb_be *u = be;
    long long deadline = now_ms() + timeout_ms;
    uint8_t query[sizeof status_query], buf[512], answer[4];
    int got = 0, moved, len;
    escpos_status st = {0, 0};
    printer_result r = ensure_open(u, detail, detaillen);

    if (r != PRINTER_OK)
        return r;
    if (u->ep_in == 0) {
        /* Unidirectional: nothing can be known, nothing is guessed. */
        *out = st;
        return PRINTER_OK;
    }
    if (u->resync) {
        drain(u);
        if (u->left) {
            snprintf(detail, detaillen, "usb printer %s was removed", u->name);
            return PRINTER_REMOVED;
        }
        u->resync = false;
    }
    memcpy(query, status_query, sizeof query);
    r = bulk(u, u->ep_out, query, (int)sizeof query, deadline, &moved, detail, detaillen);
    if (r != PRINTER_OK)
        return r;
    len = u->in_len < (int)sizeof buf ? u->in_len : (int)sizeof buf;
    while (got < 4) {
        r = bulk(u, u->ep_in, buf, len, deadline, &moved, detail, detaillen);
        if (r != PRINTER_OK) {
            u->resync = true;
            if (r == PRINTER_TIMEOUT)
                snprintf(detail, detaillen,
                         "usb printer %s: no status answer within %d ms (%d of 4 bytes)", u->name,
                         timeout_ms, got);
            return r;
        }
        for (int i = 0; i < moved && got < 4; i++)
            answer[got++] = buf[i];
    }
    for (int n = 1; n <= 4; n++) {
        escpos_status one;

        if (escpos_status_dle(n, answer[n - 1], &one) != 0) {
            u->resync = true;
            snprintf(detail, detaillen, "usb printer %s: bad answer %02x to DLE EOT %d", u->name,
                     answer[n - 1], n);
            return PRINTER_IO;
        }
        escpos_status_merge(&st, &one);
    }
    *out = st;
    return PRINTER_OK;
}

static void usb_close(void *be)
{
    struct usb_be *u = be;

    if (u == NULL)
        return;
    close_device(u);
    if (u->has_hotplug)
        libusb_hotplug_deregister_callback(u->ctx, u->hotplug);
    libusb_exit(u->ctx);
    free(u);
}

static int usb_open(const printer_conf *conf, void **be, char *err, size_t errlen)
{
    struct usb_be *u = calloc(1, sizeof *u);
    int r;

    if (u == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "usb printer: out of memory");
        return -1;
    }
    u->vendor = conf->usb.vendor;
    u->product = conf->usb.product;
    r = libusb_init(&u->ctx);
    if (r != 0) {
        if (err != NULL)
            snprintf(err, errlen, "usb printer: cannot start libusb: %s", libusb_strerror(r));
        free(u);
        errno = EIO;
        return -1;
    }
    if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
        r = libusb_hotplug_register_callback(
            u->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
            LIBUSB_HOTPLUG_ENUMERATE, u->vendor != 0 ? u->vendor : LIBUSB_HOTPLUG_MATCH_ANY,
            u->product != 0 ? u->product : LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
            on_hotplug, u, &u->hotplug);
        u->has_hotplug = r == 0;
    }
    /* Without hotplug every call while absent scans the bus instead. */
    assert_state(u);
    *be = u;
    return 0;
}

static const struct printer_ops usb_ops = {
    .name = "usb",
    .open = usb_open,
    .print = usb_print,
    .status = usb_status,
    .close = usb_close,
};

const struct printer_ops *printer_usb_backend(void)
{
    return &usb_ops;
}
