#!/usr/bin/env python3
"""The module layers of src/, checked from the #include lines (docs/architecture.md draws them).

A module is a folder of src/ (src/kafka/wire is a module of its own, below src/kafka). Each
module may include only the modules listed for it in ALLOWED, which is a strict layering:
arrows point down only, so there can be no cycle. Another module is reached only through its
one header (<module>/<name>.h named after the folder); the public headers in include/weir are
the embedding API (weir/embed.h, implemented by src/server) and the SDK's (weir/weir.h).

The test also proves it can fail: it checks a copy of src/ with one upward include added
(storage including the broker), and a copy with an internal header included from outside.
"""
import os
import re
import shutil
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(TOP, "src")

# module -> the modules it may include. include/weir/embed.h is the server's face (the embedding
# API), include/weir/weir.h the SDK's.
ALLOWED = {
    "base": [],
    "storage": ["base"],
    "net": ["base"],
    "auth": ["base"],
    "kafka/wire": ["base"],
    "http": ["base"],
    "registry": ["base", "http"],
    "trace": ["base", "http"],
    "broker": ["base", "storage", "net", "auth", "kafka/wire"],
    "kafka": ["base", "net", "auth", "kafka/wire", "broker"],
    "metrics": ["base", "net", "kafka/wire", "http", "broker", "kafka"],
    "admin": ["base", "http", "registry", "broker"],
    "console": ["base", "http"],
    "server": ["base", "storage", "net", "auth", "kafka/wire", "http", "registry", "broker", "kafka",
               "metrics", "trace", "admin", "console"],
    "testbroker": ["base", "server", "sdk"],
    "cli": ["base", "kafka/wire", "registry", "server"],
    "sdk": ["base"],
}
# Each module's one header, the only file of it other modules may include.
PUBLIC = {
    "base": "base/base.h",
    "storage": "storage/storage.h",
    "net": "net/net.h",
    "auth": "auth/auth.h",
    "kafka/wire": "kafka/wire/wire.h",
    "http": "http/http.h",
    "registry": "registry/registry.h",
    "broker": "broker/broker.h",
    "kafka": "kafka/kafka.h",
    "metrics": "metrics/metrics.h",
    "trace": "trace/trace.h",
    "admin": "admin/admin.h",
    "console": "console/console.h",
    "server": "weir/embed.h",  # server/server.h: white-box tests only
    "cli": "cli/cli.h",
    "sdk": "weir/weir.h",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of_file(path, src):
    return os.path.dirname(os.path.relpath(path, src))


def module_of_include(inc):
    if inc == "weir/embed.h":
        return "server"
    if inc in ("weir/weir.h", "weir/streams.h"):  # streams.h: the SDK's second public header
        return "sdk"
    return os.path.dirname(inc)


def rank(mod, memo={}):
    """A module's layer: one above the highest module it may include."""
    if mod not in memo:
        deps = ALLOWED.get(mod, [])
        memo[mod] = 1 + max((rank(d) for d in deps), default=-1)
    return memo[mod]


def check(src):
    """Returns a list of problems (empty when the layering holds)."""
    problems = []
    edges = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            mod = module_of_file(path, src)
            if mod not in ALLOWED:
                problems.append(f"{os.path.relpath(path, src)}: module '{mod}' has no row in "
                                f"ALLOWED (add it, with the modules it may use)")
                continue
            text = open(path, encoding="utf-8", errors="replace").read()
            for inc in INCLUDE.findall(text):
                target = module_of_include(inc)
                if "/" not in inc:
                    problems.append(f"{os.path.relpath(path, src)}: #include \"{inc}\": "
                                    f"name the module (\"{mod}/{inc}\")")
                    continue
                if target == mod:
                    continue
                edges.setdefault(mod, set()).add(target)
                where = f"{os.path.relpath(path, src)}: #include \"{inc}\""
                if target not in ALLOWED[mod]:
                    problems.append(f"{where}: {mod} (layer {rank(mod)}) may not use {target} "
                                    f"(layer {rank(target)})")
                elif PUBLIC.get(target) != inc:
                    problems.append(f"{where}: {target} is reached only through "
                                    f"{PUBLIC.get(target)}")
    # Cycles among what the code actually includes (ALLOWED is acyclic, but say it plainly).
    state = {}

    def visit(m, path):
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                problems.append("cycle: " + " -> ".join(path + [m, t]))
            elif not state.get(t):
                visit(t, path + [m])
        state[m] = 2

    for m in sorted(edges):
        if not state.get(m):
            visit(m, [])
    return problems


def main():
    n = 0

    def ok(cond, name, detail=""):
        nonlocal n
        n += 1
        print(("ok" if cond else "not ok") + f" {n} - {name}")
        if not cond and detail:
            for line in detail.splitlines():
                print("#   " + line)

    problems = check(SRC)
    ok(not problems, "src/ keeps its layers (no upward include, no cycle, one header each)",
       "\n".join(problems))
    layers = {}
    for m in ALLOWED:
        layers.setdefault(rank(m), []).append(m)
    for r in sorted(layers):
        print(f"# layer {r}: {', '.join(sorted(layers[r]))}")

    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "src")
        shutil.copytree(SRC, copy)
        with open(os.path.join(copy, "storage", "segment.c"), "a") as f:
            f.write('\n#include "broker/broker.h"\n')
        bad = check(copy)
        ok(any("storage (layer 1) may not use broker" in p for p in bad),
           "an upward include (storage -> broker) is caught", "\n".join(bad))
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "src")
        shutil.copytree(SRC, copy)
        with open(os.path.join(copy, "kafka", "park.c"), "a") as f:
            f.write('\n#include "broker/broker_internal.h"\n')
        bad = check(copy)
        ok(any("broker is reached only through broker/broker.h" in p for p in bad),
           "an internal header included from another module is caught", "\n".join(bad))
    # docs/architecture.md walks a produce and a fetch through file:function references: each
    # must name a function defined in that file, so the walk-throughs cannot rot.
    doc = open(os.path.join(TOP, "docs", "architecture.md")).read()
    refs = re.findall(r"`?([a-z_/]+\.c):([a-z_0-9]+)`?", doc)
    missing = []
    for path, fn in refs:
        full = os.path.join(SRC, path)
        text = open(full).read() if os.path.exists(full) else ""
        if not re.search(r"^[a-z][^\n;]*\b" + fn + r"\(", text, re.M):
            missing.append(f"{path}:{fn}")
    ok(len(refs) >= 15 and not missing,
       f"docs/architecture.md names {len(refs)} file:function places, each defined there",
       "missing: " + ", ".join(missing))
    print(f"1..{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
