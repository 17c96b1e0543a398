/*
 * The usb printer backend under umockdev: libusb's unmodified Linux
 * backend talks to USB devices that exist only in a umockdev testbed, and
 * their behaviour is a usbmon capture the test writes for each case
 * (devices.md 6.3). Replay is strict: every OUT transfer must carry
 * exactly the bytes the capture holds or the replay stalls and the call
 * times out, so a passing print proves the bytes arrived; an IN or OUT
 * submission with no completion is a printer that never answers.
 *
 * Run under umockdev-wrapper (CTest does); each test forks (Check's
 * default) and builds its own testbed before libusb starts. Cases: find by
 * vendor/product and claim, print, read status; find by class among other
 * devices; a silent printer; a printer that stops taking data mid-job; a
 * printer removed mid-job, then plugged in again; no printer at start,
 * then one arrives.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umockdev.h>
#include <unistd.h>

#include "buf.h"
#include "escpos.h"
#include "prfixture.h"
#include "testsupport.h"

/* Where the devices sit in the testbed's sysfs, and their bus addresses. */
#define SYS_1 "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
#define SYS_2 "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"

/* DLE EOT 1-4 in one write, as the backend asks, and ready answers. */
static const uint8_t query[] = {0x10, 0x04, 0x01, 0x10, 0x04, 0x02,
                                0x10, 0x04, 0x03, 0x10, 0x04, 0x04};
static const uint8_t ready[] = {0x12, 0x12, 0x12, 0x12};
static const uint8_t near_end[] = {0x12, 0x12, 0x12, 0x1e};

/* ---- usbmon captures (pcap, LINKTYPE_USB_LINUX_MMAPPED) ---- */

struct capture {
    buf b;
    uint64_t id;
    uint32_t ts; /* microseconds, only for the record */
    int bus, dev;
};

static void put_le(buf *b, uint64_t v, int bytes)
{
    uint8_t *p = buf_reserve(b, (size_t)bytes);

    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    buf_commit(b, (size_t)bytes);
}

static void capture_init(struct capture *c, int bus, int dev)
{
    memset(c, 0, sizeof *c);
    buf_init(&c->b, 1 << 20);
    c->bus = bus;
    c->dev = dev;
    put_le(&c->b, 0xa1b2c3d4, 4); /* pcap header: magic, version 2.4, */
    put_le(&c->b, 2, 2);
    put_le(&c->b, 4, 2);
    put_le(&c->b, 0, 4);     /* zone, */
    put_le(&c->b, 0, 4);     /* sigfigs, */
    put_le(&c->b, 65535, 4); /* snaplen, */
    put_le(&c->b, 220, 4);   /* LINKTYPE_USB_LINUX_MMAPPED */
}

/* One usbmon record: ev 'S' (submit) or 'C' (complete) of a bulk URB. */
static void record(struct capture *c, char ev, uint8_t ep, uint64_t id, uint32_t urb_len,
                   const uint8_t *data, uint32_t data_len)
{
    uint32_t caplen = 64 + data_len;

    c->ts += 1000;
    put_le(&c->b, c->ts / 1000000, 4); /* pcap record header */
    put_le(&c->b, c->ts % 1000000, 4);
    put_le(&c->b, caplen, 4);
    put_le(&c->b, caplen, 4);
    put_le(&c->b, id, 8); /* usbmon mmapped header, 64 bytes */
    put_le(&c->b, (uint8_t)ev, 1);
    put_le(&c->b, 3, 1); /* bulk */
    put_le(&c->b, ep, 1);
    put_le(&c->b, (uint64_t)c->dev, 1);
    put_le(&c->b, (uint64_t)c->bus, 2);
    put_le(&c->b, '-', 1);                                          /* no setup packet */
    put_le(&c->b, data_len > 0 ? 0 : ((ep & 0x80) ? '<' : '>'), 1); /* 0: data follows */
    put_le(&c->b, c->ts / 1000000, 8);
    put_le(&c->b, c->ts % 1000000, 4);
    put_le(&c->b, ev == 'S' ? (uint32_t)-115 : 0, 4); /* -EINPROGRESS while submitted */
    put_le(&c->b, urb_len, 4);
    put_le(&c->b, data_len, 4);
    put_le(&c->b, 0, 8); /* setup */
    put_le(&c->b, 0, 4); /* interval */
    put_le(&c->b, 0, 4); /* start frame */
    put_le(&c->b, 0, 4); /* transfer flags */
    put_le(&c->b, 0, 4); /* iso descriptors */
    if (data_len > 0) {
        ck_assert_int_eq(buf_append(&c->b, data, data_len), 0);
    }
}

/* The host sends data on bulk OUT 0x01; complete=false: it never finishes. */
static void out(struct capture *c, const uint8_t *data, size_t len, bool complete)
{
    uint64_t id = ++c->id;

    record(c, 'S', 0x01, id, (uint32_t)len, data, (uint32_t)len);
    if (complete)
        record(c, 'C', 0x01, id, (uint32_t)len, NULL, 0);
}

/* The host reads 64 bytes on bulk IN 0x82; reply NULL: no answer ever. */
static void in(struct capture *c, const uint8_t *reply, size_t len)
{
    uint64_t id = ++c->id;

    record(c, 'S', 0x82, id, 64, NULL, 0);
    if (reply != NULL)
        record(c, 'C', 0x82, id, (uint32_t)len, reply, (uint32_t)len);
}

static void status_answer(struct capture *c, const uint8_t answer[4])
{
    out(c, query, sizeof query, true);
    in(c, answer, 4);
}

static char *capture_save(struct capture *c, const char *dir, const char *name)
{
    const char *path = ts_path(dir, name);
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf_rdata(&c->b), 1, buf_rlen(&c->b), f), buf_rlen(&c->b));
    ck_assert_int_eq(fclose(f), 0);
    buf_release(&c->b);
    return strdup(path);
}

/* ---- the testbed ---- */

/* A device with one interface of class cls (7 printer, 3 HID) whose
 * bulk OUT is 0x01 and bulk IN 0x82 (64 bytes), as umockdev's text. */
static char *device_text(const char *sys, int devnum, uint16_t vid, uint16_t pid, uint8_t cls)
{
    char desc[200], *text = malloc(1200);

    ck_assert_ptr_nonnull(text);
    snprintf(desc, sizeof desc,
             "1201000200000040%02X%02X%02X%02X000101020301" /* device: VID, PID */
             "09022000010100C032"                           /* one configuration */
             "0904000002%02X010200"                         /* interface: class */
             "07050102400000"                               /* bulk OUT 0x01, 64 */
             "07058202400000",                              /* bulk IN 0x82, 64 */
             vid & 0xff, vid >> 8, pid & 0xff, pid >> 8, cls);
    snprintf(text, 1200,
             "P: %s\nN: bus/usb/001/%03d=%s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
             "E: DEVNAME=/dev/bus/usb/001/%03d\nE: BUSNUM=001\nE: DEVNUM=%03d\n"
             "A: busnum=1\\n\nA: devnum=%d\\n\nA: speed=12\\n\nA: bConfigurationValue=1\\n\n"
             "H: descriptors=%s\n",
             sys + strlen("/sys"), devnum, desc, devnum, devnum, devnum, desc);
    return text;
}

static void plug(UMockdevTestbed *tb, const char *sys, int devnum, uint16_t vid, uint16_t pid,
                 uint8_t cls, const char *pcap, bool announce)
{
    char *text = device_text(sys, devnum, vid, pid, cls);
    GError *err = NULL;

    ck_assert_msg(umockdev_testbed_add_from_string(tb, text, &err), "add device: %s",
                  err != NULL ? err->message : "?");
    free(text);
    if (pcap != NULL)
        ck_assert_msg(umockdev_testbed_load_pcap(tb, sys, pcap, &err), "load capture: %s",
                      err != NULL ? err->message : "?");
    if (announce)
        umockdev_testbed_uevent(tb, sys, "add");
}

static void unplug(UMockdevTestbed *tb, const char *sys)
{
    umockdev_testbed_uevent(tb, sys, "remove");
    umockdev_testbed_remove_device(tb, sys);
}

/* umockdev_in_mock_environment() of umockdev 0.17 answers false under
 * umockdev-wrapper; the preload is what matters. */
static bool preloaded(void)
{
    const char *p = getenv("LD_PRELOAD");

    return p != NULL && strstr(p, "libumockdev-preload") != NULL;
}

/* ---- the printer ---- */

/* A usb printer whose first status poll has been answered (or failed),
 * so every later transfer belongs to a job the test submits. */
static printer *usb_printer(ev_loop *loop, uint16_t vid, uint16_t pid, int status_timeout_ms,
                            pf_result *res)
{
    char err[256] = "";
    printer_conf conf;

    printer_conf_init(&conf);
    ck_assert_int_eq(printer_conf_backend(&conf, "usb", err, sizeof err), 0);
    conf.usb.vendor = vid;
    conf.usb.product = pid;
    conf.job_timeout_ms = 3000;
    conf.status_timeout_ms = status_timeout_ms;
    conf.poll_ms = 600000;
    return pf_open(loop, &conf, res);
}

/* Print once the hotplug event of a device just plugged in reached the
 * backend (udev delivers it asynchronously): until then the job fails
 * with PRINTER_REMOVED and nothing is sent, which is what a kiosk's retry
 * sees too. */
static void print_after_arrival(ev_loop *loop, printer *p, const buf *ticket, pf_result *res)
{
    for (int i = 0; i < 100; i++) {
        pf_print(loop, p, buf_rdata(ticket), buf_rlen(ticket), res);
        if (res->r != PRINTER_REMOVED)
            return;
        ts_run_until(loop, &(bool){false}, 50);
    }
}

static void ticket_bytes(buf *b)
{
    escpos_layout layout = {.paper_mm = 80, .qr_module = 4};
    escpos_ticket t = {.hall = "不动产登记中心",
                       .number = "B007",
                       .area = "不动产",
                       .ahead = 2,
                       .wait_min = 6,
                       .time = "2026-03-02 10:05",
                       .qr = "https://hall.example/t/usb-7"};

    pf_ticket(b, &layout, &t);
}

struct bed {
    char *dir;
    UMockdevTestbed *tb;
    ev_loop *loop;
    buf ticket;
};

static void bed_start(struct bed *b)
{
    ck_assert_msg(preloaded(), "not under umockdev-wrapper");
    b->dir = ts_tmpdir("usb");
    b->tb = umockdev_testbed_new();
    ck_assert_ptr_nonnull(b->tb);
    b->loop = ev_new();
    ck_assert_ptr_nonnull(b->loop);
    ticket_bytes(&b->ticket);
}

static void bed_stop(struct bed *b)
{
    ev_free(b->loop);
    g_object_unref(b->tb);
    buf_release(&b->ticket);
    ts_rmtree(b->dir);
    free(b->dir);
}

START_TEST(test_claim_print_status)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    uint8_t big[6000];
    char *pcap;
    printer *p;

    bed_start(&b);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(0x20 + i % 90);
    capture_init(&c, 1, 2);
    status_answer(&c, ready); /* first poll */
    status_answer(&c, ready); /* ticket: before */
    out(&c, buf_rdata(&b.ticket), buf_rlen(&b.ticket), true);
    status_answer(&c, near_end); /* ticket: after */
    status_answer(&c, near_end); /* big job: before */
    out(&c, big, 4096, true);    /* in pieces of 4096 */
    out(&c, big + 4096, sizeof big - 4096, true);
    out(&c, query, sizeof query, true); /* after: the answer comes in two reads */
    in(&c, near_end, 2);
    in(&c, near_end + 2, 2);
    pcap = capture_save(&c, b.dir, "p.pcap");
    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, false);

    p = usb_printer(b.loop, 0x0416, 0x5011, 2000, &res);
    ck_assert_msg(escpos_status_ready(&res.state), "first poll: known %x flags %x", res.state.known,
                  res.state.flags);

    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_OK, "ticket: %d %s", res.r, res.detail);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_PAPER_NEAR_END, 0);
    ck_assert_uint_ne(res.events & ESCPOS_EV_PAPER_NEAR_END, 0);

    pf_print(b.loop, p, big, sizeof big, &res);
    ck_assert_msg(res.r == PRINTER_OK, "big job: %d %s", res.r, res.detail);
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

/* The bytes must match: a ticket other than the recorded one never
 * completes, and the job fails instead of passing silently. */
START_TEST(test_wrong_bytes_do_not_pass)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    char *pcap;
    printer *p;

    bed_start(&b);
    capture_init(&c, 1, 2);
    status_answer(&c, ready);
    status_answer(&c, ready);
    out(&c, (const uint8_t *)"\x1b@other", 7, true);
    pcap = capture_save(&c, b.dir, "p.pcap");
    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, false);
    p = usb_printer(b.loop, 0, 0, 2000, &res);
    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_TIMEOUT, "mismatch: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "after 0 of") != NULL, "%s", res.detail);
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

START_TEST(test_find_by_class)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    char *pcap;
    printer *p;

    bed_start(&b);
    capture_init(&c, 1, 3);
    status_answer(&c, ready);
    status_answer(&c, ready);
    out(&c, buf_rdata(&b.ticket), buf_rlen(&b.ticket), true);
    status_answer(&c, ready);
    pcap = capture_save(&c, b.dir, "p.pcap");
    /* A keyboard-like HID device first, then the printer. */
    plug(b.tb, SYS_1, 2, 0x046d, 0xc31c, 3, NULL, false);
    plug(b.tb, SYS_2, 3, 0x0fe6, 0x811e, 7, pcap, false);

    p = usb_printer(b.loop, 0, 0, 2000, &res);
    ck_assert_msg(escpos_status_ready(&res.state), "first poll failed");
    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_OK, "ticket: %d %s", res.r, res.detail);
    printer_free(p);

    /* Asked for a printer that is not there: refused, saying which. */
    res = (pf_result){0};
    p = usb_printer(b.loop, 0x1234, 0x5678, 2000, &res);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_REMOVED, "absent: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "no 1234:5678 printer-class device") != NULL, "%s",
                  res.detail);
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

START_TEST(test_silent_printer)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    char *pcap;
    printer *p;

    bed_start(&b);
    capture_init(&c, 1, 2);
    out(&c, query, sizeof query, true);
    in(&c, NULL, 0); /* never answers */
    pcap = capture_save(&c, b.dir, "p.pcap");
    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, false);

    p = usb_printer(b.loop, 0x0416, 0x5011, 500, &res);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_TIMEOUT, "silent: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "not printed") != NULL, "%s", res.detail);
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

START_TEST(test_stops_taking_data)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    uint8_t big[5000];
    char *pcap;
    printer *p;

    bed_start(&b);
    memset(big, 'x', sizeof big);
    capture_init(&c, 1, 2);
    status_answer(&c, ready);
    status_answer(&c, ready);
    out(&c, big, 4096, true);
    out(&c, big + 4096, sizeof big - 4096, false); /* the second piece never goes */
    pcap = capture_save(&c, b.dir, "p.pcap");
    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, false);

    p = usb_printer(b.loop, 0x0416, 0x5011, 2000, &res);
    pf_print(b.loop, p, big, sizeof big, &res);
    ck_assert_msg(res.r == PRINTER_TIMEOUT, "stuck: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "after 4096 of 5000 bytes") != NULL, "%s", res.detail);
    ck_assert_msg(strstr(res.detail, "may be incomplete") != NULL, "%s", res.detail);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

START_TEST(test_removed_mid_job_then_back)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    char *pcap, *pcap2;
    uint64_t id;
    printer *p;

    bed_start(&b);
    capture_init(&c, 1, 2);
    status_answer(&c, ready);
    status_answer(&c, ready);
    out(&c, buf_rdata(&b.ticket), buf_rlen(&b.ticket), false); /* unplugged while it goes */
    pcap = capture_save(&c, b.dir, "p.pcap");
    capture_init(&c, 1, 3); /* plugged in again, it gets a new address */
    status_answer(&c, ready);
    out(&c, buf_rdata(&b.ticket), buf_rlen(&b.ticket), true);
    status_answer(&c, ready);
    pcap2 = capture_save(&c, b.dir, "p2.pcap");
    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, false);

    /* The job timeout is 3 s; the cable is pulled well before, once the
     * job's transfer is under way. */
    p = usb_printer(b.loop, 0x0416, 0x5011, 2000, &res);
    id = pf_submit(p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert(!ts_run_until(b.loop, &res.done, 1000));
    unplug(b.tb, SYS_1);
    pf_wait(b.loop, id, &res);
    ck_assert_msg(res.r == PRINTER_REMOVED, "unplugged: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "was removed after 0 of") != NULL, "%s", res.detail);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);

    /* Plugged in again: hotplug finds it, and the next ticket prints. */
    plug(b.tb, SYS_1, 3, 0x0416, 0x5011, 7, pcap2, true);
    res.events = 0;
    print_after_arrival(b.loop, p, &b.ticket, &res);
    ck_assert_msg(res.r == PRINTER_OK, "plugged again: %d %s", res.r, res.detail);
    ck_assert_uint_ne(res.events & ESCPOS_EV_ONLINE, 0);
    printer_free(p);
    free(pcap);
    free(pcap2);
    bed_stop(&b);
}
END_TEST

START_TEST(test_absent_then_arrives)
{
    struct bed b;
    pf_result res = {0};
    struct capture c;
    char *pcap;
    printer *p;

    bed_start(&b);
    capture_init(&c, 1, 2);
    status_answer(&c, ready);
    out(&c, buf_rdata(&b.ticket), buf_rlen(&b.ticket), true);
    status_answer(&c, ready);
    pcap = capture_save(&c, b.dir, "p.pcap");

    p = usb_printer(b.loop, 0, 0, 2000, &res);
    ck_assert_uint_ne(res.state.flags & ESCPOS_ST_OFFLINE, 0);
    pf_print(b.loop, p, buf_rdata(&b.ticket), buf_rlen(&b.ticket), &res);
    ck_assert_msg(res.r == PRINTER_REMOVED, "absent: %d %s", res.r, res.detail);
    ck_assert_msg(strstr(res.detail, "no 0000:0000 printer-class device connected") != NULL, "%s",
                  res.detail);

    plug(b.tb, SYS_1, 2, 0x0416, 0x5011, 7, pcap, true);
    print_after_arrival(b.loop, p, &b.ticket, &res);
    ck_assert_msg(res.r == PRINTER_OK, "arrived: %d %s", res.r, res.detail);
    ck_assert(escpos_status_ready(&res.state));
    printer_free(p);
    free(pcap);
    bed_stop(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("printer_usb");
    TCase *tc = tcase_create("umockdev");
    SRunner *sr;
    int failed;

    if (!preloaded()) {
        printf("SKIP: run under umockdev-wrapper (CTest does)\n");
        return 77;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_claim_print_status);
    tcase_add_test(tc, test_wrong_bytes_do_not_pass);
    tcase_add_test(tc, test_find_by_class);
    tcase_add_test(tc, test_silent_printer);
    tcase_add_test(tc, test_stops_taking_data);
    tcase_add_test(tc, test_removed_mid_job_then_back);
    tcase_add_test(tc, test_absent_then_arrives);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
