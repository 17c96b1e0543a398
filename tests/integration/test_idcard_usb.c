/*
 * test_idcard_usb — the usb card reader backend ("bulk" model) through
 * libusb's real Linux code, against a reader that umockdev replays from a
 * usbmon capture (devices.md 6.3): the test writes the capture from the
 * frames of the software SAM (samdev), so every OUT must match the
 * driver's command byte for byte and every IN answer arrives in 64-byte
 * packets, as a full-speed bulk endpoint gives it. One swipe gives one
 * identity; a find whose answer never completes turns the reader offline.
 *
 * Runs under umockdev-wrapper (CTest idcard_usb_umockdev); exits 77
 * (skipped) when not in a mock environment.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umockdev.h>

#include "ev.h"
#include "reader.h"
#include "sam.h"
#include "samdev.h"
#include "testsupport.h"

#define WAIT_MS 20000
#define DEVPATH "/devices/pci0000:00/0000:00:14.0/usb1/1-1"
#define SYSFS   "/sys" DEVPATH
#define EP_OUT  0x01
#define EP_IN   0x82
#define PACKET  64

/* devices.md 6.3: VID 0416 PID 5011, one interface, bulk OUT 0x01 and IN
 * 0x82 of 64 bytes. */
#define DESCRIPTORS                                                                                \
    "12010002000000401604115000010102030109022000010100C0320904000002070102000705010240000007"     \
    "058202400000"

static const char device_text[] = "P: " DEVPATH "\n"
                                  "N: bus/usb/001/002=" DESCRIPTORS "\n"
                                  "E: SUBSYSTEM=usb\n"
                                  "E: DEVTYPE=usb_device\n"
                                  "E: DEVNAME=/dev/bus/usb/001/002\n"
                                  "E: BUSNUM=001\n"
                                  "E: DEVNUM=002\n"
                                  "A: busnum=1\\n\n"
                                  "A: devnum=2\\n\n"
                                  "A: speed=12\\n\n"
                                  "A: bConfigurationValue=1\\n\n"
                                  "H: descriptors=" DESCRIPTORS "\n";

/* ---- a usbmon capture (pcap, DLT 220 LINKTYPE_USB_LINUX_MMAPPED) ---- */

struct pcap {
    FILE *f;
    uint64_t urb;
    uint32_t ts;
};

static void le(FILE *f, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        fputc((int)(v >> (8 * i)) & 0xff, f);
}

/* One record: the 64-byte usbmon header and data. */
static void rec(struct pcap *p, char ev, int ep, uint32_t urb_len, const uint8_t *data,
                uint32_t len, int32_t status, uint64_t id)
{
    char flag = len > 0 ? 0 : ((ep & 0x80) ? '<' : '>');

    p->ts += 100;
    le(p->f, 0, 4); /* ts_sec */
    le(p->f, p->ts, 4);
    le(p->f, 64 + len, 4);
    le(p->f, 64 + len, 4);
    le(p->f, id, 8);
    fputc(ev, p->f);
    fputc(3, p->f); /* bulk */
    fputc(ep, p->f);
    fputc(2, p->f); /* devnum */
    le(p->f, 1, 2); /* busnum */
    fputc('-', p->f);
    fputc(flag, p->f);
    le(p->f, 0, 8);                /* ts_sec */
    le(p->f, p->ts, 4);            /* ts_usec */
    le(p->f, (uint32_t)status, 4); /* status */
    le(p->f, urb_len, 4);          /* length */
    le(p->f, len, 4);              /* len_cap */
    le(p->f, 0, 8);                /* setup */
    le(p->f, 0, 4);                /* interval */
    le(p->f, 0, 4);                /* start_frame */
    le(p->f, 0, 4);                /* xfer_flags */
    le(p->f, 0, 4);                /* ndesc */
    if (len > 0)
        ck_assert_uint_eq(fwrite(data, 1, len, p->f), len);
}

static void out_urb(struct pcap *p, const uint8_t *data, size_t len)
{
    uint64_t id = ++p->urb;

    rec(p, 'S', EP_OUT, (uint32_t)len, data, (uint32_t)len, -115, id);
    rec(p, 'C', EP_OUT, (uint32_t)len, NULL, 0, 0, id);
}

/* An answer, in 64-byte IN transfers. */
static void in_answer(struct pcap *p, const uint8_t *data, size_t len)
{
    for (size_t off = 0; off < len; off += PACKET) {
        uint64_t id = ++p->urb;
        size_t n = len - off < PACKET ? len - off : PACKET;

        rec(p, 'S', EP_IN, PACKET, NULL, 0, -115, id);
        rec(p, 'C', EP_IN, (uint32_t)n, data + off, (uint32_t)n, 0, id);
    }
}

/* Command cmd and samdev's answer to it. */
static void exchange(struct pcap *p, samdev *d, enum sam_cmd cmd)
{
    static uint8_t answer[SAMDEV_REPLY_MAX];
    uint8_t frame[16];
    size_t n = sam_command(cmd, NULL, 0, frame, sizeof frame), an;

    ck_assert_uint_gt(n, 0);
    out_urb(p, frame, n);
    ck_assert_int_eq(samdev_push(d, frame, n), 0);
    an = samdev_reply(d, answer, sizeof answer);
    ck_assert_uint_gt(an, 0);
    in_answer(p, answer, an);
}

static void write_capture(const char *path)
{
    struct pcap p = {fopen(path, "wb"), 0, 1000};
    samdev *d = samdev_new(SAMDEV_VALID);
    uint8_t find[16];
    size_t n = sam_command(SAM_CMD_FIND, NULL, 0, find, sizeof find);

    ck_assert_ptr_nonnull(p.f);
    ck_assert_ptr_nonnull(d);
    le(p.f, 0xa1b2c3d4, 4);
    le(p.f, 2, 2);
    le(p.f, 4, 2);
    le(p.f, 0, 4);
    le(p.f, 0, 4);
    le(p.f, 65535, 4);
    le(p.f, 220, 4);
    exchange(&p, d, SAM_CMD_STATUS);
    exchange(&p, d, SAM_CMD_FIND);
    exchange(&p, d, SAM_CMD_SELECT);
    exchange(&p, d, SAM_CMD_READ);
    exchange(&p, d, SAM_CMD_READ_ADDR);
    exchange(&p, d, SAM_CMD_FIND); /* the card stays: no second read */
    /* Then a find whose answer never comes: the reader times out. */
    out_urb(&p, find, n);
    rec(&p, 'S', EP_IN, PACKET, NULL, 0, -115, ++p.urb);
    samdev_free(d);
    ck_assert_int_eq(fclose(p.f), 0);
}

/* ---- the driver ---- */

struct rec {
    int identities, errors;
    bool got_identity, went_offline, online;
    char number[20];
};

static void on_identity(reader *r, const idcard_identity *id, void *arg)
{
    struct rec *c = arg;

    (void)r;
    snprintf(c->number, sizeof c->number, "%s", id->id_number);
    c->identities++;
    c->got_identity = true;
}

static void on_error(reader *r, idcard_result code, const char *detail, void *arg)
{
    struct rec *c = arg;

    (void)r;
    (void)code;
    (void)detail;
    c->errors++;
}

static void on_state(reader *r, bool online, const char *detail, void *arg)
{
    struct rec *c = arg;

    (void)r;
    (void)detail;
    c->online = online;
    if (!online)
        c->went_offline = true;
}

START_TEST(usb_swipe_then_silence)
{
    static const reader_callbacks cb = {on_identity, on_error, on_state};
    UMockdevTestbed *tb = umockdev_testbed_new();
    GError *gerr = NULL;
    char *dir = ts_tmpdir("idcard-usb"), capture[600], err[256];
    struct rec c = {0};
    reader_conf conf;
    ev_loop *loop;
    reader *r;

    snprintf(capture, sizeof capture, "%s/reader.pcap", dir);
    write_capture(capture);
    ck_assert_msg(umockdev_testbed_add_from_string(tb, device_text, &gerr), "add: %s",
                  gerr != NULL ? gerr->message : "?");
    ck_assert_msg(umockdev_testbed_load_pcap(tb, SYSFS, capture, &gerr), "pcap: %s",
                  gerr != NULL ? gerr->message : "?");

    reader_conf_init(&conf);
    conf.backend = READER_BACKEND_USB;
    conf.usb.vid = 0x0416;
    conf.usb.pid = 0x5011;
    conf.poll_ms = 20;
    conf.today = 20260115;
    loop = ev_new();
    r = reader_new(loop, &conf, &cb, &c, err, sizeof err);
    ck_assert_msg(r != NULL, "reader_new: %s", err);
    ck_assert(ts_run_until(loop, &c.got_identity, WAIT_MS));
    ck_assert_str_eq(c.number, "110101199003071233");
    ck_assert(ts_run_until(loop, &c.went_offline, WAIT_MS));
    ck_assert_int_eq(c.identities, 1);
    ck_assert_int_ge(c.errors, 1);
    reader_free(r);
    ev_free(loop);
    g_object_unref(tb);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s;
    TCase *tc;
    SRunner *sr;
    int failed;

    /* Asked of the environment, not of a testbed: a testbed made here
     * would start GLib threads in this process, and Check forks each test
     * case from it; a child forked while one of them held a lock hangs. */
    const char *preload = getenv("LD_PRELOAD");

    if (preload == NULL || strstr(preload, "libumockdev-preload") == NULL) {
        fprintf(stderr, "test_idcard_usb: not under umockdev-wrapper: skipped\n");
        return 77;
    }
    s = suite_create("idcard_usb");
    tc = tcase_create("umockdev");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, usb_swipe_then_silence);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
