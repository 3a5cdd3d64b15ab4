"""`make run` as a new user meets it, on a terminal (a pty): it prints where everything is
(Kafka, HTTP, console, order service, the services' metrics, logs) and what to try; the order
flow runs, its services' event schemas are in the broker's registry (GET /subjects) and its
journeys reach the broker (GET /api/v1/traces); a second run on the same data
dir stops at once without touching the running broker or its logs; Ctrl-C ends everything with
make's exit status 0 and no make error. Free ports and a temporary data dir via the WEIR_*
variables scripts/demo.sh reads. TAP.
# timeout: 180
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

n = 0
failed = 0


def tap(ok, name, detail=""):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[-30:]:
            print("#   " + line, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Pty:
    """make run on a pseudo-terminal, its output collected."""

    def __init__(self, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(TOP)
            os.execvpe("make", ["make", "--no-print-directory", "run"], env)
        self.out = b""

    def read(self, secs):
        end = time.time() + secs
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.out += chunk

    def wait_for(self, pattern, secs):
        end = time.time() + secs
        while time.time() < end:
            if re.search(pattern, self.text()):
                return True
            self.read(0.5)
        return bool(re.search(pattern, self.text()))

    def text(self):
        return self.out.decode(errors="replace")


def main():
    if os.environ.get("WEIR_PASS", "release") != "release":
        print("ok 1 - # SKIP make run uses the release build: checked in the release pass")
        print("1..1")
        return 0
    work = tempfile.mkdtemp(prefix="weir-test-run-")
    kafka, http, order, metrics = (free_port() for _ in range(4))
    env = dict(os.environ, WEIR_DATA_DIR=os.path.join(work, "data"),
               WEIR_KAFKA_LISTEN="127.0.0.1:%d" % kafka, WEIR_HTTP_LISTEN="127.0.0.1:%d" % http,
               WEIR_DEMO_PORT=str(order), WEIR_DEMO_METRICS_PORT=str(metrics),
               WEIR_DEMO_RATE="5", TERM="dumb")
    env.pop("WEIR_BUILD", None)  # make run uses the release build
    run = Pty(env)
    try:
        up = run.wait_for(r"Ctrl-C stops everything\.", 120)
        text = run.text()
        tap(up, "make run prints where everything is", text[-3000:])
        want = ["Kafka            127.0.0.1:%d" % kafka, "http://127.0.0.1:%d" % http,
                "console", "http://127.0.0.1:%d/orders" % order,
                "http://127.0.0.1:%d/metrics" % metrics, "order-flow/*.log",
                "export PATH=", "weir -b 127.0.0.1:%d topic list" % kafka]
        missing = [w for w in want if w not in text]
        tap(not missing, "  ... Kafka, HTTP, console, order service, metrics, logs, what to try",
            "missing: %s" % missing)
        tap(not re.search(r"(gcc|clang|cc) .*-W(all|error)", text),
            "  ... no compiler command lines (at most make's quiet '  CC  file' ones)")
        flowing = run.wait_for(r"placed [1-9]", 30)
        tap(flowing, "the order flow runs (summary lines)", run.text()[-1500:])

        def traces():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/traces" % http,
                                            timeout=5) as r:
                    return json.loads(r.read())["traces"]
            except Exception:
                return []
        deadline = time.time() + 30
        tr = []
        while time.time() < deadline and not any(len(t["services"]) == 3 for t in tr):
            run.read(1)
            tr = traces()
        tap(any(len(t["services"]) == 3 and t["first_event_type"] == "OrderPlaced" for t in tr),
            "orders' journeys reach the broker from all three services", tr[:2])

        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/subjects" % http, timeout=5) as r:
                subjects = json.loads(r.read())
        except Exception as e:  # noqa: BLE001 - shown in the failure
            subjects = [str(e)]
        ok = subjects == ["inventory-value", "orders-value", "payments-value",
                          "payments.ledger-value"]
        tap(ok, "the services registered their event schemas with the broker's registry",
            subjects)
        if not ok:  # what the services said, to tell a slow start from a failed one
            for name in ("payment-service", "inventory-service"):
                for ext in (".log", ".out"):
                    path = os.path.join(work, "data", "order-flow", name + ext)
                    if os.path.exists(path):
                        for line in open(path, errors="replace").read().splitlines()[:12]:
                            print("#   %s%s: %s" % (name, ext, line))

        log = os.path.join(work, "data", "order-flow", "broker.log")
        before = open(log, "rb").read()
        second = subprocess.run([os.path.join(TOP, "scripts", "run.sh")], env=env,
                                capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
        after = open(log, "rb").read()
        tap(second.returncode == 1 and "already running" in second.stderr,
            "a second run on the same data dir stops at once", second.stderr)
        tap(after.startswith(before), "  ... the running broker's log is not truncated")
        s = socket.create_connection(("127.0.0.1", kafka), timeout=5)
        s.close()
        tap(True, "  ... and the first broker still serves")

        os.write(run.fd, b"\x03")  # Ctrl-C, as the terminal sends it
        _, status = os.waitpid(run.pid, 0)
        run.read(2)
        text = run.text()
        code = os.waitstatus_to_exitcode(status)
        tap(code == 0, "Ctrl-C: make exits 0 (%s)" % code, text[-1500:])
        tap("make: ***" not in text and "Interrupt" not in text, "  ... without a make error",
            text[-800:])
        tap("stopped;" in text, "  ... after stopping the services and the broker in order")
        try:
            socket.create_connection(("127.0.0.1", kafka), timeout=2).close()
            gone = False
        except OSError:
            gone = True
        tap(gone, "  ... the broker is gone")
    except Exception:
        tap(False, "unexpected exception", traceback.format_exc())
    finally:
        try:
            os.kill(run.pid, signal.SIGKILL)
        except OSError:
            pass
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
