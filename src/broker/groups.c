/*
 * groups.c: the group coordinator wired into the broker, and the broker's group API
 * (broker_group_*, broker_offset_*) that the protocol handlers call.
 *
 * Threads. The coordinator (coord.c) is single-threaded by design; in the broker its thread is
 * loop 0. A group request comes from any io loop as a broker_group_op_t and is posted to
 * loop 0, where op_run calls the coordinator; the coordinator's timers are loop 0's timers;
 * durable callbacks of __consumer_offsets come from the flusher thread and are posted to loop
 * 0 (coord_log.c). Completions (the op's callbacks) run on loop 0. One thread owns all group
 * state, so there is no lock, and the cost is one post per group request, which are rare next
 * to produce and fetch.
 *
 * Start: __consumer_offsets is created (compacted, offsets.topic.num.partitions) if missing,
 * then replayed into a new coordinator on loop 0 before the listener opens, so no client ever
 * sees a half-loaded group. Stop: commits in flight are flushed and answered, then parked
 * JoinGroup/SyncGroup requests get COORDINATOR_NOT_AVAILABLE, while the loops still run; a
 * request posted after that finds no coordinator and gets COORDINATOR_NOT_AVAILABLE too.
 */
#include "broker/broker_internal.h"
#include "broker/coord.h"
#include "broker/producer_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char OFFSETS_TOPIC[] = "__consumer_offsets";

typedef struct broker_groups {
    broker_t *b;
    net_loop_t *loop; /* loop 0: the coordinator thread */
    broker_coord_t *coord;
    broker_coord_log_t *olog;
    int32_t offsets_parts;
} broker_groups_t;

/* The kinds of group ops (broker_group_op_t.kind). */
enum {
    OP_JOIN,
    OP_SYNC,
    OP_HEARTBEAT,
    OP_LEAVE,
    OP_LIST,
    OP_DESCRIBE,
    OP_DELETE,
    OP_COMMIT,
    OP_FETCH,
    OP_OFFSET_DELETE,
    OP_CONSUMER_HEARTBEAT,
    OP_CONSUMER_DESCRIBE
};

static broker_groups_t *groups_of(broker_t *b)
{
    return b->groups;
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

static void env_write_txn(void *ctx, const char *group_id, const broker_coord_record_t *recs,
                          size_t n, int64_t producer_id, int16_t producer_epoch,
                          broker_coord_write_done_fn done, void *arg)
{
    broker_groups_t *g = ctx;
    storage_batch_opts_t opts = {.producer_id = producer_id,
                                 .producer_epoch = producer_epoch,
                                 .base_sequence = -1,
                                 .attributes = BATCH_TRANSACTIONAL};
    broker_coord_log_write_batch(g->olog, group_id, recs, n, &opts, done, arg);
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

static int32_t env_topic_partitions(void *ctx, const char *topic)
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    broker_topic_t *t = broker_topic_find(g->b, topic, strlen(topic));
    int32_t n = t && !t->internal ? t->npart : -1;
    broker_topics_unlock(g->b);
    return n;
}

/* A topic's id (a UUID kept with the topic, new when it is re-created): false when there is
 * no such topic. */
static bool env_topic_id(void *ctx, const char *topic, uint8_t id[16])
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    broker_topic_t *t = broker_topic_find(g->b, topic, strlen(topic));
    if (t)
        memcpy(id, t->id, 16);
    broker_topics_unlock(g->b);
    return t != NULL;
}

static bool env_topic_by_id(void *ctx, const uint8_t id[16], char *name, size_t cap)
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    broker_topic_t *t = broker_topic_find_id(g->b, id);
    bool found = t && !t->internal && strlen(t->name) < cap;
    if (found)
        strcpy(name, t->name);
    broker_topics_unlock(g->b);
    return found;
}

static void env_topics_foreach(void *ctx, void (*fn)(void *arg, const char *topic), void *arg)
{
    broker_groups_t *g = ctx;
    broker_topics_rdlock(g->b);
    size_t n;
    broker_topic_t **ts = broker_topics_list(g->b, &n);
    for (size_t i = 0; i < n; i++)
        if (!ts[i]->internal)
            fn(arg, ts[i]->name);
    broker_topics_unlock(g->b);
    free(ts);
}

static void env_join_done(void *ctx, void *waiter, const broker_group_join_result_t *r)
{
    broker_group_op_t *op = waiter;
    op->on_join(op, r);
}

static void env_sync_done(void *ctx, void *waiter, const broker_group_sync_result_t *res)
{
    broker_group_op_t *op = waiter;
    op->on_sync(op, res);
}

static void env_done(void *ctx, void *waiter)
{
    broker_group_op_t *op = waiter;
    if (op->kind == OP_CONSUMER_HEARTBEAT) {
        broker_consumer_heartbeat_req_t copy = *(broker_consumer_heartbeat_req_t *)op->req;
        op->on_done(op); /* may free the request: its answer's memory is freed from the copy */
        broker_coord_heartbeat_free(&copy);
        return;
    }
    op->on_done(op);
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

/* Runs with the registry read lock held (between acquire and release): the append under the
 * partition's append lock, through its producer state like a client's batch, so a
 * transactional commit holds back the partition's last stable offset until its marker. */
static int olog_append(void *ctx, int32_t part, storage_log_t *log, uint8_t *batch, size_t len,
                       int64_t *base)
{
    broker_groups_t *g = ctx;
    broker_partition_t *p =
        broker_partition_find(g->b, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC) - 1, part);
    if (!p || p->log != log)
        return storage_log_append(log, batch, len, base);
    storage_batch_header_t h;
    size_t total;
    int rc = storage_batch_header_read(batch, len, &h, &total);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&p->append_mu);
    bool opened = p->producers &&
                  broker_producer_state_txn_begin(p->producers, &h, storage_log_end_offset(log));
    rc = storage_log_append(log, batch, len, base);
    if (rc < 0 && opened)
        broker_producer_state_txn_undo(p->producers, h.producer_id);
    else if (rc == 0 && p->producers && h.producer_id >= 0)
        broker_producer_state_update(p->producers, &h, *base, storage_log_end_offset(log));
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

/* Runs with the registry read lock held (between acquire and release). */
static void olog_appended(void *ctx, int32_t part)
{
    broker_groups_t *g = ctx;
    broker_partition_t *p =
        broker_partition_find(g->b, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC) - 1, part);
    if (p)
        broker_watches_notify(p);
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
    broker_err_t err;
    int32_t n = (int32_t)broker_settings_int(&b->set, BCFG_OFFSETS_TOPIC_NUM_PARTITIONS);
    int rc = broker_topic_create_with(b, OFFSETS_TOPIC, n, &over, false, NULL, &err);
    broker_topic_overrides_free(&over);
    if (rc < 0 && rc != -WEIR_EEXIST) {
        log_error("group", "cannot create %s: %s (%s)", OFFSETS_TOPIC, wire_err_name(err.code),
                  err.message);
        return -WEIR_EIO;
    }
    *nparts = n;
    return 0;
}

/* group.consumer.assignors (checked when the setting is loaded): names or Kafka's class names
 * separated by commas, the first the default. */
static void assignors_from(const char *list, broker_coord_config_t *cfg)
{
    cfg->consumer_assignor_count = 0;
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        int a = broker_coord_assignor_parse(p, n);
        if (a < 0) /* checked when the setting was loaded */
            a = BROKER_ASSIGNOR_UNIFORM;
        bool dup = false;
        for (size_t i = 0; i < cfg->consumer_assignor_count; i++)
            dup |= cfg->consumer_assignors[i] == a;
        if (!dup && cfg->consumer_assignor_count < 2)
            cfg->consumer_assignors[cfg->consumer_assignor_count++] = a;
        p += n;
    }
    if (cfg->consumer_assignor_count == 0)
        cfg->consumer_assignors[cfg->consumer_assignor_count++] = BROKER_ASSIGNOR_UNIFORM;
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
    cfg->consumer_session_timeout_ms =
        (int32_t)broker_settings_int(s, BCFG_GROUP_CONSUMER_SESSION_TIMEOUT_MS);
    cfg->consumer_heartbeat_interval_ms =
        (int32_t)broker_settings_int(s, BCFG_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS);
    assignors_from(s->sval[BCFG_GROUP_CONSUMER_ASSIGNORS], cfg);
    cfg->consumer_max_size = (int32_t)broker_settings_int(s, BCFG_GROUP_CONSUMER_MAX_SIZE);
#ifdef WEIR_FUZZ
    cfg->initial_rebalance_delay_ms = 0; /* the fuzzer waits for every answer */
    cfg->min_session_timeout_ms = 1;
#endif
}

/* ---- start / stop
 * ------------------------------------------------------------------------------------ */

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
                              .write_txn = env_write_txn,
                              .partition_exists = env_partition_exists,
                              .topic_partitions = env_topic_partitions,
                              .topic_id = env_topic_id,
                              .topic_by_id = env_topic_by_id,
                              .topics_foreach = env_topics_foreach,
                              .join_done = env_join_done,
                              .sync_done = env_sync_done,
                              .done = env_done};
    broker_coord_new(&cfg, &env, &g->coord);
    sc->rc = broker_coord_log_load(g->olog, g->coord);
    if (sc->rc == 0)
        broker_coord_load_finish(g->coord);
}

int broker_groups_start(broker_t *b)
{
    broker_groups_t *g = weir_calloc(1, sizeof(*g));
    g->b = b;
    g->loop = b->loops[0];
    b->groups = g;
    int rc = offsets_topic_ensure(b, &g->offsets_parts);
    if (rc < 0)
        return rc;
    broker_coord_log_config_t oc = {.count = g->offsets_parts,
                                    .acquire = olog_acquire,
                                    .release = olog_release,
                                    .post = olog_post,
                                    .appended = olog_appended,
                                    .append = olog_append,
                                    .ctx = g,
                                    .max_decompressed_bytes = (size_t)broker_settings_int(
                                        &b->set, BCFG_MAX_DECOMPRESSED_BYTES)};
    rc = broker_coord_log_new(&oc, &g->olog);
    if (rc < 0)
        return rc;
    start_call_t sc = {g, 0};
    net_loop_call(g->loop, start_on_loop0, &sc);
    return sc.rc;
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
            net_loop_call(g->loop, flush_offsets_on_loop0, g);
            pending_call_t pc = {g, 0};
            net_loop_call(g->loop, pending_on_loop0, &pc);
            if (pc.pending == 0)
                break;
            usleep(1000);
        }
        net_loop_call(g->loop, stop_on_loop0, g);
    }
}

/* The struct itself outlives the coordinator: a group request posted to loop 0 late finds
 * g->coord NULL and answers COORDINATOR_NOT_AVAILABLE. */
void broker_groups_free(broker_t *b)
{
    broker_groups_t *g = groups_of(b);
    if (!g)
        return;
    WEIR_ASSERT(!g->coord || b->nloops == 0);
    free(g);
    b->groups = NULL;
}

/* ---- the group API: every request runs on the coordinator thread ------------------------------
 */

/* OffsetFetch of every committed offset: collected into req->all_parts. */
typedef struct {
    broker_coord_t *c;
    broker_offset_fetch_req_t *req;
    size_t cap;
} fetch_all_t;

/* require_stable: a partition a transaction holds pending answers UNSTABLE_OFFSET_COMMIT. */
static bool fetch_unstable(broker_coord_t *c, broker_offset_fetch_req_t *req,
                           broker_offset_fetch_part_t *p)
{
    if (!req->require_stable ||
        !broker_coord_offset_unstable(c, req->group_id, p->topic, p->partition))
        return false;
    p->committed = (broker_committed_t){
        .offset = -1, .leader_epoch = -1, .metadata = "", .commit_ts_ms = -1, .expire_ts_ms = -1};
    p->error = KAFKA_UNSTABLE_OFFSET_COMMIT;
    return true;
}

static void fetch_all_one(void *arg, const char *topic, int32_t partition,
                          const broker_committed_t *o)
{
    fetch_all_t *fa = arg;
    broker_offset_fetch_req_t *req = fa->req;
    if (req->all_count == fa->cap) {
        fa->cap = fa->cap ? fa->cap * 2 : 16;
        req->all_parts = weir_realloc(req->all_parts, fa->cap * sizeof(*req->all_parts));
    }
    broker_offset_fetch_part_t *p = &req->all_parts[req->all_count++];
    *p = (broker_offset_fetch_part_t){
        .topic = topic, .partition = partition, .committed = *o, .error = KAFKA_NONE};
    fetch_unstable(fa->c, req, p);
}

static void offset_fetch_run(broker_coord_t *c, broker_offset_fetch_req_t *req,
                             broker_group_op_t *op)
{
    req->error = c ? KAFKA_NONE : KAFKA_COORDINATOR_NOT_AVAILABLE;
    if (c && (!req->group_id || !*req->group_id))
        req->error = KAFKA_INVALID_GROUP_ID;
    else if (c && (req->member_id || req->member_epoch >= 0))
        req->error =
            broker_coord_offset_fetch_check(c, req->group_id, req->member_id, req->member_epoch);
    req->all_count = 0;
    req->all_parts = NULL;
    if (req->all && !req->error) {
        fetch_all_t fa = {c, req, 0};
        broker_coord_offset_foreach(c, req->group_id, fetch_all_one, &fa);
    }
    for (size_t i = 0; i < req->part_count; i++) {
        broker_offset_fetch_part_t *p = &req->parts[i];
        p->committed = (broker_committed_t){
            .offset = -1, .leader_epoch = -1, .metadata = "", .metadata_len = 0};
        p->error = KAFKA_NONE;
        if (!req->error && !req->all && !fetch_unstable(c, req, p))
            broker_coord_offset_fetch(c, req->group_id, p->topic, p->partition, &p->committed);
    }
    broker_offset_fetch_part_t *all = req->all_parts;
    op->on_done(op); /* may free req */
    free(all);
}

typedef struct {
    broker_group_list_req_t *req;
    size_t cap;
} list_all_t;

static bool list_match(const char *value, const char *const *filters, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (filters[i] && strcasecmp(filters[i], value) == 0)
            return true;
    return n == 0;
}

static void list_one(void *arg, const broker_group_listing_t *g)
{
    list_all_t *la = arg;
    broker_group_list_req_t *req = la->req;
    if (!list_match(g->state, req->states, req->nstates) ||
        !list_match(g->type, req->types, req->ntypes))
        return;
    if (req->count == la->cap) {
        la->cap = la->cap ? la->cap * 2 : 16;
        req->groups = weir_realloc(req->groups, la->cap * sizeof(*req->groups));
    }
    req->groups[req->count++] = *g;
}

static void describe_run(broker_coord_t *c, broker_group_describe_req_t *req, broker_group_op_t *op)
{
    req->summaries = weir_calloc(req->count + 1, sizeof(*req->summaries));
    for (size_t i = 0; i < req->count; i++) {
        broker_group_summary_t *s = &req->summaries[i];
        if (c) {
            broker_coord_describe(c, req->group_ids[i], s);
        } else {
            s->error = KAFKA_COORDINATOR_NOT_AVAILABLE;
            s->state = BROKER_GROUP_DEAD;
            s->protocol_type = s->protocol_name = "";
        }
    }
    broker_group_summary_t *sums = req->summaries;
    size_t n = req->count;
    op->on_done(op); /* may free req */
    for (size_t i = 0; i < n; i++)
        broker_group_summary_deinit(&sums[i]);
    free(sums);
}

static void consumer_describe_run(broker_coord_t *c, broker_consumer_describe_req_t *req,
                                  broker_group_op_t *op)
{
    if (c) {
        broker_coord_consumer_describe(c, req);
    } else {
        req->priv = NULL;
        req->groups = weir_calloc(req->count + 1, sizeof(*req->groups));
        for (size_t i = 0; i < req->count; i++)
            req->groups[i] = (broker_cg_desc_t){
                .error = KAFKA_COORDINATOR_NOT_AVAILABLE, .state = "Dead", .assignor = ""};
    }
    broker_consumer_describe_req_t copy = *req;
    op->on_done(op); /* may free req */
    if (c)
        broker_coord_consumer_describe_free(&copy);
    else
        free(copy.groups);
}

/* Answers an op when there is no coordinator (not started, or stopping). */
static void op_unavailable(broker_group_op_t *op)
{
    const int16_t na = KAFKA_COORDINATOR_NOT_AVAILABLE;
    switch (op->kind) {
    case OP_JOIN: {
        broker_group_join_result_t r = {.error = na, .generation_id = -1};
        op->on_join(op, &r);
        return;
    }
    case OP_SYNC: {
        broker_group_sync_result_t r = {.error = na};
        op->on_sync(op, &r);
        return;
    }
    case OP_HEARTBEAT:
        ((broker_group_heartbeat_req_t *)op->req)->error = na;
        break;
    case OP_LEAVE:
        ((broker_group_leave_req_t *)op->req)->error = na;
        break;
    case OP_LIST:
        ((broker_group_list_req_t *)op->req)->error = na;
        ((broker_group_list_req_t *)op->req)->count = 0;
        break;
    case OP_DELETE: {
        broker_group_delete_req_t *d = op->req;
        for (size_t i = 0; i < d->count; i++)
            d->items[i].error = na;
        break;
    }
    case OP_COMMIT: {
        broker_commit_req_t *cr = op->req;
        for (size_t i = 0; i < cr->part_count; i++)
            cr->parts[i].error = na;
        break;
    }
    case OP_OFFSET_DELETE:
        ((broker_offset_delete_req_t *)op->req)->error = na;
        break;
    case OP_CONSUMER_HEARTBEAT: {
        broker_consumer_heartbeat_req_t *h = op->req;
        h->err.code = na;
        h->err.message[0] = 0;
        h->out_member_id = NULL;
        h->has_assignment = false;
        h->priv = NULL;
        break;
    }
    default:
        WEIR_ASSERT(!"handled by its run function");
    }
    op->on_done(op);
}

/* Coordinator thread. */
/* The ops that answer without a coordinator too (each group gets its own error); true if op
 * was one of them. */
static bool op_run_per_group(broker_coord_t *c, broker_group_op_t *op)
{
    switch (op->kind) {
    case OP_FETCH:
        offset_fetch_run(c, op->req, op);
        return true;
    case OP_DESCRIBE:
        describe_run(c, op->req, op);
        return true;
    case OP_CONSUMER_DESCRIBE:
        consumer_describe_run(c, op->req, op);
        return true;
    default:
        return false;
    }
}

static void list_run(broker_coord_t *c, broker_group_op_t *op)
{
    broker_group_list_req_t *l = op->req;
    list_all_t la = {l, 0};
    l->error = KAFKA_NONE;
    l->count = 0;
    l->groups = NULL;
    broker_coord_list(c, list_one, &la);
    broker_group_listing_t *groups = l->groups;
    op->on_done(op); /* may free l */
    free(groups);
}

/* TxnOffsetCommit: the group's partition of __consumer_offsets must be in the producer's
 * open transaction (AddOffsetsToTxn), with its current epoch; a refusal answers every
 * partition (an epoch the coordinator fenced is INVALID_PRODUCER_EPOCH here, as in Kafka). */
static bool txn_commit_refused(broker_group_op_t *op)
{
    broker_commit_req_t *cr = op->req;
    if (!cr->transactional)
        return false;
    broker_groups_t *g = groups_of(op->b);
    int16_t err = KAFKA_NONE;
    if (!cr->group_id || !*cr->group_id)
        err = KAFKA_INVALID_GROUP_ID;
    else
        err = broker_txn_check_offsets(op->b, cr->transactional_id, cr->producer_id,
                                       cr->producer_epoch,
                                       broker_coord_partition_for(cr->group_id, g->offsets_parts));
    if (err == KAFKA_PRODUCER_FENCED)
        err = KAFKA_INVALID_PRODUCER_EPOCH;
    if (err == KAFKA_NONE)
        return false;
    for (size_t i = 0; i < cr->part_count; i++)
        cr->parts[i].error = err;
    op->on_done(op);
    return true;
}

static void op_run(void *arg)
{
    broker_group_op_t *op = arg;
    broker_groups_t *g = groups_of(op->b);
    broker_coord_t *c = g ? g->coord : NULL;
    if (op_run_per_group(c, op))
        return;
    if (!c) {
        op_unavailable(op);
        return;
    }
    switch (op->kind) {
    case OP_JOIN:
        broker_coord_join(c, op->req, op);
        break;
    case OP_SYNC:
        broker_coord_sync(c, op->req, op);
        break;
    case OP_HEARTBEAT: {
        broker_group_heartbeat_req_t *h = op->req;
        h->error =
            broker_coord_heartbeat(c, h->group_id, h->generation_id, h->member_id, h->instance_id);
        op->on_done(op);
        break;
    }
    case OP_LEAVE: {
        broker_group_leave_req_t *l = op->req;
        l->error = broker_coord_leave(c, l->group_id, l->members, l->member_count);
        op->on_done(op);
        break;
    }
    case OP_LIST:
        list_run(c, op);
        break;
    case OP_DELETE:
        broker_coord_delete(c, op->req, op);
        break;
    case OP_COMMIT:
        if (!txn_commit_refused(op))
            broker_coord_commit(c, op->req, op);
        break;
    case OP_OFFSET_DELETE:
        broker_coord_offset_delete(c, op->req, op);
        break;
    case OP_CONSUMER_HEARTBEAT:
        broker_coord_consumer_heartbeat(c, op->req, op);
        break;
    default:
        WEIR_ASSERT(!"unknown group op");
    }
}

static void op_post(broker_t *b, int kind, void *req, broker_group_op_t *op)
{
    op->b = b;
    op->kind = kind;
    op->req = req;
    net_loop_t *loop = b->loops[0];
    if (net_loop_is_current(loop))
        op_run(op);
    else
        net_loop_post(loop, op_run, op);
}

void broker_group_join(broker_t *b, const broker_group_join_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_JOIN, (void *)req, op);
}

void broker_group_sync(broker_t *b, const broker_group_sync_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_SYNC, (void *)req, op);
}

void broker_group_heartbeat(broker_t *b, broker_group_heartbeat_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_HEARTBEAT, req, op);
}

void broker_group_leave(broker_t *b, broker_group_leave_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_LEAVE, req, op);
}

void broker_group_list(broker_t *b, broker_group_list_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_LIST, req, op);
}

void broker_group_describe(broker_t *b, broker_group_describe_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_DESCRIBE, req, op);
}

void broker_group_delete(broker_t *b, broker_group_delete_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_DELETE, req, op);
}

void broker_offset_commit(broker_t *b, broker_commit_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_COMMIT, req, op);
}

void broker_offset_fetch(broker_t *b, broker_offset_fetch_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_FETCH, req, op);
}

void broker_offset_delete(broker_t *b, broker_offset_delete_req_t *req, broker_group_op_t *op)
{
    op_post(b, OP_OFFSET_DELETE, req, op);
}

void broker_consumer_heartbeat(broker_t *b, broker_consumer_heartbeat_req_t *req,
                               broker_group_op_t *op)
{
    op_post(b, OP_CONSUMER_HEARTBEAT, req, op);
}

void broker_consumer_describe(broker_t *b, broker_consumer_describe_req_t *req,
                              broker_group_op_t *op)
{
    op_post(b, OP_CONSUMER_DESCRIBE, req, op);
}

/* ---- a snapshot of every group with its committed offsets (metrics, the admin API) -------------
 * The caller's thread posts one call to the coordinator thread, which copies every group's
 * state, member count and committed offsets into owned memory, and waits at most timeout_ms.
 * The call is shared by the two threads and freed by the last one done with it, so a caller
 * that gave up never leaves the coordinator writing into freed memory. */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* the caller and the coordinator thread */
    bool done;
    broker_t *b;
    broker_groups_snapshot_t snap;
    size_t cap;
} snapshot_call_t;

static void snapshot_call_unref(snapshot_call_t *sc)
{
    pthread_mutex_lock(&sc->mu);
    bool last = --sc->refs == 0;
    pthread_mutex_unlock(&sc->mu);
    if (!last)
        return;
    broker_groups_snapshot_free(&sc->snap);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->mu);
    free(sc);
}

static void snapshot_offset_one(void *arg, const char *topic, int32_t partition,
                                const broker_committed_t *o)
{
    broker_group_snap_t *g = arg;
    if ((g->noffsets & (g->noffsets - 1)) == 0) /* 0, 1, 2, 4 ...: grow to the next power */
        g->offsets =
            weir_realloc(g->offsets, (g->noffsets ? g->noffsets * 2 : 1) * sizeof(*g->offsets));
    g->offsets[g->noffsets++] = (broker_group_offset_t){weir_strdup(topic), partition, o->offset};
}

static void snapshot_group_one(void *arg, const broker_group_listing_t *l)
{
    snapshot_call_t *sc = arg;
    broker_groups_snapshot_t *s = &sc->snap;
    if (s->count == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        s->groups = weir_realloc(s->groups, sc->cap * sizeof(*s->groups));
    }
    s->groups[s->count++] = (broker_group_snap_t){
        .group_id = weir_strdup(l->group_id),
        .protocol_type = weir_strdup(l->protocol_type ? l->protocol_type : ""),
        .state = weir_strdup(l->state ? l->state : ""),
        .type = weir_strdup(l->type ? l->type : "classic")};
}

/* A group's members and generation: DescribeGroups' for a classic group, ConsumerGroupDescribe's
 * for a consumer group (KIP-848), whose group epoch is its generation. Coordinator thread. */
static void snapshot_group_members(broker_coord_t *c, broker_group_snap_t *gs)
{
    if (strcmp(gs->type, "consumer") == 0) {
        const char *ids[] = {gs->group_id};
        broker_consumer_describe_req_t req = {.count = 1, .group_ids = ids};
        broker_coord_consumer_describe(c, &req);
        if (req.groups && req.groups[0].error == KAFKA_NONE) {
            gs->members = (int32_t)req.groups[0].nmembers;
            gs->generation = req.groups[0].group_epoch;
        }
        broker_coord_consumer_describe_free(&req);
        return;
    }
    broker_group_summary_t sum;
    memset(&sum, 0, sizeof(sum));
    broker_coord_describe(c, gs->group_id, &sum);
    gs->members = (int32_t)sum.member_count;
    gs->generation = sum.generation;
    broker_group_summary_deinit(&sum);
}

/* Coordinator thread. */
static void snapshot_on_loop0(void *arg)
{
    snapshot_call_t *sc = arg;
    broker_groups_t *g = groups_of(sc->b);
    broker_coord_t *c = g ? g->coord : NULL;
    if (c) {
        broker_coord_list(c, snapshot_group_one, sc);
        for (size_t i = 0; i < sc->snap.count; i++) {
            broker_group_snap_t *gs = &sc->snap.groups[i];
            snapshot_group_members(c, gs);
            broker_coord_offset_foreach(c, gs->group_id, snapshot_offset_one, gs);
        }
    }
    pthread_mutex_lock(&sc->mu);
    sc->snap.available = c != NULL;
    sc->done = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    snapshot_call_unref(sc);
}

static int offset_cmp(const void *a, const void *b)
{
    const broker_group_offset_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int group_cmp(const void *a, const void *b)
{
    return strcmp(((const broker_group_snap_t *)a)->group_id,
                  ((const broker_group_snap_t *)b)->group_id);
}

static bool snapshot_wait(snapshot_call_t *sc, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (timeout_ms % 1000) * 1000000;
    until.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&sc->mu);
    while (!sc->done && pthread_cond_timedwait(&sc->cv, &sc->mu, &until) == 0)
        ;
    bool done = sc->done;
    pthread_mutex_unlock(&sc->mu);
    return done;
}

int broker_groups_snapshot(broker_t *b, int64_t timeout_ms, broker_groups_snapshot_t *out)
{
    memset(out, 0, sizeof(*out));
    if (broker_stopping(b) || !b->groups)
        return -WEIR_ECLOSED;
    snapshot_call_t *sc = weir_calloc(1, sizeof(*sc));
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    sc->refs = 2;
    sc->b = b;
    net_loop_t *loop = b->loops[0];
    if (net_loop_is_current(loop))
        snapshot_on_loop0(sc);
    else
        net_loop_post(loop, snapshot_on_loop0, sc);
    int rc = 0;
    if (!snapshot_wait(sc, timeout_ms)) {
        rc = -WEIR_ETIMEDOUT;
    } else {
        *out = sc->snap; /* the coordinator is done with it: no lock needed any more */
        memset(&sc->snap, 0, sizeof(sc->snap));
        if (out->count > 1) /* qsort wants a pointer even for nothing: none when empty */
            qsort(out->groups, out->count, sizeof(*out->groups), group_cmp);
        for (size_t i = 0; i < out->count; i++)
            if (out->groups[i].noffsets > 1)
                qsort(out->groups[i].offsets, out->groups[i].noffsets,
                      sizeof(*out->groups[i].offsets), offset_cmp);
    }
    snapshot_call_unref(sc);
    return rc;
}

void broker_groups_snapshot_free(broker_groups_snapshot_t *s)
{
    for (size_t i = 0; i < s->count; i++) {
        broker_group_snap_t *g = &s->groups[i];
        for (size_t j = 0; j < g->noffsets; j++)
            free(g->offsets[j].topic);
        free(g->offsets);
        free(g->group_id);
        free(g->protocol_type);
        free(g->state);
        free(g->type);
    }
    free(s->groups);
    memset(s, 0, sizeof(*s));
}

/* ---- transactions ---------------------------------------------------------------------------- */

/* Loop 0, after the producer's marker in __consumer_offsets is durable. */
void broker_groups_txn_complete(broker_t *b, int64_t producer_id, bool commit)
{
    broker_groups_t *g = groups_of(b);
    if (g && g->coord)
        broker_coord_txn_complete(g->coord, producer_id, commit);
}
