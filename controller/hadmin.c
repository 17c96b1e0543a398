/*
 * hadmin — the hall's everyday administrative changes, checked and written
 * the same way for hallctl and the admin pages. See hadmin.h.
 */
#include "hadmin.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "anchor.h"
#include "conf.h"
#include "pwhash.h"

static const char *const device_types[] = {NULL, "kiosk", "window", "display", "tool", "web"};

const char *hadmin_device_type_name(int type)
{
    return type >= HADMIN_DEV_KIOSK && type <= HADMIN_DEV_WEB ? device_types[type] : NULL;
}

/* ---- Refusals ------------------------------------------------------------ */

/* Refuse with a reason in both languages: zh_fmt takes the arguments of
 * en_fmt, in the same order (it may leave trailing ones out). */
static int refuse(hadmin_error *e, hadmin_fault fault, const char *field, const char *value,
                  const char *zh_fmt, const char *en_fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int refuse(hadmin_error *e, hadmin_fault fault, const char *field, const char *value,
                  const char *zh_fmt, const char *en_fmt, ...)
{
    va_list ap, again;

    e->fault = fault;
    e->field = field;
    snprintf(e->value, sizeof e->value, "%s", value ? value : "");
    va_start(ap, en_fmt);
    va_copy(again, ap);
    vsnprintf(e->en, sizeof e->en, en_fmt, ap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(e->zh, sizeof e->zh, zh_fmt, again);
#pragma GCC diagnostic pop
    va_end(again);
    va_end(ap);
    return -1;
}

/* The database failed: roll back what the transaction wrote. */
static int failed(store *st, hadmin_error *e, bool in_transaction)
{
    char reason[400];

    snprintf(reason, sizeof reason, "%s", store_errmsg(st));
    if (in_transaction)
        store_rollback(st);
    return refuse(e, HADMIN_FAILED, NULL, NULL, "数据库出错，未作任何更改。",
                  "%s (nothing was changed)", reason);
}

int hadmin_audit(store *st, const hadmin_actor *a, const char *fmt, ...)
{
    char what[400], line[512];
    va_list ap;
    int64_t now = clk_utc_ms();

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (a->address != NULL)
        snprintf(line, sizeof line, "web: %s (from %s)", what, a->address);
    else
        snprintf(line, sizeof line, "%s", what);
    int32_t day = clk_date_key(clk_business_day(a->zone, now, a->rollover_hour));
    return store_append_admin_event(st, now, day, a->device, a->user, line);
}

/* The end of a change: commit, or roll back and refuse. */
static int commit(store *st, int rc, hadmin_error *e)
{
    if (rc == 0 && store_commit(st) == 0)
        return 0;
    return failed(st, e, true);
}

static bool name_ok(const char *name, size_t cap, const char *field, hadmin_error *e)
{
    if (catalog_name_ok(name, cap))
        return true;
    refuse(e, HADMIN_INVALID, field, name, "须为一行文字（UTF-8），不超过 %zu 字节，首尾无空格。",
           "one line of UTF-8 text without surrounding spaces, at most %zu bytes", cap - 1);
    return false;
}

/* 1..max of [A-Za-z0-9_-] and '.' (not first): a device or clerk id is a
 * certificate CN and appears in logs and file names. */
static bool id_ok(const char *id, size_t max, hadmin_error *e)
{
    size_t n = strlen(id);

    if (n > 0 && n <= max && id[0] != '.' && conf_word_ok(id, n, true))
        return true;
    refuse(e, HADMIN_INVALID, "id", id, "须为 1 到 %zu 个字母、数字或 . - _（不以 . 开头）。",
           "use 1 to %zu letters, digits, '.', '-' or '_' (not starting with '.')", max);
    return false;
}

/* ---- Windows ------------------------------------------------------------- */

int hadmin_window_build(q_window *w, long no, const char *name, const char *type, hadmin_error *e)
{
    char shown[24];

    memset(w, 0, sizeof *w);
    snprintf(shown, sizeof shown, "%ld", no);
    if (no < 1 || no > HADMIN_WINDOW_MAX)
        return refuse(e, HADMIN_INVALID, "no", shown, "窗口号须为 1 到 %d。",
                      "a window number is 1..%d", HADMIN_WINDOW_MAX);
    w->no = (uint32_t)no;
    if (!name_ok(name, sizeof w->name, "name", e))
        return -1;
    snprintf(w->name, sizeof w->name, "%s", name);
    int t = queue_window_type_parse(type);
    if (t < 0)
        return refuse(e, HADMIN_INVALID, "type", type,
                      "窗口类型须为咨询、受理、出件、帮办或投诉之一。",
                      "use consult, intake, issuance, help or complaint");
    w->type = (q_window_type)t;
    return 0;
}

int hadmin_window_area(q_window *w, const char *area, long weight, hadmin_error *e)
{
    char shown[Q_CODE_MAX + 24];

    snprintf(shown, sizeof shown, "%.*s:%ld", Q_CODE_MAX, area, weight);
    if (!catalog_code_ok(area))
        return refuse(e, HADMIN_INVALID, "areas", area, "不是有效的业务区代码。",
                      "not an area code (1 to 15 letters, digits, '_' or '-')");
    if (weight < 1 || weight > HADMIN_WEIGHT_MAX)
        return refuse(e, HADMIN_INVALID, "areas", shown, "权重须为 1 到 %d。", "a weight is 1..%d",
                      HADMIN_WEIGHT_MAX);
    for (int i = 0; i < w->nareas; i++)
        if (strcmp(w->areas[i], area) == 0)
            return refuse(e, HADMIN_INVALID, "areas", area, "同一业务区列了两次。",
                          "the area is listed twice");
    if (w->nareas == Q_MAX_AREAS_PER_WINDOW)
        return refuse(e, HADMIN_INVALID, "areas", area, "一个窗口最多服务 %d 个业务区。",
                      "a window serves at most %d areas", Q_MAX_AREAS_PER_WINDOW);
    snprintf(w->areas[w->nareas], sizeof w->areas[0], "%s", area);
    w->weights[w->nareas++] = (uint32_t)weight;
    return 0;
}

/* Which of a window's areas the catalog has (retired ones too). */
struct areas_known {
    const q_window *w;
    bool known[Q_MAX_AREAS_PER_WINDOW];
};

static int note_known(void *arg, const q_area *a)
{
    struct areas_known *k = arg;

    for (int i = 0; i < k->w->nareas; i++)
        if (strcmp(a->code, k->w->areas[i]) == 0)
            k->known[i] = true;
    return 0;
}

int hadmin_window_save(store *st, const hadmin_actor *a, const q_window *w, hadmin_error *e)
{
    char areas[Q_MAX_AREAS_PER_WINDOW * (Q_CODE_MAX + 8)] = "";
    struct areas_known k = {.w = w};
    size_t len = 0;

    if (w->nareas == 0)
        return refuse(e, HADMIN_INVALID, "areas", "", "请至少选择一个业务区。",
                      "name at least one area");
    if (store_load_areas(st, note_known, &k) != 0)
        return failed(st, e, false);
    for (int i = 0; i < w->nareas; i++) {
        if (!k.known[i])
            return refuse(e, HADMIN_NOT_FOUND, "areas", w->areas[i],
                          "目录中没有业务区 %s（先导入目录）。",
                          "no area '%s' in the catalog (import the catalog first)", w->areas[i]);
        len += (size_t)snprintf(areas + len, sizeof areas - len, "%s%s:%u", i ? "," : "",
                                w->areas[i], w->weights[i]);
    }
    if (store_begin(st) < 0)
        return failed(st, e, false);
    return commit(st,
                  store_save_window(st, w) < 0 ||
                          hadmin_audit(st, a, "window %u saved: %s, %s, areas %s", w->no, w->name,
                                       queue_window_type_name(w->type), areas) < 0
                      ? -1
                      : 0,
                  e);
}

/* ---- Clerks -------------------------------------------------------------- */

int hadmin_clerk_build(store_clerk *c, const char *id, const char *name, hadmin_error *e)
{
    memset(c, 0, sizeof *c);
    c->active = true;
    if (!id_ok(id, sizeof c->id - 1, e) || !name_ok(name, sizeof c->name, "name", e))
        return -1;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->name, sizeof c->name, "%s", name);
    return 0;
}

int hadmin_clerk_save(store *st, const hadmin_actor *a, const store_clerk *c, hadmin_error *e)
{
    if (store_begin(st) < 0)
        return failed(st, e, false);
    return commit(st,
                  store_save_clerk(st, c) < 0 ||
                          hadmin_audit(st, a, "clerk %s saved: %s", c->id, c->name) < 0
                      ? -1
                      : 0,
                  e);
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int hadmin_pin_check(const char *pin, hadmin_error *e)
{
    if (pin == NULL || !all_digits(pin, HADMIN_PIN_MIN, HADMIN_PIN_MAX))
        return refuse(e, HADMIN_INVALID, "pin", "", "密码须为 %d 到 %d 位数字。",
                      "a PIN is %d to %d digits", HADMIN_PIN_MIN, HADMIN_PIN_MAX);
    return 0;
}

int hadmin_pin_make(char *out, size_t len)
{
    unsigned char r[32];
    size_t n = 0;

    if (out == NULL || len < HADMIN_PIN_MADE + 1) {
        errno = EINVAL;
        return -1;
    }
    while (n < HADMIN_PIN_MADE) {
        if (RAND_bytes(r, sizeof r) != 1) {
            errno = EIO;
            return -1;
        }
        /* Bytes of 250 and up are dropped: every digit equally likely. */
        for (size_t i = 0; i < sizeof r && n < HADMIN_PIN_MADE; i++)
            if (r[i] < 250)
                out[n++] = (char)('0' + r[i] % 10);
    }
    out[n] = '\0';
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

int hadmin_clerk_set_pin(store *st, const hadmin_actor *a, const char *id, const char *pin_hash,
                         hadmin_error *e)
{
    store_clerk c;
    int found;

    if (!all_digits(id, 1, 16))
        return refuse(e, HADMIN_INVALID, "id", id,
                      "叫号器只能输入数字：有密码的工号须为 1 到 16 位数字。",
                      "a call-pad types digits only: a clerk with a PIN has an id of 1 to 16 "
                      "digits");
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if ((found = store_get_clerk(st, id, &c)) < 0)
        return failed(st, e, true);
    if (found == 0) {
        store_rollback(st);
        return refuse(e, HADMIN_NOT_FOUND, "id", id, "没有这个工号。", "no such clerk");
    }
    return commit(st,
                  store_set_clerk_pin(st, id, pin_hash) < 0 ||
                          hadmin_audit(st, a, "clerk %s: call-pad PIN %s", id,
                                       pin_hash[0] != '\0' ? "set" : "cleared") < 0
                      ? -1
                      : 0,
                  e);
}

/* ---- Devices ------------------------------------------------------------- */

int hadmin_device_build(store_device *d, const char *id, const char *type, long window,
                        hadmin_error *e)
{
    char shown[24];

    memset(d, 0, sizeof *d);
    if (!id_ok(id, Q_DEVICE_MAX, e))
        return -1;
    snprintf(d->id, sizeof d->id, "%s", id);
    for (d->type = HADMIN_DEV_KIOSK; d->type <= HADMIN_DEV_WEB; d->type++)
        if (strcmp(device_types[d->type], type) == 0)
            break;
    if (d->type > HADMIN_DEV_WEB)
        return refuse(e, HADMIN_INVALID, "type", type,
                      "设备类型须为取号机、窗口终端、显示屏、工具或网页网关之一。",
                      "use kiosk, window, display, tool or web");
    snprintf(shown, sizeof shown, "%ld", window);
    if (window != 0 && d->type != HADMIN_DEV_WINDOW && d->type != HADMIN_DEV_DISPLAY)
        return refuse(e, HADMIN_INVALID, "window", shown, "只有窗口终端和显示屏属于某个窗口。",
                      "only window terminals and displays belong to a window");
    if (window < 0 || window > HADMIN_WINDOW_MAX)
        return refuse(e, HADMIN_INVALID, "window", shown, "窗口号须为 1 到 %d。",
                      "a window number is 1..%d", HADMIN_WINDOW_MAX);
    if (window == 0 && d->type == HADMIN_DEV_WINDOW)
        return refuse(e, HADMIN_INVALID, "window", "", "窗口终端须指定所属窗口。",
                      "a window terminal needs its window");
    d->window_no = (uint32_t)window;
    return 0;
}

static int window_there(void *arg, const q_window *w)
{
    return w->no == *(const uint32_t *)arg; /* 1 stops the walk: found */
}

int hadmin_device_check_new(store *st, const store_device *d, hadmin_error *e)
{
    store_device old;
    int rc = store_get_device(st, d->id, &old);

    if (rc < 0)
        return failed(st, e, false);
    if (rc == 1 && old.revoked)
        return refuse(e, HADMIN_CONFLICT, "id", d->id,
                      "该设备编号已被吊销，编号永不重用（否则旧证书会重新生效），请另选编号。",
                      "was revoked: ids are never reused (an old certificate of it would work "
                      "again); choose another id");
    if (rc == 1)
        return refuse(e, HADMIN_CONFLICT, "id", d->id, "该设备已登记。", "is already registered");
    if (d->window_no != 0) {
        uint32_t want = d->window_no;
        char shown[24];
        int found = store_load_windows(st, window_there, &want);
        if (found < 0)
            return failed(st, e, false);
        snprintf(shown, sizeof shown, "%u", want);
        if (found == 0)
            return refuse(e, HADMIN_NOT_FOUND, "window", shown, "没有这个窗口（先添加窗口）。",
                          "no such window (add the window first)");
    }
    return 0;
}

int hadmin_device_revoke(store *st, const hadmin_actor *a, const char *id, hadmin_error *e)
{
    store_device d;
    int rc = store_get_device(st, id, &d);

    if (rc < 0)
        return failed(st, e, false);
    if (rc == 0)
        return refuse(e, HADMIN_NOT_FOUND, "id", id, "没有这个设备。", "no such device");
    if (d.revoked)
        return 0;
    if (strcmp(d.id, a->device) == 0)
        return refuse(e, HADMIN_CONFLICT, "id", id,
                      "这是本页面所经由的网页网关，吊销它会使页面停止工作；请用 hallctl 吊销。",
                      "is the web gateway these pages run through: revoking it would stop "
                      "them; revoke it with hallctl");
    d.revoked = true;
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if (commit(st,
               store_save_device(st, &d) < 0 || hadmin_audit(st, a, "device %s revoked", d.id) < 0
                   ? -1
                   : 0,
               e) < 0)
        return -1;
    return 1;
}

/* ---- Users --------------------------------------------------------------- */

#define ROLES_EN "use admin, manager, clerk, reviewer, consult or auditor"
#define ROLES_ZH "角色须为管理员、大厅负责人、窗口人员、后台审批、咨询导办或审计之一。"

static int check_role(const char *role, const char *clerk, hadmin_error *e)
{
    bool has_clerk = clerk != NULL && *clerk != '\0';

    if (!store_user_role_valid(role))
        return refuse(e, HADMIN_INVALID, "role", role, ROLES_ZH, ROLES_EN);
    if (strcmp(role, "clerk") == 0 && !has_clerk)
        return refuse(e, HADMIN_INVALID, "clerk", "", "窗口人员角色须指定对应的工作人员编号。",
                      "the clerk role needs the clerk the user is (a clerk of the clerks' list)");
    if (strcmp(role, "clerk") != 0 && has_clerk)
        return refuse(e, HADMIN_INVALID, "clerk", clerk, "只有窗口人员角色对应工作人员编号。",
                      "only the clerk role names a clerk");
    return 0;
}

static int check_name(const char *name, hadmin_error *e)
{
    if (store_user_name_valid(name))
        return 0;
    return refuse(e, HADMIN_INVALID, "name", name,
                  "登录名须为 1 到 %d 个小写字母、数字或 . _ -，以字母开头。",
                  "use 1 to %d of a-z, 0-9, '.', '_' or '-', starting with a letter",
                  STORE_USER_NAME_MAX);
}

int hadmin_user_build(store_user *u, const char *name, const char *role, const char *clerk,
                      const char *display, hadmin_error *e)
{
    memset(u, 0, sizeof *u);
    if (check_name(name, e) < 0 || check_role(role, clerk, e) < 0)
        return -1;
    if (display != NULL && *display != '\0' &&
        !name_ok(display, sizeof u->display_name, "display_name", e))
        return -1;
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->role, sizeof u->role, "%s", role);
    snprintf(u->clerk_id, sizeof u->clerk_id, "%s", clerk ? clerk : "");
    snprintf(u->display_name, sizeof u->display_name, "%s", display ? display : "");
    return 0;
}

int hadmin_password_check(const char *password, hadmin_error *e)
{
    size_t bytes = strlen(password), chars = 0;

    if (bytes > PWHASH_PASSWORD_MAX)
        return refuse(e, HADMIN_INVALID, "password", "", "密码最长 %d 字节。",
                      "a password is at most %d bytes", PWHASH_PASSWORD_MAX);
    for (size_t i = 0; i < bytes; i++) {
        if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f)
            return refuse(e, HADMIN_INVALID, "password", "", "密码不能含控制字符或换行。",
                          "a password holds no control characters or line breaks");
        chars += ((unsigned char)password[i] & 0xc0) != 0x80; /* 密码 is two */
    }
    if (chars < HADMIN_PASSWORD_MIN)
        return refuse(e, HADMIN_INVALID, "password", "", "密码至少 %d 个字符（现为 %zu 个）。",
                      "a password has at least %d characters (this one has %zu)",
                      HADMIN_PASSWORD_MIN, chars);
    return 0;
}

/* Letters and digits, less those read as one another: 0 O, 1 l I. */
static const char password_chars[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int hadmin_password_make(char *out, size_t len)
{
    const size_t k = sizeof password_chars - 1;
    unsigned char r[32];
    size_t n = 0;

    if (len < HADMIN_PASSWORD_MADE + 1) {
        errno = EINVAL;
        return -1;
    }
    while (n < HADMIN_PASSWORD_MADE) {
        if (RAND_bytes(r, sizeof r) != 1) {
            errno = EIO;
            return -1;
        }
        /* A byte past the last whole multiple of k is dropped: every
         * character equally likely. */
        for (size_t i = 0; i < sizeof r && n < HADMIN_PASSWORD_MADE; i++)
            if (r[i] < 256 / k * k)
                out[n++] = password_chars[r[i] % k];
    }
    out[n] = '\0';
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

static int find_user(store *st, const char *name, store_user *u, hadmin_error *e)
{
    if (check_name(name, e) < 0)
        return -1;
    int rc = store_get_user(st, name, u);
    if (rc < 0)
        return failed(st, e, false);
    if (rc == 0)
        return refuse(e, HADMIN_NOT_FOUND, NULL, name, "没有用户 %s。", "no user %s", name);
    return 0;
}

/* The clerk a clerk user is must exist: its name into name (may be NULL). */
static int find_clerk(store *st, const char *clerk, char *name, size_t len, hadmin_error *e)
{
    store_clerk c;
    int rc = store_get_clerk(st, clerk, &c);

    if (rc < 0)
        return failed(st, e, false);
    if (rc == 0)
        return refuse(e, HADMIN_NOT_FOUND, "clerk", clerk, "没有这个工作人员（先添加工作人员）。",
                      "no such clerk (add the clerk first)");
    if (name != NULL)
        snprintf(name, len, "%s", c.name);
    return 0;
}

/* "clerk (clerk c-1)", or the role alone. */
static const char *role_text(const char *role, const char *clerk, char *out, size_t len)
{
    if (clerk != NULL && *clerk != '\0')
        snprintf(out, len, "%s (clerk %s)", role, clerk);
    else
        snprintf(out, len, "%s", role);
    return out;
}

int hadmin_user_add(store *st, const hadmin_actor *a, store_user *u, const char *pwhash,
                    hadmin_error *e)
{
    store_user old;
    char what[64];
    int rc = store_get_user(st, u->name, &old);

    OPENSSL_cleanse(&old, sizeof old);
    if (rc < 0)
        return failed(st, e, false);
    if (rc == 1)
        return refuse(e, HADMIN_CONFLICT, NULL, u->name,
                      "用户 %s 已存在（可修改其角色、密码或重新启用）。",
                      "user %s exists (change its role or password, or enable it)", u->name);
    if (*u->clerk_id != '\0' &&
        find_clerk(st, u->clerk_id, *u->display_name ? NULL : u->display_name,
                   sizeof u->display_name, e) < 0)
        return -1;
    if (*u->display_name == '\0')
        snprintf(u->display_name, sizeof u->display_name, "%s", u->name);
    snprintf(u->pwhash, sizeof u->pwhash, "%s", pwhash);
    u->created_ms = clk_utc_ms();
    role_text(u->role, u->clerk_id, what, sizeof what);
    if (store_begin(st) < 0)
        return failed(st, e, false);
    return commit(st,
                  store_add_user(st, u) < 0 ||
                          hadmin_audit(st, a, "user %s added, role %s", u->name, what) < 0
                      ? -1
                      : 0,
                  e);
}

int hadmin_user_role(store *st, const hadmin_actor *a, const char *name, const char *role,
                     const char *clerk, hadmin_error *e)
{
    store_user u;
    char was[64], now[64];

    if (check_role(role, clerk, e) < 0 || find_user(st, name, &u, e) < 0)
        return -1;
    OPENSSL_cleanse(u.pwhash, sizeof u.pwhash);
    if (clerk != NULL && *clerk != '\0' && find_clerk(st, clerk, NULL, 0, e) < 0)
        return -1;
    role_text(u.role, u.clerk_id, was, sizeof was);
    role_text(role, clerk, now, sizeof now);
    if (strcmp(was, now) == 0)
        return 0;
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if (commit(st,
               store_set_user_role(st, name, role, clerk && *clerk ? clerk : NULL, clk_utc_ms()) <
                           0 ||
                       hadmin_audit(st, a, "user %s: role %s -> %s", name, was, now) < 0
                   ? -1
                   : 0,
               e) < 0)
        return -1;
    return 1;
}

int hadmin_user_disable(store *st, const hadmin_actor *a, const char *name, bool disable,
                        hadmin_error *e)
{
    store_user u;

    if (find_user(st, name, &u, e) < 0)
        return -1;
    OPENSSL_cleanse(u.pwhash, sizeof u.pwhash);
    if (u.disabled == disable)
        return 0;
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if (commit(st,
               store_set_user_disabled(st, name, disable, clk_utc_ms()) < 0 ||
                       hadmin_audit(st, a, "user %s %s", name, disable ? "disabled" : "enabled") < 0
                   ? -1
                   : 0,
               e) < 0)
        return -1;
    return 1;
}

int hadmin_user_password(store *st, const hadmin_actor *a, const char *name, const char *pwhash,
                         hadmin_error *e)
{
    store_user u;

    if (find_user(st, name, &u, e) < 0)
        return -1;
    OPENSSL_cleanse(u.pwhash, sizeof u.pwhash);
    if (store_begin(st) < 0)
        return failed(st, e, false);
    return commit(st,
                  store_set_user_password(st, name, pwhash, clk_utc_ms()) < 0 ||
                          hadmin_audit(st, a, "user %s: password changed", name) < 0
                      ? -1
                      : 0,
                  e);
}

int hadmin_user_logout(store *st, const hadmin_actor *a, const char *name, hadmin_error *e)
{
    store_user u;

    if (find_user(st, name, &u, e) < 0)
        return -1;
    OPENSSL_cleanse(u.pwhash, sizeof u.pwhash);
    if (store_begin(st) < 0)
        return failed(st, e, false);
    return commit(st,
                  store_end_user_sessions(st, name, clk_utc_ms()) < 0 ||
                          hadmin_audit(st, a, "user %s: sessions ended", name) < 0
                      ? -1
                      : 0,
                  e);
}

/* ---- The catalog --------------------------------------------------------- */

static int note_active(void *arg, const q_area *a)
{
    hadmin_import *r = arg;

    if (a->retired)
        return 0;
    void *grown = realloc(r->retired, (r->nretired + 1) * sizeof *r->retired);
    if (grown == NULL)
        return -1;
    r->retired = grown;
    r->retired[r->nretired++] = *a;
    return 0;
}

/* Keep, of the areas noted active before, those now retired. */
struct still {
    hadmin_import *r;
    size_t kept;
};

static int keep_retired(void *arg, const q_area *a)
{
    struct still *s = arg;

    if (!a->retired)
        return 0;
    for (size_t i = s->kept; i < s->r->nretired; i++)
        if (strcmp(s->r->retired[i].code, a->code) == 0) {
            q_area was = s->r->retired[s->kept];
            s->r->retired[s->kept++] = s->r->retired[i];
            s->r->retired[i] = was;
            break;
        }
    return 0;
}

int hadmin_catalog_import(store *st, const hadmin_actor *a, const catalog *c, const char *file_name,
                          hadmin_import *out, hadmin_error *e)
{
    int64_t now = clk_utc_ms();
    /* A retired area's prefix numbers its tickets of today and yesterday. */
    int32_t since =
        clk_date_key(clk_business_day(a->zone, now - 24LL * 3600 * 1000, a->rollover_hour));

    memset(out, 0, sizeof *out);
    out->nareas = catalog_area_count(c);
    out->nmatters = catalog_matter_count(c);
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if (store_load_areas(st, note_active, out) != 0 ||
        store_replace_catalog(st, catalog_areas(c), out->nareas, catalog_matters(c), out->nmatters,
                              since) < 0 ||
        hadmin_audit(st, a, "catalog imported from %s: %zu areas, %zu matters", file_name,
                     out->nareas, out->nmatters) < 0)
        return commit(st, -1, e);
    struct still s = {out, 0};
    if (store_load_areas(st, keep_retired, &s) != 0)
        return commit(st, -1, e);
    out->nretired = s.kept;
    return commit(st, 0, e);
}

void hadmin_import_release(hadmin_import *r)
{
    free(r->retired);
    memset(r, 0, sizeof *r);
}

/* ---- The hall calendar ------------------------------------------------------ */

struct area_find {
    const char *code;
    bool found;
};

static int note_area(void *arg, const q_area *a)
{
    struct area_find *f = arg;

    if (strcmp(a->code, f->code) == 0 && !a->retired)
        f->found = true;
    return 0;
}

/* "" (the hall) or an area of the catalog. */
static int calendar_area_check(store *st, const char *area, hadmin_error *e)
{
    struct area_find f = {.code = area};

    if (area[0] == '\0')
        return 0;
    if (strlen(area) > CAL_AREA_MAX || store_load_areas(st, note_area, &f) != 0 || !f.found)
        return refuse(e, HADMIN_NOT_FOUND, "area", area, "目录中没有业务区 %s。",
                      "no area '%s' in the catalog", area);
    return 0;
}

static int calendar_days(const char *days, hadmin_error *e)
{
    int mask = calendar_parse_days(days);

    if (mask <= 0)
        return refuse(e, HADMIN_INVALID, "days", days,
                      "星期应写作 1-5、6 或 6,7 这样的形式（0 或 7 为周日）。",
                      "weekdays such as 1-5, sat,sun or mon-fri (0 or 7 is Sunday)");
    return mask;
}

static int calendar_time(const char *field, const char *text, hadmin_error *e)
{
    int t = calendar_parse_time(text);

    if (t < 0)
        return refuse(e, HADMIN_INVALID, field, text, "时间应写作 08:30 这样的形式。",
                      "a time is HH:MM, such as 08:30");
    return t;
}

/* Begin, read the calendar; NULL refused (rolled back). */
static calendar *calendar_begin(store *st, hadmin_error *e)
{
    calendar *c;

    if (store_begin(st) < 0) {
        failed(st, e, false);
        return NULL;
    }
    if (store_load_calendar(st, &c) < 0) {
        failed(st, e, true);
        return NULL;
    }
    return c;
}

/* Write c with its audit event (what) and commit; frees c. */
static int calendar_end(store *st, const hadmin_actor *a, calendar *c, const char *what,
                        hadmin_error *e)
{
    int rc =
        store_save_calendar(st, c) < 0 || hadmin_audit(st, a, "calendar: %s", what) < 0 ? -1 : 0;

    calendar_free(c);
    return commit(st, rc, e);
}

int hadmin_calendar_hours(store *st, const hadmin_actor *a, const char *area, const char *days,
                          const char *open, const char *close, const char *lunch, const char *last,
                          hadmin_error *e)
{
    cal_hours h = {0};
    const char *en, *zh;
    char what[200], ls[6] = "", le[6] = "";
    int mask;
    calendar *c;

    if (calendar_area_check(st, area, e) < 0 || (mask = calendar_days(days, e)) < 0 ||
        (h.open = calendar_time("open", open, e)) < 0 ||
        (h.close = calendar_time("close", close, e)) < 0)
        return -1;
    h.last = h.close;
    if (last != NULL && last[0] != '\0' && (h.last = calendar_time("last", last, e)) < 0)
        return -1;
    if (lunch != NULL && lunch[0] != '\0') {
        if (strlen(lunch) != 11 || lunch[5] != '-')
            return refuse(e, HADMIN_INVALID, "lunch", lunch, "午休应写作 12:00-14:00 这样的形式。",
                          "a lunch break is HH:MM-HH:MM, such as 12:00-14:00");
        memcpy(ls, lunch, 5);
        memcpy(le, lunch + 6, 5);
        if ((h.lunch_start = calendar_time("lunch", ls, e)) < 0 ||
            (h.lunch_end = calendar_time("lunch", le, e)) < 0)
            return -1;
    }
    if (!calendar_hours_valid(&h, &en, &zh)) {
        const char *field = strncmp(en, "lunch", 5) == 0   ? "lunch"
                            : strncmp(en, "last", 4) == 0  ? "last"
                            : strncmp(en, "close", 5) == 0 ? "close"
                                                           : "open";
        const char *value = field[0] == 'l' && field[1] == 'u' ? lunch
                            : field[1] == 'a'                  ? (last && last[0] ? last : close)
                            : field[0] == 'c'                  ? close
                                                               : open;
        refuse(e, HADMIN_INVALID, field, value, "", "%s", en);
        snprintf(e->zh, sizeof e->zh, "%s。", zh);
        return -1;
    }
    if ((c = calendar_begin(st, e)) == NULL)
        return -1;
    for (int d = 0; d < 7; d++)
        if ((mask & (1 << d)) && calendar_set_hours(c, area, d, &h) < 0) {
            calendar_free(c);
            return failed(st, e, true);
        }
    snprintf(what, sizeof what, "hours of %s on %s: %s-%s, lunch %s, last number %s",
             area[0] ? area : "the hall", days, open, close, lunch && lunch[0] ? lunch : "none",
             last && last[0] ? last : close);
    return calendar_end(st, a, c, what, e);
}

int hadmin_calendar_clear(store *st, const hadmin_actor *a, const char *area, const char *days,
                          hadmin_error *e)
{
    char what[120];
    int mask, n = 0;
    calendar *c;

    if (calendar_area_check(st, area, e) < 0 || (mask = calendar_days(days, e)) < 0 ||
        (c = calendar_begin(st, e)) == NULL)
        return -1;
    for (int d = 0; d < 7; d++)
        if ((mask & (1 << d)) && calendar_hours_of(c, area, d) != NULL) {
            calendar_set_hours(c, area, d, NULL);
            n++;
        }
    if (n == 0) {
        calendar_free(c);
        store_rollback(st);
        return 0;
    }
    snprintf(what, sizeof what, "no hours of %s on %s", area[0] ? area : "the hall", days);
    return calendar_end(st, a, c, what, e) < 0 ? -1 : 1;
}

/* Check one dated exception into d. */
static int date_build(cal_date *d, const char *date, const char *kind, const char *as,
                      const char *name, hadmin_error *e)
{
    memset(d, 0, sizeof *d);
    if ((d->day = calendar_parse_date(date)) < 0)
        return refuse(e, HADMIN_INVALID, "date", date,
                      "日期应写作 2026-10-01 这样的形式，且须为真实日期。",
                      "a date is YYYY-MM-DD, a real one");
    if (strcmp(kind, "holiday") == 0) {
        d->kind = CAL_HOLIDAY;
    } else if (strcmp(kind, "workday") == 0) {
        int mask = as == NULL || as[0] == '\0' ? 1 << 1 : calendar_parse_days(as);
        d->kind = CAL_WORKDAY;
        if (mask <= 0 || (mask & (mask - 1)) != 0)
            return refuse(e, HADMIN_INVALID, "as", as,
                          "调休上班日须指定按星期几的时间（周一至周日之一）。",
                          "a swapped working day takes the hours of one weekday, such as mon");
        for (d->as_wday = 0; !(mask & (1 << d->as_wday)); d->as_wday++)
            ;
    } else {
        return refuse(e, HADMIN_INVALID, "kind", kind, "类型须为放假或调休上班。",
                      "use holiday or workday (a swapped working day)");
    }
    if (name != NULL && name[0] != '\0') {
        if (!name_ok(name, sizeof d->name, "name", e))
            return -1;
        snprintf(d->name, sizeof d->name, "%s", name);
    }
    return 0;
}

int hadmin_calendar_date(store *st, const hadmin_actor *a, const char *date, const char *kind,
                         const char *as, const char *name, hadmin_error *e)
{
    char what[200];
    cal_date d;
    calendar *c;

    if (date_build(&d, date, kind, as, name, e) < 0 || (c = calendar_begin(st, e)) == NULL)
        return -1;
    if (calendar_set_date(c, &d) < 0) {
        calendar_free(c);
        return failed(st, e, true);
    }
    snprintf(what, sizeof what, "%s %s%s%s", date, kind, d.name[0] ? " " : "", d.name);
    return calendar_end(st, a, c, what, e);
}

int hadmin_calendar_undate(store *st, const hadmin_actor *a, const char *date, hadmin_error *e)
{
    int32_t day = calendar_parse_date(date);
    char what[80];
    calendar *c;

    if (day < 0)
        return refuse(e, HADMIN_INVALID, "date", date,
                      "日期应写作 2026-10-01 这样的形式，且须为真实日期。",
                      "a date is YYYY-MM-DD, a real one");
    if ((c = calendar_begin(st, e)) == NULL)
        return -1;
    if (calendar_remove_date(c, day) == 0) {
        calendar_free(c);
        store_rollback(st);
        return 0;
    }
    snprintf(what, sizeof what, "%s removed", date);
    return calendar_end(st, a, c, what, e) < 0 ? -1 : 1;
}

int hadmin_calendar_area(store *st, const hadmin_actor *a, const char *area,
                         const char *always_open, const char *unstaffed, hadmin_error *e)
{
    static const char *const unstaffed_names[] = {"default", "yes", "no"};
    char what[160];
    calendar *c;
    cal_area ca;

    if (area[0] == '\0')
        return refuse(e, HADMIN_INVALID, "area", area, "请指定业务区。", "name an area");
    if (calendar_area_check(st, area, e) < 0)
        return -1;
    if (always_open != NULL && strcmp(always_open, "yes") != 0 && strcmp(always_open, "no") != 0)
        return refuse(e, HADMIN_INVALID, "always_open", always_open, "须为“是”或“否”。",
                      "use yes or no");
    int u = -1;
    for (int i = 0; unstaffed != NULL && i < 3; i++)
        if (strcmp(unstaffed, unstaffed_names[i]) == 0)
            u = i;
    if (unstaffed != NULL && u < 0)
        return refuse(e, HADMIN_INVALID, "unstaffed", unstaffed, "须为“按大厅设置”、“是”或“否”。",
                      "use default, yes or no");
    if ((c = calendar_begin(st, e)) == NULL)
        return -1;
    ca = calendar_area(c, area);
    if (always_open != NULL)
        ca.always_open = strcmp(always_open, "yes") == 0;
    if (u >= 0)
        ca.unstaffed = (enum cal_unstaffed)u;
    if (calendar_set_area(c, &ca) < 0) {
        calendar_free(c);
        return failed(st, e, true);
    }
    snprintf(what, sizeof what, "area %s: always open %s, issue unstaffed %s", area,
             ca.always_open ? "yes" : "no", unstaffed_names[ca.unstaffed]);
    return calendar_end(st, a, c, what, e);
}

int hadmin_calendar_import(store *st, const hadmin_actor *a, const char *text, size_t len,
                           size_t *n, hadmin_error *e)
{
    char line[256], what[80];
    size_t at = 0, lineno = 0;
    calendar *c;

    *n = 0;
    if ((c = calendar_begin(st, e)) == NULL)
        return -1;
    while (at < len) {
        size_t end = at;
        char *f[4] = {NULL, NULL, NULL, NULL};
        char shown[24];
        cal_date d;
        int nf = 0;

        while (end < len && text[end] != '\n')
            end++;
        lineno++;
        snprintf(shown, sizeof shown, "%zu", lineno);
        size_t ll = end - at;
        if (ll > 0 && text[at + ll - 1] == '\r')
            ll--;
        if (ll >= sizeof line || memchr(text + at, '\0', ll) != NULL) {
            calendar_free(c);
            store_rollback(st);
            return refuse(e, HADMIN_INVALID, "line", shown, "第 %s 行过长或含有 NUL 字节。",
                          "line %s is too long or holds a NUL byte", shown);
        }
        memcpy(line, text + at, ll);
        line[ll] = '\0';
        at = end + 1;
        if (line[0] == '\0' || line[0] == '#')
            continue;
        for (char *p = line; p != NULL && nf < 4;) {
            f[nf++] = p;
            if ((p = strchr(p, ',')) != NULL)
                *p++ = '\0';
        }
        if (nf < 2 || date_build(&d, f[0], f[1], f[2], f[3], e) < 0) {
            char why_en[sizeof e->en], why_zh[sizeof e->zh];

            snprintf(why_en, sizeof why_en, "%s",
                     nf < 2 ? "expected date,kind[,as[,name]]" : e->en);
            snprintf(why_zh, sizeof why_zh, "%s",
                     nf < 2 ? "每行应为：日期,类型[,星期[,名称]]。" : e->zh);
            calendar_free(c);
            store_rollback(st);
            refuse(e, HADMIN_INVALID, "line", shown, "", "line %s: %.500s", shown, why_en);
            snprintf(e->zh, sizeof e->zh, "第 %s 行：%.500s", shown, why_zh);
            return -1;
        }
        if (calendar_set_date(c, &d) < 0) {
            calendar_free(c);
            return failed(st, e, true);
        }
        (*n)++;
    }
    snprintf(what, sizeof what, "%zu dates imported", *n);
    return calendar_end(st, a, c, what, e);
}

/* ---- After a commit ------------------------------------------------------ */

int hadmin_anchor(store *st, const char *hall_id, const char *key_path, const char *anchors,
                  anchor_reason why, char *err, size_t errlen)
{
    anchor a = {.reason = why, .at_ms = clk_utc_ms()};
    anchor_key *k = anchor_key_load(key_path, err, errlen);
    int rc = 0;

    if (k == NULL)
        return -1;
    snprintf(a.hall_id, sizeof a.hall_id, "%s", hall_id);
    if (store_event_head(st, &a.seq, a.hash) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(st));
        rc = -1;
    } else if (a.seq > 0) {
        rc = anchor_write(anchors, k, &a, err, errlen);
    }
    anchor_key_free(k);
    return rc;
}

int hadmin_notify(const char *store_path, long *pid)
{
    *pid = store_locked_by(store_path);
    if (*pid < 0) {
        errno = ESRCH;
        return -1;
    }
    return *pid > 0 && kill((pid_t)*pid, SIGHUP) < 0 ? -1 : 0;
}

/* ---- Big screens (大屏) ---------------------------------------------------- */

static int token_hash(const char *token, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1 || n != sizeof md)
        return -1;
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int hadmin_screen_add(store *st, const hadmin_actor *a, const char *name, char *token,
                      hadmin_error *e)
{
    unsigned char raw[HADMIN_SCREEN_TOKEN_LEN / 2];
    store_screen sc, old;
    int rc;

    token[0] = '\0';
    if (!store_screen_name_valid(name))
        return refuse(e, HADMIN_INVALID, "name", name,
                      "大屏名称须为 1 至 %d 个小写字母、数字或 . _ -，以字母或数字开头。",
                      "use 1 to %d of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
                      STORE_SCREEN_NAME_MAX);
    if ((rc = store_get_screen(st, name, &old)) < 0)
        return failed(st, e, false);
    if (rc == 1 && old.revoked_ms == 0)
        return refuse(e, HADMIN_CONFLICT, "name", name,
                      "该大屏已在使用；如需新的令牌，请先吊销它。",
                      "this screen has a live token; revoke it first for a new one");
    if (RAND_bytes(raw, sizeof raw) != 1)
        return refuse(e, HADMIN_FAILED, NULL, NULL, "暂时无法生成令牌，未作任何更改。",
                      "no random bytes for a token (nothing was changed)");
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    memset(&sc, 0, sizeof sc);
    snprintf(sc.name, sizeof sc.name, "%s", name);
    snprintf(sc.issued_by, sizeof sc.issued_by, "%s", a->user);
    sc.issued_ms = clk_utc_ms();
    if (token_hash(token, sc.token_sha256) < 0) {
        OPENSSL_cleanse(token, HADMIN_SCREEN_TOKEN_LEN + 1);
        return refuse(e, HADMIN_FAILED, NULL, NULL, "暂时无法生成令牌，未作任何更改。",
                      "cannot hash the token (nothing was changed)");
    }
    if (store_begin(st) < 0)
        rc = failed(st, e, false);
    else
        rc = commit(st,
                    store_save_screen(st, &sc) < 0 ||
                            hadmin_audit(st, a, "screen %s issued a token", sc.name) < 0
                        ? -1
                        : 0,
                    e);
    if (rc < 0)
        OPENSSL_cleanse(token, HADMIN_SCREEN_TOKEN_LEN + 1);
    return rc;
}

int hadmin_screen_revoke(store *st, const hadmin_actor *a, const char *name, hadmin_error *e)
{
    store_screen sc;
    int rc = store_get_screen(st, name, &sc);

    if (rc < 0)
        return failed(st, e, false);
    if (rc == 0)
        return refuse(e, HADMIN_NOT_FOUND, "name", name, "没有这个大屏。", "no such screen");
    if (sc.revoked_ms != 0)
        return 0;
    if (store_begin(st) < 0)
        return failed(st, e, false);
    if (commit(st,
               store_revoke_screen(st, name, clk_utc_ms(), a->user) != 1 ||
                       hadmin_audit(st, a, "screen %s revoked", name) < 0
                   ? -1
                   : 0,
               e) < 0)
        return -1;
    return 1;
}

struct screen_find {
    char hash[65];
    store_screen *out;
    int found;
};

/* Every row is compared, found or not, so the time taken does not depend
 * on which screen (if any) the token is. */
static int match_screen(void *arg, const store_screen *sc)
{
    struct screen_find *f = arg;

    if (CRYPTO_memcmp(f->hash, sc->token_sha256, 64) == 0 && sc->revoked_ms == 0 && !f->found) {
        *f->out = *sc;
        f->found = 1;
    }
    return 0;
}

int hadmin_screen_find(store *st, const char *token, store_screen *out)
{
    struct screen_find f = {.out = out};

    if (strlen(token) != HADMIN_SCREEN_TOKEN_LEN || token_hash(token, f.hash) < 0)
        return 0;
    if (store_load_screens(st, match_screen, &f) != 0)
        return -1;
    return f.found;
}
