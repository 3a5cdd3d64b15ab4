package weir.compat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * The TAP harness of the JVM tiers: each case runs on a thread of its own with a deadline (a
 * client that hangs against a broker is a failed case, not a hung test); "ok N - name" or
 * "not ok N - name" with the exception as "# " lines. The system property weir.filter (a
 * regex) selects cases by name.
 */
final class Tap {
    interface Body {
        void run() throws Exception;
    }

    private record Case(String name, long timeoutMs, Body body) {}

    private final List<Case> cases = new ArrayList<>();
    private int n;
    private int failed;

    void add(String name, long timeoutMs, Body body) {
        cases.add(new Case(name, timeoutMs, body));
    }

    /** Runs every case, prints the plan last, and exits 0 when all passed. */
    void runAndExit() {
        Pattern filter = Pattern.compile(System.getProperty("weir.filter", "."));
        for (Case c : cases) {
            if (!filter.matcher(c.name).find()) continue;
            ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "case");
                t.setDaemon(true);
                return t;
            });
            long t0 = System.nanoTime();
            Throwable err = null;
            Future<?> f = ex.submit(() -> {
                c.body.run();
                return null;
            });
            try {
                f.get(c.timeoutMs, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                err = new AssertionError("timed out after " + c.timeoutMs + " ms");
            } catch (java.util.concurrent.ExecutionException e) {
                err = e.getCause();
            } catch (InterruptedException e) {
                err = e;
            }
            ex.shutdownNow();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            n++;
            if (err == null) {
                System.out.println("ok " + n + " - " + c.name + " # " + ms + " ms");
            } else {
                failed++;
                System.out.println("not ok " + n + " - " + c.name + " # " + ms + " ms");
                StringWriter sw = new StringWriter();
                err.printStackTrace(new PrintWriter(sw));
                String[] lines = sw.toString().split("\n");
                int shown = 0;
                for (String l : lines) {
                    if (shown++ >= 14) break;
                    System.out.println("    # " + l);
                }
            }
            System.out.flush();
        }
        System.out.println("1.." + n);
        System.out.flush();
        Runtime.getRuntime().halt(failed == 0 ? 0 : 1);
    }

    static void check(boolean cond, String what) {
        if (!cond) throw new AssertionError(what);
    }

    static void eq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError(what + ": expected <" + expected + "> but was <" + actual + ">");
        }
    }
}
