/*
 * The clerk's caller page (docs/caller.md): sign in, choose a window, sign
 * in to it, then call, recall, start, finish, no-show, transfer, hold and
 * return, pause and resume, and sign out, by button or F-key, through the
 * JSON API (docs/api.md).
 *
 * - The JSON API, the CSRF token and the page's messages are web.js's,
 *   shared with the admin page.
 * - Every press of an operation gets a random Idempotency-Key, kept for its
 *   retries (a network failure or a 503: up to two more tries) and for a
 *   second press of the same operation within PRESS_SAME_MS (a double
 *   click): halld answers those from what it kept, so a press never calls
 *   twice. One press at a time; the buttons wait for it.
 * - What the page shows comes from GET /api/v1/windows/N/status: fetched
 *   after each operation, on each change the hall announces on
 *   /api/v1/events (a long poll answering {"seq":N}), and every REFRESH_MS
 *   anyway.
 *   Times count up once a second from the hall's clock (server_time_ms),
 *   never the PC's.
 * - Chinese first; the EN button switches every text, and the API's error
 *   sentences, to English. The choice is kept in this browser.
 */
"use strict";

const PRESS_SAME_MS = 1000; // a second press of the same operation within this: the same press
const REFRESH_MS = 10000; // status fetched at least this often
const RETRIES = 2; // more tries of a press whose answer was lost
const REASONS = { lunch: "午休", meeting: "会议", consult: "咨询", other: "其他" };
const CANCEL_REASONS = { withdrawn: "群众放弃办理", duplicate: "重复取号", other: "其他" };

const TEXT = {
  zh: {
    htmlLang: "zh-CN",
    title: "窗口叫号",
    app: "窗口叫号",
    loading: "正在连接…",
    signInTitle: "工作人员登录",
    user: "用户名",
    password: "密码",
    signIn: "登录",
    signOut: "退出登录",
    signOutAll: "退出所有设备",
    langButton: "EN",
    langName: "English version",
    windowsTitle: "选择窗口",
    clerkId: "工号",
    windowSignIn: "签到上岗",
    windowEnter: "进入窗口",
    current: "当前号票",
    area: "业务区",
    matter: "事项",
    name: "姓名",
    note: "转移备注",
    noteFor: "给下一窗口的备注（可不填）",
    recalls: "重呼",
    waited: "已等候",
    served: "办理用时",
    queue: "本窗口等候",
    qArea: "业务区",
    qWaiting: "等候",
    qLongest: "最长等候",
    held: "暂挂号票",
    actions: "操作",
    call: "叫号",
    recall: "重呼",
    start: "开始办理",
    finish: "办结",
    noShow: "过号",
    transfer: "转移",
    hold: "暂挂",
    pause: "暂停",
    resume: "恢复",
    close: "签退",
    giveBack: "取回",
    cancel: "取消",
    transferTo: "转到",
    toArea: "其他业务区",
    toWindow: "指定窗口",
    transferOk: "确认转移",
    pauseTitle: "暂停叫号",
    pauseReason: "暂停原因",
    rLunch: "午休",
    rMeeting: "会议",
    rConsult: "咨询",
    rOther: "其他",
    pauseOk: "暂停",
    cancelTicket: "撤号",
    cancelTitle: "撤销号票",
    cancelText: (n) => `撤销 ${n}？撤销后该号不能再呼叫。`,
    cancelReason: "撤号原因",
    cWithdrawn: "群众放弃办理",
    cDuplicate: "重复取号",
    cancelOk: "撤号",
    noTicket: "暂无号票",
    none: "—",
    unnamed: "未登记",
    windowName: (no, name) => `${no}号窗 ${name}`,
    windowLine: (state, clerk) => `${state}${clerk ? `，工号 ${clerk}` : ""}`,
    where: (no, name, state) => `${no}号窗 · ${name} · ${state}`,
    who: (u) => (u.display_name ? `${u.display_name}（${u.user}）` : u.user),
    recallsOf: (n, max) => `${n} / ${max} 次`,
    total: (n) => `共 ${n} 人等候`,
    today: (d) =>
      `今日：叫号 ${d.called} · 办结 ${d.finished} · 过号 ${d.no_show} · 转移 ${d.transferred}`,
    minutes: (ms) => (ms < 60000 ? "不足 1 分钟" : `${Math.floor(ms / 60000)} 分钟`),
    windowState: { open: "开放", paused: "暂停", closed: "未签到" },
    pausedFor: (r) => `暂停（${r}）`,
    ticketState: {
      reserved: "未出票",
      waiting: "等候中",
      called: "已呼叫",
      serving: "办理中",
      done: "已办结",
      no_show: "过号",
      hold: "暂挂",
      void: "作废",
      cancelled: "已取消",
    },
    priority: { green: "绿色通道", appointment: "预约" },
    transferTitle: (n) => `转移 ${n}`,
    noShowTitle: "确认过号",
    noShowText: (n) => `将 ${n} 记为过号？过号后不再呼叫此号。`,
    noShowOk: "确认过号",
    recallLimitTitle: "重呼已达上限",
    recallLimitText: (n, max) => `${n} 已重呼 ${max} 次，再次呼叫将记为过号。是否继续？`,
    recallLimitOk: "继续呼叫",
    closeTitle: "签退",
    closeText: "签退后本窗口停止叫号。确认签退？",
    closeOk: "确认签退",
    said: {
      "call-next": (n) => (n ? `已呼叫 ${n}` : "已叫号"),
      recall: (n) => `已重呼 ${n}`,
      start: (n) => `开始办理 ${n}`,
      finish: (n) => `${n} 已办结`,
      "no-show": (n) => `${n} 已记为过号`,
      transfer: (n) => `${n} 已转移`,
      hold: (n) => `${n} 已暂挂`,
      return: (n) => `${n} 已取回`,
      pause: () => "窗口已暂停",
      resume: () => "窗口已恢复叫号",
      "sign-in": () => "已签到上岗",
      "sign-out": () => "已签退",
      cancel: (n) => `${n} 已撤号`,
    },
    signedOutAll: (n) => `已在 ${n} 处退出登录`,
    retrying: "连接中断，正在重试…",
    unreachable: "无法连接服务器，请检查网络后重试。",
    failed: "操作未完成，请重试。",
    chooseWindow: "请先选择窗口。",
    noClerk: "请输入工号。",
  },
  en: {
    htmlLang: "en",
    title: "Window caller",
    app: "Window caller",
    loading: "Connecting…",
    signInTitle: "Staff sign-in",
    user: "User name",
    password: "Password",
    signIn: "Sign in",
    signOut: "Sign out",
    signOutAll: "Sign out everywhere",
    langButton: "中文",
    langName: "中文版",
    windowsTitle: "Choose a window",
    clerkId: "Clerk ID",
    windowSignIn: "Sign in to the window",
    windowEnter: "Open the window",
    current: "Current ticket",
    area: "Area",
    matter: "Matter",
    name: "Name",
    note: "Transfer note",
    noteFor: "A note for the next window (optional)",
    recalls: "Recalls",
    waited: "Waited",
    served: "In service",
    queue: "Waiting for this window",
    qArea: "Area",
    qWaiting: "Waiting",
    qLongest: "Longest wait",
    held: "Tickets on hold",
    actions: "Actions",
    call: "Call next",
    recall: "Recall",
    start: "Start",
    finish: "Finish",
    noShow: "No-show",
    transfer: "Transfer",
    hold: "Hold",
    pause: "Pause",
    resume: "Resume",
    close: "Close window",
    giveBack: "Return",
    cancel: "Cancel",
    transferTo: "Transfer to",
    toArea: "Another area",
    toWindow: "A window",
    transferOk: "Transfer",
    pauseTitle: "Pause calling",
    pauseReason: "Reason",
    rLunch: "Lunch",
    rMeeting: "Meeting",
    rConsult: "Consulting",
    rOther: "Other",
    pauseOk: "Pause",
    cancelTicket: "Cancel ticket",
    cancelTitle: "Cancel the ticket",
    cancelText: (n) => `Cancel ${n}? It can no longer be called.`,
    cancelReason: "Reason",
    cWithdrawn: "The citizen withdrew",
    cDuplicate: "A duplicate ticket",
    cancelOk: "Cancel ticket",
    noTicket: "No ticket",
    none: "—",
    unnamed: "not recorded",
    windowName: (no, name) => `Window ${no} ${name}`,
    windowLine: (state, clerk) => `${state}${clerk ? `, clerk ${clerk}` : ""}`,
    where: (no, name, state) => `Window ${no} · ${name} · ${state}`,
    who: (u) => (u.display_name ? `${u.display_name} (${u.user})` : u.user),
    recallsOf: (n, max) => `${n} of ${max}`,
    total: (n) => `${n} waiting in all`,
    today: (d) =>
      `Today: called ${d.called} · finished ${d.finished} · no-shows ${d.no_show} · transferred ${d.transferred}`,
    minutes: (ms) => (ms < 60000 ? "under 1 min" : `${Math.floor(ms / 60000)} min`),
    windowState: { open: "Open", paused: "Paused", closed: "Closed" },
    pausedFor: (r) => `Paused (${r})`,
    ticketState: {
      reserved: "Not printed",
      waiting: "Waiting",
      called: "Called",
      serving: "In service",
      done: "Finished",
      no_show: "No-show",
      hold: "On hold",
      void: "Void",
      cancelled: "Cancelled",
    },
    priority: { green: "Green channel", appointment: "Appointment" },
    transferTitle: (n) => `Transfer ${n}`,
    noShowTitle: "Mark as no-show",
    noShowText: (n) => `Mark ${n} as a no-show? It will not be called again.`,
    noShowOk: "Mark no-show",
    recallLimitTitle: "Recall limit reached",
    recallLimitText: (n, max) =>
      `${n} has been recalled ${max} times: calling it again makes it a no-show. Go on?`,
    recallLimitOk: "Call again",
    closeTitle: "Close the window",
    closeText: "You sign out of the window and it stops calling. Close it?",
    closeOk: "Close window",
    said: {
      "call-next": (n) => (n ? `Called ${n}` : "Called"),
      recall: (n) => `Recalled ${n}`,
      start: (n) => `Serving ${n}`,
      finish: (n) => `${n} finished`,
      "no-show": (n) => `${n} marked as a no-show`,
      transfer: (n) => `${n} transferred`,
      hold: (n) => `${n} on hold`,
      return: (n) => `${n} returned`,
      pause: () => "Window paused",
      resume: () => "Window calling again",
      "sign-in": () => "Signed in to the window",
      "sign-out": () => "Signed out of the window",
      cancel: (n) => `${n} cancelled`,
    },
    signedOutAll: (n) => `Signed out in ${n} places`,
    retrying: "Connection lost, trying again…",
    unreachable: "The server cannot be reached; check the network and try again.",
    failed: "The operation did not complete; try again.",
    chooseWindow: "Choose a window first.",
    noClerk: "Enter a clerk ID.",
  },
};

// The buttons of the caller, their operations and keys.
const ACTIONS = [
  { id: "a-call", key: "F1", run: () => callNext() },
  { id: "a-recall", key: "F2", run: () => recall() },
  { id: "a-start", key: "F3", run: () => ticketOp("start") },
  { id: "a-finish", key: "F4", run: () => ticketOp("finish") },
  { id: "a-noshow", key: "F5", run: () => noShow() },
  { id: "a-transfer", key: "F6", run: () => openTransfer() },
  { id: "a-hold", key: "F7", run: () => ticketOp("hold") },
  { id: "a-pause", key: "F8", run: () => pauseOrResume() },
  { id: "a-close", key: "F9", run: () => closeWindow() },
  { id: "a-cancel", key: "F10", run: () => cancelTicket() },
];

const S = {
  lang: "zh",
  me: null, // the session: user, display_name, role, clerk_id
  view: "loading",
  windows: [], // GET /api/v1/windows
  areaNames: new Map(), // area code -> name, from the statuses read
  chosen: 0, // the window chosen in the list
  win: 0, // the window the caller works at
  status: null, // GET /api/v1/windows/N/status
  offset: 0, // hall clock - this PC's clock, ms
  busy: false, // a press in flight
  last: null, // the last press: {sig, key, at}
  refreshes: 0, // the number of the latest status fetch
  newestFetch: null, // its promise
  offline: false, // the last status fetch had no answer
  held: [], // the window's tickets on hold, as its status lists them: {id, number}
  feedOn: false,
  ticker: 0,
  poller: 0,
};

const T = () => TEXT[S.lang];

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// An error as a sentence in the page's language.
function errorText(e) {
  return errorSentence(e, S.lang, T().failed, T().unreachable);
}

// A refusal, said; the session gone sends the page back to the sign-in form.
function failed(e) {
  if (e instanceof ApiError && e.status === 401) endSession();
  notify(errorText(e));
}

// ---- the views ---------------------------------------------------------------

function show(view) {
  S.view = view;
  $("loading").hidden = view !== "loading";
  $("v-signin").hidden = view !== "signin";
  $("v-windows").hidden = view !== "windows";
  $("v-caller").hidden = view !== "caller";
  $("signout").hidden = !S.me;
  $("signout-all").hidden = !S.me;
  $("where").hidden = view !== "caller";
  render();
}

function applyLanguage() {
  applyTexts(T(), S.lang);
  render();
}

function clock(ms) {
  if (!(ms >= 0)) return "—";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function hallNow() {
  return Date.now() + S.offset;
}

function render() {
  const t = T();
  $("who").textContent = S.me ? t.who(S.me) : "";
  if (S.view === "windows") renderWindows();
  if (S.view === "caller") renderCaller();
}

function renderWindows() {
  const t = T();
  const list = $("window-list");
  list.replaceChildren();
  for (const w of S.windows) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "window-choice";
    b.dataset.no = String(w.no);
    b.setAttribute("aria-pressed", String(w.no === S.chosen));
    const name = document.createElement("span");
    name.className = "wname";
    name.textContent = t.windowName(w.no, w.name);
    const line = document.createElement("span");
    line.className = `wline st-${w.state}`;
    line.textContent = t.windowLine(t.windowState[w.state] || w.state, w.clerk);
    b.append(name, line);
    b.addEventListener("click", () => {
      S.chosen = w.no;
      renderWindows();
    });
    list.append(b);
  }
  const w = S.windows.find((x) => x.no === S.chosen);
  const mine = w && w.state !== "closed" && w.clerk && w.clerk === $("clerk").value.trim();
  const go = $("window-signin");
  go.disabled = !w;
  go.textContent = mine ? t.windowEnter : t.windowSignIn;
}

function renderCaller() {
  const t = T();
  const st = S.status;
  const w = st ? st.window : null;
  const tk = w ? w.ticket : null;
  const wstate = w ? w.state : "closed";
  const reason = w && w.pause_reason ? w.pause_reason : "";
  const stateText =
    wstate === "paused" && reason
      ? t.pausedFor(reasonText(reason))
      : t.windowState[wstate] || wstate;
  $("where").textContent = w ? t.where(w.no, w.name, stateText) : "";
  $("w-state").textContent = stateText;
  $("w-state").className = `wstate st-${wstate}`;

  // The current ticket.
  $("t-number").textContent = tk ? tk.number : t.noTicket;
  $("t-number").classList.toggle("empty", !tk);
  $("t-state").textContent = tk ? t.ticketState[tk.state] || tk.state : "";
  $("t-state").className = `tag state ${tk ? `ts-${tk.state}` : ""}`;
  $("t-state").hidden = !tk;
  const prio = tk && t.priority[tk.priority];
  $("t-priority").hidden = !prio;
  $("t-priority").textContent = prio || "";
  $("t-priority").className = `tag priority ${tk ? `pr-${tk.priority}` : ""}`;
  $("t-area").textContent = tk ? tk.area_name || areaName(tk.area) : t.none;
  $("t-matter").textContent = tk && tk.matter ? tk.matter_name || tk.matter : t.none;
  $("t-name").textContent = tk ? tk.masked_name || t.unnamed : t.none;
  $("t-recalls").textContent = tk ? t.recallsOf(tk.recalls, st.max_recalls) : t.none;
  $("t-note-box").hidden = !(tk && tk.note);
  $("t-note").textContent = tk && tk.note ? tk.note : "";

  // The queue by area.
  const body = $("queue");
  body.replaceChildren();
  let total = 0;
  for (const q of w ? w.queue : []) {
    const tr = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = q.name || q.area;
    const n = document.createElement("td");
    n.textContent = String(q.waiting);
    const longest = document.createElement("td");
    longest.className = "longest";
    longest.dataset.oldest = String(q.waiting > 0 ? q.oldest_issued_ms : 0);
    tr.append(name, n, longest);
    body.append(tr);
    total += q.waiting;
  }
  $("q-total").textContent = t.total(total);
  // The clerk's own day (the clerk signed in at this window).
  const day = w && w.today;
  $("q-today").hidden = !day;
  $("q-today").textContent = day ? t.today(day) : "";

  // Tickets on hold that this page put there.
  const held = $("held");
  held.replaceChildren();
  S.held.forEach((h, i) => {
    const li = document.createElement("li");
    const num = document.createElement("span");
    num.className = "held-number";
    num.textContent = h.number;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.dataset.held = String(h.id);
    if (i === S.held.length - 1) {
      // Shift+F7 returns the ticket held last.
      const k = document.createElement("kbd");
      k.textContent = "⇧F7";
      b.setAttribute("aria-keyshortcuts", "Shift+F7");
      b.append(k, " ");
    }
    b.append(t.giveBack);
    b.disabled = S.busy || wstate === "closed";
    b.addEventListener("click", () => giveBack(h));
    li.append(num, b);
    held.append(li);
  });
  $("held-box").hidden = S.held.length === 0;

  // Which operations make sense now.
  const open = wstate === "open";
  const called = tk && tk.state === "called";
  const serving = tk && tk.state === "serving";
  const can = {
    "a-call": open && (!tk || called),
    "a-recall": !!called,
    "a-start": !!called,
    "a-finish": !!serving,
    "a-noshow": !!called,
    "a-transfer": !!(called || serving),
    "a-hold": !!(called || serving),
    "a-pause": open || wstate === "paused",
    "a-close": wstate !== "closed",
    "a-cancel": !!called,
  };
  for (const a of ACTIONS) $(a.id).disabled = S.busy || !st || !can[a.id];
  $("a-pause-label").textContent = wstate === "paused" ? t.resume : t.pause;
  $("v-caller").setAttribute("aria-busy", String(S.busy));
  renderClocks();
}

// A pause's reason in the page's language: the page's own reasons are
// sent in Chinese; another's (a call-pad's) is shown as it was given.
function reasonText(reason) {
  const code = Object.keys(REASONS).find((k) => REASONS[k] === reason);
  const key = { lunch: "rLunch", meeting: "rMeeting", consult: "rConsult", other: "rOther" }[code];
  return key ? T()[key] : reason;
}

function areaName(code) {
  const q = S.status && S.status.window.queue.find((x) => x.area === code);
  return q && q.name ? q.name : S.areaNames.get(code) || code;
}

// The clocks that count up: the ticket's waits and the queue's longest.
function renderClocks() {
  if (S.view !== "caller" || !S.status) return;
  const t = T();
  const tk = S.status.window.ticket;
  const now = hallNow();
  if (tk) {
    const since = serviceStart(tk);
    const waitedUntil = tk.state === "serving" && since ? since : now;
    $("t-waited").textContent = clock(waitedUntil - tk.issued_at_ms);
    $("t-served").textContent = tk.state === "serving" && since ? clock(now - since) : "—";
  } else {
    $("t-waited").textContent = "—";
    $("t-served").textContent = "—";
  }
  for (const td of document.querySelectorAll("#queue .longest")) {
    const oldest = Number(td.dataset.oldest);
    td.textContent = oldest > 0 ? t.minutes(now - oldest) : t.none;
  }
}

// When the ticket's service began (it entered SERVING); 0 if it is not in
// service.
function serviceStart(tk) {
  return tk.state === "serving" ? tk.state_since_ms || 0 : 0;
}

// ---- session ------------------------------------------------------------------

function startSession(s) {
  S.me = { user: s.user, display_name: s.display_name, role: s.role, clerk_id: s.clerk_id };
  WEB.csrf = s.csrf_token;
  startFeed();
}

function endSession() {
  S.me = null;
  WEB.csrf = null;
  S.win = 0;
  S.status = null;
  sessionStorage.removeItem("ow.caller.window");
  stopTimers();
  $("password").value = "";
  show("signin");
  $("user").focus();
}

async function signIn(ev) {
  ev.preventDefault();
  notify("");
  $("signin").disabled = true;
  try {
    const s = await api("POST", "/api/v1/session", {
      user: $("user").value.trim(),
      password: $("password").value,
    });
    $("password").value = "";
    startSession(s);
    await toWindows();
  } catch (e) {
    notify(errorText(e));
    $("password").select();
  } finally {
    $("signin").disabled = false;
  }
}

async function signOut(everywhere) {
  notify("");
  try {
    const a = await api("DELETE", everywhere ? "/api/v1/sessions" : "/api/v1/session");
    endSession();
    if (everywhere) say(T().signedOutAll(a.sessions_ended));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) endSession();
    else notify(errorText(e));
  }
}

// ---- choosing a window ---------------------------------------------------------

async function toWindows() {
  stopTimers();
  S.win = 0;
  S.status = null;
  sessionStorage.removeItem("ow.caller.window");
  try {
    const a = await api("GET", "/api/v1/windows");
    S.windows = a.windows;
  } catch (e) {
    failed(e);
    if (!S.me) return;
  }
  if (!S.windows.some((w) => w.no === S.chosen)) {
    const mine = S.windows.find(
      (w) => w.clerk && w.clerk === S.me.clerk_id && w.state !== "closed",
    );
    S.chosen = mine ? mine.no : S.windows.length ? S.windows[0].no : 0;
  }
  if (!$("clerk").value) $("clerk").value = S.me.clerk_id || "";
  show("windows");
  const first = document.querySelector('#window-list [aria-pressed="true"]');
  if (first) first.focus();
}

async function windowSignIn(ev) {
  ev.preventDefault();
  notify("");
  const w = S.windows.find((x) => x.no === S.chosen);
  const clerk = $("clerk").value.trim();
  if (!w) return notify(T().chooseWindow);
  if (!clerk) return notify(T().noClerk);
  if (!(w.state !== "closed" && w.clerk === clerk)) {
    const done = await press(w.no, "sign-in", clerk === S.me.clerk_id ? {} : { clerk_id: clerk });
    if (!done) return;
  }
  await toCaller(w.no);
}

async function toCaller(no) {
  S.win = no;
  sessionStorage.setItem("ow.caller.window", String(no));
  S.held = [];
  S.status = null;
  show("caller");
  await refresh();
  startTimers();
  $("a-call").focus();
}

// ---- the window's status ---------------------------------------------------------

// Read the window's status. Fetches may overlap (a press, the change feed,
// the poll): only the newest one's answer is shown, and every caller waits
// for it, so what it sees afterwards was read after it asked.
async function refresh() {
  if (!S.win || !S.me) return;
  const mine = ++S.refreshes;
  const fetching = fetchStatus(mine);
  S.newestFetch = fetching;
  await fetching;
  while (S.newestFetch && S.newestFetch !== fetching && mine !== S.refreshes) {
    const newer = S.newestFetch;
    await newer;
    if (newer === S.newestFetch) break;
  }
}

async function fetchStatus(mine) {
  try {
    const st = await api("GET", `/api/v1/windows/${S.win}/status`);
    if (mine !== S.refreshes || !S.win) return; // a later fetch answers instead
    S.status = st;
    S.held = (st.window.held || []).map((h) => ({ id: h.id, number: h.number }));
    S.offset = st.server_time_ms - Date.now();
    if (S.offline) notify(""); // reached again
    S.offline = false;
    if (S.view === "caller" && st.window.state === "closed" && !S.busy) {
      // Signed out elsewhere (another browser, a call-pad, the manager).
      await toWindows();
      return;
    }
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) failed(e);
    else if (!(e instanceof ApiError)) {
      S.offline = true;
      notify(T().retrying);
    }
  }
}

function startTimers() {
  stopTimers();
  S.ticker = setInterval(renderClocks, 1000);
  S.poller = setInterval(refresh, REFRESH_MS);
}

function stopTimers() {
  clearInterval(S.ticker);
  clearInterval(S.poller);
  S.ticker = S.poller = 0;
}

// The hall's change feed: a long poll answering {"seq":N}, held until N
// passes after=; the status is read again each time N moves. The loop goes
// on as long as the session, with a growing pause while hallweb is away.
async function startFeed() {
  if (S.feedOn) return;
  S.feedOn = true;
  let after = null;
  let pause = 500;
  while (S.me) {
    try {
      const res = await fetch(after === null ? "/api/v1/events" : `/api/v1/events?after=${after}`, {
        credentials: "same-origin",
        cache: "no-store",
      });
      if (res.status === 401) break;
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const j = await res.json();
      if (after !== null && j.seq !== after) refresh();
      after = j.seq;
      pause = 500;
    } catch (e) {
      await sleep(pause);
      pause = Math.min(pause * 2, REFRESH_MS);
    }
  }
  S.feedOn = false;
}

// ---- operations --------------------------------------------------------------------

// One press of an operation at window no: its Idempotency-Key, its retries,
// the status after it. True when it was carried out.
async function press(no, op, body) {
  if (S.busy) return false;
  const sig = `${no}/${op}/${JSON.stringify(body || {})}`;
  const now = Date.now();
  const key =
    S.last && S.last.sig === sig && now - S.last.at < PRESS_SAME_MS ? S.last.key : newKey();
  S.last = { sig, key, at: now };
  S.busy = true;
  notify("");
  render();
  let ok = false;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const a = await api("POST", `/api/v1/windows/${no}/${op}`, body || {}, { key });
        answered(op, body, a);
        ok = true;
        break;
      } catch (e) {
        const lost = !(e instanceof ApiError) || e.status === 503;
        if (lost && attempt < RETRIES) {
          notify(T().retrying);
          await sleep(400 * (attempt + 1));
          continue;
        }
        throw e;
      }
    }
    notify("");
  } catch (e) {
    failed(e);
    if (op === "return" && e instanceof ApiError && (e.status === 404 || e.status === 409))
      forgetHeld(body.ticket_id); // no longer held here
  } finally {
    // The press is over once the page shows what it did: a next press
    // (a key held down, a fast clerk) acts on the state after this one.
    if (S.win) await refresh();
    S.busy = false;
    render();
  }
  return ok;
}

// What an answer tells at once, before the status fetched next: a ticket
// put on hold or returned, and a sentence for screen readers.
function answered(op, body, a) {
  const w = a && a.window;
  const tk = w ? w.ticket : null;
  let number = tk ? tk.number : "";
  if (op === "hold" && S.status && S.status.window.ticket) {
    const h = S.status.window.ticket;
    number = h.number;
    if (!S.held.some((x) => x.id === h.id)) S.held.push({ id: h.id, number: h.number });
  }
  if (op === "return") {
    const h = S.held.find((x) => x.id === body.ticket_id);
    number = h ? h.number : number;
    forgetHeld(body.ticket_id);
  }
  if (["recall", "start", "finish", "no-show", "transfer", "cancel"].includes(op) && !number && S.status) {
    const cur = S.status.window.ticket;
    number = cur ? cur.number : "";
  }
  if (w && S.status && S.status.window.no === w.no) {
    // Show the answer at once; the status fetched next fills in the rest.
    S.status.window.state = w.state;
    if (op === "call-next" || op === "recall") S.status.window.ticket = tk ? { ...tk } : null;
  }
  const f = T().said[op];
  if (f) say(f(number));
}

function current() {
  return S.status && S.status.window.ticket;
}

async function callNext() {
  const tk = current();
  // A call while the ticket is still called is its recall: past the limit,
  // a no-show. Ask first.
  if (tk && tk.state === "called" && tk.recalls >= S.status.max_recalls) {
    if (!(await confirmRecallLimit(tk))) return;
  }
  await press(S.win, "call-next");
}

async function recall() {
  const tk = current();
  if (!tk) return;
  if (tk.recalls >= S.status.max_recalls && !(await confirmRecallLimit(tk))) return;
  await press(S.win, "recall", { ticket_id: tk.id });
}

function confirmRecallLimit(tk) {
  const t = T();
  return ask(
    t.recallLimitTitle,
    t.recallLimitText(tk.number, S.status.max_recalls),
    t.recallLimitOk,
  );
}

async function noShow() {
  const tk = current();
  if (!tk) return;
  const t = T();
  if (!(await ask(t.noShowTitle, t.noShowText(tk.number), t.noShowOk))) return;
  await press(S.win, "no-show", { ticket_id: tk.id });
}

async function ticketOp(op) {
  const tk = current();
  if (!tk) return;
  await press(S.win, op, { ticket_id: tk.id });
}

async function giveBack(h) {
  await press(S.win, "return", { ticket_id: h.id });
}

async function pauseOrResume() {
  if (!S.status) return;
  if (S.status.window.state === "paused") {
    await press(S.win, "resume");
    return;
  }
  const d = $("d-pause");
  d.returnValue = "";
  d.showModal();
  const how = await closed(d);
  if (how !== "ok") return;
  const code = document.querySelector('#pause-form input[name="reason"]:checked').value;
  await press(S.win, "pause", { reason: REASONS[code] });
}

// A called ticket the citizen gave up (or took twice): asked first, with
// the reason (sent in Chinese whatever the page's language).
async function cancelTicket() {
  const tk = current();
  if (!tk) return;
  const d = $("d-cancel");
  $("cancel-text").textContent = T().cancelText(tk.number);
  d.returnValue = "";
  d.showModal();
  const how = await closed(d);
  if (how !== "ok") return;
  const code = document.querySelector('#cancel-form input[name="reason"]:checked').value;
  await press(S.win, "cancel", { ticket_id: tk.id, reason: CANCEL_REASONS[code] });
}

async function closeWindow() {
  const t = T();
  if (!(await ask(t.closeTitle, t.closeText, t.closeOk))) return;
  const no = S.win;
  if (await press(no, "sign-out")) {
    S.held = [];
    if (S.view === "caller") await toWindows(); // the status after it may have done so
  }
}

async function openTransfer() {
  const tk = current();
  if (!tk) return;
  const t = T();
  // Areas: every area of the hall's windows, named where the status knows
  // the name; windows: every other one.
  let windows = S.windows;
  try {
    windows = (await api("GET", "/api/v1/windows")).windows;
    S.windows = windows;
  } catch (e) {
    // the list already known will do
  }
  await learnAreaNames(windows);
  const areas = new Set(S.status.window.queue.map((q) => q.area));
  for (const w of windows) for (const a of w.areas || []) areas.add(a.area);
  const areaSel = $("tr-area");
  areaSel.replaceChildren();
  for (const code of areas) {
    if (code === tk.area) continue;
    areaSel.append(new Option(S.areaNames.get(code) || code, code));
  }
  const winSel = $("tr-window");
  winSel.replaceChildren();
  for (const w of windows) {
    if (w.no === S.win) continue;
    winSel.append(new Option(t.windowName(w.no, w.name), String(w.no)));
  }
  $("tr-kind-area").disabled = areaSel.options.length === 0;
  $("tr-kind-window").disabled = winSel.options.length === 0;
  if (areaSel.options.length === 0) $("tr-kind-window").checked = true;
  else $("tr-kind-area").checked = true;
  syncTransfer();
  $("tr-note").value = "";
  $("transfer-title").textContent = t.transferTitle(tk.number);
  const d = $("d-transfer");
  d.returnValue = "";
  d.showModal();
  (($("tr-kind-area").checked ? areaSel : winSel) || areaSel).focus();
  const how = await closed(d);
  if (how !== "ok") return;
  const body = { ticket_id: tk.id };
  if ($("tr-kind-area").checked) body.to_area = areaSel.value;
  else body.to_window = Number(winSel.value);
  const note = $("tr-note").value.trim();
  if (note) body.note = note;
  await press(S.win, "transfer", body);
}

// The names of the hall's areas: a window's status names the areas it
// serves, so the statuses of other windows name the rest (once; kept).
async function learnAreaNames(windows) {
  for (const q of S.status.window.queue) if (q.name) S.areaNames.set(q.area, q.name);
  for (const w of windows) {
    if (!(w.areas || []).some((a) => !S.areaNames.has(a.area))) continue;
    try {
      const st = await api("GET", `/api/v1/windows/${w.no}/status`);
      for (const q of st.window.queue) if (q.name) S.areaNames.set(q.area, q.name);
    } catch (e) {
      return; // the codes will do
    }
  }
}

function syncTransfer() {
  const byArea = $("tr-kind-area").checked;
  $("tr-area").disabled = !byArea;
  $("tr-window").disabled = byArea;
  $("transfer-ok").disabled = byArea
    ? $("tr-area").options.length === 0
    : $("tr-window").options.length === 0;
}

// ---- dialogs -----------------------------------------------------------------------

function closed(d) {
  return new Promise((resolve) =>
    d.addEventListener("close", () => resolve(d.returnValue), { once: true }),
  );
}

async function ask(title, text, ok) {
  const d = $("d-confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  d.returnValue = "";
  d.showModal();
  $("confirm-ok").focus();
  return (await closed(d)) === "ok";
}

function dialogOpen() {
  return document.querySelector("dialog[open]") !== null;
}

// ---- tickets on hold (the window's status lists them) -------------------------------

function forgetHeld(id) {
  S.held = S.held.filter((x) => x.id !== id);
}

// ---- keys ----------------------------------------------------------------------------

function onKey(e) {
  if (S.view !== "caller" || !/^F([1-9]|10)$/.test(e.key)) return;
  e.preventDefault(); // no help, find or reload in the middle of a call
  if (dialogOpen() || e.repeat || e.ctrlKey || e.altKey || e.metaKey) return;
  if (e.key === "F7" && e.shiftKey) {
    const h = S.held[S.held.length - 1];
    if (h && !S.busy) giveBack(h);
    return;
  }
  if (e.shiftKey) return;
  const a = ACTIONS.find((x) => x.key === e.key);
  if (a && !$(a.id).disabled) a.run();
}

// ---- start -----------------------------------------------------------------------------

async function boot() {
  const saved = localStorage.getItem("ow.caller.lang");
  if (saved === "en" || saved === "zh") S.lang = saved;
  applyLanguage();
  $("lang").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "en" : "zh";
    localStorage.setItem("ow.caller.lang", S.lang);
    applyLanguage();
  });
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut(false));
  $("signout-all").addEventListener("click", () => signOut(true));
  $("window-form").addEventListener("submit", windowSignIn);
  $("clerk").addEventListener("input", renderWindows);
  for (const a of ACTIONS) $(a.id).addEventListener("click", () => a.run());
  $("tr-kind-area").addEventListener("change", syncTransfer);
  $("tr-kind-window").addEventListener("change", syncTransfer);
  document.addEventListener("keydown", onKey);

  try {
    startSession(await api("GET", "/api/v1/session"));
  } catch (e) {
    show("signin");
    if (!(e instanceof ApiError)) notify(T().unreachable);
    $("user").focus();
    return;
  }
  const no = Number(sessionStorage.getItem("ow.caller.window") || 0);
  if (no > 0) {
    try {
      const st = await api("GET", `/api/v1/windows/${no}/status`);
      if (st.window.state !== "closed") {
        await toCaller(no);
        return;
      }
    } catch (e) {
      // choose again
    }
  }
  await toWindows();
}

boot();
