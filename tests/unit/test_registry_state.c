/*
 * The registry's state machine over its store: replay rebuilds exactly the same state, a
 * failed append changes nothing, concurrent registrations of one schema get one id, transitive
 * levels check every version, ids are never given twice (even after a permanent delete and a
 * restart), Confluent's own `_schemas` records are understood, a torn store tail is cut, and
 * the produce-path validator (id and full modes, the three strategies, its cache).
 */
#include "registry/registry_internal.h"
#include "test.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------------
 */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(void *arg, const char *key, void *val)
{
    (void)val;
    char ***names = arg;
    size_t n = 0;
    while ((*names)[n])
        n++;
    (*names)[n] = (char *)key;
    return 0;
}

/* Everything a client can observe, as one string. */
static char *snapshot(registry_t *r)
{
    buf_t b;
    buf_init(&b);
    pthread_rwlock_rdlock(&r->lock);
    char **names = calloc(r->subjects.count + 1, sizeof(char *));
    reg_map_each(&r->subjects, collect, &names);
    qsort(names, r->subjects.count, sizeof(char *), cmp_str);
    buf_printf(&b, "compat=%d mode=%d max_id=%d\n", r->compat, r->mode, r->max_id);
    for (size_t i = 0; i < r->subjects.count; i++) {
        reg_subject_t *sub = reg_subject_get(r, names[i]);
        buf_printf(&b, "%s compat=%d mode=%d:", sub->name, sub->compat, sub->mode);
        for (size_t k = 0; k < sub->n; k++)
            buf_printf(&b, " v%d=id%d%s[%s]", sub->v[k].version, sub->v[k].e->id,
                       sub->v[k].deleted ? "(deleted)" : "", sub->v[k].e->s->canonical);
        buf_append_u8(&b, '\n');
    }
    for (size_t i = 0; i < r->nids; i++)
        if (!r->ids[i]->gone)
            buf_printf(&b, "id %d refs %zu\n", r->ids[i]->id, r->ids[i]->nrefs);
    pthread_rwlock_unlock(&r->lock);
    free(names);
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

static int reg(registry_t *r, const char *subject, const char *schema, int32_t *id)
{
    reg_register_req_t rq = {.subject = subject,
                             .schema = schema,
                             .schema_len = strlen(schema),
                             .type = REGISTRY_AVRO,
                             .id = -1,
                             .version = -1};
    reg_err_t e;
    int rc = reg_register(r, &rq, id, &e);
    return rc ? e.error_code : 0;
}

#define S_STR "\"string\""
#define S_R1  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"
#define S_R0  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}"
#define S_R3                                                                                       \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\","         \
    "\"default\":\"\"}]}"

/* ---- replay
 * -------------------------------------------------------------------------------------- */

TEST(replay_rebuilds_the_same_state)
{
    char path[] = "/tmp/weir-test-registry-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, path) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    CHECK_EQ(reg(r, "a", S_STR, &id), 0);
    CHECK_EQ(id, 1);
    CHECK_EQ(reg(r, "b", S_R1, &id), 0);
    CHECK_EQ(reg(r, "b", S_R0, &id), 0);
    int prev;
    reg_err_t e;
    CHECK_EQ(reg_set_config(r, "b", REGISTRY_COMPAT_FULL, &prev, &e), 0);
    CHECK_EQ(reg_set_mode(r, "a", REG_MODE_READONLY, false, &prev, &e), 0);
    int32_t del;
    CHECK_EQ(reg_delete_version(r, "b", "1", false, &del, &e), 0);
    char *before = snapshot(r);
    registry_free(r);
    registry_file_store_close(fs);

    REQUIRE(registry_file_store_open(&fs, path) == 0);
    st = registry_file_store_iface(fs);
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    char *after = snapshot(r);
    CHECK_STR(after, before);
    CHECK(strstr(after, "v1=id2(deleted)") != NULL);
    free(before);
    free(after);
    /* a torn tail (a crash mid-append) is cut at the last whole record */
    registry_free(r);
    registry_file_store_close(fs);
    fd = open(path, O_WRONLY | O_APPEND);
    CHECK(write(fd, "\x01\x02\x03", 3) == 3);
    close(fd);
    REQUIRE(registry_file_store_open(&fs, path) == 0);
    st = registry_file_store_iface(fs);
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    CHECK_EQ(reg(r, "c", S_STR, &id), 0); /* appends after the cut */
    CHECK_EQ(id, 1);
    registry_free(r);
    registry_file_store_close(fs);
    unlink(path);
}

/* Records as Confluent's registry writes them to `_schemas` are read as they are. */
static int confluent_records(void *arg, registry_record_fn fn, void *fn_arg)
{
    (void)arg;
    static const char *const recs[][2] = {
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"t-value\",\"version\":1,\"magic\":1}",
         "{\"subject\":\"t-value\",\"version\":1,\"id\":7,\"schema\":\"\\\"string\\\"\","
         "\"deleted\":false}"},
        {"{\"keytype\":\"SCHEMA\",\"subject\":\"j\",\"version\":1,\"magic\":1}",
         "{\"subject\":\"j\",\"version\":1,\"id\":8,\"schemaType\":\"JSON\",\"schema\":\"{}\"}"},
        {"{\"keytype\":\"CONFIG\",\"subject\":null,\"magic\":0}",
         "{\"compatibilityLevel\":\"FULL\"}"},
        {"{\"keytype\":\"CONFIG\",\"subject\":\"t-value\",\"magic\":0}",
         "{\"compatibilityLevel\":\"NONE\"}"},
        {"{\"keytype\":\"MODE\",\"subject\":null,\"magic\":0}", "{\"mode\":\"READONLY\"}"},
        {"{\"keytype\":\"DELETE_SUBJECT\",\"subject\":\"j\",\"magic\":0}",
         "{\"subject\":\"j\",\"version\":1}"},
        {"{\"keytype\":\"NOOP\",\"magic\":0}", NULL},
        {"{\"keytype\":\"SOMETHING_NEWER\",\"magic\":0}", "{}"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(recs); i++) {
        const char *v = recs[i][1];
        int rc = fn(fn_arg, (const uint8_t *)recs[i][0], strlen(recs[i][0]), (const uint8_t *)v,
                    v ? strlen(v) : 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int no_append(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)arg, (void)k, (void)kl, (void)v, (void)vl;
    return -WEIR_EIO;
}

TEST(confluent_layout_is_understood)
{
    registry_store_t st = {NULL, no_append, confluent_records};
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    char *s = snapshot(r);
    CHECK_STR(s, "compat=5 mode=1 max_id=8\n"
                 "j compat=-1 mode=-1: v1=id8(deleted)[{}]\n"
                 "t-value compat=0 mode=-1: v1=id7[\"string\"]\n"
                 "id 7 refs 0\n"
                 "id 8 refs 0\n");
    free(s);
    registry_free(r);
}

static int bad_records(void *arg, registry_record_fn fn, void *fn_arg)
{
    (void)arg;
    const char *k = "{\"keytype\":\"SCHEMA\",\"subject\":\"t\",\"version\":1,\"magic\":1}";
    const char *v = "{\"subject\":\"t\",\"version\":1,\"id\":1,\"schema\":\"{not avro\"}";
    return fn(fn_arg, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

TEST(unreadable_store_refuses_to_start)
{
    registry_store_t st = {NULL, no_append, bad_records};
    registry_t *r = (registry_t *)1;
    CHECK_EQ(registry_new(&r, &st, NULL), -WEIR_ECORRUPT);
    CHECK(r == NULL);
}

/* ---- writes
 * --------------------------------------------------------------------------------------- */

TEST(failed_append_changes_nothing)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    CHECK_EQ(reg(r, "a", S_STR, &id), 0);
    char *before = snapshot(r);
    registry_file_store_fail_next(fs);
    CHECK_EQ(reg(r, "b", S_R1, &id), 50001);
    char *after = snapshot(r);
    CHECK_STR(after, before);
    free(after);
    /* the next try goes through, and takes the next id: nothing was used up */
    CHECK_EQ(reg(r, "b", S_R1, &id), 0);
    CHECK_EQ(id, 2);
    free(before);
    registry_free(r);
    registry_file_store_close(fs);
}

typedef struct {
    registry_t *r;
    int32_t id;
    int rc;
} racer_t;

static void *race(void *arg)
{
    racer_t *x = arg;
    x->rc = reg(x->r, "burst", S_R1, &x->id);
    return NULL;
}

TEST(concurrent_registrations_get_one_id)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    pthread_t th[8];
    racer_t x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (racer_t){r, 0, -1};
        pthread_create(&th[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(x[i].rc, 0);
        CHECK_EQ(x[i].id, 1);
    }
    CHECK_EQ(reg_subject_get(r, "burst")->n, 1);
    registry_free(r);
    registry_file_store_close(fs);
}

TEST(transitive_levels_check_every_version)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    CHECK_EQ(reg(r, "s", S_R1, &id), 0);
    CHECK_EQ(reg(r, "s", S_R0, &id), 0); /* removing a field: backward */
    int prev;
    reg_err_t e;
    /* v3 reads v2's data (default fills a) but not v1's (a is an int there) */
    CHECK_EQ(reg_set_config(r, "s", REGISTRY_COMPAT_BACKWARD_TRANSITIVE, &prev, &e), 0);
    CHECK_EQ(reg(r, "s", S_R3, &id), 409);
    CHECK_EQ(reg_set_config(r, "s", REGISTRY_COMPAT_BACKWARD, &prev, &e), 0);
    CHECK_EQ(reg(r, "s", S_R3, &id), 0);
    CHECK_EQ(id, 3);
    registry_free(r);
    registry_file_store_close(fs);
}

TEST(ids_are_never_given_twice)
{
    char path[] = "/tmp/weir-test-registry-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, path) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    reg_err_t e;
    buf_t out;
    buf_init(&out);
    CHECK_EQ(reg(r, "a", S_STR, &id), 0);
    CHECK_EQ(reg(r, "b", S_R1, &id), 0);
    CHECK_EQ(id, 2);
    CHECK_EQ(reg_delete_subject(r, "b", false, &out, &e), 0);
    CHECK_EQ(reg_delete_subject(r, "b", true, &out, &e), 0);
    registry_free(r);
    registry_file_store_close(fs);
    /* after a restart the highest id is gone from every subject, yet not given again */
    REQUIRE(registry_file_store_open(&fs, path) == 0);
    st = registry_file_store_iface(fs);
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    CHECK_EQ(reg(r, "c", S_R0, &id), 0);
    CHECK_EQ(id, 3);
    buf_deinit(&out);
    registry_free(r);
    registry_file_store_close(fs);
    unlink(path);
}

TEST(references_resolve_and_protect)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    CHECK_EQ(reg(r, "money", "{\"type\":\"fixed\",\"name\":\"m.Cents\",\"size\":8}", &id), 0);
    reg_ref_t ref = {"m.Cents", "money", 1};
    const char *uses = "{\"type\":\"record\",\"name\":\"m.P\",\"fields\":[{\"name\":\"c\","
                       "\"type\":\"Cents\"}]}";
    reg_register_req_t rq = {.subject = "pay",
                             .schema = uses,
                             .schema_len = strlen(uses),
                             .refs = &ref,
                             .nrefs = 1,
                             .id = -1,
                             .version = -1};
    reg_err_t e;
    CHECK_EQ(reg_register(r, &rq, &id, &e), 0);
    CHECK_EQ(id, 2);
    /* the stored form names the referenced type instead of copying it */
    CHECK_STR(reg_entry_by_id(r, 2)->s->canonical,
              "{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"m\",\"fields\":[{\"name\":"
              "\"c\",\"type\":\"Cents\"}]}");
    int32_t del;
    CHECK_EQ(reg_delete_version(r, "money", "1", false, &del, &e), -1);
    CHECK_EQ(e.error_code, 42206);
    /* a reference must name an existing version, so a cycle cannot be built */
    reg_ref_t self = {"x", "pay", 2};
    rq.refs = &self;
    CHECK_EQ(reg_register(r, &rq, &id, &e), -1);
    CHECK_EQ(e.error_code, 42201);
    registry_free(r);
    registry_file_store_close(fs);
}

/* ---- validation ---------------------------------------------------------------------------------
 */

static void wire(buf_t *b, int32_t id, const void *body, size_t n)
{
    buf_reset(b);
    buf_append_u8(b, 0);
    buf_append_be32(b, (uint32_t)id);
    buf_append(b, body, n);
}

TEST(validator_id_and_full)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id, other;
    CHECK_EQ(reg(r, "orders-value", S_R1, &id), 0);
    CHECK_EQ(reg(r, "else-value", S_STR, &other), 0);
    registry_validator_t *vid, *vfull;
    REQUIRE(registry_validator_new(&vid, r, "orders", false, REGISTRY_STRATEGY_TOPIC,
                                   REGISTRY_VALIDATE_ID) == 0);
    REQUIRE(registry_validator_new(&vfull, r, "orders", false, REGISTRY_STRATEGY_TOPIC,
                                   REGISTRY_VALIDATE_FULL) == 0);
    buf_t b;
    buf_init(&b);
    char why[256];
    wire(&b, id, "\x54", 1); /* a = 42 */
    CHECK_EQ(registry_validator_check(vid, b.data, b.len, why, sizeof(why)), 0);
    CHECK_EQ(registry_validator_check(vfull, b.data, b.len, why, sizeof(why)), 0);
    wire(&b, id, "\x54\x00", 2);
    CHECK_EQ(registry_validator_check(vid, b.data, b.len, why, sizeof(why)), 0);
    CHECK_EQ(registry_validator_check(vfull, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: does not decode with schema id 1: Avro: 1 bytes left after the value");
    wire(&b, other, "\x02x", 2);
    CHECK_EQ(registry_validator_check(vid, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: schema id 2 is not registered under subject 'orders-value'");
    wire(&b, 99, "", 0);
    CHECK_EQ(registry_validator_check(vid, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: schema id 99 is not registered");
    CHECK_EQ(registry_validator_check(vid, (const uint8_t *)"{}", 2, why, sizeof(why)),
             -WEIR_EINVAL);
    CHECK_STR(why, "value: no schema registry wire header (magic byte 0 and a 4-byte schema id)");
    CHECK_EQ(registry_validator_check(vid, NULL, 0, why, sizeof(why)), -WEIR_EINVAL);
    /* the cache follows the registry: a soft-deleted version is refused at once */
    wire(&b, id, "\x54", 1);
    reg_err_t e;
    int32_t del;
    CHECK_EQ(reg_delete_version(r, "orders-value", "1", false, &del, &e), 0);
    CHECK_EQ(registry_validator_check(vid, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: schema id 1 is not registered under subject 'orders-value'");
    buf_deinit(&b);
    registry_validator_free(vid);
    registry_validator_free(vfull);
    registry_free(r);
    registry_file_store_close(fs);
}

TEST(validator_strategies)
{
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    const char *rec = "{\"type\":\"record\",\"name\":\"shop.Order\",\"fields\":[]}";
    int32_t id;
    CHECK_EQ(reg(r, "shop.Order", rec, &id), 0);
    CHECK_EQ(reg(r, "orders-shop.Order", rec, &id), 0);
    /* Protobuf: the subject comes from the message the indexes select */
    const char *proto = "syntax = \"proto3\"; package iot; message A { int32 x = 1; }"
                        "message B { string y = 1; }";
    reg_register_req_t rq = {.subject = "iot.B",
                             .schema = proto,
                             .schema_len = strlen(proto),
                             .type = REGISTRY_PROTOBUF,
                             .id = -1,
                             .version = -1};
    reg_err_t e;
    int32_t pid;
    CHECK_EQ(reg_register(r, &rq, &pid, &e), 0);
    registry_validator_t *vr, *vtr;
    REQUIRE(registry_validator_new(&vr, r, "orders", false, REGISTRY_STRATEGY_RECORD,
                                   REGISTRY_VALIDATE_FULL) == 0);
    REQUIRE(registry_validator_new(&vtr, r, "payments", false, REGISTRY_STRATEGY_TOPIC_RECORD,
                                   REGISTRY_VALIDATE_ID) == 0);
    buf_t b;
    buf_init(&b);
    char why[256];
    wire(&b, id, "", 0);
    CHECK_EQ(registry_validator_check(vr, b.data, b.len, why, sizeof(why)), 0);
    CHECK_EQ(registry_validator_check(vtr, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: schema id 1 is not registered under subject 'payments-shop.Order'");
    /* message index [1] (zigzag count 1, index 1) selects iot.B: registered under "iot.B" */
    wire(&b, pid, "\x02\x02\x0a\x01z", 5);
    CHECK_EQ(registry_validator_check(vr, b.data, b.len, why, sizeof(why)), 0);
    /* [0] selects iot.A, which has no subject of its own */
    wire(&b, pid, "\x00\x08\x01", 3);
    CHECK_EQ(registry_validator_check(vr, b.data, b.len, why, sizeof(why)), -WEIR_EINVAL);
    CHECK_STR(why, "value: schema id 2 is not registered under subject 'iot.A'");
    buf_deinit(&b);
    registry_validator_free(vr);
    registry_validator_free(vtr);
    registry_free(r);
    registry_file_store_close(fs);
}

/* id mode on a cache hit allocates nothing (glibc's counters; the ASan build replaces malloc,
 * so there the count is not meaningful and the check is skipped). */
TEST(validator_id_mode_does_not_allocate)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    registry_file_store_t *fs;
    REQUIRE(registry_file_store_open(&fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    REQUIRE(registry_new(&r, &st, NULL) == 0);
    int32_t id;
    CHECK_EQ(reg(r, "t-value", S_R1, &id), 0);
    registry_validator_t *v;
    REQUIRE(registry_validator_new(&v, r, "t", false, REGISTRY_STRATEGY_TOPIC,
                                   REGISTRY_VALIDATE_ID) == 0);
    uint8_t rec[6] = {0, 0, 0, 0, 1, 0x54};
    char why[128];
    CHECK_EQ(registry_validator_check(v, rec, sizeof(rec), why, sizeof(why)), 0); /* warm */
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(registry_validator_check(v, rec, sizeof(rec), why, sizeof(why)), 0);
    struct mallinfo2 after = mallinfo2();
    CHECK_EQ(after.uordblks, before.uordblks);
    registry_validator_free(v);
    registry_free(r);
    registry_file_store_close(fs);
}

TEST_MAIN()
