/*
 * The committed-offset APIs: OffsetCommit 0-7, OffsetFetch 0-5, OffsetDelete 0.
 *
 * OffsetCommit is answered only once its records in __consumer_offsets are durable (the
 * coordinator calls back then). Members commit with their generation and member id; a
 * standalone consumer (generation -1, empty member id; OffsetCommit v0 has neither) commits to
 * a group with no members. OffsetFetch answers offset -1 with metadata "" and no error for a
 * partition without a commit; v2+ with a null topic list returns every committed partition.
 *
 * Layouts by version (Kafka's):
 *   OffsetCommit  v1: per-partition commit timestamp; v2-4: retention_time_ms; v5 drops it;
 *                 v6: committed_leader_epoch; v7: group_instance_id; v3+: throttle first.
 *   OffsetFetch   v2+: null topics = all, top-level error_code last; v3+: throttle first;
 *                 v5: committed_leader_epoch.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

enum { MAX_TOPICS = 100000, MAX_PARTITIONS = 1000000 };

/* A topic of a request: its name and its partitions' range in the flat part array. */
typedef struct {
    char *name;
    size_t first, count;
} topic_span_t;

/* Decodes one partition entry of a request into *part (an element of the flat array). */
typedef void (*part_read_fn)(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part);

/* The topics array the three requests share, after its count nt: per topic a name and an array
 * of partitions, at least part_min bytes each on the wire (wire_read_array checks every count
 * against the bytes present before anything grows). Entries of `size` bytes are decoded by
 * read_part into one flat array, in request order, grown by doubling as they come and then
 * copied into the request. Returns that array (never NULL) and its length in *total. */
static void *read_topics(kafka_park_t *g, wire_reader_t *r, int32_t nt, size_t part_min,
                         size_t size, part_read_fn read_part, topic_span_t **topics,
                         size_t *ntopics, size_t *total)
{
    *ntopics = nt > 0 ? (size_t)nt : 0;
    *topics = kafka_park_alloc(g, (*ntopics ? *ntopics : 1) * sizeof(**topics));
    size_t n = 0, cap = 0;
    uint8_t *flat = NULL;
    for (size_t i = 0; i < *ntopics && wire_reader_ok(r); i++) {
        topic_span_t *t = &(*topics)[i];
        t->name = kafka_park_str(g, wire_read_str(r));
        int32_t np = wire_read_array(r, part_min, MAX_PARTITIONS);
        t->first = n;
        t->count = np > 0 ? (size_t)np : 0;
        for (size_t j = 0; j < t->count && wire_reader_ok(r); j++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                flat = weir_realloc(flat, cap * size);
            }
            read_part(g, r, t->name, flat + n++ * size);
        }
    }
    void *out = kafka_park_alloc(g, (n ? n : 1) * size);
    if (n)
        memcpy(out, flat, n * size);
    free(flat);
    *total = n;
    return out;
}

/* Writes the (partition, error_code) answers of OffsetCommit and OffsetDelete topic by topic;
 * part(parts, j, ...) reads entry j of the request's flat array. */
typedef void (*part_result_fn)(const void *parts, size_t j, int32_t *partition, int16_t *error);

static void write_part_errors(wire_writer_t *w, const topic_span_t *topics, size_t ntopics,
                              const void *parts, part_result_fn part)
{
    wire_write_array_len(w, (int32_t)ntopics);
    for (size_t i = 0; i < ntopics; i++) {
        const topic_span_t *t = &topics[i];
        wire_write_cstr(w, t->name);
        wire_write_array_len(w, (int32_t)t->count);
        for (size_t j = t->first; j < t->first + t->count; j++) {
            int32_t partition;
            int16_t error;
            part(parts, j, &partition, &error);
            wire_write_i32(w, partition);
            wire_write_i16(w, error);
        }
    }
}

/* ---- OffsetCommit
 * -------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_commit_req_t cr;
    size_t ntopics;
    topic_span_t *topics;
} commit_park_t;

static void commit_result(const void *parts, size_t j, int32_t *partition, int16_t *error)
{
    const broker_commit_part_t *p = &((const broker_commit_part_t *)parts)[j];
    *partition = p->partition;
    *error = p->error;
}

static void commit_answer(broker_group_op_t *op)
{
    commit_park_t *cm = WEIR_CONTAINER_OF(op, commit_park_t, op);
    wire_writer_t *w = &cm->pk.w;
    if (cm->pk.version >= 3)
        wire_write_i32(w, 0); /* throttle_time_ms */
    write_part_errors(w, cm->topics, cm->ntopics, cm->cr.parts, commit_result);
    kafka_park_finish(&cm->pk);
}

/* The smallest encoded partition entry of an OffsetCommit request. */
static size_t commit_part_min(int16_t v)
{
    size_t n = 4 + 8 + 2; /* partition, offset, metadata (an empty or null string) */
    if (v == 1)
        n += 8; /* commit timestamp */
    if (v >= 6)
        n += 4; /* committed leader epoch */
    return n;
}

static void commit_read_part(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part)
{
    broker_commit_part_t *p = part;
    *p = (broker_commit_part_t){.topic = topic, .leader_epoch = -1, .commit_ts_ms = -1};
    p->partition = wire_read_i32(r);
    p->offset = wire_read_i64(r);
    if (g->version == 1)
        p->commit_ts_ms = wire_read_i64(r);
    if (g->version >= 6)
        p->leader_epoch = wire_read_i32(r);
    p->metadata = kafka_park_str(g, wire_read_nstr(r));
}

int kafka_handle_offset_commit(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    commit_park_t *cm = kafka_park_new(req, sizeof(*cm));
    kafka_park_t *g = &cm->pk;
    cm->op.on_done = commit_answer;
    broker_commit_req_t *cr = &cm->cr;
    cr->group_id = kafka_park_str(g, wire_read_str(r));
    cr->generation_id = -1;
    cr->member_id = "";
    cr->retention_ms = -1;
    if (v >= 1) {
        cr->generation_id = wire_read_i32(r);
        cr->member_id = kafka_park_str(g, wire_read_str(r));
    }
    if (v >= 7)
        cr->instance_id = kafka_park_str(g, wire_read_nstr(r));
    if (v >= 2 && v <= 4)
        cr->retention_ms = wire_read_i64(r);
    if (cr->instance_id && !*cr->instance_id)
        cr->instance_id = NULL;
    int32_t nt = wire_read_array(r, 2 + 4, MAX_TOPICS);
    cr->parts = read_topics(g, r, nt, commit_part_min(v), sizeof(*cr->parts), commit_read_part,
                            &cm->topics, &cm->ntopics, &cr->part_count);
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED)
        broker_offset_commit(req->b, cr, &cm->op);
    return rc;
}

/* ---- OffsetFetch
 * --------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_offset_fetch_req_t fr;
    size_t ntopics;
    topic_span_t *topics;
} fetch_park_t;

static void fetch_write_part(wire_writer_t *w, int16_t v, int32_t partition,
                             const broker_committed_t *o, int16_t err)
{
    wire_write_i32(w, partition);
    wire_write_i64(w, o->offset);
    if (v >= 5)
        wire_write_i32(w, o->leader_epoch);
    wire_write_cstr(w, o->metadata ? o->metadata : "");
    wire_write_i16(w, err);
}

static int row_cmp(const void *a, const void *b)
{
    const broker_offset_fetch_part_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Every committed offset of the group, grouped by topic (OffsetFetch with null topics). */
static void fetch_write_all(wire_writer_t *w, int16_t v, broker_offset_fetch_req_t *fr)
{
    broker_offset_fetch_part_t *rows = fr->all_parts;
    size_t n = fr->all_count;
    if (n > 1) /* qsort(NULL, 0) is undefined */
        qsort(rows, n, sizeof(*rows), row_cmp);
    int32_t ntopics = 0;
    for (size_t i = 0; i < n; i++)
        ntopics += i == 0 || strcmp(rows[i].topic, rows[i - 1].topic) != 0;
    wire_write_array_len(w, ntopics);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(rows[j].topic, rows[i].topic) == 0)
            j++;
        wire_write_cstr(w, rows[i].topic);
        wire_write_array_len(w, (int32_t)(j - i));
        for (size_t k = i; k < j; k++)
            fetch_write_part(w, v, rows[k].partition, &rows[k].committed, KAFKA_NONE);
        i = j;
    }
}

static void fetch_answer(broker_group_op_t *op)
{
    fetch_park_t *f = WEIR_CONTAINER_OF(op, fetch_park_t, op);
    wire_writer_t *w = &f->pk.w;
    int16_t v = f->pk.version;
    int16_t top = f->fr.error;
    if (v >= 3)
        wire_write_i32(w, 0); /* throttle_time_ms */
    if (f->fr.all && !top) {
        fetch_write_all(w, v, &f->fr);
    } else {
        wire_write_array_len(w, (int32_t)f->ntopics);
        for (size_t i = 0; i < f->ntopics; i++) {
            const topic_span_t *t = &f->topics[i];
            wire_write_cstr(w, t->name);
            wire_write_array_len(w, (int32_t)t->count);
            for (size_t j = t->first; j < t->first + t->count; j++)
                /* before v2 there is no top-level error: it goes to every partition */
                fetch_write_part(w, v, f->fr.parts[j].partition, &f->fr.parts[j].committed,
                                 v < 2 ? top : KAFKA_NONE);
        }
    }
    if (v >= 2)
        wire_write_i16(w, top);
    kafka_park_finish(&f->pk);
}

static void fetch_read_part(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part)
{
    *(broker_offset_fetch_part_t *)part =
        (broker_offset_fetch_part_t){.topic = topic, .partition = wire_read_i32(r)};
}

int kafka_handle_offset_fetch(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    fetch_park_t *f = kafka_park_new(req, sizeof(*f));
    kafka_park_t *g = &f->pk;
    f->op.on_done = fetch_answer;
    f->fr.group_id = kafka_park_str(g, wire_read_str(r));
    int32_t nt = wire_read_array(r, 2 + 4, MAX_TOPICS);
    if (nt < 0 && wire_reader_ok(r)) {
        if (v < 2)
            wire_reader_fail(r); /* a null list means "all" only from v2 */
        f->fr.all = true;
    } else {
        f->fr.parts = read_topics(g, r, nt, 4, sizeof(*f->fr.parts), fetch_read_part, &f->topics,
                                  &f->ntopics, &f->fr.part_count);
    }
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED)
        broker_offset_fetch(req->b, &f->fr, &f->op);
    return rc;
}

/* ---- OffsetDelete
 * -------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_offset_delete_req_t od;
    size_t ntopics;
    topic_span_t *topics;
} odel_park_t;

static void odel_result(const void *parts, size_t j, int32_t *partition, int16_t *error)
{
    const broker_offset_delete_part_t *p = &((const broker_offset_delete_part_t *)parts)[j];
    *partition = p->partition;
    *error = p->error;
}

static void odel_answer(broker_group_op_t *op)
{
    odel_park_t *d = WEIR_CONTAINER_OF(op, odel_park_t, op);
    wire_writer_t *w = &d->pk.w;
    wire_write_i16(w, d->od.error);
    wire_write_i32(w, 0); /* throttle_time_ms */
    write_part_errors(w, d->topics, d->od.error ? 0 : d->ntopics, d->od.parts, odel_result);
    kafka_park_finish(&d->pk);
}

static void odel_read_part(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part)
{
    *(broker_offset_delete_part_t *)part =
        (broker_offset_delete_part_t){.topic = topic, .partition = wire_read_i32(r)};
}

int kafka_handle_offset_delete(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    odel_park_t *d = kafka_park_new(req, sizeof(*d));
    kafka_park_t *g = &d->pk;
    d->op.on_done = odel_answer;
    d->od.group_id = kafka_park_str(g, wire_read_str(r));
    int32_t nt = wire_read_array(r, 2 + 4, MAX_TOPICS);
    d->od.parts = read_topics(g, r, nt, 4, sizeof(*d->od.parts), odel_read_part, &d->topics,
                              &d->ntopics, &d->od.part_count);
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED)
        broker_offset_delete(req->b, &d->od, &d->op);
    return rc;
}
