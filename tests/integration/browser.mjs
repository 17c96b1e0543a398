// What the kiosk page scripts share: their command line
//   --url URL --chromium PATH --node-modules DIR --out DIR
// playwright-core from --node-modules (tools/install-page-deps), and
// Debian's headless chromium with the flags this machine's closed network
// needs (never a browser downloaded by playwright), one portrait kiosk page
// whose script errors fail the run.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
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

// axe-core (from --node-modules) on the page as it is: its violations
// printed, and a check that none is serious or critical.
export async function axeCheck(page, modulesDir, name) {
  const src = readFileSync(path.join(modulesDir, "axe-core", "axe.min.js"), "utf8");
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(src);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    }));
  });
  for (const v of r)
    console.log(`axe ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `axe ${name}: ${bad.length} serious or critical violations: ${bad.map((v) => v.id).join(", ")}`,
  );
  console.log(`axe ${name}: no serious or critical violation (${r.length} lesser)`);
}
