#!/usr/bin/env python3
"""Device readings for examples/iot-telemetry, with the answer key.

50 devices send a temperature every 10 s for 30 minutes (topic `telemetry`, one partition so
that the stream time, and with it which readings are late, can be worked out here exactly).
Five devices stop early (at minutes 10, 12, 15, 18 and 20): the app should report each of them as
silent, once, with its first and last reading. Readings are written up to 5 s out of order
(within the app's 10 s grace), and 20 readings of devices that keep going are held back 90 s:
those come after their minute closed and must go to telemetry-late, not into the roll-ups.

The truth file (--truth) holds the expected per-device-minute roll-ups (n, min, max, avg) of the
minutes that close, the late readings, the silent devices and every device's last reading.

    gen.py --bootstrap HOST:PORT --truth truth.json [--devices 50] [--seed 11]
"""
import argparse
import json
import random
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

MIN = 60_000
GRACE = 10_000
GAP = 2 * MIN


def create_topics(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(t, 1, 1) for t in
              ("telemetry", "telemetry-1m", "devices-silent", "telemetry-late")]
    topics.append(NewTopic("device-state", 1, 1, config={"cleanup.policy": "compact"}))
    for _, fut in admin.create_topics(topics).items():
        try:
            fut.result(15)
        except Exception as e:
            if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def readings(rng, devices, t0):
    stop = {devices[i]: t0 + m * MIN for i, m in zip((3, 11, 19, 27, 35), (10, 12, 15, 18, 20))}
    out = []
    for i, d in enumerate(devices):
        base = 18 + rng.random() * 6
        end = stop.get(d, t0 + 30 * MIN)
        t = t0 + i * 100
        while t < end:
            out.append((t, d, round(base + rng.uniform(-1.5, 1.5), 2)))
            t += 10_000
    return out, stop


def written_order(rng, recs, silent):
    """Up to 5 s out of order; 20 readings of devices that keep going, 90 s late."""
    keyed = [(t + rng.randint(-5000, 5000), (t, d, v)) for t, d, v in recs]
    movable = [i for i, (_, (t, d, _)) in enumerate(keyed)
               if d not in silent and 5 * MIN < t < 25 * MIN + keyed[0][1][0]]
    for i in rng.sample(movable, 20):
        k, r = keyed[i]
        keyed[i] = (r[0] + 90_000, r)
    keyed.sort(key=lambda x: x[0])
    return [r for _, r in keyed]


def expected(order):
    """What the app computes, replaying its stream time: minute roll-ups, late readings, last
    readings."""
    stream_time, late, minutes, last = None, [], {}, {}
    for t, d, v in order:
        stream_time = t if stream_time is None else max(stream_time, t)
        start = t - t % MIN
        if start + MIN <= stream_time - GRACE:
            late.append([d, t])
        else:
            m = minutes.setdefault((d, start), [])
            m.append(v)
        if d not in last or t >= last[d][0]:
            last[d] = (t, v)
    closed = {k: v for k, v in minutes.items() if k[1] + MIN <= stream_time - GRACE}
    rollups = [{"device": d, "minute": s, "n": len(vs), "min": min(vs), "max": max(vs),
                "avg": sum(vs) / len(vs)} for (d, s), vs in sorted(closed.items())]
    return rollups, late, {d: {"ts": t, "temp": v} for d, (t, v) in last.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    devices = ["d%02d" % i for i in range(a.devices)]
    t0 = (int(time.time() * 1000) // MIN - 60) * MIN
    recs, stop = readings(rng, devices, t0)
    order = written_order(rng, recs, stop)
    rollups, late, last = expected(order)
    silent = []
    for d in sorted(stop):
        mine = [t for t, dd, _ in recs if dd == d]
        silent.append({"device": d, "first_seen": min(mine), "last_seen": max(mine),
                       "readings": len(mine)})

    create_topics(a.bootstrap)
    p = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for t, d, v in order:
        p.produce("telemetry", key=d, value=json.dumps({"device": d, "temp": v, "ts": t}),
                  timestamp=t)
        p.poll(0)
    if p.flush(60):
        raise SystemExit("gen.py: records not acknowledged")
    with open(a.truth, "w") as f:
        json.dump({"readings": len(order), "rollups": rollups, "late": late, "silent": silent,
                   "last": last}, f)
    print("wrote %d readings of %d devices: %d minute roll-ups expected, %d late, %d silent" %
          (len(order), len(devices), len(rollups), len(late), len(silent)))


if __name__ == "__main__":
    main()
