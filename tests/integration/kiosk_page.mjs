// The kiosk touch page in headless Chromium (kiosk_page_chromium and
// kiosk_page_layouts).
//
// test_kiosk_page starts kpage with a fake screen model and runs
//   node kiosk_page.mjs --url URL --chromium PATH --node-modules DIR --out DIR
//                       [--mode walk|layouts]
// walk (kiosk_page_chromium): every screen and status (the fake model's
//   "script" action sets them), the page's own buttons tapped for the real
//   actions (one tap, tiles, matters, keypads, ID card check-in, green
//   channel, the own ticket with cancel, the confirm question, a scanner's
//   burst of keys), what the page shows checked by the text in the DOM,
//   large text and English, out of service and its recovery.
// layouts (kiosk_page_layouts): every screen state in portrait and
//   landscape x normal and large text x Chinese and English: axe-core finds
//   no serious violation, every control lies inside the viewport and shows
//   all of its content, nothing needs scrolling, every visible text has a
//   contrast of at least 7:1 against its background (WCAG relative
//   luminance, measured here), and a screenshot of each is saved.
// Screenshots go into --out (their paths are printed). The script exits 0
// when every check passed, 1 with the reason if not. playwright-core and
// axe-core come from --node-modules (tools/install-page-deps); the browser
// is Debian's chromium, never one downloaded by playwright.
import path from "node:path";

import { axeCheck, check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));
const mode = args.mode || "walk";

const WAIT = 30000; // generous: a loaded 2-core machine
let step = "start";

async function main() {
  const { browser, page } = await openPage(args, WAIT);
  try {
    step = "load";
    await page.goto(args.url, { waitUntil: "load" });
    if (mode === "layouts") await layouts(page);
    else await walk(page);
    await page.context().close();
  } finally {
    await browser.close();
  }
}

// The fake model's shortcut, through the page's own origin.
async function script(page, what) {
  const r = await page.evaluate(async (p) => {
    const res = await fetch("/api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "script", param: p }),
    });
    return res.json();
  }, what);
  check(r.ok, `script ${what} accepted`);
}

async function screen(page, name) {
  step = `screen ${name}`;
  await page.waitForSelector(`#screen[data-screen="${name}"]`, { timeout: WAIT });
}

async function text(page, t) {
  step = `text "${t}"`;
  await page.getByText(t, { exact: false }).first().waitFor({ state: "visible", timeout: WAIT });
}

async function gone(page, t) {
  step = `text "${t}" gone`;
  await page.getByText(t, { exact: false }).first().waitFor({ state: "detached", timeout: WAIT });
}

async function tap(page, label) {
  step = `tap "${label}"`;
  await page.getByRole("button", { name: label, exact: true }).first().click();
}

async function shot(page, name) {
  const file = path.join(args.out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  console.log(`screenshot: ${file}`);
}

async function fontSize(page, sel) {
  return page.$eval(sel, (e) => parseFloat(getComputedStyle(e).fontSize));
}

// The keys of the keypad on screen, in order, without 删除/清空.
async function keys(page) {
  return (await page.$$eval("#screen .key:not(.fn)", (ks) => ks.map((k) => k.textContent))).join("");
}

// A QR scanner's burst: every key of text and Enter within one task (a
// scanner types far faster than a hand), or gapMs apart.
async function scanKeys(page, text, gapMs) {
  await page.evaluate(async ({ text, gapMs }) => {
    const send = (key) =>
      document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true }));
    for (const k of [...text, "Enter"]) {
      send(k);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
  }, { text, gapMs });
}

async function walk(page) {
  // idle: the one-tap button, the tiles with letter, waiting count and
  // wait, the other ways in, the green channel, the guides.
  await screen(page, "idle");
  for (const t of ["示范区政务服务中心", "一键取号", "综合受理", "不动产登记", "等候 3 人",
    "约 9 分钟", "刷身份证取号", "预约签到", "查询我的号", "绿色通道", "老年人、残疾人、军人等优先",
    "号票从下方出票口送出", "身份证请放在下方读卡区", "网络正常", "打印机正常"])
    await text(page, t);
  check((await page.textContent('button[data-area="B"] .letter')) === "B", "tile B shows its letter");
  check((await page.$$("h1")).length === 1, "exactly one h1");
  const viewport = await page.getAttribute('meta[name="viewport"]', "content");
  check(!/user-scalable|maximum-scale/.test(viewport), `zoom allowed (${viewport})`);
  await shot(page, "idle-portrait");

  // Every button is big enough for a finger.
  const small = await page.$$eval("button", (bs) =>
    bs.filter((b) => b.offsetParent !== null && b.getBoundingClientRect().height < 79.5)
      .map((b) => b.textContent));
  check(small.length === 0, `buttons under 80 px: ${small.join(", ")}`);

  // Large text: everything grows, stays through the visit, ends at idle.
  step = "large text";
  const before = await fontSize(page, "#take");
  await page.click("#large");
  const after = await fontSize(page, "#take");
  check(after > before * 1.2, `large text grows the take button (${before} -> ${after})`);
  check((await page.getAttribute("#large", "aria-pressed")) === "true", "大字 shows pressed");
  await shot(page, "idle-large");
  await page.click("#take");
  await screen(page, "working");
  check((await page.getAttribute("#large", "aria-pressed")) === "true", "大字 kept after a tap");
  await script(page, "ticket");
  await screen(page, "ticket");
  check((await page.getAttribute("#large", "aria-pressed")) === "true", "大字 kept to the ticket");
  await tap(page, "完成");
  await screen(page, "idle");
  check((await page.getAttribute("#large", "aria-pressed")) === "false", "大字 ends at idle");
  check((await fontSize(page, "#take")) === before, "the next citizen gets the usual size");

  // The one tap.
  step = "一键取号";
  await page.click("#take");
  await screen(page, "working");
  await text(page, "正在出票");
  await text(page, "秒后返回首页");

  // The ticket preview: letter and number, area, wait, windows, matter,
  // materials, the missed-call rule, marks, the QR picture.
  await script(page, "ticket");
  await screen(page, "ticket");
  for (const t of ["请在下方出票口取走号票", "B012", "不动产登记", "前面还有 3 人", "约 9 分钟",
    "请到 1、2 号窗口办理", "办理事项：房屋转移登记", "请准备以下材料", "买卖合同",
    "过号请在10分钟内回到取号机重新排队", "预约", "张*", "2026-03-02 10:05"])
    await text(page, t);
  step = "ticket QR";
  await page.waitForFunction(() => {
    const q = document.querySelector("#screen img.qr");
    return q && q.complete && q.naturalWidth > 0;
  });
  await shot(page, "ticket");
  await tap(page, "完成");
  await screen(page, "idle");

  // A tile with matters opens the matter list; a matter takes it.
  step = "tile B";
  await page.click('#screen button[data-area="B"]');
  await screen(page, "matter");
  for (const t of ["请选择办理事项", "不动产登记", "房屋转移登记", "所需材料：身份证、不动产权证书、买卖合同",
    "跳过，不选事项直接取号"])
    await text(page, t);
  await page.click('#screen button[data-matter="B01"]');
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");
  // ... or is skipped: the area without a matter.
  await page.click('#screen button[data-area="B"]');
  await screen(page, "matter");
  await page.click("#skip");
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");
  // A tile without matters takes at once.
  await page.click('#screen button[data-area="C"]');
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");

  // Many areas: five tiles and the area list, a page at a time.
  await script(page, "many_areas");
  await text(page, "更多区域（共 12 个）");
  check((await page.$$("#screen button[data-area]")).length === 5, "five tiles on idle");
  await tap(page, "更多区域（共 12 个）");
  await screen(page, "choose");
  await text(page, "第 1 页，共 2 页");
  check(await page.isDisabled("#prev"), "no page before the first");
  check((await page.$$('#screen button[data-area="M"]')).length === 0, "M is on page 2");
  await page.click("#next");
  await text(page, "第 2 页，共 2 页");
  await page.click('#screen button[data-area="M"]');
  await screen(page, "working");
  await script(page, "few_areas");
  await script(page, "idle");
  await screen(page, "idle");

  // card: the swipe prompt with its picture.
  await tap(page, "刷身份证取号");
  await screen(page, "card");
  await text(page, "请将身份证放在下方读卡区");
  check((await page.$$('#screen use[href="#pic-card"]')).length === 1, "card picture shown");
  await shot(page, "card");
  await tap(page, "返回");
  await screen(page, "idle");

  // appointment: the keypad is the model's alphabet; a wrong code is
  // refused with the model's sentence, a right one checks in.
  await tap(page, "预约签到");
  await screen(page, "appointment");
  await text(page, "请输入预约码");
  check((await keys(page)) === "1234567890", `digit keypad (${await keys(page)})`);
  for (const k of "000000") await tap(page, k);
  await tap(page, "确认签到");
  await text(page, "预约码不存在");
  // A refusal is "中文 / English": only the page's language is shown.
  const refusal = await page.textContent("#notice");
  check(!/[A-Za-z]/.test(refusal), `the Chinese refusal has no English in it (${refusal})`);
  await tap(page, "清空");
  for (const k of "12345") await tap(page, k);
  check(await page.isDisabled("#appt-ok"), "check-in waits for the code's 6 characters");
  await tap(page, "6");
  check((await page.textContent("#code")) === "123456", "the keypad shows the code typed");
  await tap(page, "7");
  check((await page.textContent("#code")) === "123456", "no more than the code's 6 characters");
  await shot(page, "appointment");
  await tap(page, "确认签到");
  await screen(page, "working");
  await script(page, "letters");
  await script(page, "appointment");
  await screen(page, "appointment");
  step = "letter keypad";
  await page.waitForFunction(() => document.querySelectorAll("#screen .key").length > 20);
  check((await keys(page)) === "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", `letter keypad (${await keys(page)})`);
  for (const k of "AB1") await tap(page, k);
  check(await page.isDisabled("#appt-ok"), "check-in waits for 4 characters");
  await tap(page, "Z");
  check(!(await page.isDisabled("#appt-ok")), "4 characters may check in");
  await shot(page, "appointment-letters");
  // Check-in by ID card instead of the code.
  await tap(page, "刷身份证签到");
  await screen(page, "card");
  await text(page, "请刷身份证签到预约。");
  await script(page, "digits");
  await tap(page, "返回");
  await screen(page, "idle");

  // The green channel: marked on idle, its own screen, an area issues.
  await page.click("#green");
  await screen(page, "green");
  await text(page, "绿色通道：请选择办理区域");
  await shot(page, "green");
  await page.click('#screen button[data-area="C"]');
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");
  await script(page, "green_off");
  await gone(page, "老年人、残疾人、军人等优先");
  check((await page.$$("#green")).length === 0, "no green entry when it is off");
  await script(page, "green_on");
  await text(page, "老年人、残疾人、军人等优先");

  // The own ticket: typed on its keypad, then cancelled.
  await tap(page, "查询我的号");
  await screen(page, "mine");
  await text(page, "请输入号票上的号码");
  check((await keys(page)) === "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "letters A–Z and digits");
  for (const k of "B012") await tap(page, k);
  await tap(page, "查询");
  await text(page, "等候中");
  await text(page, "前面还有 4 人");
  check((await page.$$("#mine-rejoin")).length === 0, "no rejoin for a waiting ticket");
  await shot(page, "mine");
  // Typed, not scanned: cancelling needs the check code on the ticket.
  check((await page.$$("#mine-cancel")).length === 0, "no cancel without the check code");
  await tap(page, "输入核验码取消此号");
  await text(page, "请输入号票上的4位核验码");
  check((await keys(page)) === "1234567890", `the check code's keypad is digits (${await keys(page)})`);
  await tap(page, "返回");
  await text(page, "等候中"); // back to the ticket, not to the start
  await tap(page, "输入核验码取消此号");
  for (const k of "123") await tap(page, k);
  check(await page.isDisabled("#check-ok"), "the check code needs its 4 digits");
  await tap(page, "4");
  await shot(page, "mine-check");
  await tap(page, "确认");
  await text(page, "等候中");
  await tap(page, "取消此号");
  await text(page, "已取消");
  check((await page.$$("#mine-cancel")).length === 0, "cancelled: no cancel button");
  await tap(page, "返回");
  await screen(page, "idle");
  // A missed ticket may rejoin.
  await script(page, "mine-missed");
  await screen(page, "mine");
  await text(page, "已过号");
  await text(page, "请在 10:45 前重新排队");
  await tap(page, "重新排队");
  await text(page, "等候中");
  await script(page, "idle");
  await screen(page, "idle");

  // A scanner's burst ending with Enter, on any screen; keys typed by hand
  // (far apart) are never taken for a scan.
  step = "scanner";
  await scanKeys(page, "C999", 300);
  await scanKeys(page, "B012", 0);
  await screen(page, "mine");
  await text(page, "等候中");
  await script(page, "idle");
  await screen(page, "idle");

  // The confirm question: no goes back, yes issues.
  await script(page, "confirm");
  await screen(page, "confirm");
  await text(page, "仍要取号吗？");
  await shot(page, "confirm");
  await tap(page, "否，返回");
  await screen(page, "idle");
  await script(page, "confirm");
  await screen(page, "confirm");
  await tap(page, "是，继续");
  await screen(page, "working");

  // errors: the model's message, the picture of its kind, a way back.
  await script(page, "error");
  await screen(page, "error");
  await text(page, "打印机故障");
  await text(page, "打印机卡纸，请联系工作人员。");
  check((await page.$$('#screen use[href="#pic-printer"]')).length === 1, "printer picture");
  await shot(page, "error");
  await tap(page, "返回");
  await screen(page, "idle");
  await script(page, "error-card");
  await text(page, "未能读取身份证");
  check((await page.$$('#screen use[href="#pic-card"]')).length === 1, "card picture");
  await script(page, "error-limit");
  await text(page, "已达取号上限");
  await script(page, "idle");
  await screen(page, "idle");

  // offline: tickets still issued, from the lease; an offline ticket.
  await script(page, "offline");
  await text(page, "网络中断，仍可取号");
  await text(page, "离线可取 48 张");
  check(!(await page.isDisabled("#take")), "offline: 一键取号 still works");
  await shot(page, "idle-offline");
  await script(page, "ticket-offline");
  await screen(page, "ticket");
  await text(page, "A901");
  await text(page, "离线出票");
  await script(page, "idle");
  await script(page, "online");
  await text(page, "网络正常");

  // paper out: said plainly, every take control disabled; then the
  // kiosk's closed screen for it.
  await script(page, "paper_out");
  await text(page, "打印纸用完，请联系工作人员");
  await text(page, "暂时不能出票");
  check(await page.isDisabled("#take"), "paper out: 一键取号 disabled");
  check(await page.isDisabled('#screen button[data-area="A"]'), "paper out: areas disabled");
  check(await page.isDisabled("#green"), "paper out: green channel disabled");
  await script(page, "closed-paper");
  await screen(page, "closed");
  await text(page, "暂停取号：打印机不能出票");
  await shot(page, "closed-paper");
  await script(page, "printer_ok");
  await script(page, "idle");
  await gone(page, "打印纸用完");

  // An area closed: its tile disabled with its opening time.
  await script(page, "area_closed");
  await text(page, "14:00 开始取号");
  check(await page.isDisabled('#screen button[data-area="D"]'), "closed area disabled");
  check(!(await page.isDisabled('#screen button[data-area="C"]')), "other areas open");
  await script(page, "area_open");
  await gone(page, "14:00 开始取号");

  // The hall closed for the day.
  await script(page, "closed");
  await screen(page, "closed");
  await text(page, "今日已停止取号");
  await text(page, "明天 8:30 开始取号");
  check((await page.$$("#screen button")).length === 0, "closed: no take control");
  await shot(page, "closed");
  await script(page, "idle");
  await screen(page, "idle");

  // English: every label switches, model texts use their English forms
  // (the Chinese name where there is none).
  step = "English";
  await page.click("#lang");
  for (const t of ["Take a number", "Swipe ID card", "Appointment check-in", "My ticket",
    "Green channel", "Real estate registration", "公积金", "3 waiting", "about 9 min", "Network OK",
    "Tickets come out of the slot below"])
    await text(page, t);
  check((await page.getAttribute("html", "lang")) === "en", "html lang is en");
  await shot(page, "idle-en");
  await script(page, "error");
  await screen(page, "error");
  await text(page, "The printer is jammed");
  await text(page, "Back to the start in");
  await shot(page, "error-en");
  // Back at idle the next citizen starts in Chinese again.
  await script(page, "idle");
  await screen(page, "idle");
  await text(page, "一键取号");

  // Out of service: the model stops answering; the page says so after
  // hold_s + 3 s, hides every take control, and comes back by itself.
  step = "out of service";
  await script(page, "broken");
  await page.waitForSelector("#out-of-service", { state: "visible", timeout: WAIT });
  await text(page, "暂停服务 — 请联系工作人员");
  check((await page.$$("#screen button")).length === 0, "out of service: no take control");
  await shot(page, "out-of-service");
  await script(page, "fixed");
  await screen(page, "idle");
  check((await page.$$("#out-of-service")).length === 0, "out of service ends by itself");
  check(!(await page.isDisabled("#take")), "一键取号 back");

  // Landscape (1920x1080): the same screen fits without scrolling.
  step = "landscape";
  await page.setViewportSize({ width: 1920, height: 1080 });
  await text(page, "一键取号");
  const size = await page.evaluate(() => [document.documentElement.scrollWidth,
    document.documentElement.scrollHeight]);
  check(size[0] <= 1920 && size[1] <= 1080, `landscape fits (${size})`);
  await shot(page, "idle-landscape");
}

// ---- layouts ---------------------------------------------------------

// Every screen state: the scripts that reach it from idle, what marks it
// drawn (in Chinese, the mode it is reached in), the scripts that undo it.
const STATES = [
  { name: "idle", run: ["idle"], ready: "一键取号" },
  { name: "area-list", run: ["many_areas", "choose"], ready: "请选择办理区域", undo: ["few_areas"] },
  { name: "matter-list", run: ["matter-long"], ready: "请选择办理事项" },
  { name: "card-prompt", run: ["card"], ready: "请将身份证放在下方读卡区" },
  { name: "card-error", run: ["error-card"], ready: "未能读取身份证" },
  { name: "appointment-keypad", run: ["letters", "appointment"], ready: "请输入预约码", undo: ["digits"] },
  { name: "printing", run: ["working"], ready: "正在出票" },
  { name: "ticket", run: ["ticket"], ready: "请在下方出票口取走号票" },
  { name: "ticket-consult", run: ["ticket-consult"], ready: "请先到咨询台出示证件确认" },
  { name: "error", run: ["error-printer"], ready: "打印机卡纸" },
  { name: "paper-out", run: ["closed-paper"], ready: "暂停取号：打印机不能出票", undo: ["printer_ok"] },
  { name: "hall-closed", run: ["hours"], ready: "明天 8:30 开始取号" },
  { name: "area-closed", run: ["area_closed", "idle"], ready: "14:00 开始取号", undo: ["area_open"] },
  { name: "offline", run: ["offline", "idle"], ready: "离线可取 48 张", undo: ["online"] },
  { name: "out-of-service", run: ["broken"], ready: "暂停服务", undo: ["fixed"] },
  { name: "green", run: ["green"], ready: "绿色通道：请选择办理区域" },
  { name: "mine-keypad", run: ["mine"], ready: "请输入号票上的号码" },
  { name: "mine-ticket", run: ["mine-missed"], ready: "重新排队" },
  { name: "confirm", run: ["confirm"], ready: "仍要取号吗" },
];

const VIEWS = [
  { name: "portrait", width: 1080, height: 1920 },
  { name: "landscape", width: 1920, height: 1080 },
];

// Set the page's own modes by tapping its buttons, as a citizen would.
async function setModes(page, lang, large) {
  if ((await page.getAttribute("#lang", "aria-pressed")) !== String(lang === "en"))
    await page.click("#lang");
  if ((await page.getAttribute("#large", "aria-pressed")) !== String(large))
    await page.click("#large");
  await page.waitForFunction(([l, g]) =>
    document.documentElement.lang === (l === "en" ? "en" : "zh-CN") &&
    document.documentElement.classList.contains("large") === g, [lang, large]);
}

// What is wrong with the layout as drawn: controls outside the viewport or
// under 80 px, content cut off in a control or spilling out of any box on
// the screen, controls overlapping, anything needing a scroll.
async function layoutProblems(page) {
  return page.evaluate(() => {
    const bad = [];
    const W = window.innerWidth, H = window.innerHeight;
    const visible = (e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
    };
    const name = (e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} "${e.textContent.trim().slice(0, 24)}"`;
    for (const e of document.querySelectorAll("button, input, select, textarea, a[href]")) {
      if (!visible(e)) continue;
      const r = e.getBoundingClientRect();
      if (r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5)
        bad.push(`outside the viewport: ${name(e)} at ${Math.round(r.left)},${Math.round(r.top)}-` +
          `${Math.round(r.right)},${Math.round(r.bottom)}`);
      if (r.height < 79.5) bad.push(`under 80 px: ${name(e)} ${r.height}`);
      if (e.scrollHeight > e.clientHeight + 2 || e.scrollWidth > e.clientWidth + 2)
        bad.push(`content cut off: ${name(e)} ${e.scrollWidth}x${e.scrollHeight} in ` +
          `${e.clientWidth}x${e.clientHeight}`);
    }
    // Nothing on the screen spills out of its box onto its neighbours.
    for (const e of document.querySelectorAll("#screen, #screen *")) {
      if (!(e instanceof HTMLElement) || e.clientHeight === 0 || !visible(e)) continue;
      if (e.scrollHeight > e.clientHeight + 2 || e.scrollWidth > e.clientWidth + 2)
        bad.push(`spills out: ${name(e)} ${e.scrollWidth}x${e.scrollHeight} in ` +
          `${e.clientWidth}x${e.clientHeight}`);
    }
    // No two controls overlap.
    const controls = [...document.querySelectorAll("button")].filter(visible);
    for (let i = 0; i < controls.length; i++)
      for (let j = i + 1; j < controls.length; j++) {
        const a = controls[i].getBoundingClientRect(), b = controls[j].getBoundingClientRect();
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
          bad.push(`overlap: ${name(controls[i])} and ${name(controls[j])}`);
      }
    const d = document.documentElement;
    if (d.scrollHeight > H + 0.5 || d.scrollWidth > W + 0.5)
      bad.push(`the page scrolls: ${d.scrollWidth}x${d.scrollHeight} in ${W}x${H}`);
    const s = document.getElementById("screen");
    if (s.scrollHeight > s.clientHeight + 1)
      bad.push(`the screen scrolls: ${s.scrollHeight} in ${s.clientHeight}`);
    return bad;
  });
}

// Every visible text against its background: WCAG 2 contrast ratio from
// the relative luminance of the computed colours (backgrounds composited
// up the tree over white). Returns those under min.
async function contrastProblems(page, min) {
  return page.evaluate((min) => {
    const parse = (s) => {
      const m = /^rgba?\(([^)]*)\)$/.exec(s);
      if (!m) return null;
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
    };
    const lin = (v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
    const background = (e) => {
      const layers = [];
      for (let n = e; n; n = n.parentElement) {
        const c = parse(getComputedStyle(n).backgroundColor);
        if (c === null) return null;
        if (c.a > 0) {
          layers.push(c);
          if (c.a >= 1) break;
        }
      }
      let rgb = [255, 255, 255];
      for (let i = layers.length - 1; i >= 0; i--)
        rgb = rgb.map((v, k) => layers[i].rgb[k] * layers[i].a + v * (1 - layers[i].a));
      return rgb;
    };
    const bad = [];
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let count = 0;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const e = n.parentElement;
      if (!n.textContent.trim() || seen.has(e)) continue;
      seen.add(e);
      const r = e.getBoundingClientRect();
      const st = getComputedStyle(e);
      if (r.width === 0 || r.height === 0 || st.visibility === "hidden" || e.closest("[hidden]")) continue;
      count++;
      const fg = parse(st.color);
      const bg = background(e);
      if (!fg || !bg) {
        bad.push(`colour not understood: ${st.color} / ${e.tagName}.${e.className}`);
        continue;
      }
      const f = fg.rgb.map((v, k) => v * fg.a + bg[k] * (1 - fg.a));
      const l1 = lum(f), l2 = lum(bg);
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      if (ratio < min)
        bad.push(`${ratio.toFixed(2)}:1 ${e.tagName.toLowerCase()}.${e.className} ` +
          `"${n.textContent.trim().slice(0, 24)}" (${st.color} on rgb(${bg.map(Math.round)}))`);
    }
    if (count === 0) bad.push("no text measured");
    return bad;
  }, min);
}

// Every problem of every form is listed before the run fails.
async function layouts(page) {
  await screen(page, "idle");
  const failures = [];
  let shots = 0;
  for (const st of STATES) {
    step = `state ${st.name}`;
    await setModes(page, "zh", false);
    for (const s of st.run) await script(page, s);
    await text(page, st.ready);
    for (const v of VIEWS) {
      await page.setViewportSize({ width: v.width, height: v.height });
      for (const large of [false, true]) {
        for (const lang of ["zh", "en"]) {
          const name = `${st.name}-${v.name}-${large ? "large" : "normal"}-${lang}`;
          step = name;
          await setModes(page, lang, large);
          if (st.name === "ticket")
            await page.waitForFunction(() => {
              const q = document.querySelector("#screen img.qr");
              return q && q.complete && q.naturalWidth > 0;
            });
          const layout = await layoutProblems(page);
          const contrast = await contrastProblems(page, 7);
          await shot(page, name);
          shots++;
          for (const p of layout) failures.push(`${name}: ${p}`);
          for (const p of contrast) failures.push(`${name}: contrast under 7:1: ${p}`);
          try {
            await axeCheck(page, args["node-modules"], name);
          } catch (e) {
            failures.push(e.message);
          }
        }
      }
    }
    await page.setViewportSize({ width: 1080, height: 1920 });
    for (const s of st.undo || []) await script(page, s);
    await setModes(page, "zh", false);
    await script(page, "idle");
    await screen(page, "idle");
  }
  console.log(`layouts: ${shots} screen states checked`);
  for (const f of failures) console.error(`layout problem: ${f}`);
  check(failures.length === 0, `${failures.length} layout problems`);
}

main().then(
  () => {
    if (process.exitCode) console.error("kiosk_page.mjs: the page reported errors");
    else console.log("kiosk_page.mjs: all checks passed");
  },
  (e) => {
    console.error(`kiosk_page.mjs: failed at ${step}: ${e.message}`);
    process.exit(1);
  }
);
