// A citizen's tap on a real kioskd's touch page (the kiosk_e2e_touch_to_board test).
//
// test_kiosk_e2e starts halld, printersim, bussim and kioskd, then runs
//   node kiosk_e2e.mjs --url URL --chromium PATH --node-modules DIR --out DIR
// The script opens the page in headless Chromium, waits until the kiosk is
// online and can issue, taps 一键取号 once, waits for the ticket screen and
// prints the number the page shows as one line "ticket NUMBER" (the test
// follows that number through halld, the printer and the bus). A
// screenshot of the ticket screen goes to --out. It exits 0 when it saw a
// ticket, 1 with the reason if not.
// playwright-core comes from --node-modules (tools/install-page-deps); the
// browser is Debian's chromium, never one downloaded by playwright.
import path from "node:path";

import { check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));

const WAIT = 60000; // generous: a loaded 2-core machine
let step = "start";

async function state(page) {
  return page.evaluate(async () => (await fetch("/api/state")).json());
}

async function main() {
  const { browser, page } = await openPage(args, WAIT);
  try {
    step = "open the page";
    await page.goto(args.url);
    await page.waitForSelector('#screen[data-screen="idle"]');

    // Online, with the hall's areas: a tap then asks halld, not the lease.
    step = "kiosk online";
    const until = Date.now() + WAIT;
    for (;;) {
      const m = await state(page);
      if (m.link === "online" && m.areas.length > 0 && m.printer === "ok") break;
      check(Date.now() < until, `kiosk online with a printer (last: ${JSON.stringify(m)})`);
      await page.waitForTimeout(200);
    }
    await page.waitForFunction(() => !document.querySelector("#take").disabled);

    step = "一键取号";
    await page.click("#take");
    step = "ticket screen";
    await page.waitForSelector('#screen[data-screen="ticket"]');
    const m = await state(page);
    check(m.ticket && m.ticket.number, "the model has the ticket");
    check(!m.ticket.offline, "the ticket was issued online");
    const shown = await page.textContent("#screen .number");
    check(shown === m.ticket.number, `the page shows ${m.ticket.number} (shows ${shown})`);
    const file = path.join(args.out, "e2e-ticket.png");
    await page.screenshot({ path: file });
    console.log(`screenshot ${file}`);
    console.log(`ticket ${m.ticket.number}`);
    await page.context().close();
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`kiosk_e2e.mjs: ${step}: ${e.message}`);
  process.exit(1);
});
