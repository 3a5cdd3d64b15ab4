/*
 * AVRO schemas: parsing (valid and invalid, each with the reason), the stored form and the
 * Parsing Canonical Form (the spec's examples), compatibility by schema resolution (a table:
 * old, new, level, verdict, the rule that decides it and why), and binary decoding against
 * golden bytes (valid payloads with their JSON, broken ones with the failure).
 */
#include "registry/registry.h"
#include "test.h"

#include <stdlib.h>

static registry_schema_t *parse(const char *text, bool normalize, char *err, size_t err_size)
{
    registry_schema_t *s = NULL;
    registry_schema_parse(REGISTRY_AVRO, text, strlen(text), normalize, &s, err, err_size);
    return s;
}

/* ---- parsing ----------------------------------------------------------------------------------
 */

typedef struct {
    const char *text;
    const char *canonical; /* NULL: must fail */
    const char *err_has;   /* for failures: a fragment of the message */
} parse_case_t;

static const parse_case_t parse_cases[] = {
    /* primitives in both forms collapse to the short one, as Java's Schema.toString prints */
    {"\"string\"", "\"string\"", NULL},
    {"{\"type\": \"long\"}", "\"long\"", NULL},
    /* a logical type is an attribute: kept */
    {"{\"type\":\"int\",\"logicalType\":\"date\"}", "{\"type\":\"int\",\"logicalType\":\"date\"}",
     NULL},
    /* attributes come out in a fixed order; namespace only where it changes */
    {"{\"fields\":[{\"type\":\"int\",\"name\":\"a\"}],\"name\":\"R\",\"type\":\"record\","
     "\"namespace\":\"n\"}",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":[{\"name\":\"a\","
     "\"type\":\"int\"}]}",
     NULL},
    /* a dotted name carries its namespace; a nested type in the same namespace needs none */
    {"{\"type\":\"record\",\"name\":\"a.b.R\",\"fields\":[{\"name\":\"e\",\"type\":{\"type\":"
     "\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"],\"default\":\"X\"}},{\"name\":\"e2\","
     "\"type\":\"E\"}]}",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"fields\":[{\"name\":\"e\","
     "\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"],\"default\":\"X\"}},"
     "{\"name\":\"e2\",\"type\":\"E\"}]}",
     NULL},
    /* recursion through a named type is fine */
    {"{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
     "\"Node\"],\"default\":null}]}",
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
     "\"Node\"],\"default\":null}]}",
     NULL},
    {"{\"type\":\"fixed\",\"name\":\"md5\",\"size\":16}",
     "{\"type\":\"fixed\",\"name\":\"md5\",\"size\":16}", NULL},
    {"{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"bytes\"}}",
     "{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"bytes\"}}", NULL},
    /* failures, each for its rule */
    {"\"strin\"", NULL, "Undefined name: \"strin\""},
    {"{\"type\":\"record\",\"name\":\"R\"}", NULL, "Record has no fields"},
    {"{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", NULL, "valid \"name\""},
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
     "{\"name\":\"a\",\"type\":\"int\"}]}",
     NULL, "Duplicate field a"},
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
     "\"default\":\"x\"}]}",
     NULL, "Invalid default for field a"},
    /* a union's default must match its first branch */
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\","
     "\"int\"],\"default\":1}]}",
     NULL, "Invalid default for field a"},
    {"[\"int\",\"int\"]", NULL, "Duplicate in union: int"},
    {"[\"int\",[\"null\"]]", NULL, "Nested union"},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}", NULL, "Duplicate enum symbol"},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}", NULL,
     "Enum Default"},
    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", NULL, "Invalid fixed size"},
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":"
     "\"record\",\"name\":\"R\",\"fields\":[]}}]}",
     NULL, "Can't redefine: R"},
    {"{\"type\":\"array\"}", NULL, "array has no items"},
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
     "\"order\":\"up\"}]}",
     NULL, "Invalid order"},
    {"{\"type\": \"record\", ", NULL, "Invalid schema JSON"},
    {"{\"name\":\"x\"}", NULL, "No type"},
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[],\"fields\":[]}", NULL,
     "Invalid schema JSON"},
    {"42", NULL, "must be a string, an object or an array"},
};

TEST(avro_parse_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(parse_cases); i++) {
        const parse_case_t *c = &parse_cases[i];
        char err[512] = "";
        registry_schema_t *s = parse(c->text, false, err, sizeof(err));
        if (c->canonical) {
            if (!s)
                fprintf(stderr, "  case %zu: %s\n", i, err);
            REQUIRE(s != NULL);
            CHECK_STR(registry_schema_canonical(s), c->canonical);
            /* the stored form parses back to itself */
            registry_schema_t *again = parse(registry_schema_canonical(s), false, err, sizeof(err));
            REQUIRE(again != NULL);
            CHECK_STR(registry_schema_canonical(again), c->canonical);
            registry_schema_free(again);
        } else {
            CHECK(s == NULL);
            if (!strstr(err, c->err_has))
                fprintf(stderr, "  case %zu: error '%s' lacks '%s'\n", i, err, c->err_has);
            CHECK(strstr(err, c->err_has) != NULL);
        }
        registry_schema_free(s);
    }
}

TEST(avro_bounds)
{
    /* 100 nested arrays: past the depth bound of 64 */
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < 100; i++)
        buf_append_str(&b, "{\"type\":\"array\",\"items\":");
    buf_append_str(&b, "\"int\"");
    for (int i = 0; i < 100; i++)
        buf_append_str(&b, "}");
    registry_schema_t *s = NULL;
    char err[256];
    CHECK_EQ(
        registry_schema_parse(REGISTRY_AVRO, (char *)b.data, b.len, false, &s, err, sizeof(err)),
        -WEIR_EINVAL);
    CHECK(strstr(err, "deeper than 64") != NULL);
    buf_deinit(&b);
    /* invalid UTF-8 is refused before any parser sees it */
    const char bad[] = "\"\xc3\x28\"";
    CHECK_EQ(registry_schema_parse(REGISTRY_AVRO, bad, strlen(bad), false, &s, err, sizeof(err)),
             -WEIR_EINVAL);
    CHECK_STR(err, "schema is not valid UTF-8");
    /* over the size bound */
    size_t big = (1 << 20) + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    memcpy(huge, "\"int\"", 5);
    CHECK_EQ(registry_schema_parse(REGISTRY_AVRO, huge, big, false, &s, err, sizeof(err)),
             -WEIR_ETOOBIG);
    free(huge);
}

/* The spec's Parsing Canonical Form: strip doc/aliases/defaults, full names, fixed order. */
TEST(avro_parsing_canonical_form)
{
    char err[256];
    registry_schema_t *s =
        parse("{\"namespace\":\"x.y\",\"type\":\"record\",\"name\":\"R\",\"doc\":\"d\",\"aliases\":"
              "[\"Q\"],\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"int\",\"logicalType\":"
              "\"date\"},\"default\":3,\"doc\":\"f\"},{\"name\":\"e\",\"type\":{\"type\":\"enum\","
              "\"name\":\"E\",\"symbols\":[\"A\"]}},{\"name\":\"f\",\"type\":{\"type\":\"fixed\","
              "\"name\":\"z.F\",\"size\":2}},{\"name\":\"g\",\"type\":\"E\"}]}",
              false, err, sizeof(err));
    REQUIRE(s != NULL);
    CHECK_STR(registry_schema_avro_pcf(s),
              "{\"name\":\"x.y.R\",\"type\":\"record\",\"fields\":[{\"name\":\"a\",\"type\":"
              "\"int\"},{\"name\":\"e\",\"type\":{\"name\":\"x.y.E\",\"type\":\"enum\","
              "\"symbols\":[\"A\"]}},{\"name\":\"f\",\"type\":{\"name\":\"z.F\",\"type\":"
              "\"fixed\",\"size\":2}},{\"name\":\"g\",\"type\":\"x.y.E\"}]}");
    registry_schema_free(s);
}

/* normalize=true: names in full, so two spellings of one schema store the same text */
TEST(avro_normalize)
{
    char err[256];
    registry_schema_t *a = parse("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\","
                                 "\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}",
                                 true, err, sizeof(err));
    registry_schema_t *b = parse("{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"type\":"
                                 "\"int\",\"name\":\"x\"}]}",
                                 true, err, sizeof(err));
    REQUIRE(a && b);
    CHECK_STR(registry_schema_canonical(a), registry_schema_canonical(b));
    CHECK_STR(registry_schema_canonical(a), "{\"type\":\"record\",\"name\":\"n.R\",\"fields\":"
                                            "[{\"name\":\"x\",\"type\":\"int\"}]}");
    registry_schema_free(a);
    registry_schema_free(b);
}

/* ---- compatibility ------------------------------------------------------------------------------
 */

typedef struct {
    const char *why;
    const char *old_schema, *new_schema;
    registry_compat_t level;
    bool ok;
    const char *rule; /* the errorType a failure names */
} compat_case_t;

#define R1 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"
#define R_ADD_DEF                                                                                  \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":" \
    "\"b\",\"type\":\"string\",\"default\":\"\"}]}"
#define R_ADD_NODEF                                                                                \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":" \
    "\"b\",\"type\":\"string\"}]}"
#define R_LONG                                                                                     \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}"
#define R_NONE "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}"
#define R_RENAMED                                                                                  \
    "{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"
#define R_ALIAS                                                                                    \
    "{\"type\":\"record\",\"name\":\"S\",\"aliases\":[\"R\"],\"fields\":[{\"name\":\"a\","         \
    "\"type\":\"int\"}]}"
#define E_AB    "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}"
#define E_A     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}"
#define E_A_DEF "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\"}"
#define F4      "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}"
#define F8      "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}"

static const compat_case_t compat_cases[] = {
    {"a field with a default can be added: old data lacks it, the default fills it", R1, R_ADD_DEF,
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"a field without a default cannot be added: old data has nothing for it", R1, R_ADD_NODEF,
     REGISTRY_COMPAT_BACKWARD, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
    {"forward: old readers ignore the added field", R1, R_ADD_NODEF, REGISTRY_COMPAT_FORWARD, true,
     NULL},
    {"full: the added field needs a default for the old->new direction", R1, R_ADD_NODEF,
     REGISTRY_COMPAT_FULL, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
    {"full: with a default, both directions resolve", R1, R_ADD_DEF, REGISTRY_COMPAT_FULL, true,
     NULL},
    {"removing a field is backward compatible: the new reader skips it", R1, R_NONE,
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"removing a field without default breaks forward: old readers need it", R1, R_NONE,
     REGISTRY_COMPAT_FORWARD, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
    {"int promotes to long when reading", R1, R_LONG, REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"long does not demote to int", R_LONG, R1, REGISTRY_COMPAT_BACKWARD, false, "TYPE_MISMATCH"},
    {"string and bytes read each other", "\"string\"", "\"bytes\"", REGISTRY_COMPAT_FULL, true,
     NULL},
    {"float promotes to double, not back", "\"float\"", "\"double\"", REGISTRY_COMPAT_FULL, false,
     "TYPE_MISMATCH"},
    {"a renamed record does not resolve", R1, R_RENAMED, REGISTRY_COMPAT_BACKWARD, false,
     "NAME_MISMATCH"},
    {"an alias of the old name resolves", R1, R_ALIAS, REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"a reader enum missing a writer symbol fails", E_AB, E_A, REGISTRY_COMPAT_BACKWARD, false,
     "MISSING_ENUM_SYMBOLS"},
    {"an enum default covers unknown symbols", E_AB, E_A_DEF, REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"adding a symbol is backward compatible", E_A, E_AB, REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"a fixed size change fails", F4, F8, REGISTRY_COMPAT_BACKWARD, false, "FIXED_SIZE_MISMATCH"},
    {"widening to a union holding the old type is backward compatible", "\"int\"",
     "[\"null\",\"int\"]", REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"narrowing a union loses a writer branch", "[\"null\",\"int\"]", "\"int\"",
     REGISTRY_COMPAT_BACKWARD, false, "TYPE_MISMATCH"},
    {"a union without the writer's type", "\"string\"", "[\"null\",\"int\"]",
     REGISTRY_COMPAT_BACKWARD, false, "MISSING_UNION_BRANCH"},
    {"array items resolve element-wise", "{\"type\":\"array\",\"items\":\"int\"}",
     "{\"type\":\"array\",\"items\":\"long\"}", REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"map values that do not resolve", "{\"type\":\"map\",\"values\":\"long\"}",
     "{\"type\":\"map\",\"values\":\"int\"}", REGISTRY_COMPAT_BACKWARD, false, "TYPE_MISMATCH"},
    {"NONE accepts anything", "\"int\"", "\"string\"", REGISTRY_COMPAT_NONE, true, NULL},
};

static int check_level(const registry_schema_t *older, const registry_schema_t *newer,
                       registry_compat_t level, buf_t *msgs)
{
    int n = 0;
    if (level == REGISTRY_COMPAT_BACKWARD || level == REGISTRY_COMPAT_FULL)
        n += registry_schema_compat(newer, older, msgs);
    if (level == REGISTRY_COMPAT_FORWARD || level == REGISTRY_COMPAT_FULL)
        n += registry_schema_compat(older, newer, msgs);
    return n;
}

TEST(avro_compat_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(compat_cases); i++) {
        const compat_case_t *c = &compat_cases[i];
        char err[256];
        registry_schema_t *o = parse(c->old_schema, false, err, sizeof(err));
        registry_schema_t *nw = parse(c->new_schema, false, err, sizeof(err));
        REQUIRE(o && nw);
        buf_t msgs;
        buf_init(&msgs);
        int n = check_level(o, nw, c->level, &msgs);
        buf_append_u8(&msgs, 0);
        bool pass = (n == 0) == c->ok && (c->ok || strstr((char *)msgs.data, c->rule) != NULL);
        if (!pass)
            fprintf(stderr, "  case %zu (%s): %d problems: %s\n", i, c->why, n, (char *)msgs.data);
        CHECK(pass);
        buf_deinit(&msgs);
        registry_schema_free(o);
        registry_schema_free(nw);
    }
}

TEST(avro_compat_message_wording)
{
    char err[256];
    registry_schema_t *o = parse(R1, false, err, sizeof(err));
    registry_schema_t *nw = parse(R_ADD_NODEF, false, err, sizeof(err));
    REQUIRE(o && nw);
    buf_t msgs;
    buf_init(&msgs);
    CHECK_EQ(registry_schema_compat(nw, o, &msgs), 1);
    buf_append_u8(&msgs, 0);
    CHECK_STR((char *)msgs.data,
              "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at "
              "path '/fields/1' in the new schema has no default value and is missing in the old "
              "schema', additionalInfo:'b'}\n");
    buf_deinit(&msgs);
    registry_schema_free(o);
    registry_schema_free(nw);
}

/* ---- decoding ----------------------------------------------------------------------------------
 */

typedef struct {
    const char *schema;
    const uint8_t *bytes;
    size_t len;
    const char *json;    /* NULL: must fail */
    const char *err_has; /* for failures */
} decode_case_t;

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define REC_AB                                                                                     \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"         \
    "{\"name\":\"s\",\"type\":[\"null\",\"string\"]},{\"name\":\"t\",\"type\":{\"type\":"          \
    "\"array\",\"items\":\"int\"}}]}"

static const decode_case_t decode_cases[] = {
    /* id=1 (zigzag 2), s = union branch 1 "hi", t = [3, -1] in one block */
    {REC_AB, B(0x02, 0x02, 0x04, 'h', 'i', 0x04, 0x06, 0x01, 0x00),
     "{\"id\":1,\"s\":\"hi\",\"t\":[3,-1]}", NULL},
    /* s = null, t = [] */
    {REC_AB, B(0x7f, 0x00, 0x00), "{\"id\":-64,\"s\":null,\"t\":[]}", NULL},
    /* a block with a negative count carries its byte size */
    {REC_AB, B(0x00, 0x00, 0x01, 0x02, 0x0a, 0x00), "{\"id\":0,\"s\":null,\"t\":[5]}", NULL},
    {"\"boolean\"", B(0x01), "true", NULL},
    {"\"boolean\"", B(0x02), NULL, "boolean is not 0 or 1"},
    {"\"double\"", B(0, 0, 0, 0, 0, 0, 0xf8, 0x3f), "1.5", NULL},
    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}", B(0x41, 0x22), "\"A\\u0022\"", NULL},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", B(0x02), "\"B\"", NULL},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", B(0x04), NULL,
     "enum index out of range"},
    {"{\"type\":\"map\",\"values\":\"int\"}", B(0x02, 0x02, 'k', 0x08, 0x00), "{\"k\":4}", NULL},
    /* failures: each for its check */
    {"\"string\"", B(0x0a, 'a'), NULL, "length past the end"},
    {"\"string\"", B(0x02, 0xff), NULL, "string is not UTF-8"},
    {"\"int\"", B(0x80, 0x80, 0x80, 0x80, 0x20), NULL, "int out of range"},
    {"\"long\"", B(0x80), NULL, "bad or truncated varint"},
    {"\"int\"", B(0x02, 0x00), NULL, "1 bytes left after the value"},
    {"[\"null\",\"int\"]", B(0x04), NULL, "union branch index out of range"},
    {"\"float\"", B(0x00, 0x00), NULL, "truncated floating-point value"},
    /* a block count larger than the bytes present fails before any loop */
    {"{\"type\":\"array\",\"items\":\"null\"}", B(0xfe, 0xff, 0xff, 0xff, 0x0f), NULL,
     "block count past the end"},
};

TEST(avro_decode_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(decode_cases); i++) {
        const decode_case_t *c = &decode_cases[i];
        char err[256], why[256] = "";
        registry_schema_t *s = parse(c->schema, false, err, sizeof(err));
        REQUIRE(s != NULL);
        buf_t json;
        buf_init(&json);
        int rc = registry_schema_decode(s, NULL, 0, c->bytes, c->len, &json, why, sizeof(why));
        buf_append_u8(&json, 0);
        if (c->json) {
            if (rc)
                fprintf(stderr, "  case %zu: %s\n", i, why);
            CHECK_EQ(rc, 0);
            CHECK_STR((char *)json.data, c->json);
        } else {
            CHECK_EQ(rc, -WEIR_EINVAL);
            if (!strstr(why, c->err_has))
                fprintf(stderr, "  case %zu: '%s' lacks '%s'\n", i, why, c->err_has);
            CHECK(strstr(why, c->err_has) != NULL);
        }
        /* without JSON output the verdict is the same */
        CHECK_EQ(registry_schema_decode(s, NULL, 0, c->bytes, c->len, NULL, why, sizeof(why)), rc);
        buf_deinit(&json);
        registry_schema_free(s);
    }
}

TEST_MAIN()
