/*
 * The hall's big screen (docs/dashboard.md): /screen?token=T shows the
 * windows with the ticket each one serves, the queues with the longest
 * wait and the estimate, and today's figures, read from
 * GET /api/v1/screen/data?token=T and read again whenever the change feed
 * (GET /api/v1/events?token=T, a long poll) says the hall changed. No
 * session: the token is the screen's, and a revoked or unknown one is
 * answered 401, which the page shows in place of the figures (and stops).
 * Chinese first; ?lang=en or the EN button shows English.
 */
"use strict";

const TEXT = {
  zh: {
    htmlLang: "zh-CN",
    title: "大厅实时情况",
    langButton: "EN",
    langName: "English",
    loading: "正在连接…",
    refusedTitle: "此大屏无法显示",
    noToken: "地址中缺少大屏令牌，请联系管理员。",
    unreachable: "暂时无法连接服务器，正在重试…",
    windowsTitle: "窗口",
    queuesTitle: "排队情况",
    todayTitle: "今日",
    window: (no) => `${no}号窗口`,
    states: { open: "办理中", paused: "暂停服务", closed: "未开放" },
    idle: "等候叫号",
    colArea: "业务区",
    colWaiting: "等候",
    colLongest: "最长等候",
    colEstimate: "预计等候",
    minutes: (s) => (s < 60 ? "不到1分钟" : `${Math.round(s / 60)}分钟`),
    figures: { issued: "今日取号", served: "已办结", satisfaction: "满意率", open_alerts: "待处理提醒" },
    noData: "暂无数据",
    updated: "大屏已更新。",
  },
  en: {
    htmlLang: "en",
    title: "The hall now",
    langButton: "中文",
    langName: "中文",
    loading: "Connecting…",
    refusedTitle: "This screen cannot be shown",
    noToken: "The address has no screen token; ask an administrator.",
    unreachable: "Cannot reach the server; trying again…",
    windowsTitle: "Windows",
    queuesTitle: "Queues",
    todayTitle: "Today",
    window: (no) => `Window ${no}`,
    states: { open: "Serving", paused: "Paused", closed: "Closed" },
    idle: "Ready",
    colArea: "Area",
    colWaiting: "Waiting",
    colLongest: "Longest wait",
    colEstimate: "Estimated wait",
    minutes: (s) => (s < 60 ? "under 1 min" : `${Math.round(s / 60)} min`),
    figures: { issued: "Issued today", served: "Served", satisfaction: "Satisfaction", open_alerts: "Open alerts" },
    noData: "No data",
    updated: "The screen was updated.",
  },
};

const params = new URLSearchParams(location.search);
const S = {
  token: params.get("token") || "",
  lang: params.get("lang") === "en" ? "en" : "zh",
  data: null,
  seq: null,
  offset: 0,
  refused: null, // the refusal's message {zh, en}, once refused
};
const T = () => TEXT[S.lang];
const q = (path) => `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(S.token)}`;

class Refused extends Error {
  constructor(message) {
    super("refused");
    this.message_ = message;
  }
}

async function get(path) {
  const res = await fetch(q(path), { headers: { Accept: "application/json" }, cache: "no-store", credentials: "omit" });
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (res.status === 401) throw new Refused(body && body.error ? body.error.message : null);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function areaName(a) {
  return S.lang === "en" && a.name_en ? a.name_en : a.name;
}

function render() {
  const t = T(), d = S.data;
  $("loading").hidden = d !== null || S.refused !== null;
  $("refused").hidden = S.refused === null;
  $("wall").hidden = d === null || S.refused !== null;
  if (S.refused !== null) {
    const m = S.refused;
    const said = m ? m[S.lang] || m.zh : t.noToken;
    $("refused-text").textContent = said.charAt(0).toUpperCase() + said.slice(1);
    return;
  }
  if (!d) return;
  const list = $("windows");
  list.textContent = "";
  // A large hall's windows still fit the wall: smaller cards past a dozen.
  list.className = `window-grid${d.windows.length > 24 ? " lots" : d.windows.length > 12 ? " many" : ""}`;
  for (const w of d.windows) {
    const li = el("li");
    li.dataset.window = w.no;
    li.append(el("div", t.window(w.no), "wno"));
    li.append(el("div", w.ticket || "—", "ticket"));
    const state = w.state === "open" && !w.ticket ? t.idle : t.states[w.state] || w.state;
    li.append(el("div", `${state}${w.masked_name ? ` · ${w.masked_name}` : ""}`, `wstate wstate-${w.state}`));
    list.append(li);
  }
  const tab = $("queues");
  tab.textContent = "";
  const head = tab.createTHead().insertRow();
  for (const h of [t.colArea, t.colWaiting, t.colLongest, t.colEstimate]) {
    const th = el("th", h);
    th.scope = "col";
    head.append(th);
  }
  const body = tab.createTBody();
  for (const a of d.queues) {
    const row = body.insertRow();
    row.dataset.area = a.area;
    row.append(el("td", areaName(a)));
    row.append(el("td", String(a.waiting), "num waiting"));
    const longest = a.waiting ? a.longest_wait_s + Math.floor((Date.now() + S.offset - d.server_time_ms) / 1000) : 0;
    row.append(el("td", a.waiting ? t.minutes(Math.max(0, longest)) : "—"));
    row.append(el("td", typeof a.est_wait_s === "number" && a.waiting ? t.minutes(a.est_wait_s) : "—"));
  }
  const fig = $("today");
  fig.textContent = "";
  for (const k of Object.keys(t.figures)) {
    let v = k === "open_alerts" ? d.open_alerts : d.today[k];
    const box = el("div");
    box.dataset.figure = k;
    const dd = el("dd");
    if (k === "satisfaction") v = typeof v === "number" ? `${(v * 100).toFixed(1)}%` : "—";
    else v = typeof v === "number" ? String(v) : "—";
    dd.textContent = v;
    if (k === "open_alerts" && d.open_alerts > 0) dd.className = "alerting";
    box.append(el("dt", t.figures[k]), dd);
    fig.append(box);
  }
}

function tick() {
  $("clock").textContent = new Date(Date.now() + S.offset).toLocaleTimeString(T().htmlLang, { hour12: false, hour: "2-digit", minute: "2-digit" });
}

function applyLanguage() {
  applyTexts(T(), S.lang);
  render();
  tick();
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function refresh() {
  const d = await get("/api/v1/screen/data");
  S.offset = d.server_time_ms - Date.now();
  S.data = d;
  render();
  $("said").textContent = T().updated;
}

// Read the figures, then again at every change of the hall, until the
// token is refused. A lost server is retried every few seconds.
async function run() {
  if (!S.token) {
    S.refused = "";
    return render();
  }
  for (;;) {
    try {
      if (S.seq === null) {
        S.seq = (await get("/api/v1/events")).seq;
        await refresh();
      }
      const a = await get(`/api/v1/events?after=${S.seq}`);
      if (a.seq !== S.seq) {
        S.seq = a.seq;
        await refresh();
      } else {
        render(); // the longest waits grow
      }
    } catch (e) {
      if (e instanceof Refused) {
        S.refused = e.message_;
        S.data = null;
        return render();
      }
      $("said").textContent = T().unreachable;
      S.seq = null;
      await pause(3000);
    }
  }
}

$("lang").addEventListener("click", () => {
  S.lang = S.lang === "zh" ? "en" : "zh";
  applyLanguage();
});
setInterval(tick, 1000);
applyLanguage();
run();
