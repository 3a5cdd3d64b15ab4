// timeout: 150
// The web console in a real browser: headless Chromium (Debian's) driven by Playwright
// (playwright-core, pinned in tests/package.json). Against a broker started here, it checks
// that every page loads without a console error, that a topic created in the UI appears in
// `weir topic list`, that a record produced with kcat appears in the message browser, and that
// an offset reset done in the UI is what `kafka-consumer-groups --describe` shows (when the
// Kafka CLI tools are installed: `make deps`; else `weir group describe`), that spans POSTed to
// /v1/traces show as an event's journey, and that the live metrics page charts /metrics. Screenshots of each
// page go to build/test-logs/console/. TAP output.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const top = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(top, "tests", "package.json"));
const { chromium } = require("playwright-core");
const weir = process.env.WEIR_BIN || join(top, "build", "weir");
// The client commands run from the release build when there is one: under ThreadSanitizer the
// CLI's librdkafka threads (not instrumented) are not what this test is about.
const cli = existsSync(join(top, "build", "weir")) ? join(top, "build", "weir") : weir;
const shots = join(top, "build", "test-logs", "console");
mkdirSync(shots, { recursive: true });

let n = 0, failed = 0;
function ok(cond, name, extra) {
  n++;
  console.log(`${cond ? "ok" : "not ok"} ${n} - ${name}`);
  if (!cond) {
    failed++;
    if (extra) console.log("    # " + String(extra).split("\n").join("\n    # "));
  }
}

function startBroker(dir) {
  const p = spawn(weir, ["serve", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0",
    "--http-listen", "127.0.0.1:0", "--set", "group.initial.rebalance.delay.ms=0"],
  { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stderr.on("data", () => {});
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("broker did not start: " + out)), 20000);
    p.stdout.on("data", (d) => {
      out += d;
      const k = out.match(/listening on (\S+)/), h = out.match(/http on (\S+)/);
      if (k && h) { clearTimeout(t); resolve({ proc: p, kafka: k[1], http: h[1] }); }
    });
  });
}

const sh = (cmd, args, input) => execFileSync(cmd, args, { input, encoding: "utf8", timeout: 60000 });

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "weir-console-"));
  const b = await startBroker(dir);
  process.on("exit", () => b.proc.kill("SIGKILL")); // never left running, whatever happens
  const base = `http://${b.http}`;
  // A fresh profile (--user-data-dir) per run, through Playwright's persistent context.
  const browser = await chromium.launchPersistentContext(join(dir, "chromium"), {
    executablePath: process.env.WEIR_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept());
  const visit = async (hash, shot) => {
    await page.goto(`${base}/ui/${hash}`);
    await page.waitForSelector("#main[data-ready='1']", { timeout: 10000 });
    await page.waitForTimeout(300);
    if (shot) await page.screenshot({ path: join(shots, shot + ".png"), fullPage: true });
  };
  try {
    await runChecks(b, base, page, visit, errors);
  } finally {
    await browser.close();
    b.proc.kill("SIGTERM");
    await new Promise((r) => b.proc.on("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runChecks(b, base, page, visit, errors) {
  // Some data first: a topic with records, a consumer group, a dead-letter topic.
  sh(cli, ["-b", b.kafka, "topic", "create", "orders", "-p", "2"]);
  sh("kcat", ["-b", b.kafka, "-P", "-t", "orders", "-p", "0", "-K:"], "k1:{\"id\":1,\"total\":42}\nk2:second\n");
  sh("kcat", ["-b", b.kafka, "-P", "-t", "orders", "-p", "1", "-K:", "-H", "source=kcat-test"], "k3:needle-in-kcat\n");
  sh("kcat", ["-b", b.kafka, "-G", "billing", "-e", "-q", "-o", "beginning", "orders"]);
  sh(cli, ["-b", b.kafka, "topic", "create", "orders.dlq", "-p", "1"]);
  sh("kcat", ["-b", b.kafka, "-P", "-t", "orders.dlq", "-K:", "-H", "weir.dlq.original.topic=orders",
    "-H", "weir.dlq.original.partition=0", "-H", "weir.dlq.original.offset=1", "-H", "weir.dlq.error=total missing",
    "-H", "weir.dlq.attempts=3", "-H", "weir.dlq.group=billing"], "k2:second\n");

  const pages = [["#/", "overview"], ["#/topics", "topics"], ["#/topics/orders", "topic"],
    ["#/messages/orders", "messages"], ["#/groups", "groups"], ["#/groups/billing", "group"],
    ["#/dlq", "dlq"], ["#/dlq/orders.dlq", "dlq-topic"], ["#/journey", "journey"], ["#/metrics", "metrics"]];
  for (const [hash, shot] of pages) {
    const before = errors.length;
    await visit(hash, shot);
    ok(errors.length === before, `page ${hash} loads without console errors`, errors.slice(before).join("\n"));
  }
  // The event journey: none kept at first; a service's OTLP export, then its hops in order.
  await visit("#/journey");
  ok(await page.isVisible("#journey-empty") && !(await page.isVisible("#journey-unavailable")),
    "the journey page lists the recent traces (none yet)");
  const tid = "4bf92f3577b34da6a3ce929d0e0e4736", t0 = Date.now();
  const span = (sid, parent, op, svc, at) => ({
    resource: { attributes: [{ key: "service.name", value: { stringValue: svc } }] },
    scopeSpans: [{ spans: [{ traceId: tid, spanId: sid, parentSpanId: parent, name: "orders " + op,
      startTimeUnixNano: String((t0 + at) * 1e6), endTimeUnixNano: String((t0 + at + 2) * 1e6),
      attributes: [{ key: "messaging.operation", value: { stringValue: op } },
        { key: "messaging.destination.name", value: { stringValue: "orders" } },
        { key: "messaging.kafka.destination.partition", value: { intValue: "1" } },
        { key: "messaging.kafka.message.offset", value: { intValue: "0" } }] }] }] });
  const res = await fetch(`${base}/v1/traces`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ resourceSpans: [span("00f067aa0ba902b7", "", "publish", "shop", 0),
      span("00f067aa0ba902b8", "00f067aa0ba902b7", "process", "billing", 5)] }) });
  ok(res.status === 200, "a service's spans are accepted at POST /v1/traces", res.status);
  await visit("#/"); // the same hash again would not render the page anew
  await visit("#/journey");
  await page.click("#journey-out tr.click", { timeout: 10000 });
  await page.waitForFunction(() => location.hash.startsWith("#/journey/") && document.querySelectorAll("#journey-out tbody tr").length > 0, null, { timeout: 5000 }).catch(() => {});
  const hops = await page.$$eval("#journey-out tbody tr", (rs) => rs.map((r) => [...r.querySelectorAll("td")].slice(1, 5).map((d) => d.textContent)));
  ok(JSON.stringify(hops) === JSON.stringify([["shop", "publish", "orders publish", "orders/1@0"], ["billing", "process", "orders process", "orders/1@0"]]),
    "a trace picked in the list shows its hops in order: service, step, span, topic/partition@offset", JSON.stringify(hops));
  await page.screenshot({ path: join(shots, "journey-trace.png"), fullPage: true });
  // Live metrics: the charts of /metrics' counters.
  await visit("#/metrics");
  await page.waitForSelector(".chart", { timeout: 5000 }).catch(() => {});
  ok(!(await page.isVisible("#metrics-unavailable")) && (await page.$$(".chart")).length === 12,
    "the metrics page charts 12 series of /metrics", (await page.$$(".chart")).length);

  // A topic created in the UI appears in `weir topic list`.
  await visit("#/topics");
  await page.fill("#new-topic-name", "made-in-ui");
  await page.fill("#new-topic-partitions", "3");
  await page.click("#create-topic-btn");
  await page.waitForSelector("a[href='#/topics/made-in-ui']", { timeout: 5000 });
  const list = sh(cli, ["-b", b.kafka, "topic", "list"]);
  ok(/^made-in-ui\s+3\b/m.test(list), "a topic created in the UI is in `weir topic list` with 3 partitions", list);

  // A record produced with kcat appears in the message browser (filtered by header).
  await visit("#/messages/orders");
  await page.waitForSelector(".msg-row");
  const values = await page.$$eval(".msg-value", (es) => es.map((e) => e.textContent));
  ok(values.includes("needle-in-kcat") && values.includes("{\"id\":1,\"total\":42}") && values.length === 3,
    "records produced with kcat are in the message browser", JSON.stringify(values));
  await page.fill("#msg-header", "source=kcat-test");
  await page.click("#msg-load");
  await page.waitForFunction(() => document.querySelectorAll(".msg-row").length === 1);
  await page.click(".msg-row");
  const cmd = await page.inputValue(".kcat-cmd");
  ok(cmd === `kcat -b ${b.kafka} -C -t orders -p 1 -o 0 -c 1 -e -f 'partition %p offset %o key %k: %s\\n'`,
    "the header filter finds the record and offers its kcat command", cmd);
  await page.screenshot({ path: join(shots, "message-detail.png"), fullPage: true });

  // An offset reset done in the UI: preview changes nothing, apply is what the CLI describes.
  await visit("#/groups/billing");
  await page.fill("#reset-topic", "orders");
  await page.selectOption("#reset-to", "offset");
  await page.fill("#reset-value", "1");
  await page.click("#reset-preview");
  await page.waitForSelector("#reset-apply");
  const mid = JSON.parse(sh("curl", ["-s", `${base}/api/v1/groups/billing`]));
  ok(mid.offsets.map((o) => o.offset).join(",") === "2,1", "the reset preview changes nothing", JSON.stringify(mid.offsets));
  await page.screenshot({ path: join(shots, "reset-preview.png"), fullPage: true });
  await page.click("#reset-apply");
  await page.waitForSelector("#reset-plan >> text=Applied.");
  ok(describeOffsets(b.kafka) === "orders 0 1;orders 1 1", "after the UI reset the group describes at offsets 1 and 1",
    describeOffsets(b.kafka));

  // Dead letters: the record's error and origin, and a redrive.
  await visit("#/dlq/orders.dlq");
  const row = await page.textContent("#main table");
  ok(row.includes("total missing") && row.includes("orders/0@1"), "the dead-letter page shows the error and origin", row);
  await page.click("#redrive-preview");
  await page.click("#redrive-apply");
  await page.waitForSelector("#redrive-result >> text=Redrove 1 record");
  const after = JSON.parse(sh("curl", ["-s", `${base}/api/v1/topics/orders/messages?partition=0`]));
  ok(after.messages.length === 3 && after.messages[2].key === "k2", "redrive put the record back on orders/0",
    JSON.stringify(after.messages.map((m) => m.key)));
  await page.screenshot({ path: join(shots, "dlq-redriven.png"), fullPage: true });
  ok(errors.length === 0, "no console error in the whole session", errors.join("\n"));
}

/* "topic partition current-offset;..." from kafka-consumer-groups (or weir's own describe). */
function describeOffsets(bootstrap) {
  const kcg = join(top, "tests", "compat", "bin", "kafka-consumer-groups.sh");
  let rows = [];
  if (existsSync(kcg) && existsSync(join(top, "build", "compat", "kafka.classpath"))) {
    const out = sh("bash", [kcg, "--bootstrap-server", bootstrap, "--describe", "--group", "billing"]);
    for (const line of out.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f[0] === "billing" && f[1] === "orders") rows.push(`${f[1]} ${f[2]} ${f[3]}`);
    }
  } else {
    const out = JSON.parse(sh(cli, ["-b", bootstrap, "-o", "json", "group", "describe", "billing"]));
    for (const o of out.offsets || out.partitions || []) rows.push(`${o.topic} ${o.partition} ${o.offset ?? o.current_offset}`);
  }
  return rows.sort().join(";");
}

main().then(() => {
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.log(`not ok ${n + 1} - the browser test ran to its end`);
  console.log("    # " + String(e.stack || e).split("\n").join("\n    # "));
  console.log(`1..${n + 1}`);
  process.exit(1);
});
