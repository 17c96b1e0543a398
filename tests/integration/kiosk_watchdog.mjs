// The kiosk page when kioskd hangs (the kiosk_watchdog test).
//
// test_kiosk_watchdog runs kioskd under kioskwatch, then
//   node kiosk_watchdog.mjs --url URL --chromium PATH --node-modules DIR --out DIR
// The script opens the page, reads hold_s from the screen model, prints
// "loaded hold_s N" and waits: the test stops kioskd (SIGSTOP), so no
// model comes any more. The page must then show the element with id
// out-of-service, visible, within hold_s + 3 s (docs/kiosk.md, "When
// kioskd dies or hangs"); the script allows 4 s more for a loaded machine
// and prints "out-of-service" when it is shown. A screenshot goes to
// --out. Exit 0 when it was shown, 1 with the reason if not.
import path from "node:path";

import { check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));
const WAIT = 60000;
let step = "start";

async function main() {
  const { browser, page } = await openPage(args, WAIT);
  try {
    step = "open the page";
    await page.goto(args.url);
    const m = await page.evaluate(async () => (await fetch("/api/state")).json());
    check(Number.isInteger(m.hold_s) && m.hold_s > 0, `hold_s in the model: ${m.hold_s}`);
    step = "live page";
    check(!(await page.isVisible("#out-of-service")), "out-of-service shown on a live kiosk");
    console.log(`loaded hold_s ${m.hold_s}`);
    step = "out of service";
    await page.waitForSelector("#out-of-service", {
      state: "visible",
      timeout: (m.hold_s + 3 + 4) * 1000 + 60000, // the test stops kioskd once it reads "loaded"
    });
    await page.screenshot({ path: path.join(args.out, "kiosk-out-of-service.png") });
    console.log("out-of-service");
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`kiosk_watchdog.mjs failed at "${step}": ${e.message}`);
  process.exit(1);
});
