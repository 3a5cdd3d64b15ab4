/*
 * A consumer group of librdkafka processes against `weir serve`: 100,000 messages over 6
 * partitions read by 3 consumers in separate processes with manual commits (synchronous, every
 * 500 messages and on every revoke); mid-stream one member leaves (LeaveGroup) and a fourth
 * joins. Checks, exactly: every message read, none read twice (every hand-over was committed
 * first), each at the offset it was produced at, the committed offsets at the end equal the log
 * end of every partition, and the member that left and the one that joined both took part.
 *
 * One program, two roles: without arguments it is the test (starts the broker on port 0 with a
 * temp data dir, produces, runs the workers, checks); `consume BOOTSTRAP GROUP TOPIC OUT` is a
 * worker, which the test starts as a separate process (SIGUSR1: leave; SIGTERM: stop). TAP.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NMSG  100000
#define NPART 6
#define TOPIC "orders"
#define GROUP "workers"

static int tap_n, tap_failed;

static void tap(bool ok, const char *name)
{
    tap_n++;
    tap_failed += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_n, name);
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- worker ------------------------------------------------------------------------------------
 */

static volatile sig_atomic_t stop_flag;
static bool closing; /* everything read is committed; rd_kafka_consumer_close runs */

static void on_signal(int sig)
{
    stop_flag = 1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        return;
    }
    /* Hand over only what is committed: the next owner starts exactly there. While closing
     * that is done already, and librdkafka 2.0.2 aborts (rd_kafka_cgrp_terminated: assert
     * !rd_kafka_assignment_in_progress) when a commit reaches a group that is terminating,
     * which a revoke delivered just as close starts would do. */
    rd_kafka_resp_err_t cerr = closing ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_commit(rk, NULL, 0);
    if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        fprintf(stderr, "worker %d: commit on revoke: %s\n", (int)getpid(), rd_kafka_err2str(cerr));
    rd_kafka_assign(rk, NULL);
}

static int worker(const char *bootstrap, const char *out_path)
{
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", GROUP},
        {"enable.auto.commit", "false"},  {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", "6000"},   {"heartbeat.interval.ms", "300"},
        {"fetch.wait.max.ms", "50"},      {"debug", "cgrp"}}; /* to workerN.err */
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        return 2;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    FILE *out = fopen(out_path, "w");
    long n = 0;
    while (!stop_flag) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            fflush(out); /* idle: let the test see everything read so far */
            continue;
        }
        if (!m->err) {
            fprintf(out, "%d %lld %.*s\n", (int)m->partition, (long long)m->offset, (int)m->len,
                    (const char *)m->payload);
            if (++n % 500 == 0) {
                rd_kafka_commit(rk, NULL, 0);
                fflush(out);
            }
            if (n % 10 == 0)
                usleep(1000); /* about 10k messages/s: keeps the stream going while we churn */
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
    if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        fprintf(stderr, "worker %d: final commit: %s\n", (int)getpid(), rd_kafka_err2str(cerr));
    fflush(out);
    closing = true;
    rd_kafka_consumer_close(rk); /* revoke, then LeaveGroup */
    rd_kafka_destroy(rk);
    fclose(out);
    return 0;
}

/* ---- the test -----------------------------------------------------------------------------------
 */

static pid_t broker_pid = -1;
static pid_t workers[4] = {-1, -1, -1, -1};
static char workdir[256];

static void cleanup(void)
{
    for (int i = 0; i < 4; i++)
        if (workers[i] > 0)
            kill(workers[i], SIGKILL);
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
    }
    if (workdir[0] && (getenv("WEIR_KEEP") || tap_failed)) {
        printf("# kept %s (broker.log, workerN.txt, workerN.err)\n", workdir);
    } else if (workdir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", workdir);
    }
}

static void on_outer_timeout(int sig)
{
    printf("not ok %d - the test was stopped from outside (signal %d)\n", ++tap_n, sig);
    tap_failed++;
    exit(1); /* runs cleanup(): nothing started here outlives the test */
}

/* True if the wait status is a clean exit; otherwise says what happened (TAP comment). */
static bool exited_cleanly(pid_t pid, int st)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return true;
    if (WIFSIGNALED(st))
        printf("# process %d was killed by signal %d\n", (int)pid, WTERMSIG(st));
    else
        printf("# process %d exited with status %d\n", (int)pid, WEXITSTATUS(st));
    return false;
}

/* Waits up to seconds for pid; SIGKILLs it after that. True if it exited 0 in time. */
static bool wait_exit(pid_t pid, double seconds)
{
    int st;
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return exited_cleanly(pid, st);
        usleep(20000);
    }
    printf("# process %d did not exit in %.0f s: killed\n", (int)pid, seconds);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return false;
}

/* Waits until the broker reports the group Stable with `members` members: a stop then starts
 * from a settled group instead of in the middle of the previous stop's rebalance. */
static bool wait_group_stable(const char *bootstrap, int members, double seconds)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        return false;
    bool stable = false;
    double t0 = now_s();
    while (!stable && now_s() - t0 < seconds) {
        const struct rd_kafka_group_list *l = NULL;
        if (rd_kafka_list_groups(rk, GROUP, &l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            l->group_cnt == 1)
            stable =
                strcmp(l->groups[0].state, "Stable") == 0 && l->groups[0].member_cnt == members;
        if (l)
            rd_kafka_group_list_destroy(l);
        if (!stable)
            usleep(50000);
    }
    rd_kafka_destroy(rk);
    usleep(300000); /* Stable is the leader's SyncGroup: the others get theirs right after */
    if (!stable)
        printf("# group not Stable with %d members after %.0f s\n", members, seconds);
    return stable;
}

/* Prints the last lines of worker idx's stderr (its librdkafka debug log) as TAP comments. */
static void show_worker_log(int idx)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n 40 '%s/worker%d.err' | sed 's/^/# worker%d: /'", workdir,
             idx, idx);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("# no log of worker %d\n", idx);
}

/* Starts `weir serve` on port 0; fills bootstrap from its first stdout line. */
static int start_broker(char *bootstrap, size_t len)
{
    const char *bin = getenv("WEIR_BIN") ? getenv("WEIR_BIN") : "build/weir";
    char data[300], errlog[300];
    snprintf(data, sizeof(data), "%s/data", workdir);
    snprintf(errlog, sizeof(errlog), "%s/broker.log", workdir);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    broker_pid = fork();
    if (broker_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the broker never outlives a killed test */
        dup2(fds[1], 1);
        close(fds[0]);
        FILE *e = fopen(errlog, "w");
        if (e)
            dup2(fileno(e), 2);
        execl(bin, bin, "serve", "--listen", "127.0.0.1:0", "--http-listen", "off", "--data-dir",
              data, "--set", "group.initial.rebalance.delay.ms=0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256] = "";
    if (!fgets(line, sizeof(line), f) || sscanf(line, "listening on %255s", bootstrap) != 1) {
        fprintf(stderr, "broker did not start: %s\n", line);
        return -1;
    }
    (void)len;
    return 0; /* the pipe stays open: the broker may write more to stdout */
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        (*(int *)opaque)++;
}

static int produce_all(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
    int failures = 0;
    rd_kafka_conf_set_opaque(conf, &failures);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(TOPIC, NPART, 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    int rc = ev && !rd_kafka_event_error(ev) ? 0 : -1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    for (int i = 0; rc == 0 && i < NMSG; i++) {
        char v[16];
        int n = snprintf(v, sizeof(v), "m%06d", i);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(i % NPART),
                                 RD_KAFKA_V_VALUE(v, (size_t)n),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    }
    rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    return rc == 0 && failures == 0 ? 0 : -1;
}

static pid_t spawn_worker(const char *self, const char *bootstrap, int idx)
{
    char out[300];
    snprintf(out, sizeof(out), "%s/worker%d.txt", workdir, idx);
    char errpath[310];
    snprintf(errpath, sizeof(errpath), "%s/worker%d.err", workdir, idx);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *e = fopen(errpath, "w");
        if (e)
            dup2(fileno(e), 2);
        execl(self, self, "consume", bootstrap, out, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static long lines_of(int idx)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/worker%d.txt", workdir, idx);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long total_lines(void)
{
    long t = 0;
    for (int i = 0; i < 4; i++)
        t += lines_of(i);
    return t;
}

/* Reads every worker file; counts each message's reads and checks its offset. */
static void check_reads(long per_worker[4], long *dups, long *missing, long *misplaced)
{
    static unsigned char seen[NMSG];
    memset(seen, 0, sizeof(seen));
    *dups = *misplaced = 0;
    for (int w = 0; w < 4; w++) {
        char path[300];
        snprintf(path, sizeof(path), "%s/worker%d.txt", workdir, w);
        FILE *f = fopen(path, "r");
        per_worker[w] = 0;
        int p, i;
        long long off;
        while (f && fscanf(f, "%d %lld m%d\n", &p, &off, &i) == 3) {
            per_worker[w]++;
            if (i < 0 || i >= NMSG || p != i % NPART || off != i / NPART) {
                (*misplaced)++;
                continue;
            }
            if (seen[i]++)
                (*dups)++;
        }
        if (f)
            fclose(f);
    }
    *missing = 0;
    for (int i = 0; i < NMSG; i++)
        *missing += !seen[i];
}

static bool committed_at_end(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", GROUP, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPART);
    for (int p = 0; p < NPART; p++)
        rd_kafka_topic_partition_list_add(l, TOPIC, p);
    bool ok = rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int p = 0; ok && p < NPART; p++) {
        int64_t want = NMSG / NPART + (p < NMSG % NPART ? 1 : 0);
        if (l->elems[p].offset != want || l->elems[p].err) {
            fprintf(stderr, "partition %d committed %lld, want %lld\n", p,
                    (long long)l->elems[p].offset, (long long)want);
            ok = false;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return ok;
}

static int run_test(const char *self)
{
    snprintf(workdir, sizeof(workdir), "/tmp/weir-test-group-XXXXXX");
    if (!mkdtemp(workdir))
        return 1;
    printf("# work dir %s\n", workdir);
    atexit(cleanup);
    signal(SIGTERM, on_outer_timeout);
    signal(SIGINT, on_outer_timeout);
    char bootstrap[256];
    bool started = start_broker(bootstrap, sizeof(bootstrap)) == 0;
    tap(started, "broker starts on port 0");
    if (!started)
        return 1;
    tap(produce_all(bootstrap) == 0, "100000 messages produced to 6 partitions (acks=all)");

    for (int i = 0; i < 3; i++)
        workers[i] = spawn_worker(self, bootstrap, i);
    double t0 = now_s();
    /* Mid-stream: once everyone has read something and about a third is done, worker 0 leaves
     * and worker 3 joins. */
    while (now_s() - t0 < 60 &&
           (lines_of(0) == 0 || lines_of(1) == 0 || lines_of(2) == 0 || total_lines() < NMSG / 3))
        usleep(50000);
    long before_churn = total_lines();
    kill(workers[0], SIGUSR1);
    bool left = wait_exit(workers[0], 20);
    if (!left)
        show_worker_log(0);
    tap(left, "worker 0 left the group cleanly");
    workers[0] = -1;
    workers[3] = spawn_worker(self, bootstrap, 3);
    while (now_s() - t0 < 90 && total_lines() < NMSG)
        usleep(50000);
    usleep(500000); /* anything read twice would show up now */
    /* One after another, each from a Stable group: librdkafka 2.0.2 can hang or abort in
     * rd_kafka_consumer_close when a rebalance reaches it while it closes (seen once in ~25
     * runs with all three stopping at the same moment, and once in ~100 when the next stop
     * came right after the previous member's LeaveGroup). Each stop still commits and leaves. */
    bool clean = true;
    for (int i = 1; i < 4; i++) {
        clean &= wait_group_stable(bootstrap, 4 - i, 30);
        kill(workers[i], SIGTERM);
        bool stopped = wait_exit(workers[i], 30);
        if (!stopped)
            show_worker_log(i);
        clean &= stopped;
        workers[i] = -1;
    }
    tap(clean, "workers 1-3 stopped cleanly");
    printf("# read %ld before the churn, %.1f s in all\n", before_churn, now_s() - t0);

    long per[4], dups, missing, misplaced;
    check_reads(per, &dups, &missing, &misplaced);
    printf("# per worker: %ld %ld %ld %ld; duplicates %ld, missing %ld, misplaced %ld\n", per[0],
           per[1], per[2], per[3], dups, missing, misplaced);
    tap(missing == 0, "every one of the 100000 messages was read");
    tap(dups == 0, "no message was read twice (hand-overs were committed)");
    tap(misplaced == 0, "every message was read at the partition and offset it was produced at");
    tap(per[0] + per[1] + per[2] + per[3] == NMSG, "exactly 100000 reads in all");
    tap(per[0] > 0 && per[0] < NMSG, "the member that left had read part of the stream");
    tap(per[3] > 0, "the member that joined mid-stream got partitions and read");
    tap(committed_at_end(bootstrap), "committed offsets equal each partition's end");
    return tap_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "consume") == 0)
        return worker(argv[2], argv[3]);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    int rc = run_test(self);
    printf("1..%d\n", tap_n);
    return rc;
}
