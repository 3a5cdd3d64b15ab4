"""Compares the weirdiff transcripts of two brokers, scenario by scenario, and prints TAP.

    diffcmp.py REFERENCE_DIR CANDIDATE_DIR COMPATIBILITY_MD [REF_NAME CAND_NAME]

Every leaf of the normalized JSON must be equal, unless docs/compatibility.md lists the
difference as deliberate with a line holding a code span `diff:SCENARIO:PATH_REGEX` (the
regex is matched with re.search against the leaf's path, e.g.
steps[0].answer.Topics[0].ErrorCode). A scenario whose only differences are deliberate passes
and says so in a "# " line."""
import json
import os
import re
import sys


def flatten(v, path, out):
    if isinstance(v, dict):
        if not v:
            out[path] = "{}"
        for k in sorted(v):
            flatten(v[k], "%s.%s" % (path, k) if path else k, out)
    elif isinstance(v, list):
        if not v:
            out[path] = "[]"
        for i, x in enumerate(v):
            flatten(x, "%s[%d]" % (path, i), out)
    else:
        out[path] = v
    return out


def masks(md_path):
    out = []
    with open(md_path) as f:
        for line in f:
            for m in re.finditer(r"`diff:([A-Za-z0-9_]+):([^`]+)`", line):
                out.append((m.group(1), re.compile(m.group(2))))
    return out


def step_label(doc, path):
    m = re.match(r"steps\[(\d+)\]", path)
    if not m:
        return ""
    st = doc["steps"][int(m.group(1))] if int(m.group(1)) < len(doc.get("steps", [])) else {}
    return " (%s%s)" % (st.get("step", ""), ", " + st["api"] if "api" in st else "")


def main():
    ref_dir, cand_dir, md = sys.argv[1:4]
    ref_name, cand_name = (sys.argv[4:6] + ["reference", "candidate"])[:2] if len(sys.argv) > 4 else ("reference", "candidate")
    ms = masks(md)
    names = sorted(f[:-5] for f in os.listdir(ref_dir) if f.endswith(".json"))
    n = failed = 0
    for name in names:
        n += 1
        with open(os.path.join(ref_dir, name + ".json")) as f:
            ref = json.load(f)
        try:
            with open(os.path.join(cand_dir, name + ".json")) as f:
                cand = json.load(f)
        except OSError:
            cand = {"steps": ["missing transcript"]}
        a = flatten(ref.get("steps"), "steps", {})
        b = flatten(cand.get("steps"), "steps", {})
        diffs, deliberate = [], []
        for p in sorted(set(a) | set(b), key=lambda p: (a.get(p) is None and b.get(p) is None, p)):
            va, vb = a.get(p, "<absent>"), b.get(p, "<absent>")
            if va == vb:
                continue
            if any(s == name and r.search(p) for s, r in ms):
                deliberate.append(p)
            else:
                diffs.append((p, va, vb))
        about = ref.get("about", "")
        if diffs:
            failed += 1
            print("not ok %d - %s: %s" % (n, name, about))
            for p, va, vb in diffs[:14]:
                print("    # %s%s: %s=%s %s=%s" % (p, step_label(ref, p), ref_name, json.dumps(va)[:160],
                                                 cand_name, json.dumps(vb)[:160]))
            if len(diffs) > 14:
                print("    # ... %d more differences (rerun: weirdiff -b ADDR %s)" % (len(diffs) - 14, name))
        else:
            print("ok %d - %s: %s" % (n, name, about))
            if deliberate:
                print("    # deliberate differences (docs/compatibility.md): %s" % ", ".join(deliberate[:5]))
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
