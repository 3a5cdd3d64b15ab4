/* Unit tests of libweir's serializers without a registry: Confluent's wire format (golden bytes,
 * the errors of a short record, a wrong magic byte, a negative id), the schema cache (hits and
 * misses, least recently used out first, a dropped schema kept alive by its user, threads at
 * once), Avro binary against golden bytes both ways and its bounds on corrupt input, and the
 * JSON Schema keywords a serializer checks. */
#include "sdk/sdk.h"
#include "test.h"

#include <pthread.h>

TEST(wire_header_golden)
{
    uint8_t h[SDK_WIRE_HEADER_LEN];
    sdk_wire_header(h, 0x01020304);
    const uint8_t want[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    CHECK_MEM(h, want, 5);
    const uint8_t rec[] = {0x00, 0x00, 0x00, 0x00, 0x2a, '{', '}'};
    int32_t id = -1;
    const uint8_t *p = NULL;
    size_t n = 0;
    char err[256];
    CHECK_EQ(sdk_wire_parse(rec, sizeof(rec), &id, &p, &n, err, sizeof(err)), 0);
    CHECK_EQ(id, 42);
    CHECK_EQ(n, 2);
    CHECK(p == rec + 5);
    /* just the header: an empty payload (an Avro record of no fields) */
    CHECK_EQ(sdk_wire_parse(rec, 5, &id, &p, &n, err, sizeof(err)), 0);
    CHECK_EQ(n, 0);
}

TEST(wire_parse_errors)
{
    int32_t id;
    const uint8_t *p;
    size_t n;
    char err[256];
    const uint8_t json[] = "{\"a\":1}";
    CHECK_EQ(sdk_wire_parse(json, sizeof(json) - 1, &id, &p, &n, err, sizeof(err)), -WEIR_EINVAL);
    CHECK_STR(err, "not in the schema registry's wire format: magic byte 0x7b, expected 0x00");
    const uint8_t short_rec[] = {0, 0, 0, 1};
    CHECK_EQ(sdk_wire_parse(short_rec, 4, &id, &p, &n, err, sizeof(err)), -WEIR_EINVAL);
    CHECK(strstr(err, "4 bytes, fewer than the 5") != NULL);
    CHECK_EQ(sdk_wire_parse(NULL, 0, &id, &p, &n, err, sizeof(err)), -WEIR_EINVAL);
    const uint8_t neg[] = {0, 0x80, 0, 0, 0};
    CHECK_EQ(sdk_wire_parse(neg, 5, &id, &p, &n, err, sizeof(err)), -WEIR_EINVAL);
    CHECK(strstr(err, "negative") != NULL);
}

static sdk_schema_t *json_schema(int32_t id)
{
    char err[64];
    return sdk_schema_new(id, WEIR_SCHEMA_JSON, "{\"type\":\"object\"}", err, sizeof(err));
}

TEST(cache_hits_misses_lru)
{
    sdk_schema_cache_t c;
    sdk_schema_cache_init(&c, 3);
    for (int32_t id = 1; id <= 3; id++) {
        sdk_schema_t *s = json_schema(id);
        sdk_schema_t *got = sdk_schema_cache_put(&c, s);
        CHECK(got == s);
        sdk_schema_unref(got);
        sdk_schema_unref(s);
    }
    CHECK_EQ(sdk_schema_cache_len(&c), 3);
    /* 1 becomes the most recent; adding 4 drops 2, the least recently used */
    sdk_schema_t *one = sdk_schema_cache_get(&c, 1);
    REQUIRE(one != NULL);
    CHECK_EQ(one->id, 1);
    sdk_schema_t *four = json_schema(4);
    sdk_schema_unref(sdk_schema_cache_put(&c, four));
    sdk_schema_unref(four);
    CHECK_EQ(sdk_schema_cache_len(&c), 3);
    CHECK(sdk_schema_cache_get(&c, 2) == NULL);
    sdk_schema_t *three = sdk_schema_cache_get(&c, 3);
    CHECK(three != NULL);
    sdk_schema_unref(three);
    CHECK_EQ(c.hits, 2);
    CHECK_EQ(c.misses, 1);
    /* a second put of an id that is cached returns the cached one */
    sdk_schema_t *dup = json_schema(1);
    sdk_schema_t *got = sdk_schema_cache_put(&c, dup);
    CHECK(got == one);
    sdk_schema_unref(got);
    sdk_schema_unref(dup);
    /* 1 is dropped by two more puts, but our reference keeps it readable */
    for (int32_t id = 5; id <= 7; id++) {
        sdk_schema_t *s = json_schema(id);
        sdk_schema_unref(sdk_schema_cache_put(&c, s));
        sdk_schema_unref(s);
    }
    CHECK(sdk_schema_cache_get(&c, 1) == NULL);
    CHECK_STR(one->text, "{\"type\":\"object\"}");
    sdk_schema_unref(one);
    sdk_schema_cache_deinit(&c);
}

static sdk_schema_cache_t shared;

static void *hammer(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        int32_t id = (int32_t)((seed * 7919 + (uintptr_t)i * 31) % 64);
        sdk_schema_t *s = sdk_schema_cache_get(&shared, id);
        if (!s) {
            sdk_schema_t *n = json_schema(id);
            s = sdk_schema_cache_put(&shared, n);
            sdk_schema_unref(n);
        }
        if (s->id != id)
            abort();
        sdk_schema_unref(s);
    }
    return NULL;
}

TEST(cache_threads)
{
    sdk_schema_cache_init(&shared, 16);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(sdk_schema_cache_len(&shared), 16);
    CHECK_EQ(shared.hits + shared.misses, 80000);
    sdk_schema_cache_deinit(&shared);
}

static const char *order_avsc =
    "{\"type\":\"record\",\"name\":\"Order\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"S\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"price\",\"type\":\"double\"},{\"name\":\"raw\",\"type\":\"bytes\"}]}";

TEST(avro_golden_both_ways)
{
    char err[256];
    void *a = sdk_avro_parse(order_avsc, err, sizeof(err));
    REQUIRE(a != NULL);
    json_t *v = json_loads("{\"id\":\"o1\",\"qty\":-3,\"note\":\"hi\",\"state\":\"B\","
                           "\"tags\":[1,64],\"price\":1.5,\"raw\":\"\\u0000\\u00ff\"}",
                           JSON_ALLOW_NUL, NULL);
    buf_t b = {0};
    CHECK_EQ(sdk_avro_encode(a, v, &b, err, sizeof(err)), 0);
    const uint8_t want[] = {0x04, 'o',  '1',  0x05, 0x02, 0x04, 'h', 'i', 0x02,
                            0x04, 0x02, 0x80, 0x01, 0x00, 0,    0,   0,   0,
                            0,    0,    0xf8, 0x3f, 0x04, 0x00, 0xff};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    json_t *back = NULL;
    CHECK_EQ(sdk_avro_decode(a, want, sizeof(want), &back, err, sizeof(err)), 0);
    CHECK(back && json_equal(back, v));
    json_decref(back);
    /* the union's null branch, and the wrapped form {"string": ...} of Avro's JSON encoding */
    json_t *w = json_loads("{\"id\":\"\",\"qty\":0,\"note\":{\"string\":\"x\"},\"state\":\"A\","
                           "\"tags\":[],\"price\":0,\"raw\":\"\"}",
                           0, NULL);
    buf_reset(&b);
    CHECK_EQ(sdk_avro_encode(a, w, &b, err, sizeof(err)), 0);
    const uint8_t want2[] = {0x00, 0x00, 0x02, 0x02, 'x', 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00};
    CHECK_EQ(b.len, sizeof(want2));
    CHECK_MEM(b.data, want2, sizeof(want2));
    json_decref(w);
    json_decref(v);
    buf_deinit(&b);
    sdk_avro_free(a);
}

TEST(avro_encode_errors_name_the_path)
{
    char err[256];
    void *a = sdk_avro_parse(order_avsc, err, sizeof(err));
    REQUIRE(a != NULL);
    struct {
        const char *json, *want;
    } cases[] = {
        {"{\"id\":1}", "$.id: expected string"},
        {"{\"id\":\"x\",\"qty\":4294967296}", "$.qty: expected int"},
        {"{\"id\":\"x\",\"qty\":1,\"note\":5}", "$.note: no branch of the union accepts the value"},
        {"{\"id\":\"x\",\"qty\":1,\"state\":\"C\"}", "$.state: expected a symbol of enum S"},
        {"{\"id\":\"x\",\"qty\":1,\"state\":\"A\",\"tags\":[1,\"2\"]}", "$.tags[1]: expected long"},
        {"{\"id\":\"x\",\"qty\":1,\"state\":\"A\",\"tags\":[],\"price\":1,\"raw\":\"\\u0100\"}",
         "$.raw: bytes: a code point above 255"},
        {"[]", "$: expected an object (record)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        buf_t b = {0};
        CHECK_EQ(sdk_avro_encode(a, v, &b, err, sizeof(err)), -WEIR_EINVAL);
        CHECK_STR(err, cases[i].want);
        CHECK_EQ(b.len, 0);
        buf_deinit(&b);
        json_decref(v);
    }
    sdk_avro_free(a);
}

TEST(avro_decode_is_bounded)
{
    char err[256];
    void *a = sdk_avro_parse("{\"type\":\"array\",\"items\":\"null\"}", err, sizeof(err));
    REQUIRE(a != NULL);
    json_t *v;
    /* 2^40 nulls in 6 bytes: refused before anything is built */
    const uint8_t many[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00};
    CHECK_EQ(sdk_avro_decode(a, many, sizeof(many), &v, err, sizeof(err)), -WEIR_ECORRUPT);
    CHECK(strstr(err, "too many items") != NULL);
    sdk_avro_free(a);
    a = sdk_avro_parse("\"string\"", err, sizeof(err));
    REQUIRE(a != NULL);
    const uint8_t long_len[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 'a'}; /* 2^31-1 bytes claimed */
    CHECK_EQ(sdk_avro_decode(a, long_len, sizeof(long_len), &v, err, sizeof(err)), -WEIR_ECORRUPT);
    CHECK_STR(err, "$: length past the end of the record");
    const uint8_t extra[] = {0x02, 'a', 'b'};
    CHECK_EQ(sdk_avro_decode(a, extra, sizeof(extra), &v, err, sizeof(err)), -WEIR_ECORRUPT);
    CHECK_STR(err, "1 bytes left after the value");
    const uint8_t bad_utf8[] = {0x02, 0xff};
    CHECK_EQ(sdk_avro_decode(a, bad_utf8, sizeof(bad_utf8), &v, err, sizeof(err)), -WEIR_ECORRUPT);
    sdk_avro_free(a);
    /* a recursive schema: nesting past the cap is refused, not a stack overflow */
    a = sdk_avro_parse("{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"next\","
                       "\"type\":[\"null\",\"N\"]}]}",
                       err, sizeof(err));
    REQUIRE(a != NULL);
    uint8_t deep[400];
    memset(deep, 0x02, sizeof(deep));
    deep[sizeof(deep) - 1] = 0x00;
    CHECK_EQ(sdk_avro_decode(a, deep, sizeof(deep), &v, err, sizeof(err)), -WEIR_ECORRUPT);
    CHECK(strstr(err, "nested too deeply") != NULL);
    const uint8_t two[] = {0x02, 0x02, 0x00};
    CHECK_EQ(sdk_avro_decode(a, two, sizeof(two), &v, err, sizeof(err)), 0);
    char *text = json_dumps(v, JSON_COMPACT);
    CHECK_STR(text, "{\"next\":{\"next\":{\"next\":null}}}");
    free(text);
    json_decref(v);
    sdk_avro_free(a);
    CHECK(sdk_avro_parse("{\"type\":\"record\"}", err, sizeof(err)) == NULL);
    CHECK(strncmp(err, "libavro: ", 9) == 0);
}

TEST(json_validate_keywords)
{
    json_t *s = json_loads(
        "{\"type\":\"object\",\"required\":[\"order_id\"],\"additionalProperties\":false,"
        "\"properties\":{\"order_id\":{\"type\":\"string\",\"minLength\":1},"
        "\"amount\":{\"type\":\"number\",\"minimum\":0},"
        "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
        "{\"qty\":{\"type\":\"integer\"}}}},\"state\":{\"enum\":[\"A\",\"B\"]}}}",
        0, NULL);
    REQUIRE(s != NULL);
    struct {
        const char *json, *want;
    } cases[] = {
        {"{\"order_id\":\"o\",\"amount\":2,\"items\":[{\"qty\":1}],\"state\":\"A\"}", NULL},
        {"{\"amount\":2}", "$: required property \"order_id\" is missing"},
        {"{\"order_id\":\"\"}", "$.order_id: shorter than minLength"},
        {"{\"order_id\":\"o\",\"amount\":-1}", "$.amount: below minimum"},
        {"{\"order_id\":\"o\",\"items\":[{\"qty\":1},{\"qty\":\"2\"}]}",
         "$.items[1].qty: expected integer"},
        {"{\"order_id\":\"o\",\"state\":\"C\"}", "$.state: not one of the enum's values"},
        {"{\"order_id\":\"o\",\"extra\":1}",
         "$: property \"extra\" is not allowed (additionalProperties: false)"},
        {"[]", "$: expected object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        char err[256] = "";
        int rc = sdk_json_validate(s, v, err, sizeof(err));
        CHECK_EQ(rc, cases[i].want ? -WEIR_EINVAL : 0);
        if (cases[i].want)
            CHECK_STR(err, cases[i].want);
        json_decref(v);
    }
    json_decref(s);
}

TEST(registry_config_checked)
{
    weir_registry_config cfg;
    weir_registry_config_init(&cfg);
    CHECK_EQ(cfg.cache_max, 1000);
    CHECK_EQ(cfg.timeout_ms, 10000);
    weir_registry *reg;
    weir_registry_error e;
    CHECK_EQ(weir_registry_new(&cfg, &reg, &e), WEIR_ERR_INVAL);
    CHECK(reg == NULL);
    cfg.url = "localhost:8081";
    CHECK_EQ(weir_registry_new(&cfg, &reg, &e), WEIR_ERR_INVAL);
    CHECK_STR(e.message, "registry url: expected http://host:port");
    cfg.url = "http://127.0.0.1:1/";
    cfg.timeout_ms = 2000;
    REQUIRE(weir_registry_new(&cfg, &reg, &e) == 0);
    /* nothing listens on port 1: an I/O error, no HTTP status */
    int32_t id;
    int rc = weir_registry_register(reg, "t-value", WEIR_SCHEMA_JSON, "{}", &id, &e);
    CHECK(rc == WEIR_ERR_IO);
    CHECK_EQ(e.http_status, 0);
    CHECK(strstr(e.message, "registering a schema under t-value: registry http://127.0.0.1:1") !=
          NULL);
    /* a record not in the wire format fails before any request */
    char *json;
    CHECK_EQ(weir_deserialize(reg, "{}", 2, &json, NULL, &e), WEIR_ERR_INVAL);
    CHECK(strstr(e.message, "fewer than the 5") != NULL);
    weir_registry_free(reg);
}

TEST_MAIN()
