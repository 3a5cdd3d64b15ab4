/*
 * coordinator.c: the group coordinator and the idempotent producer, wired into the broker.
 *
 * Threads. The coordinator (group.c) is single-threaded by design; in the broker its thread is
 * loop 0. Kafka handlers on any io loop decode a group request, then hand it to loop 0
 * (broker_groups_run); the coordinator's timers are loop 0's timers; durable callbacks of
 * __consumer_offsets come from the flusher thread and are posted to loop 0 (offsets_log.c).
 * Responses are completed from loop 0 into the request's own loop (net_slot_complete_async).
 * One thread owns all group state, so there is no lock, and the cost is one post per group
 * request, which are rare next to produce and fetch.
 *
 * The idempotent producer's state lives in each partition (p->producer_state), checked and
 * updated by the produce hooks under the partition's append lock, so check-then-append is
 * atomic. Producer ids (InitProducerId) come from broker_producer_ids_t, which has its own lock.
 *
 * Start: __consumer_offsets is created (compacted, offsets.topic.num.partitions) if missing,
 * then replayed into a new coordinator on loop 0 before the listener opens, so no client ever
 * sees a half-loaded group. Stop: commits in flight are flushed and answered, then parked
 * JoinGroup/SyncGroup requests get COORDINATOR_NOT_AVAILABLE, while the loops still run.
 */
#include "broker/broker.h"

#include "broker/group.h"
#include "broker/producer_state.h"
#include "kafka/wire/wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char OFFSETS_TOPIC[] = "__consumer_offsets";
enum { PRODUCER_TICK_MS = 30000 };

typedef struct broker_groups {
    broker_t *b;
    net_loop_t *loop; /* loop 0: the coordinator thread */
    broker_coord_t *coord;
    broker_coord_log_t *olog;
    int32_t offsets_parts;
    broker_producer_ids_t *ids;
    net_timer_t producer_timer;
} broker_groups_t;

static broker_groups_t *groups_of(broker_t *b)
{
    return b->groups;
}

/* ---- running on loop 0
 * --------------------------------------------------------------------------- */

typedef struct {
    net_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} sync_call_t;

static void sync_call_run(void *p)
{
    sync_call_t *sc = p;
    sc->fn(sc->arg);
    pthread_mutex_lock(&sc->mu);
    sc->done = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

/* Runs fn(arg) on `loop` and waits for it (from a thread that is not the loop's). */
static void call_on(net_loop_t *loop, net_fn fn, void *arg)
{
    sync_call_t sc = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    net_loop_post(loop, sync_call_run, &sc);
    pthread_mutex_lock(&sc.mu);
    while (!sc.done)
        pthread_cond_wait(&sc.cv, &sc.mu);
    pthread_mutex_unlock(&sc.mu);
    pthread_cond_destroy(&sc.cv);
    pthread_mutex_destroy(&sc.mu);
}

void broker_groups_run(broker_t *b, net_fn fn, void *arg)
{
    net_loop_t *loop = b->loops[0];
    if (net_loop_is_current(loop))
        fn(arg);
    else
        net_loop_post(loop, fn, arg);
}

broker_coord_t *broker_groups_coord(broker_t *b)
{
    broker_groups_t *g = groups_of(b);
    return g ? g->coord : NULL;
}

broker_producer_ids_t *broker_producer_ids(broker_t *b)
{
    broker_groups_t *g = groups_of(b);
    return g ? g->ids : NULL;
}

/* ---- the coordinator's environment
 * ----------------------------------------------------------------- */

static int64_t env_now(void *ctx)
{
    broker_groups_t *g = ctx;
    return net_loop_now_ms(g->loop);
}

static void env_timer_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    net_timer_init(t, fn, arg);
}

static void env_timer_start(void *ctx, net_timer_t *t, int64_t delay_ms)
{
    broker_groups_t *g = ctx;
    net_timer_start(g->loop, t, delay_ms);
}

static void env_timer_stop(void *ctx, net_timer_t *t)
{
    broker_groups_t *g = ctx;
    net_timer_stop(g->loop, t);
}

static void env_write(void *ctx, const char *group_id, const broker_coord_record_t *recs, size_t n,
                      broker_coord_write_done_fn done, void *arg)
{
    broker_groups_t *g = ctx;
    broker_coord_log_write(g->olog, group_id, recs, n, done, arg);
}

static bool env_partition_exists(void *ctx, const char *topic, int32_t partition)
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    broker_partition_t *p = broker_partition_find(g->b, topic, strlen(topic), partition);
    bool ok = p != NULL;
    broker_topics_unlock(g->b);
    return ok;
}

static void env_join_done(void *ctx, void *waiter, const broker_group_join_result_t *r)
{
    broker_group_op_t *w = waiter;
    w->on_join(w, r);
}

static void env_sync_done(void *ctx, void *waiter, int16_t error, const uint8_t *a, size_t len)
{
    broker_group_op_t *w = waiter;
    w->on_sync(w, error, a, len);
}

static void env_done(void *ctx, void *waiter)
{
    broker_group_op_t *w = waiter;
    w->on_done(w);
}

/* ---- __consumer_offsets
 * ---------------------------------------------------------------------------- */

static storage_log_t *olog_acquire(void *ctx, int32_t part)
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    broker_partition_t *p =
        broker_partition_find(g->b, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC) - 1, part);
    return p ? p->log : NULL;
}

static void olog_release(void *ctx)
{
    broker_groups_t *g = ctx;
    broker_topics_unlock(g->b);
}

static void olog_post(void *ctx, net_fn fn, void *arg)
{
    broker_groups_t *g = ctx;
    net_loop_post(g->loop, fn, arg);
}

/* Runs with the registry read lock held (between acquire and release). */
static void olog_appended(void *ctx, int32_t part)
{
    broker_groups_t *g = ctx;
    broker_partition_t *p =
        broker_partition_find(g->b, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC) - 1, part);
    if (p)
        broker_waiters_notify(p);
}

/* Creates __consumer_offsets if missing; returns its partition count. */
static int offsets_topic_ensure(broker_t *b, int32_t *nparts)
{
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC) - 1);
    *nparts = t ? t->npart : 0;
    broker_topics_unlock(b);
    if (t)
        return 0;
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    over.val[TCFG_CLEANUP_POLICY] = weir_strdup("compact");
    over.val[TCFG_SEGMENT_BYTES] = weir_strdup("104857600");
    char msg[256] = "";
    int32_t n = (int32_t)broker_settings_int(&b->set, BCFG_OFFSETS_TOPIC_NUM_PARTITIONS);
    int16_t err = broker_topic_create(b, OFFSETS_TOPIC, n, &over, false, msg, sizeof(msg));
    broker_topic_overrides_free(&over);
    if (err && err != KAFKA_TOPIC_ALREADY_EXISTS) {
        log_error("group", "cannot create %s: %s (%s)", OFFSETS_TOPIC, wire_err_name(err), msg);
        return -WEIR_EIO;
    }
    *nparts = n;
    return 0;
}

static void group_config_from(broker_t *b, broker_coord_config_t *cfg)
{
    const broker_settings_t *s = &b->set;
    broker_coord_config_default(cfg);
    cfg->min_session_timeout_ms =
        (int32_t)broker_settings_int(s, BCFG_GROUP_MIN_SESSION_TIMEOUT_MS);
    cfg->max_session_timeout_ms =
        (int32_t)broker_settings_int(s, BCFG_GROUP_MAX_SESSION_TIMEOUT_MS);
    cfg->initial_rebalance_delay_ms =
        (int32_t)broker_settings_int(s, BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
    cfg->max_size = (int32_t)broker_settings_int(s, BCFG_GROUP_MAX_SIZE);
    cfg->offsets_retention_ms = broker_settings_int(s, BCFG_OFFSETS_RETENTION_MINUTES) * 60000;
    cfg->offsets_retention_check_interval_ms =
        broker_settings_int(s, BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS);
    cfg->offset_metadata_max_bytes =
        (int32_t)broker_settings_int(s, BCFG_OFFSET_METADATA_MAX_BYTES);
#ifdef WEIR_FUZZ
    cfg->initial_rebalance_delay_ms = 0; /* the fuzzer waits for every answer */
    cfg->min_session_timeout_ms = 1;
#endif
}

/* ---- producer state: periodic snapshots and expiry (loop 0)
 * ---------------------------------------- */

static void producer_tick(void *arg)
{
    broker_groups_t *g = arg;
    broker_t *b = g->b;
    if (!atomic_load(&b->stopping)) {
        int64_t now = clock_wall_ms();
        int64_t interval = broker_settings_int(&b->set, BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS);
        broker_topics_rdlock(b);
        for (size_t i = 0; i < b->nbuckets; i++) {
            for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext) {
                for (int32_t j = 0; j < t->npart; j++) {
                    broker_partition_t *p = t->parts[j];
                    broker_producer_state_t *ps = p->producer_state;
                    if (!ps || !p->log)
                        continue;
                    broker_producer_state_expire(ps, now);
                    /* Under the append lock the state and the log end agree exactly. */
                    pthread_mutex_lock(&p->append_mu);
                    broker_producer_state_maybe_snapshot(ps, storage_log_end_offset(p->log),
                                                         interval);
                    pthread_mutex_unlock(&p->append_mu);
                }
            }
        }
        broker_topics_unlock(b);
    }
    net_timer_start(g->loop, &g->producer_timer, PRODUCER_TICK_MS);
}

/* ---- start / stop
 * ------------------------------------------------------------------------------------ */

static int16_t hook_before_append(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                                  const storage_batch_header_t *h, bool *duplicate,
                                  int64_t *dup_base_offset);
static void hook_after_append(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                              const storage_batch_header_t *h, int64_t base_offset);

typedef struct {
    broker_groups_t *g;
    int rc;
} start_call_t;

static void start_on_loop0(void *arg)
{
    start_call_t *sc = arg;
    broker_groups_t *g = sc->g;
    broker_coord_config_t cfg;
    group_config_from(g->b, &cfg);
    broker_coord_env_t env = {.ctx = g,
                              .now_ms = env_now,
                              .timer_init = env_timer_init,
                              .timer_start = env_timer_start,
                              .timer_stop = env_timer_stop,
                              .write = env_write,
                              .partition_exists = env_partition_exists,
                              .join_done = env_join_done,
                              .sync_done = env_sync_done,
                              .done = env_done};
    broker_coord_new(&cfg, &env, &g->coord);
    sc->rc = broker_coord_log_load(g->olog, g->coord);
    if (sc->rc == 0)
        broker_coord_load_finish(g->coord);
    net_timer_init(&g->producer_timer, producer_tick, g);
    net_timer_start(g->loop, &g->producer_timer, PRODUCER_TICK_MS);
}

int broker_groups_start(broker_t *b)
{
    broker_groups_t *g = weir_calloc(1, sizeof(*g));
    g->b = b;
    g->loop = b->loops[0];
    b->groups = g;
    int rc = broker_producer_ids_open(b->io, b->data_dir, &g->ids);
    if (rc < 0)
        return rc;
    rc = offsets_topic_ensure(b, &g->offsets_parts);
    if (rc < 0)
        return rc;
    broker_coord_log_config_t oc = {.count = g->offsets_parts,
                                    .acquire = olog_acquire,
                                    .release = olog_release,
                                    .post = olog_post,
                                    .appended = olog_appended,
                                    .ctx = g,
                                    .max_decompressed_bytes = broker_max_decompressed(b)};
    rc = broker_coord_log_new(&oc, &g->olog);
    if (rc < 0)
        return rc;
    start_call_t sc = {g, 0};
    call_on(g->loop, start_on_loop0, &sc);
    if (sc.rc < 0)
        return sc.rc;
    /* No client is connected yet, so the produce path sees the hooks from its first request. */
    b->produce_hooks.before_append = hook_before_append;
    b->produce_hooks.after_append = hook_after_append;
    b->produce_hooks.arg = b;
    return 0;
}

/* Flushes __consumer_offsets so commits in flight become durable and call back. */
static void flush_offsets_on_loop0(void *arg)
{
    broker_groups_t *g = arg;
    for (int32_t i = 0; g->olog && i < g->offsets_parts; i++) {
        storage_log_t *log = olog_acquire(g, i);
        if (log)
            storage_log_flush(log);
        olog_release(g);
    }
}

typedef struct {
    broker_groups_t *g;
    size_t pending;
} pending_call_t;

static void pending_on_loop0(void *arg)
{
    pending_call_t *pc = arg;
    pc->pending = pc->g->coord ? broker_coord_writes_pending(pc->g->coord) : 0;
}

static void stop_on_loop0(void *arg)
{
    broker_groups_t *g = arg;
    if (!g->coord && !g->olog)
        return; /* stopped already */
    net_timer_stop(g->loop, &g->producer_timer);
    if (g->coord && broker_coord_writes_pending(g->coord) == 0) {
        broker_coord_free(g->coord); /* parked requests: COORDINATOR_NOT_AVAILABLE */
        broker_coord_log_free(g->olog);
    } else if (g->coord) {
        /* A disk that never answers: leave the memory rather than free what callbacks use. */
        log_warn("group", "%zu writes to __consumer_offsets never completed",
                 broker_coord_writes_pending(g->coord));
    } else {
        broker_coord_log_free(g->olog);
    }
    g->coord = NULL;
    g->olog = NULL;
}

void broker_groups_stop(broker_t *b)
{
    broker_groups_t *g = groups_of(b);
    if (!g)
        return;
    if (g->loop && b->nloops > 0) {
        for (int i = 0; i < 5000; i++) { /* commits in flight: answered once durable */
            call_on(g->loop, flush_offsets_on_loop0, g);
            pending_call_t pc = {g, 0};
            call_on(g->loop, pending_on_loop0, &pc);
            if (pc.pending == 0)
                break;
            usleep(1000);
        }
        call_on(g->loop, stop_on_loop0, g);
    }
}

/* The struct itself, the producer ids and the produce hooks outlive the coordinator: io loops
 * may run InitProducerId or a produce until they are joined, and a group request posted to
 * loop 0 late finds g->coord NULL and answers COORDINATOR_NOT_AVAILABLE. */
void broker_groups_free(broker_t *b)
{
    broker_groups_t *g = groups_of(b);
    if (!g)
        return;
    WEIR_ASSERT(!g->coord || b->nloops == 0);
    broker_producer_ids_close(g->ids);
    free(g);
    b->groups = NULL;
}

/* ---- the produce hooks and partition state
 * ------------------------------------------------------- */

static int16_t hook_before_append(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                                  const storage_batch_header_t *h, bool *duplicate,
                                  int64_t *dup_base_offset)
{
    if (p->topic->internal)
        return KAFKA_INVALID_TOPIC_EXCEPTION; /* Kafka: "cannot append to internal topic" */
    if (h->producer_id < 0)
        return KAFKA_NONE;
    if (h->attributes & BATCH_TRANSACTIONAL)
        return KAFKA_INVALID_TXN_STATE; /* transactions are not offered yet */
    broker_producer_state_t *ps = p->producer_state;
    if (!ps)
        return KAFKA_KAFKA_STORAGE_ERROR;
    broker_producer_check_t ck;
    broker_producer_state_check(ps, h, &ck);
    if (ck.error == KAFKA_NONE && ck.duplicate) {
        *duplicate = true;
        *dup_base_offset = ck.dup_base_offset;
    }
    return ck.error;
}

static void hook_after_append(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                              const storage_batch_header_t *h, int64_t base_offset)
{
    if (p->producer_state && h->producer_id >= 0)
        broker_producer_state_update(p->producer_state, h, base_offset,
                                     storage_log_end_offset(p->log));
}

void broker_partition_state_open(broker_t *b, broker_partition_t *p, const char *dir)
{
    if (!p->log || p->topic->internal)
        return;
    broker_producer_state_config_t cfg;
    broker_producer_state_config_default(&cfg);
    cfg.expiration_ms = broker_settings_int(&b->set, BCFG_PRODUCER_ID_EXPIRATION_MS);
    cfg.snapshot_interval_offsets =
        broker_settings_int(&b->set, BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS);
    broker_producer_state_t *ps = NULL;
    int rc = broker_producer_state_open(b->io, dir, p->log, &cfg, &ps);
    if (rc < 0)
        log_error("producer",
                  "%s: producer state unreadable (%s): idempotent batches to it "
                  "will fail",
                  dir, weir_strerror(rc));
    p->producer_state = ps;
}

void broker_partition_state_close(broker_t *b, broker_partition_t *p, bool destroy)
{
    broker_producer_state_t *ps = p->producer_state;
    p->producer_state = NULL;
    if (destroy || !p->log)
        broker_producer_state_free(ps);
    else
        broker_producer_state_close(ps, p->log);
}
