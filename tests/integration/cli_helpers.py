"""Shared by the Python tests of the `weir` client commands (test_cli_dlq.py,
test_cli_export.py; imported, not a test itself: the runner only runs test_* files): TAP lines,
running `weir` against a broker, and a `weir serve` of the test's own on port 0."""
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

count = 0
failed = 0


def tap(ok, name, evidence=""):
    """Prints "ok N - name", or "not ok N - name" with the evidence as "# " lines."""
    global count, failed
    count += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", count, name), flush=True)
    if not ok:
        for line in str(evidence).splitlines()[:30]:
            print("    # " + line)


def weir(broker, *args, text=True):
    """rc, stdout, stderr of `weir -b broker args...`."""
    p = subprocess.run([WEIR, "-b", broker, *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode() if text else p.stdout, p.stderr.decode()


def run_with_broker(body, http=False):
    """Starts `weir serve` in a fresh data dir, calls body(kafka_address[, http_address]),
    stops the broker, prints the TAP plan and exits 1 if a check failed."""
    work = tempfile.mkdtemp()
    proc = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(work, "data"), "--listen",
                             "127.0.0.1:0", "--http-listen", "127.0.0.1:0" if http else "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        kafka = proc.stdout.readline().split()[-1]
        addr = proc.stdout.readline().split()[-1]
        if http:
            body(kafka, addr, work)
        else:
            body(kafka, work)
    except Exception:
        tap(False, "no exception", traceback.format_exc())
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % count)
    sys.exit(1 if failed else 0)


def serve(work, name, http_listen, *settings, listen="127.0.0.1:0"):
    """Starts `weir serve` with data in work/name, stderr in work/name.err (stderr_of) and the
    settings (--set each), on --listen listen (None: the `listeners` setting); returns (proc,
    the first Kafka listener's address, http address), None for an address not printed (the
    broker exited)."""
    args = [WEIR, "serve", "--data-dir", os.path.join(work, name), "--http-listen", http_listen]
    if listen:
        args += ["--listen", listen]
    for s in settings:
        args += ["--set", s]
    err = open(os.path.join(work, name + ".err"), "w")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
    kafka = p.stdout.readline().split()[-1:] or [None]
    http = p.stdout.readline().split()[-1:] or [None]
    return p, kafka[0], http[0]


def stderr_of(work, name):
    with open(os.path.join(work, name + ".err")) as f:
        return f.read()
