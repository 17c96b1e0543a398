/*
 * The kiosk's touch page: draws the screen model kioskd sends and posts the
 * citizen's taps back as actions (docs/kiosk.md, "Touch page").
 *
 * - GET /api/state?after=SEQ is a long poll: it answers when the model's seq
 *   passes SEQ (or after hold_s seconds with the same model). The loop
 *   reconnects with a growing pause when kioskd is away and asks for the
 *   model at once after an error, since a restarted kioskd may count from 0.
 * - Out of service: when no answer came for hold_s + 3 s (a poll that hangs
 *   or keeps failing), the screen shows #out-of-service and no take control
 *   at all; the next answer brings the screen back by itself.
 * - POST /api/action {"name","param"} answers {"ok":true} or
 *   {"ok":false,"error":sentence}; the sentence is shown. Every tap on a
 *   keypad key or a mode button also sends "touch", which only restarts
 *   kioskd's inactivity timer.
 * - A QR scanner types like a keyboard and ends with Enter: a fast burst of
 *   keys ending in Enter, on any screen, is sent as action "mine" with the
 *   text (the citizen's own ticket).
 * - Chinese first; the EN button switches every label to English and the
 *   model's texts to their English forms. 大字 makes everything larger.
 *   Both modes belong to this page only and end when the screen returns to
 *   idle, so the next citizen starts from the usual screen.
 * - Outside idle a countdown shows when kioskd will return to the start
 *   (idle_after_s from the model's arrival or the last tap; kioskd keeps
 *   its own timer).
 */
"use strict";

const minutes = (s) => Math.max(1, Math.round(s / 60));

const TEXT = {
  zh: {
    title: "自助取号",
    take: "一键取号",
    takeSub: "综合受理，不用选择",
    card: "刷身份证取号",
    appointment: "预约签到",
    mine: "查询我的号",
    more: (n) => `更多区域（共 ${n} 个）`,
    prev: "上一页",
    next: "下一页",
    pageNo: (a, b) => `第 ${a} 页，共 ${b} 页`,
    chooseLead: "请选择办理区域",
    back: "返回",
    done: "完成",
    waiting: (n) => `等候 ${n} 人`,
    wait: (s) => (s < 60 ? "即将叫号" : `约 ${minutes(s)} 分钟`),
    closedTile: "已停止取号",
    green: "绿色通道",
    greenSub: "老年人、残疾人、军人等优先",
    greenLead: "绿色通道：请选择办理区域",
    greenConsult: "请选择办理区域，工作人员将优先为您办理",
    matterLead: "请选择办理事项",
    materials: "所需材料：",
    skip: "跳过，不选事项直接取号",
    cardLead: "请将身份证放在下方读卡区",
    cardSub: "读卡后自动取号，请勿移开",
    apptLead: "请输入预约码",
    apptHint: (a, b) => (a === b ? `${a} 位` : `${a} 至 ${b} 位`),
    apptOk: "确认签到",
    apptCard: "刷身份证签到",
    clear: "清空",
    del: "删除",
    mineLead: "请输入号票上的号码，或将号票二维码对准扫描口",
    mineOk: "查询",
    mineAgain: "查询其他号",
    cancel: "取消此号",
    cancelByCheck: "输入核验码取消此号",
    checkLead: "请输入号票上的4位核验码",
    checkFor: (n) => `号码 ${n}`,
    checkOk: "确认",
    rejoin: "重新排队",
    rejoinUntil: (t) => `请在 ${t} 前重新排队`,
    states: {
      waiting: "等候中",
      called: "正在叫号",
      serving: "正在办理",
      no_show: "已过号",
      done: "已办结",
      cancelled: "已取消",
      hold: "暂停等候",
      void: "已作废",
    },
    yes: "是，继续",
    no: "否，返回",
    working: "正在出票…",
    slot: "号票从下方出票口送出",
    reader: "身份证请放在下方读卡区",
    ticketLead: "请在下方出票口取走号票",
    ahead: (n) => `前面还有 ${n} 人`,
    estimate: (s) => (s < 60 ? "即将叫号" : `预计等候约 ${minutes(s)} 分钟`),
    windows: (w) => `请到 ${w.join("、")} 号窗口办理`,
    matterOn: (n) => `办理事项：${n}`,
    consultFor: (n) => `请先到咨询台出示证件确认，再办理：${n}`,
    bring: "请准备以下材料",
    issued: (t) => `取号时间 ${t}`,
    qr: "号票二维码",
    offlineTicket: "离线出票",
    apptMark: "预约",
    greenMark: "绿色通道",
    errorLead: {
      card: "未能读取身份证",
      refused: "未能取号",
      printer: "打印机故障",
      network: "网络故障",
      hours: "不在办理时间",
      limit: "已达取号上限",
      "": "抱歉，出现问题",
    },
    closedLead: {
      printer: "暂停取号：打印机不能出票",
      maintenance: "设备维护中",
      hours: "今日已停止取号",
      "": "暂停取号",
    },
    opens: (s) => s,
    online: "网络正常",
    offline: "网络中断，仍可取号",
    lease: (n) => `离线可取 ${n} 张`,
    leaseEmpty: "离线号已用完，请联系工作人员",
    printer: {
      ok: "打印机正常",
      near_end: "打印纸即将用完",
      paper_out: "打印纸用完，请联系工作人员",
      cover_open: "打印机盖未关，请联系工作人员",
      offline: "打印机未连接，请联系工作人员",
    },
    noPrint: "暂时不能出票",
    countdown: (n) => `${n} 秒后返回首页`,
    lost: "正在连接取号机…",
    outOfService: "暂停服务 — 请联系工作人员",
    outSub: "取号机正在恢复，请稍候",
    langButton: "EN",
    langName: "en",
    largeButton: "大字",
  },
  en: {
    title: "Self-service tickets",
    take: "Take a number",
    takeSub: "General intake, no need to choose",
    card: "Swipe ID card",
    appointment: "Appointment check-in",
    mine: "My ticket",
    more: (n) => `More areas (${n} in all)`,
    prev: "Previous",
    next: "Next",
    pageNo: (a, b) => `Page ${a} of ${b}`,
    chooseLead: "Choose a service area",
    back: "Back",
    done: "Done",
    waiting: (n) => `${n} waiting`,
    wait: (s) => (s < 60 ? "almost no wait" : `about ${minutes(s)} min`),
    closedTile: "Closed now",
    green: "Green channel",
    greenSub: "Priority: the elderly, the disabled, service members",
    greenLead: "Green channel: choose a service area",
    greenConsult: "Choose a service area; the staff will serve you first",
    matterLead: "Choose what you need done",
    materials: "Bring: ",
    skip: "Skip: take a number without choosing",
    cardLead: "Place your ID card on the reader below",
    cardSub: "Keep it there until your number is printed",
    apptLead: "Enter your appointment code",
    apptHint: (a, b) => (a === b ? `${a} characters` : `${a} to ${b} characters`),
    apptOk: "Check in",
    apptCard: "Check in by ID card",
    clear: "Clear",
    del: "Delete",
    mineLead: "Type the number on your ticket, or hold its QR code to the scanner",
    mineOk: "Look up",
    mineAgain: "Another ticket",
    cancel: "Cancel this ticket",
    cancelByCheck: "Cancel with the check code",
    checkLead: "Type the 4-digit check code printed on your ticket",
    checkFor: (n) => `Ticket ${n}`,
    checkOk: "OK",
    rejoin: "Rejoin the queue",
    rejoinUntil: (t) => `Rejoin before ${t}`,
    states: {
      waiting: "Waiting",
      called: "Being called",
      serving: "Being served",
      no_show: "Missed",
      done: "Finished",
      cancelled: "Cancelled",
      hold: "On hold",
      void: "Void",
    },
    yes: "Yes, go on",
    no: "No, go back",
    working: "Printing your ticket…",
    slot: "Tickets come out of the slot below",
    reader: "ID card reader below the screen",
    ticketLead: "Take your ticket from the slot below",
    ahead: (n) => `${n} ahead of you`,
    estimate: (s) => (s < 60 ? "called very soon" : `estimated wait about ${minutes(s)} min`),
    windows: (w) => (w.length === 1 ? `Go to window ${w[0]}` : `Go to windows ${w.join(", ")}`),
    matterOn: (n) => `For: ${n}`,
    consultFor: (n) => `Show your papers at the consult desk first; then: ${n}`,
    bring: "Please have these ready",
    issued: (t) => `Issued ${t}`,
    qr: "Ticket QR code",
    offlineTicket: "Issued offline",
    apptMark: "Appointment",
    greenMark: "Green channel",
    errorLead: {
      card: "The ID card could not be read",
      refused: "No ticket could be issued",
      printer: "Printer problem",
      network: "Network problem",
      hours: "Outside opening hours",
      limit: "Ticket limit reached",
      "": "Sorry, something went wrong",
    },
    closedLead: {
      printer: "Tickets paused: the printer cannot print",
      maintenance: "Under maintenance",
      hours: "No more tickets today",
      "": "Tickets paused",
    },
    opens: (s) => s,
    online: "Network OK",
    offline: "Network down, tickets still issued",
    lease: (n) => `${n} offline tickets left`,
    leaseEmpty: "No offline tickets left, please ask the staff",
    printer: {
      ok: "Printer OK",
      near_end: "Paper is running low",
      paper_out: "Out of paper, please ask the staff",
      cover_open: "Printer cover open, please ask the staff",
      offline: "Printer not connected, please ask the staff",
    },
    noPrint: "No tickets can be printed now",
    countdown: (n) => `Back to the start in ${n} s`,
    lost: "Connecting to the kiosk…",
    outOfService: "Out of service — please ask staff",
    outSub: "The kiosk is recovering, please wait",
    langButton: "中文",
    langName: "zh-CN",
    largeButton: "大字 A+",
  },
};

/* The error and closed pictures by the model's kind. */
const ERROR_PIC = {
  card: "card",
  refused: "refused",
  printer: "printer",
  network: "network",
  hours: "hours",
  limit: "limit",
};
const CLOSED_PIC = { printer: "printer", maintenance: "maintenance", hours: "hours" };

/* The own-ticket keypad: ticket numbers are a letter and digits. */
const MINE_KEYPAD = { alphabet: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min: 2, max: 8 };
/* The check code printed on a ticket (核验码): with the typed number it
 * lets the bearer cancel, as the QR code does. */
const CHECK_KEYPAD = { alphabet: "0123456789", min: 4, max: 4 };
/* Areas drawn as tiles on the idle screen; more go to the area list. */
const IDLE_TILES = 6;
/* A scanner's keys come faster than this apart (ms); a burst needs this
 * many characters before its Enter. */
const SCAN_GAP_MS = 80;
const SCAN_MIN = 3;
const SCAN_MAX = 200;

const state = {
  model: null,
  seq: -1,
  lang: "zh",
  large: false,
  code: "",
  page: 0,
  busy: false,
  shownAt: 0,
  connected: false,
  lastAnswer: Date.now(),
  outOfService: false,
  scan: "",
  scanAt: 0,
  mineCheck: "", /* the own ticket whose check code is being typed, "" none */
};

const $ = (id) => document.getElementById(id);

function t() {
  return TEXT[state.lang];
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function button(cls, label, onTap, disabled) {
  const b = el("button", cls, label);
  b.type = "button";
  b.disabled = !!disabled;
  b.addEventListener("click", onTap);
  return b;
}

/* A pictogram from the page's SVG symbols; decoration only. */
function pic(name, cls) {
  const NS = "http://www.w3.org/2000/svg";
  const s = document.createElementNS(NS, "svg");
  s.setAttribute("class", "pic " + (cls || ""));
  s.setAttribute("aria-hidden", "true");
  s.setAttribute("focusable", "false");
  s.setAttribute("viewBox", "0 0 120 120");
  const u = document.createElementNS(NS, "use");
  u.setAttribute("href", "#pic-" + name);
  s.append(u);
  return s;
}

/* A pictogram with its sentence beside it. */
function guide(name, text) {
  const g = el("div", "guide");
  g.append(pic(name), el("span", "guide-text", text));
  return g;
}

/* The English form of a model text when English is shown and there is one. */
function pick(zh, en) {
  if (state.lang === "en" && en) return en;
  return zh || "";
}

/* The printer can print a ticket now (near_end still prints). */
function canPrint(m) {
  return m.printer === "ok" || m.printer === "near_end";
}

/* Taking a number is possible: the printer works and an offline kiosk
 * still has numbers in its lease. */
function canTake(m) {
  if (!canPrint(m)) return false;
  return !(m.link === "offline" && m.lease_left === 0);
}

function message(m) {
  return pick(m.message, m.message_en);
}

/* ---- actions ---- */

async function act(name, param) {
  if (state.busy) return; /* a double tap sends one action */
  state.busy = true;
  setNotice("");
  try {
    const r = await fetch("/api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: name, param: param || "" }),
    });
    const j = await r.json();
    if (!j.ok) setNotice(refusalText(j.error || ""));
  } catch (e) {
    setNotice(t().lost);
  } finally {
    state.busy = false;
  }
}

/* A tap that changes nothing in the model: restart its inactivity timer
 * (and this page's countdown). Never blocks a real action. */
function touch() {
  state.shownAt = Date.now();
  tickCountdown();
  fetch("/api/action", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "touch", param: "" }),
  }).catch(() => {});
}

/* An action's refusal comes as "中文 / English" (docs/kiosk.md): the half
 * in the page's language; a sentence without the separator as it is. */
function refusalText(text) {
  const at = text.indexOf(" / ");
  return at < 0 ? text : pick(text.slice(0, at), text.slice(at + 3));
}

function setNotice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
  if (text) setTimeout(() => { if (n.textContent === text) n.hidden = true; }, 8000);
}

/* ---- pieces ---- */

function areaTile(a, m, onTap) {
  const closed = !!a.closed;
  const b = button("area", null, onTap, closed || !canTake(m));
  b.dataset.area = a.code;
  b.append(el("span", "letter", a.letter || a.code));
  const body = el("span", "area-body");
  body.append(el("span", "name", pick(a.name, a.name_en)));
  if (closed) {
    b.classList.add("closed");
    const info = el("span", "info");
    info.append(el("span", "wait", t().closedTile));
    const opens = pick(a.opens_zh, a.opens_en);
    if (opens) info.append(el("span", "wait", opens));
    body.append(info);
  } else {
    const info = el("span", "info");
    info.append(el("span", "count", t().waiting(a.waiting || 0)));
    if (typeof a.est_wait_s === "number") info.append(el("span", "wait", t().wait(a.est_wait_s)));
    body.append(info);
  }
  b.append(body);
  return b;
}

function tiles(m, areas, onTap) {
  const list = el("div", "areas");
  for (const a of areas) list.append(areaTile(a, m, () => onTap(a)));
  return list;
}

/* How many list entries one page shows: fewer in large text, so that
 * every entry keeps its words whole without scrolling. */
function perPage(kind) {
  const landscape = window.matchMedia("(orientation: landscape)").matches;
  if (kind === "matters") return state.large ? (landscape ? 4 : 5) : 8;
  return state.large ? (landscape ? 4 : 6) : landscape ? 9 : 10;
}

/* One page of items drawn by drawItem into list, and the buttons that
 * turn the pages (each a touch). state.page is this screen's page. */
function paged(list, items, kind, drawItem) {
  const n = perPage(kind);
  const pages = Math.max(1, Math.ceil(items.length / n));
  state.page = Math.min(state.page, pages - 1);
  for (const x of items.slice(state.page * n, state.page * n + n)) list.append(drawItem(x));
  if (pages === 1) return null;
  const turn = (d) => {
    state.page += d;
    touch();
    draw();
  };
  const bar = el("div", "pager");
  const prev = button("secondary", t().prev, () => turn(-1), state.page === 0);
  prev.id = "prev";
  const next = button("secondary", t().next, () => turn(1), state.page === pages - 1);
  next.id = "next";
  bar.append(prev, el("span", "page-no", t().pageNo(state.page + 1, pages)), next);
  return bar;
}

function backButton() {
  const b = button("secondary back", t().back, () => act("back", ""));
  b.id = "back";
  return b;
}

function heading(text) {
  return el("h2", "lead", text);
}

/* A keypad over an alphabet: digits in a phone layout when there are only
 * digits, else every character in a grid. Typing goes to state.code. */
function keypad(kp, onChange) {
  const alphabet = kp.alphabet || "0123456789";
  const digitsOnly = /^[0-9]+$/.test(alphabet);
  const pad = el("div", digitsOnly ? "keypad digits" : "keypad letters");
  const type = (k) => {
    touch();
    if (k === "del") state.code = state.code.slice(0, -1);
    else if (k === "clear") state.code = "";
    else if (state.code.length < (kp.max || 16)) state.code += k;
    onChange();
  };
  const key = (k) => button("key", k, () => type(k));
  if (digitsOnly && alphabet.length === 10) {
    for (const k of "123456789") pad.append(key(k));
    pad.append(button("key fn", t().del, () => type("del")), key("0"),
      button("key fn", t().clear, () => type("clear")));
  } else {
    for (const k of alphabet) pad.append(key(k));
    pad.append(button("key fn", t().del, () => type("del")),
      button("key fn", t().clear, () => type("clear")));
  }
  return pad;
}

/* The typed code and the keypad under it; ok is enabled from min chars. */
function codeEntry(kp, okLabel, okAction, okId, paramOf = (code) => code) {
  const min = kp.min || 1;
  const shown = el("div", "code-display", state.code || "\u00a0");
  shown.id = "code";
  const ok = button("primary ok", okLabel, () => act(okAction, paramOf(state.code)), state.code.length < min);
  ok.id = okId;
  const pad = keypad(kp, () => {
    shown.textContent = state.code || "\u00a0";
    ok.disabled = state.code.length < min;
  });
  return { shown, pad, ok };
}

/* ---- screens ---- */

function drawIdle(m, s) {
  const box = el("div", "idle");
  const main = el("div", "idle-main");
  const take = button("primary take", null, () => act("take", ""), !canTake(m));
  take.id = "take";
  take.append(el("span", "take-label", t().take),
    el("span", "take-sub", canTake(m) ? t().takeSub : t().noPrint));
  main.append(take);
  if (m.green && m.green.enabled) {
    const g = button("green-entry", null, () => act("green", ""), !canTake(m));
    g.id = "green";
    const words = el("span", "green-words");
    words.append(el("span", "green-label", t().green), el("span", "green-sub", t().greenSub));
    g.append(pic("green"), words);
    main.append(g);
  }
  const row = el("div", "row");
  const card = button("secondary", t().card, () => act("card", ""), !canTake(m));
  card.id = "card";
  const appt = button("secondary", t().appointment, () => act("appointment", ""), !canTake(m));
  appt.id = "appointment";
  const mine = button("secondary", t().mine, () => act("mine", ""));
  mine.id = "mine";
  row.append(card, appt, mine);
  main.append(row);
  const guides = el("div", "guides");
  guides.append(guide("ticket", t().slot), guide("card", t().reader));
  main.append(guides);

  const areas = m.areas || [];
  let shown = areas;
  let more = null;
  if (areas.length > IDLE_TILES) {
    shown = areas.slice(0, IDLE_TILES - 1);
    more = button("secondary more", t().more(areas.length), () => act("start", ""), !canTake(m));
  }
  const list = tiles(m, shown, (a) => act("area", a.code));
  if (more) list.append(more);
  box.append(main, list);
  s.append(box);
}

/* The areas, a page at a time, each tap sending name with the code. */
function areaPages(m, s, name) {
  const list = el("div", "areas");
  const pager = paged(list, m.areas || [], "areas", (a) => areaTile(a, m, () => act(name, a.code)));
  s.append(list);
  if (pager) s.append(pager);
}

function drawChoose(m, s) {
  s.append(heading(t().chooseLead));
  areaPages(m, s, "area");
  s.append(backButton());
}

function drawMatter(m, s) {
  const c = m.chosen || {};
  const head = el("div", "chosen");
  head.append(el("span", "letter", c.letter || c.code || ""), el("span", "name", pick(c.name, c.name_en)));
  const list = el("div", "matters");
  const pager = paged(list, m.matters || [], "matters", (x) => {
    const b = button("matter", null, () => act("take", `${c.code}/${x.code}`), !canTake(m));
    b.dataset.matter = x.code;
    b.append(el("span", "name", pick(x.name, x.name_en)));
    if (x.materials && x.materials.length)
      b.append(el("span", "materials", t().materials + x.materials.join(state.lang === "en" ? ", " : "、")));
    return b;
  });
  const skip = button("primary skip", t().skip, () => act("take", c.code || ""), !canTake(m));
  skip.id = "skip";
  const foot = el("div", "foot");
  foot.append(skip, backButton());
  s.append(heading(t().matterLead), head, list);
  if (pager) s.append(pager);
  s.append(foot);
}

function drawCard(m, s) {
  const box = el("div", "picture-screen");
  box.append(pic("card", "big"), heading(t().cardLead), el("p", "sub", t().cardSub));
  if (message(m)) box.append(el("div", "message", message(m)));
  s.append(box, backButton());
}

function drawAppointment(m, s) {
  const kp = m.keypad || { alphabet: "0123456789", min: 4, max: 12 };
  const e = codeEntry(kp, t().apptOk, "appointment", "appt-ok");
  const side = el("div", "entry-side");
  const byCard = button("secondary", t().apptCard, () => act("appointment_card", ""));
  byCard.id = "appt-card";
  side.append(heading(t().apptLead), el("p", "sub", t().apptHint(kp.min || 1, kp.max || 16)), e.shown,
    e.ok, byCard, backButton());
  const box = el("div", "entry");
  box.append(side, e.pad);
  s.append(box);
}

function drawGreen(m, s) {
  const head = el("div", "green-head");
  head.append(pic("green"), heading(t().greenLead));
  const consult = m.green && m.green.mode === "consult";
  s.append(head, el("p", "sub", consult ? t().greenConsult : t().greenSub));
  if (message(m)) s.append(el("div", "message", message(m)));
  areaPages(m, s, "green");
  s.append(backButton());
}

function mineResult(m, s) {
  const k = m.mine;
  const card = el("div", "ticket mine-ticket");
  card.id = "mine-ticket";
  card.append(el("div", "line", pick(k.area_name, k.area_name_en)), el("div", "number", k.number || ""),
    el("div", "state-word", t().states[k.state] || k.state || ""));
  if (typeof k.ahead === "number") card.append(el("div", "line", t().ahead(k.ahead)));
  if (k.rejoin_until) card.append(el("div", "line", t().rejoinUntil(k.rejoin_until)));
  const acts = el("div", "foot");
  if (k.can_cancel) {
    const c = button("primary danger", t().cancel, () => act("cancel", ""));
    c.id = "mine-cancel";
    acts.append(c);
  } else if (k.cancel_needs_check) {
    /* Typed, not scanned: the check code on the ticket proves it is theirs. */
    const c = button("secondary", t().cancelByCheck, () => {
      touch();
      state.mineCheck = k.number;
      state.code = "";
      draw();
    });
    c.id = "mine-check";
    acts.append(c);
  }
  if (k.can_rejoin) {
    const r = button("primary", t().rejoin, () => act("rejoin", ""));
    r.id = "mine-rejoin";
    acts.append(r);
  }
  acts.append(button("secondary", t().mineAgain, () => act("mine", "")), backButton());
  const box = el("div", "picture-screen");
  box.append(card);
  if (message(m)) box.append(el("div", "message", message(m)));
  s.append(heading(t().mine), box, acts);
}

/* The check code's keypad for the own ticket on screen. */
function checkEntry(m, s) {
  const number = m.mine.number;
  const e = codeEntry(CHECK_KEYPAD, t().checkOk, "mine", "check-ok", (code) => {
    state.mineCheck = "";
    return `${number} ${code}`;
  });
  const back = button("secondary back", t().back, () => {
    touch();
    state.mineCheck = "";
    draw();
  });
  back.id = "check-back";
  const side = el("div", "entry-side");
  side.append(heading(t().checkLead), el("p", "sub", t().checkFor(number)), e.shown, e.ok, back);
  const box = el("div", "entry");
  box.append(side, e.pad);
  s.append(box);
}

function drawMine(m, s) {
  if (m.mine && state.mineCheck !== "" && state.mineCheck === m.mine.number) {
    checkEntry(m, s);
    return;
  }
  if (m.mine) {
    mineResult(m, s);
    return;
  }
  const e = codeEntry(MINE_KEYPAD, t().mineOk, "mine", "mine-ok");
  const side = el("div", "entry-side");
  side.append(heading(t().mine), guide("qr", t().mineLead), e.shown, e.ok, backButton());
  const box = el("div", "entry");
  box.append(side, e.pad);
  s.append(box);
}

function drawConfirm(m, s) {
  const c = m.confirm;
  const box = el("div", "picture-screen");
  box.append(pic("hours", "big"), heading(pick(c.zh, c.en)));
  const yes = button("primary", t().yes, () => act("confirm", "yes"));
  yes.id = "confirm-yes";
  const no = button("secondary", t().no, () => act("confirm", "no"));
  no.id = "confirm-no";
  const foot = el("div", "foot");
  foot.append(yes, no);
  s.append(box, foot);
}

function drawWorking(m, s) {
  const box = el("div", "picture-screen");
  box.append(pic("ticket", "big"), heading(t().working), el("p", "sub", t().slot));
  if (message(m)) box.append(el("div", "message", message(m)));
  s.append(box);
}

/* The QR image only from this kiosk (its own path, or an inline picture). */
function qrImage(src) {
  if (typeof src !== "string") return null;
  if (!(src.startsWith("/") && !src.startsWith("//")) && !src.startsWith("data:image/")) return null;
  const img = el("img", "qr");
  img.src = src;
  img.alt = t().qr;
  return img;
}

function drawTicket(m, s) {
  const k = m.ticket || {};
  const card = el("div", "ticket");
  card.id = "ticket";
  card.append(el("div", "line area-line", pick(k.area_name, k.area_name_en) || k.area || ""),
    el("div", "number", k.number || ""));
  const marks = el("div", "marks");
  if (k.appointment) marks.append(el("span", "badge", t().apptMark));
  if (k.green) marks.append(el("span", "badge green-badge", t().greenMark));
  if (k.offline) marks.append(el("span", "badge", t().offlineTicket));
  if (marks.childNodes.length) card.append(marks);
  /* Green channel by way of the consult desk: where to go first. */
  if (k.consult_for) {
    card.append(el("div", "line strong", t().consultFor(pick(k.consult_for.name, k.consult_for.name_en))));
  }
  if (typeof k.ahead === "number") card.append(el("div", "line", t().ahead(k.ahead)));
  const wait = pick(k.wait_zh, k.wait_en);
  if (wait) card.append(el("div", "line strong", wait));
  else if (typeof k.est_wait_s === "number") card.append(el("div", "line strong", t().estimate(k.est_wait_s)));
  if (k.windows && k.windows.length) card.append(el("div", "line strong", t().windows(k.windows)));
  if (k.masked_name) card.append(el("div", "line", k.masked_name));
  if (k.issued_at) card.append(el("div", "line", t().issued(k.issued_at)));

  const side = el("div", "ticket-side");
  const qr = qrImage(k.qr);
  if (qr) side.append(qr);
  const matter = pick(k.matter_name, k.matter_name_en);
  if (matter) side.append(el("div", "line", t().matterOn(matter)));
  if (k.materials && k.materials.length) {
    const list = el("ul", "checklist");
    list.setAttribute("aria-label", t().bring);
    for (const x of k.materials) list.append(el("li", null, x));
    side.append(el("div", "line strong", t().bring), list);
  }
  const rule = pick(k.rule_zh, k.rule_en);
  if (rule) side.append(el("div", "rule", rule));

  const body = el("div", "ticket-body");
  body.append(card, side);
  const done = button("primary", t().done, () => act("done", ""));
  done.id = "done";
  s.append(guide("ticket", t().ticketLead), body, done);
}

function drawError(m, s) {
  const kind = m.error_kind || "";
  const box = el("div", "picture-screen");
  box.append(pic(ERROR_PIC[kind] || "refused", "big bad-pic"),
    heading(t().errorLead[kind] || t().errorLead[""]));
  if (message(m)) box.append(el("div", "message bad", message(m)));
  const back = button("primary back", t().back, () => act("back", ""));
  back.id = "back";
  s.append(box, back);
}

function drawClosed(m, s) {
  const kind = m.closed_kind || "";
  const box = el("div", "picture-screen closed");
  box.append(pic(CLOSED_PIC[kind] || "maintenance", "big"), heading(t().closedLead[kind] || t().closedLead[""]));
  if (message(m)) box.append(el("div", "message", message(m)));
  const h = m.hours || {};
  const opens = pick(h.opens_zh, h.opens_en);
  if (kind === "hours" && opens) box.append(el("div", "message opens", opens));
  s.append(box);
}

function drawOutOfService(s) {
  const box = el("div", "picture-screen");
  box.id = "out-of-service";
  box.append(pic("maintenance", "big bad-pic"), heading(t().outOfService), el("p", "sub", t().outSub));
  s.dataset.screen = "out-of-service";
  s.append(box);
}

const SCREENS = {
  idle: drawIdle,
  choose: drawChoose,
  matter: drawMatter,
  card: drawCard,
  appointment: drawAppointment,
  green: drawGreen,
  mine: drawMine,
  working: drawWorking,
  ticket: drawTicket,
  error: drawError,
  closed: drawClosed,
};

function drawStatus(m) {
  const bar = $("status");
  bar.textContent = "";
  if (!m || state.outOfService) return;
  const item = (cls, text) => bar.append(el("span", "item " + cls, text));
  if (m.link === "offline") {
    item("warn", t().offline);
    if (m.lease_left === 0) item("bad", t().leaseEmpty);
    else if (typeof m.lease_left === "number") item("warn", t().lease(m.lease_left));
  } else {
    item("ok", t().online);
  }
  const p = t().printer[m.printer] || m.printer || "";
  item(m.printer === "ok" ? "ok" : m.printer === "near_end" ? "warn" : "bad", p);
}

function draw() {
  const m = state.model;
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.documentElement.classList.toggle("large", state.large);
  $("lang").textContent = t().langButton;
  $("lang").lang = t().langName;
  $("lang").setAttribute("aria-pressed", String(state.lang === "en"));
  $("large").textContent = t().largeButton;
  $("large").setAttribute("aria-pressed", String(state.large));
  $("title").textContent = t().title;
  const s = $("screen");
  s.textContent = "";
  drawStatus(m);
  if (state.outOfService) {
    setNotice("");
    drawOutOfService(s);
    tickCountdown();
    return;
  }
  if (!m) {
    s.dataset.screen = "";
    s.append(el("p", "loading", t().lost));
    return;
  }
  $("hall").textContent = m.hall || "";
  $("kiosk").textContent = m.kiosk || "";
  if (m.confirm) {
    s.dataset.screen = "confirm";
    drawConfirm(m, s);
  } else {
    s.dataset.screen = m.screen;
    (SCREENS[m.screen] || drawError)(m, s);
  }
  tickCountdown();
}

function tickCountdown() {
  const m = state.model;
  const c = $("countdown");
  if (!m || state.outOfService || m.screen === "idle" || m.screen === "closed" || !(m.idle_after_s > 0)) {
    c.textContent = "";
    return;
  }
  const left = Math.max(0, Math.ceil(m.idle_after_s - (Date.now() - state.shownAt) / 1000));
  c.textContent = t().countdown(left);
}

function show(m) {
  const before = state.model ? state.model.screen : null;
  if (m.screen === "idle" && before !== null && before !== "idle") {
    /* A new citizen: back to the usual screen. */
    state.lang = "zh";
    state.large = false;
  }
  if (m.screen !== before) {
    state.code = "";
    state.page = 0;
    state.mineCheck = "";
  }
  state.model = m;
  state.shownAt = Date.now();
  draw();
}

/* ---- out of service ---- */

/* How long without an answer means the kiosk is lost (ms). */
function lostAfterMs() {
  const m = state.model;
  const hold = m && typeof m.hold_s === "number" && m.hold_s > 0 ? m.hold_s : 25;
  return (hold + 3) * 1000;
}

function checkService() {
  const out = Date.now() - state.lastAnswer > lostAfterMs();
  if (out !== state.outOfService) {
    state.outOfService = out;
    draw();
  }
}

/* ---- the scanner ---- */

/* A QR scanner is a keyboard that types fast and ends with Enter. Keys
 * further apart than SCAN_GAP_MS start a new burst, so nothing a person
 * types by hand is ever taken for a scan. */
function onKey(e) {
  if (e.ctrlKey || e.altKey || e.metaKey) return;
  const now = Date.now();
  if (now - state.scanAt > SCAN_GAP_MS) state.scan = "";
  state.scanAt = now;
  if (e.key === "Enter") {
    const text = state.scan;
    state.scan = "";
    if (text.length >= SCAN_MIN) {
      e.preventDefault();
      if (!state.outOfService) act("mine", text);
    }
    return;
  }
  if (e.key.length === 1 && state.scan.length < SCAN_MAX) {
    state.scan += e.key;
    e.preventDefault();
  }
}

/* ---- the long-poll loop ---- */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll() {
  let pause = 500;
  for (;;) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), lostAfterMs());
    try {
      const r = await fetch("/api/state?after=" + state.seq, { cache: "no-store", signal: ctl.signal });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const m = await r.json();
      pause = 500;
      state.lastAnswer = Date.now();
      if (!state.connected) {
        state.connected = true;
        setNotice("");
      }
      const back = state.outOfService;
      state.outOfService = false;
      if (m.seq !== state.seq || !state.model) {
        state.seq = m.seq;
        show(m);
      } else if (back) {
        draw();
      }
    } catch (e) {
      if (state.connected || !state.model) {
        state.connected = false;
        if (!state.outOfService) setNotice(t().lost);
      }
      state.seq = -1;
      await sleep(pause);
      pause = Math.min(pause * 2, 5000);
    } finally {
      clearTimeout(timer);
    }
  }
}

function start() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    touch();
    draw();
  });
  $("large").addEventListener("click", () => {
    state.large = !state.large;
    touch();
    draw();
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", draw);
  setInterval(() => {
    checkService();
    tickCountdown();
  }, 1000);
  draw();
  poll();
}

start();
