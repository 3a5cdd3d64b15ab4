#!/usr/bin/env python3
"""src/broker/config_kafka.{h,c} are exactly what scripts/kafka-configs/gen_config_tables.py
writes from the Kafka 4.4.0 dump beside it (nobody edited the generated tables by hand, and
the dump and the tables agree). TAP."""
import filecmp
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(TOP, "scripts", "kafka-configs", "gen_config_tables.py")
DUMP = os.path.join(TOP, "scripts", "kafka-configs", "kafka-4.4.0.jsonl")

with tempfile.TemporaryDirectory() as out:
    subprocess.run([sys.executable, "-B", GEN, DUMP, out], check=True)
    n = 0
    failed = 0
    for name in ("config_kafka.h", "config_kafka.c"):
        n += 1
        same = filecmp.cmp(os.path.join(out, name), os.path.join(TOP, "src", "broker", name),
                           shallow=False)
        failed += not same
        print("%s %d - src/broker/%s is the generator's output" % ("ok" if same else "not ok", n,
                                                                  name))
    print("1..%d" % n)
    sys.exit(1 if failed else 0)
