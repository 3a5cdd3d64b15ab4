/*
 * The transaction APIs: InitProducerId 0-5, AddPartitionsToTxn 0-4, AddOffsetsToTxn 0-3,
 * EndTxn 0-4, WriteTxnMarkers 1, DescribeTransactions 0, ListTransactions 0-1,
 * DescribeProducers 0. (TxnOffsetCommit is a group request: api_commit.c.)
 *
 * InitProducerId without a transactional id is answered at once on the request's loop (a fresh
 * producer id from the durable id blocks); with one, and every other request here, goes to the
 * transaction coordinator (broker_txn_*, loop 0) and is answered from there. Versions before
 * KIP-588 (InitProducerId < 4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn < 2) get
 * INVALID_PRODUCER_EPOCH where newer ones get PRODUCER_FENCED, as Kafka answers them.
 *
 * Versions above these (EndTxn 5, AddPartitionsToTxn 5, ...) belong to transaction.version 2
 * (KIP-890 part 2), which Weir does not advertise: clients then use the protocol here.
 *
 * Layouts (Kafka's): flexible from InitProducerId 2, AddPartitionsToTxn 3, AddOffsetsToTxn 3,
 * EndTxn 3; WriteTxnMarkers, DescribeTransactions, ListTransactions and DescribeProducers are
 * flexible in every version. AddPartitionsToTxn 4 (KIP-890 part 1) carries a list of
 * transactions, each with verify_only; its answer has a top-level error and results by
 * transaction.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdatomic.h>
#include <stdlib.h>

enum { MAX_ITEMS = 100000, MAX_PARTITIONS = 1000000 };

static int16_t fenced_for(int16_t err, bool old_version)
{
    return err == KAFKA_PRODUCER_FENCED && old_version ? KAFKA_INVALID_PRODUCER_EPOCH : err;
}

/* ---- InitProducerId ------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_init_req_t ir;
} init_park_t;

static void init_write(wire_writer_t *w, int16_t error, int64_t pid, int16_t epoch)
{
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, error);
    wire_write_i64(w, pid);
    wire_write_i16(w, epoch);
    wire_write_tags(w);
}

static void init_answer(broker_txn_op_t *op)
{
    init_park_t *ip = WEIR_CONTAINER_OF(op, init_park_t, op);
    int16_t err = fenced_for(ip->ir.error, ip->pk.version < 4);
    init_write(&ip->pk.w, err, err ? -1 : ip->ir.out_producer_id, err ? -1 : ip->ir.out_epoch);
    kafka_park_finish(&ip->pk);
}

/* Kafka's checks (authz.c): WRITE on the transactional id; without one, IDEMPOTENT_WRITE on
 * the cluster or WRITE on some topic (Kafka 3+). The ErrorCode when denied, else NONE. */
static int16_t init_authorize(const kafka_req_t *req, const char *txn_id)
{
    if (!broker_acl_enabled(req->b))
        return KAFKA_NONE;
    if (txn_id)
        return kafka_authz(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, txn_id, strlen(txn_id),
                           KAFKA_ACL_OP_WRITE)
                   ? KAFKA_NONE
                   : KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    return kafka_authz_cluster(req, KAFKA_ACL_OP_IDEMPOTENT_WRITE) ||
                   kafka_authz_any(req, KAFKA_RESOURCE_TOPIC, KAFKA_ACL_OP_WRITE)
               ? KAFKA_NONE
               : KAFKA_CLUSTER_AUTHORIZATION_FAILED;
}

static bool txn_write_ok(const kafka_req_t *req, const char *txn_id)
{
    const char *t = txn_id ? txn_id : "";
    return kafka_authz(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, t, strlen(t), KAFKA_ACL_OP_WRITE);
}

int kafka_handle_init_producer_id(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    init_park_t *ip = kafka_park_new(req, sizeof(*ip));
    ip->op.on_done = init_answer;
    ip->ir.transactional_id = kafka_park_str(&ip->pk, wire_read_nstr(r));
    ip->ir.timeout_ms = wire_read_i32(r);
    ip->ir.producer_id = v >= 3 ? wire_read_i64(r) : -1;
    ip->ir.producer_epoch = v >= 3 ? wire_read_i16(r) : -1;
    wire_read_tags(r);
    int16_t denied = init_authorize(req, ip->ir.transactional_id);
    if (denied && wire_reader_ok(r) && !ip->pk.bad) {
        kafka_park_free(&ip->pk);
        init_write(&req->w, denied, -1, -1);
        return KAFKA_RESPOND;
    }
    if (!ip->ir.transactional_id && wire_reader_ok(r) && !ip->pk.bad) {
        /* an idempotent producer: a fresh id at once */
        int64_t pid = -1;
        int16_t epoch = -1;
        broker_err_t err = {KAFKA_NONE, ""};
        broker_init_producer_id(req->b, &pid, &epoch, &err);
        kafka_park_free(&ip->pk);
        init_write(&req->w, err.code, pid, epoch);
        return KAFKA_RESPOND;
    }
    int rc = kafka_park_take(req, &ip->pk);
    if (rc == KAFKA_PARKED)
        broker_txn_init_producer_id(req->b, &ip->ir, &ip->op);
    return rc;
}

/* ---- AddPartitionsToTxn ---------------------------------------------------------------------- */

/* One transaction of the request (v0-3: the only one), its topics in request order. */
typedef struct {
    const char *name;
    size_t first, count; /* range in the transaction's parts */
} add_topic_t;

typedef struct add_park add_park_t;

typedef struct {
    add_park_t *ap;
    broker_txn_op_t op;
    broker_txn_add_req_t ar;
    add_topic_t *topics;
    size_t ntopics;
} add_txn_t;

struct add_park {
    kafka_park_t pk;
    add_txn_t *txns;
    size_t ntxns;
    _Atomic size_t left; /* answers not back yet: they come from loop 0 */
};

static void add_write_topics(wire_writer_t *w, const add_txn_t *t, bool old_version)
{
    wire_write_array_len(w, (int32_t)t->ntopics);
    for (size_t i = 0; i < t->ntopics; i++) {
        const add_topic_t *tp = &t->topics[i];
        wire_write_cstr(w, tp->name);
        wire_write_array_len(w, (int32_t)tp->count);
        for (size_t j = tp->first; j < tp->first + tp->count; j++) {
            wire_write_i32(w, t->ar.parts[j].partition);
            wire_write_i16(w, fenced_for(t->ar.parts[j].error, old_version));
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
}

static void add_answer(broker_txn_op_t *op)
{
    add_txn_t *t = WEIR_CONTAINER_OF(op, add_txn_t, op);
    add_park_t *ap = t->ap;
    if (atomic_fetch_sub(&ap->left, 1) != 1)
        return;
    wire_writer_t *w = &ap->pk.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    if (ap->pk.version >= 4) {
        wire_write_i16(w, KAFKA_NONE);
        wire_write_array_len(w, (int32_t)ap->ntxns);
        for (size_t i = 0; i < ap->ntxns; i++) {
            wire_write_cstr(w, ap->txns[i].ar.transactional_id);
            add_write_topics(w, &ap->txns[i], false);
            wire_write_tags(w);
        }
    } else {
        add_write_topics(w, &ap->txns[0], ap->pk.version < 2);
    }
    wire_write_tags(w);
    kafka_park_finish(&ap->pk);
}

/* Reads the topics array of one transaction into t. */
static void add_read_topics(kafka_park_t *pk, wire_reader_t *r, add_txn_t *t)
{
    int32_t nt = wire_read_array(r, 2 + 4, MAX_ITEMS);
    t->ntopics = nt > 0 ? (size_t)nt : 0;
    t->topics = kafka_park_alloc(pk, (t->ntopics + 1) * sizeof(*t->topics));
    size_t n = 0, cap = 0;
    broker_txn_part_t *parts = NULL;
    for (size_t i = 0; i < t->ntopics && wire_reader_ok(r); i++) {
        add_topic_t *tp = &t->topics[i];
        tp->name = kafka_park_str(pk, wire_read_str(r));
        int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
        tp->first = n;
        tp->count = np > 0 ? (size_t)np : 0;
        for (size_t j = 0; j < tp->count && wire_reader_ok(r); j++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                parts = weir_realloc(parts, cap * sizeof(*parts));
            }
            parts[n++] = (broker_txn_part_t){tp->name, wire_read_i32(r), 0};
        }
        wire_read_tags(r);
    }
    t->ar.parts = kafka_park_alloc(pk, (n + 1) * sizeof(*parts));
    if (n)
        memcpy(t->ar.parts, parts, n * sizeof(*parts));
    free(parts);
    t->ar.part_count = n;
}

/* Kafka's checks (authz.c): WRITE on the transactional id (else every partition answers
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each topic (else its partitions answer
 * TOPIC_AUTHORIZATION_FAILED and the others OPERATION_NOT_ATTEMPTED). True when denied: the
 * errors are set and nothing is added. */
static bool add_authorize(const kafka_req_t *req, broker_txn_add_req_t *ar)
{
    if (!broker_acl_enabled(req->b))
        return false;
    bool txn_ok = txn_write_ok(req, ar->transactional_id);
    bool any = !txn_ok;
    for (size_t j = 0; j < ar->part_count; j++) {
        const char *t = ar->parts[j].topic ? ar->parts[j].topic : "";
        bool ok =
            txn_ok && kafka_authz(req, KAFKA_RESOURCE_TOPIC, t, strlen(t), KAFKA_ACL_OP_WRITE);
        ar->parts[j].error = !txn_ok ? KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                             : ok    ? KAFKA_NONE
                                     : KAFKA_TOPIC_AUTHORIZATION_FAILED;
        any |= !ok;
    }
    for (size_t j = 0; j < ar->part_count && any && txn_ok; j++)
        if (ar->parts[j].error == KAFKA_NONE)
            ar->parts[j].error = KAFKA_OPERATION_NOT_ATTEMPTED;
    if (!any)
        for (size_t j = 0; j < ar->part_count; j++)
            ar->parts[j].error = KAFKA_NONE;
    return any;
}

int kafka_handle_add_partitions_to_txn(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    add_park_t *ap = kafka_park_new(req, sizeof(*ap));
    kafka_park_t *pk = &ap->pk;
    int32_t ntx = v >= 4 ? wire_read_array(r, 2 + 8 + 2 + 1 + 1, MAX_ITEMS) : 1;
    ap->ntxns = ntx > 0 ? (size_t)ntx : 0;
    ap->txns = kafka_park_alloc(pk, (ap->ntxns + 1) * sizeof(*ap->txns));
    for (size_t i = 0; i < ap->ntxns && wire_reader_ok(r); i++) {
        add_txn_t *t = &ap->txns[i];
        t->ap = ap;
        t->op.on_done = add_answer;
        t->ar.transactional_id = kafka_park_str(pk, wire_read_str(r));
        t->ar.producer_id = wire_read_i64(r);
        t->ar.producer_epoch = wire_read_i16(r);
        if (v >= 4)
            t->ar.verify_only = wire_read_bool(r);
        add_read_topics(pk, r, t);
        if (v >= 4)
            wire_read_tags(r);
    }
    wire_read_tags(r);
    atomic_init(&ap->left, ap->ntxns + 1); /* + this function's own hold */
    bool *denied = weir_calloc(ap->ntxns + 1, sizeof(*denied));
    for (size_t i = 0; i < ap->ntxns && wire_reader_ok(r); i++)
        denied[i] = add_authorize(req, &ap->txns[i].ar);
    int rc = kafka_park_take(req, pk);
    if (rc != KAFKA_PARKED) {
        free(denied);
        return rc;
    }
    for (size_t i = 0; i < ap->ntxns; i++) {
        if (denied[i])
            add_answer(&ap->txns[i].op);
        else
            broker_txn_add_partitions(req->b, &ap->txns[i].ar, &ap->txns[i].op);
    }
    free(denied);
    /* drop the hold: answers once every transaction has */
    add_txn_t hold = {.ap = ap};
    add_answer(&hold.op);
    return KAFKA_PARKED;
}

/* ---- AddOffsetsToTxn ------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_add_req_t ar;
} add_offsets_park_t;

static void add_offsets_answer(broker_txn_op_t *op)
{
    add_offsets_park_t *a = WEIR_CONTAINER_OF(op, add_offsets_park_t, op);
    wire_write_i32(&a->pk.w, 0);
    wire_write_i16(&a->pk.w, fenced_for(a->ar.error, a->pk.version < 2));
    wire_write_tags(&a->pk.w);
    kafka_park_finish(&a->pk);
}

int kafka_handle_add_offsets_to_txn(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    add_offsets_park_t *a = kafka_park_new(req, sizeof(*a));
    a->op.on_done = add_offsets_answer;
    a->ar.transactional_id = kafka_park_str(&a->pk, wire_read_str(r));
    a->ar.producer_id = wire_read_i64(r);
    a->ar.producer_epoch = wire_read_i16(r);
    a->ar.group_id = kafka_park_str(&a->pk, wire_read_str(r));
    wire_read_tags(r);
    /* Kafka's checks (authz.c): WRITE on the transactional id, READ on the group. */
    const char *g = a->ar.group_id ? a->ar.group_id : "";
    a->ar.error = !txn_write_ok(req, a->ar.transactional_id)
                      ? KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                  : !kafka_authz(req, KAFKA_RESOURCE_GROUP, g, strlen(g), KAFKA_ACL_OP_READ)
                      ? KAFKA_GROUP_AUTHORIZATION_FAILED
                      : KAFKA_NONE;
    int16_t denied = a->ar.error;
    int rc = kafka_park_take(req, &a->pk);
    if (rc == KAFKA_PARKED && !denied)
        broker_txn_add_partitions(req->b, &a->ar, &a->op);
    else if (rc == KAFKA_PARKED)
        add_offsets_answer(&a->op);
    return rc;
}

/* ---- EndTxn ---------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_end_req_t er;
} end_park_t;

static void end_answer(broker_txn_op_t *op)
{
    end_park_t *e = WEIR_CONTAINER_OF(op, end_park_t, op);
    wire_write_i32(&e->pk.w, 0);
    wire_write_i16(&e->pk.w, fenced_for(e->er.error, e->pk.version < 2));
    wire_write_tags(&e->pk.w);
    kafka_park_finish(&e->pk);
}

int kafka_handle_end_txn(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    end_park_t *e = kafka_park_new(req, sizeof(*e));
    e->op.on_done = end_answer;
    e->er.transactional_id = kafka_park_str(&e->pk, wire_read_str(r));
    e->er.producer_id = wire_read_i64(r);
    e->er.producer_epoch = wire_read_i16(r);
    e->er.commit = wire_read_bool(r);
    wire_read_tags(r);
    bool allowed = txn_write_ok(req, e->er.transactional_id); /* Kafka's check (authz.c) */
    int rc = kafka_park_take(req, &e->pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_txn_end(req->b, &e->er, &e->op);
    } else if (rc == KAFKA_PARKED) {
        e->er.error = KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        end_answer(&e->op);
    }
    return rc;
}

/* ---- WriteTxnMarkers ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t first, count;
} marker_topic_t;

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_markers_req_t mr;
    marker_topic_t **topics; /* per marker */
    size_t *ntopics;
} markers_park_t;

static void markers_answer(broker_txn_op_t *op)
{
    markers_park_t *m = WEIR_CONTAINER_OF(op, markers_park_t, op);
    wire_writer_t *w = &m->pk.w;
    wire_write_array_len(w, (int32_t)m->mr.count);
    for (size_t i = 0; i < m->mr.count; i++) {
        const broker_txn_marker_t *mk = &m->mr.markers[i];
        wire_write_i64(w, mk->producer_id);
        wire_write_array_len(w, (int32_t)m->ntopics[i]);
        for (size_t t = 0; t < m->ntopics[i]; t++) {
            const marker_topic_t *tp = &m->topics[i][t];
            wire_write_cstr(w, tp->name);
            wire_write_array_len(w, (int32_t)tp->count);
            for (size_t j = tp->first; j < tp->first + tp->count; j++) {
                wire_write_i32(w, mk->parts[j].partition);
                wire_write_i16(w, mk->parts[j].error);
                wire_write_tags(w);
            }
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&m->pk);
}

int kafka_handle_write_txn_markers(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    markers_park_t *m = kafka_park_new(req, sizeof(*m));
    kafka_park_t *pk = &m->pk;
    m->op.on_done = markers_answer;
    int32_t nm = wire_read_array(r, 8 + 2 + 1 + 1 + 4 + 1, MAX_ITEMS);
    m->mr.count = nm > 0 ? (size_t)nm : 0;
    m->mr.markers = kafka_park_alloc(pk, (m->mr.count + 1) * sizeof(*m->mr.markers));
    m->topics = kafka_park_alloc(pk, (m->mr.count + 1) * sizeof(*m->topics));
    m->ntopics = kafka_park_alloc(pk, (m->mr.count + 1) * sizeof(*m->ntopics));
    for (size_t i = 0; i < m->mr.count && wire_reader_ok(r); i++) {
        broker_txn_marker_t *mk = &m->mr.markers[i];
        mk->producer_id = wire_read_i64(r);
        mk->producer_epoch = wire_read_i16(r);
        mk->commit = wire_read_bool(r);
        int32_t nt = wire_read_array(r, 1 + 1 + 1, MAX_ITEMS);
        m->ntopics[i] = nt > 0 ? (size_t)nt : 0;
        m->topics[i] = kafka_park_alloc(pk, (m->ntopics[i] + 1) * sizeof(**m->topics));
        size_t n = 0, cap = 0;
        broker_txn_part_t *parts = NULL;
        for (size_t t = 0; t < m->ntopics[i] && wire_reader_ok(r); t++) {
            marker_topic_t *tp = &m->topics[i][t];
            tp->name = kafka_park_str(pk, wire_read_str(r));
            int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
            tp->first = n;
            tp->count = np > 0 ? (size_t)np : 0;
            for (size_t j = 0; j < tp->count && wire_reader_ok(r); j++) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    parts = weir_realloc(parts, cap * sizeof(*parts));
                }
                parts[n++] = (broker_txn_part_t){tp->name, wire_read_i32(r), 0};
            }
            wire_read_tags(r);
        }
        mk->parts = kafka_park_alloc(pk, (n + 1) * sizeof(*parts));
        if (n)
            memcpy(mk->parts, parts, n * sizeof(*parts));
        free(parts);
        mk->part_count = n;
        mk->coordinator_epoch = wire_read_i32(r);
        wire_read_tags(r);
    }
    wire_read_tags(r);
    /* Kafka's check (authz.c): CLUSTER_ACTION on the cluster (a broker's request). */
    bool allowed = kafka_authz_cluster(req, KAFKA_ACL_OP_CLUSTER_ACTION);
    for (size_t i = 0; i < m->mr.count && !allowed && wire_reader_ok(r); i++)
        for (size_t j = 0; j < m->mr.markers[i].part_count; j++)
            m->mr.markers[i].parts[j].error = KAFKA_CLUSTER_AUTHORIZATION_FAILED;
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED && allowed)
        broker_txn_write_markers(req->b, &m->mr, &m->op);
    else if (rc == KAFKA_PARKED)
        markers_answer(&m->op);
    return rc;
}

/* ---- DescribeTransactions -------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_describe_req_t dr;
    bool *denied; /* per id: the principal may not DESCRIBE it (Kafka's check, authz.c) */
} describe_park_t;

static void describe_answer(broker_txn_op_t *op)
{
    describe_park_t *d = WEIR_CONTAINER_OF(op, describe_park_t, op);
    wire_writer_t *w = &d->pk.w;
    wire_write_i32(w, 0);
    wire_write_array_len(w, (int32_t)d->dr.count);
    for (size_t i = 0; i < d->dr.count; i++) {
        const broker_txn_describe_item_t *it = &d->dr.items[i];
        int16_t err = d->denied[i] ? KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED : it->error;
        bool ok = err == KAFKA_NONE;
        wire_write_i16(w, err);
        wire_write_cstr(w, it->transactional_id);
        wire_write_cstr(w, ok ? it->state : "");
        wire_write_i32(w, ok ? it->timeout_ms : 0);
        /* an error entry carries zeros, as Kafka's (the message's defaults) */
        wire_write_i64(w, ok ? it->start_ms : 0);
        wire_write_i64(w, ok ? it->producer_id : 0);
        wire_write_i16(w, ok ? it->producer_epoch : 0); /* int16 on the wire (Kafka 4.4) */
        /* topics: partitions grouped by topic, in first-seen order */
        size_t n = ok ? it->part_count : 0;
        bool *done = weir_calloc(n + 1, sizeof(*done));
        size_t ntopics = 0;
        for (size_t a = 0; a < n; a++) {
            bool seen = false;
            for (size_t b = 0; b < a && !seen; b++)
                seen = strcmp(it->parts[a].topic, it->parts[b].topic) == 0;
            ntopics += !seen;
        }
        wire_write_array_len(w, (int32_t)ntopics);
        for (size_t a = 0; a < n; a++) {
            if (done[a])
                continue;
            size_t k = 0;
            for (size_t b = a; b < n; b++)
                k += strcmp(it->parts[a].topic, it->parts[b].topic) == 0;
            wire_write_cstr(w, it->parts[a].topic);
            wire_write_array_len(w, (int32_t)k);
            for (size_t b = a; b < n; b++) {
                if (!done[b] && strcmp(it->parts[a].topic, it->parts[b].topic) == 0) {
                    wire_write_i32(w, it->parts[b].partition);
                    done[b] = true;
                }
            }
            wire_write_tags(w);
        }
        free(done);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&d->pk);
}

int kafka_handle_describe_transactions(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    describe_park_t *d = kafka_park_new(req, sizeof(*d));
    d->op.on_done = describe_answer;
    int32_t n = wire_read_array(r, 1, MAX_ITEMS);
    d->dr.count = n > 0 ? (size_t)n : 0;
    d->dr.items = kafka_park_alloc(&d->pk, (d->dr.count + 1) * sizeof(*d->dr.items));
    d->denied = kafka_park_alloc(&d->pk, (d->dr.count + 1) * sizeof(*d->denied));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++) {
        const char *id = kafka_park_str(&d->pk, wire_read_str(r));
        d->dr.items[i].transactional_id = id;
        d->denied[i] = !kafka_authz(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, id ? id : "",
                                    id ? strlen(id) : 0, KAFKA_ACL_OP_DESCRIBE);
    }
    wire_read_tags(r);
    int rc = kafka_park_take(req, &d->pk);
    if (rc == KAFKA_PARKED)
        broker_txn_describe(req->b, &d->dr, &d->op);
    return rc;
}

/* ---- ListTransactions ------------------------------------------------------------------------ */

typedef struct {
    kafka_park_t pk;
    broker_txn_op_t op;
    broker_txn_list_req_t lr;
    /* with an authorizer: list only the ids this principal from this host may DESCRIBE */
    bool filter;
    char *principal;
    char host[128];
} list_park_t;

static bool list_shows(const list_park_t *l, const char *id)
{
    return !l->filter ||
           broker_acl_authorize(l->pk.b, l->principal, l->host, KAFKA_RESOURCE_TRANSACTIONAL_ID, id,
                                strlen(id), KAFKA_ACL_OP_DESCRIBE);
}

static void list_answer(broker_txn_op_t *op)
{
    list_park_t *l = WEIR_CONTAINER_OF(op, list_park_t, op);
    wire_writer_t *w = &l->pk.w;
    wire_write_i32(w, 0);
    wire_write_i16(w, l->lr.error);
    wire_write_array_len(w, (int32_t)l->lr.unknown_count);
    for (size_t i = 0; i < l->lr.unknown_count; i++)
        wire_write_cstr(w, l->lr.unknown_states[i]);
    int32_t shown = 0;
    for (size_t i = 0; i < l->lr.count; i++)
        shown += list_shows(l, l->lr.txns[i].transactional_id);
    wire_write_array_len(w, shown);
    for (size_t i = 0; i < l->lr.count; i++) {
        if (!list_shows(l, l->lr.txns[i].transactional_id))
            continue;
        wire_write_cstr(w, l->lr.txns[i].transactional_id);
        wire_write_i64(w, l->lr.txns[i].producer_id);
        wire_write_cstr(w, l->lr.txns[i].state);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&l->pk);
}

int kafka_handle_list_transactions(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    list_park_t *l = kafka_park_new(req, sizeof(*l));
    kafka_park_t *pk = &l->pk;
    l->op.on_done = list_answer;
    int32_t ns = wire_read_array(r, 1, MAX_ITEMS);
    l->lr.state_count = ns > 0 ? (size_t)ns : 0;
    const char **states = kafka_park_alloc(pk, (l->lr.state_count + 1) * sizeof(*states));
    for (size_t i = 0; i < l->lr.state_count && wire_reader_ok(r); i++)
        states[i] = kafka_park_str(pk, wire_read_str(r));
    l->lr.states = states;
    int32_t np = wire_read_array(r, 8, MAX_ITEMS);
    l->lr.pid_count = np > 0 ? (size_t)np : 0;
    int64_t *pids = kafka_park_alloc(pk, (l->lr.pid_count + 1) * sizeof(*pids));
    for (size_t i = 0; i < l->lr.pid_count && wire_reader_ok(r); i++)
        pids[i] = wire_read_i64(r);
    l->lr.pids = pids;
    l->lr.min_duration_ms = req->hdr.api_version >= 1 ? wire_read_i64(r) : -1;
    wire_read_tags(r);
    l->filter = broker_acl_enabled(req->b);
    if (l->filter) {
        const char *who = kafka_conn_principal(req->conn);
        l->principal = kafka_park_str(pk, (wire_str_t){who, (int32_t)strlen(who)});
        kafka_conn_host(req->conn, l->host, sizeof(l->host));
    }
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED)
        broker_txn_list(req->b, &l->lr, &l->op);
    return rc;
}

/* ---- DescribeProducers ----------------------------------------------------------------------- */

int kafka_handle_describe_producers(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t nt = wire_read_array(r, 1 + 1 + 1, MAX_ITEMS);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    wire_write_i32(w, 0);
    wire_write_array_len(w, nt > 0 ? nt : 0);
    for (int32_t i = 0; i < nt; i++) {
        wire_str_t topic = wire_read_str(r);
        int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
        if (!wire_reader_ok(r))
            return -WEIR_EINVAL;
        wire_write_view(w, topic);
        wire_write_array_len(w, np > 0 ? np : 0);
        /* Kafka's check (authz.c): READ on the topic. */
        bool denied = !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, topic, KAFKA_ACL_OP_READ);
        for (int32_t j = 0; j < np; j++) {
            int32_t part = wire_read_i32(r);
            if (!wire_reader_ok(r))
                return -WEIR_EINVAL;
            broker_producer_desc_t *ps = NULL;
            size_t n = 0;
            int rc =
                denied || wire_str_has_nul(topic)
                    ? -WEIR_ENOENT
                    : broker_describe_producers(req->b, topic.s, (size_t)topic.len, part, &ps, &n);
            wire_write_i32(w, part);
            wire_write_i16(w, denied ? KAFKA_TOPIC_AUTHORIZATION_FAILED
                              : rc   ? kafka_err_from(rc)
                                     : KAFKA_NONE);
            wire_write_cstr(w, NULL); /* error_message */
            wire_write_array_len(w, (int32_t)n);
            for (size_t k = 0; k < n; k++) {
                wire_write_i64(w, ps[k].producer_id);
                wire_write_i32(w, ps[k].epoch);
                wire_write_i32(w, ps[k].last_sequence);
                wire_write_i64(w, ps[k].last_timestamp);
                wire_write_i32(w, ps[k].coordinator_epoch);
                wire_write_i64(w, ps[k].txn_start_offset);
                wire_write_tags(w);
            }
            free(ps);
            wire_write_tags(w);
        }
        wire_read_tags(r);
        wire_write_tags(w);
    }
    wire_read_tags(r);
    wire_write_tags(w);
    return wire_reader_ok(r) ? KAFKA_RESPOND : -WEIR_EINVAL;
}
