// The console's page load time, measured in the same headless Chromium as the browser test
// (Debian's chromium, playwright-core from tests/node_modules). A broker is started with a
// little data (10 topics, a consumer group, a dead-letter topic). The first load of all is
// cold (a fresh profile); then each view is reloaded REPS times in the same tab, its files
// revalidating with the ETag (304s). Time = from the navigation to the view's data drawn
// (#main[data-ready]), plus the browser's own DOMContentLoaded. Run by `make bench`
// (bench/harness.py runs bench/bench_*.mjs); WEIR_BENCH_QUICK=1 makes fewer repetitions.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const top = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(top, "tests", "package.json"));
const { chromium } = require("playwright-core");
const weir = process.env.WEIR_BIN || join(top, "build", "weir");
const reps = process.env.WEIR_BENCH_QUICK === "1" ? 5 : 20;

function start(dir) {
  const p = spawn(weir, ["serve", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0",
    "--http-listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  return new Promise((resolve) => p.stdout.on("data", (d) => {
    out += d;
    const k = out.match(/listening on (\S+)/), h = out.match(/http on (\S+)/);
    if (k && h) resolve({ p, kafka: k[1], http: h[1] });
  }));
}

const pct = (a, q) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))];

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "weir-bench-console-"));
  const b = await start(dir);
  process.on("exit", () => b.p.kill("SIGKILL"));
  for (let i = 0; i < 10; i++) execFileSync(weir, ["-b", b.kafka, "topic", "create", `bench-${i}`, "-p", "3"], { stdio: "ignore" });
  execFileSync("kcat", ["-b", b.kafka, "-P", "-t", "bench-0", "-K:"], { input: Array.from({ length: 500 }, (_, i) => `k${i}:{"n":${i},"payload":"${"x".repeat(100)}"}`).join("\n") + "\n" });
  execFileSync("kcat", ["-b", b.kafka, "-G", "bench-group", "-e", "-q", "-o", "beginning", "bench-0"], { stdio: "ignore" });
  execFileSync(weir, ["-b", b.kafka, "topic", "create", "bench-0.dlq"], { stdio: "ignore" });
  const browser = await chromium.launchPersistentContext(join(dir, "chromium"), {
    executablePath: process.env.WEIR_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const pages = ["#/", "#/topics", "#/topics/bench-0", "#/messages/bench-0", "#/groups",
    "#/groups/bench-group", "#/dlq"];
  const rows = [];
  let uiBytes = 0;
  for (const f of ["", "app.js", "style.css"]) {
    const r = await fetch(`http://${b.http}/ui/${f}`);
    uiBytes += (await r.arrayBuffer()).byteLength;
  }
  // The first load of all, in a fresh profile: nothing cached.
  const page = browser.pages()[0] || await browser.newPage();
  let t0 = performance.now();
  await page.goto(`http://${b.http}/ui/#/`);
  await page.waitForSelector("#main[data-ready='1']", { timeout: 10000 });
  const cold = performance.now() - t0;
  for (const hash of pages) {
    // A full reload of the view in the same tab, as a user refreshing it: the files revalidate
    // (304), the data is fetched again.
    const t = [], dcl = [];
    await page.goto(`http://${b.http}/ui/${hash}`);
    await page.waitForSelector("#main[data-ready='1']", { timeout: 10000 });
    for (let i = 0; i < reps; i++) {
      t0 = performance.now();
      await page.reload();
      await page.waitForSelector("#main[data-ready='1']", { timeout: 10000 });
      t.push(performance.now() - t0);
      dcl.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd));
    }
    rows.push({ hash, p50: pct(t, 0.5), p95: pct(t, 0.95), dcl: pct(dcl, 0.5) });
  }
  await browser.close();
  b.p.kill("SIGTERM");
  await new Promise((r) => b.p.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  console.log(`console page load, headless Chromium; UI files ${(uiBytes / 1024).toFixed(1)} KiB`);
  console.log(`first load (fresh profile, nothing cached), overview: ${cold.toFixed(1)} ms`);
  console.log(`reloads per view: ${reps}, time from reload to the view's data drawn`);
  console.log("page                     p50 ms   p95 ms   DOMContentLoaded p50 ms");
  for (const r of rows)
    console.log(`${r.hash.padEnd(24)} ${r.p50.toFixed(1).padStart(6)}   ${r.p95.toFixed(1).padStart(6)}   ${r.dcl.toFixed(1).padStart(23)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
