#!/usr/bin/env python3
"""The three streams examples end to end, each against the answer key of its data generator:

  fraud-detection  every fraudulent card is flagged (no false negative), by the rule its pattern
                   should trip; the only honest cards flagged are the three the generator planted
                   as expected false positives (big purchases at home);
  iot-telemetry    the per-device-minute roll-ups (n, min, max, avg) of the minutes that closed,
                   exactly; the readings that came too late are in telemetry-late and nowhere
                   else; the five silent devices, each once with its first and last reading; the
                   last known state of every device;
  leaderboard      GET /top is the expected top 20 (scores and names), GET /players/<id> the
                   expected total; 2000 more scores later, the board follows.

Each example runs against its own `weir serve` and stops with SIGTERM (exit 0; under ASan that
also means no leak). Usage: test_streams_examples.py [fraud|iot|leaderboard]. TAP on stdout.
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, TopicPartition

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
WEIR = os.environ.get("WEIR_BIN", os.path.join(BUILD, "weir"))
EXAMPLES = os.path.join(BUILD, "examples")
WAIT_S = 240 if "asan" in BUILD else 120
n_tap = 0
failed = 0


def tap(ok, name, evidence=""):
    global n_tap, failed
    n_tap += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n_tap, name), flush=True)
    if not ok and evidence:
        for line in str(evidence).splitlines()[:20]:
            print("    # " + line, flush=True)


class Run:
    """A broker and an example in a temporary directory."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="weir-streams-%s-" % name)
        self.procs = {}
        self.broker = self.spawn("broker", [WEIR, "serve", "--listen", "127.0.0.1:0",
                                            "--http-listen", "off", "--log-level", "warn",
                                            "--data-dir", os.path.join(self.dir, "data"),
                                            "--set", "group.initial.rebalance.delay.ms=0"],
                                 r"listening on (\S+)")

    def spawn(self, name, args, wait_line=None):
        out = open(os.path.join(self.dir, name + ".out"), "ab")
        err = open(os.path.join(self.dir, name + ".err"), "ab")
        p = subprocess.Popen(args, stdout=subprocess.PIPE if wait_line else out, stderr=err,
                             stdin=subprocess.DEVNULL, cwd=self.dir)
        self.procs[name] = p
        if not wait_line:
            return None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = p.stdout.readline().decode()
            if not line:
                break
            m = re.match(wait_line, line)
            if m:
                threading.Thread(target=lambda: [out.write(l) for l in p.stdout],
                                 daemon=True).start()
                return m.group(1)
        raise RuntimeError("%s did not start (see %s)" % (name, self.dir))

    def gen(self, example, *args):
        truth = os.path.join(self.dir, "truth.json")
        r = subprocess.run([sys.executable, os.path.join(TOP, "examples", example, "gen.py"),
                            "--bootstrap", self.broker, "--truth", truth] + list(args),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("gen.py: %s" % r.stderr[-2000:])
        print("# " + r.stdout.strip(), flush=True)
        with open(truth) as f:
            return json.load(f)

    def app(self, example, *extra, wait_line=None):
        return self.spawn(example, [os.path.join(EXAMPLES, example), "--bootstrap", self.broker,
                                    "--state-dir", os.path.join(self.dir, "state")] + list(extra),
                          wait_line)

    def wait_consumed(self, group, topic):
        """Until the group has committed the end of every partition of topic."""
        c = Consumer({"bootstrap.servers": self.broker, "group.id": group,
                      "enable.auto.commit": False})
        deadline = time.time() + WAIT_S
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            parts = [TopicPartition(topic, p) for p in md.partitions]
            ends = [c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts]
            while time.time() < deadline:
                got = [tp.offset for tp in c.committed(parts, timeout=10)]
                if got == ends:
                    return True
                time.sleep(0.3)
            print("# %s committed %s of %s" % (group, got, ends), flush=True)
            return False
        finally:
            c.close()

    def read(self, topic):
        """Every record of topic: [(key, value, headers dict)], partition by partition."""
        c = Consumer({"bootstrap.servers": self.broker, "group.id": "test-reader",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            out = []
            for p in md.partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if hi <= lo:
                    continue
                c.assign([TopicPartition(topic, p, lo)])
                while True:
                    m = c.poll(10)
                    if m is None or (m.error() and m.error().code() == -191):  # EOF
                        break
                    if m.error():
                        continue
                    out.append((m.key().decode() if m.key() else None,
                                m.value().decode() if m.value() is not None else None,
                                dict((k, v.decode()) for k, v in (m.headers() or []))))
                    if m.offset() + 1 >= hi:
                        break
            return out
        finally:
            c.close()

    def stop(self, name):
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                return p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                return p.wait()
        return p.returncode

    def finish(self, example):
        rc = self.stop(example)
        tap(rc == 0, "%s exits 0 on SIGTERM" % example,
            open(os.path.join(self.dir, example + ".err")).read()[-3000:])
        self.stop("broker")
        if failed and os.environ.get("WEIR_TEST_KEEP"):
            print("# kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def fraud():
    r = Run("fraud")
    try:
        truth = r.gen("fraud-detection")
        r.app("fraud-detection")
        tap(r.wait_consumed("fraud-detection", "card-transactions"),
            "fraud-detection: all %d transactions processed" % truth["transactions"])
        alerts = r.read("fraud-alerts")
        flagged = {}
        for key, value, _ in alerts:
            flagged.setdefault(key, set()).add(json.loads(value)["rule"])
        fraud_cards = set(truth["fraud"])
        fn = sorted(fraud_cards - set(flagged))
        fp = sorted(set(flagged) - fraud_cards)
        print("# %d alerts; %d cards flagged; %d of %d fraudulent cards caught; false positives "
              "%d (%d planted); false negatives %d" %
              (len(alerts), len(flagged), len(fraud_cards & set(flagged)), len(fraud_cards),
               len(fp), len(truth["expected_false_positives"]), len(fn)), flush=True)
        tap(not fn, "no false negatives: every fraudulent card is flagged", fn)
        wrong_rule = [c for pat in ("velocity", "amount", "foreign")
                      for c in truth["by_pattern"][pat] if pat not in flagged.get(c, set())]
        tap(not wrong_rule, "each fraudulent card is flagged by the rule of its pattern",
            wrong_rule)
        tap(fp == truth["expected_false_positives"],
            "the false positives are exactly the planted big spenders",
            "got %s, expected %s" % (fp, truth["expected_false_positives"]))
        tap(all(flagged[c] == {"amount"} for c in fp),
            "the false positives come from the amount rule only", {c: flagged.get(c) for c in fp})
        tap(not r.read("card-transactions-late"), "no transaction was late")
    finally:
        r.finish("fraud-detection")


def iot():
    r = Run("iot")
    try:
        truth = r.gen("iot-telemetry")
        r.app("iot-telemetry")
        tap(r.wait_consumed("iot-telemetry", "telemetry"),
            "iot-telemetry: all %d readings processed" % truth["readings"])
        got = sorted((json.loads(v) for _, v, _ in r.read("telemetry-1m")),
                     key=lambda x: (x["device"], x["minute"]))
        want = truth["rollups"]
        same = len(got) == len(want) and all(
            g["device"] == w["device"] and g["minute"] == w["minute"] and g["n"] == w["n"] and
            g["min"] == w["min"] and g["max"] == w["max"] and abs(g["avg"] - w["avg"]) < 1e-9
            for g, w in zip(got, want))
        diff = [(g, w) for g, w in zip(got, want) if g != w][:3]
        tap(same, "%d per-device-minute roll-ups, as computed from the readings" % len(want),
            "got %d, expected %d; first differences %s" % (len(got), len(want), diff))
        late = sorted([k, json.loads(v)["ts"]] for k, v, _ in r.read("telemetry-late"))
        tap(late == sorted(truth["late"]),
            "the %d late readings went to telemetry-late" % len(truth["late"]),
            "got %s\nexpected %s" % (late, sorted(truth["late"])))
        silent = sorted((json.loads(v) for _, v, _ in r.read("devices-silent")),
                        key=lambda x: x["device"])
        tap(silent == truth["silent"], "the five silent devices, each once",
            "got %s\nexpected %s" % (silent, truth["silent"]))
        state = {}
        for k, v, _ in r.read("device-state"):
            state[k] = json.loads(v)
        wrong = [d for d, w in truth["last"].items()
                 if d not in state or state[d]["ts"] != w["ts"] or state[d]["temp"] != w["temp"]]
        tap(not wrong and len(state) == len(truth["last"]),
            "the last known state of all %d devices" % len(truth["last"]), wrong[:5])
    finally:
        r.finish("iot-telemetry")


def get_json(addr, path):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("GET", path)
    resp = c.getresponse()
    body = json.loads(resp.read())
    c.close()
    return resp.status, body


def board_matches(addr, truth):
    status, body = get_json(addr, "/top?n=20")
    got = [[e["player"], int(e["score"])] for e in body.get("top", [])]
    names = all(e["name"] == truth["names"][e["player"]] for e in body.get("top", []))
    return status == 200 and got == truth["top"] and names, got


def wait_board(addr, truth):
    deadline = time.time() + WAIT_S
    got = None
    while time.time() < deadline:
        ok, got = board_matches(addr, truth)
        if ok:
            return True, got
        time.sleep(0.3)
    return False, got


def leaderboard():
    r = Run("leaderboard")
    try:
        truth = r.gen("leaderboard")
        addr = r.app("leaderboard", "--http", "127.0.0.1:0", wait_line=r"http on (\S+)")
        ok, got = wait_board(addr, truth)
        tap(ok, "GET /top?n=20 shows the expected board after %d games" % truth["games"],
            "got %s\nexpected %s" % (got, truth["top"]))
        pid = truth["top"][5][0]
        status, body = get_json(addr, "/players/" + pid)
        tap(status == 200 and int(body["score"]) == truth["totals"][pid] and
            body["name"] == truth["names"][pid], "GET /players/%s" % pid, body)
        status, _ = get_json(addr, "/players/nobody")
        tap(status == 404, "GET /players/nobody is 404")
        truth = r.gen("leaderboard", "--more", "2000")
        ok, got = wait_board(addr, truth)
        tap(ok, "the board follows 2000 more games",
            "got %s\nexpected %s" % (got, truth["top"]))
    finally:
        r.finish("leaderboard")


def main():
    which = sys.argv[1:] or ["fraud", "iot", "leaderboard"]
    for w in which:
        try:
            {"fraud": fraud, "iot": iot, "leaderboard": leaderboard}[w]()
        except Exception as e:  # a crash of the harness is a failure, not a hang
            tap(False, "%s: %s: %s" % (w, type(e).__name__, e))
    print("1..%d" % n_tap)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
