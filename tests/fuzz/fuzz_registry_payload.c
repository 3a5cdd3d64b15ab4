/*
 * libFuzzer target for payload decoding (the produce path's full mode and `consume --decode`):
 * the first byte picks one of a few schemas (Avro with unions, arrays, maps and recursion;
 * JSON Schema with $ref recursion; Protobuf with nested, repeated and map fields), the rest is
 * the payload. Oracles: the verdict is the same with and without JSON output, and the JSON of
 * an accepted payload is valid JSON (as jansson reads it, NUL in object keys aside).
 */
#include "registry/registry.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    registry_type_t type;
    const char *text;
} schemas[] = {
    {REGISTRY_AVRO,
     "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"i\",\"type\":\"int\"},"
     "{\"name\":\"l\",\"type\":\"long\"},{\"name\":\"d\",\"type\":\"double\"},{\"name\":\"f\","
     "\"type\":\"float\"},{\"name\":\"s\",\"type\":[\"null\",\"string\",\"bytes\"]},{\"name\":"
     "\"a\",\"type\":{\"type\":\"array\",\"items\":\"boolean\"}},{\"name\":\"m\",\"type\":{"
     "\"type\":\"map\",\"values\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}}},{\"name\":"
     "\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},{\"name\":"
     "\"next\",\"type\":[\"null\",\"N\"]}]}"},
    {REGISTRY_JSON,
     "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\","
     "\"maximum\":10},\"s\":{\"type\":\"string\",\"pattern\":\"^[a-z]*$\",\"maxLength\":5},"
     "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"uniqueItems\":true}},"
     "\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/n\"}"},
    {REGISTRY_PROTOBUF,
     "syntax = \"proto3\"; package f; message M { string s = 1; sint64 z = 2; repeated fixed32 "
     "r = 3; map<string, M> m = 4; M child = 5; bytes b = 6; double d = 7; E e = 8; "
     "enum E { A = 0; B = 1; } oneof o { int32 x = 9; float y = 10; } }"},
};

static registry_schema_t *parsed[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parsed[0]) {
        for (size_t i = 0; i < 3; i++) {
            char err[256];
            WEIR_ASSERT(registry_schema_parse(schemas[i].type, schemas[i].text,
                                              strlen(schemas[i].text), false, &parsed[i], err,
                                              sizeof(err)) == 0);
        }
    }
    if (size < 1)
        return 0;
    const registry_schema_t *s = parsed[data[0] % 3];
    char why[256];
    buf_t json;
    buf_init(&json);
    int rc = registry_schema_decode(s, NULL, 0, data + 1, size - 1, &json, why, sizeof(why));
    int rc2 = registry_schema_decode(s, NULL, 0, data + 1, size - 1, NULL, why, sizeof(why));
    WEIR_ASSERT(rc == rc2);
    if (rc == 0) {
        json_error_t je;
        json_t *j =
            json_loadb((const char *)json.data, json.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        /* jansson cannot hold a NUL in an object key, which JSON allows (an Avro map key) */
        if (!j && !strstr(je.text, "NUL byte in object key")) {
            fprintf(stderr, "decoder's JSON does not parse: %s\n%.*s\n", je.text, (int)json.len,
                    (const char *)json.data);
            abort();
        }
        json_decref(j);
    }
    buf_deinit(&json);
    return 0;
}
