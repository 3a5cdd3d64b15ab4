/*
 * Reading a fixed range of a topic, partition after partition, for the commands that look at
 * every record once (topic export, dlq list / show / redrive). One simple consumer (no group),
 * each partition started at its first offset and stopped at its end, so what the callback sees
 * is ordered by partition then offset, and two runs over the same records see the same order.
 *
 * Invariant: a partition is done when a record at or past its end arrives or librdkafka says
 * it reached the end of the log; a record past the end is never handed to the callback.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int scan_partition(cli_client_t *c, rd_kafka_queue_t *q, const char *topic,
                          int32_t partition, int64_t start, int64_t end, cli_scan_fn fn, void *arg)
{
    if (start >= end)
        return 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
    int rc = 0;
    if (rd_kafka_consume_start_queue(rkt, partition, start, q) != 0) {
        cli_err(c->g, "reading %s/%" PRId32 " failed: %s", topic, partition,
                rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_topic_destroy(rkt);
        return CLI_ERROR;
    }
    int64_t idle_ms = 0;
    bool done = false;
    while (rc == 0 && !done) {
        if (cli_stop) {
            rc = CLI_ERROR;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
        if (!m) {
            idle_ms += 100;
            if (idle_ms > c->g->timeout_ms) {
                cli_err(c->g, "reading %s/%" PRId32 " stalled before offset %" PRId64, topic,
                        partition, end);
                rc = CLI_ERROR;
            }
            continue;
        }
        idle_ms = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err) {
            cli_err(c->g, "reading %s/%" PRId32 " failed: %s", topic, partition,
                    rd_kafka_message_errstr(m));
            rc = cli_kafka_exit(m->err);
        } else if (m->offset >= end) {
            rd_kafka_message_destroy(m);
            break;
        } else {
            rc = fn(arg, m);
            done = m->offset + 1 >= end;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consume_stop(rkt, partition);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int cli_scan(cli_global_t *g, const rd_kafka_topic_partition_list_t *parts, const int64_t *end,
             cli_scan_fn fn, void *arg)
{
    static const char *const kv[] = {"enable.partition.eof", "true", "allow.auto.create.topics",
                                     "false", NULL};
    cli_client_t c;
    int rc = cli_client_open(&c, g, RD_KAFKA_CONSUMER, NULL, kv);
    if (rc != 0)
        return rc;
    rd_kafka_queue_t *q = rd_kafka_queue_new(c.rk);
    for (int i = 0; rc == 0 && i < parts->cnt; i++) {
        rc = scan_partition(&c, q, parts->elems[i].topic, parts->elems[i].partition,
                            parts->elems[i].offset, end[i], fn, arg);
    }
    if (rc == 1) /* the callback had seen enough */
        rc = 0;
    rd_kafka_queue_destroy(q);
    cli_client_close(&c);
    return rc;
}

int cli_topic_parts(cli_client_t *c, const char *topic, int64_t partition,
                    rd_kafka_topic_partition_list_t **out, int64_t **low, int64_t **high)
{
    const rd_kafka_metadata_t *md = NULL;
    int rc = cli_client_metadata(c, &md);
    if (rc != 0)
        return rc;
    const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, topic);
    if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        cli_err(c->g, "topic '%s' not found", topic);
        rd_kafka_metadata_destroy(md);
        return CLI_NOT_FOUND;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int i = 0; i < t->partition_cnt; i++)
        if (partition < 0 || t->partitions[i].id == partition)
            rd_kafka_topic_partition_list_add(parts, t->topic, t->partitions[i].id);
    rd_kafka_metadata_destroy(md);
    if (parts->cnt == 0) {
        cli_err(c->g, "topic '%s' has no partition %" PRId64, topic, partition);
        rd_kafka_topic_partition_list_destroy(parts);
        return CLI_NOT_FOUND;
    }
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
    *low = weir_calloc((size_t)parts->cnt, sizeof(int64_t));
    *high = weir_calloc((size_t)parts->cnt, sizeof(int64_t));
    for (int i = 0; rc == 0 && i < parts->cnt; i++) {
        rc = cli_watermarks(c, topic, parts->elems[i].partition, &(*low)[i], &(*high)[i]);
        parts->elems[i].offset = (*low)[i];
    }
    if (rc != 0) {
        free(*low);
        free(*high);
        *low = *high = NULL;
        rd_kafka_topic_partition_list_destroy(parts);
        return rc;
    }
    *out = parts;
    return 0;
}

/* ---- the sender -------------------------------------------------------------------------------
 * Records written back by import and redrive: an idempotent producer with acks=all, so a
 * retry inside librdkafka never duplicates a record nor reorders a partition. */

static void sender_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    cli_sender_t *s = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        s->delivered++;
        return;
    }
    if (s->failed++ == 0) {
        s->first_err = m->err;
        snprintf(s->first_why, sizeof(s->first_why), "%s [%" PRId32 "]: %s",
                 rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_message_errstr(m));
    }
}

int cli_sender_open(cli_sender_t *s, cli_global_t *g)
{
    static const char *const kv[] = {
        "enable.idempotence",       "true",  "acks", "all", "linger.ms", "5",
        "allow.auto.create.topics", "false", NULL};
    memset(s, 0, sizeof(*s));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, sender_on_delivery);
    rd_kafka_conf_set_opaque(conf, s);
    return cli_client_open(&s->c, g, RD_KAFKA_PRODUCER, conf, kv);
}

int cli_sender_send(cli_sender_t *s, const char *topic, int32_t partition, const void *key,
                    ssize_t key_len, const void *value, ssize_t value_len, int64_t ts,
                    rd_kafka_headers_t *hdrs)
{
    /* librdkafka takes a NULL pointer for a null key or value, any other for an empty one. */
    const void *k = key_len >= 0 ? (key ? key : "") : NULL;
    void *v = value_len >= 0 ? (void *)(value ? value : "") : NULL;
    size_t kn = key_len >= 0 ? (size_t)key_len : 0, vn = value_len >= 0 ? (size_t)value_len : 0;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(s->c.rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, kn),
                              RD_KAFKA_V_VALUE(v, vn), RD_KAFKA_V_TIMESTAMP(ts),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_poll(s->c.rk, 0);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            cli_err(s->c.g, "writing to %s failed: %s", topic, rd_kafka_err2str(err));
            return cli_kafka_exit(err);
        }
        rd_kafka_poll(s->c.rk, 100); /* the queue is full: wait for deliveries to make room */
    }
}

int cli_sender_flush(cli_sender_t *s)
{
    while (rd_kafka_outq_len(s->c.rk) > 0 && !cli_stop)
        rd_kafka_flush(s->c.rk, 500);
    if (s->failed == 0 && rd_kafka_outq_len(s->c.rk) == 0)
        return 0;
    if (s->failed)
        cli_err(s->c.g, "%" PRId64 " record(s) were not written; the first: %s", s->failed,
                s->first_why);
    else
        cli_err(s->c.g, "interrupted before every record was written");
    return CLI_ERROR;
}

void cli_sender_close(cli_sender_t *s)
{
    cli_client_close(&s->c);
}
