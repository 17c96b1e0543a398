// The admin page of hallweb in headless Chromium (the web_admin_chromium
// test).
//
// test_web_admin starts halld and hallweb on a hall with the sample
// catalog, two windows, two clerks and the kiosks kiosk-01 and kiosk-02,
// and runs
//   node web_admin.mjs --url URL --chromium PATH --node-modules DIR --out DIR
//        --user NAME --password PASSWORD --good-catalog FILE --bad-catalog FILE
// The script signs in at /admin as an administrator (the page at 1366x768)
// and, through the pages: adds window 7 (after a refusal: no area chosen),
// adds clerk c-7 (after a refusal: a bad staff number), revokes kiosk-02,
// makes the command that registers kiosk-03 (after a refusal: kiosk-01 is
// taken), imports the bad catalog (refused with its line and column) and
// then the good one, adds a clerk user with a made password and disables
// it (after a question; the administrator's own row offers neither); on the
// calendar tab sets the weekly hours (after a refusal: a bad time), adds a
// holiday (after a refusal: a date that does not exist) and makes "approval"
// the 24-hour area; then checks English, runs axe-core in both languages and a phone viewport. The test
// checks the database and halld afterwards. Screenshots go to --out.
// Exits 0 when every check passed, 1 with the step and reason if not.
import path from "node:path";

import { axeCheck, check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));
for (const k of ["user", "password", "good-catalog", "bad-catalog"])
  if (!args[k]) throw new Error(`missing --${k}`);

const WAIT = 30000; // generous: a loaded 2-core machine
const CJK = /[\u3400-\u9fff\uff00-\uffef]/;
let step = "start";

async function shot(page, name, fullPage = true) {
  const file = path.join(args.out, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot: ${file}`);
}

async function visible(page, sel) {
  await page.waitForSelector(`${sel}:not([hidden])`, { state: "visible" });
}

async function text(page, t, within = "body") {
  await page.locator(within).getByText(t, { exact: false }).first().waitFor({ state: "visible" });
}

async function axe(page, name) {
  const was = step;
  step = `axe ${name}`;
  await axeCheck(page, args["node-modules"], name);
  step = was;
}

// The page's own texts are in one language (the hall's data aside).
async function oneLanguage(page, lang) {
  const texts = await page.$$eval("[data-t], th, #lang, #signout", (els) =>
    els.filter((e) => e.offsetParent !== null).map((e) => e.textContent.trim()).filter((t) => t),
  );
  for (const t of texts) {
    if (lang === "zh") check(!/[A-Za-z]/.test(t) || t === "EN", `no English in Chinese text "${t}"`);
    else check(!CJK.test(t) || t === "中文", `no Chinese in English text "${t}"`);
  }
}

// Nothing wider than the window (a clerk's PC, a phone).
async function fits(page) {
  const over = await page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll("button, h1, h2, h3, label, input, select, p")) {
      if (e.offsetParent === null || e.closest(".scroll")) continue;
      const r = e.getBoundingClientRect();
      if (r.left < -0.5 || r.right > window.innerWidth + 0.5) out.push(e.id || e.textContent.slice(0, 20));
    }
    return out;
  });
  check(over.length === 0, `everything fits the width: ${over.join(", ")}`);
}

async function tab(page, name) {
  await page.click(`.tab[data-tab="${name}"]`);
  await visible(page, `#p-${name}`);
}

// A form's refusal: its sentence shown and the field marked.
async function refused(page, form, field, words) {
  await visible(page, `${form} .form-error`);
  const said = await page.textContent(`${form} .form-error`);
  check(said.includes(words), `${form} says "${words}" (it says "${said}")`);
  if (field) await page.waitForSelector(`${form} [aria-invalid="true"]${field}`);
}

async function walk(page) {
  step = "load";
  await page.goto(`${args.url}admin`, { waitUntil: "load" });
  await visible(page, "#v-signin");
  check((await page.getAttribute("html", "lang")) === "zh-CN", "the page starts in Chinese");
  await oneLanguage(page, "zh");
  await axe(page, "signin-zh");

  step = "sign in";
  await page.fill("#user", args.user);
  await page.fill("#password", args.password);
  await page.click("#signin");
  await visible(page, "#v-admin");
  await text(page, "综合受理", "#windows-table");
  await oneLanguage(page, "zh");
  await fits(page);
  await axe(page, "windows-zh");
  await shot(page, "windows-zh");

  step = "a window without areas";
  await page.fill("#w-no", "7");
  await page.fill("#w-name", "综合受理7号窗");
  await page.selectOption("#w-type", "intake");
  await page.click("#window-form button[type=submit]");
  await refused(page, "#window-form", "#w-areas", "至少选择一个业务区");
  step = "add window 7";
  await page.check("#w-area-intake");
  await page.fill("#w-weight-intake", "2");
  await page.check("#w-area-tax");
  await page.click("#window-form button[type=submit]");
  await text(page, "综合受理7号窗", "#windows-table");
  await text(page, "（2）", "#windows-table");
  check(await page.isHidden("#window-form .form-error"), "the refusal is gone");

  step = "a clerk with a bad staff number";
  await tab(page, "clerks");
  await page.fill("#k-id", "c 7");
  await page.fill("#k-name", "王五");
  await page.click("#clerk-form button[type=submit]");
  await refused(page, "#clerk-form", "#k-id", "字母、数字");
  step = "add clerk c-7";
  await page.fill("#k-id", "c-7");
  await page.click("#clerk-form button[type=submit]");
  await text(page, "王五", "#clerks-table");
  await axe(page, "clerks-zh");

  step = "revoke kiosk-02";
  await tab(page, "devices");
  page.once("dialog", (d) => d.accept());
  await page.click('button[aria-label="吊销 kiosk-02"]');
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#devices-table tr")].some(
      (r) => r.textContent.includes("kiosk-02") && r.textContent.includes("已吊销"),
    ),
  );
  step = "the command for a taken id";
  await page.fill("#d-id", "kiosk-01");
  await page.selectOption("#d-type", "kiosk");
  await page.click("#device-form button[type=submit]");
  await refused(page, "#device-form", "#d-id", "已登记");
  step = "the command for kiosk-03";
  await page.fill("#d-id", "kiosk-03");
  await page.click("#device-form button[type=submit]");
  await visible(page, "#d-command");
  const cmd = await page.textContent("#d-command");
  check(cmd === "hallctl device add --id kiosk-03 --type kiosk", `the command: ${cmd}`);
  await axe(page, "devices-zh");
  await shot(page, "devices-zh");

  step = "import a bad catalog";
  await tab(page, "catalog");
  await page.setInputFiles("#c-file", args["bad-catalog"]);
  await page.click("#catalog-form button[type=submit]");
  await refused(page, "#catalog-form", "#c-file", "第 3 行「area」列");
  await shot(page, "catalog-error-zh");
  step = "import the good catalog";
  await page.setInputFiles("#c-file", args["good-catalog"]);
  await page.click("#catalog-form button[type=submit]");
  await visible(page, "#c-result");
  await text(page, "已导入 6 个业务区", "#c-result");

  step = "add a user";
  await tab(page, "users");
  await page.fill("#u-name", "wangwu");
  await page.selectOption("#u-role", "clerk");
  await page.selectOption("#u-clerk", "c-7");
  await page.click("#user-form button[type=submit]");
  await visible(page, "#u-password");
  const made = /：([2-9A-Za-z]{12})（/.exec(await page.textContent("#u-password"));
  check(made, "a made password is shown once");
  console.log(`password wangwu ${made[1]}`);
  await text(page, "wangwu", "#users-table");
  check((await page.inputValue("#u-name")) === "", "the form is empty again");
  check((await page.locator('button[aria-label="停用 root"]').count()) === 0, "no disabling oneself");

  step = "disable a user, after a question";
  page.once("dialog", (d) => d.accept());
  await page.click('button[aria-label="停用 wangwu"]');
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#users-table tr")].some(
      (r) => r.textContent.includes("wangwu") && r.textContent.includes("已停用"),
    ),
  );
  await axe(page, "users-zh");
  await shot(page, "users-zh");

  step = "hours with a bad time";
  await tab(page, "calendar");
  await text(page, "尚未设置办公时间", "#cal-state");
  await page.fill("#h-open", "8:30");
  await page.fill("#h-close", "17:30");
  await page.click("#hours-form button[type=submit]");
  await refused(page, "#hours-form", "#h-open", "08:30 这样的形式");
  step = "set the hours";
  await page.fill("#h-open", "08:30");
  await page.fill("#h-lunch", "12:00-14:00");
  await page.fill("#h-last", "17:00");
  await page.click("#hours-form button[type=submit]");
  await text(page, "08:30–17:30", "#hours-table");
  await text(page, "12:00-14:00", "#hours-table");
  check((await page.locator("#hours-table tbody tr").count()) === 5, "five weekdays of hours");
  await text(page, "已设置办公时间", "#cal-state");
  step = "a holiday on a date that does not exist";
  await page.fill("#y-date", "2026-02-30");
  await page.selectOption("#y-kind", "holiday");
  await page.fill("#y-name", "国庆节");
  await page.click("#date-form button[type=submit]");
  await refused(page, "#date-form", "#y-date", "真实日期");
  step = "add a holiday";
  await page.fill("#y-date", "2026-10-01");
  await page.click("#date-form button[type=submit]");
  await text(page, "国庆节", "#dates-table");
  await text(page, "2026-10-01", "#dates-table");
  step = "import a year's holidays with a bad line";
  const csv = (body) => ({ name: "holidays.csv", mimeType: "text/csv", buffer: Buffer.from(body) });
  await page.setInputFiles("#d-file", csv("2026-10-02,holiday,,国庆节\n2026-10-3x,holiday,,国庆节\n"));
  await page.click("#dates-import-form button[type=submit]");
  await text(page, "第 2 行", "#dates-import-form .form-error");
  check(!(await page.textContent("#dates-table")).includes("2026-10-02"), "a bad file imports nothing");
  step = "import a year's holidays";
  await page.setInputFiles("#d-file",
    csv("# 国庆节\n2026-10-02,holiday,,国庆节\n2026-10-10,workday,mon,国庆节调休\n"));
  await page.click("#dates-import-form button[type=submit]");
  await text(page, "已导入 2 个日期");
  await text(page, "2026-10-10", "#dates-table");
  await text(page, "2026-10-02", "#dates-table");
  step = "the 24-hour area";
  await page.selectOption("#a-area", "approval");
  await page.selectOption("#a-always", "yes");
  await page.click("#cal-area-form button[type=submit]");
  await text(page, "approval", "#cal-areas-table");
  await oneLanguage(page, "zh");
  await fits(page);
  await axe(page, "calendar-zh");
  await shot(page, "calendar-zh");
  await page.click("#lang");
  await text(page, "Opening hours are set", "#cal-state");
  await oneLanguage(page, "en");
  await axe(page, "calendar-en");
  await page.click("#lang");
  await tab(page, "users");

  step = "English";
  await page.click("#lang");
  await text(page, "Sign-in name", "#users-table");
  await oneLanguage(page, "en");
  await page.fill("#u-name", "Bad Name");
  await page.click("#user-form button[type=submit]");
  await refused(page, "#user-form", "#u-name", "starting with a letter");
  await axe(page, "users-en");
  await shot(page, "users-en");
  await page.click("#lang");

  step = "a phone";
  await page.setViewportSize({ width: 390, height: 844 });
  await tab(page, "windows");
  await fits(page);
  await axe(page, "windows-phone");
  await shot(page, "windows-phone");
}

async function main() {
  const { browser, page } = await openPage(args, WAIT);
  try {
    await page.setViewportSize({ width: 1366, height: 768 });
    await walk(page);
  } finally {
    await browser.close();
  }
}

main().then(
  () => {
    if (process.exitCode) console.error("web_admin.mjs: the page reported errors");
    else console.log("web_admin.mjs: all checks passed");
  },
  (e) => {
    console.error(`web_admin.mjs: failed at ${step}: ${e.message}`);
    process.exit(1);
  },
);
