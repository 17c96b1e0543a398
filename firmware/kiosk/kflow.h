/*
 * kflow — the citizen's flow at the kiosk, as a pure state machine: no
 * I/O, no clock of its own (every call is given the monotonic time), no
 * personal data beyond the masked name printed on the ticket.
 *
 * The kiosk object feeds it events (a touch on the page, a card swiped,
 * halld's answer, the printer's result, the link going up or down, the
 * device health) and carries out the one command each event may give
 * (send ISSUE, take an offline number, print, send PRINTED or VOID). The
 * screen the page shows is derived from the state (kflow_screen).
 *
 *            start / card / appointment_card / appointment("")
 *   IDLE ----------------------------------> CHOOSE | CARD | APPOINTMENT
 *    |  ^  take / swipe / appointment(code)        |   back, inactivity: IDLE
 *    |  |                                         |   touch: the inactivity
 *    |  |                                         |     timeout starts again
 *    |  |                                         |   a card that cannot be
 *    |  |                                         |     read: ERROR ("card")
 *    |  |                                         | take / swipe / appointment(code)
 *    |  |                                         v
 *    +--+-----------------------------------> REQUESTING  (ISSUE sent, or an offline number)
 *       |                                       |   refused: ERROR
 *       |                                       |   link lost or no answer in time:
 *       |                                       |     the same request offline (ISSUE_OFFLINE)
 *       |                                       v issued (ticket known)
 *       |                                     PRINTING  (the ticket's bytes at the printer)
 *       |                                       |  printed: PRINTED      failed: VOID
 *       |                                       v
 *       |                                     CONFIRMING  (waiting for halld's TicketReply;
 *       |                                       |          the store keeps the confirmation
 *       |                                       |          if it does not come in time)
 *       |          done, timeout                v printed            v voided
 *       +------------------------------------ TICKET              ERROR --back, timeout--> IDLE
 *
 * The citizen's other screens (kflow_open), each left by back or
 * inactivity for IDLE, like CHOOSE:
 *
 *   IDLE | CHOOSE --open--> MATTER  (an area's matters)  --kflow_take--> REQUESTING
 *   IDLE | CHOOSE --open--> GREEN   (the green channel)  --kflow_take--> REQUESTING
 *   IDLE | CHOOSE --open--> MINE    (the citizen's own ticket: the kiosk asks halld;
 *                                    opened again, its timeout starts again)
 * CARD has two modes: taking a number (card) and checking in for today's
 * appointment (appointment_card): the swipe's request carries check_in and
 * no area, and halld finds the appointment by the card's citizen.
 *
 * While REQUESTING, PRINTING or CONFIRMING every tap and swipe is ignored:
 * a double tap or a second swipe never makes a second ticket. Each
 * request carries a token; an answer with another token (a request given
 * up) is refused by kflow_issued(), and the kiosk voids that ticket.
 */
#ifndef ONEWINDOW_KFLOW_H
#define ONEWINDOW_KFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kflow_state {
    KF_IDLE,
    KF_CHOOSE,
    KF_CARD,
    KF_APPOINTMENT,
    KF_REQUESTING,
    KF_PRINTING,
    KF_CONFIRMING,
    KF_TICKET,
    KF_ERROR,
    KF_MATTER,
    KF_GREEN,
    KF_MINE,
} kflow_state;

/* What the page shows (the "screen" of the screen model). */
typedef enum kflow_screen {
    KF_SCREEN_IDLE,
    KF_SCREEN_CHOOSE,
    KF_SCREEN_CARD,
    KF_SCREEN_APPOINTMENT,
    KF_SCREEN_WORKING,
    KF_SCREEN_TICKET,
    KF_SCREEN_ERROR,
    KF_SCREEN_CLOSED,
    KF_SCREEN_MATTER,
    KF_SCREEN_GREEN,
    KF_SCREEN_MINE,
} kflow_screen;

/* Which picture the error screen shows (the model's error_kind). */
typedef enum kflow_error_kind {
    KF_ERR_NONE,
    KF_ERR_CARD,    /* the card could not be used: expired, unreadable, reader fault */
    KF_ERR_REFUSED, /* halld refused the request */
    KF_ERR_PRINTER, /* the ticket could not be printed */
    KF_ERR_NETWORK, /* the link is down and the request needs halld */
    KF_ERR_HOURS,   /* outside the area's hours */
    KF_ERR_LIMIT,   /* the citizen already holds the tickets allowed */
} kflow_error_kind;

typedef enum kflow_cmd_kind {
    KF_CMD_NONE,
    KF_CMD_ISSUE,         /* ask halld for a ticket (area, appointment, by card) */
    KF_CMD_ISSUE_OFFLINE, /* take a number from the lease (a given-up request first) */
    KF_CMD_PRINT,         /* print the ticket */
    KF_CMD_PRINTED,       /* tell halld (or the store, offline) it printed */
    KF_CMD_VOID,          /* tell halld (or the store) it did not */
} kflow_cmd_kind;

#define KF_AREA_MAX   32
#define KF_CODE_MAX   32
#define KF_NUMBER_MAX 24
#define KF_NAME_MAX   64
#define KF_TEXT_MAX   256

typedef struct kflow_cmd {
    kflow_cmd_kind kind;
    uint64_t token;                /* the request the command belongs to */
    char area[KF_AREA_MAX];        /* ISSUE*: "" = the general intake area */
    char appointment[KF_CODE_MAX]; /* ISSUE: appointment code, "" if none */
    bool by_card;                  /* ISSUE*: the citizen swiped (the kiosk holds the number) */
    char matter[KF_CODE_MAX];      /* ISSUE*: the matter picked, "" if none */
    bool green;                    /* ISSUE*: a green-channel (priority) ticket */
    bool check_in;                 /* ISSUE: by card, for the citizen's appointment today */
} kflow_cmd;

/* The ticket as the flow knows it once issued. */
typedef struct kflow_ticket {
    uint64_t id; /* halld's id; 0 offline */
    char number[KF_NUMBER_MAX];
    char area[KF_AREA_MAX];
    int ahead;      /* -1 unknown */
    int est_wait_s; /* -1 unknown */
    bool offline;
    char masked_name[KF_NAME_MAX];
    int64_t issued_ms;        /* UTC */
    char matter[KF_CODE_MAX]; /* "" if none */
    bool green;               /* a green-channel ticket */
    char check[8];            /* halld's check code for the bearer, "" offline */
    bool appointment;         /* checked in for an appointment */
} kflow_ticket;

typedef struct kflow {
    kflow_state state;
    uint64_t token;   /* of the current request, or of the last one */
    uint64_t version; /* increases with every change the screen may show */
    int64_t deadline; /* monotonic ms of the state's timeout, 0 = none */
    int64_t idle_ms, ticket_ms, request_ms, confirm_ms;
    bool online;                 /* the link to halld is up */
    bool can_take;               /* the kiosk can print and has numbers to give */
    bool void_pending;           /* CONFIRMING a VOID, not a PRINTED */
    bool check_in;               /* CARD: a swipe checks in for an appointment */
    kflow_error_kind error_kind; /* ERROR: which picture */
    kflow_cmd request;           /* the request in flight (to redo it offline) */
    kflow_ticket ticket;
    char closed_zh[KF_TEXT_MAX], closed_en[KF_TEXT_MAX]; /* why it cannot take */
    char msg_zh[KF_TEXT_MAX], msg_en[KF_TEXT_MAX];       /* the error screen's sentence */
} kflow;

/* Timeouts: idle (waiting screens and the error screen), ticket (the
 * preview), request (an online ISSUE unanswered), confirm (PRINTED or VOID
 * unanswered: the screen moves on, the store keeps the confirmation). */
void kflow_init(kflow *f, int64_t idle_ms, int64_t ticket_ms, int64_t request_ms,
                int64_t confirm_ms);

/* A touch on the page: start, take, card, appointment, appointment_card,
 * touch, back, done (see docs/kiosk.md). touch restarts the inactivity
 * timeout of a waiting screen (CHOOSE, CARD, APPOINTMENT) and does nothing
 * else. 0 when accepted or ignored (a tap while a ticket is on
 * its way), -1 with errno EINVAL (unknown action or bad parameter) or
 * EAGAIN (the kiosk cannot take a ticket now) and the sentence in err. */
int kflow_action(kflow *f, const char *name, const char *param, int64_t now, kflow_cmd *cmd,
                 char *err, size_t errlen);
/* Open one of the citizen's other screens (KF_MATTER, KF_GREEN, KF_MINE)
 * from IDLE, CHOOSE or that screen; ignored while a ticket is on its way.
 * MATTER and GREEN need a kiosk that can take tickets (EAGAIN). 0 or -1
 * with the sentence in err. */
int kflow_open(kflow *f, kflow_state screen, int64_t now, char *err, size_t errlen);
/* A ticket for area (with matter, "" none; green: the green channel):
 * like the take action, from any waiting screen. */
int kflow_take(kflow *f, const char *area, const char *matter, bool green, int64_t now,
               kflow_cmd *cmd, char *err, size_t errlen);
/* A card was read (the kiosk keeps its number, until the request is sent
 * or sealed, and its masked name). True if it starts a request (cmd ISSUE
 * or ISSUE_OFFLINE). */
bool kflow_swipe(kflow *f, int64_t now, kflow_cmd *cmd);
/* The request token was answered with a ticket: cmd PRINT. False (and no
 * command) if token is not the request in flight: the caller voids that
 * ticket. */
bool kflow_issued(kflow *f, uint64_t token, const kflow_ticket *t, int64_t now, kflow_cmd *cmd);
/* The request was refused with these sentences: the error screen
 * (error_kind REFUSED; kflow_refused_as names another kind). */
void kflow_refused(kflow *f, uint64_t token, const char *zh, const char *en, int64_t now);
void kflow_refused_as(kflow *f, uint64_t token, kflow_error_kind kind, const char *zh,
                      const char *en, int64_t now);
/* A card was presented but cannot be used (expired, bad check digit,
 * unreadable, reader fault): the error screen (error_kind CARD) with these
 * sentences, from idle or a choosing screen. False (nothing shown) while a
 * ticket is on its way or shown, or on the keypad. */
bool kflow_card_failed(kflow *f, const char *zh, const char *en, int64_t now);
/* The printer's result for the ticket: cmd PRINTED or VOID. why_zh and
 * why_en say why it failed (NULL: a printer fault). */
void kflow_printed(kflow *f, bool ok, const char *why_zh, const char *why_en, int64_t now,
                   kflow_cmd *cmd);
/* halld (or the store, offline) took the PRINTED or VOID. */
void kflow_confirmed(kflow *f, uint64_t token, int64_t now);
/* The link came up or went down; going down while REQUESTING online
 * gives cmd ISSUE_OFFLINE for the same request. */
void kflow_link(kflow *f, bool online, int64_t now, kflow_cmd *cmd);
/* Whether a ticket can be taken, and the sentences why not. */
void kflow_health(kflow *f, bool can_take, const char *zh, const char *en);
/* Time passed: timeouts. May give cmd ISSUE_OFFLINE (a request unanswered). */
void kflow_tick(kflow *f, int64_t now, kflow_cmd *cmd);

kflow_screen kflow_screen_of(const kflow *f);
const char *kflow_screen_name(kflow_screen s);
const char *kflow_state_name(kflow_state s);
/* The model's error_kind word: "card", "refused", ..., "" for none. */
const char *kflow_error_kind_name(kflow_error_kind k);
/* Seconds until the flow returns to idle by itself, 0 if it will not. */
int kflow_idle_after_s(const kflow *f, int64_t now);

#endif
