"""GET /metrics against a live broker, with exact numbers: records produced to known partitions
and offsets committed by a group give kafka_exporter's offsets, lag, lag sums and members; Weir's
own series count records, fetch errors and fsyncs; histograms are consistent; OpenMetrics on
request; the cardinality switches (weir.metrics.partition.labels, .max, .consumergroup.sums)
change the exposition at run time; `promtool check metrics` accepts it (its only findings, with
the kafka_exporter sums on, are those two names); and a real Prometheus (Debian's) scrapes it
and answers a lag query. TAP.
# timeout: 200
"""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import traceback
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

n = 0
failed = 0


def tap(ok, name, detail=""):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[:30]:
            print("#   " + line, flush=True)


def scrape(http, accept=None):
    req = urllib.request.Request("http://%s/metrics" % http)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers.get("Content-Type"), r.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def samples(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def get(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def wait_for(cond, secs=15):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def produce(addr, topic, counts):
    p = Producer({"bootstrap.servers": addr, "acks": "all", "linger.ms": 0})
    for part, k in counts.items():
        for i in range(k):
            p.produce(topic, value=b"v%d" % i, partition=part)
    p.flush(20)


def commit(addr, group, topic, offsets):
    c = Consumer({"bootstrap.servers": addr, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
             asynchronous=False)
    c.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def alter(admin, node, **kv):
    res = ConfigResource(ConfigResource.Type.BROKER, str(node),
                         set_config={k.replace("_", "."): v for k, v in kv.items()})
    for f in admin.alter_configs([res]).values():
        f.result()


def check_exact(addr, http):
    s = samples(scrape(http)[1])
    want = [
        ("kafka_brokers", {}, 1),
        ("kafka_topic_partitions", {"topic": "m1"}, 3),
        ("kafka_topic_partition_current_offset", {"topic": "m1", "partition": "0"}, 10),
        ("kafka_topic_partition_current_offset", {"topic": "m1", "partition": "1"}, 5),
        ("kafka_topic_partition_current_offset", {"topic": "m1", "partition": "2"}, 0),
        ("kafka_topic_partition_oldest_offset", {"topic": "m1", "partition": "0"}, 0),
        ("kafka_topic_partition_replicas", {"topic": "m1", "partition": "0"}, 1),
        ("kafka_consumergroup_current_offset",
         {"consumergroup": "g-metrics", "topic": "m1", "partition": "0"}, 7),
        ("kafka_consumergroup_current_offset",
         {"consumergroup": "g-metrics", "topic": "m1", "partition": "1"}, 5),
        ("kafka_consumergroup_lag", {"consumergroup": "g-metrics", "topic": "m1", "partition": "0"},
         3),
        ("kafka_consumergroup_lag", {"consumergroup": "g-metrics", "topic": "m1", "partition": "1"},
         0),
        ("kafka_consumergroup_lag_sum", {"consumergroup": "g-metrics", "topic": "m1"}, 3),
        ("kafka_consumergroup_current_offset_sum", {"consumergroup": "g-metrics", "topic": "m1"},
         12),
        ("kafka_consumergroup_members", {"consumergroup": "g-metrics"}, 0),
        ("weir_consumergroup_state", {"consumergroup": "g-metrics", "state": "Empty"}, 1),
        ("weir_consumergroup_generation", {"consumergroup": "g-metrics"}, 0),
        ("weir_topic_produced_records_total", {"topic": "m1"}, 15),
        ("weir_metrics_partitions_omitted", {}, 0),
        ("weir_metrics_groups_complete", {}, 1),
        ("weir_partitions_offline", {}, 0),
    ]
    bad = ["%s%s = %s, want %s" % (nm, lb, get(s, nm, **lb), v) for nm, lb, v in want
           if get(s, nm, **lb) != v]
    tap(not bad, "kafka_exporter offsets, lag, sums and members, produced records exact",
        "\n".join(bad))
    size = get(s, "weir_topic_log_size_bytes", topic="m1")
    parts = sum(get(s, "weir_partition_log_size_bytes", topic="m1", partition=str(p)) or 0
                for p in range(3))
    tap(size and size == parts, "log size per topic is the sum of its partitions (%s)" % size)
    fs = get(s, "weir_fsyncs_total")
    tap(fs and fs >= 1 and get(s, "weir_group_commit_size_count") == fs
        and get(s, "weir_fsync_duration_seconds_count") == fs,
        "acks=all produces: fsyncs counted, one latency and one group size each (%s)" % fs)
    return s


def check_histograms(text):
    """Every histogram: buckets cumulative, +Inf equal to _count."""
    buckets = {}
    counts = {}
    for (name, labels), v in samples(text).items():
        if name.endswith("_bucket"):
            rest = frozenset(x for x in labels if x[0] != "le")
            le = dict(labels)["le"]
            buckets.setdefault((name[:-7], rest), []).append(
                (float("inf") if le == "+Inf" else float(le), v))
        elif name.endswith("_count"):
            counts[(name[:-6], labels)] = v
    bad = []
    for key, bs in buckets.items():
        bs.sort()
        vals = [v for _, v in bs]
        if vals != sorted(vals) or bs[-1][0] != float("inf") or counts.get(key) != vals[-1]:
            bad.append(str(key))
    tap(buckets and not bad, "%d histograms cumulative, +Inf == _count" % len(buckets),
        "\n".join(bad))
    api = [k for k in buckets if k[0] == "weir_kafka_request_duration_seconds"]
    tap(any(("api", "Produce") in k[1] for k in api) and any(("api", "Fetch") in k[1] for k in api),
        "request latency histograms per API (Produce, Fetch)")


def check_errors(addr, http):
    c = Consumer({"bootstrap.servers": addr, "group.id": "g-oor", "auto.offset.reset": "error",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("m1", 0, 1000)])
    got = None
    end = time.time() + 10
    while got is None and time.time() < end:
        m = c.poll(0.5)
        if m is not None and m.error():
            got = m.error()
    c.close()
    s = samples(scrape(http)[1])
    v = get(s, "weir_kafka_request_errors_total", api="Fetch", error="OFFSET_OUT_OF_RANGE")
    tap(got is not None and v and v >= 1,
        "a fetch out of range is counted by API and error name (%s)" % v)


def check_live_member(addr, http):
    c = Consumer({"bootstrap.servers": addr, "group.id": "g-live", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe(["m1"])
    ok = False
    end = time.time() + 20
    while time.time() < end and not ok:
        c.poll(0.2)
        s = samples(scrape(http)[1])
        ok = (get(s, "kafka_consumergroup_members", consumergroup="g-live") == 1
              and get(s, "weir_consumergroup_state", consumergroup="g-live", state="Stable") == 1
              and get(s, "weir_consumergroup_generation", consumergroup="g-live") == 1)
    c.close()
    tap(ok, "a subscribed consumer: its group has 1 member, is Stable, generation 1")


# The KIP-848 member runs in build/compat/venv's Python: its confluent-kafka (2.16) speaks
# group.protocol=consumer, Debian's does not. It commits, says "ready", and leaves at a line on
# stdin.
KIP848_MEMBER = r"""
import sys, time
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "g-848", "group.protocol": "consumer",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe(["m1"])
end = time.time() + 30
while time.time() < end and len(c.assignment()) < 3:
    c.poll(0.2)
c.commit(offsets=[TopicPartition("m1", 0, 4), TopicPartition("m1", 1, 5)], asynchronous=False)
print("ready %d" % len(c.assignment()), flush=True)
sys.stdin.readline()
c.close()
print("closed", flush=True)
"""


def check_consumer_protocol(addr, http):
    """A KIP-848 group (group.protocol=consumer): its member, its state, its group epoch as the
    generation (the admin API's), and the lag of what it committed."""
    py = os.path.join(TOP, "build", "compat", "venv", "bin", "python3")
    if not os.path.exists(py):
        tap(False, "a KIP-848 group: build/compat/venv is missing (make deps)")
        return
    m = subprocess.Popen([py, "-c", KIP848_MEMBER, addr], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = m.stdout.readline().strip()
    want = {("kafka_consumergroup_members", ()): 1,
            ("weir_consumergroup_state", (("state", "Stable"),)): 1,
            ("kafka_consumergroup_lag", (("partition", "0"), ("topic", "m1"))): 6,
            ("kafka_consumergroup_lag", (("partition", "1"), ("topic", "m1"))): 0,
            ("kafka_consumergroup_lag_sum", (("topic", "m1"),)): 6,
            ("kafka_consumergroup_current_offset_sum", (("topic", "m1"),)): 9}
    got, epoch, gen = {}, None, None
    end = time.time() + 15
    while time.time() < end:
        s = samples(scrape(http)[1])
        got = {k: get(s, k[0], consumergroup="g-848", **dict(k[1])) for k in want}
        with urllib.request.urlopen("http://%s/api/v1/groups/g-848" % http, timeout=10) as r:
            epoch = json.loads(r.read())["generation"]
        gen = get(s, "weir_consumergroup_generation", consumergroup="g-848")
        if got == want and epoch >= 1 and gen == epoch:
            break
        time.sleep(0.2)
    tap(ready == "ready 3" and got == want and epoch >= 1 and gen == epoch,
        "a KIP-848 group: 1 member, Stable, its group epoch as generation (%s), the lag of its "
        "commits" % gen, "member: %r; got %s, admin API epoch %s" % (ready, got, epoch))
    m.stdin.write("\n")
    m.stdin.flush()
    closed = m.stdout.readline().strip()
    m.wait(30)
    ok = wait_for(lambda: get(samples(scrape(http)[1]), "weir_consumergroup_state",
                              consumergroup="g-848", state="Empty") == 1)
    s = samples(scrape(http)[1])
    tap(closed == "closed" and ok and
        get(s, "kafka_consumergroup_members", consumergroup="g-848") == 0,
        "... Empty with no member once it left")


def check_openmetrics(http):
    ctype, text = scrape(http, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    tap(ctype.startswith("application/openmetrics-text") and text.endswith("# EOF\n")
        and "# TYPE weir_kafka_requests counter\n" in text
        and 'weir_kafka_requests_total{api="Produce"}' in text,
        "OpenMetrics on request (content type, counter family, # EOF)", ctype)
    ctype, text = scrape(http)
    tap(ctype.startswith("text/plain; version=0.0.4") and "# EOF" not in text,
        "text format 0.0.4 by default", ctype)


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()


def check_promtool_and_switches(admin, node, http, err_path):
    rc, lines = promtool(scrape(http)[1])
    allowed = {"kafka_consumergroup_current_offset_sum", "kafka_consumergroup_lag_sum"}
    tap(rc in (0, 3) and sorted(l.split()[0] for l in lines) == sorted(allowed),
        "promtool: kafka_exporter's two _sum names are its only findings", "\n".join(lines))
    alter(admin, node, weir_metrics_consumergroup_sums="false")
    rc, lines = promtool(scrape(http)[1])
    tap(rc == 0 and not lines, "promtool check metrics clean with the sums off", "\n".join(lines))
    # (promtool reads the text format only; Prometheus itself asks for OpenMetrics first, so
    # check_prometheus below is the OpenMetrics parser's test.)

    alter(admin, node, weir_metrics_partition_labels="false")
    s = samples(scrape(http)[1])
    names = {k[0] for k in s}
    tap("kafka_topic_partition_current_offset" not in names and "kafka_consumergroup_lag" not in
        names and get(s, "kafka_topic_partitions", topic="m1") == 3,
        "weir.metrics.partition.labels=false: no per-partition series, topics still there")

    alter(admin, node, weir_metrics_partition_labels="true", weir_metrics_partition_max="2")
    s = samples(scrape(http)[1])
    total = sum(v for (nm, lb), v in s.items() if nm == "kafka_topic_partitions")
    labelled = [k for k in s if k[0] == "kafka_topic_partition_current_offset"]
    with open(err_path) as f:
        warned = "weir.metrics.partition.max" in f.read()
    tap(len(labelled) == 2 and get(s, "weir_metrics_partitions_omitted") == total - 2 and warned,
        "weir.metrics.partition.max=2: two partitions labelled, %d omitted, a warning logged"
        % (total - 2))
    alter(admin, node, weir_metrics_partition_max="20000", weir_metrics_consumergroup_sums="true")


def check_prometheus(http, work):
    port = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: weir\n    static_configs:\n"
                "      - targets: ['%s']\n" % http)
    log = open(os.path.join(work, "prometheus.log"), "w")
    p = subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path",
                          os.path.join(work, "tsdb"), "--web.listen-address",
                          "127.0.0.1:%d" % port], stdout=log, stderr=log)
    try:
        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
            try:
                import json
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.loads(r.read())["data"]["result"]
                return [float(x["value"][1]) for x in res]
            except Exception:
                return None

        up = wait_for(lambda: query('up{job="weir"}') == [1.0], 40)
        tap(up, "Prometheus scrapes /metrics (up == 1)")
        lag = wait_for(lambda: query(
            'kafka_consumergroup_lag{consumergroup="g-metrics",topic="m1",partition="0"}')
            == [3.0], 20)
        tap(lag, "Prometheus answers kafka_consumergroup_lag == 3")
        rate = query('sum(weir_topic_produced_records_total{topic="m1"})')
        tap(rate == [15.0], "Prometheus sums weir_topic_produced_records_total == 15 (%s)" % rate)
    finally:
        p.terminate()
        p.wait(10)


def api_versions_v0(addr, corr):
    """An open connection that has sent one ApiVersions v0 and read its answer."""
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    body = struct.pack(">hhih", 18, 0, corr, 4) + b"test"
    sock.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    sock.recv(size, socket.MSG_WAITALL)
    return sock


def check_listeners(work):
    """Several Kafka listeners (PLAINTEXT and SASL_PLAINTEXT): the request and connection series
    sum them, one number per API as with one listener."""
    err = open(os.path.join(work, "listeners.err"), "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(work, "data-listeners"),
                          "--http-listen", "127.0.0.1:0", "--set",
                          "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    socks = []
    try:
        lines = [p.stdout.readline().strip() for _ in range(4)]
        http = lines[1].split()[-1]
        addrs = {l.split("://")[0].split()[-1]: l.split("://")[1] for l in lines[2:]}
        socks = [api_versions_v0(addrs["PLAINTEXT"], 1),
                 api_versions_v0(addrs["SASL_PLAINTEXT"], 2),
                 api_versions_v0(addrs["SASL_PLAINTEXT"], 3)]
        s = samples(scrape(http)[1])
        got = get(s, "weir_kafka_requests_total", api="ApiVersions")
        tap(got == 3, "two listeners: weir_kafka_requests_total{api=ApiVersions} sums both (%s)"
            % got)
        got = get(s, "weir_connections")
        tap(got == 3, "two listeners: weir_connections sums both (%s)" % got)
    except Exception:
        tap(False, "two listeners: unexpected exception", traceback.format_exc())
    finally:
        for sock in socks:
            sock.close()
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        err.close()
        tap(p.returncode == 0, "two listeners: the broker stopped cleanly (exit %s)" % p.returncode)


def main():
    import urllib.parse  # noqa: F401 (used by check_prometheus)
    work = tempfile.mkdtemp(prefix="weir-test-metrics-")
    err_path = os.path.join(work, "stderr")
    err = open(err_path, "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(work, "data"), "--listen",
                          "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--set",
                          "group.initial.rebalance.delay.ms=0"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        http = p.stdout.readline().split()[-1]
        admin = AdminClient({"bootstrap.servers": addr})
        for f in admin.create_topics([NewTopic("m1", 3, 1)]).values():
            f.result()
        node = admin.list_topics(timeout=10).brokers.popitem()[0]
        produce(addr, "m1", {0: 10, 1: 5})
        commit(addr, "g-metrics", "m1", {0: 7, 1: 5})
        check_exact(addr, http)
        check_errors(addr, http)
        check_histograms(scrape(http)[1])
        check_live_member(addr, http)
        check_consumer_protocol(addr, http)
        check_openmetrics(http)
        check_promtool_and_switches(admin, node, http, err_path)
        check_prometheus(http, work)
        check_listeners(work)
    except Exception:
        tap(False, "unexpected exception", traceback.format_exc())
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        err.close()
        with open(err_path) as f:
            tail = f.read()[-4000:]
        tap(p.returncode == 0, "broker stopped cleanly (exit %s)" % p.returncode, tail)
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
