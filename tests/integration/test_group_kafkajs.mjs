// KafkaJS 2.2.4 (tests/package.json) against `weir serve`: an idempotent producer
// (InitProducerId v1, sequences), a consumer group (JoinGroup v5 with MEMBER_ID_REQUIRED,
// SyncGroup v3, Heartbeat v3, OffsetCommit v5, LeaveGroup v3 batch form), and the admin calls
// listGroups, describeGroups, fetchOffsets, setOffsets (a standalone commit) and deleteGroups.
// Starts its own broker on port 0 with a temp data dir. TAP.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;
const top = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const weir = process.env.WEIR_BIN || join(top, "build", "weir");
const work = mkdtempSync(join(tmpdir(), "weir-test-group-kafkajs-"));

let n = 0;
let failed = 0;
function tap(ok, name) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - ${name}`);
}

function startBroker() {
  const err = openSync(join(work, "broker.log"), "w");
  const p = spawn(weir, ["serve", "--listen", "127.0.0.1:0", "--http-listen", "off",
    "--data-dir", join(work, "data"), "--set", "group.initial.rebalance.delay.ms=0"],
    { stdio: ["ignore", "pipe", err] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout });
    rl.once("line", (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) resolve({ p, addr: m[1] });
      else reject(new Error(`no start: ${line}`));
    });
    p.once("exit", (code) => reject(new Error(`broker exited ${code}`)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(addr) {
  const kafka = new Kafka({ clientId: "js", brokers: [addr], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "js", numPartitions: 3 }] });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < 3; i++) {
    const messages = [];
    for (let j = 0; j < 10; j++) messages.push({ value: `m${i * 10 + j}`, partition: j % 3 });
    await producer.send({ topic: "js", acks: -1, messages });
  }
  await producer.disconnect();
  tap(true, "an idempotent producer sends 30 messages in 3 batches");

  const consumer = kafka.consumer({ groupId: "jsg", sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic: "js", fromBeginning: true });
  const got = [];
  await consumer.run({
    autoCommitThreshold: 1,
    eachMessage: async ({ message }) => { got.push(message.value.toString()); },
  });
  for (let i = 0; i < 100 && got.length < 30; i++) await sleep(100);
  await sleep(500); // the last auto-commit
  const want = Array.from({ length: 30 }, (_, i) => `m${i}`).sort();
  tap(JSON.stringify([...got].sort()) === JSON.stringify(want),
    `the group consumer reads all 30 messages (${got.length})`);

  const { groups } = await admin.listGroups();
  tap(groups.some((g) => g.groupId === "jsg" && g.protocolType === "consumer"),
    `admin.listGroups shows the group (${JSON.stringify(groups)})`);
  const offsets = await admin.fetchOffsets({ groupId: "jsg", topics: ["js"] });
  const byPart = Object.fromEntries(offsets[0].partitions.map((p) => [p.partition, p.offset]));
  // partition j % 3 of each batch of 10: 4, 3 and 3 messages, three times
  tap(offsets[0].topic === "js" && byPart[0] === "12" && byPart[1] === "9" && byPart[2] === "9",
    `admin.fetchOffsets: each partition committed at its end, 12/9/9 (${JSON.stringify(byPart)})`);
  const desc = await admin.describeGroups(["jsg"]);
  tap(desc.groups[0].state === "Stable" && desc.groups[0].members.length === 1,
    `admin.describeGroups: Stable with one member (${desc.groups[0].state})`);

  await consumer.disconnect(); // LeaveGroup v3, the batch form
  const after = await admin.describeGroups(["jsg"]);
  tap(after.groups[0].state === "Empty", `after disconnect the group is Empty (${after.groups[0].state})`);

  await admin.setOffsets({ groupId: "jsg", topic: "js", partitions: [{ partition: 1, offset: "4" }] });
  const reset = await admin.fetchOffsets({ groupId: "jsg", topics: ["js"] });
  const p1 = reset[0].partitions.find((p) => p.partition === 1);
  tap(p1 && p1.offset === "4", "admin.setOffsets (a standalone commit) moves partition 1 to 4");

  await admin.deleteGroups(["jsg"]);
  const left = await admin.listGroups();
  tap(!left.groups.some((g) => g.groupId === "jsg"), "admin.deleteGroups removes the group");
  let notFound = false;
  try {
    await admin.deleteGroups(["nosuch"]);
  } catch (e) {
    notFound = JSON.stringify(e.groups || []).includes("GROUP_ID_NOT_FOUND") ||
      String(e.message).includes("not exist");
  }
  tap(notFound, "deleting an unknown group fails with GROUP_ID_NOT_FOUND");
  await admin.disconnect();
}

let broker;
try {
  broker = await startBroker();
  await run(broker.addr);
} catch (e) {
  console.log(`# ${e && e.stack ? e.stack : e}`);
  tap(false, "no exception");
} finally {
  if (broker) {
    const exited = new Promise((r) => broker.p.once("exit", (code) => r(code)));
    broker.p.kill("SIGTERM");
    tap((await exited) === 0, "clean shutdown");
  }
  rmSync(work, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
