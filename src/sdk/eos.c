/*
 * Exactly once: consume-process-produce in Kafka transactions (KIP-98, KIP-447), the way
 * librdkafka's transactions example does it, spread over the app's workers.
 *
 * The producer is transactional (transactional.id "<group>-<instance_id>", so a restarted
 * instance fences its older self and the coordinator aborts what that one left open); the
 * consumer reads read_committed. While the app runs one transaction is always open. Every commit
 * interval the consumer loop parks the workers between batches, sends the offset after the last
 * finished event of each partition that moved, with the consumer's group metadata (the
 * coordinator refuses them from a member of an older generation: a zombie cannot commit), commits
 * the transaction, begins the next one and lets the workers go. What handlers emit and what is
 * dead-lettered is produced inside the open transaction, so it becomes visible to read_committed
 * consumers exactly when the offsets past its input do; SQLite dedup has nothing left to do.
 *
 * Failures. An abortable error (a record the broker refused, a transaction the coordinator timed
 * out, a lost assignment, a produce call refused because of one of these) aborts the
 * transaction and rewinds every partition that moved in it to its committed offset: its stash is
 * dropped and the consumer seeks, so those events run again in the next transaction. A
 * partition that did not move keeps its stash and retry state. A retriable error (the broker is
 * restarting) repeats the call. A fatal one stops the app without another transactional call:
 * fenced (a newer instance has our transactional id) stops it with -WEIR_ECLOSED.
 *
 * Invariant: the offsets sent in a transaction are the partitions' `done` offsets taken while no
 * worker runs, and every record produced since the last commit or abort belongs to an event
 * below them (emits are produced only after their handler returned OK, dead letters once the
 * event is given up, and `done` moves past it at the end of the same batch) or to a batch that
 * doomed the transaction, which is then aborted rather than committed.
 */
#include "sdk/sdk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SDK_EOS_CALL_MS      10000 /* each transactional call's timeout */
#define SDK_EOS_TXN_MS_MIN   10000 /* transaction.timeout.ms unless the settings say */
#define SDK_EOS_STOP_TRIES   3     /* retriable failures tolerated once the app is stopping */
#define SDK_EOS_INSTANCE_MAX 200
#define SDK_EOS_SEEK_MS      5000
#define SDK_EOS_BACKOFF_MS   50   /* after the second abort in a row, then doubling ... */
#define SDK_EOS_BACKOFF_MAX  5000 /* ... up to this: a persistent error does not spin */

typedef struct sdk_eos {
    char *txn_id;
    bool open;          /* a transaction is open (only the consumer loop touches it) */
    int aborts_in_row;  /* aborts since the last commit */
    atomic_bool doomed; /* a produce call failed: the open transaction must be aborted */
} sdk_eos_t;

enum { OP_INIT, OP_BEGIN, OP_SEND, OP_COMMIT, OP_ABORT };
static const char *const op_names[] = {"init_transactions", "begin_transaction",
                                       "send_offsets_to_transaction", "commit_transaction",
                                       "abort_transaction"};

int sdk_eos_new(weir_app *app, char *err, size_t errlen)
{
    const weir_app_config *c = &app->cfg;
    const char *why = NULL;
    if (!c->group)
        why = "exactly_once needs a group (a projection is exactly once through its store)";
    else if (!c->instance_id || !c->instance_id[0])
        why = "exactly_once needs instance_id: a name for this instance, stable across its "
              "restarts and unique among the running ones (it makes the transactional id)";
    else if (strlen(c->instance_id) > SDK_EOS_INSTANCE_MAX)
        why = "instance_id: at most 200 bytes";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -WEIR_EINVAL;
    }
    sdk_eos_t *x = weir_calloc(1, sizeof(*x));
    x->txn_id = weir_malloc(strlen(c->group) + strlen(c->instance_id) + 2);
    sprintf(x->txn_id, "%s-%s", c->group, c->instance_id);
    atomic_init(&x->doomed, false);
    app->eos = x;
    return 0;
}

void sdk_eos_free(weir_app *app)
{
    if (!app->eos)
        return;
    free(app->eos->txn_id);
    free(app->eos);
    app->eos = NULL;
}

int sdk_eos_conf(weir_app *app, rd_kafka_conf_t *conf, bool producer, char *err, size_t errlen)
{
    if (!producer)
        return rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, errlen) ==
                       RD_KAFKA_CONF_OK
                   ? 0
                   : -WEIR_EINVAL;
    /* Long enough for a few commit intervals: the coordinator aborts a transaction open longer
     * than this, and one that a killed instance left open blocks read_committed readers of its
     * output for as long (unless the same instance comes back first, which aborts it at once). */
    char timeout[24];
    int64_t ms = WEIR_MAX((int64_t)SDK_EOS_TXN_MS_MIN, 4 * (int64_t)app->cfg.commit_interval_ms);
    snprintf(timeout, sizeof(timeout), "%lld", (long long)WEIR_MIN(ms, 900000));
    if (rd_kafka_conf_set(conf, "transactional.id", app->eos->txn_id, err, errlen) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "transaction.timeout.ms", timeout, err, errlen) != RD_KAFKA_CONF_OK)
        return -WEIR_EINVAL;
    return 0;
}

int sdk_eos_route_check(weir_app *app, weir_route_options *o)
{
    if (o->transactional) {
        sdk_app_set_error(app, "weir_app_route: an exactly-once app has no transactional (inbox) "
                               "routes: their SQLite transaction cannot commit with the Kafka one");
        return -WEIR_EINVAL;
    }
    /* A dedup record would be written in SQLite before the Kafka transaction commits: after an
     * abort the rewound events would be skipped and their output lost. The transaction is the
     * dedup. */
    o->dedup = false;
    return 0;
}

bool sdk_eos_doomed(weir_app *app)
{
    return app->eos && atomic_load(&app->eos->doomed);
}

static bool is_fenced(rd_kafka_resp_err_t code)
{
    return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

void sdk_eos_fatal(weir_app *app, rd_kafka_resp_err_t code, const char *reason)
{
    if (is_fenced(code))
        sdk_app_fatal(app, -WEIR_ECLOSED,
                      "fenced: another instance took over transactional id %s; stopping (%s)",
                      app->eos->txn_id, reason);
    else
        sdk_app_fatal(app, -WEIR_EIO, "transactional producer: fatal error: %s", reason);
}

void sdk_produce_failed(weir_app *app, int err, const char *fmt, ...)
{
    char msg[SDK_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!app->eos) {
        sdk_app_fatal(app, err, "%s", msg);
        return;
    }
    if (!atomic_exchange(&app->eos->doomed, true))
        sdk_app_log(app, WEIR_LOG_WARN, "transaction to be aborted: %s", msg);
    /* Park every worker at its next batch boundary: what they would do now is lost anyway. */
    pthread_mutex_lock(&app->lock);
    app->workers_hold = true;
    pthread_mutex_unlock(&app->lock);
    sdk_app_wake(app);
}

/* ---- the transactional calls ---------------------------------------------------------------- */

static rd_kafka_error_t *txn_call(weir_app *app, int op, rd_kafka_topic_partition_list_t *offs,
                                  const rd_kafka_consumer_group_metadata_t *cgmd)
{
    switch (op) {
    case OP_INIT:
        return rd_kafka_init_transactions(app->producer, SDK_EOS_CALL_MS);
    case OP_BEGIN:
        return rd_kafka_begin_transaction(app->producer);
    case OP_SEND:
        return rd_kafka_send_offsets_to_transaction(app->producer, offs, cgmd, SDK_EOS_CALL_MS);
    case OP_COMMIT:
        return rd_kafka_commit_transaction(app->producer, SDK_EOS_CALL_MS);
    default:
        return rd_kafka_abort_transaction(app->producer, SDK_EOS_CALL_MS);
    }
}

/* Runs a transactional call, repeating it while its error is retriable (the broker may be
 * restarting; while the app stops, only a few times). 0: done; 1: the transaction must be
 * aborted; a negative code: the app stops (fatal, or retries given up). */
static int txn_run(weir_app *app, int op, rd_kafka_topic_partition_list_t *offs,
                   const rd_kafka_consumer_group_metadata_t *cgmd)
{
    for (int tries = 1;; tries++) {
        rd_kafka_error_t *e = txn_call(app, op, offs, cgmd);
        if (!e)
            return 0;
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        char why[512];
        snprintf(why, sizeof(why), "%s: %s", op_names[op], rd_kafka_error_string(e));
        bool fatal = rd_kafka_error_is_fatal(e);
        bool abortable = rd_kafka_error_txn_requires_abort(e);
        bool retriable = rd_kafka_error_is_retriable(e);
        rd_kafka_error_destroy(e);
        if (fatal || is_fenced(code)) {
            sdk_eos_fatal(app, code, why);
            return -WEIR_EIO;
        }
        if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
            /* Aborting and redoing would only repeat it forever: abort once (so what was
             * produced does not hold read_committed readers until the timeout) and stop. */
            rd_kafka_error_t *a = rd_kafka_abort_transaction(app->producer, SDK_EOS_CALL_MS);
            if (a)
                rd_kafka_error_destroy(a);
            sdk_app_fatal(app, -WEIR_EUNSUPPORTED,
                          "exactly once needs a broker with transactional offset commits "
                          "(KIP-447): %s",
                          why);
            return -WEIR_EUNSUPPORTED;
        }
        if (abortable && op != OP_ABORT) {
            sdk_app_log(app, WEIR_LOG_WARN, "%s: aborting the transaction", why);
            return 1;
        }
        bool stopping = atomic_load(&app->stop);
        if (retriable && !(stopping && tries >= SDK_EOS_STOP_TRIES)) {
            sdk_app_log(app, WEIR_LOG_WARN, "%s (attempt %d, retrying)", why, tries);
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        /* Not retriable, or the app stops and the broker does not answer: what is open stays
         * open until the next instance with our id aborts it (or the transaction times out). */
        sdk_app_fatal(app, retriable ? -WEIR_ETIMEDOUT : -WEIR_EIO, "transaction: %s", why);
        return -WEIR_EIO;
    }
}

int sdk_eos_start(weir_app *app)
{
    sdk_eos_t *x = app->eos;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(app->producer, SDK_EOS_CALL_MS);
        if (!e)
            break;
        bool retriable = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        sdk_app_set_error(app,
                          "exactly once: init_transactions for transactional id %s: %s (needs a "
                          "broker that serves transactions)",
                          x->txn_id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (retriable && !atomic_load(&app->stop) && !atomic_load(&app->fatal)) {
            sdk_app_log(app, WEIR_LOG_WARN, "%s; retrying", app->errmsg);
            continue;
        }
        if (atomic_load(&app->stop))
            return 0; /* asked to stop while the broker was away: nothing is open */
        return is_fenced(code) ? -WEIR_ECLOSED : -WEIR_EIO;
    }
    if (txn_run(app, OP_BEGIN, NULL, NULL) != 0)
        return -WEIR_EIO;
    x->open = true;
    sdk_app_log(app, WEIR_LOG_INFO, "exactly once: transactional id %s", x->txn_id);
    return 0;
}

/* ---- commit, abort, rewind ------------------------------------------------------------------ */

/* Under app->lock: the offsets to commit, one per partition whose `done` moved. */
static void offsets_moved(weir_app *app, rd_kafka_topic_partition_list_t *offs)
{
    for (size_t i = 0; i < app->nparts; i++) {
        const sdk_part_t *p = app->parts[i];
        if (p->done >= 0 && p->done > p->committed)
            rd_kafka_topic_partition_list_add(offs, p->topic, p->partition)->offset = p->done;
    }
}

/* 0: committed; 1: to be aborted; negative: fatal. */
static int eos_commit(weir_app *app, rd_kafka_topic_partition_list_t *offs)
{
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(app->consumer);
    if (!cgmd) {
        sdk_app_log(app, WEIR_LOG_WARN, "no group metadata (not in the group): aborting");
        return 1;
    }
    int r = txn_run(app, OP_SEND, offs, cgmd);
    if (r == 0)
        r = txn_run(app, OP_COMMIT, NULL, NULL);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (r != 0)
        return r;
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < offs->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offs->elems[i];
        sdk_part_t *p = sdk_part_find(app, tp->topic, tp->partition);
        if (p && tp->offset > p->committed)
            p->committed = p->commit_sent = tp->offset;
    }
    pthread_mutex_unlock(&app->lock);
    app->eos->aborts_in_row = 0;
    atomic_fetch_add(&app->stats.transactions, 1);
    atomic_fetch_add(&app->stats.commits, 1);
    atomic_fetch_add(&app->stats.offsets_committed, (uint64_t)offs->cnt);
    sdk_app_log(app, WEIR_LOG_DEBUG, "transaction committed (%d partitions)", offs->cnt);
    return 0;
}

/* After an abort: every partition still ours that moved in the aborted transaction goes back to
 * its committed offset, its stash dropped; the others keep what they hold. Partitions never
 * committed in this assignment ask the group (and start from the beginning without an offset,
 * as the SDK's auto.offset.reset does). */
static void eos_rewind(weir_app *app)
{
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts; i++) {
        sdk_part_t *p = app->parts[i];
        if (p->revoked || p->done < 0 || p->done <= p->committed)
            continue;
        sdk_part_stash_clear(p);
        if (p->paused) {
            rd_kafka_topic_partition_list_add(resume, p->topic, p->partition);
            p->paused = false;
        }
        if (p->committed >= 0)
            rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset = p->committed;
        else
            rd_kafka_topic_partition_list_add(ask, p->topic, p->partition);
        p->done = p->committed;
    }
    pthread_mutex_unlock(&app->lock);
    if (ask->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_committed(app->consumer, ask, SDK_EOS_CALL_MS);
        if (e)
            sdk_app_log(app, WEIR_LOG_WARN, "rewind: committed offsets: %s", rd_kafka_err2str(e));
        for (int i = 0; i < ask->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &ask->elems[i];
            int64_t off =
                !e && !tp->err && tp->offset >= 0 ? tp->offset : RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_topic_partition_list_add(seek, tp->topic, tp->partition)->offset = off;
        }
    }
    if (resume->cnt)
        rd_kafka_resume_partitions(app->consumer, resume);
    if (seek->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(app->consumer, seek, SDK_EOS_SEEK_MS);
        if (e) {
            sdk_app_log(app, WEIR_LOG_WARN, "rewind: seek: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        for (int i = 0; i < seek->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &seek->elems[i];
            if (tp->err)
                sdk_app_log(app, WEIR_LOG_WARN, "rewind: seek %s [%d] to %lld: %s", tp->topic,
                            tp->partition, (long long)tp->offset, rd_kafka_err2str(tp->err));
            else
                sdk_app_log(app, WEIR_LOG_INFO, "rewound %s [%d] to offset %lld", tp->topic,
                            tp->partition, (long long)tp->offset);
        }
    }
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(ask);
    rd_kafka_topic_partition_list_destroy(resume);
}

/* The second abort in a row waits a little before the events run again, the next ones longer:
 * an error that comes back every time (a record the broker always refuses) costs a retry every
 * few seconds rather than a busy loop. The workers stay parked meanwhile. */
static void abort_backoff(weir_app *app)
{
    int n = ++app->eos->aborts_in_row;
    if (n < 2)
        return;
    int64_t ms = SDK_EOS_BACKOFF_MS << WEIR_MIN(n - 2, 16);
    ms = WEIR_MIN(ms, SDK_EOS_BACKOFF_MAX);
    sdk_app_log(app, n >= 10 ? WEIR_LOG_ERROR : WEIR_LOG_WARN,
                "%d transactions aborted in a row; waiting %lld ms", n, (long long)ms);
    int64_t until = clock_mono_ms() + ms;
    while (clock_mono_ms() < until && !atomic_load(&app->stop)) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

void sdk_eos_end(weir_app *app, bool abort, bool held)
{
    sdk_eos_t *x = app->eos;
    if (!x->open || atomic_load(&app->fatal))
        return;
    if (!held)
        sdk_workers_hold(app);
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);
    pthread_mutex_lock(&app->lock);
    offsets_moved(app, offs);
    pthread_mutex_unlock(&app->lock);
    int r = 1;
    if (!abort && !atomic_load(&x->doomed)) {
        if (offs->cnt == 0)
            goto out; /* nothing moved, so nothing was produced: the transaction stays open */
        r = eos_commit(app, offs);
    }
    if (r == 1) {
        x->open = false;
        if ((r = txn_run(app, OP_ABORT, NULL, NULL)) == 0) {
            atomic_store(&x->doomed, false);
            atomic_fetch_add(&app->stats.aborts, 1);
            eos_rewind(app);
            abort_backoff(app);
        }
    }
    x->open = false;
    if (r == 0 && txn_run(app, OP_BEGIN, NULL, NULL) == 0)
        x->open = true;
out:
    rd_kafka_topic_partition_list_destroy(offs);
    if (!held)
        sdk_workers_release(app);
}
