#!/usr/bin/env python3
"""Card transactions for examples/fraud-detection, with the answer key.

Writes the card register (topic `cards`) and about six hours of transactions (topic
`card-transactions`), creating both topics, and the ground truth as JSON (--truth): which cards
are fraudulent and by which pattern, and which honest cards the rules are expected to flag anyway.

Honest cards spend at most 300 at a time, at least 4 minutes apart (so never 5 in 10 minutes, and
at most 15 x 300 = 4500 in an hour), abroad only below 500. On top of that, with disjoint cards:
  velocity  7 transactions 25 s apart          -> the velocity rule
  amount    4 transactions of 1400-2000 in 30 minutes, at home -> the amount rule
  foreign   one transaction of 1200-3000 abroad -> the foreign rule
  spree     honest: 3 purchases of 1800-2200 in 45 minutes at home (new furniture): the amount
            rule flags them; these are the expected false positives.
Records are written up to 20 s out of order (within the app's one-minute grace), then every card
makes one small purchase two hours after the end so that every window closes.

    gen.py --bootstrap HOST:PORT --truth truth.json [--cards 500] [--seed 7] [--partitions 4]
"""
import argparse
import json
import random
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

MIN = 60_000
COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "IE"]


def create_topics(bootstrap, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic("card-transactions", partitions, 1),
              NewTopic("cards", partitions, 1, config={"cleanup.policy": "compact"}),
              NewTopic("fraud-alerts", partitions, 1),
              NewTopic("card-transactions-late", partitions, 1)]
    for name, fut in admin.create_topics(topics).items():
        try:
            fut.result(15)
        except Exception as e:  # an existing topic is fine
            if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def honest_day(rng, card, home, t0, hours):
    """Transactions at least 4 minutes apart, 5-300 each, at home or (below 500) abroad."""
    txs, t = [], t0 + rng.randint(0, 30) * MIN
    while t < t0 + hours * 60 * MIN:
        abroad = rng.random() < 0.05
        country = rng.choice([c for c in COUNTRIES if c != home]) if abroad else home
        amount = round(rng.uniform(5, 300 if not abroad else 480), 2)
        txs.append((t, card, amount, country))
        t += rng.randint(4 * MIN, 80 * MIN)
    return txs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--cards", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--partitions", type=int, default=4)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    hours = 6
    t0 = (int(time.time() * 1000) // (60 * MIN) - hours - 3) * 60 * MIN  # whole hours, past
    cards = ["c%04d" % i for i in range(a.cards)]
    home = {c: rng.choice(COUNTRIES) for c in cards}
    special = rng.sample(cards, 33)
    patterns = {"velocity": special[0:10], "amount": special[10:20], "foreign": special[20:30],
                "spree": special[30:33]}
    txs = []
    for c in cards:
        txs += honest_day(rng, c, home[c], t0, hours)
    for c in patterns["velocity"]:
        s = t0 + rng.randint(30, hours * 60 - 30) * MIN
        txs += [(s + i * 25_000, c, round(rng.uniform(20, 80), 2), home[c]) for i in range(7)]
    for c in patterns["amount"]:
        s = t0 + rng.randint(30, hours * 60 - 60) * MIN
        txs += [(s + i * 10 * MIN, c, round(rng.uniform(1400, 2000), 2), home[c])
                for i in range(4)]
    for c in patterns["foreign"]:
        abroad = rng.choice([x for x in COUNTRIES if x != home[c]])
        txs.append((t0 + rng.randint(30, hours * 60 - 30) * MIN, c,
                    round(rng.uniform(1200, 3000), 2), abroad))
    for c in patterns["spree"]:
        s = t0 + rng.randint(30, hours * 60 - 60) * MIN
        txs += [(s + i * 15 * MIN, c, round(rng.uniform(1800, 2200), 2), home[c])
                for i in range(3)]
    # Written in event-time order, each record moved by up to 20 s.
    txs.sort(key=lambda x: x[0] + rng.randint(-20_000, 20_000))
    end = t0 + (hours + 2) * 60 * MIN
    txs += [(end + i, c, 1.0, home[c]) for i, c in enumerate(cards)]

    create_topics(a.bootstrap, a.partitions)
    p = Producer({"bootstrap.servers": a.bootstrap, "partitioner": "murmur2_random",
                  "linger.ms": 5, "enable.idempotence": True})
    for c in cards:
        p.produce("cards", key=c, value=json.dumps({"home": home[c]}))
    p.flush(30)
    for ts, c, amount, country in txs:
        v = json.dumps({"card": c, "amount": amount, "country": country, "ts": ts},
                       separators=(",", ":"))
        p.produce("card-transactions", key=c, value=v, timestamp=ts)
        p.poll(0)
    left = p.flush(60)
    if left:
        raise SystemExit("gen.py: %d records not acknowledged" % left)
    fraud = sorted(patterns["velocity"] + patterns["amount"] + patterns["foreign"])
    truth = {"transactions": len(txs), "cards": len(cards), "fraud": fraud,
             "by_pattern": {k: sorted(v) for k, v in patterns.items()},
             "expected_false_positives": sorted(patterns["spree"])}
    with open(a.truth, "w") as f:
        json.dump(truth, f, indent=1)
    print("wrote %d transactions of %d cards; %d fraudulent" % (len(txs), len(cards), len(fraud)))


if __name__ == "__main__":
    main()
