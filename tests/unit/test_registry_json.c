/*
 * JSON Schema: schema checks (valid and invalid, with the reason), the stored and normalized
 * forms, document validation (a table of schema, document, verdict, rule), and compatibility
 * on open and closed content models (old, new, level, verdict, rule, why).
 */
#include "registry/registry.h"
#include "test.h"

static registry_schema_t *parse(const char *text, bool normalize, char *err, size_t err_size)
{
    registry_schema_t *s = NULL;
    registry_schema_parse(REGISTRY_JSON, text, strlen(text), normalize, &s, err, err_size);
    return s;
}

typedef struct {
    const char *text;
    bool ok;
    const char *err_has;
} jparse_case_t;

static const jparse_case_t parse_cases[] = {
    {"true", true, NULL},
    {"{}", true, NULL},
    {"{\"type\":[\"string\",\"null\"],\"maxLength\":3}", true, NULL},
    {"{\"$defs\":{\"p\":{\"type\":\"integer\"}},\"properties\":{\"a\":{\"$ref\":\"#/$defs/p\"}}}",
     true, NULL},
    {"{\"definitions\":{\"n\":{\"properties\":{\"next\":{\"$ref\":\"#/definitions/n\"}}}},"
     "\"$ref\":\"#/definitions/n\"}",
     true, NULL},
    {"{\"type\":\"strin\"}", false, "\"type\" must name JSON types"},
    {"{\"properties\":[]}", false, "\"properties\" must be an object"},
    {"{\"required\":\"a\"}", false, "\"required\" must be an array of strings"},
    {"{\"minLength\":-1}", false, "\"minLength\" must be a non-negative integer"},
    {"{\"allOf\":[]}", false, "\"allOf\" must be a non-empty array"},
    {"{\"$ref\":\"#/definitions/missing\"}", false, "does not resolve"},
    {"{\"$ref\":\"other.json\"}", false, "does not resolve"},
    /* a $ref target where no keyword leads is checked as a schema too (fuzz_registry_json) */
    {"{\"$ref\":\"#/x\",\"x\":{\"$ref\":5}}", false, "$ref (not a string) does not resolve"},
    {"{\"properties\":{\"a\":{\"$ref\":\"#/x\"}},\"x\":{\"type\":[1]}}", false,
     "\"type\" must name JSON types"},
    {"{\"properties\":{\"a\":{\"$ref\":\"#/x\"}},\"x\":{\"type\":\"string\"}}", true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"n\":{\"$ref\":\"#\"}}}", true, NULL},
    {"{\"pattern\":\"(\"}", false, "\"pattern\" is not a regular expression"},
    {"{\"multipleOf\":0}", false, "\"multipleOf\" must be a number above 0"},
    {"[1]", false, "must be an object or a boolean"},
    {"{\"a\":1,\"a\":2}", false, "Invalid JSON"},
};

TEST(json_parse_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(parse_cases); i++) {
        char err[256] = "";
        registry_schema_t *s = parse(parse_cases[i].text, false, err, sizeof(err));
        if ((s != NULL) != parse_cases[i].ok || (!s && !strstr(err, parse_cases[i].err_has)))
            fprintf(stderr, "  case %zu: %s\n", i, err);
        CHECK((s != NULL) == parse_cases[i].ok);
        if (!s)
            CHECK(strstr(err, parse_cases[i].err_has) != NULL);
        registry_schema_free(s);
    }
}

TEST(json_forms)
{
    char err[128];
    registry_schema_t *a = parse("{ \"type\": \"object\", \"properties\": {\"b\": {}, \"a\": {}} }",
                                 false, err, sizeof(err));
    registry_schema_t *n = parse("{ \"type\": \"object\", \"properties\": {\"b\": {}, \"a\": {}} }",
                                 true, err, sizeof(err));
    REQUIRE(a && n);
    CHECK_STR(registry_schema_canonical(a),
              "{\"type\":\"object\",\"properties\":{\"b\":{},\"a\":{}}}");
    CHECK_STR(registry_schema_canonical(n),
              "{\"properties\":{\"a\":{},\"b\":{}},\"type\":\"object\"}");
    registry_schema_free(a);
    registry_schema_free(n);
}

typedef struct {
    const char *schema, *doc;
    bool ok;
    const char *err_has;
} jvalid_case_t;

#define PERSON                                                                                     \
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1},"         \
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"tags\":{\"type\":\"array\","   \
    "\"items\":{\"type\":\"string\"},\"uniqueItems\":true,\"maxItems\":3}},\"required\":["         \
    "\"name\"],\"additionalProperties\":false}"

static const jvalid_case_t valid_cases[] = {
    {PERSON, "{\"name\":\"Ann\",\"age\":30,\"tags\":[\"a\",\"b\"]}", true, NULL},
    {PERSON, "{\"age\":30}", false, "required property 'name' is missing"},
    {PERSON, "{\"name\":\"\"}", false, "shorter than minLength"},
    {PERSON, "{\"name\":\"A\",\"age\":-1}", false, "below minimum"},
    {PERSON, "{\"name\":\"A\",\"age\":1.5}", false, "not of the type"},
    /* 2.0 is an integer by value, as the spec says */
    {PERSON, "{\"name\":\"A\",\"age\":2.0}", true, NULL},
    {PERSON, "{\"name\":\"A\",\"x\":1}", false, "property 'x' is not allowed"},
    {PERSON, "{\"name\":\"A\",\"tags\":[\"a\",\"a\"]}", false, "items are not unique"},
    {PERSON, "{\"name\":\"A\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", false, "more items"},
    {PERSON, "{\"name\":\"A\",\"tags\":[1]}", false, "at '/tags/0'"},
    {"{\"enum\":[\"a\",1,null]}", "1", true, NULL},
    {"{\"enum\":[\"a\",1,null]}", "2", false, "not one of the enum"},
    {"{\"const\":{\"k\":[1]}}", "{\"k\":[1]}", true, NULL},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3", false, "more than one"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "1", true, NULL},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "true", false, "none of anyOf"},
    {"{\"not\":{\"type\":\"null\"}}", "null", false, "the schema of not"},
    {"{\"if\":{\"properties\":{\"k\":{\"const\":\"a\"}}},\"then\":{\"required\":[\"x\"]}}",
     "{\"k\":\"a\"}", false, "required property 'x'"},
    {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", true, NULL},
    {"{\"pattern\":\"^[a-z]+$\"}", "\"aBc\"", false, "does not match pattern"},
    {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}", "[1,2]", false,
     "no item allowed"},
    {"{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/n\"}"
     ",\"v\":{\"type\":\"integer\"}}}},\"$ref\":\"#/$defs/n\"}",
     "{\"next\":{\"next\":{\"v\":\"x\"}}}", false, "at '/next/next/v'"},
    {"{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"", true, NULL}, /* two code points */
    {"{\"type\":\"object\"}", "{bad", false, "not JSON"},
};

TEST(json_validate_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(valid_cases); i++) {
        const jvalid_case_t *c = &valid_cases[i];
        char err[256], why[256] = "";
        registry_schema_t *s = parse(c->schema, false, err, sizeof(err));
        REQUIRE(s != NULL);
        int rc = registry_schema_decode(s, NULL, 0, (const uint8_t *)c->doc, strlen(c->doc), NULL,
                                        why, sizeof(why));
        bool pass = (rc == 0) == c->ok && (c->ok || strstr(why, c->err_has));
        if (!pass)
            fprintf(stderr, "  case %zu: rc %d why '%s'\n", i, rc, why);
        CHECK(pass);
        registry_schema_free(s);
    }
}

typedef struct {
    const char *why;
    const char *old_schema, *new_schema;
    registry_compat_t level;
    bool ok;
    const char *rule;
} jcompat_case_t;

#define OPEN_A "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}"
#define OPEN_AB                                                                                    \
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"            \
    "\"integer\"}}}"
#define CLOSED_A                                                                                   \
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":"  \
    "false}"
#define CLOSED_AB                                                                                  \
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"            \
    "\"integer\"}},\"additionalProperties\":false}"
#define CLOSED_AB_REQ                                                                              \
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"            \
    "\"integer\"}},\"required\":[\"b\"],\"additionalProperties\":false}"

static const jcompat_case_t compat_cases[] = {
    {"open model: old data may hold any 'b', so a typed 'b' cannot be added", OPEN_A, OPEN_AB,
     REGISTRY_COMPAT_BACKWARD, false, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
    {"closed model: old data has no 'b', an optional 'b' is safe", CLOSED_A, CLOSED_AB,
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"closed model: a required new property is missing from old data", CLOSED_A, CLOSED_AB_REQ,
     REGISTRY_COMPAT_BACKWARD, false, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"},
    {"removing a property from an open model: it is just an extra property now", OPEN_AB, OPEN_A,
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"removing a property from a closed model: old data with 'b' is refused", CLOSED_AB, CLOSED_A,
     REGISTRY_COMPAT_BACKWARD, false, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
    {"closing an open model refuses old extra properties", OPEN_A, CLOSED_A,
     REGISTRY_COMPAT_BACKWARD, false, "ADDITIONAL_PROPERTIES_REMOVED"},
    {"opening a closed model accepts more", CLOSED_A, OPEN_A, REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"forward of closing: old readers (open) accept what the closed writer writes", OPEN_A,
     CLOSED_A, REGISTRY_COMPAT_FORWARD, true, NULL},
    {"integer widens to number", "{\"type\":\"integer\"}", "{\"type\":\"number\"}",
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"number narrows to integer", "{\"type\":\"number\"}", "{\"type\":\"integer\"}",
     REGISTRY_COMPAT_BACKWARD, false, "TYPE_CHANGED"},
    {"a type removed from a type list", "{\"type\":[\"string\",\"null\"]}", "{\"type\":\"string\"}",
     REGISTRY_COMPAT_BACKWARD, false, "TYPE_NARROWED"},
    {"maxLength lowered", "{\"type\":\"string\",\"maxLength\":10}",
     "{\"type\":\"string\",\"maxLength\":5}", REGISTRY_COMPAT_BACKWARD, false,
     "MAX_LENGTH_DECREASED"},
    {"maxLength added", "{\"type\":\"string\"}", "{\"type\":\"string\",\"maxLength\":5}",
     REGISTRY_COMPAT_BACKWARD, false, "MAX_LENGTH_ADDED"},
    {"maxLength raised is fine", "{\"type\":\"string\",\"maxLength\":5}",
     "{\"type\":\"string\",\"maxLength\":10}", REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"minimum raised", "{\"type\":\"integer\",\"minimum\":0}",
     "{\"type\":\"integer\",\"minimum\":1}", REGISTRY_COMPAT_BACKWARD, false, "MINIMUM_INCREASED"},
    {"enum extended is fine", "{\"enum\":[\"a\"]}", "{\"enum\":[\"a\",\"b\"]}",
     REGISTRY_COMPAT_BACKWARD, true, NULL},
    {"enum narrowed", "{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\"]}", REGISTRY_COMPAT_BACKWARD,
     false, "ENUM_ARRAY_NARROWED"},
    {"full: enum extended breaks the old reader", "{\"enum\":[\"a\"]}", "{\"enum\":[\"a\",\"b\"]}",
     REGISTRY_COMPAT_FULL, false, "ENUM_ARRAY_NARROWED"},
    {"a pattern added", "{\"type\":\"string\"}", "{\"type\":\"string\",\"pattern\":\"^a\"}",
     REGISTRY_COMPAT_BACKWARD, false, "PATTERN_ADDED"},
    {"a oneOf branch dropped", "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"}]}", REGISTRY_COMPAT_BACKWARD, false, "SUM_TYPE_NARROWED"},
    {"a oneOf branch added", "{\"oneOf\":[{\"type\":\"string\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", REGISTRY_COMPAT_BACKWARD, true,
     NULL},
    {"items narrowed", "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}",
     "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", REGISTRY_COMPAT_BACKWARD, false,
     "TYPE_CHANGED"},
    {"a nested property type changed",
     "{\"properties\":{\"o\":{\"properties\":{\"x\":{\"type\":"
     "\"string\"}}}}}",
     "{\"properties\":{\"o\":{\"properties\":{\"x\":{\"type\":\"integer\"}}}}}",
     REGISTRY_COMPAT_BACKWARD, false, "#/properties/o/properties/x"},
    {"through $ref the same schema",
     "{\"$defs\":{\"s\":{\"type\":\"string\"}},\"properties\":"
     "{\"a\":{\"$ref\":\"#/$defs/s\"}}}",
     "{\"properties\":{\"a\":{\"type\":\"string\"}}}", REGISTRY_COMPAT_FULL, true, NULL},
};

TEST(json_compat_table)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(compat_cases); i++) {
        const jcompat_case_t *c = &compat_cases[i];
        char err[256];
        registry_schema_t *o = parse(c->old_schema, false, err, sizeof(err));
        registry_schema_t *nw = parse(c->new_schema, false, err, sizeof(err));
        REQUIRE(o && nw);
        buf_t msgs;
        buf_init(&msgs);
        int n = 0;
        if (c->level == REGISTRY_COMPAT_BACKWARD || c->level == REGISTRY_COMPAT_FULL)
            n += registry_schema_compat(nw, o, &msgs);
        if (c->level == REGISTRY_COMPAT_FORWARD || c->level == REGISTRY_COMPAT_FULL)
            n += registry_schema_compat(o, nw, &msgs);
        buf_append_u8(&msgs, 0);
        bool pass = (n == 0) == c->ok && (c->ok || strstr((char *)msgs.data, c->rule));
        if (!pass)
            fprintf(stderr, "  case %zu (%s): %d: %s\n", i, c->why, n, (char *)msgs.data);
        CHECK(pass);
        buf_deinit(&msgs);
        registry_schema_free(o);
        registry_schema_free(nw);
    }
}

TEST_MAIN()
