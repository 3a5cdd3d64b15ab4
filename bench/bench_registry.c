/*
 * bench_registry: what schema validation costs per record on the produce path, and what
 * registrations and cached lookups cost, measured in-process (no network, no disk sync: the
 * registry writes to the in-memory test store).
 *
 *   build/bench/bench_registry [--records N]
 *
 * Rows (ns per record, median of 5 runs of N records, one thread):
 *   id/<type>        registry_validator_check in id mode on a cache hit (header + cache)
 *   full/<type>      the same in full mode: the payload decoded against its schema
 *   none             the loop alone (a function call that returns 0), for reference
 * plus registrations/s (new schemas, each under its own subject; the store in memory), and the
 * produce path's validation pass over a batch of 500 Avro records (33 bytes each), ns per
 * record: with no record check (a topic without validation), with a call per record (how id
 * mode checked records before the memo moved into the loop) and with the inline memo (id mode
 * now: a 5-byte compare per record), each with its cost against the pass without a check
 * (thread CPU time, not wall time, so other processes on the machine do not count).
 * The payloads are small realistic records (an order of 6 fields, ~60 bytes).
 */
#include "registry/registry_internal.h" /* reg_register: no HTTP in the loop */
#include "storage/storage.h"            /* the produce path's validation pass */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const char avro_schema[] =
    "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"customer\",\"type\":\"string\"},{\"name\":\"cents\",\"type\":\"long\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"paid\",\"type\":\"boolean\"}]}";
static const char json_schema[] =
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"customer\":{\"type\":"
    "\"string\"},\"cents\":{\"type\":\"integer\",\"minimum\":0},\"qty\":{\"type\":\"integer\"},"
    "\"note\":{\"type\":[\"string\",\"null\"]},\"paid\":{\"type\":\"boolean\"}},\"required\":["
    "\"id\",\"cents\"],\"additionalProperties\":false}";
static const char proto_schema[] =
    "syntax = \"proto3\"; message Order { string id = 1; string customer = 2; int64 cents = 3; "
    "int32 qty = 4; string note = 5; bool paid = 6; }";

typedef struct {
    const char *name;
    registry_type_t type;
    const char *schema;
    const uint8_t *body;
    size_t body_len;
} row_t;

static const uint8_t avro_body[] = {0x10, 'o',  '-', '1', '0', '0', '2', '3',  '4',  0x0e,
                                    'c',  'u',  's', 't', '-', '4', '2', 0xd0, 0x0f, 0x06,
                                    0x02, 0x0a, 'r', 'u', 's', 'h', '!', 0x01};
static const char json_body[] = "{\"id\":\"o-1002344\",\"customer\":\"cust-42\",\"cents\":1000,"
                                "\"qty\":3,\"note\":\"rush!\",\"paid\":true}";
/* message index [0] (one 0 byte) and the fields */
static const uint8_t proto_body[] = {0x00, 0x0a, 0x08, 'o',  '-',  '1',  '0',  '0',  '2',
                                     '3',  '4',  0x12, 0x07, 'c',  'u',  's',  't',  '-',
                                     '4',  '2',  0x18, 0xe8, 0x07, 0x20, 0x03, 0x2a, 0x05,
                                     'r',  'u',  's',  'h',  '!',  0x30, 0x01};

static int64_t run(registry_validator_t *v, const uint8_t *rec, size_t n, long records)
{
    char why[256];
    int64_t t0 = now_ns();
    for (long i = 0; i < records; i++)
        if (registry_validator_check(v, rec, n, why, sizeof(why)) != 0) {
            fprintf(stderr, "bench_registry: a record failed: %s\n", why);
            exit(1);
        }
    return now_ns() - t0;
}

/* The validation pass over one batch: check NULL (no validation), a call per record doing the
 * memo compare (the old id path), or the memo inline (memo != NULL). */
static int batch_call(void *arg, int32_t index, const storage_record_t *rec, const char **why)
{
    (void)index;
    (void)why;
    return storage_record_memo_hit(arg, rec) ? 0 : -WEIR_EINVAL;
}

/* This thread's CPU time: the batch rows are a few ns apart, and on a shared machine the wall
 * clock also counts the time other processes ran. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t run_batch(const buf_t *batch, int how, const storage_record_memo_t *memo,
                         long passes)
{
    int64_t t0 = cpu_ns();
    for (long i = 0; i < passes; i++) {
        const char *why = NULL;
        storage_record_check_fn fn = how == 0 ? NULL : batch_call;
        int rc = storage_batch_validate_records_checked(
            batch->data, batch->len, 1 << 20, fn, (void *)memo, how == 2 ? memo : NULL, NULL, &why);
        if (rc) {
            fprintf(stderr, "bench_registry: the batch failed: %s\n", why ? why : "?");
            exit(1);
        }
    }
    return cpu_ns() - t0;
}

static void bench_batch_pass(long records)
{
    enum { N = 500 };
    uint8_t value[5 + sizeof(avro_body)] = {0, 0, 0, 0, 1};
    memcpy(value + 5, avro_body, sizeof(avro_body));
    storage_record_in_t recs[N];
    for (int i = 0; i < N; i++)
        recs[i] = (storage_record_in_t){.key_len = -1,
                                        .value = value,
                                        .value_len = (int32_t)sizeof(value),
                                        .timestamp = 1000 + i};
    buf_t batch;
    buf_init(&batch);
    storage_batch_build(&batch, recs, N, &(storage_batch_opts_t){.producer_id = -1});
    storage_record_memo_t memo = {.on = {false, true}, .ok = {false, true}};
    memcpy(memo.prefix[1], value, STORAGE_MEMO_PREFIX);
    long passes = records / N > 0 ? records / N : 1;
    static const char *const names[3] = {"no check", "call/record", "inline memo"};
    double med[3];
    run_batch(&batch, 0, &memo, passes / 10 + 1); /* warm */
    for (int how = 0; how < 3; how++) {
        int64_t t[5];
        for (int i = 0; i < 5; i++)
            t[i] = run_batch(&batch, how, &memo, passes);
        qsort(t, 5, sizeof(t[0]), cmp_i64);
        med[how] = (double)t[2] / (double)(passes * N);
        printf("  batch pass/%-12s %6.2f ns/record", names[how], med[how]);
        if (how)
            printf("  (+%.2f ns, %+.1f%% of the pass)", med[how] - med[0],
                   100 * (med[how] - med[0]) / med[0]);
        printf("\n");
    }
    buf_deinit(&batch);
}

static int bench_register(registry_t *r, const char *subject, registry_type_t type,
                          const char *schema, int32_t *id)
{
    reg_register_req_t rq = {.subject = subject,
                             .schema = schema,
                             .schema_len = strlen(schema),
                             .type = type,
                             .id = -1,
                             .version = -1};
    reg_err_t e;
    if (reg_register(r, &rq, id, &e) == 0)
        return 0;
    fprintf(stderr, "bench_registry: register %s: %s\n", subject, e.message);
    return -1;
}

int main(int argc, char **argv)
{
    long records = 1000000;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            records = atol(argv[++i]);
    printf("bench_registry: registry_validator_check, ns per record (median of 5 x %ld)\n",
           records);
    const row_t rows[] = {
        {"avro", REGISTRY_AVRO, avro_schema, avro_body, sizeof(avro_body)},
        {"json", REGISTRY_JSON, json_schema, (const uint8_t *)json_body, strlen(json_body)},
        {"protobuf", REGISTRY_PROTOBUF, proto_schema, proto_body, sizeof(proto_body)},
    };
    registry_file_store_t *fs;
    registry_file_store_open(&fs, NULL);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    if (registry_new(&r, &st, NULL))
        return 1;
    for (size_t k = 0; k < WEIR_ARRAY_LEN(rows); k++) {
        char subject[96], topic[64];
        snprintf(topic, sizeof(topic), "t-%s", rows[k].name);
        snprintf(subject, sizeof(subject), "%s-value", topic);
        int32_t id;
        if (bench_register(r, subject, rows[k].type, rows[k].schema, &id))
            return 1;
        buf_t rec;
        buf_init(&rec);
        buf_append_u8(&rec, 0);
        buf_append_be32(&rec, (uint32_t)id);
        buf_append(&rec, rows[k].body, rows[k].body_len);
        for (int mode = 0; mode < 2; mode++) {
            registry_validator_t *v;
            registry_validator_new(&v, r, topic, false, REGISTRY_STRATEGY_TOPIC,
                                   mode ? REGISTRY_VALIDATE_FULL : REGISTRY_VALIDATE_ID);
            long n = mode && rows[k].type == REGISTRY_JSON ? records / 10 : records;
            int64_t t[5];
            run(v, rec.data, rec.len, n / 10); /* warm */
            for (int i = 0; i < 5; i++)
                t[i] = run(v, rec.data, rec.len, n);
            qsort(t, 5, sizeof(t[0]), cmp_i64);
            printf("  %-4s/%-9s %8.1f ns/record  [%.1f-%.1f]\n", mode ? "full" : "id", rows[k].name,
                   (double)t[2] / (double)n, (double)t[0] / (double)n, (double)t[4] / (double)n);
            registry_validator_free(v);
        }
        buf_deinit(&rec);
    }
    /* registrations: distinct schemas under one subject (compatibility NONE) */
    int64_t t0 = now_ns();
    int regs = 2000;
    for (int i = 0; i < regs; i++) {
        char schema[128];
        int32_t id;
        snprintf(schema, sizeof(schema),
                 "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":\"f\",\"type\":"
                 "\"int\"}]}",
                 i);
        char subject[32];
        snprintf(subject, sizeof(subject), "reg-%d", i);
        if (bench_register(r, subject, REGISTRY_AVRO, schema, &id))
            return 1;
    }
    double reg_s = (double)(now_ns() - t0) / 1e9;
    printf("  registrations          %8.0f /s (%d new schemas, in-memory store)\n", regs / reg_s,
           regs);
    bench_batch_pass(records * 10);
    registry_free(r);
    registry_file_store_close(fs);
    return 0;
}
