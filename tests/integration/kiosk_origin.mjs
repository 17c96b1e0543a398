// Other sites against a real kioskd's touch page, then the page itself (the
// kiosk_page_origin test).
//
// test_kiosk_page_abuse starts halld, printersim and kioskd, then runs
//   node kiosk_origin.mjs --url URL --chromium PATH --node-modules DIR --out DIR
// In headless Chromium:
//   1. another site: a page served by this script on another port of the
//      machine (another origin) posts 一键取号 to the kiosk as a no-cors
//      text/plain fetch, as a JSON fetch (which needs a CORS preflight) and
//      as a form, and tries to read the model: every answer is a refusal
//      the page cannot read, or 403;
//   2. DNS rebinding: evil.example resolves to the kiosk's address
//      (--host-resolver-rules), so a page of evil.example at the kiosk's
//      port is "same origin" with the kiosk as far as the browser knows:
//      the page, the model and an action are all 403;
//   3. the kiosk's own page: still idle, no ticket taken by 1 or 2; 一键取号
//      tapped once; the ticket screen's number is printed as "ticket NUMBER".
// It exits 0 when every check passed, 1 with the reason if not.
import http from "node:http";
import path from "node:path";

import { check, openPage, parseArgs } from "./browser.mjs";

const args = parseArgs(process.argv.slice(2));
const kiosk = new URL(args.url);
const WAIT = 60000; // generous: a loaded 2-core machine
const TAKE = JSON.stringify({ name: "take", param: "" });
let step = "start";

// Another site: one page that tries everything a page may try without the
// kiosk's consent. window.results holds what each attempt saw.
function otherSite() {
  const target = new URL("/api/action", kiosk).href;
  const state = new URL("/api/state", kiosk).href;
  const html = `<!doctype html><meta charset="utf-8"><title>another site</title>
<form id="form" method="POST" action="${target}" enctype="text/plain">
<input name='{"name":"take","param":"' value='"}'></form>
<script>
window.results = {};
(async () => {
  const r = window.results;
  try {
    await fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors",
      headers: { "Content-Type": "text/plain" }, body: ${JSON.stringify(TAKE)} });
    r.noCors = "sent";
  } catch (e) { r.noCors = "failed"; }
  try {
    const res = await fetch(${JSON.stringify(target)}, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: ${JSON.stringify(TAKE)} });
    r.json = "read " + res.status;
  } catch (e) { r.json = "blocked"; }
  try {
    const res = await fetch(${JSON.stringify(state)});
    r.model = "read " + (await res.text());
  } catch (e) { r.model = "blocked"; }
  r.done = true;
})();
</script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function model(page) {
  return page.evaluate(async () => (await fetch("/api/state")).json());
}

async function main() {
  const server = await otherSite();
  const other = `http://127.0.0.1:${server.address().port}/`;
  const { browser, page } = await openPage(args, WAIT, [
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
  ]);
  try {
    // 1. Another site's page.
    step = "another site";
    await page.goto(other);
    await page.waitForFunction(() => window.results && window.results.done);
    const r = await page.evaluate(() => window.results);
    check(r.json === "blocked", `the JSON action's preflight is refused (${r.json})`);
    check(r.model === "blocked", `the model cannot be read (${r.model})`);
    check(r.noCors === "sent" || r.noCors === "failed", `the no-cors post went (${r.noCors})`);
    step = "another site's form";
    const [formAnswer] = await Promise.all([
      page.waitForNavigation(),
      page.evaluate(() => document.getElementById("form").submit()),
    ]);
    check(formAnswer.status() === 403, `the form is refused (${formAnswer.status()})`);

    // 2. A rebound name for the kiosk's address.
    step = "DNS rebinding";
    const rebound = `http://evil.example:${kiosk.port}/`;
    const pageAnswer = await page.goto(rebound);
    check(pageAnswer.status() === 403, `the page under a rebound name (${pageAnswer.status()})`);
    const statuses = await page.evaluate(async (take) => {
      const a = await fetch("/api/action", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: take });
      const m = await fetch("/api/state");
      return [a.status, m.status, await m.text()];
    }, TAKE);
    check(statuses[0] === 403, `an action under a rebound name (${statuses[0]})`);
    check(statuses[1] === 403 && !statuses[2].includes('"seq"'),
      `the model under a rebound name (${statuses[1]} ${statuses[2]})`);

    // 3. The kiosk's own page: nothing happened, and one tap prints one.
    step = "the kiosk's own page";
    await page.goto(args.url);
    await page.waitForSelector('#screen[data-screen="idle"]');
    const until = Date.now() + WAIT;
    for (;;) {
      const m = await model(page);
      check(m.screen === "idle" && m.ticket === null, `no ticket was taken (${JSON.stringify(m)})`);
      if (m.link === "online" && m.areas.length > 0 && m.printer === "ok") break;
      check(Date.now() < until, `kiosk online with a printer (last: ${JSON.stringify(m)})`);
      await page.waitForTimeout(200);
    }
    await page.waitForFunction(() => !document.querySelector("#take").disabled);
    step = "一键取号";
    await page.click("#take");
    await page.waitForSelector('#screen[data-screen="ticket"]');
    const m = await model(page);
    check(m.ticket && m.ticket.number, "the model has the ticket");
    const shown = await page.textContent("#screen .number");
    check(shown === m.ticket.number, `the page shows ${m.ticket.number} (shows ${shown})`);
    const file = path.join(args.out, "origin-own-ticket.png");
    await page.screenshot({ path: file });
    console.log(`screenshot ${file}`);
    console.log(`ticket ${m.ticket.number}`);
    await page.context().close();
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(`kiosk_origin.mjs: ${step}: ${e.message}`);
  process.exit(1);
});
