/*
 * The Weir console: a hash router and one function per view, each drawing from the admin API
 * (/api/v1/, described at /api/v1/openapi.json). DOM is built with el() and textContent only,
 * so record contents are never parsed as HTML. Views that poll register a timer that the
 * router clears on the next navigation.
 */
"use strict";

const API = "/api/v1";
let timers = [];
let broker = null;

/* ---- helpers ------------------------------------------------------------------------------- */

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const kid of kids.flat()) e.append(kid instanceof Node ? kid : document.createTextNode(kid));
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const time = (ms) => (ms === null || ms === undefined || ms < 0 ? "–" : new Date(ms).toISOString().replace("T", " ").replace("Z", ""));
const enc = encodeURIComponent;

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.add("show");
  setTimeout(() => t.classList.remove("show"), 2500);
}

function token() { return sessionStorage.getItem("weir-token"); }

/* Calls the admin API; resolves to the JSON answer or throws Error(message) with .status. */
async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const res = await fetch(API + path, {
    method: opts.method || "GET", headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
  if (res.status === 401) askToken();
  if (!res.ok) {
    const err = new Error((data && data.message) || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function askToken() {
  const t = prompt("This broker's HTTP API needs a token (weir serve --http-token):");
  if (t) { sessionStorage.setItem("weir-token", t); route(); }
}

function every(ms, fn) {
  fn();
  timers.push(setInterval(fn, ms));
}

function table(cols, rows, onclick) {
  const head = el("tr", {}, cols.map((c) => el("th", { class: c.num ? "num" : "" }, c.title)));
  const body = rows.map((r) => el("tr", { class: onclick ? "click" : "", onclick: onclick ? () => onclick(r) : null },
    cols.map((c) => el("td", { class: (c.num ? "num " : "") + (c.cls || "") }, c.get(r)))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, rows.length ? body :
    el("tr", {}, el("td", { colspan: cols.length, class: "empty" }, "nothing here yet"))));
}

function stateBadge(s) {
  const cls = s === "Stable" ? "ok" : s === "Empty" ? "" : s === "Dead" ? "bad" : "warn";
  return el("span", { class: "badge " + cls }, s);
}

function failBox(e) { return el("p", { class: "error" }, "Error: " + e.message); }

/* A line chart of [{t, v}] points (one or more named series). */
function lineChart(title, series, unit) {
  const W = 600, H = 150, pad = 30;
  const all = series.flatMap((s) => s.points);
  const box = el("div", { class: "chart" }, el("div", { class: "title" }, title));
  if (all.length < 2) { box.append(el("div", { class: "empty" }, "collecting data…")); return box; }
  const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  const vmax = Math.max(1, ...all.map((p) => p.v));
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (W - pad - 6);
  const y = (v) => H - 16 - (v / vmax) * (H - 28);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" },
    svg("line", { x1: pad, y1: H - 16, x2: W, y2: H - 16, stroke: "#ccd" }),
    svg("text", { x: 2, y: 12, "font-size": 10, fill: "#667" }, num(Math.round(vmax)) + (unit || "")),
    svg("text", { x: 2, y: H - 18, "font-size": 10, fill: "#667" }, "0"));
  const colors = ["#1f6feb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];
  series.forEach((sr, i) => {
    const d = sr.points.map((p, k) => (k ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join(" ");
    s.append(svg("path", { d, fill: "none", stroke: colors[i % colors.length], "stroke-width": 2 }));
  });
  box.append(s);
  if (series.length > 1 || series[0].name)
    box.append(el("div", { class: "note" }, series.map((sr, i) => el("span", { style: "margin-right:12px;color:" + colors[i % colors.length] }, "■ " + sr.name))));
  return box;
}

/* A bar chart of [{label, v}]. */
function barChart(title, bars) {
  const W = 600, H = 150, bw = Math.max(4, Math.min(60, (W - 40) / Math.max(1, bars.length) - 6));
  const vmax = Math.max(1, ...bars.map((b) => b.v));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  bars.forEach((b, i) => {
    const h = (b.v / vmax) * (H - 34), x = 30 + i * (bw + 6);
    s.append(svg("rect", { x, y: H - 18 - h, width: bw, height: h, fill: b.v > 0 ? "#d97706" : "#94a3b8" }));
    s.append(svg("text", { x, y: H - 4, "font-size": 10, fill: "#667" }, b.label));
    s.append(svg("text", { x, y: H - 22 - h, "font-size": 10, fill: "#333" }, num(b.v)));
  });
  return el("div", { class: "chart" }, el("div", { class: "title" }, title), s);
}

/* ---- overview ------------------------------------------------------------------------------- */

const rateHistory = [];

async function viewOverview(main) {
  main.append(el("h1", {}, "Overview"));
  const cards = el("div", { class: "cards" });
  const chart = el("div");
  const trouble = el("div");
  main.append(cards, el("h2", {}, "Throughput"), chart, el("h2", {}, "Groups in trouble"), trouble);
  every(2000, async () => {
    try {
      const [b, t, g, d] = await Promise.all([api("/broker"), api("/topics"), api("/groups"), api("/dlq")]);
      const sum = t.topics.reduce((a, x) => a + x.end_offsets_sum, 0);
      rateHistory.push({ t: b.now_ms, sum });
      while (rateHistory.length > 61) rateHistory.shift();
      const rates = rateHistory.slice(1).map((p, i) => ({ t: p.t, v: Math.max(0, (p.sum - rateHistory[i].sum) * 1000 / Math.max(1, p.t - rateHistory[i].t)) }));
      const last = rates.length ? rates[rates.length - 1].v : 0;
      const pending = d.dlq_topics.reduce((a, x) => a + x.pending, 0);
      cards.replaceChildren(
        card("Topics", num(t.topics.length)), card("Partitions", num(b.partitions)),
        card("Messages", num(t.topics.reduce((a, x) => a + x.messages, 0))),
        card("Storage", bytes(b.size_bytes)), card("Records/s", last.toFixed(1)),
        card("Consumer groups", num(g.groups.length)), card("Dead letters pending", num(pending)));
      chart.replaceChildren(lineChart("records per second, all topics (from the high watermarks)", [{ name: "", points: rates }], "/s"));
      const bad = g.groups.filter((x) => x.state !== "Stable" && x.state !== "Empty" || x.lag > 0);
      trouble.replaceChildren(bad.length ? table([
        { title: "Group", get: (r) => el("a", { href: "#/groups/" + enc(r.group_id) }, r.group_id) },
        { title: "State", get: (r) => stateBadge(r.state) },
        { title: "Members", num: true, get: (r) => num(r.members) },
        { title: "Lag", num: true, get: (r) => num(r.lag) }], bad) :
        el("p", { class: "note" }, "No group is rebalancing or lagging."));
    } catch (e) { cards.replaceChildren(failBox(e)); }
  });
}

function card(k, v) { return el("div", { class: "card" }, el("div", { class: "k" }, k), el("div", { class: "v" }, v)); }

/* ---- topics --------------------------------------------------------------------------------- */

async function viewTopics(main) {
  main.append(el("h1", {}, "Topics"));
  const name = el("input", { id: "new-topic-name", placeholder: "name", required: true, pattern: "[a-zA-Z0-9._\\-]+" });
  const parts = el("input", { id: "new-topic-partitions", type: "number", min: 1, value: 1, style: "width:90px" });
  const retention = el("input", { id: "new-topic-retention", placeholder: "retention.ms (optional)" });
  const policy = el("select", { id: "new-topic-policy" }, el("option", { value: "" }, "cleanup.policy: default"), el("option", {}, "delete"), el("option", {}, "compact"));
  const filter = el("input", { id: "topic-filter", placeholder: "filter topics" });
  const showInternal = el("input", { type: "checkbox", id: "show-internal" });
  const list = el("div");
  const create = async (ev) => {
    ev.preventDefault();
    const configs = {};
    if (retention.value) configs["retention.ms"] = retention.value;
    if (policy.value) configs["cleanup.policy"] = policy.value;
    try {
      await api("/topics", { method: "POST", body: { name: name.value, partitions: Number(parts.value), configs } });
      toast("topic " + name.value + " created");
      name.value = "";
      load();
    } catch (e) { toast("create failed: " + e.message); }
  };
  main.append(el("form", { class: "row", id: "create-topic", onsubmit: create },
    el("label", {}, "Name", name), el("label", {}, "Partitions", parts), el("label", {}, "Retention", retention),
    el("label", {}, "Policy", policy), el("button", { type: "submit", id: "create-topic-btn" }, "Create topic")),
  el("div", { class: "row" }, filter, el("label", { style: "flex-direction:row;gap:4px" }, showInternal, "internal topics")), list);
  async function load() {
    try {
      const t = await api("/topics" + (showInternal.checked ? "?internal=true" : ""));
      const rows = t.topics.filter((x) => x.name.includes(filter.value));
      list.replaceChildren(table([
        { title: "Topic", get: (r) => el("a", { href: "#/topics/" + enc(r.name) }, r.name) },
        { title: "Partitions", num: true, get: (r) => r.partitions },
        { title: "Messages", num: true, get: (r) => num(r.messages) },
        { title: "Size", num: true, get: (r) => bytes(r.size_bytes) },
        { title: "", get: (r) => el("a", { href: "#/messages/" + enc(r.name) }, "messages") }], rows));
    } catch (e) { list.replaceChildren(failBox(e)); }
  }
  filter.addEventListener("input", load);
  showInternal.addEventListener("change", load);
  load();
}

async function viewTopic(main, name) {
  main.append(el("h1", {}, "Topic ", el("span", { class: "mono" }, name)));
  let t;
  try { t = await api("/topics/" + enc(name)); } catch (e) { main.append(failBox(e)); return; }
  main.append(el("div", { class: "cards" }, card("Partitions", t.partitions.length), card("Messages", num(t.messages)), card("Size", bytes(t.size_bytes))),
    el("p", {}, el("a", { href: "#/messages/" + enc(name) }, "Browse messages"), " · ",
      el("button", { class: "danger", id: "delete-topic", onclick: async () => {
        if (!confirm("Delete topic " + name + " and all its records?")) return;
        try { await api("/topics/" + enc(name), { method: "DELETE" }); toast("deleted " + name); location.hash = "#/topics"; } catch (e) { toast(e.message); }
      } }, "Delete topic")),
    el("h2", {}, "Partitions"),
    table([{ title: "Partition", num: true, get: (r) => r.partition },
      { title: "Log start", num: true, get: (r) => num(r.log_start_offset) },
      { title: "High watermark", num: true, get: (r) => num(r.high_watermark) },
      { title: "Messages", num: true, get: (r) => num(r.messages) },
      { title: "Size", num: true, get: (r) => bytes(r.size_bytes) },
      { title: "State", get: (r) => el("span", { class: "badge " + (r.offline ? "bad" : "ok") }, r.offline ? "offline" : "online") }], t.partitions));
  const cfgBox = el("div");
  main.append(el("h2", {}, "Configs"), cfgBox, el("h2", {}, "Produce a test message"), produceForm(name, t.partitions.length));
  async function loadCfg() {
    try {
      const c = await api("/topics/" + enc(name) + "/configs");
      const keyIn = el("select", { id: "cfg-name" }, c.configs.filter((x) => !x.read_only).map((x) => el("option", {}, x.name)));
      const valIn = el("input", { id: "cfg-value", placeholder: "new value" });
      cfgBox.replaceChildren(el("form", { class: "row", onsubmit: async (ev) => {
        ev.preventDefault();
        try { await api("/topics/" + enc(name) + "/configs", { method: "PATCH", body: { set: { [keyIn.value]: valIn.value } } }); toast(keyIn.value + " set"); loadCfg(); } catch (e) { toast(e.message); }
      } }, el("label", {}, "Config", keyIn), el("label", {}, "Value", valIn), el("button", { id: "cfg-save" }, "Alter")),
      table([{ title: "Name", cls: "mono", get: (r) => r.name }, { title: "Value", cls: "mono", get: (r) => r.value === null ? "–" : r.value },
        { title: "Source", get: (r) => el("span", { class: "badge " + (r.source === "topic" ? "warn" : "") }, r.source) },
        { title: "", get: (r) => r.source === "topic" ? el("button", { class: "sec", onclick: async () => {
          try { await api("/topics/" + enc(name) + "/configs", { method: "PATCH", body: { delete: [r.name] } }); loadCfg(); } catch (e) { toast(e.message); }
        } }, "reset") : "" }], c.configs));
    } catch (e) { cfgBox.replaceChildren(failBox(e)); }
  }
  loadCfg();
}

function produceForm(topic, nparts) {
  const key = el("input", { id: "produce-key", placeholder: "key (optional)" });
  const value = el("textarea", { id: "produce-value", rows: 2, cols: 40, placeholder: "value" });
  const part = el("select", { id: "produce-partition" }, el("option", { value: "" }, "by key"), [...Array(nparts).keys()].map((p) => el("option", { value: p }, p)));
  const hdr = el("input", { id: "produce-headers", placeholder: "headers: a=1, b=2" });
  return el("form", { class: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    const headers = {};
    for (const kv of hdr.value.split(",").map((s) => s.trim()).filter(Boolean)) { const i = kv.indexOf("="); headers[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? "" : kv.slice(i + 1); }
    const body = { key: key.value || null, value: value.value, headers };
    if (part.value !== "") body.partition = Number(part.value);
    try { const r = await api("/topics/" + enc(topic) + "/messages", { method: "POST", body }); toast(`written at ${r.partition}/${r.offset}`); } catch (e) { toast(e.message); }
  } }, el("label", {}, "Key", key), el("label", {}, "Value", value), el("label", {}, "Partition", part), el("label", {}, "Headers", hdr), el("button", { id: "produce-btn" }, "Produce"));
}

/* ---- the message browser -------------------------------------------------------------------- */

function kcatCommand(topic, m) {
  return `kcat -b ${broker ? broker.bootstrap : "127.0.0.1:9092"} -C -t ${topic} -p ${m.partition} -o ${m.offset} -c 1 -e -f 'partition %p offset %o key %k: %s\\n'`;
}

async function viewMessages(main, topic) {
  main.append(el("h1", {}, "Messages"));
  let topics;
  try { topics = (await api("/topics")).topics; } catch (e) { main.append(failBox(e)); return; }
  const pick = el("select", { id: "msg-topic", onchange: () => { location.hash = "#/messages/" + enc(pick.value); } },
    el("option", { value: "" }, "choose a topic"), topics.map((t) => el("option", { value: t.name, selected: t.name === topic }, t.name)));
  main.append(el("div", { class: "row" }, el("label", {}, "Topic", pick)));
  if (!topic) return;
  const info = topics.find((t) => t.name === topic);
  const np = info ? info.partitions : 1;
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const part = el("select", { id: "msg-partition" }, el("option", { value: "" }, "all"), [...Array(np).keys()].map((p) => el("option", { value: p, selected: q.get("partition") === String(p) }, p)));
  const from = el("select", { id: "msg-from" }, ["latest", "earliest", "offset", "timestamp"].map((v) => el("option", { selected: (q.get("from") || "latest") === v }, v)));
  const offset = el("input", { id: "msg-offset", type: "number", min: 0, placeholder: "offset", style: "width:100px", value: q.get("offset") || "" });
  const when = el("input", { id: "msg-time", type: "datetime-local", step: 1 });
  const limit = el("input", { id: "msg-limit", type: "number", min: 1, max: 500, value: 50, style: "width:80px" });
  const key = el("input", { id: "msg-key", placeholder: "key =" });
  const header = el("input", { id: "msg-header", placeholder: "header name[=value]" });
  const contains = el("input", { id: "msg-contains", placeholder: "value contains" });
  const out = el("div", { id: "msg-results" });
  const load = async (ev) => {
    if (ev) ev.preventDefault();
    const p = new URLSearchParams({ limit: limit.value });
    if (part.value !== "") p.set("partition", part.value);
    if (from.value === "offset") p.set("offset", offset.value || "0");
    else if (from.value === "timestamp") p.set("timestamp", String(when.value ? new Date(when.value + "Z").getTime() : 0));
    else p.set("offset", from.value);
    if (key.value) p.set("key", key.value);
    if (header.value) p.set("header", header.value);
    if (contains.value) p.set("contains", contains.value);
    try { render((await api("/topics/" + enc(topic) + "/messages?" + p)).messages); } catch (e) { out.replaceChildren(failBox(e)); }
  };
  function render(msgs) {
    const rows = [];
    for (const m of msgs) {
      const detail = el("tr", { class: "detail", hidden: true }, el("td", { colspan: 6 }, messageDetail(topic, m)));
      rows.push(el("tr", { class: "click msg-row", onclick: () => { detail.hidden = !detail.hidden; } },
        el("td", { class: "num" }, m.partition), el("td", { class: "num" }, m.offset), el("td", { class: "mono" }, time(m.timestamp)),
        el("td", { class: "mono trunc" }, m.key === null ? "null" : m.key), el("td", { class: "mono trunc msg-value" }, m.value === null ? "null" : m.value),
        el("td", {}, el("span", { class: "badge" }, m.value_encoding || "null"), m.headers.length ? el("span", { class: "badge" }, m.headers.length + " headers") : "")), detail);
    }
    out.replaceChildren(el("p", { class: "note" }, msgs.length + " message(s)"), el("table", {},
      el("thead", {}, el("tr", {}, ["Partition", "Offset", "Timestamp (UTC)", "Key", "Value", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6, class: "empty" }, "no message matches")))));
  }
  main.append(el("form", { class: "row", id: "msg-form", onsubmit: load },
    el("label", {}, "Partition", part), el("label", {}, "From", from), el("label", {}, "Offset", offset), el("label", {}, "Time (UTC)", when),
    el("label", {}, "Limit", limit), el("label", {}, "Key", key), el("label", {}, "Header", header), el("label", {}, "Contains", contains),
    el("button", { id: "msg-load" }, "Load")), out);
  load();
}

function messageDetail(topic, m) {
  const cmd = kcatCommand(topic, m);
  const shown = m.value_decoded !== undefined ? JSON.stringify(m.value_decoded, null, 2) : (m.value === null ? "null" : m.value);
  return el("div", {},
    el("div", { class: "row" }, el("span", { class: "badge" }, "value: " + (m.value_encoding || "null") + (m.value_schema_id !== undefined ? " (schema id " + m.value_schema_id + ")" : "")),
      el("span", { class: "note" }, `${m.value_size} bytes, ${m.timestamp_type}`),
      el("button", { class: "sec kcat-copy", onclick: async (ev) => {
        ev.stopPropagation();
        try { await navigator.clipboard.writeText(cmd); toast("kcat command copied"); } catch (e) { toast("copy it from the box below"); }
      } }, "Copy as kcat command")),
    el("input", { class: "mono kcat-cmd", readonly: true, value: cmd, style: "width:100%", onclick: (ev) => ev.stopPropagation() }),
    el("pre", {}, shown),
    m.headers.length ? table([{ title: "Header", cls: "mono", get: (h) => h.name }, { title: "Value", cls: "mono", get: (h) => h.value === null ? "null" : h.value }, { title: "", get: (h) => h.value_encoding || "" }], m.headers) : el("p", { class: "note" }, "no headers"));
}

/* ---- consumer groups ------------------------------------------------------------------------ */

async function viewGroups(main) {
  main.append(el("h1", {}, "Consumer groups"));
  const box = el("div");
  main.append(box);
  every(3000, async () => {
    try {
      const g = await api("/groups");
      box.replaceChildren(table([
        { title: "Group", get: (r) => el("a", { href: "#/groups/" + enc(r.group_id) }, r.group_id) },
        { title: "State", get: (r) => stateBadge(r.state) },
        { title: "Members", num: true, get: (r) => num(r.members) },
        { title: "Topics", get: (r) => r.topics.join(", ") },
        { title: "Lag", num: true, get: (r) => num(r.lag) }], g.groups));
    } catch (e) { box.replaceChildren(failBox(e)); }
  });
}

async function viewGroup(main, id) {
  main.append(el("h1", {}, "Group ", el("span", { class: "mono" }, id)));
  const head = el("div"), charts = el("div", { class: "grid2" }), members = el("div"), offsets = el("div");
  const lagHistory = [];
  main.append(head, charts, el("h2", {}, "Members"), members, el("h2", {}, "Committed offsets"), offsets, el("h2", {}, "Reset offsets"), resetForm(id));
  every(3000, async () => {
    let g;
    try { g = await api("/groups/" + enc(id)); } catch (e) { head.replaceChildren(failBox(e)); return; }
    lagHistory.push({ t: Date.now(), v: g.lag });
    while (lagHistory.length > 60) lagHistory.shift();
    head.replaceChildren(el("div", { class: "cards" }, card("State", stateBadge(g.state)), card("Members", g.members.length), card("Lag", num(g.lag)), card("Generation", g.generation), card("Protocol", g.protocol || "–")));
    charts.replaceChildren(barChart("lag per partition", g.offsets.map((o) => ({ label: o.topic.slice(0, 12) + "/" + o.partition, v: o.lag || 0 }))), lineChart("total lag over time", [{ name: "", points: lagHistory }]));
    members.replaceChildren(table([{ title: "Member", cls: "mono", get: (m) => m.member_id }, { title: "Client", get: (m) => m.client_id + " " + m.client_host },
      { title: "Assignments", cls: "mono", get: (m) => m.assignments.map((a) => a.topic + ": " + a.partitions.join(",")).join("; ") }], g.members));
    offsets.replaceChildren(table([{ title: "Topic", get: (o) => o.topic }, { title: "Partition", num: true, get: (o) => o.partition },
      { title: "Committed", num: true, get: (o) => num(o.offset) }, { title: "End", num: true, get: (o) => num(o.log_end_offset) },
      { title: "Lag", num: true, get: (o) => num(o.lag) }, { title: "Member", cls: "mono", get: (o) => o.member_id || "–" }], g.offsets));
  });
}

function resetForm(id) {
  const topic = el("input", { id: "reset-topic", placeholder: "topic (empty: all)" });
  const to = el("select", { id: "reset-to" }, ["earliest", "latest", "offset", "timestamp", "shift"].map((v) => el("option", {}, v)));
  const value = el("input", { id: "reset-value", placeholder: "offset / ms / shift", style: "width:150px" });
  const plan = el("div", { id: "reset-plan" });
  const body = (dry) => {
    const b = { to: to.value, dry_run: dry };
    if (topic.value) b.topic = topic.value;
    if (["offset", "timestamp", "shift"].includes(to.value)) b[to.value] = Number(value.value || 0);
    return b;
  };
  const run = async (dry) => {
    try {
      const r = await api("/groups/" + enc(id) + "/offsets/reset", { method: "POST", body: body(dry) });
      plan.replaceChildren(el("p", { class: "note" }, dry ? (r.applicable ? "Preview: nothing changed yet." : "Preview only: the group has active members; stop them to apply.") : "Applied."),
        table([{ title: "Topic", get: (c) => c.topic }, { title: "Partition", num: true, get: (c) => c.partition },
          { title: "Current", num: true, get: (c) => num(c.previous) }, { title: "New", num: true, get: (c) => num(c.offset) }], r.changes),
        dry && r.applicable ? el("button", { id: "reset-apply", class: "danger", onclick: () => run(false) }, "Apply") : "");
      if (!dry) toast("offsets reset");
    } catch (e) { plan.replaceChildren(failBox(e)); }
  };
  return el("div", {}, el("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); run(true); } },
    el("label", {}, "Topic", topic), el("label", {}, "To", to), el("label", {}, "Value", value), el("button", { id: "reset-preview" }, "Preview")), plan);
}

/* ---- dead letters --------------------------------------------------------------------------- */

async function viewDlq(main) {
  main.append(el("h1", {}, "Dead-letter topics"));
  const box = el("div");
  main.append(box);
  try {
    const d = await api("/dlq");
    box.replaceChildren(table([
      { title: "Topic", get: (r) => el("a", { href: "#/dlq/" + enc(r.topic) }, r.topic) },
      { title: "Origin", get: (r) => r.origin_topic || "–" },
      { title: "Messages", num: true, get: (r) => num(r.messages) },
      { title: "Pending", num: true, get: (r) => num(r.pending) },
      { title: "Oldest", get: (r) => time(r.oldest_timestamp) }], d.dlq_topics));
  } catch (e) { box.replaceChildren(failBox(e)); }
}

async function viewDlqTopic(main, topic) {
  main.append(el("h1", {}, "Dead letters in ", el("span", { class: "mono" }, topic)));
  const result = el("div", { id: "redrive-result" }), box = el("div");
  const redrive = async (dry) => {
    try {
      const r = await api("/dlq/" + enc(topic) + "/redrive", { method: "POST", body: { dry_run: dry } });
      result.replaceChildren(el("p", {}, (dry ? "Would redrive " : "Redrove ") + r.redriven + " record(s) to " + (Object.keys(r.targets).join(", ") || "–") +
        (r.skipped ? `, ${r.skipped} without a usable origin skipped` : "") + `; ${r.remaining} left. Progress: group ${r.progress_group}.`),
      dry && r.redriven ? el("button", { id: "redrive-apply", class: "danger", onclick: () => redrive(false) }, "Redrive now") : "");
      if (!dry) load();
    } catch (e) { result.replaceChildren(failBox(e)); }
  };
  main.append(el("div", { class: "row" }, el("button", { id: "redrive-preview", onclick: () => redrive(true) }, "Redrive… (preview)")), result, box);
  async function load() {
    try {
      const r = await api("/dlq/" + enc(topic) + "/records?limit=200");
      box.replaceChildren(table([
        { title: "Offset", num: true, get: (m) => m.partition + "/" + m.offset },
        { title: "Error", cls: "trunc", get: (m) => m.dlq.error || "–" },
        { title: "Origin", cls: "mono", get: (m) => m.dlq.original_topic ? `${m.dlq.original_topic}/${m.dlq.original_partition}@${m.dlq.original_offset}` : "–" },
        { title: "Group", get: (m) => m.dlq.group || "–" },
        { title: "Attempts", num: true, get: (m) => num(m.dlq.attempts) },
        { title: "Key", cls: "mono trunc", get: (m) => m.key === null ? "null" : m.key },
        { title: "When", cls: "mono", get: (m) => time(m.timestamp) },
        { title: "", get: (m) => m.redriven ? el("span", { class: "badge ok" }, "redriven") : el("span", { class: "badge warn" }, "pending") }], r.records));
    } catch (e) { box.replaceChildren(failBox(e)); }
  }
  load();
}

/* ---- the event journey ---------------------------------------------------------------------- */

async function viewJourney(main, traceId) {
  main.append(el("h1", {}, "Event journey"));
  if (broker && !broker.tracing) {
    main.append(el("div", { class: "unavailable", id: "journey-unavailable" }, "Tracing is off on this broker (weir.trace.spans.max=0): the event journey needs the span store (GET /api/v1/traces/{trace_id})."));
    return;
  }
  const id = el("input", { id: "trace-id", placeholder: "trace id (32 hex digits)", value: traceId || "", style: "width:320px" });
  const out = el("div", { id: "journey-out" });
  main.append(el("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); location.hash = "#/journey/" + enc(id.value.trim()); } }, el("label", {}, "Trace id", id), el("button", {}, "Show")), out);
  if (!traceId) {
    /* No trace asked for: the newest ones the broker keeps (spans the services exported). */
    try {
      const r = await api("/traces?limit=50");
      out.replaceChildren(r.traces.length ? table([{ title: "Trace", cls: "mono", get: (t) => t.trace_id },
        { title: "Started", cls: "mono", get: (t) => t.started_at }, { title: "Event", get: (t) => t.first_event_type || "–" },
        { title: "Services", get: (t) => t.services.join(", ") }, { title: "Spans", num: true, get: (t) => num(t.spans) },
        { title: "Duration", num: true, get: (t) => t.duration_ms + " ms" }], r.traces, (t) => { location.hash = "#/journey/" + enc(t.trace_id); })
        : el("p", { class: "note", id: "journey-empty" }, "No traces yet: services export their spans to this broker's POST /v1/traces (OTLP/HTTP JSON)."));
    } catch (e) { out.replaceChildren(failBox(e)); }
    return;
  }
  try {
    const j = await api("/traces/" + enc(traceId));
    out.replaceChildren(el("p", { class: "note" }, `${j.hops.length} hops over ${j.topics.join(", ") || "no topic"}, ${j.duration_ms} ms from ${j.started_at}`),
      table([{ title: "+ms", num: true, get: (h) => h.at_ms.toFixed(1) }, { title: "Service", get: (h) => h.service || "–" },
        { title: "Step", get: (h) => h.operation }, { title: "Span", get: (h) => h.name || "–" },
        { title: "Where", cls: "mono", get: (h) => h.topic ? `${h.topic}/${h.partition}@${h.offset}` : "–" },
        { title: "Event", get: (h) => h.event_type || "–" },
        { title: "Result", get: (h) => h.error ? el("span", { class: "badge warn" }, h.result || "error") : h.result || "–" },
        { title: "Duration", num: true, get: (h) => h.duration_ms.toFixed(1) + " ms" }], j.hops));
  } catch (e) { out.replaceChildren(failBox(e)); }
}

/* ---- live metrics ----------------------------------------------------------------------------- */

/* Prometheus text format: {name -> sum of its samples}. */
function parseProm(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m) out[m[1]] = (out[m[1]] || 0) + Number(m[3]);
  }
  return out;
}

async function viewMetrics(main) {
  main.append(el("h1", {}, "Live metrics"));
  if (!broker || !broker.metrics_path) {
    main.append(el("div", { class: "unavailable", id: "metrics-unavailable" }, "Metrics are not available in this build: the charts appear here once the broker serves Prometheus metrics (/metrics)."));
    return;
  }
  const box = el("div", { class: "grid2" });
  main.append(el("p", { class: "note" }, "Rates of the counters of " + broker.metrics_path + ", every 2 s."), box);
  const hist = [];
  every(2000, async () => {
    try {
      const res = await fetch(broker.metrics_path, { headers: token() ? { Authorization: "Bearer " + token() } : {} });
      if (!res.ok) throw new Error("GET " + broker.metrics_path + ": " + res.status);
      hist.push({ t: Date.now(), m: parseProm(await res.text()) });
      while (hist.length > 60) hist.shift();
      const names = Object.keys(hist[hist.length - 1].m).filter((n) => /_total$|_bytes$|_count$/.test(n)).sort().slice(0, 12);
      box.replaceChildren(...names.map((n) => lineChart(n + (n.endsWith("_total") ? " /s" : ""), [{ name: "", points: hist.slice(1).map((p, i) => ({ t: p.t, v: n.endsWith("_total") ? Math.max(0, ((p.m[n] || 0) - (hist[i].m[n] || 0)) * 1000 / Math.max(1, p.t - hist[i].t)) : p.m[n] || 0 })) }])));
    } catch (e) { box.replaceChildren(failBox(e)); }
  });
}

/* ---- the router ------------------------------------------------------------------------------- */

const routes = [
  [/^#?\/?$/, "overview", viewOverview],
  [/^#\/topics$/, "topics", viewTopics],
  [/^#\/topics\/([^/?]+)$/, "topics", viewTopic],
  [/^#\/messages(?:\/([^/?]+))?(?:\?.*)?$/, "messages", viewMessages],
  [/^#\/groups$/, "groups", viewGroups],
  [/^#\/groups\/([^/?]+)$/, "groups", viewGroup],
  [/^#\/dlq$/, "dlq", viewDlq],
  [/^#\/dlq\/([^/?]+)$/, "dlq", viewDlqTopic],
  [/^#\/journey(?:\/([^/?]+))?$/, "journey", viewJourney],
  [/^#\/metrics$/, "metrics", viewMetrics],
];

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const main = document.getElementById("main");
  main.replaceChildren();
  if (!broker) {
    try {
      broker = await api("/broker");
      document.getElementById("broker-foot").textContent = `Kafka ${broker.bootstrap} · cluster ${broker.cluster_id} · v${broker.version}`;
    } catch (e) { main.append(failBox(e)); return; }
  }
  delete main.dataset.ready;
  const hash = location.hash || "#/";
  for (const [re, nav, fn] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === nav));
    main.dataset.view = nav;
    await fn(main, m[1] ? decodeURIComponent(m[1]) : undefined);
    main.dataset.ready = "1";
    return;
  }
  main.append(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/" }, "Back to the overview")));
}

window.addEventListener("hashchange", route);
route();
