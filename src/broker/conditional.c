/*
 * Conditional append, the event store's write path (docs/event-store.md): on a topic with
 * weir.key.index=true each partition keeps key -> offset of the key's latest record
 * (keyindex.c), and a record with the header weir.expected.offset is appended only if its key's
 * latest offset is still the one it names (-1: the key must not exist yet).
 *
 * The index lives in memory. When the partition opens (after recovery has cut a torn tail) it
 * is loaded from its snapshot (weir.key-index, written at a clean close and at checkpoints)
 * plus the records the snapshot does not cover, or, when the snapshot is missing, covers more
 * than the log holds, is damaged or belongs to a compacted topic, rebuilt from the whole log;
 * either way it holds exactly what the log holds, kill -9 included (tests/sim/sim_keys.c).
 * A snapshot is read once and removed, so a later crash cannot make a snapshot stale that a
 * restart would trust. What the log no longer holds does not count: an offset below the log start
 * (retention, DeleteRecords) reads as "absent", and a tombstone (null value) makes its key absent,
 * which is also what compaction leaves once it drops the tombstone. Compaction never removes a
 * key's latest record, so the offsets the index holds stay readable.
 *
 * The produce path: validation, which parses every record outside any lock, collects each
 * keyed record (broker_keys_found_*), so the append path does not parse the batch again.
 *
 * Atomicity: the check and the index update run in the produce path under the partition's
 * append_mu, the lock that also orders appends, after the idempotence check (a retried batch is
 * answered from the producer state and never checked again) and before the append; records
 * earlier in the same batch count for later ones. A batch whose append fails is taken back out
 * of the index (broker_keys_stage_undo).
 */
#include "broker/broker_internal.h"
#include "broker/keyindex.h"
#include "broker/producer_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* One keyed record of a batch being staged. */
struct broker_key_op {
    const uint8_t *key; /* into the batch or the iterator's decompressed records */
    size_t len;
    uint32_t tag;     /* broker_keyindex_tag */
    int32_t index;    /* the record's index in the batch */
    bool tombstone;   /* a null value: the key is set to -1 (absent) */
    int64_t at;       /* the record's offset (its offset delta until the batch is staged) */
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

/* ---- the index of a partition, from the log ---------------------------------------------- */

typedef struct {
    broker_partition_t *p; /* its chain is rebuilt too */
    broker_keyindex_t *ki;
    int64_t from; /* records below it are gone (the log start) or in the snapshot already */
    storage_record_iter_t it;
    bool it_live; /* it was initialised (on the first batch) */
    size_t max_decompressed;
    int64_t records; /* keyed records indexed */
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
        if (rec.key_len < 0 || off < bd->from)
            continue;
        int64_t prev = -1;
        rc = broker_keyindex_set(bd->ki, rec.key, (size_t)rec.key_len, rec.value_len < 0 ? -1 : off,
                                 &prev);
        if (rc == 0)
            chain_link(bd->p, off, prev);
        bd->records++;
    }
    bd->err = rc;
    return rc < 0 ? 1 : 0;
}

/* Indexes the log's records from bd->from on into bd->ki (and p's chain). */
static int build_scan(build_t *bd)
{
    int rc = storage_log_scan(bd->p->log, bd->from, build_batch, bd);
    if (bd->it_live)
        storage_record_iter_deinit(&bd->it);
    bd->it_live = false;
    return rc < 0 ? rc : bd->err;
}

/* ---- the snapshot ------------------------------------------------------------------------------
 * BROKER_KEYS_FILE: u32 CRC-32C of the rest, "WKI1", then big-endian i64 covers (the log end
 * it was taken at: it holds every record below), i64 chain_base, u64 keys, u64 chain_len;
 * each key as u32 length, its bytes, i64 offset (-1: a tombstone); then chain_len u32s. */

static const char KEYS_MAGIC[4] = {'W', 'K', 'I', '1'};
#define KEYS_TMP_PREFIX BROKER_KEYS_FILE ".tmp-"
#define KEYS_HEADER     (4 + 4 + 8 + 8 + 8 + 8)
#define KEYS_FILE_MAX   ((size_t)4 << 30)

/* What the log no longer holds is left out, as a rebuild leaves it out: keys whose latest
 * record lies below the log start (retention, DeleteRecords) or is a tombstone (both read as
 * absent), and the chain below the log start; so an index kept across restarts by its
 * snapshot does not grow with keys the log has forgotten. */
static void snapshot_encode(const broker_partition_t *p, int64_t covers, buf_t *b)
{
    int64_t start = storage_log_start_offset(p->log);
    size_t skip = start > p->chain_base
                      ? (size_t)WEIR_MIN((uint64_t)(start - p->chain_base), (uint64_t)p->chain_len)
                      : 0;
    uint8_t *h = buf_extend(b, KEYS_HEADER);
    memcpy(h + 4, KEYS_MAGIC, 4);
    be64_write(h + 8, (uint64_t)covers);
    be64_write(h + 16, (uint64_t)(p->chain_base + (int64_t)skip));
    be64_write(h + 32, p->chain_len - skip);
    size_t cursor = 0, len;
    uint64_t nkeys = 0;
    const uint8_t *key;
    int64_t offset;
    while (broker_keyindex_next(p->keys, &cursor, &key, &len, &offset)) {
        if (offset < start)
            continue;
        uint8_t *e = buf_extend(b, 4 + len + 8);
        be32_write(e, (uint32_t)len);
        memcpy(e + 4, key, len);
        be64_write(e + 4 + len, (uint64_t)offset);
        nkeys++;
    }
    be64_write(b->data + 24, nkeys);
    uint8_t *c = buf_extend(b, (p->chain_len - skip) * 4);
    for (size_t i = skip; i < p->chain_len; i++)
        be32_write(c + 4 * (i - skip), p->chain[i]);
    be32_write(b->data, crc32c(0, b->data + 4, b->len - 4));
}

#define LOAD_AHEAD 16

/* The length of the key entry at q if the entry fits before end, else UINT32_MAX. */
static uint32_t snapshot_entry_len(const uint8_t *q, const uint8_t *end)
{
    if (end - q < 4)
        return UINT32_MAX;
    uint32_t len = be32_read(q);
    return (size_t)(end - q - 4) >= (size_t)len + 8 ? len : UINT32_MAX;
}

/* The snapshot's keys into bd->ki and its chain into p: 0, or -1 with why set. */
static int snapshot_decode(build_t *bd, const buf_t *b, int64_t *covers, char *why, size_t why_size)
{
    const uint8_t *d = b->data, *end = b->data + b->len;
    if (b->len < KEYS_HEADER || memcmp(d + 4, KEYS_MAGIC, 4) != 0) {
        snprintf(why, why_size, "its snapshot is not one (magic)");
        return -1;
    }
    *covers = (int64_t)be64_read(d + 8);
    int64_t chain_base = (int64_t)be64_read(d + 16);
    uint64_t nkeys = be64_read(d + 24), chain_len = be64_read(d + 32);
    int64_t log_end = storage_log_end_offset(bd->p->log);
    if (*covers > log_end) {
        snprintf(why, why_size,
                 "its snapshot is stale: it covers offsets below %" PRId64 ", the log ends at "
                 "%" PRId64 " (a torn tail was cut)",
                 *covers, log_end);
        return -1;
    }
    if (chain_base < 0 || chain_base > *covers || chain_len > (uint64_t)(*covers - chain_base) ||
        nkeys > BROKER_KEYINDEX_KEYS_MAX || chain_len * 4 > (uint64_t)(end - d - KEYS_HEADER)) {
        snprintf(why, why_size, "its snapshot is corrupt (header)");
        return -1;
    }
    const uint8_t *q = d + KEYS_HEADER, *chain_at = end - chain_len * 4;
    broker_keyindex_reserve(bd->ki, (size_t)nkeys);
    /* Keys are hashed and their slots prefetched LOAD_AHEAD entries before their set (the
     * table is larger than the caches: one miss per key otherwise, 2/3 of the load's time). */
    uint32_t tags[LOAD_AHEAD];
    const uint8_t *ahead = q;
    uint64_t nahead = 0;
    for (uint64_t i = 0; i < nkeys; i++) {
        for (; nahead < nkeys && nahead < i + LOAD_AHEAD; nahead++) {
            uint32_t len = snapshot_entry_len(ahead, chain_at);
            if (len == UINT32_MAX) {
                snprintf(why, why_size, "its snapshot is corrupt (key %" PRIu64 ")", nahead);
                return -1;
            }
            tags[nahead % LOAD_AHEAD] = broker_keyindex_tag(ahead + 4, len);
            broker_keyindex_prefetch(bd->ki, tags[nahead % LOAD_AHEAD]);
            ahead += 4 + len + 8;
        }
        uint32_t len = be32_read(q);
        int64_t offset = (int64_t)be64_read(q + 4 + len);
        if (offset < -1 || offset >= *covers ||
            broker_keyindex_set_tagged(bd->ki, q + 4, len, tags[i % LOAD_AHEAD], offset, NULL) <
                0) {
            snprintf(why, why_size, "its snapshot is corrupt (key %" PRIu64 ")", i);
            return -1;
        }
        q += 4 + len + 8;
    }
    if (q != chain_at || broker_keyindex_count(bd->ki) != nkeys) {
        snprintf(why, why_size, "its snapshot is corrupt (length)");
        return -1;
    }
    broker_partition_t *p = bd->p;
    p->chain_base = chain_base;
    chain_reserve(p, chain_base + (int64_t)chain_len);
    for (size_t i = 0; i < chain_len; i++)
        p->chain[i] = be32_read(chain_at + 4 * i);
    return 0;
}

typedef struct {
    storage_io_t *io;
    const char *dir;
    int removed;
} leftovers_t;

static int leftover_remove(const char *name, void *arg)
{
    leftovers_t *l = arg;
    if (strncmp(name, KEYS_TMP_PREFIX, sizeof(KEYS_TMP_PREFIX) - 1) == 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", l->dir, name);
        l->removed += l->io->ops->unlink(l->io, path) == 0;
    }
    return 0;
}

/* Removes the snapshot (once read: it is never read twice) and the temporary files of writes
 * a crash interrupted; the directory synced, so a later crash cannot bring them back. */
static void snapshot_files_remove(storage_io_t *io, const char *dir, bool snapshot)
{
    leftovers_t l = {.io = io, .dir = dir};
    io->ops->list(io, dir, leftover_remove, &l);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, BROKER_KEYS_FILE);
    if ((snapshot && io->ops->unlink(io, path) == 0) || l.removed > 0)
        io->ops->fsync_dir(io, dir);
}

/* Loads the snapshot if it matches the log: 0 with bd->from = the offset it covers, or -1 with
 * why. The file is removed either way (directory synced): it is never read twice. */
static int snapshot_load(storage_io_t *io, build_t *bd, char *why, size_t why_size)
{
    broker_partition_t *p = bd->p;
    buf_t b = {0};
    int rc = broker_io_read_checked(io, p->dir, BROKER_KEYS_FILE, KEYS_FILE_MAX, &b);
    int64_t covers = -1;
    int ok = -1;
    if (rc == -WEIR_ENOENT)
        snprintf(why, why_size, "no snapshot");
    else if (rc == -WEIR_ECORRUPT)
        snprintf(why, why_size, "its snapshot is corrupt (CRC or size)");
    else if (rc < 0)
        snprintf(why, why_size, "its snapshot is unreadable (%s)", weir_strerror(rc));
    else if (p->topic->log_cfg.cleanup_compact)
        snprintf(why, why_size, "a compacted topic (its snapshot is not used)");
    else if ((ok = snapshot_decode(bd, &b, &covers, why, why_size)) == 0)
        bd->from = WEIR_MAX(covers, storage_log_start_offset(p->log));
    buf_deinit(&b);
    snapshot_files_remove(io, p->dir, rc != -WEIR_ENOENT);
    return ok;
}

int broker_keys_open(storage_io_t *io, broker_partition_t *p, size_t max_decompressed, char *why,
                     size_t why_size)
{
    WEIR_ASSERT(!p->keys && why_size > 0);
    int64_t t0 = clock_mono_ns();
    why[0] = 0;
    build_t bd = {.p = p, .ki = broker_keyindex_new(), .max_decompressed = max_decompressed};
    chain_free(p);
    int loaded = snapshot_load(io, &bd, why, why_size) == 0;
    if (!loaded) { /* from the whole log, in a fresh index */
        broker_keyindex_free(bd.ki);
        chain_free(p);
        bd.ki = broker_keyindex_new();
        bd.from = p->chain_base = storage_log_start_offset(p->log);
    }
    int64_t from = bd.from;
    int rc = build_scan(&bd);
    if (rc < 0) {
        log_error("broker",
                  "%s-%d: key index not built (%s): conditional appends to it are refused",
                  p->topic->name, p->index, weir_strerror(rc));
        broker_keyindex_free(bd.ki);
        chain_free(p);
        p->keys_full = true;
        return rc;
    }
    p->keys = bd.ki;
    p->keys_saved_end = -1;
    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    if (loaded)
        log_info("broker",
                 "%s-%d: key index loaded from its snapshot (offsets below %" PRId64
                 ") and %" PRId64 " records after it: %zu keys, %zu bytes, %.1f ms",
                 p->topic->name, p->index, from, bd.records, broker_keyindex_count(bd.ki),
                 broker_keyindex_bytes(bd.ki), ms);
    else
        log_info("broker", "%s-%d: key index built (%s): %zu keys, %zu bytes, %.1f ms",
                 p->topic->name, p->index, why, broker_keyindex_count(bd.ki),
                 broker_keyindex_bytes(bd.ki), ms);
    return loaded;
}

/* Writes an encoded snapshot covering offsets below `covers` (no lock needed). */
static int snapshot_write(storage_io_t *io, broker_partition_t *p, const buf_t *b, int64_t covers,
                          bool sync)
{
    /* A temporary file of its own each time: without a sync, a crash may keep a rename and
     * lose the writes before it, and a reused name would then hold an older snapshot whole
     * (its CRC intact) where a fresh file holds nothing the CRC accepts. */
    static _Atomic uint64_t seq;
    char tmp[96];
    snprintf(tmp, sizeof(tmp), KEYS_TMP_PREFIX "%" PRId64 "-%" PRIu64, clock_mono_ns(),
             atomic_fetch_add(&seq, 1));
    int rc = broker_io_write_atomic(io, p->dir, BROKER_KEYS_FILE, tmp, b, sync);
    if (rc < 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", p->dir, tmp);
        io->ops->unlink(io, path);
        log_warn("broker", "%s-%d: the key index snapshot was not written (%s)", p->topic->name,
                 p->index, weir_strerror(rc));
    } else {
        log_debug("broker", "%s-%d: key index snapshot of offsets below %" PRId64 ", %zu bytes",
                  p->topic->name, p->index, covers, b->len);
    }
    return rc;
}

static bool snapshot_wanted(const broker_partition_t *p)
{
    return p->keys && p->log && !p->topic->log_cfg.cleanup_compact;
}

int broker_keys_save(storage_io_t *io, broker_partition_t *p, bool sync)
{
    if (!snapshot_wanted(p))
        return 0;
    int64_t covers = storage_log_end_offset(p->log);
    buf_t b = {0};
    snapshot_encode(p, covers, &b);
    int rc = snapshot_write(io, p, &b, covers, sync);
    buf_deinit(&b);
    if (rc == 0)
        p->keys_saved_end = covers;
    return rc;
}

void broker_partition_keys_checkpoint(broker_t *b, broker_partition_t *p)
{
    /* Encoded under append_mu (the index and the log end agree), written after it: appends
     * wait for the copy only, not for the file. keys_saved_end is the tick's and the close's,
     * which never run together (the registry lock). */
    buf_t buf = {0};
    int64_t covers = -1;
    pthread_mutex_lock(&p->append_mu);
    if (snapshot_wanted(p) &&
        storage_log_end_offset(p->log) - WEIR_MAX(p->keys_saved_end, p->chain_base) >=
            BROKER_KEYS_CHECKPOINT_OFFSETS) {
        covers = storage_log_end_offset(p->log);
        snapshot_encode(p, covers, &buf);
    }
    pthread_mutex_unlock(&p->append_mu);
    if (covers >= 0 && snapshot_write(b->io, p, &buf, covers, false) == 0)
        p->keys_saved_end = covers;
    buf_deinit(&buf);
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
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", p->dir ? p->dir : ".", BROKER_KEYS_FILE);
        if (p->log && p->dir && b->io->ops->exists(b->io, path))
            b->io->ops->unlink(b->io, path); /* the index is off: its snapshot is stale */
        return;
    }
    if (!p->keys && !p->keys_full) {
        char why[256];
        size_t max_dec = (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES);
        broker_keys_open(b->io, p, max_dec, why, sizeof(why));
    }
}

/* ---- the keyed records of a request, found by validation ------------------------------------- */

/* Which ops of the list belong to one batch, if validation collected them. */
struct broker_keys_span {
    size_t first, n;
    bool collected;
};

void broker_keys_found_batch(broker_keys_found_t *kf, bool collect)
{
    if (kf->nspans == kf->capspans) {
        kf->capspans = kf->capspans ? kf->capspans * 2 : 4;
        kf->spans = weir_realloc(kf->spans, kf->capspans * sizeof(*kf->spans));
    }
    kf->spans[kf->nspans++] = (struct broker_keys_span){.first = kf->nops, .collected = collect};
}

static struct broker_key_op *ops_push(struct broker_key_op **ops, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *ops = weir_realloc(*ops, *cap * sizeof(**ops));
    }
    return &(*ops)[(*n)++];
}

/* One keyed record as an op: what it sets (at stays relative to the batch's base until the
 * batch is staged) and what it expects. */
static void op_fill(struct broker_key_op *op, int32_t index, const storage_record_t *rec,
                    bool has_expected, int64_t expected)
{
    op->key = rec->key;
    op->len = (size_t)rec->key_len;
    op->tag = broker_keyindex_tag(rec->key, (size_t)rec->key_len);
    op->index = index;
    op->at = rec->offset_delta;
    op->tombstone = rec->value_len < 0;
    op->expected = has_expected ? expected : NO_HEADER;
}

void broker_keys_found_record(broker_keys_found_t *kf, int32_t index, const storage_record_t *rec,
                              bool has_expected, int64_t expected)
{
    WEIR_DASSERT(kf->nspans > 0);
    struct broker_keys_span *sp = &kf->spans[kf->nspans - 1];
    if (!sp->collected || rec->key_len < 0)
        return;
    op_fill(ops_push(&kf->ops, &kf->nops, &kf->capops), index, rec, has_expected, expected);
    sp->n++;
}

void broker_keys_found_skip(broker_keys_found_t *kf)
{
    if (kf && kf->next < kf->nspans)
        kf->next++;
}

void broker_keys_found_deinit(broker_keys_found_t *kf)
{
    free(kf->ops);
    free(kf->spans);
    memset(kf, 0, sizeof(*kf));
}

/* ---- the produce path ------------------------------------------------------------------------ */

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
    if (!st->borrowed)
        free(st->ops);
    memset(st, 0, sizeof(*st));
}

/* The index is gone (a bound was hit): records with the header are refused, others pass. */
static int stage_without_index(broker_partition_t *p, broker_keys_stage_t *st, int32_t *bad,
                               char *why, size_t why_size)
{
    for (size_t i = 0; i < st->nops; i++) {
        if (st->ops[i].expected != NO_HEADER) {
            *bad = st->ops[i].index;
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

/* The batch's keyed records, when validation did not collect them (a compressed batch, or one
 * the topic's compression.type rebuilt): parsed here, their keys pointing into st->it. */
static int stage_parse(broker_t *b, broker_partition_t *p, broker_keys_stage_t *st,
                       const uint8_t *batch, size_t total)
{
    size_t max_dec = (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES);
    st->it_live = true;
    if (storage_record_iter_init(&st->it, batch, total, max_dec) < 0)
        return -WEIR_ECORRUPT; /* validation read this batch already */
    storage_record_t rec;
    char scratch[8];
    size_t cap = 0;
    for (int32_t i = 0; storage_record_iter_next(&st->it, &rec) == 1; i++) {
        if (rec.key_len < 0)
            continue;
        int64_t expected = NO_HEADER;
        bool has = broker_record_expected(p->topic, &rec, &expected, scratch, sizeof(scratch)) == 1;
        op_fill(ops_push(&st->ops, &st->nops, &cap), i, &rec, has, expected);
    }
    return 0;
}

/* The ops of the batch being staged: the next span validation collected, or parsed here. */
static int stage_ops(broker_t *b, broker_partition_t *p, broker_keys_found_t *kf,
                     broker_keys_stage_t *st, const uint8_t *batch, size_t total)
{
    const struct broker_keys_span *sp = kf && kf->next < kf->nspans ? &kf->spans[kf->next++] : NULL;
    if (sp && sp->collected) {
        st->ops = sp->n ? kf->ops + sp->first : NULL; /* a batch of keyless records: none */
        st->nops = sp->n;
        st->borrowed = true;
        return 0;
    }
    return stage_parse(b, p, st, batch, total);
}

/* How many records ahead of its set a key's home slot is asked for: far enough for a miss to
 * arrive, near enough that the lines stay in the cache (a batch of 10,000 records fetched in
 * one go would evict its own first slots, and the CPU tracks only so many misses at once). The
 * key bytes a slot points to are asked for halfway, once the slot has arrived. */
#define STAGE_AHEAD 16

static void stage_prefetch(const broker_partition_t *p, const broker_keys_stage_t *st, size_t i)
{
    if (i + STAGE_AHEAD < st->nops)
        broker_keyindex_prefetch(p->keys, st->ops[i + STAGE_AHEAD].tag);
    if (i + STAGE_AHEAD / 2 < st->nops)
        broker_keyindex_prefetch_key(p->keys, st->ops[i + STAGE_AHEAD / 2].tag);
}

/* A bound was hit: the index is dropped, and the batch judged without it. */
static int stage_overflow(broker_partition_t *p, broker_keys_stage_t *st, int32_t *bad, char *why,
                          size_t why_size)
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
    return stage_without_index(p, st, bad, why, why_size);
}

int broker_keys_stage(broker_t *b, broker_partition_t *p, broker_keys_found_t *kf,
                      const uint8_t *batch, size_t total, int64_t base, broker_keys_stage_t *st,
                      int32_t *bad, char *why, size_t why_size)
{
    memset(st, 0, sizeof(*st));
    if (stage_ops(b, p, kf, st, batch, total) < 0)
        return 0;
    if (!p->keys)
        return stage_without_index(p, st, bad, why, why_size);
    broker_keyindex_reserve(p->keys, st->nops); /* no growing while slots are prefetched */
    for (size_t i = 0; i < STAGE_AHEAD && i < st->nops; i++)
        broker_keyindex_prefetch(p->keys, st->ops[i].tag);
    int64_t start = storage_log_start_offset(p->log);
    /* Set first and compare what was there (one probe per record); a conflict, the rare case,
     * puts back what the batch set so far. */
    for (size_t i = 0; i < st->nops; i++) {
        struct broker_key_op *op = &st->ops[i];
        stage_prefetch(p, st, i);
        op->at += base;
        int64_t offset = op->tombstone ? -1 : op->at;
        if (broker_keyindex_set_tagged(p->keys, op->key, op->len, op->tag, offset, &op->old) < 0)
            return stage_overflow(p, st, bad, why, why_size);
        st->napplied = i + 1;
        int64_t actual = op->old >= 0 && op->old < start ? -1 : op->old; /* below: gone */
        if (op->expected != NO_HEADER && op->expected != actual)
            return stage_conflict(p, st, op, actual, bad, why, why_size);
    }
    return 0;
}

/* ---- the latest offset of a key ------------------------------------------------------------ */

size_t broker_partition_key_walk(broker_partition_t *p, const uint8_t *key, size_t len, size_t max,
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
            *n = broker_partition_key_walk(p, key, key_len, max, out);
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
