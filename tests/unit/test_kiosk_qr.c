/*
 * test_kiosk_qr — the ticket preview's QR code: the SVG kqr makes from a
 * ticket's URL has the modules libqrencode gives that URL (the same width,
 * a rect for every dark module and no other), in a viewBox with the quiet
 * zone; bad payloads are refused; the page serves it at GET
 * /ticket-qr.svg (kpage_decide), only to the kiosk's own page.
 */
#include <check.h>
#include <errno.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpage.h"
#include "kqr.h"

#define URL "https://hall.example/q/20261207/A001?k=kiosk-01"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(svg_has_the_urls_modules)
{
    QRcode *q = QRcode_encodeString8bit(URL, 0, QR_ECLEVEL_M);
    buf b;
    char want[64], *svg;
    size_t dark = 0;

    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < q->width * q->width; i++)
        dark += q->data[i] & 1;
    ck_assert_int_eq(kqr_width(URL), q->width);
    buf_init(&b, 0);
    ck_assert_int_eq(kqr_svg(URL, &b), 0);
    svg = strndup((const char *)buf_rdata(&b), buf_rlen(&b));
    ck_assert_ptr_nonnull(svg);
    snprintf(want, sizeof want, "data-modules=\"%d\"", q->width);
    ck_assert_ptr_nonnull(strstr(svg, want));
    snprintf(want, sizeof want, "viewBox=\"0 0 %d %d\"", q->width + 2 * KQR_QUIET,
             q->width + 2 * KQR_QUIET);
    ck_assert_ptr_nonnull(strstr(svg, want));
    /* One background rect, then one per dark module. */
    ck_assert_uint_eq(count(svg, "<rect "), dark + 1);
    /* The top-left finder pattern's corner module, after the quiet zone. */
    snprintf(want, sizeof want, "<rect x=\"%d\" y=\"%d\" ", KQR_QUIET, KQR_QUIET);
    ck_assert_ptr_nonnull(strstr(svg, want));
    ck_assert_int_eq(strncmp(svg, "<svg ", 5), 0);
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    /* Another URL, another code. */
    buf c;
    buf_init(&c, 0);
    ck_assert_int_eq(kqr_svg(URL "x", &c), 0);
    ck_assert(buf_rlen(&c) != buf_rlen(&b) || memcmp(buf_rdata(&c), buf_rdata(&b), buf_rlen(&b)));
    buf_release(&c);
    free(svg);
    buf_release(&b);
    QRcode_free(q);
}
END_TEST

START_TEST(bad_payloads)
{
    buf b;
    char *big = malloc(8000);

    buf_init(&b, 0);
    errno = 0;
    ck_assert_int_eq(kqr_svg("", &b), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(kqr_width(NULL), -1);
    memset(big, 'a', 7999);
    big[7999] = '\0';
    ck_assert_int_eq(kqr_svg(big, &b), -1);
    ck_assert_uint_eq(buf_rlen(&b), 0);
    free(big);
    buf_release(&b);
}
END_TEST

static int no_state(void *arg, buf *out)
{
    return buf_append(out, "{\"seq\":1}", 9);
}

static int no_action(void *arg, const char *name, const char *param, char *err, size_t errlen)
{
    return -1;
}

START_TEST(page_route)
{
    static const kpage_callbacks cb = {no_state, no_action};
    static const kpage_site site = {"127.0.0.1", 8080};
    kpage_request req = {.method = "GET", .url = "/ticket-qr.svg", .host = "127.0.0.1:8080"};
    kpage_answer a;

    kpage_decide(&cb, NULL, &site, &req, &a);
    ck_assert_int_eq(a.verdict, KPAGE_TICKET_QR);
    buf_release(&a.body);
    req.method = "POST";
    kpage_decide(&cb, NULL, &site, &req, &a);
    ck_assert_int_eq(a.verdict, KPAGE_REPLY);
    ck_assert_uint_eq(a.status, 405);
    buf_release(&a.body);
    req.method = "GET";
    req.host = "evil.example";
    kpage_decide(&cb, NULL, &site, &req, &a);
    ck_assert_int_eq(a.verdict, KPAGE_REPLY);
    ck_assert_uint_eq(a.status, 403);
    buf_release(&a.body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_ticket_qr");
    TCase *tc = tcase_create("qr");

    tcase_add_test(tc, svg_has_the_urls_modules);
    tcase_add_test(tc, bad_payloads);
    tcase_add_test(tc, page_route);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
