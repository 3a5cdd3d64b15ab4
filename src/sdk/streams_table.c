/*
 * Tables from topics: every partition of the topic is read by the tables consumer (no group)
 * from the offsets kept in the store, into "wt_<name>" (latest value per key; a null value
 * deletes). The offsets are written in the same SQLite transaction as the rows, so the table is
 * exactly as of its offsets after any crash. At the start the table is read to the high
 * watermark before any stream is processed; then it follows the topic from the loop.
 *
 * A stored offset the topic cannot continue (past its end: the topic was recreated; before its
 * start: records were deleted) drops that partition's rows and reads it again from the start.
 */
#include "sdk/streams_internal.h"

#include <stdio.h>
#include <stdlib.h>

static st_table_t *table_of(weir_streams *s, const char *topic)
{
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i]->topic, topic) == 0)
            return s->tables[i];
    return NULL;
}

static int table_wipe_part(weir_streams *s, st_table_t *t, int32_t part)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "DELETE FROM \"wt_%s\" WHERE part=%d", t->name, (int)part);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        st_set_error(s, "table %s: %s", t->name, sqlite3_errmsg(s->db));
        return -WEIR_EIO;
    }
    return 0;
}

/* Checks the stored offsets against the topic; hi[] gets each partition's high watermark. */
static int table_start(weir_streams *s, st_table_t *t, int64_t *hi)
{
    int r = st_table_prepare(s, t);
    if (!r)
        r = st_table_offsets_load(s, t);
    for (int p = 0; !r && p < t->partitions; p++) {
        int64_t lo = 0;
        if ((r = st_watermarks(s, s->tabler, t->topic, p, &lo, &hi[p])) != 0)
            return r;
        if (t->next[p] > hi[p] || t->next[p] < lo) {
            if (t->next[p])
                st_log(s, WEIR_LOG_WARN,
                       "table %s [%d]: stored offset %lld outside %lld..%lld: "
                       "reading the partition again",
                       t->name, p, (long long)t->next[p], (long long)lo, (long long)hi[p]);
            r = table_wipe_part(s, t, p);
            t->next[p] = lo;
        }
        t->eof[p] = t->next[p] >= hi[p];
    }
    return r;
}

static void tabler_assign(weir_streams *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->ntables; i++) {
        st_table_t *t = s->tables[i];
        for (int p = 0; p < t->partitions; p++)
            rd_kafka_topic_partition_list_add(l, t->topic, p)->offset = t->next[p];
    }
    rd_kafka_assign(s->tabler, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static bool all_eof(weir_streams *s)
{
    for (size_t i = 0; i < s->ntables; i++)
        for (int p = 0; p < s->tables[i]->partitions; p++)
            if (!s->tables[i]->eof[p])
                return false;
    return true;
}

/* One record (or end of partition) from the tables consumer. hi: high watermarks at the start
 * per table, NULL after the bootstrap. */
static int table_message(weir_streams *s, rd_kafka_message_t *m, int64_t **hi)
{
    st_table_t *t = m->rkt ? table_of(s, rd_kafka_topic_name(m->rkt)) : NULL;
    if (!t || m->partition < 0 || m->partition >= t->partitions)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        t->eof[m->partition] = true;
        return 0;
    }
    if (m->err) {
        st_log(s, WEIR_LOG_WARN, "table %s: %s", t->name, rd_kafka_message_errstr(m));
        return 0;
    }
    int r = st_table_apply(s, t, m);
    if (hi) {
        atomic_fetch_add_explicit(&s->stats.restored_records, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->stats.restored_bytes, m->key_len + m->len,
                                  memory_order_relaxed);
        size_t ti = 0;
        while (s->tables[ti] != t)
            ti++;
        if (m->offset + 1 >= hi[ti][m->partition])
            t->eof[m->partition] = true;
    } else {
        atomic_fetch_add_explicit(&s->stats.table_updates, 1, memory_order_relaxed);
    }
    return r;
}

int st_tables_bootstrap(weir_streams *s)
{
    if (!s->ntables)
        return 0;
    int64_t t0 = clock_mono_ns();
    int64_t **hi = weir_calloc(s->ntables, sizeof(*hi));
    int r = 0;
    for (size_t i = 0; i < s->ntables && !r; i++) {
        hi[i] = weir_calloc((size_t)s->tables[i]->partitions + 1, sizeof(int64_t));
        r = table_start(s, s->tables[i], hi[i]);
    }
    if (!r)
        tabler_assign(s);
    while (!r && !all_eof(s) && !atomic_load(&s->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->tabler, 100);
        if (!m)
            continue;
        r = table_message(s, m, hi);
        rd_kafka_message_destroy(m);
    }
    for (size_t i = 0; i < s->ntables; i++)
        free(hi[i]);
    free(hi);
    atomic_fetch_add_explicit(&s->stats.restore_ms, (uint64_t)((clock_mono_ns() - t0) / 1000000),
                              memory_order_relaxed);
    return r;
}

int st_tables_poll(weir_streams *s)
{
    if (!s->ntables)
        return 0;
    int r = 0;
    for (int i = 0; i < 1000 && !r; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->tabler, 0);
        if (!m)
            break;
        r = table_message(s, m, NULL);
        rd_kafka_message_destroy(m);
    }
    return r;
}
