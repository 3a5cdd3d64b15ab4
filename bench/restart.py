#!/usr/bin/env python3
"""Restart time after a crash against after a clean stop (issue 17, item 5).

Fills a broker with PARTITIONS partitions and GIB of 1 KiB messages (acks=1, librdkafka through
confluent-kafka), kills it with SIGKILL and keeps a copy of that data dir. Then, for each thread
count, restores the copy, starts `weir serve` and times it until it prints "listening on" (the
crash restart), stops it with SIGTERM and starts it again (the clean restart). Reports the
median of REPS runs and the ratio crash/clean.

    build/compat/venv/bin/python bench/restart.py [--weir build/weir] [--partitions 1000]
        [--gib 0.5] [--threads 1,2,8] [--reps 3] [--dir /tmp/weir-restart]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

def start(weir, data, extra):
    t0 = time.monotonic()
    p = subprocess.Popen([weir, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                          "--http-listen", "off"] + extra,
                         stdout=subprocess.PIPE, stderr=open(data + ".log", "a"))
    for line in p.stdout:
        if line.startswith(b"listening on"):
            p.addr = line.split()[-1].decode()
            return p, time.monotonic() - t0
    raise SystemExit(f"weir serve exited with {p.wait()} (see {data}.log)")


def fill(weir, data, partitions, gib):
    shutil.rmtree(data, ignore_errors=True)
    p, _ = start(weir, data, [])
    boot = p.addr
    admin = AdminClient({"bootstrap.servers": boot})
    admin.create_topics([NewTopic("restart", partitions, 1)])["restart"].result(timeout=60)
    pr = Producer({"bootstrap.servers": boot, "acks": 1, "linger.ms": 20,
                   "batch.size": 262144, "queue.buffering.max.kbytes": 1048576})
    n, value = int(gib * 1024 * 1024), b"x" * 1024
    for i in range(n):
        while True:
            try:
                pr.produce("restart", value, partition=i % partitions)
                break
            except BufferError:
                pr.poll(0.05)
    if pr.flush(120) != 0:
        raise SystemExit("messages left undelivered")
    p.kill()
    p.wait()
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", default="build/weir")
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--gib", type=float, default=0.5)
    ap.add_argument("--threads", default="1,2,8")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/weir-restart")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    crashed, data = f"{a.dir}/crashed", f"{a.dir}/data"
    n = fill(a.weir, crashed, a.partitions, a.gib)
    print(f"{n} messages of 1 KiB in {a.partitions} partitions, then SIGKILL")
    print("| threads | after SIGKILL (s) | after a clean stop (s) | ratio |")
    print("|---|---|---|---|")
    for threads in [int(x) for x in a.threads.split(",")]:
        extra = ["--set", f"num.recovery.threads.per.data.dir={threads}"]
        crash, clean = [], []
        for _ in range(a.reps):
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(crashed, data)
            subprocess.run(["sync"], check=True)
            p, t = start(a.weir, data, extra)
            crash.append(t)
            p.send_signal(signal.SIGTERM)
            p.wait()
            p, t = start(a.weir, data, extra)
            clean.append(t)
            p.send_signal(signal.SIGTERM)
            p.wait()
        mc, ml = statistics.median(crash), statistics.median(clean)
        print(f"| {threads} | {mc:.2f} | {ml:.2f} | {mc / ml:.2f} |", flush=True)
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
