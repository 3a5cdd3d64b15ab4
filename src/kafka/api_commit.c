/*
 * The committed-offset APIs, each version Kafka 4 serves: OffsetCommit 2-9 (v8+ flexible, v9
 * for consumer groups of KIP-848, whose generation field is the member epoch), OffsetFetch 1-9
 * (v6+ flexible, v7 require_stable, v8+ a batch of groups, v9 member id and epoch),
 * OffsetDelete 0, TxnOffsetCommit 0-4 (v3+ flexible, v3 the consumer's generation and member).
 * OffsetCommit 0-1 and OffsetFetch 0 are gone, as in Kafka 4 (KIP-896). OffsetFetch with
 * require_stable answers UNSTABLE_OFFSET_COMMIT for a partition a transaction holds pending.
 *
 * OffsetCommit is answered only once its records in __consumer_offsets are durable (the
 * coordinator calls back then). Members commit with their generation (classic) or epoch
 * (consumer group) and member id; a standalone consumer (generation -1, empty member id)
 * commits to a group with no members. OffsetFetch answers offset -1 with metadata "" and no
 * error for a partition without a commit; a null topic list returns every committed partition.
 *
 * Commit metadata is data, not a name: it is copied with its length and may hold NUL bytes,
 * which OffsetFetch returns byte for byte (issue 12 4b: librdkafka counts a trailing NUL in its
 * metadata size). Group ids, member ids and topic names are refused when they hold a NUL or
 * do not fit a classic string, as in api_groups.c.
 *
 * Layouts by version (Kafka's):
 *   OffsetCommit  v2-4: retention_time_ms; v5 drops it; v6: committed_leader_epoch;
 *                 v7: group_instance_id; v3+: throttle first.
 *   OffsetFetch   v2+: null topics = all, top-level error_code last (v2-7); v3+: throttle
 *                 first; v5: committed_leader_epoch; v8+: groups[] in and out, each with its
 *                 own error_code.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

enum { MAX_TOPICS = 100000, MAX_PARTITIONS = 1000000, MAX_GROUPS = 10000 };

/* An id: a C string that must not hold a NUL and must fit a classic string. */
static char *group_str(kafka_park_t *pk, wire_str_t s)
{
    if (s.len > INT16_MAX)
        pk->bad = true;
    return kafka_park_str(pk, s);
}

/* Metadata: every byte, NULs included; NULL for a null string. */
static const char *meta_copy(kafka_park_t *pk, wire_str_t s, size_t *len)
{
    *len = s.len > 0 ? (size_t)s.len : 0;
    if (s.len < 0)
        return NULL;
    char *p = kafka_park_alloc(pk, *len + 1);
    if (*len)
        memcpy(p, s.s, *len);
    return p;
}

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
        t->name = group_str(g, wire_read_str(r));
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
        wire_read_tags(r);
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
            wire_write_tags(w);
        }
        wire_write_tags(w);
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
    wire_write_tags(w);
    kafka_park_finish(&cm->pk);
}

/* The smallest encoded partition entry of an OffsetCommit request. */
static size_t commit_part_min(int16_t v)
{
    size_t n = 4 + 8 + 1; /* partition, offset, metadata (at least one byte when compact) */
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
    if (g->version >= 6)
        p->leader_epoch = wire_read_i32(r);
    p->metadata = meta_copy(g, wire_read_nstr(r), &p->metadata_len);
    wire_read_tags(r);
}

/* Kafka's checks (authz.c): TxnOffsetCommit WRITE on the transactional id, then READ on the
 * group (else GROUP_AUTHORIZATION_FAILED for every partition), READ on each topic
 * (TOPIC_AUTHORIZATION_FAILED). Weir commits nothing of a request with a denied topic: its other
 * partitions answer TOPIC_AUTHORIZATION_FAILED too. */
static bool commit_authorize(const kafka_req_t *req, broker_commit_req_t *cr)
{
    if (!broker_acl_enabled(req->b))
        return true;
    const char *gid = cr->group_id ? cr->group_id : "";
    const char *tid = cr->transactional_id ? cr->transactional_id : "";
    int16_t err = KAFKA_NONE;
    if (cr->transactional &&
        !kafka_authz(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, tid, strlen(tid), KAFKA_ACL_OP_WRITE))
        err = KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    else if (!kafka_authz(req, KAFKA_RESOURCE_GROUP, gid, strlen(gid), KAFKA_ACL_OP_READ))
        err = KAFKA_GROUP_AUTHORIZATION_FAILED;
    for (size_t i = 0; i < cr->part_count && !err; i++) {
        const char *t = cr->parts[i].topic ? cr->parts[i].topic : "";
        if (!kafka_authz(req, KAFKA_RESOURCE_TOPIC, t, strlen(t), KAFKA_ACL_OP_READ))
            err = KAFKA_TOPIC_AUTHORIZATION_FAILED;
    }
    for (size_t i = 0; i < cr->part_count && err; i++)
        cr->parts[i].error = err;
    return err == KAFKA_NONE;
}

int kafka_handle_offset_commit(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    commit_park_t *cm = kafka_park_new(req, sizeof(*cm));
    kafka_park_t *g = &cm->pk;
    cm->op.on_done = commit_answer;
    broker_commit_req_t *cr = &cm->cr;
    cr->api_version = v;
    cr->group_id = group_str(g, wire_read_str(r));
    cr->retention_ms = -1;
    cr->generation_id = wire_read_i32(r);
    cr->member_id = group_str(g, wire_read_str(r));
    if (v >= 7)
        cr->instance_id = group_str(g, wire_read_nstr(r));
    if (v >= 2 && v <= 4)
        cr->retention_ms = wire_read_i64(r);
    if (cr->instance_id && !*cr->instance_id)
        cr->instance_id = NULL;
    int32_t nt = wire_read_array(r, 3, MAX_TOPICS);
    cr->parts = read_topics(g, r, nt, commit_part_min(v), sizeof(*cr->parts), commit_read_part,
                            &cm->topics, &cm->ntopics, &cr->part_count);
    wire_read_tags(r);
    bool allowed = commit_authorize(req, cr);
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED && allowed)
        broker_offset_commit(req->b, cr, &cm->op);
    else if (rc == KAFKA_PARKED)
        commit_answer(&cm->op);
    return rc;
}

/* ---- TxnOffsetCommit
 * ----------------------------------------------------------------------------- */

/* TxnOffsetCommit 0-4 (v3+ flexible with the consumer's generation, member id and instance id;
 * v2+ committed_leader_epoch): OffsetCommit's partitions inside the producer's transaction.
 * The answer comes once the transactional batch is durable in __consumer_offsets; the offsets
 * reach the group with the transaction's commit marker (broker_coord_txn_complete). */
static void txn_commit_answer(broker_group_op_t *op)
{
    commit_park_t *cm = WEIR_CONTAINER_OF(op, commit_park_t, op);
    wire_writer_t *w = &cm->pk.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    write_part_errors(w, cm->topics, cm->ntopics, cm->cr.parts, commit_result);
    wire_write_tags(w);
    kafka_park_finish(&cm->pk);
}

static void txn_commit_read_part(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part)
{
    broker_commit_part_t *p = part;
    *p = (broker_commit_part_t){.topic = topic, .leader_epoch = -1, .commit_ts_ms = -1};
    p->partition = wire_read_i32(r);
    p->offset = wire_read_i64(r);
    if (g->version >= 2)
        p->leader_epoch = wire_read_i32(r);
    p->metadata = meta_copy(g, wire_read_nstr(r), &p->metadata_len);
    wire_read_tags(r);
}

int kafka_handle_txn_offset_commit(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    commit_park_t *cm = kafka_park_new(req, sizeof(*cm));
    kafka_park_t *g = &cm->pk;
    cm->op.on_done = txn_commit_answer;
    broker_commit_req_t *cr = &cm->cr;
    cr->api_version = v;
    cr->transactional = true;
    cr->retention_ms = -1;
    cr->generation_id = -1;
    cr->transactional_id = group_str(g, wire_read_str(r));
    cr->group_id = group_str(g, wire_read_str(r));
    cr->producer_id = wire_read_i64(r);
    cr->producer_epoch = wire_read_i16(r);
    if (v >= 3) {
        cr->generation_id = wire_read_i32(r);
        cr->member_id = group_str(g, wire_read_str(r));
        cr->instance_id = group_str(g, wire_read_nstr(r));
        if (cr->instance_id && !*cr->instance_id)
            cr->instance_id = NULL;
    }
    int32_t nt = wire_read_array(r, 3, MAX_TOPICS);
    size_t part_min = 4 + 8 + 1 + (v >= 2 ? 4 : 0);
    cr->parts = read_topics(g, r, nt, part_min, sizeof(*cr->parts), txn_commit_read_part,
                            &cm->topics, &cm->ntopics, &cr->part_count);
    wire_read_tags(r);
    bool allowed = commit_authorize(req, cr);
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED && allowed)
        broker_offset_commit(req->b, cr, &cm->op);
    else if (rc == KAFKA_PARKED)
        txn_commit_answer(&cm->op);
    return rc;
}

/* ---- OffsetFetch
 * --------------------------------------------------------------------------------- */

typedef struct fetch_park fetch_park_t;

/* One group of the request (v8+ carry several), answered by its own broker call. */
typedef struct {
    fetch_park_t *f;
    broker_group_op_t op;
    broker_offset_fetch_req_t fr;
    size_t ntopics;
    topic_span_t *topics;
    buf_t out; /* v8+: this group's entry, written when its answer comes */
} fetch_group_t;

struct fetch_park {
    kafka_park_t pk;
    size_t ngroups;
    size_t left; /* groups not answered yet; touched on the coordinator's thread only */
    fetch_group_t *groups;
};

static void fetch_write_part(wire_writer_t *w, int16_t v, int32_t partition,
                             const broker_committed_t *o, int16_t err)
{
    wire_write_i32(w, partition);
    wire_write_i64(w, o->offset);
    if (v >= 5)
        wire_write_i32(w, o->leader_epoch);
    if (o->metadata)
        wire_write_str(w, o->metadata, o->metadata_len);
    else
        wire_write_str(w, "", 0);
    wire_write_i16(w, err);
    wire_write_tags(w);
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
            fetch_write_part(w, v, rows[k].partition, &rows[k].committed, rows[k].error);
        wire_write_tags(w);
        i = j;
    }
}

/* The topics of one group's answer: the asked partitions, or every committed one. */
static void fetch_write_topics(wire_writer_t *w, int16_t v, fetch_group_t *fg)
{
    int16_t top = fg->fr.error;
    if (fg->fr.all && !top) {
        fetch_write_all(w, v, &fg->fr);
        return;
    }
    if (v >= 8 && top) { /* a failed group of a batch: no topics */
        wire_write_array_len(w, 0);
        return;
    }
    wire_write_array_len(w, (int32_t)fg->ntopics);
    for (size_t i = 0; i < fg->ntopics; i++) {
        const topic_span_t *t = &fg->topics[i];
        wire_write_cstr(w, t->name);
        wire_write_array_len(w, (int32_t)t->count);
        for (size_t j = t->first; j < t->first + t->count; j++)
            /* before v2 there is no top-level error: it goes to every partition */
            fetch_write_part(w, v, fg->fr.parts[j].partition, &fg->fr.parts[j].committed,
                             v < 2 && top ? top : fg->fr.parts[j].error);
        wire_write_tags(w);
    }
}

/* Coordinator thread: one group answered. v0-7 write the answer at once; v8+ keep the group's
 * entry and write the whole answer when the last group is in. */
static void fetch_answer(broker_group_op_t *op)
{
    fetch_group_t *fg = WEIR_CONTAINER_OF(op, fetch_group_t, op);
    fetch_park_t *f = fg->f;
    int16_t v = f->pk.version;
    wire_writer_t *w = &f->pk.w;
    if (v < 8) {
        if (v >= 3)
            wire_write_i32(w, 0); /* throttle_time_ms */
        fetch_write_topics(w, v, fg);
        if (v >= 2)
            wire_write_i16(w, fg->fr.error);
        wire_write_tags(w);
        kafka_park_finish(&f->pk);
        return;
    }
    wire_writer_t gw;
    wire_writer_init(&gw, &fg->out, true);
    wire_write_cstr(&gw, fg->fr.group_id);
    fetch_write_topics(&gw, v, fg);
    wire_write_i16(&gw, fg->fr.error);
    wire_write_tags(&gw);
    if (--f->left > 0)
        return;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, (int32_t)f->ngroups);
    for (size_t i = 0; i < f->ngroups; i++) {
        buf_append(w->b, f->groups[i].out.data, f->groups[i].out.len);
        buf_deinit(&f->groups[i].out);
    }
    wire_write_tags(w);
    kafka_park_finish(&f->pk);
}

static void fetch_read_part(kafka_park_t *g, wire_reader_t *r, const char *topic, void *part)
{
    *(broker_offset_fetch_part_t *)part =
        (broker_offset_fetch_part_t){.topic = topic, .partition = wire_read_i32(r)};
}

/* The topics of one group: a list, or (v2+) null for every committed partition. */
static void fetch_read_topics(kafka_park_t *g, wire_reader_t *r, fetch_group_t *fg)
{
    int32_t nt = wire_read_array(r, 3, MAX_TOPICS);
    if (nt < 0 && wire_reader_ok(r)) {
        if (g->version < 2)
            wire_reader_fail(r); /* a null list means "all" only from v2 */
        fg->fr.all = true;
        return;
    }
    fg->fr.parts = read_topics(g, r, nt, 4, sizeof(*fg->fr.parts), fetch_read_part, &fg->topics,
                               &fg->ntopics, &fg->fr.part_count);
}

static void fetch_group_init(fetch_park_t *f, fetch_group_t *fg)
{
    fg->f = f;
    fg->op.on_done = fetch_answer;
    fg->fr.member_epoch = -1;
    buf_init(&fg->out);
}

/* v8+: groups[group_id, member_id (v9), member_epoch (v9), topics, tags]. */
static void fetch_read_groups(fetch_park_t *f, wire_reader_t *r)
{
    kafka_park_t *g = &f->pk;
    int32_t n = wire_read_array(r, 3, MAX_GROUPS);
    f->ngroups = n > 0 ? (size_t)n : 0;
    f->groups = kafka_park_alloc(g, (f->ngroups ? f->ngroups : 1) * sizeof(*f->groups));
    for (size_t i = 0; i < f->ngroups && wire_reader_ok(r); i++) {
        fetch_group_t *fg = &f->groups[i];
        fetch_group_init(f, fg);
        fg->fr.group_id = group_str(g, wire_read_str(r));
        if (g->version >= 9) {
            fg->fr.member_id = group_str(g, wire_read_nstr(r));
            fg->fr.member_epoch = wire_read_i32(r);
        }
        fetch_read_topics(g, r, fg);
        wire_read_tags(r);
    }
}

int kafka_handle_offset_fetch(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    fetch_park_t *f = kafka_park_new(req, sizeof(*f));
    kafka_park_t *g = &f->pk;
    if (v >= 8) {
        fetch_read_groups(f, r);
    } else {
        f->ngroups = 1;
        f->groups = kafka_park_alloc(g, sizeof(*f->groups));
        fetch_group_init(f, &f->groups[0]);
        f->groups[0].fr.group_id = group_str(g, wire_read_str(r));
        fetch_read_topics(g, r, &f->groups[0]);
    }
    bool stable = v >= 7 && wire_read_bool(r); /* require_stable */
    for (size_t i = 0; i < f->ngroups; i++)
        f->groups[i].fr.require_stable = stable;
    wire_read_tags(r);
    if (v >= 8 && f->ngroups == 0 && wire_reader_ok(r)) {
        wire_writer_t *w = &req->w; /* nothing to ask the coordinator */
        kafka_park_free(g);
        wire_write_i32(w, 0);
        wire_write_array_len(w, 0);
        wire_write_tags(w);
        return KAFKA_RESPOND;
    }
    size_t n = f->ngroups;
    fetch_group_t *groups = f->groups;
    f->left = n;
    bool *denied = weir_calloc(n + 1, sizeof(*denied));
    for (size_t i = 0; i < n; i++) {
        broker_offset_fetch_req_t *fr = &groups[i].fr;
        const char *gid = fr->group_id ? fr->group_id : "";
        denied[i] = !kafka_authz(req, KAFKA_RESOURCE_GROUP, gid, strlen(gid), KAFKA_ACL_OP_READ);
        if (!denied[i])
            continue;
        fr->error = KAFKA_GROUP_AUTHORIZATION_FAILED; /* Kafka: READ on the group (authz.c) */
        fr->all = false;
        for (size_t j = 0; j < fr->part_count; j++) {
            fr->parts[j].error = KAFKA_GROUP_AUTHORIZATION_FAILED;
            fr->parts[j].committed = (broker_committed_t){
                .offset = -1, .leader_epoch = -1, .metadata = "", .expire_ts_ms = -1};
        }
    }
    int rc = kafka_park_take(req, g);
    for (size_t i = 0; rc == KAFKA_PARKED && i < n; i++) { /* f may be gone after the last */
        if (denied[i])
            fetch_answer(&groups[i].op);
        else
            broker_offset_fetch(req->b, &groups[i].fr, &groups[i].op);
    }
    free(denied);
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
    int32_t nt = wire_read_array(r, 3, MAX_TOPICS);
    d->od.parts = read_topics(g, r, nt, 4, sizeof(*d->od.parts), odel_read_part, &d->topics,
                              &d->ntopics, &d->od.part_count);
    /* Kafka's check (authz.c): DELETE on the group, READ on each topic. */
    const char *gid = d->od.group_id ? d->od.group_id : "";
    bool allowed = kafka_authz(req, KAFKA_RESOURCE_GROUP, gid, strlen(gid), KAFKA_ACL_OP_DELETE);
    if (!allowed)
        d->od.error = KAFKA_GROUP_AUTHORIZATION_FAILED;
    for (size_t i = 0; i < d->od.part_count && allowed; i++) {
        const char *t = d->od.parts[i].topic ? d->od.parts[i].topic : "";
        allowed = kafka_authz(req, KAFKA_RESOURCE_TOPIC, t, strlen(t), KAFKA_ACL_OP_READ);
        if (!allowed) /* Weir deletes nothing of such a request */
            for (size_t j = 0; j < d->od.part_count; j++)
                d->od.parts[j].error = KAFKA_TOPIC_AUTHORIZATION_FAILED;
    }
    int rc = kafka_park_take(req, g);
    if (rc == KAFKA_PARKED && allowed)
        broker_offset_delete(req->b, &d->od, &d->op);
    else if (rc == KAFKA_PARKED)
        odel_answer(&d->op);
    return rc;
}
