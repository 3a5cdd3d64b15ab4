#!/usr/bin/env python3
# timeout: 120
"""The admin API (/api/v1/) against a live `weir serve`, table-driven, each answer checked for
its exact status and content and validated against the schema the OpenAPI document
(/api/v1/openapi.json, itself validated with openapi-spec-validator) gives for that operation
and status. Bad input (bad JSON, too deep, too big, bad arguments, unknown paths and methods)
gets a 4xx JSON error and changes nothing. With --http-token the API needs the token while the
console's files and /health do not. Runs in build/compat/venv (scripts/deps-compat.sh, pins in
tests/python/requirements.txt).
"""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(TOP, "build", "compat", "venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    py = os.path.join(VENV, "bin", "python3")
    if not os.path.exists(py):
        print("not ok 1 - build/compat/venv is missing: run make deps")
        sys.exit(1)
    os.execv(py, [py] + sys.argv)

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from openapi_schema_validator import OAS30Validator  # noqa: E402
from openapi_spec_validator import validate as validate_spec  # noqa: E402

WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
N = 0
FAILED = 0


def tap(ok, name, extra=""):
    global N, FAILED
    N += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (N, name))
    if not ok:
        FAILED += 1
        for line in str(extra).splitlines()[:20]:
            print("    # " + line)


def start(work, *extra):
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(work, "data"), "--listen",
                          "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--set",
                          "group.initial.rebalance.delay.ms=0", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    kafka = p.stdout.readline().split()[-1]
    http = p.stdout.readline().split()[-1]
    return p, kafka, http


def call(http, method, path, body=None, raw=None, headers=None):  # noqa: PLR0913
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://%s%s" % (http, path), data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class Api:
    def __init__(self, http, doc):
        self.http, self.doc = http, doc

    def schema_for(self, method, path, status):
        """The response schema of the operation matching path, or None."""
        p = path.split("?")[0][len("/api/v1"):]
        for tmpl, ops in self.doc["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tmpl) + "$"
            if re.match(rx, p) and method.lower() in ops:
                resp = ops[method.lower()]["responses"].get(str(status))
                if resp is None:
                    return "undocumented"
                if "$ref" in resp:
                    resp = self.doc["components"]["responses"][resp["$ref"].split("/")[-1]]
                return resp.get("content", {}).get("application/json", {}).get("schema")
        # a path the document does not have: answered with the common error
        return {"$ref": "#/components/schemas/Error"} if status >= 400 else "undocumented"

    def check(self, name, method, path, body=None, status=200, expect=None, raw=None):
        st, data, _ = call(self.http, method, path, body, raw)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        problems = []
        if st != status:
            problems.append("status %d, wanted %d: %s" % (st, status, data[:300]))
        schema = self.schema_for(method, path, st)
        if schema == "undocumented":
            problems.append("status %d is not in the OpenAPI document" % st)
        elif schema:
            root = dict(self.doc)
            root.update(schema)
            errs = [e.message for e in OAS30Validator(root).iter_errors(j)]
            problems += ["schema: " + e for e in errs[:5]]
        if expect and not problems:
            try:
                r = expect(j)
                if r is not True:
                    problems.append("content: %r" % (r if r is not None else j))
            except Exception as e:  # noqa: BLE001
                problems.append("content check raised %r on %s" % (e, json.dumps(j)[:400]))
        tap(not problems, "%s (%s %s)" % (name, method, path.split("?")[0]), "\n".join(problems))
        return j


def error_is(word, text=None):
    return lambda j: set(j) == {"error", "message"} and j["error"] == word and \
        (text is None or text in j["message"]) or j


def main():
    work = tempfile.mkdtemp(prefix="weir-admin-api-")
    p, kafka, http = start(work)
    try:
        st, data, hdrs = call(http, "GET", "/api/v1/openapi.json")
        doc = json.loads(data)
        try:
            validate_spec(doc)
            tap(st == 200, "the OpenAPI document is served and valid OpenAPI 3")
        except Exception as e:  # noqa: BLE001
            tap(False, "the OpenAPI document is valid OpenAPI 3", e)
        api = Api(http, doc)
        run_topics(api, kafka)
        run_messages(api, kafka)
        run_groups(api, kafka)
        run_registry(api)
        run_dlq(api)
        run_parallel(api)
        run_traces(api)
        run_bad_input(api)
    finally:
        p.terminate()
        rc = p.wait()
    tap(rc == 0, "weir serve stops cleanly after all that (exit 0; ASan: no leak)", rc)
    run_token(work)
    shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % N)
    sys.exit(1 if FAILED else 0)


def run_topics(api, kafka):
    api.check("broker info", "GET", "/api/v1/broker", expect=lambda j: j["bootstrap"] == kafka and
              j["registry"] is True and j["tracing"] is True and j["metrics_path"] == "/metrics")
    api.check("create a topic", "POST", "/api/v1/topics",
              {"name": "t1", "partitions": 3, "configs": {"retention.ms": "3600000"}}, 201,
              lambda j: j["name"] == "t1" and j["partitions"] == 3 and not j["dry_run"])
    api.check("a dry-run create creates nothing", "POST", "/api/v1/topics",
              {"name": "t-dry", "partitions": 2, "dry_run": True}, 200,
              lambda j: j["dry_run"] is True)
    api.check("the same name again is a conflict", "POST", "/api/v1/topics", {"name": "t1"}, 409,
              error_is("conflict", "TOPIC_ALREADY_EXISTS"))
    api.check("a bad name is refused", "POST", "/api/v1/topics", {"name": "a/b"}, 400,
              error_is("bad_request", "topic name"))
    api.check("a bad config is refused", "POST", "/api/v1/topics",
              {"name": "t2", "configs": {"retention.ms": "soon"}}, 400,
              error_is("bad_request", "INVALID_CONFIG"))
    api.check("list: t1 and no dry-run topic", "GET", "/api/v1/topics",
              expect=lambda j: [t["name"] for t in j["topics"]] == ["t1"])
    api.check("list with internal topics", "GET", "/api/v1/topics?internal=true",
              expect=lambda j: "__consumer_offsets" in [t["name"] for t in j["topics"]])
    api.check("describe", "GET", "/api/v1/topics/t1",
              expect=lambda j: [q["partition"] for q in j["partitions"]] == [0, 1, 2])
    api.check("configs: retention.ms from the topic", "GET", "/api/v1/topics/t1/configs",
              expect=lambda j: any(c["name"] == "retention.ms" and c["value"] == "3600000" and
                                   c["source"] == "topic" for c in j["configs"]))
    api.check("alter configs", "PATCH", "/api/v1/topics/t1/configs",
              {"set": {"cleanup.policy": "compact"}, "delete": ["retention.ms"]},
              expect=lambda j: {(c["name"], c["value"], c["source"]) for c in j["configs"]} >=
              {("cleanup.policy", "compact", "topic"), ("retention.ms", "604800000", "default")})
    api.check("a bad config value changes nothing", "PATCH", "/api/v1/topics/t1/configs",
              {"set": {"cleanup.policy": "sometimes", "retention.ms": "5"}}, 400,
              error_is("bad_request"))
    api.check("... cleanup.policy is still compact", "GET", "/api/v1/topics/t1/configs",
              expect=lambda j: any(c["name"] == "cleanup.policy" and c["value"] == "compact"
                                   for c in j["configs"]))
    api.check("grow to 4 partitions", "POST", "/api/v1/topics/t1/partitions", {"count": 4},
              expect=lambda j: j["partitions"] == 4)
    api.check("shrinking is refused", "POST", "/api/v1/topics/t1/partitions", {"count": 2}, 400,
              error_is("bad_request", "INVALID_PARTITIONS"))
    api.check("partitions", "GET", "/api/v1/topics/t1/partitions",
              expect=lambda j: len(j["partitions"]) == 4)
    api.check("an unknown topic", "GET", "/api/v1/topics/nope", status=404,
              expect=error_is("not_found"))
    api.check("delete", "DELETE", "/api/v1/topics/t1",
              expect=lambda j: j == {"deleted": "t1"})
    api.check("delete again", "DELETE", "/api/v1/topics/t1", status=404,
              expect=error_is("not_found"))
    api.check("an internal topic cannot be deleted", "DELETE",
              "/api/v1/topics/__consumer_offsets", status=403, expect=error_is("forbidden"))


def run_messages(api, kafka):
    api.check("create m1", "POST", "/api/v1/topics", {"name": "m1", "partitions": 2}, 201)
    subprocess.run(["kcat", "-b", kafka, "-P", "-t", "m1", "-p", "0", "-K:", "-H", "h=1"],
                   input=b"a:hello\nb:{\"n\":2}\n", check=True)
    subprocess.run(["kcat", "-b", kafka, "-P", "-t", "m1", "-p", "1", "-Z"],
                   input=b"\xff\xfe\n", check=True)
    api.check("produce text with headers", "POST", "/api/v1/topics/m1/messages",
              {"partition": 1, "key": "c", "value": "third", "headers": {"x": "y", "n": None}},
              201, lambda j: j == {"topic": "m1", "partition": 1, "offset": 1})
    api.check("produce base64 and JSON", "POST", "/api/v1/topics/m1/messages",
              {"partition": 1, "key": "AAEC", "key_encoding": "base64", "value": [1, 2],
               "value_encoding": "json", "timestamp": 1000}, 201,
              lambda j: j["offset"] == 2)
    api.check("create m2", "POST", "/api/v1/topics", {"name": "m2", "partitions": 4}, 201)
    for key, part in (("order-1", None), ("order-1", None)):
        api.check("a key picks one partition (murmur2)", "POST", "/api/v1/topics/m2/messages",
                  {"key": key, "value": "v"}, 201, lambda j: j["partition"] in range(4))
    api.check("... the same partition both times", "GET", "/api/v1/topics/m2/messages",
              expect=lambda j: len({m["partition"] for m in j["messages"]}) == 1)
    api.check("read partition 0 from the start", "GET",
              "/api/v1/topics/m1/messages?partition=0&offset=earliest&limit=2",
              expect=lambda j: [(m["offset"], m["key"], m["value"], m["value_encoding"])
                                for m in j["messages"]] ==
              [(0, "a", "hello", "text"), (1, "b", '{"n":2}', "json")] and
              j["messages"][1]["value_decoded"] == {"n": 2} and
              j["messages"][0]["headers"] == [{"name": "h", "value": "1",
                                               "value_encoding": "text"}])
    api.check("binary as base64, null key, header null", "GET",
              "/api/v1/topics/m1/messages?partition=1&offset=0&limit=3",
              expect=lambda j: [(m["key"], m["value"], m["value_encoding"]) for m in j["messages"]]
              == [(None, "//4=", "base64"), ("c", "third", "text"), ("AAEC", "[1,2]", "json")] and
              j["messages"][1]["headers"][1] == {"name": "n", "value": None,
                                                 "value_encoding": None} and
              j["messages"][2]["key_encoding"] == "base64" and
              j["messages"][2]["timestamp"] == 1000)
    api.check("filter by key", "GET", "/api/v1/topics/m1/messages?key=b",
              expect=lambda j: [m["key"] for m in j["messages"]] == ["b"])
    api.check("filter by header", "GET", "/api/v1/topics/m1/messages?header=x=y",
              expect=lambda j: [m["value"] for m in j["messages"]] == ["third"])
    api.check("filter by value text", "GET", "/api/v1/topics/m1/messages?contains=ell",
              expect=lambda j: [m["value"] for m in j["messages"]] == ["hello"])
    api.check("latest 1 of partition 1", "GET",
              "/api/v1/topics/m1/messages?partition=1&offset=latest&limit=1",
              expect=lambda j: [m["offset"] for m in j["messages"]] == [2])
    api.check("by time: from ts 1000 on partition 1", "GET",
              "/api/v1/topics/m1/messages?partition=1&timestamp=999",
              expect=lambda j: j["messages"][0]["offset"] == 0)
    api.check("next offsets say where to go on", "GET",
              "/api/v1/topics/m1/messages?partition=0&limit=1",
              expect=lambda j: j["next_offsets"] == {"0": 1})
    api.check("a partition out of range", "GET", "/api/v1/topics/m1/messages?partition=7",
              status=404, expect=error_is("not_found"))
    api.check("producing to a missing topic creates nothing", "POST",
              "/api/v1/topics/ghost/messages", {"value": "x"}, 404, error_is("not_found"))
    api.check("... ghost does not exist", "GET", "/api/v1/topics/ghost", status=404)
    api.check("bad base64", "POST", "/api/v1/topics/m1/messages",
              {"value": "***", "value_encoding": "base64"}, 400, error_is("bad_request"))
    api.check("too large for max.message.bytes", "POST", "/api/v1/topics/m1/messages",
              {"partition": 0, "value": "x" * 1100000}, 413, error_is("payload_too_large"))


def run_registry(api):
    """A schema registered on weir serve's own registry decodes records in its wire format."""
    avsc = json.dumps({"type": "record", "name": "Order", "fields": [
        {"name": "id", "type": "string"}, {"name": "cents", "type": "long"}]})
    st, body, _ = call(api.http, "POST", "/subjects/reg-value/versions",
                       {"schema": avsc},
                       headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    sid = json.loads(body).get("id") if st == 200 else None
    tap(isinstance(sid, int), "a schema registers on weir serve's registry", (st, body))
    import base64
    payload = b"\x00" + sid.to_bytes(4, "big") + b"\x04o1\x54"
    api.check("create reg", "POST", "/api/v1/topics", {"name": "reg"}, 201)
    api.check("produce an Avro record", "POST", "/api/v1/topics/reg/messages",
              {"value": base64.b64encode(payload).decode(), "value_encoding": "base64"}, 201)
    api.check("the record decodes through the registry", "GET", "/api/v1/topics/reg/messages",
              expect=lambda j: (j["messages"][0]["value_encoding"],
                                j["messages"][0]["value_schema_id"],
                                j["messages"][0]["value_decoded"]) ==
              ("registry", sid, {"id": "o1", "cents": 42}))


def run_groups(api, kafka):
    subprocess.run(["kcat", "-b", kafka, "-G", "g1", "-e", "-q", "-o", "beginning", "m1"],
                   stdout=subprocess.DEVNULL, check=True, timeout=30)
    api.check("groups", "GET", "/api/v1/groups",
              expect=lambda j: [(g["group_id"], g["state"], g["members"], g["lag"])
                                for g in j["groups"]] == [("g1", "Empty", 0, 0)])
    api.check("a group with its offsets", "GET", "/api/v1/groups/g1",
              expect=lambda j: [(o["partition"], o["offset"], o["lag"]) for o in j["offsets"]]
              == [(0, 2, 0), (1, 3, 0)])
    api.check("reset preview", "POST", "/api/v1/groups/g1/offsets/reset",
              {"topic": "m1", "to": "earliest", "dry_run": True},
              expect=lambda j: j["applicable"] and [(c["partition"], c["previous"], c["offset"])
                                                    for c in j["changes"]] ==
              [(0, 2, 0), (1, 3, 0)])
    api.check("... changed nothing", "GET", "/api/v1/groups/g1",
              expect=lambda j: j["lag"] == 0)
    api.check("reset by shift on partition 1", "POST", "/api/v1/groups/g1/offsets/reset",
              {"topic": "m1", "partitions": [1], "to": "shift", "shift": -2},
              expect=lambda j: [(c["partition"], c["offset"]) for c in j["changes"]] == [(1, 1)])
    api.check("reset to a time", "POST", "/api/v1/groups/g1/offsets/reset",
              {"topic": "m1", "partitions": [1], "to": "timestamp", "timestamp": 999},
              expect=lambda j: j["changes"][0]["offset"] == 0)
    api.check("lag after the resets", "GET", "/api/v1/groups/g1",
              expect=lambda j: j["lag"] == 3)
    api.check("a bad reset target", "POST", "/api/v1/groups/g1/offsets/reset", {"to": "later"},
              400, error_is("bad_request"))
    api.check("an offset without a value", "POST", "/api/v1/groups/g1/offsets/reset",
              {"to": "offset"}, 400, error_is("bad_request"))
    api.check("a partition the topic lacks", "POST", "/api/v1/groups/g1/offsets/reset",
              {"topic": "m1", "partitions": [9], "to": "latest"}, 400, error_is("bad_request"))
    api.check("an unknown group", "GET", "/api/v1/groups/none", status=404,
              expect=error_is("not_found"))
    api.check("delete the group", "DELETE", "/api/v1/groups/g1",
              expect=lambda j: j == {"deleted": "g1"})
    api.check("... gone", "GET", "/api/v1/groups/g1", status=404)
    run_consumer_group(api, kafka)


def run_consumer_group(api, kafka):
    """A KIP-848 group (group.protocol=consumer) is shown as well: type consumer, its assignor,
    its member with the partitions it owns."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": kafka, "group.id": "cg1", "group.protocol": "consumer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["m1"])
    end = time.time() + 30
    while time.time() < end and len(c.assignment()) < 2:
        c.poll(0.2)
    one = {"protocol_type": "consumer", "protocol": "uniform", "state": "Stable"}
    api.check("a consumer group (KIP-848)", "GET", "/api/v1/groups/cg1",
              expect=lambda j: {k: j[k] for k in one} == one and j["generation"] >= 1 and
              [sorted((a["topic"], p) for a in m["assignments"] for p in a["partitions"])
               for m in j["members"]] == [[("m1", 0), ("m1", 1)]])
    api.check("... listed with its member", "GET", "/api/v1/groups",
              expect=lambda j: [(g["protocol_type"], g["state"], g["members"])
                                for g in j["groups"] if g["group_id"] == "cg1"] ==
              [("consumer", "Stable", 1)])
    api.check("... no reset while it has a member", "POST", "/api/v1/groups/cg1/offsets/reset",
              {"topic": "m1", "to": "earliest"}, 409, error_is("conflict"))
    c.close()
    api.check("... Empty once its member left", "GET", "/api/v1/groups/cg1",
              expect=lambda j: j["state"] == "Empty" and j["members"] == [])
    api.check("... and deleted", "DELETE", "/api/v1/groups/cg1",
              expect=lambda j: j == {"deleted": "cg1"})


def run_dlq(api):
    api.check("create pay", "POST", "/api/v1/topics", {"name": "pay", "partitions": 2}, 201)
    api.check("create pay.dlq", "POST", "/api/v1/topics", {"name": "pay.dlq"}, 201)
    for i in range(3):
        hdr = {"weir.dlq.original.topic": "pay", "weir.dlq.original.partition": "1",
               "weir.dlq.original.offset": str(10 + i), "weir.dlq.error": "bad amount %d" % i,
               "weir.dlq.attempts": "3", "weir.dlq.group": "payments", "traceparent": "tp"}
        if i == 2:
            hdr["weir.dlq.original.topic"] = "gone"
        api.check("dead letter %d" % i, "POST", "/api/v1/topics/pay.dlq/messages",
                  {"key": "k%d" % i, "value": "v%d" % i, "headers": hdr}, 201)
    api.check("dlq topics", "GET", "/api/v1/dlq",
              expect=lambda j: [(d["topic"], d["messages"], d["pending"], d["origin_topic"])
                                for d in j["dlq_topics"]] == [("pay.dlq", 3, 3, "pay")] and
              j["dlq_topics"][0]["newest_timestamp"] >= j["dlq_topics"][0]["oldest_timestamp"])
    api.check("dlq records with their provenance", "GET", "/api/v1/dlq/pay.dlq/records",
              expect=lambda j: j["records"][0]["dlq"] == {
                  "error": "bad amount 0", "original_topic": "pay", "original_partition": 1,
                  "original_offset": 10, "original_timestamp": None, "group": "payments",
                  "attempts": 3, "first_failure_timestamp": None} and
              not j["records"][0]["redriven"])
    api.check("dlq records whose error matches ?error=", "GET",
              "/api/v1/dlq/pay.dlq/records?error=amount%20%5B12%5D",
              expect=lambda j: [r["offset"] for r in j["records"]] == [1, 2])
    api.check("a bad ?error= regex", "GET", "/api/v1/dlq/pay.dlq/records?error=%28", None, 400,
              error_is("bad_request"))
    api.check("redrive preview", "POST", "/api/v1/dlq/pay.dlq/redrive", {"dry_run": True},
              expect=lambda j: (j["redriven"], j["skipped"], j["targets"]) == (2, 1, {"pay": 2}))
    api.check("redrive one", "POST", "/api/v1/dlq/pay.dlq/redrive", {"limit": 1},
              expect=lambda j: (j["redriven"], j["remaining"]) == (1, 2))
    api.check("redrive the rest", "POST", "/api/v1/dlq/pay.dlq/redrive", {},
              expect=lambda j: (j["redriven"], j["skipped"], j["remaining"]) == (1, 1, 0))
    api.check("a rerun redrives nothing again", "POST", "/api/v1/dlq/pay.dlq/redrive", {},
              expect=lambda j: (j["redriven"], j["remaining"]) == (0, 0))
    api.check("pay/1 holds each redriven record once, provenance gone", "GET",
              "/api/v1/topics/pay/messages?partition=1",
              expect=lambda j: [(m["key"], [h["name"] for h in m["headers"]])
                                for m in j["messages"]] ==
              [("k0", ["traceparent", "weir.redrive.source"]),
               ("k1", ["traceparent", "weir.redrive.source"])] and
              j["messages"][1]["headers"][1]["value"] == "pay.dlq/0/1")
    api.check("progress is a consumer group", "GET", "/api/v1/groups/weir-redrive.pay.dlq",
              expect=lambda j: [o["offset"] for o in j["offsets"]] == [3])
    api.check("not a dlq topic", "POST", "/api/v1/dlq/pay/redrive", {}, 400,
              error_is("bad_request"))


def otlp_span(tid, sid, parent, name, op, topic, partition, offset, start_ms, dur_ms):  # noqa: PLR0913
    attrs = [{"key": "messaging.operation", "value": {"stringValue": op}},
             {"key": "messaging.destination.name", "value": {"stringValue": topic}},
             {"key": "messaging.kafka.destination.partition", "value": {"intValue": str(partition)}},
             {"key": "messaging.kafka.message.offset", "value": {"intValue": str(offset)}},
             {"key": "weir.event.type", "value": {"stringValue": "OrderPlaced"}}]
    return {"traceId": tid, "spanId": sid, "parentSpanId": parent, "name": name,
            "startTimeUnixNano": str(start_ms * 1000000),
            "endTimeUnixNano": str((start_ms + dur_ms) * 1000000), "attributes": attrs}


def run_traces(api):
    """The event journey: spans a service exports to POST /v1/traces are served by the admin
    API (GET /traces, GET /traces/{trace_id}), in its error format and its OpenAPI schemas."""
    api.check("no traces yet", "GET", "/api/v1/traces", expect=lambda j: j == {"traces": []})
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    t0 = int(time.time() * 1000)
    export = {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
         "scopeSpans": [{"spans": [
             otlp_span(tid, "00f067aa0ba902b7", "", "orders publish", "publish", "orders", 2, 41,
                       t0, 3)]}]},
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
         "scopeSpans": [{"spans": [
             otlp_span(tid, "00f067aa0ba902b8", "00f067aa0ba902b7", "orders process", "process",
                       "orders", 2, 41, t0 + 10, 5)]}]}]}
    st, body, _ = call(api.http, "POST", "/v1/traces", export,
                       headers={"Content-Type": "application/json"})
    tap(st == 200, "a service's OTLP export is accepted (POST /v1/traces)", (st, body))
    api.check("the journey of a trace", "GET", "/api/v1/traces/" + tid,
              expect=lambda j: j["trace_id"] == tid and j["services"] == ["shop", "billing"] and
              j["topics"] == ["orders"] and
              [(h["service"], h["operation"], h["topic"], h["partition"], h["offset"],
                h["at_ms"], h["duration_ms"], h["parent_span_id"]) for h in j["hops"]] ==
              [("shop", "publish", "orders", 2, 41, 0, 3, None),
               ("billing", "process", "orders", 2, 41, 10, 5, "00f067aa0ba902b7")])
    api.check("... listed first among the recent traces", "GET", "/api/v1/traces?limit=5",
              expect=lambda j: [(t["trace_id"], t["spans"], t["services"], t["first_event_type"])
                                for t in j["traces"]] ==
              [(tid, 2, ["shop", "billing"], "OrderPlaced")])
    api.check("a trace id that is not 32 hex digits", "GET", "/api/v1/traces/abc", status=400,
              expect=error_is("bad_request"))
    api.check("a trace no span of which is kept", "GET", "/api/v1/traces/" + "ab" * 16,
              status=404, expect=error_is("not_found"))
    api.check("a bad limit", "GET", "/api/v1/traces?limit=0", status=400,
              expect=error_is("bad_request"))
    api.check("traces are read-only", "DELETE", "/api/v1/traces/" + tid, status=405,
              expect=error_is("method_not_allowed"))


def run_parallel(api):
    """Requests at once on the HTTP pool: group calls that wait for loop 0, durable produces,
    reads and registry lookups, all answered, none lost."""
    import threading
    statuses = []
    lock = threading.Lock()

    def worker(k):
        for i in range(10):
            calls = [("GET", "/api/v1/groups", None), ("GET", "/api/v1/topics/m1/messages", None),
                     ("POST", "/api/v1/topics/m2/messages", {"key": "p%d" % k, "value": str(i)}),
                     ("GET", "/subjects", None), ("GET", "/api/v1/dlq", None)]
            m, path, body = calls[(k + i) % len(calls)]
            st, _, _ = call(api.http, m, path, body)
            with lock:
                statuses.append(st)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    tap(len(statuses) == 120 and set(statuses) <= {200, 201},
        "120 requests from 12 clients at once all answered", sorted(set(statuses)))


def run_bad_input(api):
    api.check("not JSON", "POST", "/api/v1/topics", raw=b"{nope", status=400,
              expect=error_is("bad_request", "not JSON"))
    api.check("not an object", "POST", "/api/v1/topics", raw=b"[1]", status=400,
              expect=error_is("bad_request"))
    api.check("too deep", "POST", "/api/v1/topics", raw=b"[" * 17 + b"]" * 17, status=400,
              expect=error_is("bad_request", "deeper"))
    api.check("too big", "POST", "/api/v1/topics", raw=b" " * (1024 * 1024 + 1), status=413,
              expect=error_is("payload_too_large"))
    api.check("a wrong type", "POST", "/api/v1/topics", {"name": 5}, 400,
              error_is("bad_request", "'name'"))
    api.check("a long argument", "GET", "/api/v1/topics/m1/messages?key=" + "k" * 600,
              status=400, expect=error_is("bad_request", "longer"))
    api.check("a bad number", "GET", "/api/v1/topics/m1/messages?limit=0", status=400,
              expect=error_is("bad_request", "limit"))
    api.check("an unknown path", "GET", "/api/v1/nothing", status=404,
              expect=error_is("not_found"))
    api.check("a wrong method", "PUT", "/api/v1/topics", {}, 405,
              error_is("method_not_allowed"))
    api.check("nothing changed: the topics are the same", "GET", "/api/v1/topics",
              expect=lambda j: [t["name"] for t in j["topics"]] == ["_schemas", "m1", "m2", "pay", "pay.dlq", "reg"])


def run_token(work):
    shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    p, _, http = start(work, "--http-token", "s3cret", "--set", "weir.trace.spans.max=0")
    try:
        st, body, hdrs = call(http, "GET", "/api/v1/broker")
        tap(st == 401 and json.loads(body)["error"] == "unauthorized" and
            hdrs.get("WWW-Authenticate", "").startswith("Bearer"),
            "with --http-token the API needs the token", (st, body))
        st, _, _ = call(http, "GET", "/api/v1/broker", headers={"Authorization": "Bearer nope"})
        tap(st == 401, "a wrong token is refused", st)
        st, _, _ = call(http, "GET", "/api/v1/broker",
                        headers={"Authorization": "Bearer s3cret"})
        tap(st == 200, "the right token is let through", st)
        auth = {"Authorization": "Bearer s3cret"}
        st, body, _ = call(http, "GET", "/api/v1/broker", headers=auth)
        st2, body2, _ = call(http, "GET", "/api/v1/traces/" + "ab" * 16, headers=auth)
        tap(st == 200 and json.loads(body)["tracing"] is False and st2 == 501 and
            json.loads(body2)["error"] == "not_implemented",
            "with weir.trace.spans.max=0 there is no journey: tracing false, 501", (body, body2))
        st, _, _ = call(http, "GET", "/metrics")
        st2, text, _ = call(http, "GET", "/metrics", headers=auth)
        tap(st == 401 and st2 == 200 and b"kafka_brokers 1" in text,
            "/metrics needs the token as well", (st, st2))
        st1, page, h1 = call(http, "GET", "/ui/")
        st2, _, _ = call(http, "GET", "/health")
        tap(st1 == 200 and b"Weir console" in page and st2 == 200,
            "the console's files and /health need no token", (st1, st2))
        st3, _, _ = call(http, "GET", "/ui/", headers={"If-None-Match": h1.get("ETag", "")})
        tap(st3 == 304, "the console's files revalidate with their ETag", st3)
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    t0 = time.time()
    main()
