/*
 * How the admin API renders keys, values and header values for people (admin_payload_render):
 * registry-encoded Avro decoded through a schema registry, JSON, text, binary and control
 * characters as base64, null, payloads cut at 256 KiB on a character boundary, an unknown
 * schema id falling back to bytes; and the standard base64 codec with its bad inputs.
 */
#include "admin/admin_internal.h"
#include "registry/registry_internal.h"
#include "test.h"

#include <stdlib.h>

#define ORDER_AVSC                                                                                 \
    "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"   \
    "{\"name\":\"cents\",\"type\":\"long\"}]}"

typedef struct {
    registry_file_store_t *fs;
    registry_t *reg;
    admin_t *a;
    int32_t id;
} fixture_t;

static void fixture_init(fixture_t *f)
{
    REQUIRE(registry_file_store_open(&f->fs, NULL) == 0);
    registry_store_t st = registry_file_store_iface(f->fs);
    REQUIRE(registry_new(&f->reg, &st, NULL) == 0);
    reg_register_req_t rq = {.subject = "orders-value",
                             .schema = ORDER_AVSC,
                             .schema_len = strlen(ORDER_AVSC),
                             .type = REGISTRY_AVRO,
                             .id = -1,
                             .version = -1};
    reg_err_t e;
    REQUIRE(reg_register(f->reg, &rq, &f->id, &e) == 0);
    admin_config_t cfg = {.registry = f->reg, .bootstrap = "127.0.0.1:9092", .version = "t"};
    REQUIRE(admin_new(&cfg, &f->a) == 0);
}

static void fixture_deinit(fixture_t *f)
{
    admin_free(f->a);
    registry_free(f->reg);
    registry_file_store_close(f->fs);
}

/* Renders p[0..n) as "value" and returns the object (the caller decrefs). */
static json_t *render(fixture_t *f, const void *p, int32_t n)
{
    json_t *o = json_object();
    admin_payload_render(f->a, o, "value", p, n, true);
    return o;
}

static const char *enc_of(json_t *o)
{
    json_t *e = json_object_get(o, "value_encoding");
    return json_is_string(e) ? json_string_value(e) : "null";
}

TEST(avro_through_the_registry)
{
    fixture_t f;
    fixture_init(&f);
    /* magic 0, the id, then Avro: "o1" (zigzag length 2 = 0x04) and 42 (zigzag 84 = 0x54) */
    uint8_t p[] = {0, 0, 0, 0, 0, 0x04, 'o', '1', 0x54};
    be32_write(p + 1, (uint32_t)f.id);
    json_t *o = render(&f, p, sizeof(p));
    CHECK_STR(enc_of(o), "registry");
    CHECK_EQ(json_integer_value(json_object_get(o, "value_schema_id")), f.id);
    json_t *want = json_pack("{s:s, s:i}", "id", "o1", "cents", 42);
    CHECK(json_equal(json_object_get(o, "value_decoded"), want));
    json_decref(want);
    json_decref(o);
    /* an id the registry does not have: shown as bytes */
    be32_write(p + 1, 999);
    o = render(&f, p, sizeof(p));
    CHECK_STR(enc_of(o), "base64");
    CHECK_STR(json_string_value(json_object_get(o, "value")), "AAAAA+cEbzFU");
    json_decref(o);
    fixture_deinit(&f);
}

TEST(text_json_binary_null)
{
    fixture_t f;
    fixture_init(&f);
    json_t *o = render(&f, "héllo\tworld\n", (int32_t)strlen("héllo\tworld\n"));
    CHECK_STR(enc_of(o), "text");
    CHECK_STR(json_string_value(json_object_get(o, "value")), "héllo\tworld\n");
    json_decref(o);
    o = render(&f, "{\"a\":[1,2]}", 11);
    CHECK_STR(enc_of(o), "json");
    CHECK_EQ(json_integer_value(
                 json_array_get(json_object_get(json_object_get(o, "value_decoded"), "a"), 1)),
             2);
    json_decref(o);
    o = render(&f, "{not json", 9);
    CHECK_STR(enc_of(o), "text");
    json_decref(o);
    o = render(&f, "a\0b", 3); /* a control character: bytes */
    CHECK_STR(enc_of(o), "base64");
    CHECK_STR(json_string_value(json_object_get(o, "value")), "YQBi");
    json_decref(o);
    o = render(&f, "\xff\xfe", 2); /* not UTF-8 */
    CHECK_STR(enc_of(o), "base64");
    json_decref(o);
    o = render(&f, NULL, -1);
    CHECK(json_is_null(json_object_get(o, "value")));
    CHECK(json_is_null(json_object_get(o, "value_encoding")));
    json_decref(o);
    fixture_deinit(&f);
}

TEST(long_payloads_are_cut_on_a_character)
{
    fixture_t f;
    fixture_init(&f);
    size_t n = (300 << 10) + 1;
    char *p = malloc(n);
    p[0] = 'x'; /* then two-byte characters from offset 1: the cut at 256 KiB splits one */
    for (size_t i = 1; i + 1 < n; i += 2)
        memcpy(p + i, "é", 2);
    json_t *o = render(&f, p, (int32_t)n);
    CHECK(json_is_true(json_object_get(o, "value_truncated")));
    CHECK_STR(enc_of(o), "text");
    size_t len = json_string_length(json_object_get(o, "value"));
    CHECK_EQ(len, (256u << 10) - 1);
    json_decref(o);
    free(p);
    fixture_deinit(&f);
}

TEST(base64_both_ways)
{
    static const struct {
        const char *raw, *b64;
    } cases[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++) {
        char *e = admin_b64_encode((const uint8_t *)cases[i].raw, strlen(cases[i].raw));
        CHECK_STR(e, cases[i].b64);
        free(e);
        buf_t b;
        buf_init(&b);
        CHECK_EQ(admin_b64_decode(cases[i].b64, strlen(cases[i].b64), &b), 0);
        CHECK_EQ(b.len, strlen(cases[i].raw));
        CHECK(b.len == 0 || memcmp(b.data, cases[i].raw, b.len) == 0);
        buf_deinit(&b);
    }
    static const char *const bad[] = {"Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        buf_t b;
        buf_init(&b);
        CHECK_EQ(admin_b64_decode(bad[i], strlen(bad[i]), &b), -WEIR_EINVAL);
        buf_deinit(&b);
    }
}

TEST_MAIN()
