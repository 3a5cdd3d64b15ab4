/*
 * Serializers and the deserializer in Confluent's wire format: the magic byte 0, the schema id
 * (big-endian int32), then the payload (Avro binary, or the JSON text for JSON Schema). Values
 * cross the API as JSON text; serde_avro.c turns them into Avro and back, serde_json.c checks
 * them against a JSON Schema when the serializer was asked to.
 *
 * A serializer is immutable once made (its schema registered, its id known, an Avro schema
 * parsed), so any number of threads may use one at once; the deserializer keeps nothing but the
 * registry's schema cache.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct weir_serializer {
    weir_registry *reg;
    sdk_schema_t *schema; /* its id is the registered one */
    json_t *json_schema;  /* JSON with WEIR_SERDE_VALIDATE: the parsed schema, else NULL */
};

void sdk_wire_header(uint8_t out[SDK_WIRE_HEADER_LEN], int32_t id)
{
    out[0] = SDK_WIRE_MAGIC;
    be32_write(out + 1, (uint32_t)id);
}

int sdk_wire_parse(const void *data, size_t len, int32_t *id, const uint8_t **payload,
                   size_t *payload_len, char *err, size_t errlen)
{
    const uint8_t *p = data;
    if (!p || len < SDK_WIRE_HEADER_LEN) {
        snprintf(err, errlen,
                 "not in the schema registry's wire format: %zu bytes, fewer than the 5 of "
                 "the magic byte and the schema id",
                 p ? len : 0);
        return -WEIR_EINVAL;
    }
    if (p[0] != SDK_WIRE_MAGIC) {
        snprintf(err, errlen,
                 "not in the schema registry's wire format: magic byte 0x%02x, expected 0x00",
                 p[0]);
        return -WEIR_EINVAL;
    }
    int32_t v = (int32_t)be32_read(p + 1);
    if (v < 0) {
        snprintf(err, errlen, "schema id %d in the record is negative", (int)v);
        return -WEIR_EINVAL;
    }
    *id = v;
    *payload = p + SDK_WIRE_HEADER_LEN;
    *payload_len = len - SDK_WIRE_HEADER_LEN;
    return 0;
}

int weir_serializer_new(weir_registry *reg, const char *subject, weir_schema_type type,
                        const char *schema, unsigned flags, weir_serializer **out,
                        weir_registry_error *err)
{
    *out = NULL;
    if (!reg || !schema || (type != WEIR_SCHEMA_AVRO && type != WEIR_SCHEMA_JSON))
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0,
                          "serializer: registry, schema and type "
                          "(WEIR_SCHEMA_AVRO or WEIR_SCHEMA_JSON) needed");
    json_t *js = NULL;
    if (type == WEIR_SCHEMA_JSON) {
        json_error_t je;
        js = json_loads(schema, 0, &je);
        if (!js || !(json_is_object(js) || json_is_boolean(js))) {
            json_decref(js);
            return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "JSON Schema of %s: not a JSON object: %s",
                              subject ? subject : "?", je.text);
        }
    }
    char perr[256] = "";
    /* Parsed before it is registered: a schema libavro cannot use is refused here, not after. */
    sdk_schema_t *s = sdk_schema_new(-1, type, schema, perr, sizeof(perr));
    if (!s) {
        json_decref(js);
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "Avro schema of %s: %s",
                          subject ? subject : "?", perr);
    }
    int rc = weir_registry_register(reg, subject, type, schema, &s->id, err);
    if (rc) {
        sdk_schema_unref(s);
        json_decref(js);
        return rc;
    }
    weir_serializer *ser = weir_calloc(1, sizeof(*ser));
    ser->reg = reg;
    ser->schema = s;
    if (flags & WEIR_SERDE_VALIDATE)
        ser->json_schema = js;
    else
        json_decref(js);
    *out = ser;
    return 0;
}

void weir_serializer_free(weir_serializer *ser)
{
    if (!ser)
        return;
    sdk_schema_unref(ser->schema);
    json_decref(ser->json_schema);
    free(ser);
}

int32_t weir_serializer_id(const weir_serializer *ser)
{
    return ser->schema->id;
}

int weir_serialize(weir_serializer *ser, const char *json, size_t len, void **out, size_t *out_len,
                   weir_registry_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!json)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0,
                          "serialize: no value (a null record value "
                          "is a tombstone: produce it as is)");
    if (!len)
        len = strlen(json);
    json_error_t je;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "value is not JSON: %s at %d:%d", je.text,
                          je.line, je.column);
    char why[512] = "";
    buf_t b = {0};
    uint8_t *h = buf_extend(&b, SDK_WIRE_HEADER_LEN);
    sdk_wire_header(h, ser->schema->id);
    int rc = 0;
    if (ser->schema->type == WEIR_SCHEMA_AVRO) {
        rc = sdk_avro_encode(ser->schema->avro, v, &b, why, sizeof(why));
    } else {
        if (ser->json_schema)
            rc = sdk_json_validate(ser->json_schema, v, why, sizeof(why));
        /* The text as given: a JSON Schema payload is the producer's own JSON. */
        if (!rc)
            buf_append(&b, json, len);
    }
    json_decref(v);
    if (rc) {
        buf_deinit(&b);
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "value does not match schema %d: %s",
                          (int)ser->schema->id, why);
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

int weir_deserialize(weir_registry *reg, const void *data, size_t len, char **json, int32_t *id,
                     weir_registry_error *err)
{
    *json = NULL;
    char why[512] = "";
    int32_t sid;
    const uint8_t *p;
    size_t n;
    if (sdk_wire_parse(data, len, &sid, &p, &n, why, sizeof(why)) != 0)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "%s", why);
    if (id)
        *id = sid;
    sdk_schema_t *s;
    int rc = sdk_registry_schema(reg, sid, &s, err);
    if (rc)
        return rc;
    if (s->type == WEIR_SCHEMA_AVRO) {
        json_t *v;
        rc = sdk_avro_decode(s->avro, p, n, &v, why, sizeof(why));
        if (rc == 0) {
            *json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(v);
        }
    } else {
        json_error_t je;
        json_t *v = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (v)
            *json = weir_strndup((const char *)p, n);
        else
            snprintf(why, sizeof(why), "the payload is not JSON: %s", je.text);
        rc = v ? 0 : -WEIR_ECORRUPT;
        json_decref(v);
    }
    sdk_schema_unref(s);
    if (rc)
        return sdk_regerr(err, WEIR_ERR_CORRUPT, 0, 0, "record of schema %d: %s", (int)sid, why);
    return 0;
}
