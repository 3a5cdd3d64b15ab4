/*
 * The loop of a streams app: fetch (the group consumer), restore (changelogs of new tasks),
 * follow the tables, process the tasks in turn, commit every commit_interval_ms; and the
 * rebalances, which commit and close every task (eager protocol, range assignor: co-partitioned
 * topics go to the same member) and open tasks for the new assignment, restoring their state.
 *
 * A commit, in this order:
 *   1. stream times that moved go to the changelogs;
 *   2. at least once: flush the producer (outputs, repartition and changelog records all
 *      acknowledged), then commit the input offsets; exactly once: send the input offsets to the
 *      transaction and commit it (state, outputs and offsets become visible together);
 *   3. the SQLite transaction: rows, checkpoints (the acknowledged changelog offsets), table
 *      offsets.
 * So the local store never runs ahead of what the group committed: after a crash between 2 and
 * 3 it is behind, and the restore reads the changelog on from its checkpoint. If step 2 fails
 * in a way that is not fatal (a rebalance is in progress), the SQLite transaction stays open
 * and the next commit covers both.
 */
#include "sdk/streams_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ST_TASK_BURST     500   /* records a task processes before the next task's turn */
#define ST_POLL_BURST     5000  /* records taken from the consumer per loop */
#define ST_TXN_TIMEOUT    30000 /* ms for transactional calls */
#define ST_FLUSH_MS       60000
#define ST_SLOW_COMMIT_MS 100 /* commits that take longer are logged (INFO) */

/* ---- tasks and assignments ------------------------------------------------------------------- */

static st_task_t *task_get(weir_streams *s, st_sub_t *sub, int32_t partition)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i]->sub == sub && s->tasks[i]->partition == partition)
            return s->tasks[i];
    st_task_t *t = st_task_new(s, sub, partition);
    s->tasks = weir_realloc(s->tasks, (s->ntasks + 1) * sizeof(*s->tasks));
    s->tasks[s->ntasks++] = t;
    return t;
}

static int drop_unowned(const char *store, int32_t part, void *user)
{
    weir_streams *s = user;
    st_store_t *st = st_store_find(s, store);
    if (!st)
        return 0; /* a store this topology no longer has */
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i]->sub == st->sub && s->tasks[i]->partition == part)
            return 0;
    return st_part_wipe(s, st, part);
}

/* New tasks for the assigned partitions (list gets the offsets to start from). */
static int tasks_open(weir_streams *s, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(list);
    rd_kafka_resp_err_t e = rd_kafka_committed(s->consumer, c, 15000);
    if (e) {
        rd_kafka_topic_partition_list_destroy(c);
        st_fatal(s, -WEIR_EIO, "committed offsets of group %s: %s", s->app_id, rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *el = &list->elems[i];
        int k;
        st_sub_t *sub = st_sub_of_topic(s, el->topic, &k);
        if (!sub)
            continue;
        st_task_t *t = task_get(s, sub, el->partition);
        int64_t off = c->elems[i].offset;
        t->in[k].committed = off >= 0 ? off : 0;
        el->offset = off >= 0 ? off : RD_KAFKA_OFFSET_INVALID;
        if (sub->rebuild && el->partition < sub->partitions && sub->rebuild[el->partition]) {
            t->rebuild = true;
            t->in[k].suppress_below = t->in[k].committed;
            t->in[k].committed = 0;
            el->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    rd_kafka_topic_partition_list_destroy(c);
    for (size_t i = 0; i < s->ntasks; i++)
        st_task_queues(s, s->tasks[i]);
    int r = st_ckpt_each(s, drop_unowned, s);
    for (size_t i = 0; !r && i < s->ntasks; i++) {
        st_task_t *t = s->tasks[i];
        if (t->rebuild && t->sub->rebuild)
            t->sub->rebuild[t->partition] = false;
        r = st_task_restore_begin(s, t);
    }
    atomic_store(&s->stats.tasks, s->ntasks);
    if (r)
        st_fatal(s, r, "opening tasks: %s", s->errmsg);
    return r;
}

static void tasks_close(weir_streams *s)
{
    for (size_t i = 0; i < s->ntasks; i++)
        st_task_free(s, s->tasks[i]);
    free(s->tasks);
    s->tasks = NULL;
    s->ntasks = 0;
    rd_kafka_assign(s->restorer, NULL);
    s->restoring = false;
    s->restore_started_ns = 0;
    atomic_store(&s->stats.tasks, 0);
    atomic_store(&s->ready, false);
}

/* Everything since the last commit is dropped: the SQLite transaction, the Kafka transaction
 * (exactly once), the tasks. Records already produced at least once stay: their changelog
 * records are left out by the next restore (weir.src), their outputs are duplicates. */
static void tasks_abandon(weir_streams *s)
{
    if (s->cfg.guarantee == WEIR_EXACTLY_ONCE && s->txn_open) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(s->producer, ST_TXN_TIMEOUT);
        if (e) {
            st_fatal(s, -WEIR_EIO, "abort_transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        s->txn_open = false;
    } else {
        rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE);
        rd_kafka_flush(s->producer, ST_FLUSH_MS); /* delivery reports before tasks go */
    }
    s->produce_failed = false;
    st_db_rollback(s);
    tasks_close(s);
    st_db_begin(s);
    s->dirty = false;
}

/* ---- commits --------------------------------------------------------------------------------- */

static rd_kafka_topic_partition_list_t *positions(weir_streams *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->ntasks; i++) {
        st_task_t *t = s->tasks[i];
        for (size_t k = 0; k < t->sub->ninputs; k++)
            if (t->in[k].position >= 0)
                rd_kafka_topic_partition_list_add(l, t->in[k].topic, t->partition)->offset =
                    t->in[k].position;
    }
    return l;
}

static bool commit_refused(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
           e == RD_KAFKA_RESP_ERR__STATE;
}

/* 0: committed; 1: not now (keep the SQLite transaction open); <0: fatal. */
static int commit_alos(weir_streams *s, rd_kafka_topic_partition_list_t *l)
{
    if (rd_kafka_flush(s->producer, ST_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        s->produce_failed) {
        st_fatal(s, -WEIR_EIO, "outputs not acknowledged, nothing committed: %s",
                 s->produce_failed ? s->produce_err : "flush timed out");
        return -WEIR_EIO;
    }
    if (!l->cnt)
        return 0;
    int64_t t0 = clock_mono_ms();
    rd_kafka_resp_err_t e = rd_kafka_commit(s->consumer, l, 0);
    if (clock_mono_ms() - t0 >= ST_SLOW_COMMIT_MS)
        st_log(s, WEIR_LOG_INFO, "slow offset commit: %lld ms", (long long)(clock_mono_ms() - t0));
    if (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    if (commit_refused(e)) {
        st_log(s, WEIR_LOG_INFO, "offset commit refused (%s): again at the next commit",
               rd_kafka_err2str(e));
        return 1;
    }
    st_fatal(s, -WEIR_EIO, "offset commit: %s", rd_kafka_err2str(e));
    return -WEIR_EIO;
}

/* 0: committed; 2: aborted (tasks abandoned, to be opened again); <0: fatal. */
static int commit_eos(weir_streams *s, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_flush(s->producer, ST_FLUSH_MS);
    rd_kafka_error_t *e = NULL;
    if (s->produce_failed)
        e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "delivery failed: %s", s->produce_err);
    if (!e && st_txn_ensure(s) != 0)
        return -WEIR_EIO;
    if (!e && l->cnt) {
        if (s->cgmd)
            rd_kafka_consumer_group_metadata_destroy(s->cgmd);
        s->cgmd = rd_kafka_consumer_group_metadata(s->consumer);
        e = rd_kafka_send_offsets_to_transaction(s->producer, l, s->cgmd, ST_TXN_TIMEOUT);
    }
    for (int tries = 0; !e && tries < 3; tries++) {
        e = rd_kafka_commit_transaction(s->producer, ST_TXN_TIMEOUT);
        if (!e || !rd_kafka_error_is_retriable(e))
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
    }
    if (!e) {
        s->txn_open = false;
        return 0;
    }
    bool fatal = rd_kafka_error_is_fatal(e) || !rd_kafka_error_txn_requires_abort(e);
    if (fatal && !s->produce_failed) {
        st_fatal(s, -WEIR_EIO, "commit_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -WEIR_EIO;
    }
    st_log(s, WEIR_LOG_WARN, "transaction aborted: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 2;
}

static int commit_sqlite(weir_streams *s)
{
    int r = 0;
    for (size_t i = 0; i < s->ntasks && !r; i++) {
        st_task_t *t = s->tasks[i];
        for (size_t j = 0; j < t->sub->nstores && !r; j++) {
            st_part_t *sp = &t->parts[j];
            if (sp->changelog_acked > sp->changelog_next)
                sp->changelog_next = sp->changelog_acked;
            r = st_ckpt_put(s, sp->store->name, t->partition, sp->changelog_next,
                            t->state == ST_TASK_RUNNING ? sp->stream_time_saved : sp->stream_time);
        }
    }
    for (size_t i = 0; i < s->ntables && !r; i++)
        for (int p = 0; p < s->tables[i]->partitions && !r; p++)
            r = st_table_offset_put(s, s->tables[i], p, s->tables[i]->next[p]);
    if (!r)
        r = st_db_commit(s);
    if (!r)
        r = st_db_begin(s);
    if (r)
        st_fatal(s, r, "store commit: %s", s->errmsg);
    return r;
}

static int commit(weir_streams *s)
{
    if (!s->dirty || atomic_load(&s->fatal))
        return 0;
    int r = 0;
    for (size_t i = 0; i < s->ntasks && !r; i++)
        if (s->tasks[i]->state == ST_TASK_RUNNING)
            r = st_task_save_stream_times(s, s->tasks[i]);
    if (r)
        return r;
    rd_kafka_topic_partition_list_t *l = positions(s);
    int64_t t0 = clock_mono_ms();
    r = s->cfg.guarantee == WEIR_EXACTLY_ONCE ? commit_eos(s, l) : commit_alos(s, l);
    int64_t t1 = clock_mono_ms();
    if (r == 2) {
        /* Start the partitions again from what was committed. */
        rd_kafka_topic_partition_list_t *a = NULL;
        rd_kafka_assignment(s->consumer, &a);
        tasks_abandon(s);
        rd_kafka_assign(s->consumer, NULL);
        if (a && tasks_open(s, a) == 0)
            rd_kafka_assign(s->consumer, a);
        if (a)
            rd_kafka_topic_partition_list_destroy(a);
        r = 0;
    } else if (r == 0) {
        r = commit_sqlite(s);
        if (!r) {
            s->dirty = false;
            atomic_fetch_add_explicit(&s->stats.commits, 1, memory_order_relaxed);
        }
        int64_t t2 = clock_mono_ms();
        if (t2 - t0 >= ST_SLOW_COMMIT_MS)
            st_log(s, WEIR_LOG_INFO, "slow commit: %lld ms for Kafka, %lld ms for the store",
                   (long long)(t1 - t0), (long long)(t2 - t1));
    } else if (r == 1) {
        r = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return r;
}

/* ---- rebalances ------------------------------------------------------------------------------ */

void st_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    weir_streams *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_fetch_add_explicit(&s->stats.rebalances, 1, memory_order_relaxed);
        if (tasks_open(s, parts) == 0)
            rd_kafka_assign(rk, parts);
        st_log(s, WEIR_LOG_INFO, "assigned %d partitions: %zu tasks", parts->cnt, s->ntasks);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) {
        if (commit(s) == 0 && !s->dirty) {
            tasks_close(s);
        } else {
            tasks_abandon(s);
        }
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            st_log(s, WEIR_LOG_WARN, "rebalance error: %s", rd_kafka_err2str(err));
        else
            st_log(s, WEIR_LOG_WARN, "assignment lost: work since the last commit is redone");
        tasks_abandon(s);
    }
    rd_kafka_assign(rk, NULL);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void consumer_poll(weir_streams *s, int wait_ms)
{
    for (int i = 0; i < ST_POLL_BURST; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, i == 0 ? wait_ms : 0);
        if (!m)
            return;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char buf[256];
                rd_kafka_fatal_error(s->consumer, buf, sizeof(buf));
                st_fatal(s, -WEIR_EIO, "consumer fatal error: %s", buf);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                st_log(s, WEIR_LOG_WARN, "consume %s [%d]: %s",
                       m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                       rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        int k;
        st_task_t *t = st_task_find(s, rd_kafka_topic_name(m->rkt), m->partition, &k);
        if (t)
            st_input_push(s, t, k, m);
        else
            rd_kafka_message_destroy(m);
    }
}

static size_t process(weir_streams *s)
{
    size_t did = 0;
    for (size_t n = 0; n < s->ntasks && !atomic_load(&s->stop); n++) {
        st_task_t *t = s->tasks[(s->rr + n) % s->ntasks];
        for (int j = 0; j < ST_TASK_BURST && st_task_step(s, t); j++)
            did++;
    }
    if (s->ntasks)
        s->rr = (s->rr + 1) % s->ntasks;
    return did;
}

static bool all_running(weir_streams *s)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i]->state != ST_TASK_RUNNING)
            return false;
    return true;
}

/* Sleeps until librdkafka has something for us (a record, a rebalance, a table update), the
 * next commit is due, or 50 ms have passed. */
static void wait_work(weir_streams *s)
{
    int64_t ms = s->next_commit_ms - clock_mono_ms();
    struct pollfd p = {s->wake_fd, POLLIN, 0};
    if (poll(&p, 1, (int)WEIR_MAX(0, WEIR_MIN(ms, 50))) == 1) {
        uint64_t v;
        if (read(s->wake_fd, &v, sizeof(v)) < 0)
            st_log(s, WEIR_LOG_DEBUG, "wake fd: %s", strerror(errno));
    }
}

static void loop(weir_streams *s, bool grouped)
{
    bool idle = false, assigned_once = false;
    s->next_commit_ms = clock_mono_ms() + s->cfg.commit_interval_ms;
    while (!atomic_load(&s->stop)) {
        if (idle)
            wait_work(s);
        if (grouped)
            consumer_poll(s, 0);
        int r = st_restore_poll(s, 20);
        if (!r)
            r = st_tables_poll(s);
        if (r) {
            st_fatal(s, r, "%s", s->errmsg);
            break;
        }
        size_t did = process(s);
        rd_kafka_poll(s->producer, 0);
        int64_t now = clock_mono_ms();
        if (now >= s->next_commit_ms) {
            commit(s);
            s->next_commit_ms = now + s->cfg.commit_interval_ms;
        }
        idle = did == 0 && !s->restoring;
        assigned_once |= atomic_load(&s->stats.rebalances) > 0;
        atomic_store(&s->ready, (assigned_once || !grouped) && !s->restoring && all_running(s));
    }
}

/* ---- run ------------------------------------------------------------------------------------- */

static int subscribe(weir_streams *s, bool *grouped)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->kind == ST_SOURCE)
            rd_kafka_topic_partition_list_add(l, s->nodes[i]->topic, RD_KAFKA_PARTITION_UA);
    *grouped = l->cnt > 0;
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_subscribe(s->consumer, l) : 0;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        st_set_error(s, "subscribe: %s", rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    return 0;
}

static int init_transactions(weir_streams *s)
{
    if (s->cfg.guarantee != WEIR_EXACTLY_ONCE)
        return 0;
    if (st_broker_has_transactions(s) == 0) {
        st_set_error(s,
                     "exactly once needs a broker that serves transactions; %s does not "
                     "(ApiVersions lists no AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, "
                     "TxnOffsetCommit): use WEIR_AT_LEAST_ONCE",
                     s->bootstrap);
        return -WEIR_EUNSUPPORTED;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(s->producer, ST_TXN_TIMEOUT);
    if (!e)
        return 0;
    st_set_error(s,
                 "exactly once needs a broker that serves transactions; %s does not "
                 "(init_transactions: %s): use WEIR_AT_LEAST_ONCE",
                 s->bootstrap, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -WEIR_EUNSUPPORTED;
}

static int prepare(weir_streams *s)
{
    int r = st_topology_build(s);
    for (size_t i = 0; !r && i < s->nstores; i++)
        r = st_store_prepare(s, s->stores[i]);
    if (!r)
        r = init_transactions(s); /* first: it fences an older instance of ours */
    if (!r)
        r = st_topics_prepare(s);
    if (!r)
        r = st_db_begin(s);
    if (!r)
        r = st_tables_bootstrap(s);
    if (!r) {
        s->dirty = true;
        r = commit_sqlite(s);
    }
    return r;
}

static void wake_queues(weir_streams *s, bool on)
{
    static const uint64_t one = 1;
    if (on) {
        s->cq = rd_kafka_queue_get_consumer(s->consumer);
        s->tq = rd_kafka_queue_get_consumer(s->tabler);
    }
    rd_kafka_queue_t *qs[] = {s->cq, s->tq};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(qs); i++) {
        if (!qs[i])
            continue;
        rd_kafka_queue_io_event_enable(qs[i], on ? s->wake_fd : -1, &one, sizeof(one));
        if (!on)
            rd_kafka_queue_destroy(qs[i]);
    }
    if (!on)
        s->cq = s->tq = NULL;
}

static void shutdown_app(weir_streams *s, bool grouped)
{
    atomic_store(&s->ready, false);
    if (!atomic_load(&s->fatal))
        commit(s);
    /* librdkafka wants the handles of the consumer's queues gone before it closes. */
    if (s->dirty || atomic_load(&s->fatal) || s->txn_open)
        tasks_abandon(s);
    else
        tasks_close(s);
    wake_queues(s, false);
    if (grouped) {
        /* Leaves the group; the revoke callback commits what is left (nothing, normally). */
        rd_kafka_consumer_close(s->consumer);
    }
    rd_kafka_assign(s->tabler, NULL);
    st_db_commit(s);
}

int weir_streams_run(weir_streams *s)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&s->running, &expected, true)) {
        st_set_error(s, "weir_streams_run: already running");
        return -WEIR_EINVAL;
    }
    if (s->cfg.handle_signals)
        st_signals(s, true);
    bool grouped = false;
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wake_queues(s, true);
    int r = s->wake_fd >= 0 ? prepare(s) : -WEIR_EIO;
    if (!r)
        r = subscribe(s, &grouped);
    if (!r) {
        loop(s, grouped);
        shutdown_app(s, grouped);
    } else {
        st_log(s, WEIR_LOG_ERROR, "cannot start: %s", s->errmsg);
        wake_queues(s, false);
        st_db_rollback(s);
        int none = 0;
        atomic_compare_exchange_strong(&s->fatal, &none, r);
    }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    s->wake_fd = -1;
    if (s->cfg.handle_signals)
        st_signals(s, false);
    atomic_store(&s->running, false);
    return atomic_load(&s->fatal);
}
