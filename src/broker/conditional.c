/*
 * Conditional append, the event store's write path (docs/event-store.md): on a topic with
 * weir.key.index=true each partition keeps key -> offset of the key's latest record
 * (keyindex.c), and a record with the header weir.expected.offset is appended only if its key's
 * latest offset is still the one it names (-1: the key must not exist yet).
 *
 * The index lives in memory and is rebuilt from the log whenever the partition opens (after
 * recovery has cut a torn tail, so it matches exactly what the log holds, kill -9 included) or
 * the config is turned on; nothing of it is written to disk, so it can never disagree with the
 * log. What the log no longer holds does not count: an offset below the log start (retention,
 * DeleteRecords) reads as "absent", and a tombstone (null value) makes its key absent, which is
 * also what compaction leaves once it drops the tombstone. Compaction never removes a key's
 * latest record, so the offsets the index holds stay readable.
 *
 * Atomicity: the check and the index update run in the produce path under the partition's
 * append_mu, the lock that also orders appends, after the idempotence check (a retried batch is
 * answered from the producer state and never checked again) and before the append; records
 * earlier in the same batch count for later ones. A batch whose append fails is taken back out
 * of the index (broker_keys_stage_undo).
 */
#include "broker/broker_internal.h"
#include "broker/keyindex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* One keyed record of a batch being staged. */
struct broker_key_op {
    const uint8_t *key; /* into the batch or the iterator's decompressed records */
    size_t len;
    uint32_t tag;     /* broker_keyindex_tag */
    int32_t index;    /* the record's index in the batch */
    int64_t at;       /* the record's offset */
    int64_t offset;   /* what the key is set to: the record's offset, -1 for a tombstone */
    int64_t expected; /* its weir.expected.offset, NO_HEADER without one */
    int64_t old;      /* what the set replaced (for the check, and to undo) */
};

#define NO_HEADER INT64_MIN

/* ---- the header ------------------------------------------------------------------------------ */

/* Finds weir.expected.offset among rec's headers: 1 and its value, 0 if absent, -1 if the
 * header bytes do not parse (validation already proved they do). */
static int header_find(const storage_record_t *rec, const uint8_t **val, int32_t *val_len)
{
    const uint8_t *p = rec->headers, *end = rec->headers + rec->headers_len;
    static const size_t name_len = sizeof(BROKER_EXPECTED_HEADER) - 1;
    for (int32_t i = 0; i < rec->header_count; i++) {
        int32_t klen, vlen;
        size_t n = varint_decode_i32(p, end, &klen);
        if (n == 0 || klen < 0 || (size_t)klen > (size_t)(end - p - (ptrdiff_t)n))
            return -1;
        const uint8_t *k = p + n;
        p = k + klen;
        n = varint_decode_i32(p, end, &vlen);
        if (n == 0 || vlen > end - p - (ptrdiff_t)n)
            return -1;
        p += n;
        if ((size_t)klen == name_len && memcmp(k, BROKER_EXPECTED_HEADER, name_len) == 0) {
            *val = vlen < 0 ? NULL : p;
            *val_len = vlen;
            return 1;
        }
        if (vlen > 0)
            p += vlen;
    }
    return 0;
}

/* "-1" or a decimal offset of at most 18 digits (no sign, no spaces): 0 and *out, else -1. */
static int parse_offset(const uint8_t *s, int32_t n, int64_t *out)
{
    if (n == 2 && s[0] == '-' && s[1] == '1') {
        *out = -1;
        return 0;
    }
    if (n < 1 || n > 18)
        return -1;
    int64_t v = 0;
    for (int32_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* A key or header value as text for a message: printable ASCII as it is, other bytes as \xNN,
 * at most 64 bytes of it. */
static void text_of(char *out, size_t size, const uint8_t *p, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 64 && o + 5 < size; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i]);
    }
    if (len > 64 && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

int broker_record_expected(const broker_topic_t *t, const storage_record_t *rec, int64_t *expected,
                           char *why, size_t why_size)
{
    const uint8_t *v = NULL;
    int32_t vlen = 0;
    if (rec->header_count == 0)
        return 0;
    int rc = header_find(rec, &v, &vlen);
    if (rc <= 0)
        return 0; /* malformed headers are validation's to refuse */
    if (!t->key_index) {
        snprintf(why, why_size,
                 "header " BROKER_EXPECTED_HEADER " needs a topic with weir.key.index=true; "
                 "topic %s has none",
                 t->name);
        return -WEIR_EINVAL;
    }
    if (rec->key_len < 0) {
        snprintf(why, why_size, "header " BROKER_EXPECTED_HEADER " on a record without a key");
        return -WEIR_EINVAL;
    }
    if (!v || parse_offset(v, vlen, expected) < 0) {
        char text[280];
        text_of(text, sizeof(text), v ? v : (const uint8_t *)"", v ? (size_t)vlen : 0);
        snprintf(why, why_size,
                 "header " BROKER_EXPECTED_HEADER " must be an offset (0 or more) or -1, not "
                 "'%s'%s",
                 text, v ? "" : " (null)");
        return -WEIR_EINVAL;
    }
    return 1;
}

/* ---- the key chain ------------------------------------------------------------------------- */

/* Room for the chain up to offset end (exclusive); new entries read 0 (no earlier record). */
static void chain_reserve(broker_partition_t *p, int64_t end)
{
    size_t need = (size_t)(end - p->chain_base);
    if (need <= p->chain_len)
        return;
    if (need > p->chain_cap) {
        size_t cap = WEIR_MAX(need, p->chain_cap + p->chain_cap / 2);
        cap = WEIR_MAX(cap, (size_t)4096);
        p->chain = weir_realloc(p->chain, cap * sizeof(*p->chain));
        p->chain_cap = cap;
    }
    memset(p->chain + p->chain_len, 0, (need - p->chain_len) * sizeof(*p->chain));
    p->chain_len = need;
}

/* Links the record at `at` to the key's record before it (prev, -1: none); a distance past
 * 2^32 - 1 offsets cuts the chain there. */
static void chain_link(broker_partition_t *p, int64_t at, int64_t prev)
{
    if (at < p->chain_base)
        return;
    chain_reserve(p, at + 1);
    int64_t d = prev >= p->chain_base && prev < at ? at - prev : 0;
    p->chain[at - p->chain_base] = d <= (int64_t)UINT32_MAX ? (uint32_t)d : 0;
}

static void chain_free(broker_partition_t *p)
{
    free(p->chain);
    p->chain = NULL;
    p->chain_len = p->chain_cap = 0;
    p->chain_base = 0;
}

/* ---- the index of a partition ---------------------------------------------------------------- */

typedef struct {
    broker_partition_t *p; /* its chain is rebuilt too */
    broker_keyindex_t *ki;
    int64_t start; /* the log start: records below it are gone */
    storage_record_iter_t it;
    bool it_live; /* it was initialised (on the first batch) */
    size_t max_decompressed;
    int err;
} build_t;

static int build_batch(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                       size_t total)
{
    build_t *bd = arg;
    if (h->attributes & BATCH_CONTROL)
        return 0;
    int rc = bd->it_live ? storage_record_iter_reset(&bd->it, batch, total, bd->max_decompressed)
                         : storage_record_iter_init(&bd->it, batch, total, bd->max_decompressed);
    bd->it_live = true;
    storage_record_t rec;
    while (rc == 0 && storage_record_iter_next(&bd->it, &rec) == 1) {
        int64_t off = h->base_offset + rec.offset_delta;
        int64_t prev = -1;
        if (rec.key_len >= 0 && off >= bd->start)
            rc = broker_keyindex_set(bd->ki, rec.key, (size_t)rec.key_len,
                                     rec.value_len < 0 ? -1 : off, &prev);
        if (rc == 0 && rec.key_len >= 0 && off >= bd->start)
            chain_link(bd->p, off, prev);
    }
    bd->err = rc;
    return rc < 0 ? 1 : 0;
}

static void keys_build(broker_t *b, broker_partition_t *p)
{
    int64_t t0 = clock_mono_ns();
    chain_free(p);
    p->chain_base = storage_log_start_offset(p->log);
    build_t bd = {.p = p,
                  .ki = broker_keyindex_new(),
                  .start = storage_log_start_offset(p->log),
                  .max_decompressed =
                      (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES)};
    int rc = storage_log_scan(p->log, bd.start, build_batch, &bd);
    if (bd.it_live)
        storage_record_iter_deinit(&bd.it);
    if (rc == 0)
        rc = bd.err;
    if (rc < 0) {
        log_error("broker",
                  "%s-%d: key index not built (%s): conditional appends to it are refused",
                  p->topic->name, p->index, weir_strerror(rc));
        broker_keyindex_free(bd.ki);
        chain_free(p);
        p->keys_full = true;
        return;
    }
    p->keys = bd.ki;
    log_info("broker", "%s-%d: key index built: %zu keys, %zu bytes, %.1f ms", p->topic->name,
             p->index, broker_keyindex_count(bd.ki), broker_keyindex_bytes(bd.ki),
             (double)(clock_mono_ns() - t0) / 1e6);
}

void broker_partition_keys_close(broker_partition_t *p)
{
    chain_free(p);
    broker_keyindex_free(p->keys);
    p->keys = NULL;
    p->keys_full = false;
}

void broker_partition_keys_sync(broker_t *b, broker_partition_t *p)
{
    if (!p->log || !p->topic->key_index) {
        broker_partition_keys_close(p);
        return;
    }
    if (!p->keys && !p->keys_full)
        keys_build(b, p);
}

/* ---- the produce path ------------------------------------------------------------------------ */

static struct broker_key_op *op_push(broker_keys_stage_t *st)
{
    if (st->nops == st->capops) {
        st->capops = st->capops ? st->capops * 2 : 64;
        st->ops = weir_realloc(st->ops, st->capops * sizeof(*st->ops));
    }
    return &st->ops[st->nops++];
}

void broker_keys_stage_undo(broker_partition_t *p, broker_keys_stage_t *st)
{
    if (!p->keys)
        return;
    for (size_t i = st->napplied; i-- > 0;) {
        const struct broker_key_op *op = &st->ops[i];
        broker_keyindex_set_tagged(p->keys, op->key, op->len, op->tag, op->old, NULL);
    }
    st->napplied = 0;
}

void broker_keys_stage_commit(broker_partition_t *p, broker_keys_stage_t *st, int64_t base,
                              int64_t count)
{
    if (!p->keys)
        return;
    chain_reserve(p, base + count);
    for (size_t i = 0; i < st->napplied; i++)
        chain_link(p, st->ops[i].at, st->ops[i].old);
}

void broker_keys_stage_deinit(broker_keys_stage_t *st)
{
    if (st->it_live)
        storage_record_iter_deinit(&st->it);
    free(st->ops);
    memset(st, 0, sizeof(*st));
}

/* The index is gone (a bound was hit): records with the header are refused, others pass. */
static int stage_without_index(broker_partition_t *p, broker_keys_stage_t *st, int32_t *bad,
                               char *why, size_t why_size)
{
    storage_record_t rec;
    int64_t expected;
    char scratch[8];
    for (int32_t i = 0; storage_record_iter_next(&st->it, &rec) == 1; i++) {
        if (broker_record_expected(p->topic, &rec, &expected, scratch, sizeof(scratch)) != 0) {
            *bad = i;
            snprintf(why, why_size,
                     "the key index of %s-%d is over its bounds (%u keys, %zu bytes of keys): "
                     "conditional appends are refused",
                     p->topic->name, p->index, BROKER_KEYINDEX_KEYS_MAX, BROKER_KEYINDEX_ARENA_MAX);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

/* A record whose expected offset is not the key's: undo the batch and say why. */
static int stage_conflict(broker_partition_t *p, broker_keys_stage_t *st,
                          const struct broker_key_op *op, int64_t actual, int32_t *bad, char *why,
                          size_t why_size)
{
    char key[280];
    text_of(key, sizeof(key), op->key, op->len);
    *bad = op->index;
    snprintf(why, why_size, "key '%s': expected offset %" PRId64 ", actual offset %" PRId64, key,
             op->expected, actual);
    broker_keys_stage_undo(p, st);
    return -WEIR_EINVAL;
}

/* Pass 1: the batch's keyed records, what each sets and expects; their slots prefetched. */
static void stage_collect(broker_partition_t *p, broker_keys_stage_t *st, int64_t base)
{
    storage_record_t rec;
    char scratch[8];
    for (int32_t i = 0; storage_record_iter_next(&st->it, &rec) == 1; i++) {
        if (rec.key_len < 0)
            continue;
        struct broker_key_op *op = op_push(st);
        op->key = rec.key;
        op->len = (size_t)rec.key_len;
        op->tag = broker_keyindex_tag(rec.key, (size_t)rec.key_len);
        op->index = i;
        op->at = base + rec.offset_delta;
        op->offset = rec.value_len < 0 ? -1 : op->at;
        if (broker_record_expected(p->topic, &rec, &op->expected, scratch, sizeof(scratch)) != 1)
            op->expected = NO_HEADER;
    }
    broker_keyindex_reserve(p->keys, st->nops); /* no growing while the slots are prefetched */
    for (size_t i = 0; i < st->nops; i++)
        broker_keyindex_prefetch(p->keys, st->ops[i].tag);
}

/* A bound was hit: the index is dropped, and the batch judged without it. */
static int stage_overflow(broker_partition_t *p, broker_keys_stage_t *st, const uint8_t *batch,
                          size_t total, size_t max_dec, int32_t *bad, char *why, size_t why_size)
{
    broker_keys_stage_undo(p, st);
    log_warn("broker",
             "%s-%d: the key index is over its bounds: conditional appends are refused until the "
             "partition reopens with fewer keys",
             p->topic->name, p->index);
    broker_keyindex_free(p->keys);
    p->keys = NULL;
    p->keys_full = true;
    chain_free(p);
    storage_record_iter_reset(&st->it, batch, total, max_dec);
    return stage_without_index(p, st, bad, why, why_size);
}

int broker_keys_stage(broker_t *b, broker_partition_t *p, const uint8_t *batch, size_t total,
                      int64_t base, broker_keys_stage_t *st, int32_t *bad, char *why,
                      size_t why_size)
{
    memset(st, 0, sizeof(*st));
    st->it_live = true;
    size_t max_dec = (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES);
    if (storage_record_iter_init(&st->it, batch, total, max_dec) < 0)
        return 0; /* validation read this batch already */
    if (!p->keys)
        return stage_without_index(p, st, bad, why, why_size);
    stage_collect(p, st, base);
    int64_t start = storage_log_start_offset(p->log);
    /* Pass 2: set first and compare what was there (one probe per record); a conflict, the
     * rare case, puts back what the batch set so far. */
    for (size_t i = 0; i < st->nops; i++) {
        struct broker_key_op *op = &st->ops[i];
        if (broker_keyindex_set_tagged(p->keys, op->key, op->len, op->tag, op->offset, &op->old) <
            0)
            return stage_overflow(p, st, batch, total, max_dec, bad, why, why_size);
        st->napplied = i + 1;
        int64_t actual = op->old >= 0 && op->old < start ? -1 : op->old; /* below: gone */
        if (op->expected != NO_HEADER && op->expected != actual)
            return stage_conflict(p, st, op, actual, bad, why, why_size);
    }
    return 0;
}

/* ---- the latest offset of a key ------------------------------------------------------------ */

/* Walks the key's chain from its latest offset (append_mu held): newest first into out. */
static size_t chain_walk(broker_partition_t *p, const uint8_t *key, size_t len, size_t max,
                         int64_t *out)
{
    int64_t start = storage_log_start_offset(p->log);
    int64_t o = broker_keyindex_get(p->keys, key, len);
    size_t n = 0;
    while (n < max && o >= start && o >= p->chain_base &&
           o - p->chain_base < (int64_t)p->chain_len) {
        out[n++] = o;
        uint32_t d = p->chain[o - p->chain_base];
        if (d == 0)
            break;
        o -= d;
    }
    return n;
}

int broker_key_offsets(broker_t *b, const char *topic, int32_t partition, const uint8_t *key,
                       size_t key_len, size_t max, int64_t *out, size_t *n, broker_err_t *err)
{
    int rc = 0;
    *n = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, strlen(topic), partition);
    if (!p) {
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "no partition %d of topic '%s'", partition, topic);
    } else if (!p->topic->key_index) {
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                         "topic '%s' has no key index (weir.key.index=true)", topic);
    } else {
        pthread_mutex_lock(&p->append_mu);
        if (!p->log || !p->keys)
            rc = broker_fail(err, -WEIR_EOFFLINE, KAFKA_KAFKA_STORAGE_ERROR,
                             "the key index of %s-%d is not available (offline, or over its "
                             "bounds)",
                             topic, partition);
        else
            *n = chain_walk(p, key, key_len, max, out);
        pthread_mutex_unlock(&p->append_mu);
    }
    broker_topics_unlock(b);
    for (size_t i = 0; i < *n / 2; i++) { /* oldest first */
        int64_t t = out[i];
        out[i] = out[*n - 1 - i];
        out[*n - 1 - i] = t;
    }
    return rc;
}
