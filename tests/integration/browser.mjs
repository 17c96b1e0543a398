// What the kiosk page scripts share: their command line
//   --url URL --chromium PATH --node-modules DIR --out DIR
// playwright-core from --node-modules (tools/install-page-deps), and
// Debian's headless chromium with the flags this machine's closed network
// needs (never a browser downloaded by playwright), one portrait kiosk page
// whose script errors fail the run.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";

export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i + 1 < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["url", "chromium", "node-modules", "out"])
    if (!out[k]) throw new Error(`missing --${k}`);
  return out;
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// The browser and a 1080x1920 page with timeout ms as its default wait;
// extraArgs go to chromium as well.
export async function openPage(args, timeout, extraArgs = []) {
  const require = createRequire(path.join(args["node-modules"], "..", "package.json"));
  const { chromium } = require("playwright-core");

  mkdirSync(args.out, { recursive: true });
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    timeout: 120000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1080, height: 1920 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (e) => {
    console.error(`page error: ${e.message}`);
    process.exitCode = 1;
  });
  return { browser, page };
}
