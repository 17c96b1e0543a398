/*
 * kbus — the kiosk as the master of a bus segment ([bus] enabled): the
 * window displays, the hall board, the clerks' call-pads and the
 * citizens' rating pads of docs/bus.md, driven from halld's display
 * pushes and reporting keys and ratings back to halld.
 *
 * Two halves:
 *  - the view (pure, no I/O): kbus_view_apply() turns each display push
 *    the kiosk's own link receives into what the bus must show — a new
 *    call for a window display and the board, a call-pad's current number
 *    and waiting count, the board's notice line;
 *  - the master (kbus_new): one busmaster carrying those actions out, and
 *    for every window with a call-pad one klink as that window's terminal
 *    (DEVICE_WINDOW_TERMINAL, the bundle DIR/callpad-wN/ of [bus]
 *    window_certs), so halld's rule "a terminal acts for its own window
 *    only" holds for the pads the kiosk carries.
 *
 * Keys. busmaster delivers each call-pad press exactly once; kbus turns it
 * into the window operation (next CALL_NEXT, recall RECALL, noshow
 * NO_SHOW, start START, finish FINISH, transfer TRANSFER to the pad's
 * target window, pause PAUSE, resume RESUME) on that window's link. One
 * operation per window is in flight at a time and later presses wait in
 * order (a START needs the ticket CALL_NEXT answers with). klink keeps a
 * request across link drops and sends it again with the same id, so a
 * press made while halld is down is carried out once when it is back. The
 * answer updates the call-pad display; a refusal shows a short Chinese
 * line there (kbus_refusal_zh: 无人等候, 窗口未开放, ...) for a few seconds.
 * A next that would make the called citizen a no-show (recalled
 * max_recalls times, halld's HelloReply) is held: the pad shows
 * "再按一次确认过号" and only a second next within [bus] noshow_confirm
 * sends CALL_NEXT; otherwise the first press is dropped. Without a clerk
 * signed in the pad shows "请先签到" and refuses next itself. The sign-in
 * key carries the clerk number and PIN typed on the pad (busmaster's
 * signin callback) and becomes SignIn{window, clerk, pin}; sign-out
 * becomes SignOut.
 *
 * The ticket a key acts on is the one the window's last answer named: a
 * ticket called by another terminal of the same window is not known here
 * until this pad's next answer (a next on a called ticket is its recall,
 * and names it).
 *
 * Ratings. After a FINISH the window's rating pad is prompted for the
 * finished ticket ([bus] rating_timeout); a rating is sent to halld as
 * RATING on the window's link, a timed-out or cancelled prompt sends
 * nothing.
 *
 * Health. Devices going offline or online are logged and kept: the screen
 * model's "bus" is "ok", or "degraded" with the offline devices listed.
 *
 * Plausibility. The bus has no authentication (docs/bus.md): anything on
 * the wiring can answer for a pad. The guard (below) drops call-pad keys
 * that come faster than a clerk can press and flags a pad that restarts
 * too often; a flagged pad makes the bus "suspect" in the screen model and
 * the kiosk's device health, and is logged once per episode. Ratings are
 * taken only for the prompt open on the window's rating pad, once (the
 * bus driver ends a prompt exactly once), and sent for the ticket that
 * prompt was for.
 */
#ifndef ONEWINDOW_KBUS_H
#define ONEWINDOW_KBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ev.h"
#include "kiosk_conf.h"
#include "proto.h"

/* ---- The view: pushes -> display actions (pure) -------------------------- */

#define KBUS_WINDOWS_MAX 64
#define KBUS_NUMBER_MAX  16
#define KBUS_NAME_MAX    48
#define KBUS_NOTICE_MAX  256
/* Actions one push can give at most: its calls (halld sends at most 64),
 * every window display and call-pad, the notice. */
#define KBUS_ACTIONS_MAX (64 + 2 * KBUS_WINDOWS_MAX + 1)

typedef enum kbus_op {
    KBUS_CALL,    /* show number at window's display and post it to the board */
    KBUS_WINDOW,  /* window's display shows its state (text, number), steady */
    KBUS_CALLPAD, /* window's call-pad shows number ("" none), waiting and flags */
    KBUS_NOTICE,  /* the board's notice line is text */
} kbus_op;

#define KBUS_TEXT_MAX  64 /* a window display's line */
#define KBUS_CLERK_MAX 48

typedef struct kbus_action {
    uint32_t window; /* CALL, WINDOW, CALLPAD */
    kbus_op op;
    char number[KBUS_NUMBER_MAX]; /* CALL, WINDOW, CALLPAD */
    char name[KBUS_NAME_MAX];     /* CALL: the masked name, "" if none */
    bool blink;                   /* CALL: a new call; false for the first picture's */
    uint32_t waiting;             /* CALLPAD: tickets waiting for the window's areas */
    uint16_t flags;               /* CALLPAD: BUSMAP_PAD_* marks of the current ticket */
    char text[KBUS_NOTICE_MAX];   /* NOTICE; WINDOW: the display's line */
} kbus_action;

/* What a window's display shows, chosen from its state and ticket:
 *
 *   ticket CALLED         "请A012号到3号窗口"  (a call: blinks when new)
 *   ticket SERVING        "A012号 正在办理"
 *   OPEN, no ticket       "3号窗口 请稍候"
 *   PAUSED, no ticket     "3号窗口 暂停服务"
 *   CLOSED (no clerk)     "3号窗口 暂停办理"
 */
typedef enum kbus_face {
    KBUS_FACE_NONE = 0, /* nothing known yet */
    KBUS_FACE_CALLED,
    KBUS_FACE_SERVING,
    KBUS_FACE_IDLE,
    KBUS_FACE_PAUSED,
    KBUS_FACE_CLOSED,
} kbus_face;

/* The face for a window state and its current ticket's state and number
 * (Hall__WindowState, Hall__TicketState). */
kbus_face kbus_face_of(int window_state, int ticket_state, const char *number);
/* The line a window display shows for a face (ticket: the current
 * number, for CALLED and SERVING). The display shows the ticket number
 * with it for those two faces, none for the others. */
void kbus_face_text(kbus_face f, uint32_t window, const char *ticket, char *text, size_t cap);

/* What the bus shows, as far as pushes tell. */
typedef struct kbus_view {
    bool seen;            /* a snapshot was applied */
    int64_t last_call_ms; /* newest call shown */
    char notice[KBUS_NOTICE_MAX];
    size_t nwindows;
    struct {
        uint32_t no;
        char current[KBUS_NUMBER_MAX];
        int state;        /* Hall__WindowState */
        int ticket_state; /* Hall__TicketState of current */
        uint32_t waiting; /* for the window's areas */
        uint16_t flags;   /* BUSMAP_PAD_* of current */
        char clerk[KBUS_CLERK_MAX];
        /* The recalls of the ticket recalled_number, by the newest call
         * pushed (or the window's answer): what a next press would do. */
        char recalled_number[KBUS_NUMBER_MAX];
        uint32_t recalls;
        kbus_face face; /* what the display shows */
        char face_number[KBUS_NUMBER_MAX];
    } window[KBUS_WINDOWS_MAX];
} kbus_view;

void kbus_view_init(kbus_view *v);
/* Apply one push (in the order the link delivers them) and write the
 * actions it needs to out[0..max), oldest call first; returns how many.
 * A delta's calls are all new (a call or a recall: both blink); a
 * snapshot's calls are new only when newer than the newest shown — the
 * ones missed while the link was down — and the very first snapshot's
 * are shown without blinking, so a kiosk that starts fills the board
 * without announcing old calls. After the calls, every window the push
 * reports whose display no longer tells the truth (finished, no-show,
 * paused, closed, serving) gets a KBUS_WINDOW. Call-pads are written when
 * their window's number, waiting count, marks, clerk or state changed
 * (every one after a snapshot). Strings are cut to the action's fields. */
size_t kbus_view_apply(kbus_view *v, const Hall__DisplayPush *p, kbus_action *out, size_t max);
/* Whether a next pressed at window now would make its called citizen a
 * no-show (the ticket is CALLED and already recalled max_recalls times),
 * and needs a confirming second press. */
bool kbus_view_next_is_noshow(const kbus_view *v, uint32_t window, uint32_t max_recalls);
/* Whether window has a clerk signed in (it is not closed), as far as
 * pushes tell (unknown windows: true, halld decides). */
bool kbus_view_signed_in(const kbus_view *v, uint32_t window);
/* The call-pad's message line for a window with nothing else to say:
 * "请先签到" without a clerk, "暂停服务" when paused, else "". */
const char *kbus_view_pad_text(const kbus_view *v, uint32_t window);
/* The Chinese line a call-pad shows for a refusal of key (bus_key) by
 * halld with code (Hall__ErrorCode); message_zh (may be NULL or "") is
 * halld's own sentence, used for PIN refusals. At most 16 characters. */
const char *kbus_refusal_zh(int key, int code, const char *message_zh);

/* ---- The guard: what pads send, checked for plausibility (pure) ------------ */

/* Keys: a call-pad may send KBUS_KEY_BURST keys at once (a full FIFO of 8
 * after an outage, and two more) and then one per KBUS_KEY_EVERY_MS, far
 * above what a clerk presses in a day's work; a key beyond that is dropped,
 * never turned into an operation. */
#define KBUS_KEY_BURST    10
#define KBUS_KEY_EVERY_MS 1000
/* Restarts: a pad that shows a new boot id more than KBUS_RESTARTS_MAX
 * times within KBUS_RESTARTS_WINDOW_MS is flagged. */
#define KBUS_RESTARTS_MAX       3
#define KBUS_RESTARTS_WINDOW_MS (10 * 60 * 1000)
/* A flag stays up this long after the last key dropped or restart seen. */
#define KBUS_FLAG_MS (10 * 60 * 1000)
/* The bus's detail in the kiosk's device health (halld keeps < 160). */
#define KBUS_DETAIL_MAX 128

typedef enum kbus_key_verdict {
    KBUS_KEY_TAKE,       /* a plausible key: carry it out */
    KBUS_KEY_DROP_FIRST, /* dropped, the first of a burst: report the burst */
    KBUS_KEY_DROP,       /* dropped, in a burst already reported */
} kbus_key_verdict;

/* One pad's record. Times are monotonic milliseconds, never going back. */
typedef struct kbus_guard {
    int64_t key_full_at;                       /* keys: when the pad's allowance is whole again */
    bool dropping;                             /* a burst is being dropped (reported once) */
    int64_t restart_at[KBUS_RESTARTS_MAX + 1]; /* the latest restarts, oldest first */
    size_t nrestarts;
    int64_t burst_until;    /* flagged for a burst until then (0: never) */
    int64_t restarts_until; /* flagged for restarts until then (0: never) */
} kbus_guard;

void kbus_guard_init(kbus_guard *g);
/* A key from the pad at now_ms: taken or dropped (the burst is reported by
 * the first key dropped, and ends once the allowance is whole again). A
 * dropped key flags the pad for KBUS_FLAG_MS. */
kbus_key_verdict kbus_guard_key(kbus_guard *g, int64_t now_ms);
/* A new boot id from the pad at now_ms. true when it is one restart too
 * many within the window and the pad was not flagged for restarts yet
 * (report it); the flag lasts KBUS_FLAG_MS from the latest restart that
 * was one too many. */
bool kbus_guard_restart(kbus_guard *g, int64_t now_ms);
/* Whether the pad is flagged at now_ms, and why ("" when it is not):
 * "keys faster than a clerk, dropped", "restarts too often", or both. */
bool kbus_guard_flagged(const kbus_guard *g, int64_t now_ms);
const char *kbus_guard_why(const kbus_guard *g, int64_t now_ms);
/* When the pad's next flag ends (0: none is up at now_ms). */
int64_t kbus_guard_flag_ends(const kbus_guard *g, int64_t now_ms);

/* ---- The master ----------------------------------------------------------- */

typedef struct kbus kbus;

/* Called (on the loop's thread) when the bus's health changed. */
typedef void kbus_change_fn(void *arg);

/* Start the bus master of conf's [bus] section and a link per call-pad
 * window. next_id gives request ids for those links (the kiosk's persisted
 * counter: ids stay unique across restarts); changed may be NULL. NULL
 * with a sentence in err: a bad device list, a serial port that cannot be
 * opened, a call-pad bundle that cannot be read. */
kbus *kbus_new(ev_loop *loop, const kiosk_conf *conf, uint64_t (*next_id)(void *arg),
               kbus_change_fn *changed, void *arg, char *err, size_t errlen);
/* Close the links and the master. NULL is fine. Not from a kbus callback. */
void kbus_free(kbus *b);

/* A display push from the kiosk's link. */
void kbus_push(kbus *b, const Hall__DisplayPush *p);

/* Append the screen model's bus fields (after a comma, without one of
 * their own): "bus" as kbus_health() says, "bus_offline":["callpad 41",
 * ...] when devices are offline and "bus_suspect":["callpad 41: keys
 * faster than a clerk, dropped", ...] when pads are flagged. 0 or -1 with
 * errno. */
int kbus_state_json(const kbus *b, buf *out);
/* Whether every device that reported is online. */
bool kbus_ok(const kbus *b);
/* The bus's state for the kiosk's device health: "suspect" while a pad is
 * flagged (detail: which and why, cut to fit), else "degraded" while a
 * device is offline, else "ok" (detail "" for both). */
const char *kbus_health(const kbus *b, char *detail, size_t len);

#endif
