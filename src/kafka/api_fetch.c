/*
 * Fetch (key 1), versions 4-11, with long polling.
 *
 * The request is decoded into a flat list of partitions (broker_fetch_part_t), then
 * broker_fetch_wait decides: answer now (min_bytes of data, any partition error, max_wait_ms
 * <= 0, or the broker stopping), or park until the broker calls back (an append reached
 * min_bytes, or max_wait_ms passed). The response is then written partition by partition with
 * broker_fetch_read, which copies whole batches from the log without parsing records.
 *
 * Sizes: the response holds at most min(max_bytes, fetch.max.bytes) bytes of records and each
 * partition at most its partition_max_bytes, except that the first batch of the first
 * partition with data is always whole (KIP-74), so a consumer always makes progress.
 * Fetch sessions (KIP-227) are not kept: session_id 0 answers every full fetch and an
 * incremental one gets FETCH_SESSION_ID_NOT_FOUND, after which clients fall back to full
 * fetches.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

typedef struct {
    const char *name; /* an owned copy; may hold NULs (then no topic matches it) */
    size_t name_len;
    size_t first; /* index of its first partition in fetch_t.parts */
    int32_t nparts;
} fetch_topic_t;

typedef struct {
    kafka_park_t pk; /* first: parked while waiting */
    int32_t max_wait_ms, min_bytes, max_bytes;
    int8_t isolation;
    int16_t session_error;
    int32_t ntopics;
    fetch_topic_t *topics;
    size_t nparts;
    broker_fetch_part_t *parts; /* topic names point into owned copies */
} fetch_t;

static int decode(wire_reader_t *r, fetch_t *f)
{
    int16_t v = f->pk.version;
    (void)wire_read_i32(r); /* replica_id */
    f->max_wait_ms = wire_read_i32(r);
    f->min_bytes = wire_read_i32(r);
    f->max_bytes = wire_read_i32(r);
    f->isolation = wire_read_i8(r);
    int32_t session_id = 0, epoch = -1;
    if (v >= 7) {
        session_id = wire_read_i32(r);
        epoch = wire_read_i32(r);
    }
    if (session_id != 0 || epoch > 0)
        f->session_error = KAFKA_FETCH_SESSION_ID_NOT_FOUND;
#ifdef WEIR_FUZZ
    f->max_wait_ms = WEIR_MIN(f->max_wait_ms, 5); /* the fuzzer waits for every answer */
#endif
    int32_t n = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
    if (n < 0)
        return -WEIR_EINVAL;
    f->topics = kafka_park_alloc(&f->pk, ((size_t)n + 1) * sizeof(*f->topics));
    size_t min_part = 4 + 8 + 4 + (v >= 9 ? 4 : 0) + (v >= 5 ? 8 : 0);
    size_t cap = 0;
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        fetch_topic_t *ft = &f->topics[i];
        wire_str_t name = wire_read_str(r);
        int32_t np = wire_read_array(r, min_part, MAX_PARTITIONS);
        if (np < 0)
            break;
        /* A copy with its length: a name holding a NUL simply matches no topic. */
        char *copy =
            (char *)kafka_park_bytes(&f->pk, (wire_bytes_t){(const uint8_t *)name.s, name.len});
        ft->name = copy;
        ft->name_len = (size_t)name.len;
        ft->first = f->nparts;
        ft->nparts = np;
        f->ntopics = i + 1;
        if (f->nparts + (size_t)np > cap) { /* np is bounded by the bytes present */
            cap = WEIR_MAX(cap * 2, f->nparts + (size_t)np);
            f->parts = weir_realloc(f->parts, cap * sizeof(*f->parts));
        }
        for (int32_t j = 0; j < np; j++) {
            broker_fetch_part_t *fp = &f->parts[f->nparts++];
            fp->topic = copy;
            fp->topic_len = (size_t)name.len;
            fp->partition = wire_read_i32(r);
            if (v >= 9)
                (void)wire_read_i32(r); /* current_leader_epoch */
            fp->offset = wire_read_i64(r);
            if (v >= 5)
                (void)wire_read_i64(r); /* log_start_offset (followers only) */
            fp->max_bytes = wire_read_i32(r);
            wire_read_tags(r);
        }
        wire_read_tags(r);
    }
    if (v >= 7) { /* forgotten_topics_data: meaningful only with sessions */
        int32_t nf = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
        for (int32_t i = 0; i < nf && wire_reader_ok(r); i++) {
            (void)wire_read_str(r);
            int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
            for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
                (void)wire_read_i32(r);
            wire_read_tags(r);
        }
    }
    if (v >= 11)
        (void)wire_read_str(r); /* rack_id */
    wire_read_tags(r);
    return wire_reader_ok(r) ? 0 : -WEIR_EINVAL;
}

/* Writes the whole response body into resp through w. */
static void fetch_write(fetch_t *f, buf_t *resp, wire_writer_t *w)
{
    broker_t *b = f->pk.b;
    int16_t v = f->pk.version;
    net_loop_take_buf(f->pk.loop, resp, f->max_bytes > 0 ? (size_t)f->max_bytes : 0);
    wire_write_i32(w, 0); /* throttle_time_ms */
    if (v >= 7) {
        wire_write_i16(w, f->session_error);
        wire_write_i32(w, 0); /* session_id: none kept */
    }
    if (f->session_error) {
        wire_write_array_len(w, 0);
        wire_write_tags(w);
        return;
    }
    int64_t limit = WEIR_MIN((int64_t)f->max_bytes,
                             broker_settings_int(broker_settings(b), BCFG_FETCH_MAX_BYTES));
    size_t remaining = limit > 0 ? (size_t)limit : 0;
    bool first = true;
    wire_write_array_len(w, f->ntopics);
    for (int32_t i = 0; i < f->ntopics; i++) {
        const fetch_topic_t *ft = &f->topics[i];
        wire_write_str(w, ft->name, ft->name_len);
        wire_write_array_len(w, ft->nparts);
        for (int32_t j = 0; j < ft->nparts; j++) {
            const broker_fetch_part_t *fp = &f->parts[ft->first + (size_t)j];
            wire_write_i32(w, fp->partition);
            size_t head = resp->len;
            wire_write_i16(w, 0); /* error_code, filled below */
            wire_write_i64(w, 0); /* high_watermark */
            wire_write_i64(w, 0); /* last_stable_offset */
            if (v >= 5)
                wire_write_i64(w, 0);                            /* log_start_offset */
            wire_write_array_len(w, f->isolation == 1 ? 0 : -1); /* aborted_transactions */
            if (v >= 11)
                wire_write_i32(w, -1); /* preferred_read_replica */
            size_t at = wire_write_bytes_len_reserve(w);
            size_t pmax = fp->max_bytes > 0 ? WEIR_MIN((size_t)fp->max_bytes, remaining) : 0;
            size_t got = 0;
            broker_fetch_info_t info;
            broker_fetch_read(b, fp, pmax, first, v >= 10, resp, &got, &info);
            wire_write_bytes_len_fill(w, at, got);
            uint8_t *hp = resp->data + head;
            be16_write(hp, (uint16_t)info.error_code);
            be64_write(hp + 2, (uint64_t)info.wm.high_watermark);
            be64_write(hp + 10, (uint64_t)info.wm.last_stable_offset);
            if (v >= 5)
                be64_write(hp + 18, (uint64_t)info.wm.log_start_offset);
            if (got) {
                first = false;
                remaining = got < remaining ? remaining - got : 0;
            }
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    wire_write_tags(w);
}

/* On the request's loop, once the broker says the fetch can be answered. */
static void fetch_done(void *arg)
{
    fetch_t *f = arg;
    fetch_write(f, &f->pk.resp, &f->pk.w);
    free(f->parts);
    kafka_park_finish(&f->pk);
}

int kafka_handle_fetch(kafka_req_t *req)
{
    fetch_t *f = kafka_park_new(req, sizeof(*f));
    if (decode(&req->r, f) < 0) {
        free(f->parts);
        kafka_park_free(&f->pk);
        return -WEIR_EINVAL;
    }
    broker_fetch_wait_req_t wr = {.min_bytes = f->min_bytes,
                                  .max_wait_ms = f->session_error ? 0 : f->max_wait_ms,
                                  .nparts = f->nparts,
                                  .parts = f->parts,
                                  .loop = f->pk.loop,
                                  .done = fetch_done,
                                  .arg = f};
    if (!broker_fetch_wait(req->b, &wr))
        return kafka_park_take(req, &f->pk); /* fetch_done answers */
    fetch_write(f, &req->resp, &req->w);
    free(f->parts);
    kafka_park_free(&f->pk);
    return KAFKA_RESPOND;
}
