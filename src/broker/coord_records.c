/*
 * coord_records.c: the records of __consumer_offsets, in Kafka's own layouts, and their replay.
 *
 * Keys (classic encoding, big-endian, i16-length strings):
 *   version 0/1: group string, topic string, partition i32      an offset commit
 *   version 2:   group string                                    group metadata
 * Offset commit values (version i16 first):
 *   v0: offset i64, metadata string, timestamp i64
 *   v1: offset i64, metadata string, commit_timestamp i64, expire_timestamp i64
 *   v2: offset i64, metadata string, commit_timestamp i64
 *   v3: offset i64, leader_epoch i32, metadata string, commit_timestamp i64
 * Group metadata values: protocol_type string, generation i32, protocol nullable string,
 *   leader nullable string, current_state_timestamp i64 (v2+), members [member_id,
 *   group_instance_id nullable (v3+), client_id, client_host, rebalance_timeout i32 (v1+),
 *   session_timeout i32, subscription bytes, assignment bytes].
 * A null value is a tombstone: compaction keeps only the latest record per key.
 *
 * Weir writes offset values v3 (v1 when the commit carries its own expiry, as Kafka does) and
 * group values v3, and reads every version above. Invariant of the decoders: every length
 * and count is checked against the bytes present before anything is allocated for it, and a
 * record that fails to decode changes nothing.
 */
#include "broker/coord.h"

#include <stdlib.h>

enum { KEY_OFFSET_V0 = 0, KEY_OFFSET_V1 = 1, KEY_GROUP = 2 };

/* ---- encoders
 * ------------------------------------------------------------------------------------ */

void broker_coord_key_offset_encode(buf_t *out, const char *group, const char *topic, int32_t part)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, KEY_OFFSET_V1);
    wire_write_cstr(&w, group);
    wire_write_cstr(&w, topic);
    wire_write_i32(&w, part);
}

void broker_coord_key_group_encode(buf_t *out, const char *group)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, KEY_GROUP);
    wire_write_cstr(&w, group);
}

void broker_coord_value_offset_encode(buf_t *out, const broker_committed_t *o)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    const char *meta = o->metadata ? o->metadata : "";
    size_t meta_len = o->metadata ? o->metadata_len : 0;
    if (o->expire_ts_ms >= 0) {
        wire_write_i16(&w, 1);
        wire_write_i64(&w, o->offset);
        wire_write_str(&w, meta, meta_len);
        wire_write_i64(&w, o->commit_ts_ms);
        wire_write_i64(&w, o->expire_ts_ms);
        return;
    }
    wire_write_i16(&w, 3);
    wire_write_i64(&w, o->offset);
    wire_write_i32(&w, o->leader_epoch);
    wire_write_str(&w, meta, meta_len);
    wire_write_i64(&w, o->commit_ts_ms);
}

void broker_coord_value_group_encode(buf_t *out, const broker_group_meta_t *m)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, 3);
    wire_write_cstr(&w, m->protocol_type ? m->protocol_type : "");
    wire_write_i32(&w, m->generation);
    wire_write_cstr(&w, m->protocol_name);
    wire_write_cstr(&w, m->leader_id);
    wire_write_i64(&w, m->state_ts_ms);
    wire_write_array_len(&w, (int32_t)m->member_count);
    for (size_t i = 0; i < m->member_count; i++) {
        const broker_group_meta_member_t *x = &m->members[i];
        wire_write_cstr(&w, x->member_id);
        wire_write_cstr(&w, x->instance_id);
        wire_write_cstr(&w, x->client_id ? x->client_id : "");
        wire_write_cstr(&w, x->client_host ? x->client_host : "");
        wire_write_i32(&w, x->rebalance_timeout_ms);
        wire_write_i32(&w, x->session_timeout_ms);
        wire_write_nbytes(&w, x->subscription ? x->subscription : (const uint8_t *)"",
                          (int32_t)x->subscription_len);
        wire_write_nbytes(&w, x->assignment ? x->assignment : (const uint8_t *)"",
                          (int32_t)x->assignment_len);
    }
}

int32_t broker_coord_partition_for(const char *group, int32_t partitions)
{
    /* Java's String.hashCode over the id (UTF-16 code units equal bytes for ASCII ids). */
    int32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)group; *p; p++)
        h = (int32_t)((uint32_t)h * 31u + *p);
    int32_t abs = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return partitions > 0 ? abs % partitions : 0;
}

/* ---- decoders
 * ------------------------------------------------------------------------------------ */

/* Strings decoded from a record are views; the coordinator wants C strings. A small arena of
 * copies, freed after the record is applied. */
typedef struct {
    char **s;
    size_t n, cap;
} strpool_t;

static const char *pool_dup(strpool_t *sp, wire_str_t v)
{
    if (v.len < 0)
        return NULL;
    if (sp->n == sp->cap) {
        sp->cap = sp->cap ? sp->cap * 2 : 16;
        sp->s = weir_realloc(sp->s, sp->cap * sizeof(*sp->s));
    }
    char *d = wire_str_dup(v);
    sp->s[sp->n++] = d;
    return d;
}

static void pool_free(strpool_t *sp)
{
    for (size_t i = 0; i < sp->n; i++)
        free(sp->s[i]);
    free(sp->s);
}

/* A string that must not hold a NUL (it becomes a C string and a map key). */
static bool str_clean(wire_str_t v)
{
    return v.len < 0 || memchr(v.s, 0, (size_t)v.len) == NULL;
}

static int decode_offset_value(wire_reader_t *r, strpool_t *sp, broker_committed_t *o)
{
    int16_t v = wire_read_i16(r);
    *o = (broker_committed_t){.leader_epoch = -1, .expire_ts_ms = -1};
    if (v < 0 || v > 3)
        return wire_reader_ok(r) ? -WEIR_EUNSUPPORTED : -WEIR_ECORRUPT;
    o->offset = wire_read_i64(r);
    if (v == 3)
        o->leader_epoch = wire_read_i32(r);
    wire_str_t meta = wire_read_str(r);
    o->commit_ts_ms = wire_read_i64(r);
    if (v == 1)
        o->expire_ts_ms = wire_read_i64(r);
    if (!wire_reader_ok(r))
        return -WEIR_ECORRUPT;
    /* metadata is data: NULs are kept, and the length says where it ends */
    o->metadata = pool_dup(sp, meta);
    o->metadata_len = (size_t)meta.len;
    return 0;
}

static int decode_member(wire_reader_t *r, int16_t v, strpool_t *sp, broker_group_meta_member_t *x)
{
    wire_str_t id = wire_read_str(r);
    wire_str_t inst = v >= 3 ? wire_read_nstr(r) : (wire_str_t){NULL, -1};
    wire_str_t client = wire_read_str(r);
    wire_str_t host = wire_read_str(r);
    int32_t rebalance = v >= 1 ? wire_read_i32(r) : -1;
    int32_t session = wire_read_i32(r);
    wire_bytes_t sub = wire_read_bytes(r);
    wire_bytes_t asg = wire_read_bytes(r);
    if (!wire_reader_ok(r) || id.len <= 0 || !str_clean(id) || !str_clean(inst) ||
        !str_clean(client) || !str_clean(host))
        return -WEIR_ECORRUPT;
    *x = (broker_group_meta_member_t){.member_id = pool_dup(sp, id),
                                      .instance_id = pool_dup(sp, inst),
                                      .client_id = pool_dup(sp, client),
                                      .client_host = pool_dup(sp, host),
                                      .rebalance_timeout_ms = rebalance >= 0 ? rebalance : session,
                                      .session_timeout_ms = session,
                                      .subscription = sub.p,
                                      .subscription_len = (size_t)sub.len,
                                      .assignment = asg.p,
                                      .assignment_len = (size_t)asg.len};
    return 0;
}

/* members must be freed by the caller (also on error). */
static int decode_group_value(wire_reader_t *r, strpool_t *sp, broker_group_meta_t *m,
                              broker_group_meta_member_t **members)
{
    *members = NULL;
    int16_t v = wire_read_i16(r);
    if (v < 0 || v > 3)
        return wire_reader_ok(r) ? -WEIR_EUNSUPPORTED : -WEIR_ECORRUPT;
    wire_str_t type = wire_read_str(r);
    int32_t generation = wire_read_i32(r);
    wire_str_t proto = wire_read_nstr(r);
    wire_str_t leader = wire_read_nstr(r);
    int64_t ts = v >= 2 ? wire_read_i64(r) : -1;
    /* the smallest member (v0): three i16-length strings, one i32, two i32-length bytes */
    int32_t n = wire_read_array(r, 6 + 4 + 8, INT32_MAX);
    if (!wire_reader_ok(r) || n < 0 || !str_clean(type) || !str_clean(proto) || !str_clean(leader))
        return -WEIR_ECORRUPT;
    *members = weir_calloc(n ? (size_t)n : 1, sizeof(**members));
    for (int32_t i = 0; i < n; i++)
        if (decode_member(r, v, sp, &(*members)[i]) < 0)
            return -WEIR_ECORRUPT;
    *m = (broker_group_meta_t){.protocol_type = pool_dup(sp, type),
                               .generation = generation,
                               .protocol_name = pool_dup(sp, proto),
                               .leader_id = pool_dup(sp, leader),
                               .state_ts_ms = ts >= 0 ? ts : clock_wall_ms(),
                               .member_count = (size_t)n,
                               .members = *members};
    return 0;
}

static int replay_offset(broker_coord_t *c, wire_reader_t *kr, const uint8_t *value,
                         int32_t value_len, strpool_t *sp)
{
    wire_str_t group = wire_read_str(kr);
    wire_str_t topic = wire_read_str(kr);
    int32_t part = wire_read_i32(kr);
    if (!wire_reader_ok(kr) || group.len <= 0 || topic.len <= 0 || topic.len > 249 ||
        !str_clean(group) || !str_clean(topic))
        return -WEIR_ECORRUPT;
    const char *g = pool_dup(sp, group), *t = pool_dup(sp, topic);
    if (value_len < 0) {
        broker_coord_load_offset(c, g, t, part, NULL);
        return 0;
    }
    wire_reader_t vr;
    wire_reader_init(&vr, value, (size_t)value_len, false);
    broker_committed_t o;
    int rc = decode_offset_value(&vr, sp, &o);
    if (rc < 0)
        return rc;
    broker_coord_load_offset(c, g, t, part, &o);
    return 0;
}

static int replay_group(broker_coord_t *c, wire_reader_t *kr, const uint8_t *value,
                        int32_t value_len, strpool_t *sp)
{
    wire_str_t group = wire_read_str(kr);
    if (!wire_reader_ok(kr) || group.len <= 0 || !str_clean(group))
        return -WEIR_ECORRUPT;
    const char *g = pool_dup(sp, group);
    if (value_len < 0) {
        broker_coord_load_group(c, g, NULL);
        return 0;
    }
    wire_reader_t vr;
    wire_reader_init(&vr, value, (size_t)value_len, false);
    broker_group_meta_t m;
    broker_group_meta_member_t *members;
    int rc = decode_group_value(&vr, sp, &m, &members);
    if (rc == 0)
        broker_coord_load_group(c, g, &m);
    free(members);
    return rc;
}

int broker_coord_replay_record(broker_coord_t *c, const uint8_t *key, size_t key_len,
                               const uint8_t *value, int32_t value_len)
{
    if (!key)
        return -WEIR_ECORRUPT;
    wire_reader_t kr;
    wire_reader_init(&kr, key, key_len, false);
    int16_t kv = wire_read_i16(&kr);
    if (!wire_reader_ok(&kr))
        return -WEIR_ECORRUPT;
    strpool_t sp = {0};
    int rc = 0;
    if (kv == KEY_OFFSET_V0 || kv == KEY_OFFSET_V1)
        rc = replay_offset(c, &kr, value, value_len, &sp);
    else if (kv == KEY_GROUP)
        rc = replay_group(c, &kr, value, value_len, &sp);
    else if (kv >= 3 && kv <= 8) /* consumer groups (KIP-848), coord_consumer_records.c */
        rc = broker_coord_cgroup_replay(c, kv, key, key_len, value, value_len);
    /* other key versions belong to records a later Weir may write: skipped */
    pool_free(&sp);
    return rc;
}
