#!/usr/bin/env python3
"""Game scores for examples/leaderboard, with the expected board.

Registers --players players (topic `players`, compacted: id -> name) and writes --games scores
(topic `scores`: id -> points of one game, 1..100). The truth file (--truth) holds every player's
total and the top 20 (highest first, ties by id), as the app's GET /top must show them.
With --more N it only appends N further scores (to the same players) and adds them to the truth
file given, for the "live" part of the test.

    gen.py --bootstrap HOST:PORT --truth truth.json [--players 2000] [--games 30000] [--seed 5]
"""
import argparse
import json
import os
import random

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

NAMES = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Ken", "Dennis", "Radia", "Donald",
         "Frances", "John", "Margaret", "Niklaus", "Leslie", "Tony", "Shafi"]


def create_topics(bootstrap, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic("scores", partitions, 1), NewTopic("leaderboard-totals", partitions, 1),
              NewTopic("players", partitions, 1, config={"cleanup.policy": "compact"})]
    for _, fut in admin.create_topics(topics).items():
        try:
            fut.result(15)
        except Exception as e:
            if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def top(totals, n=20):
    return [[p, s] for p, s in sorted(totals.items(), key=lambda x: (-x[1], x[0]))[:n]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--players", type=int, default=2000)
    ap.add_argument("--games", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--more", type=int, default=0)
    a = ap.parse_args()
    p = Producer({"bootstrap.servers": a.bootstrap, "partitioner": "murmur2_random",
                  "linger.ms": 5, "enable.idempotence": True})
    if a.more:
        with open(a.truth) as f:
            truth = json.load(f)
        rng = random.Random(a.seed + truth["games"])
        players = sorted(truth["totals"])
    else:
        create_topics(a.bootstrap, a.partitions)
        rng = random.Random(a.seed)
        players = ["p%04d" % i for i in range(a.players)]
        truth = {"games": 0, "totals": {q: 0 for q in players},
                 "names": {q: "%s %d" % (rng.choice(NAMES), i) for i, q in enumerate(players)}}
        for q in players:
            p.produce("players", key=q, value=truth["names"][q])
    n = a.more or a.games
    # A few strong players make a clear top of the board.
    weights = [5 if i % 97 == 0 else 1 for i in range(len(players))]
    for q in rng.choices(players, weights=weights, k=n):
        pts = rng.randint(1, 100)
        truth["totals"][q] += pts
        p.produce("scores", key=q, value=str(pts))
        p.poll(0)
    if p.flush(60):
        raise SystemExit("gen.py: records not acknowledged")
    truth["games"] += n
    truth["top"] = top(truth["totals"])
    tmp = a.truth + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f)
    os.replace(tmp, a.truth)
    print("wrote %d scores of %d players; leader %s with %d" %
          (n, len(players), truth["top"][0][0], truth["top"][0][1]))


if __name__ == "__main__":
    main()
