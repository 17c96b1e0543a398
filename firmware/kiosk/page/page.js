/*
 * The kiosk's touch page: draws the screen model kioskd sends and posts the
 * citizen's taps back as actions.
 *
 * - GET /api/state?after=SEQ is a long poll: it answers when the model's seq
 *   passes SEQ (or after 25 s with the same model). The loop reconnects with
 *   a growing pause when kioskd is away and asks for the model at once
 *   after an error, since a restarted kioskd may count from 0 again.
 * - POST /api/action {"name","param"} (appointment "" opens the keypad,
 *   appointment CODE checks in) answers {"ok":true} or
 *   {"ok":false,"error":sentence}; the sentence is shown.
 * - Chinese first; the EN button switches every label to English and the
 *   model's message to message_en. 大字 makes everything larger. Both modes
 *   belong to this page only and end when the screen returns to idle, so
 *   the next citizen starts from the usual screen.
 * - Outside idle a countdown shows when kioskd will return to the start
 *   (idle_after_s from the model's arrival; kioskd keeps its own timer).
 */
"use strict";

const TEXT = {
  zh: {
    title: "自助取号",
    take: "一键取号",
    takeSub: "综合受理，不用选择",
    card: "刷身份证",
    appointment: "预约签到",
    chooseArea: "选择办理区域",
    chooseLead: "请选择办理区域",
    back: "返回",
    done: "完成",
    waiting: (n) => `等候 ${n} 人`,
    wait: (s) => (s < 60 ? "即将办理" : `约 ${Math.round(s / 60)} 分钟`),
    cardLead: "请将身份证放在读卡区",
    cardSub: "读卡后自动取号",
    apptLead: "请输入预约码",
    apptOk: "确认签到",
    clear: "清空",
    del: "删除",
    working: "正在出票…",
    ticketLead: "请取走您的号票",
    ahead: (n) => `前面还有 ${n} 人`,
    estimate: (s) => (s < 60 ? "即将叫号" : `预计等候约 ${Math.round(s / 60)} 分钟`),
    issued: (t) => `取号时间 ${t}`,
    offlineTicket: "离线出票",
    errorLead: "抱歉，出现问题",
    closedLead: "暂停取号",
    online: "网络正常",
    offline: "网络中断 — 仍可取号",
    lease: (n) => `离线可取 ${n} 张`,
    leaseEmpty: "离线号已用完 — 请联系工作人员",
    printer: {
      ok: "打印机正常",
      near_end: "打印纸即将用完",
      paper_out: "打印纸用完 — 请联系工作人员",
      cover_open: "打印机盖未关 — 请联系工作人员",
      offline: "打印机未连接 — 请联系工作人员",
    },
    noPrint: "暂时不能出票",
    countdown: (n) => `${n} 秒后返回首页`,
    lost: "正在连接取号机…",
    langButton: "EN",
    largeButton: "大字",
  },
  en: {
    title: "Self-service tickets",
    take: "Take a number",
    takeSub: "General intake, no need to choose",
    card: "Swipe ID card",
    appointment: "Appointment",
    chooseArea: "Choose a service area",
    chooseLead: "Choose a service area",
    back: "Back",
    done: "Done",
    waiting: (n) => `${n} waiting`,
    wait: (s) => (s < 60 ? "almost no wait" : `about ${Math.round(s / 60)} min`),
    cardLead: "Place your ID card on the reader",
    cardSub: "Your number is printed once the card is read",
    apptLead: "Enter your appointment code",
    apptOk: "Check in",
    clear: "Clear",
    del: "Delete",
    working: "Printing your ticket…",
    ticketLead: "Please take your ticket",
    ahead: (n) => `${n} ahead of you`,
    estimate: (s) => (s < 60 ? "called very soon" : `estimated wait about ${Math.round(s / 60)} min`),
    issued: (t) => `Issued ${t}`,
    offlineTicket: "Issued offline",
    errorLead: "Sorry, something went wrong",
    closedLead: "Tickets paused",
    online: "Network OK",
    offline: "Network down — tickets still issued",
    lease: (n) => `${n} offline tickets left`,
    leaseEmpty: "No offline tickets left — please ask the staff",
    printer: {
      ok: "Printer OK",
      near_end: "Paper is running low",
      paper_out: "Out of paper — please ask the staff",
      cover_open: "Printer cover open — please ask the staff",
      offline: "Printer not connected — please ask the staff",
    },
    noPrint: "No tickets can be printed now",
    countdown: (n) => `Back to the start in ${n} s`,
    lost: "Connecting to the kiosk…",
    langButton: "中文",
    largeButton: "大字 A+",
  },
};

const state = {
  model: null,
  seq: -1,
  lang: "zh",
  large: false,
  code: "",
  busy: false,
  shownAt: 0,
  connected: false,
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
  if (state.lang === "en" && m.message_en) return m.message_en;
  return m.message || "";
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
    if (!j.ok) setNotice(j.error || "");
  } catch (e) {
    setNotice(t().lost);
  } finally {
    state.busy = false;
  }
}

function setNotice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
  if (text) setTimeout(() => { if (n.textContent === text) n.hidden = true; }, 8000);
}

/* ---- drawing ---- */

function areaButton(a, m) {
  const b = button("area", null, () => act("take", a.code), !canTake(m));
  const name = el("span", "name");
  name.append(el("span", "code", a.code), document.createTextNode(a.name));
  b.append(name);
  const parts = [t().waiting(a.waiting)];
  if (typeof a.est_wait_s === "number") parts.push(t().wait(a.est_wait_s));
  b.append(el("span", "wait", parts.join(" · ")));
  b.dataset.area = a.code;
  return b;
}

function areaList(m) {
  const list = el("div", "areas");
  for (const a of m.areas || []) list.append(areaButton(a, m));
  return list;
}

function drawIdle(m, s) {
  const box = el("div", "idle");
  const left = el("div", "left");
  const take = button("primary take", t().take, () => act("take", ""), !canTake(m));
  take.id = "take";
  left.append(take, el("p", "sub", canTake(m) ? t().takeSub : t().noPrint));
  const row = el("div", "row");
  row.append(
    button("secondary", t().card, () => act("card", ""), !canTake(m)),
    button("secondary", t().appointment, () => act("appointment", ""), !canTake(m))
  );
  left.append(row, button("secondary", t().chooseArea, () => act("start", ""), !canTake(m)));
  box.append(left, areaList(m));
  s.append(box);
}

function drawChoose(m, s) {
  s.append(el("p", "lead", t().chooseLead), areaList(m), button("secondary", t().back, () => act("back", "")));
}

function drawCard(m, s) {
  const p = el("div", "prompt", t().cardLead);
  s.append(p, el("p", "sub", t().cardSub), button("secondary", t().back, () => act("back", "")));
}

function drawAppointment(m, s) {
  const shown = el("div", "code-display", state.code || "\u00a0");
  shown.id = "code";
  const pad = el("div", "keypad");
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
  for (const k of keys) pad.append(button("key", k, () => typeKey(k)));
  pad.append(button("key", t().del, () => typeKey("del")), button("key", "0", () => typeKey("0")),
    button("key", t().clear, () => typeKey("clear")));
  const ok = button("primary", t().apptOk, () => act("appointment", state.code), state.code.length === 0);
  ok.id = "appt-ok";
  s.append(el("p", "lead", t().apptLead), shown, pad, ok, button("secondary", t().back, () => act("back", "")));
}

function typeKey(k) {
  if (k === "del") state.code = state.code.slice(0, -1);
  else if (k === "clear") state.code = "";
  else if (state.code.length < 16) state.code += k;
  $("code").textContent = state.code || "\u00a0";
  $("appt-ok").disabled = state.code.length === 0;
}

function drawWorking(m, s) {
  s.append(el("p", "lead", t().working));
  if (message(m)) s.append(el("div", "message", message(m)));
}

function drawTicket(m, s) {
  const k = m.ticket || {};
  const card = el("div", "ticket");
  card.id = "ticket";
  card.append(el("div", "line", k.area_name || k.area || ""), el("div", "number", k.number || ""));
  if (typeof k.ahead === "number") card.append(el("div", "line", t().ahead(k.ahead)));
  if (typeof k.est_wait_s === "number") card.append(el("div", "line", t().estimate(k.est_wait_s)));
  if (k.masked_name) card.append(el("div", "line", k.masked_name));
  if (k.issued_at) card.append(el("div", "line", t().issued(k.issued_at)));
  if (k.offline) card.append(el("span", "badge", t().offlineTicket));
  s.append(el("p", "lead", t().ticketLead), card, button("primary", t().done, () => act("done", "")));
}

function drawError(m, s) {
  s.append(el("p", "lead", t().errorLead), el("div", "message bad", message(m)),
    button("primary", t().back, () => act("back", "")));
}

function drawClosed(m, s) {
  const box = el("div", "closed");
  box.append(el("p", "lead", t().closedLead));
  if (message(m)) box.append(el("div", "message", message(m)));
  s.append(box);
}

const SCREENS = {
  idle: drawIdle,
  choose: drawChoose,
  card: drawCard,
  appointment: drawAppointment,
  working: drawWorking,
  ticket: drawTicket,
  error: drawError,
  closed: drawClosed,
};

function drawStatus(m) {
  const bar = $("status");
  bar.textContent = "";
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
  $("lang").setAttribute("aria-pressed", String(state.lang === "en"));
  $("large").textContent = t().largeButton;
  $("large").setAttribute("aria-pressed", String(state.large));
  $("title").textContent = t().title;
  const s = $("screen");
  s.textContent = "";
  if (!m) {
    s.append(el("p", "loading", t().lost));
    return;
  }
  $("hall").textContent = m.hall || "";
  $("kiosk").textContent = m.kiosk || "";
  drawStatus(m);
  s.dataset.screen = m.screen;
  (SCREENS[m.screen] || drawError)(m, s);
  tickCountdown();
}

function tickCountdown() {
  const m = state.model;
  const c = $("countdown");
  if (!m || m.screen === "idle" || m.screen === "closed" || !(m.idle_after_s > 0)) {
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
  if (m.screen !== "appointment") state.code = "";
  state.model = m;
  state.shownAt = Date.now();
  draw();
}

/* ---- the long-poll loop ---- */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll() {
  let pause = 500;
  for (;;) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 40000);
    try {
      const r = await fetch("/api/state?after=" + state.seq, { cache: "no-store", signal: ctl.signal });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const m = await r.json();
      pause = 500;
      if (!state.connected) {
        state.connected = true;
        setNotice("");
      }
      if (m.seq !== state.seq || !state.model) {
        state.seq = m.seq;
        show(m);
      }
    } catch (e) {
      if (state.connected || !state.model) {
        state.connected = false;
        setNotice(t().lost);
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
    draw();
  });
  $("large").addEventListener("click", () => {
    state.large = !state.large;
    draw();
  });
  setInterval(tickCountdown, 1000);
  draw();
  poll();
}

start();
