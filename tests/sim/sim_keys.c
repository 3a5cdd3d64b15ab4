/*
 * Crash simulation of the event store's key index (src/broker/conditional.c) on the simulated
 * disk (storage_io_sim).
 *
 * Each seed drives one partition of a key-indexed topic through cycles of random operations:
 * keyed batches (tombstones and keyless records among them) staged in the index the way the
 * produce path stages them (broker_keys_found_* then broker_keys_stage, commit or undo around
 * the append), flushes, DeleteRecords, snapshots of the index at checkpoints (unsynced) and
 * "the machine dies after N more disk operations"; then a clean close (a synced snapshot) or a
 * crash (unsynced writes dropped, torn or reordered, unsynced directory changes lost), and a
 * reopen. After each reopen:
 *   - the index opened from the disk (its snapshot when it matches the recovered log, plus the
 *     records after it; otherwise rebuilt) answers exactly as an index rebuilt from the
 *     recovered log: every key's latest offset, and every key's chain of offsets;
 *   - a snapshot is never read twice (the second open of the same log finds none);
 *   - after a clean close the index is loaded from its snapshot, never rebuilt.
 * Over the default run both ways must have happened: snapshots loaded, and snapshots refused as
 * stale because a crash cut records they covered.
 *
 *   sim_keys                the default run (seeds 1..N)
 *   sim_keys --seed N       one seed alone, verbose
 *   sim_keys --seeds N      N seeds
 * A failure prints the seed and the reason.
 */
#include "broker/broker_internal.h"
#include "broker/keyindex.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CYCLES_PER_SEED = 12, KEYS = 40, WALK_MAX = 4096 };
#define DIR        "/data/t-0"
#define MAX_DECOMP ((size_t)1 << 20)

typedef struct {
    uint64_t seed, rng;
    bool verbose;
    storage_io_sim_t *sim;
    storage_io_t *io;
    storage_log_config_t cfg;
    broker_topic_t topic;
    broker_partition_t p;
    uint64_t appends, crashes, closes, loaded, rebuilt, stale, checkpoints;
    char fail[512];
} sim_t;

static uint64_t rnd(sim_t *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static int64_t rnd_in(sim_t *s, int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd(s) % (uint64_t)(hi - lo + 1));
}

static void fail(sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sim_t *s, const char *fmt, ...)
{
    if (s->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail, sizeof(s->fail), fmt, ap);
    va_end(ap);
}

static int key_text(char *out, int k)
{
    return snprintf(out, 16, "key-%d", k);
}

/* ---- operations ------------------------------------------------------------------------------ */

/* Stages the batch's keys as produce.c does (validation collects them, the append path stages
 * them before the append) and appends it; the index follows the append's outcome. */
static void op_append(sim_t *s)
{
    int n = (int)rnd_in(s, 1, 6);
    storage_record_in_t recs[6];
    char keys[6][16];
    static const char value[] = "an event of the aggregate";
    for (int i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof(recs[i]));
        bool keyless = rnd(s) % 10 == 0, tomb = rnd(s) % 8 == 0;
        recs[i].key = keys[i];
        recs[i].key_len = keyless ? -1 : key_text(keys[i], (int)rnd_in(s, 0, KEYS - 1));
        recs[i].value = tomb ? NULL : value;
        recs[i].value_len = tomb ? -1 : (int32_t)sizeof(value) - 1;
        recs[i].timestamp = 1700000000000ll;
    }
    buf_t b = {0};
    storage_batch_build(&b, recs, (size_t)n, NULL);
    broker_keys_found_t kf = {0};
    broker_keys_found_batch(&kf, true);
    storage_record_iter_t it;
    storage_record_t rec;
    if (storage_record_iter_init(&it, b.data, b.len, MAX_DECOMP) == 0)
        for (int32_t i = 0; storage_record_iter_next(&it, &rec) == 1; i++)
            broker_keys_found_record(&kf, i, &rec, false, 0);
    storage_record_iter_deinit(&it);
    broker_keys_stage_t st;
    int32_t bad = -1;
    char why[256];
    /* no broker: the batch's records were collected above, so nothing is parsed again */
    int rc = broker_keys_stage(NULL, &s->p, &kf, b.data, b.len, storage_log_end_offset(s->p.log),
                               &st, &bad, why, sizeof(why));
    if (rc != 0)
        fail(s, "stage: %s", why);
    int64_t base = -1;
    rc = rc ? rc : storage_log_append(s->p.log, b.data, b.len, &base);
    if (rc < 0) {
        broker_keys_stage_undo(&s->p, &st);
    } else {
        broker_keys_stage_commit(&s->p, &st, base, n);
        s->appends++;
    }
    if (rc < 0 && rc != -WEIR_EIO && rc != -WEIR_EOFFLINE)
        fail(s, "append: %s", weir_strerror(rc));
    broker_keys_stage_deinit(&st);
    broker_keys_found_deinit(&kf);
    buf_deinit(&b);
}

static void op_delete_records(sim_t *s)
{
    int64_t start = storage_log_start_offset(s->p.log), end = storage_log_end_offset(s->p.log);
    int rc = storage_log_delete_records(s->p.log, rnd_in(s, start, start + (end - start) / 3));
    if (rc < 0 && rc != -WEIR_EOFFLINE && rc != -WEIR_EIO)
        fail(s, "delete_records: %s", weir_strerror(rc));
}

/* ---- the check ------------------------------------------------------------------------------- */

/* p (opened from the disk) against a rebuild of the same log: same latest offset and same chain
 * of offsets for every key. */
static void compare_with_rebuild(sim_t *s)
{
    broker_partition_t q = {.topic = &s->topic, .log = s->p.log, .dir = DIR};
    char why[256];
    int rc = broker_keys_open(s->io, &q, MAX_DECOMP, why, sizeof(why));
    if (rc != 0 || strcmp(why, "no snapshot") != 0)
        fail(s, "the second open: %d (%s), not a rebuild for want of a snapshot", rc, why);
    int64_t *a = weir_calloc(WALK_MAX, sizeof(*a)), *b = weir_calloc(WALK_MAX, sizeof(*b));
    int64_t start = storage_log_start_offset(s->p.log);
    for (int k = 0; k < KEYS && rc == 0 && !s->fail[0]; k++) {
        char key[16];
        size_t len = (size_t)key_text(key, k);
        int64_t la = broker_keyindex_get(s->p.keys, (const uint8_t *)key, len);
        int64_t lb = broker_keyindex_get(q.keys, (const uint8_t *)key, len);
        la = la < start ? -1 : la; /* below the log start: gone, as the produce path reads it */
        lb = lb < start ? -1 : lb;
        size_t na = broker_partition_key_walk(&s->p, (const uint8_t *)key, len, WALK_MAX, a);
        size_t nb = broker_partition_key_walk(&q, (const uint8_t *)key, len, WALK_MAX, b);
        if (la != lb)
            fail(s, "%s: latest offset %" PRId64 " opened, %" PRId64 " rebuilt", key, la, lb);
        else if (na != nb || memcmp(a, b, na * sizeof(*a)) != 0)
            fail(s, "%s: chain of %zu offsets opened, %zu rebuilt (first %" PRId64 "/%" PRId64 ")",
                 key, na, nb, na ? a[0] : -1, nb ? b[0] : -1);
    }
    free(a);
    free(b);
    broker_partition_keys_close(&q);
}

static int reopen(sim_t *s, bool clean)
{
    int rc = storage_log_open(s->io, DIR, &s->cfg, &s->p.log);
    if (rc) {
        s->p.log = NULL;
        fail(s, "open: %s", weir_strerror(rc));
        return rc;
    }
    char why[256];
    rc = broker_keys_open(s->io, &s->p, MAX_DECOMP, why, sizeof(why));
    if (rc < 0)
        fail(s, "key index not opened: %s", weir_strerror(rc));
    if (clean && rc != 1)
        fail(s, "after a clean close the snapshot was not loaded: %s", why);
    s->loaded += rc == 1;
    s->rebuilt += rc == 0;
    s->stale += rc == 0 && strstr(why, "stale") != NULL;
    if (s->verbose)
        fprintf(stderr, "reopen at end %" PRId64 ": %s\n", storage_log_end_offset(s->p.log),
                rc == 1 ? "snapshot loaded" : why);
    return rc < 0 ? rc : 0;
}

static void run_cycle(sim_t *s)
{
    int nops = (int)rnd_in(s, 1, 30);
    bool armed = false;
    for (int i = 0; i < nops && !s->fail[0] && !storage_io_sim_frozen(s->sim); i++) {
        uint64_t r = rnd(s) % 100;
        if (r < 60) {
            op_append(s);
        } else if (r < 75) {
            storage_log_flush(s->p.log);
        } else if (r < 87) {
            broker_keys_save(s->io, &s->p, false); /* a checkpoint */
            s->checkpoints++;
        } else if (r < 91) {
            op_delete_records(s);
        } else if (!armed && rnd(s) % 3 == 0) {
            storage_io_sim_crash_after(s->sim, rnd_in(s, 0, 25));
            armed = true;
        }
    }
    if (s->fail[0])
        return;
    bool clean = !armed && rnd(s) % 4 == 0;
    if (clean) {
        broker_keys_save(s->io, &s->p, true);
        storage_log_close(s->p.log);
        storage_io_sim_fail_sync(s->sim, -1);
        s->closes++;
    } else {
        storage_log_abandon(s->p.log);
        storage_io_sim_crash(s->sim);
        s->crashes++;
    }
    s->p.log = NULL;
    broker_partition_keys_close(&s->p);
    if (reopen(s, clean) == 0)
        compare_with_rebuild(s);
}

static int run_seed(uint64_t seed, bool verbose, sim_t *total)
{
    sim_t *s = weir_calloc(1, sizeof(*s));
    s->seed = seed;
    s->rng = seed * 0x2545f4914f6cdd1dull + 1;
    s->verbose = verbose;
    storage_log_config_default(&s->cfg);
    s->cfg.segment_bytes = (uint64_t)rnd_in(s, 400, 4000);
    s->cfg.preallocate_bytes = 0;
    s->cfg.recovery_checkpoint_ms = rnd(s) % 2 ? 0 : 1ll << 40;
    s->cfg.retention_ms = s->cfg.retention_bytes = -1;
    s->topic.name = "t";
    s->topic.key_index = true;
    s->topic.log_cfg = s->cfg;
    s->p.topic = &s->topic;
    s->p.dir = DIR;
    s->sim = storage_io_sim_new(seed);
    s->io = storage_io_sim_io(s->sim);
    s->io->ops->mkdir(s->io, "/data");
    s->io->ops->fsync_dir(s->io, "/");
    reopen(s, false);
    int c = 0;
    for (; c < CYCLES_PER_SEED && !s->fail[0]; c++)
        run_cycle(s);
    if (verbose)
        fprintf(stderr,
                "seed %" PRIu64 ": %d cycles, %" PRIu64 " appends, %" PRIu64 " crashes, %" PRIu64
                " clean closes, %" PRIu64 " snapshots loaded, %" PRIu64 " rebuilt (%" PRIu64
                " stale)\n",
                seed, c, s->appends, s->crashes, s->closes, s->loaded, s->rebuilt, s->stale);
    if (s->p.log)
        storage_log_close(s->p.log);
    broker_partition_keys_close(&s->p);
    storage_io_sim_free(s->sim);
    total->appends += s->appends;
    total->crashes += s->crashes;
    total->closes += s->closes;
    total->loaded += s->loaded;
    total->rebuilt += s->rebuilt;
    total->stale += s->stale;
    int bad = s->fail[0] != 0;
    if (bad) {
        printf("# seed %" PRIu64 " failed: %s\n", seed, s->fail);
        printf("# rerun: build/tests/sim/sim_keys --seed %" PRIu64 "\n", seed);
    }
    free(s);
    return bad;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint64_t one = 0, nseeds = 0;
    bool have_one = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seed") == 0) {
            one = strtoull(argv[i + 1], NULL, 10);
            have_one = true;
        } else if (strcmp(argv[i], "--seeds") == 0) {
            nseeds = strtoull(argv[i + 1], NULL, 10);
        }
    }
    sim_t total = {0};
    if (have_one) {
        log_set_level(LOG_DEBUG);
        int bad = run_seed(one, true, &total);
        printf("%s 1 - seed %" PRIu64 "\n1..1\n", bad ? "not ok" : "ok", one);
        return bad;
    }
    log_set_level(LOG_FATAL); /* torn tails and rebuilt indexes by the thousand */
    if (nseeds == 0) {
        const char *pass = getenv("WEIR_PASS");
        nseeds = pass && strcmp(pass, "asan") == 0 ? 700 : 2000;
    }
    uint64_t failed = 0;
    int64_t t0 = clock_mono_ms();
    for (uint64_t seed = 1; seed <= nseeds; seed++)
        failed += (uint64_t)run_seed(seed, false, &total);
    printf("# %" PRIu64 " seeds, %" PRIu64 " appends, %" PRIu64 " crashes, %" PRIu64
           " clean closes; reopened from a snapshot %" PRIu64 " times, rebuilt %" PRIu64
           " (%" PRIu64 " stale snapshots); %" PRId64 " ms\n",
           nseeds, total.appends, total.crashes, total.closes, total.loaded, total.rebuilt,
           total.stale, clock_mono_ms() - t0);
    printf("%s 1 - %" PRIu64 " seeds: every reopened index equals a rebuild (%" PRIu64 " failed)\n",
           failed ? "not ok" : "ok", nseeds, failed);
    printf("%s 2 - snapshots were loaded (%" PRIu64 ") and refused as stale (%" PRIu64 ")\n",
           total.loaded > 0 && total.stale > 0 ? "ok" : "not ok", total.loaded, total.stale);
    printf("1..2\n");
    return failed || total.loaded == 0 || total.stale == 0 ? 1 : 0;
}
