/* timeout: 400
 *
 * kill -9 of a streams app in the middle of its work, then a restart on the same state dir,
 * compared with a clean run of the same topology over the same input (a count per key and a
 * tumbling window count, emitted when windows close):
 *  - at least once (embedded Weir broker): the output of the killed run holds every record of
 *    the clean run, and nothing else but copies of them (records since the last commit are
 *    processed again, deterministically); the last count of every key is the same: no update
 *    was lost and none was applied twice;
 *  - exactly once: the outputs of the two runs are equal, record for record (read committed),
 *    against Weir's transactions; WEIR_STREAMS_EOS_KAFKA=1 runs the same against Apache Kafka
 *    4.4 instead (tests/compat/lib/kafka_oracle.sh, from the jars `make deps` fetched).
 * The app runs in a child process (this program with "child" as its first argument).
 */
#include "test_streams_util.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#define CR_RECORDS 3000
#define CR_KEYS    40
#define CR_PARTS   2

extern char **environ;

/* Each mode reads its own input topic: both run on the same embedded broker. */
static const char *input_of(const char *mode)
{
    return strcmp(mode, "eos") == 0 ? "cr-in-eos" : "cr-in";
}
static const char *in_topic = "cr-in"; /* the parent's: the mode under test */

/* ---- the child: the app itself --------------------------------------------------------------- */

static int slow_us;

static bool slow(const weir_record *r, void *user)
{
    if (slow_us)
        usleep((useconds_t)slow_us);
    return true;
}

/* child BOOTSTRAP APP_ID STATE_DIR alos|eos SLOW_US */
static int child_main(int argc, char **argv)
{
    if (argc < 7)
        return 2;
    slow_us = atoi(argv[6]);
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.bootstrap = argv[2];
    cfg.application_id = argv[3];
    cfg.state_dir = argv[4];
    cfg.guarantee = strcmp(argv[5], "eos") == 0 ? WEIR_EXACTLY_ONCE : WEIR_AT_LEAST_ONCE;
    cfg.session_timeout_ms = 6000;
    weir_streams *s;
    char err[256], counts[200], windows[200];
    if (weir_streams_new(&cfg, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "child: %s\n", err);
        return 1;
    }
    snprintf(counts, sizeof(counts), "%s-counts", argv[3]);
    snprintf(windows, sizeof(windows), "%s-windows", argv[3]);
    weir_stream *in =
        weir_stream_filter(weir_streams_source(s, input_of(argv[5]), NULL, NULL), slow, NULL);
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "counts", WEIR_AGG_COUNT);
    weir_stream_to(weir_stream_aggregate(in, &o), counts);
    weir_aggregate_options_init(&o, "per5s", WEIR_AGG_COUNT);
    o.window = weir_window_tumbling(5000, 0);
    o.emit = WEIR_EMIT_FINAL;
    weir_stream_to(weir_stream_aggregate(in, &o), windows);
    int rc = weir_streams_run(s);
    if (rc)
        fprintf(stderr, "child: run: %s\n", weir_streams_errmsg(s));
    weir_streams_free(s);
    return rc ? 1 : 0;
}

/* ---- the parent ------------------------------------------------------------------------------ */

static char self[1024];

static pid_t spawn_child(const char *app, const char *dir, const char *mode, int us)
{
    char usbuf[16];
    snprintf(usbuf, sizeof(usbuf), "%d", us);
    char *args[] = {self,  "child", (char *)it_bootstrap, (char *)app, (char *)dir, (char *)mode,
                    usbuf, NULL};
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, args, environ) != 0)
        return -1;
    return pid;
}

static int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int64_t committed_sum(const char *group)
{
    int64_t sum = 0;
    for (int p = 0; p < CR_PARTS; p++) {
        int64_t c = it_committed(group, in_topic, p);
        sum += c > 0 ? c : 0;
    }
    return sum;
}

/* Waits until the group has committed at least want input offsets in all. */
static bool wait_committed(const char *group, int64_t want, int timeout_ms, pid_t child)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (it_now_ms() < deadline) {
        if (committed_sum(group) >= want)
            return true;
        if (child > 0 && waitpid(child, NULL, WNOHANG) == child) {
            fprintf(stderr, "  the app exited early\n");
            return false;
        }
        it_sleep_ms(150);
    }
    fprintf(stderr, "  %s committed %lld of %lld\n", group, (long long)committed_sum(group),
            (long long)want);
    return false;
}

static void produce_input(void)
{
    st_producer();
    /* Times of an hour ago: Kafka rolls and deletes segments whose records are older than its
     * retention (7 days), which event times near 1970 would be. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t base = ((int64_t)now.tv_sec - 3600) * 1000;
    static st_in_t recs[CR_RECORDS];
    static char keys[CR_RECORDS][16];
    for (int i = 0; i < CR_RECORDS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", (i * 7) % CR_KEYS);
        recs[i] = (st_in_t){keys[i], "x", base + (int64_t)i * 20};
    }
    /* Batched: order within a partition is what matters. */
    for (int i = 0; i < CR_RECORDS; i++) {
        rd_kafka_producev(
            it_producer, RD_KAFKA_V_TOPIC(in_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(recs[i].key, strlen(recs[i].key)), RD_KAFKA_V_VALUE("x", 1),
            RD_KAFKA_V_TIMESTAMP(recs[i].ts), RD_KAFKA_V_END);
        rd_kafka_poll(it_producer, 0);
    }
    rd_kafka_flush(it_producer, 30000);
}

/* Runs the app to the end of the input; with kill_at > 0, kills it (-9) once that many input
 * offsets are committed and starts it again on the same state dir. */
static bool run_app(const char *app, const char *mode, int kill_at)
{
    char *dir = st_tmpdir(app);
    pid_t pid = spawn_child(app, dir, mode, 1000);
    bool ok = pid > 0;
    if (ok && kill_at > 0) {
        ok = wait_committed(app, kill_at, 60000, pid);
        kill(pid, SIGKILL);
        wait_child(pid);
        fprintf(stderr, "  %s: killed with %lld offsets committed\n", app,
                (long long)committed_sum(app));
        pid = spawn_child(app, dir, mode, 1000);
        ok &= pid > 0;
    }
    if (pid > 0) {
        ok &= wait_committed(app, CR_RECORDS, 120000, pid);
        kill(pid, SIGTERM);
        int rc = wait_child(pid);
        if (rc != 0)
            fprintf(stderr, "  %s exited %d\n", app, rc);
        ok &= rc == 0;
    }
    st_rmdir(dir);
    return ok;
}

typedef struct {
    char **lines;
    size_t n;
} cr_out_t;

static cr_out_t read_out(const char *topic)
{
    char *all = st_read_topic(topic, CR_PARTS, false);
    cr_out_t o = {NULL, 0};
    for (char *save, *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        o.lines = realloc(o.lines, (o.n + 1) * sizeof(char *));
        o.lines[o.n++] = strdup(l);
    }
    free(all);
    return o;
}

static void out_free(cr_out_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->lines[i]);
    free(o->lines);
}

static size_t count_of(const cr_out_t *o, const char *line)
{
    size_t c = 0;
    for (size_t i = 0; i < o->n; i++)
        c += strcmp(o->lines[i], line) == 0;
    return c;
}

/* Every clean line at least as often in the crash run, and no line the clean run lacks. */
static void check_superset(const char *what, const cr_out_t *clean, const cr_out_t *crash)
{
    size_t missing = 0, foreign = 0;
    for (size_t i = 0; i < clean->n; i++)
        missing += count_of(crash, clean->lines[i]) < count_of(clean, clean->lines[i]);
    for (size_t i = 0; i < crash->n; i++)
        foreign += count_of(clean, crash->lines[i]) == 0;
    fprintf(stderr,
            "  %s: clean %zu records, after kill -9 %zu (%zu copies), %zu missing, %zu "
            "not in the clean run\n",
            what, clean->n, crash->n, crash->n - clean->n, missing, foreign);
    CHECK_EQ(missing, 0);
    CHECK_EQ(foreign, 0);
    CHECK(crash->n >= clean->n);
}

static void check_equal(const char *what, const cr_out_t *clean, const cr_out_t *crash)
{
    size_t diff = clean->n == crash->n ? 0 : 1;
    for (size_t i = 0; !diff && i < clean->n; i++)
        diff += strcmp(clean->lines[i], crash->lines[i]) != 0;
    fprintf(stderr, "  %s: clean %zu records, after kill -9 %zu: %s\n", what, clean->n, crash->n,
            diff ? "DIFFERENT" : "equal");
    for (size_t i = 0; diff && i < clean->n; i++) {
        if (i >= crash->n || strcmp(clean->lines[i], crash->lines[i]) != 0) {
            fprintf(stderr, "  first difference at line %zu: clean '%s', killed '%s'\n", i,
                    clean->lines[i], i < crash->n ? crash->lines[i] : "(none)");
            break;
        }
    }
    CHECK_EQ(diff, 0);
}

/* The last count of each key in a counts topic. */
static void check_final_counts(const cr_out_t *o)
{
    int last[CR_KEYS] = {0};
    for (size_t i = 0; i < o->n; i++) {
        int k, v;
        if (sscanf(o->lines[i], "k%d %d", &k, &v) == 2 && k >= 0 && k < CR_KEYS && v > last[k])
            last[k] = v;
    }
    int bad = 0;
    for (int k = 0; k < CR_KEYS; k++)
        bad += last[k] != CR_RECORDS / CR_KEYS;
    CHECK_EQ(bad, 0);
}

static void compare(const char *clean_app, const char *crash_app, bool exact)
{
    const char *kinds[] = {"counts", "windows"};
    for (int i = 0; i < 2; i++) {
        char a[128], b[128];
        snprintf(a, sizeof(a), "%s-%s", clean_app, kinds[i]);
        snprintf(b, sizeof(b), "%s-%s", crash_app, kinds[i]);
        cr_out_t clean = read_out(a), crash = read_out(b);
        if (exact)
            check_equal(kinds[i], &clean, &crash);
        else
            check_superset(kinds[i], &clean, &crash);
        if (i == 0) {
            check_final_counts(&clean);
            check_final_counts(&crash);
        }
        out_free(&clean);
        out_free(&crash);
    }
}

TEST(at_least_once_kill9_gives_a_superset_without_lost_updates)
{
    REQUIRE(it_create_topic("cr-in", CR_PARTS) == 0);
    produce_input();
    CHECK(run_app("cr-alos-clean", "alos", 0));
    CHECK(run_app("cr-alos-crash", "alos", CR_RECORDS / 3));
    compare("cr-alos-clean", "cr-alos-crash", false);
}

/* ---- exactly once, against a broker with transactions -----------------------------------------
 */

static pid_t oracle_pid = -1;
static char oracle_addr[64];
static char *oracle_dir;
/* The oracle's stdout, open until it is stopped: the script writes more lines after "listening
 * on", and a closed pipe would kill it with SIGPIPE, and Kafka with it (its parent-death signal),
 * while the test runs. */
static FILE *oracle_out;

/* The end of Kafka's logs, when something went wrong with it. */
static void oracle_logs(void)
{
    if (!oracle_dir)
        return;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "tail -n 15 '%s/stdout.log' '%s/server.log' >&2", oracle_dir,
             oracle_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  (no Kafka logs in %s)\n", oracle_dir);
}

/* The repository's top directory, from where this program is. */
static bool find_top(char *top, size_t len)
{
    snprintf(top, len, "%s", self);
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(top, '/');
        if (!slash)
            return false;
        *slash = '\0';
        char probe[1200];
        snprintf(probe, sizeof(probe), "%s/tests/compat/lib/kafka_oracle.sh", top);
        if (access(probe, X_OK) == 0)
            return true;
    }
    return false;
}

static bool oracle_start(void)
{
    char top[1024], script[1200], cp[1200];
    if (!find_top(top, sizeof(top)))
        return false;
    snprintf(script, sizeof(script), "%s/tests/compat/lib/kafka_oracle.sh", top);
    snprintf(cp, sizeof(cp), "%s/build/compat/kafka.classpath", top);
    if (access(cp, R_OK) != 0)
        return false;
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    oracle_dir = st_tmpdir("kafka");
    char *args[] = {"bash", script, "--dir", oracle_dir, "--max-seconds", "900", NULL};
    int r = posix_spawnp(&oracle_pid, "bash", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (r != 0) {
        close(fds[0]);
        return false;
    }
    oracle_out = fdopen(fds[0], "r");
    char line[256];
    bool ok = false;
    while (fgets(line, sizeof(line), oracle_out)) {
        if (sscanf(line, "listening on %63s", oracle_addr) == 1) {
            ok = true;
            break;
        }
    }
    return ok;
}

static void oracle_stop(void)
{
    if (getenv("WEIR_TEST_KEEP_ORACLE")) {
        fprintf(stderr, "  kept Kafka at %s (pid %d)\n", oracle_addr, (int)oracle_pid);
        return;
    }
    if (oracle_pid > 0) {
        kill(oracle_pid, SIGTERM);
        waitpid(oracle_pid, NULL, 0);
        oracle_pid = -1;
    }
    if (oracle_out) {
        fclose(oracle_out);
        oracle_out = NULL;
    }
    if (oracle_dir) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", oracle_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "  could not remove %s\n", oracle_dir);
        free(oracle_dir);
        oracle_dir = NULL;
    }
}

/* Does the broker at it_bootstrap take an exactly-once app? */
static bool broker_has_transactions(void)
{
    char *d = st_tmpdir("probe");
    weir_streams *s = st_app("cr-probe", d, WEIR_EXACTLY_ONCE);
    weir_streams_table(s, "probe", "cr-in");
    st_runner_t r;
    st_run(&r, s);
    for (int i = 0; i < 1500 && !atomic_load(&r.done) && !weir_streams_ready(s); i++)
        it_sleep_ms(20);
    int rc = st_stop(&r);
    weir_streams_free(s);
    st_rmdir(d);
    return rc == 0;
}

TEST(exactly_once_kill9_output_equals_a_clean_run)
{
    const char *weir = it_bootstrap;
    const char *on_kafka = getenv("WEIR_STREAMS_EOS_KAFKA");
    in_topic = input_of("eos");
    if (!on_kafka || !*on_kafka) {
        if (!broker_has_transactions()) {
            CHECK(!"Weir takes an exactly-once app (transactions)");
            return;
        }
        printf("# exactly once against Weir\n");
    } else {
        if (!oracle_start()) {
            oracle_logs();
            oracle_stop();
            CHECK(!"Apache Kafka (make deps) started for WEIR_STREAMS_EOS_KAFKA");
            return;
        }
        printf("# exactly once against Apache Kafka 4.4 at %s (WEIR_STREAMS_EOS_KAFKA)\n",
               oracle_addr);
        it_producer_close();
        it_bootstrap = oracle_addr;
    }
    /* A broker just started may refuse admin requests for a moment. */
    int created = -1;
    int64_t deadline = it_now_ms() + 90000;
    while (created != 0 && it_now_ms() < deadline) {
        created = it_create_topic(in_topic, CR_PARTS);
        if (created)
            it_sleep_ms(1000);
    }
    if (created == 0) {
        produce_input();
        CHECK(run_app("cr-eos-clean", "eos", 0));
        CHECK(run_app("cr-eos-crash", "eos", CR_RECORDS / 3));
        compare("cr-eos-clean", "cr-eos-crash", true);
    } else {
        CHECK(!"cr-in-eos could not be created");
    }
    if (test_failed_now)
        oracle_logs();
    it_producer_close();
    it_bootstrap = weir;
    oracle_stop();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    int rc = it_main(argc, argv);
    oracle_stop();
    return rc;
}
