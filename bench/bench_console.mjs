// The console's page load time, measured in the same headless Chromium as the browser test
// (Debian's chromium, playwright-core from tests/node_modules). A broker is started with a
// little data (10 topics, a consumer group, a dead-letter topic); each page is loaded in a
// fresh tab REPS times: the first load is cold (no cache), the rest revalidate with the ETag
// (304s). Time = navigation start to the view's data drawn (#main[data-ready]), plus the
// browser's own Navigation Timing (DOMContentLoaded, load). Run by `make bench`
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
  for (const hash of pages) {
    const t = [], dcl = [];
    for (let i = 0; i < reps; i++) {
      const page = await browser.newPage();
      const t0 = performance.now();
      await page.goto(`http://${b.http}/ui/${hash}`);
      await page.waitForSelector("#main[data-ready='1']", { timeout: 10000 });
      t.push(performance.now() - t0);
      dcl.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd));
      await page.close();
    }
    rows.push({ hash, cold: t[0], p50: pct(t.slice(1), 0.5), p95: pct(t.slice(1), 0.95), dcl: pct(dcl, 0.5) });
  }
  await browser.close();
  b.p.kill("SIGTERM");
  await new Promise((r) => b.p.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  console.log(`console page load, headless Chromium, ${reps} loads per page (first cold), UI files ${(uiBytes / 1024).toFixed(1)} KiB`);
  console.log("page                     cold ms   warm p50 ms   warm p95 ms   DOMContentLoaded p50 ms");
  for (const r of rows)
    console.log(`${r.hash.padEnd(24)} ${r.cold.toFixed(1).padStart(7)}   ${r.p50.toFixed(1).padStart(11)}   ${r.p95.toFixed(1).padStart(11)}   ${r.dcl.toFixed(1).padStart(23)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
