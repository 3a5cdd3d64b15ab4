"""`weir topic export` and `weir topic import` against a live `weir serve`: records written by
confluent-kafka into three partitions (binary, null and empty keys and values, headers with
null, empty and binary values, repeated header names, explicit timestamps) are exported,
imported into a new topic, exported again: the two files are equal byte for byte (offsets
included, since both topics start at 0 without gaps), and confluent-kafka reads back exactly
what it wrote. --from / --to / -p cut exact ranges. A file with a bad line is refused with the
line number and nothing is written. Starts its own `weir serve` on port 0. TAP."""
import json
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import run_with_broker, tap  # noqa: E402
from cli_helpers import weir as weir_text  # noqa: E402

T0 = 1700000000000


def weir(broker, *args):
    return weir_text(broker, *args, text=False)


# (partition, key, value, headers): every kind of bytes the format must carry.
RECORDS = [
    (0, b"k1", b"v1", [("h", None), ("bin", b"\xff\x00\x01")]),
    (0, None, None, []),
    (0, b"", b"", [("empty", b"")]),
    (1, b"\x00\xff\xfe", "h\u00e9llo \u2603".encode(), [("x", b"y"), ("x", b"z")]),
    (1, b"quote\"back\\slash\nnl", b"\x00", [("nul", b"a\x00b")]),
    (2, "k\u00e9".encode(), b"\x80" * 300, [("n", None), ("n", b"")]),
] + [(i % 3, b"key%d" % i, b"value%d" % i, []) for i in range(40)]


def produce(b, topic):
    p = Producer({"bootstrap.servers": b, "log.connection.close": False})
    for i, (part, k, v, h) in enumerate(RECORDS):
        p.produce(topic, partition=part, key=k, value=v, headers=h or None, timestamp=T0 + i)
    p.flush()


def read_back(b, topic):
    """{partition: [(key, value, headers, timestamp)]} read with confluent-kafka."""
    c = Consumer({"bootstrap.servers": b, "group.id": "t", "enable.partition.eof": True,
                  "log.connection.close": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(3)])
    out, eof = {0: [], 1: [], 2: []}, set()
    while len(eof) < 3:
        m = c.poll(10)
        if m is None:
            raise RuntimeError("no end of %s" % topic)
        if m.error():
            eof.add(m.partition())
            continue
        out[m.partition()].append((m.key(), m.value(), m.headers() or [], m.timestamp()[1]))
    c.close()
    return out


def expected():
    out = {0: [], 1: [], 2: []}
    for i, (part, k, v, h) in enumerate(RECORDS):
        out[part].append((k, v, h, T0 + i))
    return out


def check_round_trip(b, work):
    rc, first, err = weir(b, "topic", "export", "src")
    lines = first.decode().splitlines()
    tap(rc == 0 and len(lines) == len(RECORDS), "export: one line per record", err)
    objs = [json.loads(x) for x in lines]
    tap([(o["partition"], o["offset"]) for o in objs] ==
        [(p, o) for p in range(3) for o in range(sum(1 for r in RECORDS if r[0] == p))],
        "export: partition after partition, each in offset order", lines[:5])
    tap(objs[0] == {"partition": 0, "offset": 0, "timestamp": T0,
                    "timestamp_type": "create_time", "key": "k1", "value": "v1",
                    "headers": [{"key": "h", "value": None},
                                {"key": "bin", "value": "/wAB", "value_encoding": "base64"}]},
        "export: text, null header value, base64 header value", objs[0])
    tap(objs[1]["key"] is None and objs[1]["value"] is None and objs[2]["key"] == ""
        and objs[2]["value"] == "" and objs[2]["headers"] == [{"key": "empty", "value": ""}],
        "export: null and empty keys and values stay apart", objs[1:3])
    p1 = [o for o in objs if o["partition"] == 1]
    tap(p1[0]["key"] == "AP/+" and p1[0]["key_encoding"] == "base64"
        and p1[0]["value"] == "h\u00e9llo \u2603" and "value_encoding" not in p1[0]
        and p1[1]["value"] == "\u0000", "export: binary as base64, UTF-8 (and NUL) as text", p1[:2])
    path = os.path.join(work, "src.jsonl")
    with open(path, "wb") as f:
        f.write(first)
    rc, out, err = weir(b, "topic", "import", path, "copy")
    tap(rc == 0 and out == b"imported %d records into copy\n" % len(RECORDS),
        "import: every record", out + err.encode())
    rc, second, err = weir(b, "topic", "export", "copy")
    tap(rc == 0 and second == first, "export, import, export: the same bytes",
        "%d vs %d bytes" % (len(first), len(second)))
    got = read_back(b, "copy")
    tap(got == expected(), "confluent-kafka reads back what it wrote: keys, values, headers, "
        "timestamps, partitions", got)


def check_ranges(b):
    def offsets(*args):
        rc, out, err = weir(b, "topic", "export", "src", *args)
        if rc != 0:
            return err
        return [(o["partition"], o["offset"]) for o in map(json.loads, out.decode().splitlines())]

    tap(offsets("-p", "1", "--from", "2", "--to", "5") == [(1, 2), (1, 3), (1, 4)],
        "export -p 1 --from 2 --to 5: offsets 2, 3, 4 of partition 1")
    tap(offsets("--from", "-1") == [(0, 16), (1, 14), (2, 13)],
        "export --from -1: the last record of each partition", offsets("--from", "-1"))
    # Records 5..8 (T0 + 5 .. T0 + 8): 5 is partition 2 offset 0, 6 is 0/3, 7 is 1/2, 8 is 2/1;
    # --from a time starts at each partition's first record at or after it, --to stops before.
    got = offsets("--from", "@%d" % (T0 + 5), "--to", "@%d" % (T0 + 9))
    tap(got == [(0, 3), (1, 2), (2, 0), (2, 1)], "export --from @T --to @T: by timestamp", got)
    rc, out, err = weir(b, "topic", "export", "nope")
    tap(rc == 3 and "topic 'nope' not found" in err and out == b"", "export: missing topic, 3", err)
    rc, out, err = weir(b, "topic", "export", "src", "--from", "bogus")
    tap(rc == 2 and "--from wants an offset or a time" in err, "export: bad --from, 2", err)


BAD = [
    ('{"partition":0,"timestamp":1,"key":null,"value":"x"', "not a JSON object"),
    ('{"partition":3,"timestamp":1,"key":null,"value":"x"}', "partition 3 but the topic has 3"),
    ('{"partition":0,"timestamp":1,"key":"@@","key_encoding":"base64","value":"x"}',
     '"key" is not valid base64'),
    ('{"partition":0,"timestamp":1,"key":null}', 'no "value"'),
    ('{"partition":0,"timestamp":1,"key":"a","key_encoding":"hex","value":null}',
     '"key_encoding" must be "base64"'),
    ('{"partition":0,"timestamp":-5,"key":null,"value":null}', '"timestamp" must be a number'),
    ('{"partition":0,"timestamp":1,"key":null,"value":null,"headers":[{"value":"x"}]}',
     'header 1: needs a "key" string'),
    ('{"partition":0,"timestamp":1,"key":null,"value":null,"timestamp_type":"x"}',
     '"timestamp_type" must be'),
]


def check_bad_files(b, work):
    good = '{"partition":0,"timestamp":1,"key":null,"value":"ok"}\n'
    for i, (line, why) in enumerate(BAD):
        path = os.path.join(work, "bad%d.jsonl" % i)
        with open(path, "w") as f:
            f.write(good + "\n" + good + line + "\n" + good)
        rc, out, err = weir(b, "topic", "import", path, "empty")
        want = "%s line 4: %s" % (path, why)
        tap(rc == 1 and want in err and "nothing was imported" in err and out == b"",
            "import refuses line 4 (%s)" % why, "rc %d: %s" % (rc, err))
    path = os.path.join(work, "huge.jsonl")
    with open(path, "w") as f:
        f.write(good + '{"partition":0,"timestamp":1,"key":null,"value":"%s"}\n'
                % ("x" * (64 << 20)))
    rc, out, err = weir(b, "topic", "import", path, "empty")
    tap(rc == 1 and "huge.jsonl line 2: longer than 64 MiB; nothing was imported" in err,
        "import refuses a line over 64 MiB", err)
    os.unlink(path)
    rc, out, err = weir(b, "topic", "import", os.path.join(work, "bad0.jsonl"), "missing")
    tap(rc == 3 and "topic 'missing' not found" in err, "import into a missing topic: 3", err)
    rc, out, err = weir(b, "topic", "import", os.path.join(work, "none.jsonl"), "empty")
    tap(rc == 3 and "cannot read" in err, "import of a missing file: 3", err)
    path = os.path.join(work, "good.jsonl")
    with open(path, "w") as f:
        f.write(good * 3)
    rc, out, err = weir(b, "topic", "import", path, "empty", "--dry-run")
    tap(rc == 0 and out == b"would import 3 records into empty\n", "import --dry-run", out)
    rc, out, err = weir(b, "topic", "export", "empty")
    tap(rc == 0 and out == b"", "nothing was written by the refused files nor the dry run", out)


def main(b, work):
    weir(b, "topic", "create", "src", "copy", "empty", "-p", "3")
    produce(b, "src")
    check_round_trip(b, work)
    check_ranges(b)
    check_bad_files(b, work)


run_with_broker(main)
