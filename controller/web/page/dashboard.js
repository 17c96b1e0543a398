/*
 * The hall manager's dashboard (docs/dashboard.md): the windows (state,
 * clerk, ticket, time in state), the queues (waiting, longest wait,
 * halld's estimate), the supervision alerts with their acknowledgement,
 * today's figures and charts, the reform's indicators, staffing advice and
 * the reports to download, through the JSON API (docs/api.md).
 *
 * - Live: a long poll of the change feed (GET /api/v1/events); when the
 *   hall changes, what moves with every call (windows, tickets, queues,
 *   alerts) is read again at once, today's report at most every ten
 *   seconds (a report is the costly read; a change in between is read at
 *   the end of the ten), the indicators and the staffing advice every five
 *   minutes.
 * - A panel whose endpoint fails or is not there says "暂无数据" and the
 *   rest of the page goes on.
 * - Times in state are counted on the server's clock (server_time_ms of
 *   the lists), whatever the clock of this PC says.
 * - The charts are SVG drawn here, each with a table as its text.
 * - Chinese first; the EN button switches every text to English.
 */
"use strict";

const LEVELS = [1, 2, 3, 4, 5];
const REPORT_EVERY_MS = 10000; // today's report: at most this often
const SLOW_EVERY_MS = 300000; // the indicators and the staffing advice

const TEXT = {
  zh: {
    htmlLang: "zh-CN",
    title: "大厅运行看板",
    app: "大厅运行看板",
    langButton: "EN",
    langName: "English",
    loading: "正在连接…",
    signInTitle: "大厅负责人登录",
    user: "用户名",
    password: "密码",
    signIn: "登录",
    signOut: "退出登录",
    who: (me) => `${me.display_name}（${me.user}）`,
    notAllowed: "只有大厅负责人、管理员和审计人员可以查看本页面。",
    unreachable: "无法连接服务器，请检查网络后重试。",
    failed: "操作未成功。",
    noData: "暂无数据",
    asTable: "以表格查看",
    windowsTitle: "窗口",
    colWindow: "窗口",
    colState: "状态",
    colClerk: "工作人员",
    colTicket: "当前号票",
    colSince: "已持续",
    states: { calling: "呼叫中", serving: "办理中", idle: "空闲", paused: "暂停", closed: "关闭" },
    nobody: "无",
    queuesTitle: "排队情况",
    colArea: "业务区",
    colWaiting: "等候人数",
    colLongest: "最长等候",
    colEstimate: "预计等候",
    alertsTitle: "电子监察提醒",
    noAlerts: "当前没有未处理的提醒。",
    levels: { warn: "警告", critical: "严重" },
    alertStates: { raised: "待确认", acknowledged: "已确认", resolved: "已解除" },
    note: "处理说明",
    ack: "确认",
    ackOf: (a) => `确认提醒：${a}`,
    acked: (by, note) => `已由${by}确认${note ? `：${note}` : ""}`,
    ackDone: "提醒已确认。",
    raisedAt: (t) => `${t} 发出`,
    todayTitle: "今日概况",
    figures: {
      issued: "取号",
      served: "办结",
      no_show: "过号",
      wait_p50_s: "等候时间中位数",
      wait_p90_s: "九成人等候不超过",
      satisfaction: "满意率",
    },
    hoursChart: "每小时取号与办结",
    waitsChart: "等候时间分布",
    ratingsChart: "今日评价",
    issued: "取号",
    served: "办结",
    colHour: "时段",
    colCount: "人数",
    colWait: "等候时间",
    colLevel: "评价",
    hour: (h) => `${h}时`,
    bucket: (a, b) => (b === null ? `${a}分钟以上` : `${a}至${b}分钟`),
    ratingNames: { 1: "非常不满意", 2: "不满意", 3: "基本满意", 4: "满意", 5: "非常满意" },
    hoursAlt: (rows) => `每小时取号与办结：${rows.map((r) => `${r.key}时取号${r.issued}、办结${r.served}`).join("；")}。`,
    waitsAlt: "首次叫号前的等候时间，按区间统计的人数，详见下方表格。",
    ratingsAlt: (t) => `今日评价${t}条，按等级统计的条数详见下方表格。`,
    indicatorsTitle: "改革指标",
    oneWindow: "一窗受理事项占比",
    online: "网上可办事项占比",
    meterText: (label, v, target) => `${label}：${v}（目标 ${target}）`,
    colBelow: "拉低指标的事项",
    staffingTitle: "窗口配置建议",
    staffingOk: "按近几周的情况，现有窗口配置可使九成人等候不超过目标。",
    staffingNone: "近几周没有取号记录，暂无配置建议。",
    staffingTarget: (t) => `目标：九成人等候不超过${t}。以下时段现有窗口不足：`,
    colDay: "星期",
    colCurrent: "现有窗口",
    colAdvised: "建议窗口",
    days: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    reportsTitle: "报表下载",
    reportsHint: "报表为逗号分隔的表格文件，可用电子表格软件打开。",
    reportToday: "今日报表（按小时）",
    reportWeek: "本周报表（按日）",
    reportMonth: "本月报表（按日）",
    duration: (s) => {
      if (s < 60) return `${s}秒`;
      if (s < 3600) return `${Math.floor(s / 60)}分${s % 60 ? `${s % 60}秒` : ""}`;
      return `${Math.floor(s / 3600)}小时${Math.floor((s % 3600) / 60)}分`;
    },
    minutes: (s) => (s < 60 ? "不到1分钟" : `约${Math.round(s / 60)}分钟`),
    updated: "已更新。",
  },
  en: {
    htmlLang: "en",
    title: "Hall dashboard",
    app: "Hall dashboard",
    langButton: "中文",
    langName: "中文",
    loading: "Connecting…",
    signInTitle: "Hall manager sign-in",
    user: "User name",
    password: "Password",
    signIn: "Sign in",
    signOut: "Sign out",
    who: (me) => `${me.display_name} (${me.user})`,
    notAllowed: "Only hall managers, administrators and auditors may view this page.",
    unreachable: "Cannot reach the server; check the network and try again.",
    failed: "That did not work.",
    noData: "No data",
    asTable: "Show as a table",
    windowsTitle: "Windows",
    colWindow: "Window",
    colState: "State",
    colClerk: "Clerk",
    colTicket: "Ticket",
    colSince: "For",
    states: { calling: "Calling", serving: "Serving", idle: "Idle", paused: "Paused", closed: "Closed" },
    nobody: "none",
    queuesTitle: "Queues",
    colArea: "Area",
    colWaiting: "Waiting",
    colLongest: "Longest wait",
    colEstimate: "Estimated wait",
    alertsTitle: "Supervision alerts",
    noAlerts: "No open alerts.",
    levels: { warn: "Warning", critical: "Critical" },
    alertStates: { raised: "To acknowledge", acknowledged: "Acknowledged", resolved: "Resolved" },
    note: "Note",
    ack: "Acknowledge",
    ackOf: (a) => `Acknowledge the alert: ${a}`,
    acked: (by, note) => `Acknowledged by ${by}${note ? `: ${note}` : ""}`,
    ackDone: "Alert acknowledged.",
    raisedAt: (t) => `raised ${t}`,
    todayTitle: "Today",
    figures: {
      issued: "Issued",
      served: "Served",
      no_show: "No-shows",
      wait_p50_s: "Median wait",
      wait_p90_s: "90% waited at most",
      satisfaction: "Satisfaction",
    },
    hoursChart: "Tickets issued and served per hour",
    waitsChart: "Waiting times",
    ratingsChart: "Ratings today",
    issued: "Issued",
    served: "Served",
    colHour: "Hour",
    colCount: "People",
    colWait: "Wait",
    colLevel: "Rating",
    hour: (h) => `${h}:00`,
    bucket: (a, b) => (b === null ? `${a} min or more` : `${a}–${b} min`),
    ratingNames: { 1: "Very dissatisfied", 2: "Dissatisfied", 3: "Fairly satisfied", 4: "Satisfied", 5: "Very satisfied" },
    hoursAlt: (rows) => `Issued and served per hour: ${rows.map((r) => `${r.key}:00 issued ${r.issued}, served ${r.served}`).join("; ")}.`,
    waitsAlt: "People by waiting time before their first call; the table below has the figures.",
    ratingsAlt: (t) => `${t} ratings today; the table below has them by level.`,
    indicatorsTitle: "Reform indicators",
    oneWindow: "Matters accepted at one window",
    online: "Matters doable online",
    meterText: (label, v, target) => `${label}: ${v} (target ${target})`,
    colBelow: "Matters keeping it below target",
    staffingTitle: "Staffing advice",
    staffingOk: "From the last weeks, today's staffing keeps the 90th percentile wait under the target.",
    staffingNone: "No tickets in the last weeks: no advice yet.",
    staffingTarget: (t) => `Target: 90% wait at most ${t}. Too few windows at these hours:`,
    colDay: "Day",
    colCurrent: "Windows now",
    colAdvised: "Advised",
    days: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
    reportsTitle: "Reports",
    reportsHint: "Reports are comma-separated files that a spreadsheet opens.",
    reportToday: "Today, by hour",
    reportWeek: "This week, by day",
    reportMonth: "This month, by day",
    duration: (s) => {
      if (s < 60) return `${s} s`;
      if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
      return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    },
    minutes: (s) => (s < 60 ? "under 1 min" : `about ${Math.round(s / 60)} min`),
    updated: "Updated.",
  },
};

const S = {
  lang: localStorage.getItem("ow.lang") === "en" ? "en" : "zh",
  me: null,
  seq: null,
  offset: 0, // the server's clock minus this PC's
  reportAt: 0,
  slowAt: 0,
  reportLater: null, // the timer of a report read put off
  following: false,
  d: {},
};

const T = () => TEXT[S.lang];
const now = () => Date.now() + S.offset;

function errorText(e) {
  return errorSentence(e, S.lang, T().failed, T().unreachable);
}

// ---- reading ---------------------------------------------------------------------

// One endpoint: its answer, or null when it fails or is not there (the
// panel then says so). A 401 ends the session.
async function read(path) {
  try {
    const a = await api("GET", path);
    if (a && typeof a.server_time_ms === "number") S.offset = a.server_time_ms - Date.now();
    return a;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    return null;
  }
}

function ymd(d) {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, "0")}${String(d.getDate()).padStart(2, "0")}`;
}

// Today, this week's Monday and this month's first: the hall's business
// day as its report says (the hall's time zone and rollover hour), this
// PC's date until one came.
function ranges() {
  const key = S.d.report && S.d.report.from;
  const d = key ? new Date(Math.floor(key / 10000), Math.floor(key / 100) % 100 - 1, key % 100) : new Date(now());
  const monday = new Date(d);
  monday.setDate(d.getDate() - ((d.getDay() + 6) % 7));
  const first = new Date(d.getFullYear(), d.getMonth(), 1);
  return { today: ymd(d), week: ymd(monday), month: ymd(first) };
}

async function loadLive() {
  const [w, t, q, c, k, a] = await Promise.all([
    read("/api/v1/windows"),
    read("/api/v1/tickets"),
    read("/api/v1/queues"),
    read("/api/v1/clerks"),
    S.d.catalog ? Promise.resolve(S.d.catalog) : read("/api/v1/catalog"),
    read("/api/v1/alerts?state=open"),
  ]);
  Object.assign(S.d, { windows: w, tickets: t, queues: q, clerks: c, catalog: k, alerts: a });
}

// Without from and to, a report is of the hall's business day today.
async function loadReport() {
  S.d.report = await read("/api/v1/report?by=hour");
  S.reportAt = Date.now();
}

async function loadSlow() {
  const [ind, st] = await Promise.all([read("/api/v1/indicators"), read("/api/v1/staffing")]);
  Object.assign(S.d, { indicators: ind, staffing: st });
  S.slowAt = Date.now();
}

// Read again what the hall's change moved (all: everything, at sign-in).
async function load(all) {
  const since = Date.now() - S.reportAt;
  const report = all || since >= REPORT_EVERY_MS;
  if (!report && S.reportLater === null)
    S.reportLater = setTimeout(async () => {
      S.reportLater = null;
      if (!S.me) return;
      try {
        await loadReport();
        render();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) endSession();
      }
    }, REPORT_EVERY_MS - since);
  await Promise.all([
    loadLive(),
    report ? loadReport() : null,
    all || Date.now() - S.slowAt >= SLOW_EVERY_MS ? loadSlow() : null,
  ]);
  render();
}

// ---- building blocks ---------------------------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function cell(row, text, tag = "td") {
  const c = document.createElement(tag);
  if (text instanceof Node) c.append(text);
  else c.textContent = text;
  row.append(c);
  return c;
}

function table(t, heads, rows, fill) {
  t.textContent = "";
  const head = t.createTHead().insertRow();
  for (const h of heads) cell(head, h, "th").scope = "col";
  const body = t.createTBody();
  for (const r of rows) fill(body.insertRow(), r);
}

function noData(container) {
  container.textContent = "";
  container.append(el("p", T().noData, "no-data"));
}

function pct(x) {
  return `${(x * 100).toFixed(1)}%`;
}

function areaName(code) {
  const areas = S.d.catalog ? S.d.catalog.areas : [];
  const a = areas.find((x) => x.code === code);
  if (!a) return code;
  return S.lang === "en" && a.name_en ? a.name_en : a.name;
}

// ---- SVG charts --------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// Bars of one or two series over labels; the picture is described by alt
// (the table under it has every figure).
function barChart(container, labels, series, alt) {
  const W = 420, H = 210, left = 34, bottom = 40, top = 12;
  // An even top, so that the middle line is a whole number too.
  const top0 = Math.max(2, ...series.flatMap((s) => s.values));
  const max = top0 + (top0 % 2);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg" });
  svg.append(svgEl("title", {}, alt));
  const plotH = H - top - bottom, slot = (W - left - 4) / Math.max(1, labels.length);
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH * (1 - f);
    svg.append(svgEl("line", { x1: left, x2: W - 4, y1: y, y2: y, class: "grid" }));
    svg.append(svgEl("text", { x: left - 4, y: y + 4, class: "axis", "text-anchor": "end" }, String(Math.round(max * f))));
  }
  const bw = Math.max(2, (slot - 4) / series.length);
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] || 0, h = (plotH * v) / max;
      svg.append(svgEl("rect", { x: left + i * slot + 2 + j * bw, y: top + plotH - h, width: bw - 1, height: h, class: s.cls }));
    });
    if (labels.length <= 13 || i % 2 === 0)
      svg.append(svgEl("text", { x: left + i * slot + slot / 2, y: H - bottom + 14, class: "axis", "text-anchor": "middle" }, label));
  });
  series.forEach((s, j) => {
    const x = left + j * 120;
    svg.append(svgEl("rect", { x, y: H - 16, width: 12, height: 12, class: s.cls }));
    svg.append(svgEl("text", { x: x + 16, y: H - 6, class: "axis" }, s.name));
  });
  container.textContent = "";
  container.append(svg);
}

// ---- the panels --------------------------------------------------------------------

function ticketsById() {
  const m = new Map();
  for (const t of S.d.tickets ? S.d.tickets.tickets : []) m.set(t.id, t);
  return m;
}

function windowState(w, t) {
  if (w.state === "paused" || w.state === "closed") return w.state;
  if (t && t.state === "serving") return "serving";
  if (t && t.state === "called") return "calling";
  return "idle";
}

function renderWindows() {
  const t = T(), box = $("windows-table");
  if (!S.d.windows) {
    box.textContent = "";
    box.append(Object.assign(document.createElement("caption"), { textContent: t.noData }));
    return;
  }
  const tickets = ticketsById();
  const clerks = new Map((S.d.clerks ? S.d.clerks.clerks : []).map((c) => [c.id, c.name]));
  table(box, [t.colWindow, t.colState, t.colClerk, t.colTicket, t.colSince], S.d.windows.windows, (row, w) => {
    const tk = tickets.get(w.current);
    const st = windowState(w, tk);
    row.dataset.window = w.no;
    cell(row, `${w.no} ${w.name}`);
    cell(row, el("span", t.states[st], `state state-${st}`));
    cell(row, w.clerk ? clerks.get(w.clerk) || w.clerk : t.nobody);
    cell(row, tk ? `${tk.number}${tk.masked_name ? ` ${tk.masked_name}` : ""}` : "—");
    const since = cell(row, "");
    since.className = "since";
    since.dataset.since = w.since_ms || "";
  });
  tickSince();
}

function tickSince() {
  for (const c of document.querySelectorAll("td.since")) {
    const at = Number(c.dataset.since);
    c.textContent = at ? T().duration(Math.max(0, Math.floor((now() - at) / 1000))) : "—";
  }
  for (const c of document.querySelectorAll("td.longest")) {
    const at = Number(c.dataset.oldest);
    c.textContent = at ? T().duration(Math.max(0, Math.floor((now() - at) / 1000))) : "—";
  }
  $("clock").textContent = new Date(now()).toLocaleTimeString(T().htmlLang, { hour12: false });
}

function renderQueues() {
  const t = T(), box = $("queues-table");
  if (!S.d.queues) {
    box.textContent = "";
    box.append(Object.assign(document.createElement("caption"), { textContent: t.noData }));
    return;
  }
  const byArea = new Map(S.d.queues.queues.map((q) => [q.area, q]));
  const codes = S.d.catalog ? S.d.catalog.areas.filter((a) => !a.retired).map((a) => a.code) : [];
  for (const q of S.d.queues.queues) if (!codes.includes(q.area)) codes.push(q.area);
  table(box, [t.colArea, t.colWaiting, t.colLongest, t.colEstimate], codes, (row, code) => {
    const q = byArea.get(code);
    row.dataset.area = code;
    cell(row, areaName(code));
    cell(row, String(q ? q.waiting : 0)).className = "num waiting";
    const l = cell(row, "—");
    l.className = "longest";
    l.dataset.oldest = q ? q.oldest_issued_ms : "";
    cell(row, q && typeof q.est_wait_s === "number" ? t.minutes(q.est_wait_s) : "—");
  });
  tickSince();
}

function timeText(ms) {
  return new Date(ms).toLocaleTimeString(T().htmlLang, { hour12: false, hour: "2-digit", minute: "2-digit" });
}

function renderAlerts() {
  const t = T(), list = $("alerts-list");
  list.textContent = "";
  if (!S.d.alerts) return list.append(el("li", t.noData, "no-data"));
  const open = S.d.alerts.alerts.filter((a) => a.state !== "resolved");
  if (open.length === 0) return list.append(el("li", t.noAlerts, "no-data"));
  const mayAck = S.me && (S.me.role === "manager" || S.me.role === "admin");
  open.forEach((a, i) => {
    const li = el("li", null, `alert alert-${a.level}`);
    li.dataset.alert = a.id;
    const text = S.lang === "en" ? a.text_en || a.text_zh : a.text_zh || a.text_en;
    const head = el("p", null, "alert-head");
    head.append(el("span", t.levels[a.level] || a.level, `badge badge-${a.level}`), " ", el("span", text, "alert-text"));
    li.append(head);
    li.append(el("p", `${t.alertStates[a.state] || a.state} · ${t.raisedAt(timeText(a.raised_ms))}`, "alert-meta"));
    if (a.state === "acknowledged") li.append(el("p", t.acked(a.acked_by, a.ack_note), "alert-meta"));
    if (a.state === "raised" && mayAck) {
      const form = el("form", null, "ack");
      const id = `note-${i}`;
      const label = el("label", t.note);
      label.htmlFor = id;
      const input = el("input");
      input.id = id;
      input.name = "note";
      input.autocomplete = "off";
      input.maxLength = 200;
      const b = el("button", t.ack, "small primary");
      b.type = "submit";
      b.setAttribute("aria-label", t.ackOf(text));
      form.append(label, input, b);
      form.addEventListener("submit", (ev) => acknowledge(ev, a.id, input, b));
      li.append(form);
    }
    list.append(li);
  });
}

async function acknowledge(ev, id, input, button) {
  ev.preventDefault();
  button.disabled = true;
  try {
    await api("POST", `/api/v1/alerts/${encodeURIComponent(id)}/ack`, { note: input.value.trim() });
    say(T().ackDone);
    notify("");
    await load(false);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
    button.disabled = false;
  }
}

function renderToday() {
  const t = T(), rep = S.d.report, fig = $("today-figures");
  fig.textContent = "";
  for (const id of ["hours-chart", "waits-chart", "ratings-chart"]) $(id).textContent = "";
  for (const id of ["hours-table", "waits-table", "ratings-table"]) $(id).textContent = "";
  $("today-none").textContent = t.noData;
  $("today-none").hidden = !!(rep && rep.total);
  fig.hidden = !(rep && rep.total);
  for (const d of document.querySelectorAll(".chart details")) d.hidden = !(rep && rep.total);
  if (!rep || !rep.total) {
    for (const id of ["hours-chart", "waits-chart", "ratings-chart"]) noData($(id));
    return;
  }
  const tot = rep.total;
  for (const k of Object.keys(t.figures)) {
    const v = tot[k];
    let text = "—";
    if (k === "satisfaction") text = typeof v === "number" ? pct(v) : "—";
    else if (k.endsWith("_s")) text = typeof v === "number" ? t.duration(v) : "—";
    else if (typeof v === "number") text = String(v);
    const box = el("div", null, "figure");
    box.dataset.figure = k;
    box.append(el("dt", t.figures[k]), el("dd", text));
    fig.append(box);
  }
  // Per hour, from the first hour with a ticket to the last (at least 8-18).
  const rows = (rep.rows || []).filter((r) => /^\d\d$/.test(r.key));
  const busy = rows.filter((r) => r.issued || r.served).map((r) => Number(r.key));
  const lo = Math.min(8, ...busy), hi = Math.max(18, ...busy);
  const hours = [];
  for (let h = lo; h <= hi; h++) {
    const key = String(h).padStart(2, "0");
    hours.push(rows.find((r) => r.key === key) || { key, issued: 0, served: 0 });
  }
  barChart($("hours-chart"), hours.map((r) => r.key), [
    { name: t.issued, cls: "bar-a", values: hours.map((r) => r.issued) },
    { name: t.served, cls: "bar-b", values: hours.map((r) => r.served) },
  ], t.hoursAlt(hours.filter((r) => r.issued || r.served)));
  table($("hours-table"), [t.colHour, t.issued, t.served], hours, (row, r) => {
    cell(row, t.hour(r.key));
    cell(row, String(r.issued));
    cell(row, String(r.served));
  });
  const hist = rep.wait_histogram;
  if (hist && Array.isArray(hist.counts) && hist.counts.length) {
    const m = hist.bucket_s / 60;
    const labels = hist.counts.map((_, i) => (i === hist.counts.length - 1 ? `${i * m}+` : `${i * m}`));
    barChart($("waits-chart"), labels, [{ name: t.colCount, cls: "bar-a", values: hist.counts }], t.waitsAlt);
    table($("waits-table"), [t.colWait, t.colCount], hist.counts.map((n, i) => ({ n, i })), (row, r) => {
      cell(row, t.bucket(r.i * m, r.i === hist.counts.length - 1 ? null : (r.i + 1) * m));
      cell(row, String(r.n));
    });
  } else {
    noData($("waits-chart"));
    $("waits-table").closest("details").hidden = true;
  }
  const ratings = Array.isArray(tot.ratings) ? tot.ratings : null;
  if (ratings) {
    barChart($("ratings-chart"), LEVELS.map(String), [{ name: t.colCount, cls: "bar-b", values: ratings }], t.ratingsAlt(tot.rated || 0));
    table($("ratings-table"), [t.colLevel, t.colCount], LEVELS, (row, l) => {
      cell(row, t.ratingNames[l]);
      cell(row, String(ratings[l - 1] || 0));
    });
  } else {
    noData($("ratings-chart"));
    $("ratings-table").closest("details").hidden = true;
  }
}

function meter(label, share, target) {
  const t = T(), box = el("div", null, "meter");
  box.append(el("p", t.meterText(label, typeof share === "number" ? pct(share) : "—", pct(target))));
  const svg = svgEl("svg", { viewBox: "0 0 300 16", class: "meter-svg", "aria-hidden": "true" });
  svg.append(svgEl("rect", { x: 0, y: 2, width: 300, height: 12, class: "meter-back" }));
  svg.append(svgEl("rect", { x: 0, y: 2, width: 300 * Math.min(1, share || 0), height: 12, class: share >= target ? "bar-b" : "bar-bad" }));
  svg.append(svgEl("line", { x1: 300 * target, x2: 300 * target, y1: 0, y2: 16, class: "meter-target" }));
  box.append(svg);
  return box;
}

function renderIndicators() {
  const t = T(), box = $("indicators"), ind = S.d.indicators;
  box.textContent = "";
  if (!ind || !ind.hall) return noData(box);
  box.append(meter(t.oneWindow, ind.hall.one_window_share, ind.one_window_target));
  box.append(meter(t.online, ind.hall.online_share, ind.online_target));
  const areas = (ind.areas || []).filter((a) => a.one_window_share < ind.one_window_target || a.online_share < ind.online_target);
  if (areas.length === 0) return;
  const tab = el("table", null, "list");
  table(tab, [t.colArea, t.oneWindow, t.online, t.colBelow], areas, (row, a) => {
    cell(row, S.lang === "en" ? areaName(a.area) : a.name || a.area);
    cell(row, typeof a.one_window_share === "number" ? pct(a.one_window_share) : "—");
    cell(row, typeof a.online_share === "number" ? pct(a.online_share) : "—");
    cell(row, [...(a.below_one_window || []), ...(a.below_online || [])].map((m) => m.name || m.code).join(S.lang === "en" ? ", " : "、"));
  });
  const scroll = el("div", null, "scroll");
  scroll.append(tab);
  box.append(scroll);
}

function renderStaffing() {
  const t = T(), box = $("staffing"), st = S.d.staffing;
  box.textContent = "";
  if (!st || !Array.isArray(st.areas)) return noData(box);
  const misses = [];
  let hours = 0;
  for (const a of st.areas)
    for (const h of a.hours || []) {
      hours++;
      if (h.misses) misses.push({ a, h });
    }
  if (hours === 0) return box.append(el("p", t.staffingNone));
  if (misses.length === 0) return box.append(el("p", t.staffingOk));
  box.append(el("p", t.staffingTarget(t.duration(st.target_p90_s))));
  const tab = el("table", null, "list");
  table(tab, [t.colArea, t.colDay, t.colHour, t.colCurrent, t.colAdvised], misses.slice(0, 24), (row, m) => {
    cell(row, S.lang === "en" ? areaName(m.a.area) : m.a.name || m.a.area);
    cell(row, t.days[m.h.dow] || String(m.h.dow));
    cell(row, t.hour(String(m.h.hour).padStart(2, "0")));
    cell(row, String(m.h.current));
    cell(row, String(m.h.advised));
  });
  const scroll = el("div", null, "scroll");
  scroll.append(tab);
  box.append(scroll);
}

function renderReports() {
  const t = T(), r = ranges(), list = $("reports");
  list.textContent = "";
  for (const [label, from, by] of [[t.reportToday, r.today, "hour"], [t.reportWeek, r.week, "day"], [t.reportMonth, r.month, "day"]]) {
    const a = el("a", label);
    a.href = `/api/v1/report?from=${from}&to=${r.today}&by=${by}&format=csv`;
    a.setAttribute("download", `report-${from}-${r.today}-${by}.csv`);
    const li = el("li");
    li.append(a);
    list.append(li);
  }
}

function render() {
  const t = T();
  $("who").textContent = S.me ? t.who(S.me) : "";
  $("signout").hidden = !S.me;
  if (!S.me) return;
  renderWindows();
  renderQueues();
  renderAlerts();
  renderToday();
  renderIndicators();
  renderStaffing();
  renderReports();
}

function show(view) {
  $("loading").hidden = view !== "loading";
  $("v-signin").hidden = view !== "signin";
  $("v-dash").hidden = view !== "dash";
  render();
}

function applyLanguage() {
  applyTexts(T(), S.lang);
  render();
}

// ---- live ----------------------------------------------------------------------------

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

// Follow the change feed while signed in: each change reads the hall again.
async function follow() {
  if (S.following) return;
  S.following = true;
  while (S.me) {
    try {
      const path = S.seq === null ? "/api/v1/events" : `/api/v1/events?after=${S.seq}`;
      const a = await api("GET", path);
      if (S.seq !== null && a.seq !== S.seq) {
        S.seq = a.seq;
        await load(false);
      } else {
        S.seq = a.seq;
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        endSession();
        break;
      }
      if (!(e instanceof ApiError)) console.error(`dashboard: ${e.message}`);
      await pause(2000);
    }
  }
  S.following = false;
}

// ---- session ---------------------------------------------------------------------------

async function startSession(s) {
  if (!["manager", "admin", "auditor"].includes(s.role)) {
    S.me = null;
    notify(T().notAllowed);
    return show("signin");
  }
  S.me = { user: s.user, display_name: s.display_name, role: s.role };
  WEB.csrf = s.csrf_token;
  show("dash");
  try {
    await load(true);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return endSession();
    notify(errorText(e));
  }
  follow();
}

function endSession() {
  clearTimeout(S.reportLater);
  S.reportLater = null;
  S.me = null;
  S.seq = null;
  WEB.csrf = null;
  $("password").value = "";
  show("signin");
  $("user").focus();
}

async function start() {
  wireSession(startSession, endSession, errorText);
  $("lang").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "en" : "zh";
    localStorage.setItem("ow.lang", S.lang);
    applyLanguage();
  });
  setInterval(tickSince, 1000);
  applyLanguage();
  show("loading");
  try {
    await startSession(await api("GET", "/api/v1/session"));
  } catch (e) {
    if (!(e instanceof ApiError)) notify(T().unreachable);
    endSession();
  }
}

start();
