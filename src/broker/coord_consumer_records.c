/*
 * coord_consumer_records.c: the records of consumer groups (KIP-848) in __consumer_offsets, in
 * Kafka's own layouts, and their replay at start.
 *
 * Keys (classic encoding: i16 version, then i16-length strings); the key version names the
 * record type:
 *   3  ConsumerGroupMetadata               group
 *   5  ConsumerGroupMemberMetadata         group, member
 *   6  ConsumerGroupTargetAssignmentMetadata group
 *   7  ConsumerGroupTargetAssignmentMember group, member
 *   8  ConsumerGroupCurrentMemberAssignment group, member
 * Values: i16 version 0, then the flexible encoding (compact strings and arrays, a tagged-field
 * section after every struct):
 *   3: epoch i32; tag 0: metadata hash i64
 *   5: instance id?, rack id?, client id, client host, subscribed topic names [string],
 *      subscribed topic regex?, rebalance timeout i32, server assignor?; tag 0, for a member
 *      that uses the classic protocol: ClassicMemberMetadata {session timeout i32, supported
 *      protocols [name, metadata bytes]}
 *   6: assignment epoch i32 (tag 0, the assignment's timestamp, is not written)
 *   7: topic partitions [topic id uuid, partitions [i32]]
 *   8: member epoch i32, previous member epoch i32, state i8, assigned partitions [topic id,
 *      partitions [i32]; tag 0: assignment epochs [i32], one per partition], partitions
 *      pending revocation [..]
 * Key 4 (ConsumerGroupPartitionMetadata) is neither written nor needed: like Kafka 4.1+, Weir
 * keeps a hash of the subscribed topics in the group record instead. Topics are named by their
 * ids; a record naming a topic id that no longer exists leaves that topic out.
 *
 * Invariant of the decoders: every length and count is checked against the bytes present
 * before anything is allocated for it (wire_read_array), and a record that fails to decode
 * changes nothing.
 */
#include "broker/coord_internal.h"

#include <stdlib.h>

enum {
    KEY_CG_METADATA = 3,
    KEY_CG_MEMBER = 5,
    KEY_CG_TARGET_META = 6,
    KEY_CG_TARGET_MEMBER = 7,
    KEY_CG_CURRENT = 8,
    MAX_RECORD_TOPICS = 100000,
    MAX_RECORD_PARTITIONS = 1000000
};

/* ---- encoders ----------------------------------------------------------------------------------
 */

static void key_begin(recset_t *rs, int16_t version, const char *group, const char *member)
{
    wire_writer_t w;
    broker_coord_recset_begin(rs);
    wire_writer_init(&w, &rs->bytes, false);
    wire_write_i16(&w, version);
    wire_write_cstr(&w, group);
    if (member)
        wire_write_cstr(&w, member);
    broker_coord_recset_value(rs);
}

static void value_begin(recset_t *rs, wire_writer_t *w)
{
    wire_writer_init(w, &rs->bytes, false);
    wire_write_i16(w, 0);
    w->flexible = true;
}

/* The assignment epochs of one topic's partitions: tag 0 of its TopicPartitions struct. */
static void write_epochs_tag(wire_writer_t *w, const tp_t *v, size_t n)
{
    buf_t tmp = {0};
    wire_writer_t t;
    wire_writer_init(&t, &tmp, true);
    wire_write_array_len(&t, (int32_t)n);
    for (size_t k = 0; k < n; k++)
        wire_write_i32(&t, v[k].epoch);
    wire_write_uvarint(w, 1); /* one tagged field */
    wire_write_uvarint(w, 0); /* tag 0: AssignmentEpochs */
    wire_write_uvarint(w, (uint32_t)tmp.len);
    buf_append(w->b, tmp.data, tmp.len);
    buf_deinit(&tmp);
}

/* [TopicPartitions]: per topic that still exists (a deleted one has no id to name it by) its
 * id and partitions, and with_epochs their assignment epochs. */
static void write_parts(broker_coord_t *c, wire_writer_t *w, const tpset_t *s, bool with_epochs)
{
    int32_t nt = 0;
    uint8_t id[16];
    for (size_t i = 0; i < s->n; i++)
        nt += (i == 0 || s->v[i].topic != s->v[i - 1].topic) &&
              c->env.topic_id(c->env.ctx, s->v[i].topic, id);
    wire_write_array_len(w, nt);
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && s->v[j].topic == s->v[i].topic)
            j++;
        if (c->env.topic_id(c->env.ctx, s->v[i].topic, id)) {
            buf_append(w->b, id, 16);
            wire_write_array_len(w, (int32_t)(j - i));
            for (size_t k = i; k < j; k++)
                wire_write_i32(w, s->v[k].partition);
            if (with_epochs)
                write_epochs_tag(w, &s->v[i], j - i);
            else
                wire_write_tags(w);
        }
        i = j;
    }
}

void broker_coord_crec_group(recset_t *rs, group_t *g, bool tombstone)
{
    key_begin(rs, KEY_CG_METADATA, g->id, NULL);
    if (!tombstone) {
        wire_writer_t w;
        value_begin(rs, &w);
        wire_write_i32(&w, g->cg->epoch);
        wire_write_uvarint(&w, 1); /* one tagged field: 0, the metadata hash */
        wire_write_uvarint(&w, 0);
        wire_write_uvarint(&w, 8);
        wire_write_i64(&w, (int64_t)g->cg->topics_hash);
    }
    broker_coord_recset_end(rs, tombstone);
}

/* ClassicMemberMetadata, tag 0 of a member record: the session timeout and the protocols of a
 * member that uses the classic protocol. */
static void write_classic_tag(wire_writer_t *w, const cmember_t *m)
{
    buf_t tmp = {0};
    wire_writer_t t;
    wire_writer_init(&t, &tmp, true);
    wire_write_i32(&t, m->session_timeout_ms);
    wire_write_array_len(&t, (int32_t)m->nprotos);
    for (size_t i = 0; i < m->nprotos; i++) {
        wire_write_cstr(&t, m->protos[i].name);
        wire_write_nbytes(&t, m->protos[i].meta, (int32_t)m->protos[i].meta_len);
        wire_write_tags(&t);
    }
    wire_write_tags(&t);
    wire_write_uvarint(w, 1); /* one tagged field */
    wire_write_uvarint(w, 0); /* tag 0: ClassicMemberMetadata */
    wire_write_uvarint(w, (uint32_t)tmp.len);
    buf_append(w->b, tmp.data, tmp.len);
    buf_deinit(&tmp);
}

void broker_coord_crec_member(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone)
{
    key_begin(rs, KEY_CG_MEMBER, g->id, m->id);
    if (!tombstone) {
        wire_writer_t w;
        value_begin(rs, &w);
        wire_write_cstr(&w, m->instance_id);
        wire_write_cstr(&w, m->rack_id);
        wire_write_cstr(&w, m->client_id);
        wire_write_cstr(&w, m->client_host);
        wire_write_array_len(&w, (int32_t)m->nsubs);
        for (size_t i = 0; i < m->nsubs; i++)
            wire_write_cstr(&w, m->subs[i]);
        wire_write_cstr(&w, m->regex);
        wire_write_i32(&w, m->rebalance_timeout_ms);
        wire_write_cstr(&w, m->assignor);
        if (m->classic)
            write_classic_tag(&w, m);
        else
            wire_write_tags(&w);
    }
    broker_coord_recset_end(rs, tombstone);
}

void broker_coord_crec_target_member(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone)
{
    key_begin(rs, KEY_CG_TARGET_MEMBER, g->id, m->id);
    if (!tombstone) {
        wire_writer_t w;
        value_begin(rs, &w);
        write_parts(g->c, &w, &m->target, false);
        wire_write_tags(&w);
    }
    broker_coord_recset_end(rs, tombstone);
}

void broker_coord_crec_target_meta(recset_t *rs, group_t *g, bool tombstone)
{
    key_begin(rs, KEY_CG_TARGET_META, g->id, NULL);
    if (!tombstone) {
        wire_writer_t w;
        value_begin(rs, &w);
        wire_write_i32(&w, g->cg->assignment_epoch);
        wire_write_tags(&w);
    }
    broker_coord_recset_end(rs, tombstone);
}

void broker_coord_crec_current(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone)
{
    key_begin(rs, KEY_CG_CURRENT, g->id, m->id);
    if (!tombstone) {
        wire_writer_t w;
        value_begin(rs, &w);
        wire_write_i32(&w, m->epoch);
        wire_write_i32(&w, m->prev_epoch);
        wire_write_i8(&w, m->state);
        write_parts(g->c, &w, &m->assigned, true);
        write_parts(g->c, &w, &m->revoking, false);
        wire_write_tags(&w);
    }
    broker_coord_recset_end(rs, tombstone);
}

/* ---- decoders ----------------------------------------------------------------------------------
 */

static bool str_ok(wire_str_t v)
{
    return v.len < 0 || memchr(v.s, 0, (size_t)v.len) == NULL;
}

/* A C string of a view that holds no NUL (checked), or NULL for null. Caller frees. */
static char *dup_view(wire_str_t v)
{
    return wire_str_dup(v);
}

/* The tagged fields of a TopicPartitions struct: the assignment epochs (tag 0), if there and
 * one per partition, into epochs; other tags are skipped. */
static void read_epochs_tag(wire_reader_t *r, int32_t *epochs, int32_t np)
{
    uint32_t n = wire_read_uvarint(r);
    for (uint32_t i = 0; i < n && wire_reader_ok(r); i++) {
        uint32_t tag = wire_read_uvarint(r), size = wire_read_uvarint(r);
        if (!wire_reader_ok(r) || size > wire_reader_left(r)) {
            wire_reader_fail(r);
            return;
        }
        wire_reader_t t;
        wire_reader_init(&t, r->p, size, true);
        r->p += size;
        if (tag != 0)
            continue;
        int32_t ne = wire_read_array(&t, 4, MAX_RECORD_PARTITIONS);
        for (int32_t k = 0; ne == np && k < ne && wire_reader_ok(&t); k++)
            epochs[k] = wire_read_i32(&t);
    }
}

/* [TopicPartitions] into out; partitions without an assignment epoch get default_epoch. */
static int read_parts(broker_coord_t *c, wire_reader_t *r, tpset_t *out, int32_t default_epoch)
{
    int32_t nt = wire_read_array(r, 16 + 1 + 1, MAX_RECORD_TOPICS);
    for (int32_t i = 0; i < nt && wire_reader_ok(r); i++) {
        uint8_t id[16];
        wire_read_uuid(r, id);
        int32_t np = wire_read_array(r, 4, MAX_RECORD_PARTITIONS); /* checked: bytes present */
        if (np < 0)
            break;
        int32_t *parts = weir_calloc(np ? (size_t)np * 2 : 1, sizeof(*parts)), *epochs = parts + np;
        for (int32_t k = 0; k < np; k++) {
            parts[k] = wire_read_i32(r);
            epochs[k] = default_epoch;
        }
        read_epochs_tag(r, epochs, np);
        char name[256];
        bool known = wire_reader_ok(r) && c->env.topic_by_id(c->env.ctx, id, name, sizeof(name));
        const char *t = known ? broker_coord_intern(c, name) : NULL;
        for (int32_t k = 0; t && k < np; k++)
            if (parts[k] >= 0)
                tpset_add_epoch(out, t, parts[k], epochs[k]);
        free(parts);
    }
    return wire_reader_ok(r) && nt >= 0 ? 0 : -WEIR_ECORRUPT;
}

/* The consumer group of a record, made (or turned from an empty classic group) if need be. */
static group_t *replay_group(broker_coord_t *c, const char *id)
{
    group_t *g = broker_coord_group_get(c, id);
    if (!g)
        g = broker_coord_group_create(c, id);
    if (!g->cg) {
        broker_coord_group_clear_classic(g, KAFKA_COORDINATOR_NOT_AVAILABLE); /* stored before */
        broker_coord_cgroup_new(g);
    }
    return g;
}

static cmember_t *replay_member(group_t *g, const char *id)
{
    cmember_t *m = broker_coord_cmember_find(g, id);
    return m ? m : broker_coord_cmember_add(g, id);
}

/* The ClassicMemberMetadata of one tagged field (its bytes in t); a member whose metadata does
 * not decode is taken as a consumer-protocol member. */
static void read_classic_struct(wire_reader_t *t, cmember_t *m)
{
    int32_t sto = wire_read_i32(t);
    int32_t n = wire_read_array(t, 2, MAX_RECORD_TOPICS);
    group_proto_t *p = weir_calloc(n > 0 ? (size_t)n : 1, sizeof(*p));
    int32_t k = 0;
    for (; k < n && wire_reader_ok(t); k++) {
        wire_str_t name = wire_read_str(t);
        wire_bytes_t meta = wire_read_bytes(t);
        wire_read_tags(t);
        if (!wire_reader_ok(t) || !str_ok(name))
            break;
        p[k] =
            (group_proto_t){dup_view(name), (uint8_t *)meta.p, meta.len > 0 ? (size_t)meta.len : 0};
    }
    if (wire_reader_ok(t) && n > 0 && k == n) {
        m->classic = true;
        m->session_timeout_ms = sto;
        broker_coord_cmember_set_protos(m, p, (size_t)n);
    }
    for (int32_t i = 0; i < k; i++)
        free(p[i].name);
    free(p);
}

/* The tagged fields of a member record: tag 0 is ClassicMemberMetadata; others are skipped. */
static void read_classic_tag(wire_reader_t *r, cmember_t *m)
{
    m->classic = false;
    broker_coord_cmember_free_protos(m);
    uint32_t n = wire_read_uvarint(r);
    for (uint32_t i = 0; i < n && wire_reader_ok(r); i++) {
        uint32_t tag = wire_read_uvarint(r), size = wire_read_uvarint(r);
        if (!wire_reader_ok(r) || size > wire_reader_left(r))
            return;
        wire_reader_t t;
        wire_reader_init(&t, r->p, size, true);
        r->p += size;
        if (tag == 0)
            read_classic_struct(&t, m);
    }
}

static int replay_member_meta(group_t *g, const char *mid, wire_reader_t *r)
{
    wire_str_t inst = wire_read_nstr(r), rack = wire_read_nstr(r);
    wire_str_t client = wire_read_str(r), host = wire_read_str(r);
    int32_t n = wire_read_array(r, 1, MAX_RECORD_TOPICS);
    if (!wire_reader_ok(r) || n < 0 || !str_ok(inst) || !str_ok(rack) || !str_ok(client) ||
        !str_ok(host))
        return -WEIR_ECORRUPT;
    char **subs = weir_calloc(n ? (size_t)n : 1, sizeof(*subs));
    int32_t k = 0;
    for (; k < n && wire_reader_ok(r); k++) {
        wire_str_t t = wire_read_str(r);
        subs[k] = str_ok(t) ? dup_view(t) : NULL;
        if (!subs[k])
            wire_reader_fail(r);
    }
    wire_str_t regex = wire_read_nstr(r);
    int32_t rebalance = wire_read_i32(r);
    wire_str_t assignor = wire_read_nstr(r);
    if (!wire_reader_ok(r) || !str_ok(regex) || !str_ok(assignor)) {
        for (int32_t i = 0; i < k; i++)
            free(subs[i]);
        free(subs);
        return -WEIR_ECORRUPT;
    }
    cmember_t *m = replay_member(g, mid);
    broker_coord_cmember_load_meta(m, dup_view(inst), dup_view(rack), dup_view(client),
                                   dup_view(host), subs, (size_t)n, dup_view(regex), rebalance,
                                   dup_view(assignor));
    read_classic_tag(r, m);
    return 0;
}

static int replay_current(group_t *g, const char *mid, wire_reader_t *r)
{
    int32_t epoch = wire_read_i32(r), prev = wire_read_i32(r);
    int8_t state = wire_read_i8(r);
    tpset_t assigned = {0}, revoking = {0};
    int rc = read_parts(g->c, r, &assigned, epoch);
    if (rc == 0)
        rc = read_parts(g->c, r, &revoking, epoch);
    if (rc == 0)
        broker_coord_cmember_load_current(replay_member(g, mid), epoch, prev, state, &assigned,
                                          &revoking);
    tpset_free(&assigned);
    tpset_free(&revoking);
    return rc;
}

/* Skips to the metadata hash of a group record's tagged fields (tag 0), if there. */
static uint64_t read_hash_tag(wire_reader_t *r)
{
    uint64_t hash = 0;
    uint32_t n = wire_read_uvarint(r);
    for (uint32_t i = 0; i < n && wire_reader_ok(r) && i < 64; i++) {
        uint32_t tag = wire_read_uvarint(r), size = wire_read_uvarint(r);
        if (!wire_reader_ok(r) || size > wire_reader_left(r)) {
            wire_reader_fail(r);
            break;
        }
        if (tag == 0 && size == 8)
            hash = (uint64_t)wire_read_i64(r);
        else
            r->p += size;
    }
    return hash;
}

static int replay_group_value(broker_coord_t *c, int16_t kv, const char *gid, const char *mid,
                              wire_reader_t *r)
{
    group_t *g = replay_group(c, gid);
    switch (kv) {
    case KEY_CG_METADATA:
        g->cg->epoch = wire_read_i32(r);
        g->cg->topics_hash = read_hash_tag(r);
        return wire_reader_ok(r) ? 0 : -WEIR_ECORRUPT;
    case KEY_CG_TARGET_META:
        g->cg->assignment_epoch = wire_read_i32(r);
        return wire_reader_ok(r) ? 0 : -WEIR_ECORRUPT;
    case KEY_CG_MEMBER:
        return replay_member_meta(g, mid, r);
    case KEY_CG_TARGET_MEMBER: {
        tpset_t t = {0};
        int rc = read_parts(c, r, &t, 0);
        if (rc == 0)
            tpset_copy(&replay_member(g, mid)->target, &t);
        tpset_free(&t);
        return rc;
    }
    case KEY_CG_CURRENT:
        return replay_current(g, mid, r);
    }
    return 0;
}

/* A tombstone: the member or the group's record is gone. */
static void replay_tombstone(broker_coord_t *c, int16_t kv, const char *gid, const char *mid)
{
    group_t *g = broker_coord_group_get(c, gid);
    if (!g || !g->cg)
        return;
    cmember_t *m = mid ? broker_coord_cmember_find(g, mid) : NULL;
    if (kv == KEY_CG_MEMBER && m)
        broker_coord_cmember_unload(m);
    else if (kv == KEY_CG_TARGET_MEMBER && m)
        tpset_clear(&m->target);
    else if (kv == KEY_CG_CURRENT && m)
        tpset_clear(&m->assigned), tpset_clear(&m->revoking);
    else if (kv == KEY_CG_METADATA && g->cg->count == 0)
        broker_coord_cgroup_drop(g);
}

int broker_coord_cgroup_replay(broker_coord_t *c, int16_t kv, const uint8_t *key, size_t key_len,
                               const uint8_t *value, int32_t value_len)
{
    if (kv == 4)
        return 0; /* partition metadata: not needed (see above) */
    wire_reader_t kr;
    wire_reader_init(&kr, key, key_len, false);
    (void)wire_read_i16(&kr);
    wire_str_t group = wire_read_str(&kr);
    bool per_member = kv == KEY_CG_MEMBER || kv == KEY_CG_TARGET_MEMBER || kv == KEY_CG_CURRENT;
    wire_str_t member = per_member ? wire_read_str(&kr) : (wire_str_t){NULL, -1};
    if (!wire_reader_ok(&kr) || group.len <= 0 || !str_ok(group) || !str_ok(member) ||
        (per_member && member.len <= 0))
        return -WEIR_ECORRUPT;
    char *gid = dup_view(group), *mid = dup_view(member);
    int rc = 0;
    if (value_len < 0) {
        replay_tombstone(c, kv, gid, mid);
    } else {
        wire_reader_t vr;
        wire_reader_init(&vr, value, (size_t)value_len, false);
        int16_t v = wire_read_i16(&vr);
        vr.flexible = true;
        if (!wire_reader_ok(&vr))
            rc = -WEIR_ECORRUPT;
        else if (v == 0)
            rc = replay_group_value(c, kv, gid, mid, &vr);
        /* other value versions belong to a later Weir: skipped */
    }
    free(gid);
    free(mid);
    return rc;
}
