/*
 * producers.c: the idempotent producer wired into the broker. Each partition keeps the state of
 * the producers writing to it (p->producers, producer_state.c), opened after the partition's
 * log and closed before it; a timer on loop 0 expires idle producers and writes periodic
 * snapshots (and the key indexes' checkpoints, conditional.c); InitProducerId hands out producer
 * ids from the broker-wide, durable id blocks.
 *
 * The check against that state and the update after an append run in the produce path under
 * the partition's append lock (produce.c), which is what makes check-then-append atomic.
 */
#include "broker/broker_internal.h"
#include "broker/producer_state.h"

#include <stdlib.h>
#include <string.h>

enum { PRODUCER_TICK_MS = 30000 };

void broker_partition_producers_open(broker_t *b, broker_partition_t *p, const char *dir)
{
    /* __consumer_offsets takes transactional batches (TxnOffsetCommit) and their markers */
    if (!p->log || (p->topic->internal && strcmp(p->topic->name, "__consumer_offsets") != 0))
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
                  "%s: producer state unreadable (%s): idempotent batches to it will fail", dir,
                  weir_strerror(rc));
    p->producers = ps;
}

void broker_partition_producers_close(broker_t *b, broker_partition_t *p, bool destroy)
{
    broker_producer_state_t *ps = p->producers;
    p->producers = NULL;
    if (destroy || !p->log)
        broker_producer_state_free(ps);
    else
        broker_producer_state_close(ps, p->log);
}

/* Loop 0, every PRODUCER_TICK_MS: expiry and periodic snapshots. */
static void producer_tick(void *arg)
{
    broker_t *b = arg;
    if (atomic_load(&b->stopping))
        return;
    int64_t now = clock_wall_ms();
    int64_t interval = broker_settings_int(&b->set, BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS);
    broker_topics_rdlock(b);
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext) {
            for (int32_t j = 0; j < t->npart; j++) {
                broker_partition_t *p = t->parts[j];
                if (!p->log)
                    continue;
                broker_partition_keys_checkpoint(b, p); /* weir.key.index: its snapshot */
                if (!p->producers)
                    continue;
                broker_producer_state_expire(p->producers, now);
                /* Under the append lock the state and the log end agree exactly. */
                pthread_mutex_lock(&p->append_mu);
                broker_producer_state_maybe_snapshot(p->producers, storage_log_end_offset(p->log),
                                                     interval);
                pthread_mutex_unlock(&p->append_mu);
            }
        }
    }
    broker_topics_unlock(b);
    net_timer_start(b->loops[0], &b->producer_timer, PRODUCER_TICK_MS);
}

static void tick_start_on_loop0(void *arg)
{
    broker_t *b = arg;
    net_timer_start(b->loops[0], &b->producer_timer, PRODUCER_TICK_MS);
}

static void tick_stop_on_loop0(void *arg)
{
    broker_t *b = arg;
    net_timer_stop(b->loops[0], &b->producer_timer);
}

int broker_producers_start(broker_t *b)
{
    net_timer_init(&b->producer_timer, producer_tick, b);
    int rc = broker_producer_ids_open(b->io, b->data_dir, &b->producer_ids);
    if (rc < 0)
        return rc;
    net_loop_call(b->loops[0], tick_start_on_loop0, b);
    return 0;
}

void broker_producers_stop(broker_t *b)
{
    if (b->nloops > 0)
        net_loop_call(b->loops[0], tick_stop_on_loop0, b);
}

void broker_producers_free(broker_t *b)
{
    broker_producer_ids_close(b->producer_ids);
    b->producer_ids = NULL;
}

int broker_init_producer_id(broker_t *b, int64_t *producer_id, int16_t *epoch, broker_err_t *err)
{
    *producer_id = -1;
    *epoch = -1;
    err->code = KAFKA_NONE;
    err->message[0] = 0;
    if (!b->producer_ids)
        return broker_fail(err, -WEIR_ECLOSED, KAFKA_COORDINATOR_NOT_AVAILABLE,
                           "the producer ids are not available");
    int rc = broker_producer_ids_next(b->producer_ids, producer_id);
    if (rc < 0)
        return broker_fail(err, rc, KAFKA_COORDINATOR_NOT_AVAILABLE,
                           "producer ids could not be made durable: %s", weir_strerror(rc));
    *epoch = 0;
    return 0;
}
