// The clerk's caller page of hallweb in headless Chromium (the
// web_caller_chromium test).
//
// test_web_caller starts halld, hallweb, bussim and kioskd, issues tickets,
// and runs
//   node web_caller.mjs --url URL --chromium PATH --node-modules DIR --out DIR
//        --user NAME --password PASSWORD --locked-user NAME --bussim PORT
// The script signs in (after a wrong password, and a lockout of the other
// user), chooses window 1 and signs in to it, then works the window by
// mouse (call, recall, transfer to another area, call, start, finish) and
// by keys only (the same, hold and return, the no-show and recall-limit
// confirmations, pause with a reason and resume), checks English, runs
// axe-core in both languages, a phone viewport, a reload and sign-out
// everywhere. Each call's number must be what the page shows, what GET
// /api/v1/windows/1/status says, and what bussim's window 1 display and
// hall board show (asked on bussim's control port); it prints "called
// NUMBER" for each, which the test follows to halld's display pushes.
// Screenshots go to --out (their paths are printed). Exits 0 when every
// check passed, 1 with the step and reason if not.
import net from "node:net";
import path from "node:path";

import { axeCheck, check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));
for (const k of ["user", "password", "locked-user", "bussim"])
  if (!args[k]) throw new Error(`missing --${k}`);

const WAIT = 30000; // generous: a loaded 2-core machine
const CJK = /[\u3400-\u9fff\uff00-\uffef]/;
let step = "start";
const posts = []; // every window operation the page sent: {op, key, csrf}
const cspErrors = [];

// ---- bussim's control port ------------------------------------------------------

let bus = null;

function busCommand(cmd) {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (d) => {
      text += d.toString("utf8");
      const lines = text.split("\n");
      const last = lines.length > 1 ? lines[lines.length - 2] : "";
      if (text.endsWith("\n") && (last.startsWith("ok") || last.startsWith("error"))) {
        bus.off("data", onData);
        resolve(text);
      }
    };
    bus.on("data", onData);
    bus.write(`${cmd}\n`, (e) => e && reject(e));
  });
}

async function busShows(needle) {
  const until = Date.now() + WAIT;
  let view = "";
  while (Date.now() < until) {
    view = await busCommand("show");
    if (view.includes(needle)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`bussim never showed "${needle}"; it shows:\n${view}`);
}

// ---- the page ------------------------------------------------------------------------

async function shot(page, name, fullPage = false) {
  const file = path.join(args.out, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot: ${file}`);
}

async function visible(page, sel) {
  await page.waitForSelector(`${sel}:not([hidden])`, { state: "visible" });
}

async function text(page, t) {
  await page.getByText(t, { exact: false }).first().waitFor({ state: "visible" });
}

async function idle(page) {
  await page.waitForSelector('#v-caller[aria-busy="false"]');
}

async function status(page, no = 1) {
  return page.evaluate(async (n) => {
    const r = await fetch(`/api/v1/windows/${n}/status`, { cache: "no-store" });
    return r.json();
  }, no);
}

// Wait until the status satisfies pred and the page shows its ticket.
// Wait until the window's status satisfies pred, both as the API answers
// it now and as the page last read it (what its buttons follow), and the
// page shows its ticket.
async function settled(page, pred, what) {
  const until = Date.now() + WAIT;
  let st;
  for (;;) {
    st = await status(page);
    const tk = st.window.ticket;
    const shown = await page.textContent("#t-number");
    const pageSees = await page.evaluate(() => S.status); // the page's own copy
    if (
      pred(st) &&
      pageSees &&
      pred(pageSees) &&
      (tk ? shown === tk.number : shown !== "" && !/^[A-Z]\d+$/.test(shown))
    )
      return st;
    check(Date.now() < until, `${what} (status ${JSON.stringify(st.window)}, page shows ${shown})`);
    await page.waitForTimeout(100);
  }
}

// After a call: the number the page shows is the window's called ticket,
// on bussim's window 1 display and on the hall board.
async function called(page, before) {
  const st = await settled(
    page,
    (s) =>
      s.window.ticket &&
      s.window.ticket.state === "called" &&
      s.window.ticket.recalls === 0 &&
      s.window.ticket.number !== before,
    "a new ticket called",
  );
  const number = st.window.ticket.number;
  check((await page.textContent("#t-number")) === number, `the page shows ${number}`);
  console.log(`called ${number}`);
  await busShows(`window 1: ${number} `);
  await busShows(`${number}@1`);
  return st.window.ticket;
}

async function noTicket(page) {
  await settled(page, (s) => s.window.ticket === null, "the window has no ticket");
  await page.waitForSelector("#t-number.empty");
}

async function axe(page, name) {
  const was = step;
  step = `axe ${name}`;
  await axeCheck(page, args["node-modules"], name);
  step = was;
}

// Nothing in the Chinese page's own texts is in Latin letters, and nothing
// in the English one in Chinese characters (names from the hall's data
// aside: windows, areas, people).
async function oneLanguage(page, lang) {
  const texts = await page.$$eval("[data-t], .act span, #lang, #signout, #signout-all", (els) =>
    els
      .filter((e) => e.offsetParent !== null)
      .map((e) => e.textContent.trim())
      .filter((t) => t),
  );
  for (const t of texts) {
    if (lang === "zh")
      check(!/[A-Za-z]/.test(t) || t === "EN", `no English in Chinese text "${t}"`);
    else check(!CJK.test(t) || t === "中文", `no Chinese in English text "${t}"`);
  }
}

async function fits(page, width, height) {
  const m = await page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll(
      "button, h1, h2, p, dd, dt, td, th, kbd, span, input",
    )) {
      if (e.offsetParent === null || e.closest(".visually-hidden")) continue;
      const r = e.getBoundingClientRect();
      if (r.left < -0.5 || r.right > window.innerWidth + 0.5)
        out.push(`${e.id || e.tagName} x ${r.left}-${r.right}`);
      if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== "visible")
        out.push(`${e.id || e.tagName} clipped`);
    }
    return {
      sw: document.documentElement.scrollWidth,
      sh: document.documentElement.scrollHeight,
      out,
    };
  });
  check(m.sw <= width, `no sideways scrolling at ${width} px (scrollWidth ${m.sw})`);
  check(m.out.length === 0, `nothing cut off at ${width} px: ${m.out.join("; ")}`);
  if (height)
    check(m.sh <= height, `everything on one screen at ${width}x${height} (scrollHeight ${m.sh})`);
}

// A key, pressed as a clerk would: once the page is not busy and the
// button it stands for is enabled.
const BUTTONS = {
  F1: "#a-call",
  F2: "#a-recall",
  F3: "#a-start",
  F4: "#a-finish",
  F5: "#a-noshow",
  F6: "#a-transfer",
  F7: "#a-hold",
  F8: "#a-pause",
  F9: "#a-close",
  F10: "#a-cancel",
  "Shift+F7": "#held button[aria-keyshortcuts]",
};

async function key(page, k) {
  await idle(page);
  await page.waitForSelector(`${BUTTONS[k]}:not([disabled])`);
  await page.keyboard.press(k);
}

async function main() {
  bus = net.connect(Number(args.bussim), "127.0.0.1");
  await new Promise((resolve, reject) => {
    bus.once("connect", resolve);
    bus.once("error", reject);
  });
  const { browser, page } = await openPage(args, WAIT);
  try {
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    page.on("request", (r) => {
      const m = /\/api\/v1\/windows\/\d+\/([a-z-]+)$/.exec(r.url());
      if (r.method() === "POST" && m)
        posts.push({
          op: m[1],
          key: r.headers()["idempotency-key"],
          csrf: r.headers()["x-csrf-token"],
        });
    });
    await page.setViewportSize({ width: 1366, height: 768 });
    await walk(page);
    check(cspErrors.length === 0, `no Content-Security-Policy violation: ${cspErrors.join("; ")}`);
    await page.context().close();
  } finally {
    await browser.close();
    bus.destroy();
  }
}

async function walk(page) {
  const user = args.user;

  // ---- 1. Sign in -----------------------------------------------------------------
  step = "load";
  await page.goto(args.url, { waitUntil: "load" });
  await visible(page, "#v-signin");
  check((await page.getAttribute("html", "lang")) === "zh-CN", "the page starts in Chinese");
  await text(page, "工作人员登录");
  await oneLanguage(page, "zh");
  await axe(page, "signin-zh");

  step = "a wrong password";
  await page.fill("#user", user);
  await page.fill("#password", "not-the-password");
  await page.click("#signin");
  await text(page, "用户名或密码错误。");

  step = "a locked account";
  for (let i = 0; i < 3; i++) {
    await page.fill("#user", args["locked-user"]);
    await page.fill("#password", "not-the-password");
    await page.click("#signin");
    await page.waitForFunction(() => !document.querySelector("#signin").disabled);
  }
  await text(page, "账号已锁定");
  await shot(page, "signin-locked");

  step = "sign in";
  await page.fill("#user", user);
  await page.fill("#password", args.password);
  await page.click("#signin");
  await visible(page, "#v-windows");
  check(await page.isHidden("#notice"), "the error went with the sign-in");
  check((await page.inputValue("#password")) === "", "the password is not kept in the form");
  const csrfInStorage = await page.evaluate(() =>
    [...Object.values(localStorage), ...Object.values(sessionStorage), document.cookie].join("|"),
  );
  check(!/[A-Za-z0-9_-]{43}/.test(csrfInStorage), "no token in storage or a readable cookie");

  // ---- 2. Choose window 1, sign in to it -----------------------------------------------
  step = "choose window 1";
  await text(page, "选择窗口");
  await text(page, "1号窗 综合受理1号窗");
  check((await page.inputValue("#clerk")) === "c-1", "the clerk's own id is the default");
  await axe(page, "windows-zh");
  await shot(page, "windows");
  await page.click('#window-list button[data-no="1"]');
  check(
    (await page.getAttribute('#window-list button[data-no="1"]', "aria-pressed")) === "true",
    "window 1 chosen",
  );
  await page.click("#window-signin");
  await visible(page, "#v-caller");
  await idle(page);
  let st = await status(page);
  check(st.window.state === "open" && st.window.clerk === "c-1", "window 1 open with c-1");
  await page.waitForFunction(() => document.querySelector("#w-state").textContent === "开放");
  const rows = await page.$$eval("#queue tr", (trs) =>
    trs.map((tr) => [...tr.children].map((c) => c.textContent)),
  );
  check(rows.length === st.window.queue.length, "a row for each of the window's areas");
  check(
    rows[0][0] === "综合受理" && rows[0][1] === String(st.window.queue[0].waiting),
    `the queue by area (${JSON.stringify(rows)})`,
  );
  check(/分钟/.test(rows[0][2]), `the longest wait (${rows[0][2]})`);
  await fits(page, 1366, 768);

  // ---- 3, 4. By mouse: call (a double click calls once), recall, transfer, call, start, finish
  step = "double click 叫号";
  await page.dblclick("#a-call");
  const t1 = await called(page, "");
  await idle(page);
  await page.waitForTimeout(300);
  st = await status(page);
  check(
    st.window.ticket.id === t1.id && st.window.ticket.recalls === 0,
    "a double click called once",
  );
  const callPosts = posts.filter((p) => p.op === "call-next");
  check(
    callPosts.length >= 1 && callPosts.every((p) => p.key === callPosts[0].key),
    "a double click sends one Idempotency-Key",
  );
  check(t1.priority === "green", "the green-channel ticket is called first");
  for (const t of ["已呼叫", "绿色通道", "综合受理", "帮办代办服务", "张*", "0 / 2 次"])
    await text(page, t);
  await page.waitForFunction(() =>
    /^\d+:\d\d$/.test(document.querySelector("#t-waited").textContent),
  );
  await shot(page, "called");

  step = "recall by mouse";
  await page.click("#a-recall");
  await settled(page, (s) => s.window.ticket && s.window.ticket.recalls === 1, "recalled once");
  await text(page, "1 / 2 次");

  step = "transfer by mouse";
  const w2before = (await status(page, 2)).window.queue.find(
    (q) => q.area === "realestate",
  ).waiting;
  await page.click("#a-transfer");
  await page.waitForSelector("#d-transfer[open]");
  await text(page, `转移 ${t1.number}`);
  const areaNames = await page.$$eval("#tr-area option", (os) => os.map((o) => o.textContent));
  check(areaNames.includes("不动产登记"), `the other areas by name (${areaNames.join(", ")})`);
  await page.selectOption("#tr-area", "realestate");
  await page.fill("#tr-note", "材料已核对");
  await axe(page, "transfer-zh");
  await shot(page, "transfer");
  await page.click("#transfer-ok");
  await noTicket(page);
  const moved = await page.evaluate(async (id) => {
    const r = await fetch("/api/v1/tickets", { cache: "no-store" });
    return (await r.json()).tickets.find((t) => t.id === id);
  }, t1.id);
  check(moved && moved.note === "材料已核对", "the transfer's note goes with the ticket");
  const w2after = (await status(page, 2)).window.queue.find((q) => q.area === "realestate").waiting;
  check(w2after === w2before + 1, `the ticket waits in 不动产登记 (${w2before} -> ${w2after})`);
  await text(page, "暂无号票");

  step = "call next by mouse";
  await idle(page);
  await page.click("#a-call");
  const t2 = await called(page, t1.number);

  step = "start by mouse";
  await idle(page);
  await page.click("#a-start");
  await settled(page, (s) => s.window.ticket && s.window.ticket.state === "serving", "serving");
  await text(page, "办理中");
  // The time in service counts up.
  await page.waitForFunction(
    () => /^0:0[1-9]$/.test(document.querySelector("#t-served").textContent),
    null,
    { timeout: WAIT },
  );
  await shot(page, "serving");

  step = "finish by mouse";
  await idle(page);
  await page.click("#a-finish");
  await noTicket(page);

  // ---- The same by keys only -------------------------------------------------------------
  step = "F1";
  await key(page, "F1");
  const t3 = await called(page, t2.number);
  step = "F2";
  await key(page, "F2");
  await settled(page, (s) => s.window.ticket && s.window.ticket.recalls === 1, "recalled by F2");
  step = "F6";
  await key(page, "F6");
  await page.waitForSelector("#d-transfer[open]");
  check(
    (await page.evaluate(() => document.activeElement.id)) === "tr-area",
    "F6 opens the dialog on the areas",
  );
  check((await page.inputValue("#tr-area")) === "realestate", "the first other area is chosen");
  await page.keyboard.press("Tab");
  check(
    (await page.evaluate(() => document.activeElement.id)) === "tr-note",
    "Tab reaches the note",
  );
  await page.keyboard.type("请补交户口簿");
  await page.keyboard.press("Enter"); // in the note: 确认转移
  await noTicket(page);
  const noted = await page.evaluate(async (id) => {
    const r = await fetch("/api/v1/tickets", { cache: "no-store" });
    return (await r.json()).tickets.find((t) => t.id === id);
  }, t3.id);
  check(noted && noted.note === "请补交户口簿", "a note typed and sent by the keyboard");
  step = "F1 after the transfer";
  await key(page, "F1");
  const t4 = await called(page, t3.number);
  check(
    t4.number !== t3.number && t4.number !== t1.number,
    "a transferred ticket is not called back here",
  );
  step = "F3";
  await key(page, "F3");
  await settled(
    page,
    (s) => s.window.ticket && s.window.ticket.state === "serving",
    "serving by F3",
  );
  step = "F4";
  await key(page, "F4");
  await noTicket(page);
  // The clerk's own day, as the log counts it, on the page.
  const today = (await status(page)).window.today;
  check(today && today.called >= 3 && today.finished >= 1, "the status counts the clerk's day");
  const dayText = await page.textContent("#q-today");
  check(
    dayText.includes(`叫号 ${today.called}`) && dayText.includes(`办结 ${today.finished}`),
    `the page shows the clerk's day (${dayText})`,
  );

  step = "F7 hold, Shift+F7 return";
  await key(page, "F1");
  const t5 = await called(page, t4.number);
  await key(page, "F7");
  await noTicket(page);
  await page.waitForSelector("#held-box:not([hidden])");
  check((await page.textContent("#held .held-number")) === t5.number, "the held ticket is listed");
  const onHold = (await status(page)).window.held;
  check(
    onHold.length === 1 && onHold[0].id === t5.id,
    "the window's status lists the held ticket",
  );
  // Another tab of the same clerk at window 1 lists it too (no tab keeps
  // its own list: a browser's tabs share the session, not sessionStorage).
  const other = await page.context().newPage();
  await other.addInitScript(() => sessionStorage.setItem("ow.caller.window", "1"));
  await other.goto(args.url, { waitUntil: "load" });
  await other.waitForSelector("#v-caller:not([hidden])");
  await other.waitForSelector("#held-box:not([hidden])");
  check((await other.textContent("#held .held-number")) === t5.number, "another tab lists it");
  await other.close();
  await axe(page, "held-zh");
  await shot(page, "held");
  await key(page, "Shift+F7");
  await page.waitForSelector("#held-box", { state: "hidden" });
  await key(page, "F1");
  await settled(
    page,
    (s) => s.window.ticket && s.window.ticket.id === t5.id && s.window.ticket.state === "called",
    "the returned ticket is called first",
  );
  console.log(`called ${t5.number}`);
  await busShows(`window 1: ${t5.number} `);

  step = "F5 asks first";
  await key(page, "F5");
  await page.waitForSelector("#d-confirm[open]");
  await text(page, "确认过号");
  check(
    (await page.textContent("#confirm-text")).includes(t5.number),
    "the question names the ticket",
  );
  await axe(page, "confirm-zh");
  await shot(page, "confirm-no-show");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#d-confirm", { state: "hidden" });
  st = await status(page);
  check(
    st.window.ticket && st.window.ticket.id === t5.id && st.window.ticket.state === "called",
    "Escape changed nothing",
  );
  await key(page, "F5");
  await page.waitForSelector("#d-confirm[open]");
  await page.keyboard.press("Enter");
  await noTicket(page);

  step = "the recall limit asks first";
  await key(page, "F1");
  const t6 = await called(page, t5.number);
  for (let i = 1; i <= st.max_recalls; i++) {
    // A second press of the same operation within a second is taken for a
    // double press (the same Idempotency-Key): a clerk's pace is slower.
    if (i > 1) await page.waitForTimeout(1100);
    await key(page, "F2");
    await settled(page, (s) => s.window.ticket && s.window.ticket.recalls === i, `recall ${i}`);
  }
  await key(page, "F2");
  await page.waitForSelector("#d-confirm[open]");
  await text(page, "重呼已达上限");
  await page.keyboard.press("Escape");
  await key(page, "F1"); // a call-next would recall it too
  await page.waitForSelector("#d-confirm[open]");
  await page.keyboard.press("Escape");
  st = await status(page);
  check(
    st.window.ticket &&
      st.window.ticket.id === t6.id &&
      st.window.ticket.recalls === st.max_recalls,
    "still called, not a no-show",
  );
  await key(page, "F3");
  await settled(page, (s) => s.window.ticket && s.window.ticket.state === "serving", "serving");
  await key(page, "F4");
  await noTicket(page);

  step = "F10 cancels a called ticket, asking first";
  await key(page, "F1");
  const tc = await called(page, t6.number);
  await key(page, "F10");
  await page.waitForSelector("#d-cancel[open]");
  check((await page.textContent("#cancel-text")).includes(tc.number), "the question names it");
  await axe(page, "cancel-zh");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#d-cancel", { state: "hidden" });
  st = await status(page);
  check(st.window.ticket && st.window.ticket.id === tc.id, "Escape changed nothing");
  await key(page, "F10");
  await page.waitForSelector("#d-cancel[open]");
  await page.keyboard.press("ArrowDown"); // 群众放弃办理 -> 重复取号
  check(await page.isChecked("#c-duplicate"), "the arrow keys choose the reason");
  await page.keyboard.press("Enter");
  await noTicket(page);
  const live = await page.evaluate(async () => (await (await fetch("/api/v1/tickets")).json()).tickets);
  check(!live.some((x) => x.id === tc.id), "the cancelled ticket is no longer live");

  step = "F8 pause with a reason, F8 resume";
  await key(page, "F8");
  await page.waitForSelector("#d-pause[open]");
  await text(page, "暂停原因");
  await axe(page, "pause-zh");
  await page.keyboard.press("ArrowDown"); // 午休 -> 会议
  check(await page.isChecked("#r-meeting"), "the arrow keys choose the reason");
  await page.keyboard.press("Enter");
  await settled(page, (s) => s.window.state === "paused", "paused");
  await page.waitForFunction(
    () => document.querySelector("#w-state").textContent === "暂停（会议）",
  );
  check(await page.isDisabled("#a-call"), "no calls while paused");
  await shot(page, "paused");
  await key(page, "F8");
  await settled(page, (s) => s.window.state === "open", "open again");
  await page.waitForFunction(() => document.querySelector("#w-state").textContent === "开放");

  // ---- English ------------------------------------------------------------------------------
  step = "English";
  await key(page, "F1");
  const t7 = await called(page, t6.number);
  await axe(page, "caller-zh");
  await oneLanguage(page, "zh");
  await shot(page, "caller-zh");
  await page.click("#lang");
  check((await page.getAttribute("html", "lang")) === "en", "html lang is en");
  const labels = await page.$$eval(".act span", (ss) => ss.map((x) => x.textContent));
  check(
    labels.join("|") ===
      "Call next|Recall|Start|Finish|No-show|Transfer|Hold|Pause|Close window|Cancel ticket",
    `the buttons in English (${labels.join(", ")})`,
  );
  for (const t of [
    "Window caller",
    "Current ticket",
    "Called",
    "Waiting for this window",
    "waiting in all",
  ])
    await text(page, t);
  check((await page.textContent("#w-state")) === "Open", "the window's state in English");
  await oneLanguage(page, "en");
  await axe(page, "caller-en");
  await shot(page, "caller-en");
  await key(page, "F5");
  await page.waitForSelector("#d-confirm[open]");
  await text(page, "Mark as no-show");
  await axe(page, "confirm-en");
  await page.keyboard.press("Escape");
  await key(page, "F3");
  await settled(
    page,
    (s) => s.window.ticket && s.window.ticket.id === t7.id && s.window.ticket.state === "serving",
    "serving",
  );
  await text(page, "In service");
  await key(page, "F4");
  await noTicket(page);
  await text(page, "No ticket");
  await page.click("#lang");
  await text(page, "暂无号票");

  // ---- A change made elsewhere shows at once (the change feed, not the 10 s poll) ---------------
  step = "a change made elsewhere";
  const changeAt = Date.now();
  const paused = await page.evaluate(async () => {
    const r = await fetch("/api/v1/windows/1/pause", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": WEB.csrf,
        "Idempotency-Key": "elsewhere-pause-1",
      },
      body: JSON.stringify({ reason: "咨询" }),
    });
    return r.status;
  });
  check(paused === 200, `paused from outside the page (${paused})`);
  // The reason comes with the window's status, whoever paused it.
  await page.waitForFunction(
    () => document.querySelector("#w-state").textContent === "暂停（咨询）",
    null,
    {
      timeout: 5000,
    },
  );
  console.log(`a pause made elsewhere shown after ${Date.now() - changeAt} ms`);
  await key(page, "F8");
  await settled(page, (s) => s.window.state === "open", "open again");

  // ---- A phone --------------------------------------------------------------------------------
  step = "phone";
  await page.setViewportSize({ width: 390, height: 844 });
  await key(page, "F1");
  const t8 = await called(page, t7.number);
  await fits(page, 390, 0);
  const big = await page.$eval("#t-number", (e) => parseFloat(getComputedStyle(e).fontSize));
  check(big >= 60, `the number stays large on a phone (${big} px)`);
  await axe(page, "phone-zh");
  await shot(page, "phone", true);
  await page.setViewportSize({ width: 1366, height: 768 });
  await fits(page, 1366, 768);
  await shot(page, "caller-1366");

  // ---- Every write carried the CSRF token and an Idempotency-Key ------------------------------
  step = "headers";
  check(posts.length > 20, `the page sent the operations (${posts.length})`);
  for (const p of posts) {
    check(p.key && p.key.length >= 16, `${p.op} sent an Idempotency-Key`);
    check(p.csrf && p.csrf.length === 43, `${p.op} sent the CSRF token`);
  }

  // ---- A reload skips the sign-in; sign out everywhere ------------------------------------------
  step = "reload";
  await page.reload({ waitUntil: "load" });
  await visible(page, "#v-caller");
  await settled(
    page,
    (s) => s.window.ticket && s.window.ticket.id === t8.id,
    "the same ticket after a reload",
  );
  await key(page, "F3");
  await settled(page, (s) => s.window.ticket && s.window.ticket.state === "serving", "serving");
  await key(page, "F4");
  await noTicket(page);

  step = "sign out, sign in again: the open window is entered as it is";
  await page.click("#signout");
  await visible(page, "#v-signin");
  await page.fill("#user", user);
  await page.fill("#password", args.password);
  await page.click("#signin");
  await visible(page, "#v-windows");
  await text(page, "开放，工号 c-1");
  check((await page.textContent("#window-signin")) === "进入窗口", "an open window is entered");
  const signIns = posts.filter((p) => p.op === "sign-in").length;
  await page.click("#window-signin");
  await visible(page, "#v-caller");
  check(posts.filter((p) => p.op === "sign-in").length === signIns, "no second sign-in");

  step = "F9 closes the window";
  await key(page, "F9");
  await page.waitForSelector("#d-confirm[open]");
  await text(page, "签退后本窗口停止叫号");
  await page.keyboard.press("Enter");
  await visible(page, "#v-windows");
  st = await status(page);
  check(st.window.state === "closed", `window 1 closed (${st.window.state})`);
  await text(page, "1号窗 综合受理1号窗");
  await page.waitForSelector('#window-list button[data-no="1"] .st-closed');

  step = "sign out everywhere";
  await page.click("#signout-all");
  await visible(page, "#v-signin");
  const gone = await page.evaluate(async () => (await fetch("/api/v1/session")).status);
  check(gone === 401, `the session ended (${gone})`);

  step = "an English error";
  await page.click("#lang");
  await page.fill("#user", user);
  await page.fill("#password", "not-the-password");
  await page.click("#signin");
  await text(page, "wrong user name or password");
  await axe(page, "signin-en");
  await shot(page, "signin-en");
  await page.click("#lang"); // leave the browser's choice as it was
}

main().then(
  () => {
    if (process.exitCode) console.error("web_caller.mjs: the page reported errors");
    else console.log("web_caller.mjs: all checks passed");
  },
  (e) => {
    console.error(`web_caller.mjs: failed at ${step}: ${e.message}`);
    process.exit(1);
  },
);
