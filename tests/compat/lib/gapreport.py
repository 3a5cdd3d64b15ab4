"""Turns two directories of weirdiff transcripts (Apache Kafka's and Weir's, as
test_differential.sh keeps them with WEIR_DIFF_KEEP=DIR) into the per-scenario part of
docs/compat-gaps.md: for every step that differs, the request (API and version), the error
codes Kafka answered and what Weir answered instead (a closed connection, or the fields that
differ).

    WEIR_DIFF_KEEP=/tmp/d bash tests/compat/test_differential.sh
    python3 tests/compat/lib/gapreport.py /tmp/d/kafka /tmp/d/weir > gaps.md
"""
import json, os, sys, re
K, W = sys.argv[1], sys.argv[2]
names = sorted(f[:-5] for f in os.listdir(K))
def errs(v, path="", out=None):
    if out is None: out = []
    if isinstance(v, dict):
        for k in sorted(v):
            errs(v[k], path + "." + k, out)
    elif isinstance(v, list):
        for i, x in enumerate(v): errs(x, "%s[%d]" % (path, i), out)
    return out
def flat(v, p, out):
    if isinstance(v, dict):
        for k in sorted(v): flat(v[k], p + "." + k if p else k, out)
    elif isinstance(v, list):
        if not v: out[p] = "[]"
        for i, x in enumerate(v): flat(x, "%s[%d]" % (p, i), out)
    else: out[p] = v
    return out
for n in names:
    k = json.load(open(os.path.join(K, n + ".json")))
    w = json.load(open(os.path.join(W, n + ".json")))
    ks, ws = k["steps"], w["steps"]
    lines = []
    for i in range(max(len(ks), len(ws))):
        a = ks[i] if i < len(ks) else None
        b = ws[i] if i < len(ws) else None
        if a == b: continue
        label = (a or b).get("step", "?")
        api = (a or b).get("api", "")
        fa = flat(a, "", {}) if a else {}
        fb = flat(b, "", {}) if b else {}
        if isinstance(b, dict) and isinstance(b.get("answer"), str):
            wdesc = b["answer"]
        else:
            d = [p for p in sorted(set(fa) | set(fb)) if fa.get(p, "<absent>") != fb.get(p, "<absent>")]
            wdesc = "; ".join("%s: kafka=%s weir=%s" % (p.replace("answer.", "").replace("observed.", ""), json.dumps(fa.get(p, "<absent>"))[:70], json.dumps(fb.get(p, "<absent>"))[:70]) for p in d[:6])
            if len(d) > 6: wdesc += "; ... %d more" % (len(d) - 6)
        kerr = sorted(set("%s=%s" % (p.split(".")[-1], v) for p, v in fa.items() if p.endswith("ErrorCode") and v))
        lines.append("  - step %d `%s` %s: kafka error codes %s | %s" % (i, label, api, kerr or "[none]", wdesc))
    if lines:
        print("### %s\n%s\n" % (n, k.get("about", "")))
        print("\n".join(lines)); print()
