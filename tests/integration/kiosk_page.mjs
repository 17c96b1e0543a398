// The kiosk touch page in headless Chromium (the kiosk_page_chromium test).
//
// test_kiosk_page starts kpage with a fake screen model and runs
//   node kiosk_page.mjs --url URL --chromium PATH --node-modules DIR --out DIR
// The script walks every screen and status (the fake model's "script"
// action sets them), taps the page's own buttons for the real actions,
// checks what the page shows by the text in the DOM, checks the large-text
// and English modes, and saves screenshots into --out (their paths are
// printed). It exits 0 when every check passed, 1 with the reason if not.
// playwright-core comes from --node-modules (installed by
// tools/install-page-deps); the browser is Debian's chromium, never one
// downloaded by playwright.
import path from "node:path";

import { check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));

const WAIT = 30000; // generous: a loaded 2-core machine
let step = "start";

async function main() {
  const { browser, page } = await openPage(args, WAIT);
  try {
    await walk(page);
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

async function walk(page) {
  step = "load";
  await page.goto(args.url, { waitUntil: "load" });

  // idle: the one-tap button, the areas with waits, the other ways in.
  await screen(page, "idle");
  for (const t of ["示范区政务服务中心", "一键取号", "综合受理", "不动产登记", "等候 3 人",
    "约 9 分钟", "刷身份证", "预约签到", "选择办理区域", "网络正常", "打印机正常"])
    await text(page, t);
  await shot(page, "idle-portrait");

  // Every button is big enough for a finger.
  const small = await page.$$eval("button", (bs) =>
    bs.filter((b) => b.offsetParent !== null && b.getBoundingClientRect().height < 79.5)
      .map((b) => b.textContent));
  check(small.length === 0, `buttons under 80 px: ${small.join(", ")}`);

  // Large text: everything grows; off again restores it.
  step = "large text";
  const before = await fontSize(page, "#take");
  await page.click("#large");
  const after = await fontSize(page, "#take");
  check(after > before * 1.2, `large text grows the take button (${before} -> ${after})`);
  check((await page.getAttribute("#large", "aria-pressed")) === "true", "大字 shows pressed");
  await shot(page, "idle-large");
  await page.click("#large");
  check((await fontSize(page, "#take")) === before, "large text off restores the size");

  // The one tap: 一键取号 -> the model sees take "" -> working.
  step = "一键取号";
  await page.click("#take");
  await screen(page, "working");
  await text(page, "正在出票");
  await text(page, "秒后返回首页");

  // The ticket preview.
  await script(page, "ticket");
  await screen(page, "ticket");
  for (const t of ["请取走您的号票", "A012", "综合受理", "前面还有 3 人", "预计等候约 9 分钟",
    "张*", "2026-03-02 10:05"])
    await text(page, t);
  await shot(page, "ticket");
  await tap(page, "完成");
  await screen(page, "idle");

  // choose: the areas, then one of them.
  await tap(page, "选择办理区域");
  await screen(page, "choose");
  await text(page, "请选择办理区域");
  await text(page, "秒后返回首页");
  step = "area B";
  await page.click('#screen button[data-area="B"]');
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");

  // card: the swipe prompt.
  await tap(page, "刷身份证");
  await screen(page, "card");
  await text(page, "请将身份证放在读卡区");
  await shot(page, "card");
  await tap(page, "返回");
  await screen(page, "idle");

  // appointment: the keypad; a wrong code is refused with the model's
  // sentence, a right one checks in.
  await tap(page, "预约签到");
  await screen(page, "appointment");
  await text(page, "请输入预约码");
  for (const k of "000000") await tap(page, k);
  await tap(page, "确认签到");
  await text(page, "预约码不存在");
  await tap(page, "清空");
  for (const k of "123456") await tap(page, k);
  check((await page.textContent("#code")) === "123456", "the keypad shows the code typed");
  await shot(page, "appointment");
  await tap(page, "确认签到");
  await screen(page, "working");
  await script(page, "idle");
  await screen(page, "idle");

  // error: the model's message and a way back.
  await script(page, "error");
  await screen(page, "error");
  await text(page, "打印机卡纸，请联系工作人员。");
  await shot(page, "error");
  await tap(page, "返回");
  await screen(page, "idle");

  // offline: tickets still issued, from the lease; an offline ticket.
  await script(page, "offline");
  await text(page, "网络中断 — 仍可取号");
  await text(page, "离线可取 48 张");
  check(!(await page.isDisabled("#take")), "offline: 一键取号 still works");
  await shot(page, "idle-offline");
  await script(page, "ticket-offline");
  await screen(page, "ticket");
  await text(page, "A901");
  await text(page, "离线出票");
  await shot(page, "ticket-offline");
  await script(page, "idle");
  await script(page, "online");
  await text(page, "网络正常");

  // paper out: said plainly, the take buttons disabled.
  await script(page, "paper_out");
  await text(page, "打印纸用完 — 请联系工作人员");
  await text(page, "暂时不能出票");
  check(await page.isDisabled("#take"), "paper out: 一键取号 disabled");
  check(await page.isDisabled('#screen button[data-area="A"]'), "paper out: areas disabled");
  await shot(page, "idle-paper-out");
  await script(page, "printer_ok");
  await gone(page, "打印纸用完");

  // closed.
  await script(page, "closed");
  await screen(page, "closed");
  await text(page, "暂停取号");
  await text(page, "本厅今日已停止取号");
  await shot(page, "closed");
  await script(page, "idle");
  await screen(page, "idle");

  // English: every label switches, and the model's message_en is shown.
  step = "English";
  await page.click("#lang");
  for (const t of ["Take a number", "Swipe ID card", "Appointment", "Choose a service area",
    "3 waiting", "about 9 min", "Network OK"])
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

  // Landscape (1920x1080): the same screen fits without sideways scrolling.
  step = "landscape";
  await page.setViewportSize({ width: 1920, height: 1080 });
  await text(page, "一键取号");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 1920, `landscape fits (scrollWidth ${width})`);
  await shot(page, "idle-landscape");
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
