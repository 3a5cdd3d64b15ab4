"""The registry's REST API checked against Confluent's documented answers, one table row per
request: method, path, body, the exact status and the exact body (or a check of it). Rows run
in order against one fresh test server, so each builds on the state the rows above left. The
comment on a row says what Confluent documents for it (API reference, error code list) or,
marked "weir:", where Weir chose because Confluent documents nothing. Standard library only.
TAP, one line per row."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
SERVER = os.path.join(BUILD, "tests", "integration", "registry_server")
V1 = "application/vnd.schemaregistry.v1+json"


def avro(s):
    return {"schema": json.dumps(s)}


REC = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
REC_B = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"},
                                                   {"name": "b", "type": "int", "default": 0}]}
REC_NODEF = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"},
                                                       {"name": "c", "type": "int"}]}
REF = {"type": "record", "name": "Money", "namespace": "m",
       "fields": [{"name": "cents", "type": "long"}]}
USES_REF = {"type": "record", "name": "Pay", "namespace": "m",
            "fields": [{"name": "amount", "type": "Money"}]}


def err(code, msg):
    return {"error_code": code, "message": msg}


def has(code, fragment):
    """A check: this error code, and the message holds fragment."""
    def check(body):
        return body.get("error_code") == code and fragment in body.get("message", "")
    check.__name__ = "error %d with '%s'" % (code, fragment)
    return check


NOT_FOUND = err(404, "HTTP 404 Not Found")
BAD_VERSION = ("The specified version '%s' is not a valid version id. Allowed values are "
               "between [1, 2^31-1] and the string \"latest\"")

# (method, path, body, status, expected body or check, headers)
ROWS = [
    # GET /schemas/types: the types this registry supports
    ("GET", "/schemas/types", None, 200, ["JSON", "PROTOBUF", "AVRO"]),
    ("GET", "/subjects", None, 200, []),
    # 40401 Subject not found, message "Subject '%s' not found."
    ("GET", "/subjects/s/versions", None, 404, err(40401, "Subject 's' not found.")),
    # register: {"id"}; a missing schemaType is AVRO
    ("POST", "/subjects/s/versions", avro("string"), 200, {"id": 1}),
    # idempotent: the same schema again, same id, no new version
    ("POST", "/subjects/s/versions", avro("string"), 200, {"id": 1}),
    # the same schema in another form parses to the same canonical string: the same id
    ("POST", "/subjects/s/versions", {"schema": '{ "type" : "string" }'}, 200, {"id": 1}),
    # ids are global: the same schema under another subject has the same id
    ("POST", "/subjects/s2/versions", avro("string"), 200, {"id": 1}),
    ("GET", "/subjects", None, 200, ["s", "s2"]),
    ("GET", "/subjects?subjectPrefix=s2&unknownParam=1", None, 200, ["s2"]),
    ("GET", "/subjects/s/versions", None, 200, [1]),
    ("GET", "/subjects/s/versions/1", None, 200,
     {"subject": "s", "version": 1, "id": 1, "schema": '"string"'}),
    ("GET", "/subjects/s/versions/latest", None, 200,
     {"subject": "s", "version": 1, "id": 1, "schema": '"string"'}),
    # 40402 Version not found, "Version %s not found."
    ("GET", "/subjects/s/versions/2", None, 404, err(40402, "Version 2 not found.")),
    # 42202 invalid version
    ("GET", "/subjects/s/versions/0", None, 422, err(42202, BAD_VERSION % "0")),
    ("GET", "/subjects/s/versions/x", None, 422, err(42202, BAD_VERSION % "x")),
    ("GET", "/schemas/ids/1", None, 200, {"schema": '"string"'}),
    # 40403 Schema not found, "Schema %s not found"
    ("GET", "/schemas/ids/99", None, 404, err(40403, "Schema 99 not found")),
    ("GET", "/schemas/ids/1/subjects", None, 200, ["s", "s2"]),
    ("GET", "/schemas/ids/1/versions", None, 200,
     [{"subject": "s", "version": 1}, {"subject": "s2", "version": 1}]),
    ("GET", "/schemas/ids/1?subject=nosuch", None, 404, err(40403, "Schema 1 not found")),
    # POST /subjects/{s}: lookup answers subject, version, id, schema
    ("POST", "/subjects/s", avro("string"), 200,
     {"subject": "s", "version": 1, "id": 1, "schema": '"string"'}),
    ("POST", "/subjects/s", avro("int"), 404, err(40403, "Schema not found")),
    ("POST", "/subjects/nosuch", avro("int"), 404, err(40401, "Subject 'nosuch' not found.")),
    # 409 incompatible (BACKWARD by default): a string cannot be read as int
    ("POST", "/subjects/s/versions", avro("int"), 409,
     has(409, "Schema being registered is incompatible with an earlier schema for subject "
         "\"s\", details: [{errorType:'TYPE_MISMATCH'")),
    # 42201 invalid schema
    ("POST", "/subjects/s/versions", {"schema": "{bad"}, 422, has(42201, "Invalid schema")),
    ("POST", "/subjects/s/versions", {}, 422, err(42201, "Empty schema")),
    ("POST", "/subjects/s/versions", {"schema": '"string"', "schemaType": "XML"}, 422,
     has(42201, "Invalid schema type XML")),
    ("POST", "/subjects/s/versions", avro({"type": "record", "name": "X", "fields": [
        {"name": "a", "type": "nosuch"}]}), 422, has(42201, "Undefined name")),
    # weir: bounds. Nesting past the depth limit, and a schema over the size limit (42209)
    ("POST", "/subjects/deep/versions",
     {"schema": json.dumps(json.loads("{\"type\":\"array\",\"items\":" * 70 +
                                                "\"int\"" + "}" * 70))}, 422,
     has(42201, "deeper than")),
    ("POST", "/subjects/big/versions",
     {"schema": json.dumps({"type": "enum", "name": "E", "doc": "x" * (1 << 20),
                            "symbols": ["A"]})}, 422, has(42209, "Schema too large")),
    # records and compatibility
    ("POST", "/subjects/rec/versions", avro(REC), 200, {"id": 2}),
    ("POST", "/compatibility/subjects/rec/versions/latest", avro(REC_B), 200,
     {"is_compatible": True}),
    ("POST", "/compatibility/subjects/rec/versions/latest?verbose=true", avro(REC_NODEF), 200,
     {"is_compatible": False, "messages": [
         "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'c' at path "
         "'/fields/1' in the new schema has no default value and is missing in the old schema"
         "', additionalInfo:'c'}", "{oldSchemaVersion: 1}",
         "{oldSchema: '%s'}" % json.dumps(REC, separators=(",", ":")),
         "{validateFields: 'false', compatibility: 'BACKWARD'}"]}),
    ("POST", "/compatibility/subjects/rec/versions", avro(REC_NODEF), 200,
     {"is_compatible": False}),
    ("POST", "/compatibility/subjects/nosuch/versions/latest", avro(REC), 404,
     err(40401, "Subject 'nosuch' not found.")),
    ("POST", "/compatibility/subjects/rec/versions/7", avro(REC), 404,
     err(40402, "Version 7 not found.")),
    ("POST", "/subjects/rec/versions", avro(REC_B), 200, {"id": 3}),
    # config: global and per subject, defaultToGlobal
    ("GET", "/config", None, 200, {"compatibilityLevel": "BACKWARD"}),
    ("PUT", "/config", {"compatibility": "none"}, 200, {"compatibility": "NONE"}),
    ("GET", "/config", None, 200, {"compatibilityLevel": "NONE"}),
    # 42203 invalid compatibility level
    ("PUT", "/config", {"compatibility": "SIDEWAYS"}, 422,
     err(42203, "Invalid compatibility level. Valid values are none, backward, forward, full, "
         "backward_transitive, forward_transitive, and full_transitive")),
    # 40408 subject-level compatibility not configured
    ("GET", "/config/rec", None, 404,
     err(40408, "Subject 'rec' does not have subject-level compatibility configured")),
    ("GET", "/config/rec?defaultToGlobal=true", None, 200, {"compatibilityLevel": "NONE"}),
    ("PUT", "/config/rec", {"compatibility": "FULL_TRANSITIVE"}, 200,
     {"compatibility": "FULL_TRANSITIVE"}),
    ("GET", "/config/rec", None, 200, {"compatibilityLevel": "FULL_TRANSITIVE"}),
    ("POST", "/subjects/rec/versions", avro(REC_NODEF), 409, has(409, "FULL_TRANSITIVE")),
    ("DELETE", "/config/rec", None, 200, {"compatibilityLevel": "FULL_TRANSITIVE"}),
    ("GET", "/config/rec", None, 404, has(40408, "subject-level compatibility")),
    ("DELETE", "/config", None, 200, {"compatibilityLevel": "NONE"}),
    ("GET", "/config", None, 200, {"compatibilityLevel": "BACKWARD"}),
    # mode
    ("GET", "/mode", None, 200, {"mode": "READWRITE"}),
    ("GET", "/mode/rec", None, 404,
     err(40409, "Subject 'rec' does not have subject-level mode configured")),
    ("GET", "/mode/rec?defaultToGlobal=true", None, 200, {"mode": "READWRITE"}),
    ("PUT", "/mode/rec", {"mode": "READONLY"}, 200, {"mode": "READONLY"}),
    # 42205 operation not permitted
    ("POST", "/subjects/rec/versions", avro(REC_B), 422,
     err(42205, "Subject rec is in read-only mode")),
    ("DELETE", "/mode/rec", None, 200, {"mode": "READONLY"}),
    ("PUT", "/mode", {"mode": "SOMETIMES"}, 422, has(42204, "Invalid mode")),
    ("PUT", "/mode", {"mode": "IMPORT"}, 422,
     err(42205, "Cannot import since found existing subjects")),
    ("POST", "/subjects/imp/versions", {"schema": '"bytes"', "id": 100, "version": 5}, 422,
     err(42205, "Subject imp is not in import mode")),
    ("PUT", "/mode/imp?force=true", {"mode": "IMPORT"}, 200, {"mode": "IMPORT"}),
    ("POST", "/subjects/imp/versions", {"schema": '"bytes"', "id": 100, "version": 5}, 200,
     {"id": 100}),
    ("GET", "/subjects/imp/versions", None, 200, [5]),
    ("DELETE", "/mode/imp", None, 200, {"mode": "IMPORT"}),
    # ids go on from the highest one: after an import of id 100, the next is 101
    ("POST", "/subjects/after/versions", avro("float"), 200, {"id": 101}),
    # references
    ("POST", "/subjects/money/versions", avro(REF), 200, {"id": 102}),
    ("POST", "/subjects/pay/versions",
     dict(avro(USES_REF), references=[{"name": "m.Money", "subject": "money", "version": 1}]),
     200, {"id": 103}),
    ("GET", "/subjects/money/versions/1/referencedby", None, 200, [103]),
    ("GET", "/schemas/ids/103", None, 200, {
        "references": [{"name": "m.Money", "subject": "money", "version": 1}],
        "schema": json.dumps(USES_REF, separators=(",", ":"))}),
    ("POST", "/subjects/pay2/versions", avro(USES_REF), 422, has(42201, "Undefined name")),
    ("POST", "/subjects/pay2/versions",
     dict(avro(USES_REF), references=[{"name": "m.Money", "subject": "nosuch", "version": 1}]),
     422, has(42201, "does not exist")),
    # 42206 reference exists
    ("DELETE", "/subjects/money/versions/1", None, 422, has(42206, "references exist")),
    # soft, then permanent deletes
    ("DELETE", "/subjects/s2/versions/1", None, 200, 1),
    ("GET", "/subjects/s2/versions", None, 404, err(40401, "Subject 's2' not found.")),
    ("GET", "/subjects/s2/versions?deleted=true", None, 200, [1]),
    ("GET", "/subjects/s2/versions/1?deleted=true", None, 200,
     {"subject": "s2", "version": 1, "id": 1, "schema": '"string"'}),
    # 40406 version soft deleted
    ("DELETE", "/subjects/s2/versions/1", None, 404, err(
        40406, "Subject 's2' Version 1 was soft deleted.Set permanent=true to delete "
        "permanently")),
    ("DELETE", "/subjects/s2/versions/1?permanent=true", None, 200, 1),
    ("GET", "/subjects?deleted=true", None, 200,
     ["after", "imp", "money", "pay", "rec", "s"]),
    # 40407 version not soft deleted first
    ("DELETE", "/subjects/rec/versions/1?permanent=true", None, 404, err(
        40407, "Subject 'rec' Version 1 was not deleted first before being permanently "
        "deleted")),
    # 40405 subject not soft deleted first
    ("DELETE", "/subjects/rec?permanent=true", None, 404, err(
        40405, "Subject 'rec' was not deleted first before being permanently deleted")),
    ("DELETE", "/subjects/rec", None, 200, [1, 2]),
    ("GET", "/subjects", None, 200, ["after", "imp", "money", "pay", "s"]),
    ("GET", "/subjects?deleted=true", None, 200, ["after", "imp", "money", "pay", "rec", "s"]),
    # 40404 subject soft deleted
    ("DELETE", "/subjects/rec", None, 404, err(
        40404, "Subject 'rec' was soft deleted.Set permanent=true to delete permanently")),
    ("DELETE", "/subjects/rec?permanent=true", None, 200, [1, 2]),
    ("GET", "/schemas/ids/2", None, 404, err(40403, "Schema 2 not found")),
    # a permanently deleted id is not given again
    ("POST", "/subjects/rec/versions", avro({"type": "record", "name": "R2", "fields": []}),
     200, {"id": 104}),
    ("GET", "/contexts", None, 200, ["."]),
    # JSON Schema and Protobuf through the same endpoints
    ("POST", "/subjects/js/versions", {"schemaType": "JSON", "schema": json.dumps(
        {"type": "object", "properties": {"a": {"type": "string"}}})}, 200, {"id": 105}),
    ("GET", "/subjects/js/versions/1", None, 200, {
        "subject": "js", "version": 1, "id": 105, "schemaType": "JSON",
        "schema": '{"type":"object","properties":{"a":{"type":"string"}}}'}),
    # open content model: adding a property is not backward compatible
    ("POST", "/subjects/js/versions", {"schemaType": "JSON", "schema": json.dumps(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}})},
     409, has(409, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")),
    ("POST", "/subjects/pb/versions", {"schemaType": "PROTOBUF", "schema":
                                       'syntax = "proto3"; message M { string a = 1; }'},
     200, {"id": 106}),
    ("GET", "/subjects/pb/versions/1/schema", None, 200,
     'syntax = "proto3";\n\nmessage M {\n  string a = 1;\n}\n'),
    ("POST", "/subjects/pb/versions", {"schemaType": "PROTOBUF", "schema":
                                       'syntax = "proto3"; message M { int64 a = 1; }'},
     409, has(409, "FIELD_SCALAR_KIND_CHANGED")),
    # a subject keeps one schema type
    ("POST", "/subjects/pb/versions", {"schemaType": "JSON", "schema": "{}"}, 409,
     has(409, "details: [{errorType:'TYPE_MISMATCH', description:'The schema type changed "
         "from PROTOBUF to JSON', additionalInfo:''}, {oldSchemaVersion: 1}")),
    ("POST", "/subjects/pb/versions", {"schemaType": "PROTOBUF", "schema":
                                       'syntax = "proto3"; message M { string a = 1 }'},
     422, has(42201, "expected ';'")),
    # references of JSON Schema ($ref by the reference's name) and Protobuf (imports)
    ("POST", "/subjects/addr/versions", {"schemaType": "JSON", "schema": json.dumps(
        {"type": "object", "properties": {"city": {"type": "string"}}})}, 200, {"id": 107}),
    ("POST", "/subjects/cust/versions", {"schemaType": "JSON", "schema": json.dumps(
        {"type": "object", "properties": {"home": {"$ref": "addr.json"}}}),
        "references": [{"name": "addr.json", "subject": "addr", "version": 1}]},
     200, {"id": 108}),
    ("POST", "/subjects/cust2/versions", {"schemaType": "JSON", "schema": json.dumps(
        {"type": "object", "properties": {"home": {"$ref": "addr.json"}}})},
     422, has(42201, "$ref addr.json does not resolve")),
    ("POST", "/subjects/money.proto/versions", {"schemaType": "PROTOBUF", "schema":
                                                'syntax = "proto3"; package m; '
                                                'message Money { int64 cents = 1; }'},
     200, {"id": 109}),
    ("POST", "/subjects/pay.proto/versions", {
        "schemaType": "PROTOBUF",
        "schema": 'syntax = "proto3"; package p; import "money.proto"; '
                  'message Pay { m.Money amount = 1; }',
        "references": [{"name": "money.proto", "subject": "money.proto", "version": 1}]},
     200, {"id": 110}),
    ("POST", "/subjects/pay2.proto/versions", {
        "schemaType": "PROTOBUF",
        "schema": 'syntax = "proto3"; import "money.proto"; message Pay { m.Money a = 1; }'},
     422, has(42201, "import \"money.proto\" is not among the references")),
    # a reference to another type is refused
    ("POST", "/subjects/mixed/versions", {
        "schema": '"string"', "references": [{"name": "x", "subject": "addr", "version": 1}]},
     422, has(42201, "is a JSON schema, not AVRO")),
    # HTTP level: unknown paths and methods as Jersey answers them, content types
    ("GET", "/schemas/nothing", None, 404, NOT_FOUND),
    ("PUT", "/subjects/s/versions", {}, 405, err(405, "HTTP 405 Method Not Allowed")),
    ("POST", "/subjects/s", avro("string"), 415,
     err(415, "HTTP 415 Unsupported Media Type"), {"Content-Type": "text/plain"}),
    ("GET", "/subjects", None, 406, err(406, "HTTP 406 Not Acceptable"),
     {"Accept": "text/html"}),
    # weir: a body that is not JSON
    ("POST", "/subjects/s/versions", b"{nope", 400, has(400, "Invalid JSON")),
    # weir: invalid UTF-8 never reaches a parser
    ("POST", "/subjects/s/versions", b'{"schema":"\xff\xfe"}', 400, has(400, "Invalid JSON")),
]


def request(url, method, path, body, headers):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": V1, "Accept": V1}
    h.update(headers)
    req = urllib.request.Request(url + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type")


def main():
    work = tempfile.mkdtemp(prefix="weir-test-registry-rest-")
    err = open(os.path.join(work, "stderr"), "w+")
    p = subprocess.Popen([SERVER, "--store", os.path.join(work, "store")],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    url = "http://" + p.stdout.readline().split()[-1]
    n = failed = 0
    try:
        for row in ROWS:
            method, path, body, status, want = row[:5]
            headers = row[5] if len(row) > 5 else {}
            st, raw, ctype = request(url, method, path, body, headers)
            text = raw.decode("utf-8", "replace")
            try:
                got = json.loads(text)
            except ValueError:
                got = text
            if path.endswith("/schema") and st == 200:
                got = text
            ok = st == status and (want(got) if callable(want) else got == want)
            if ok and "Accept" not in headers and st != 406:
                ok = ctype == V1
            n += 1
            failed += not ok
            print("%s %d - %s %s -> %d" % ("ok" if ok else "not ok", n, method, path, status))
            if not ok:
                print("#   got %d %s: %s" % (st, ctype, text[:600]))
                print("#   want %d: %s" % (status, getattr(want, "__name__", want)))
        # Accept: application/json is answered as application/json
        st, _, ctype = request(url, "GET", "/subjects", None, {"Accept": "application/json"})
        n += 1
        ok = st == 200 and ctype == "application/json"
        failed += not ok
        print("%s %d - Accept application/json answered as such" % ("ok" if ok else "not ok", n))
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        n += 1
        failed += rc != 0
        print("%s %d - the server stopped cleanly (exit %d)" % ("ok" if rc == 0 else "not ok", n,
                                                               rc))
        if rc != 0:
            err.seek(0)
            print("".join("#   " + line for line in err.readlines()[-30:]))
        err.close()
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


sys.exit(main())
