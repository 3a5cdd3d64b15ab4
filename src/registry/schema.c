/*
 * The schema object shared by the three types: one entry point per operation (parse, compare,
 * decode) that checks the bounds every type shares (size, UTF-8) and dispatches to avro.c,
 * jsonschema.c or protobuf.c. Also the names of types and compatibility levels.
 *
 * Invariant: a registry_schema_t that parse returned is complete (canonical form and model);
 * one that failed was freed here and nothing of it escapes.
 */
#include "registry/registry_internal.h"

#include <stdlib.h>
#include <strings.h>

static const char *const type_names[] = {"AVRO", "JSON", "PROTOBUF"};
static const char *const compat_names[] = {
    "NONE", "BACKWARD",       "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE"};

const char *registry_type_name(registry_type_t t)
{
    return (unsigned)t < WEIR_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

int registry_type_parse(const char *s, registry_type_t *t)
{
    for (size_t i = 0; s && i < WEIR_ARRAY_LEN(type_names); i++)
        if (strcmp(s, type_names[i]) == 0) {
            *t = (registry_type_t)i;
            return 0;
        }
    return -WEIR_EINVAL;
}

const char *registry_compat_name(registry_compat_t c)
{
    return (unsigned)c < WEIR_ARRAY_LEN(compat_names) ? compat_names[c] : "?";
}

int registry_compat_parse(const char *s, registry_compat_t *c)
{
    /* Confluent accepts the levels in any case ("backward", "BACKWARD") */
    for (size_t i = 0; s && i < WEIR_ARRAY_LEN(compat_names); i++)
        if (strcasecmp(s, compat_names[i]) == 0) {
            *c = (registry_compat_t)i;
            return 0;
        }
    return -WEIR_EINVAL;
}

static void schema_free_model(registry_schema_t *s)
{
    if (!s->model)
        return;
    switch (s->type) {
    case REGISTRY_AVRO:
        reg_avro_free(s->model);
        break;
    case REGISTRY_JSON:
        reg_json_free(s->model);
        break;
    case REGISTRY_PROTOBUF:
        reg_proto_free(s->model);
        break;
    }
    s->model = NULL;
}

void registry_schema_free(registry_schema_t *s)
{
    if (!s)
        return;
    schema_free_model(s);
    free(s->canonical);
    free(s->pcf);
    for (size_t i = 0; i < s->refs.count; i++)
        free((char *)s->refs.names[i]);
    free((void *)s->refs.names);
    free((void *)s->refs.schemas);
    free(s);
}

int reg_schema_parse_refs(registry_type_t type, const char *text, size_t len,
                          const reg_refs_t *refs, bool normalize, const reg_bounds_t *b,
                          registry_schema_t **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!text || len == 0) {
        reg_errf(err, err_size, "Empty schema");
        return -WEIR_EINVAL;
    }
    if (len > b->schema_bytes_max) {
        reg_errf(err, err_size, "schema of %zu bytes is larger than the limit of %zu", len,
                 b->schema_bytes_max);
        return -WEIR_ETOOBIG;
    }
    if (!reg_utf8_valid((const uint8_t *)text, len)) {
        reg_errf(err, err_size, "schema is not valid UTF-8");
        return -WEIR_EINVAL;
    }
    if (memchr(text, 0, len)) {
        reg_errf(err, err_size, "schema holds a NUL byte");
        return -WEIR_EINVAL;
    }
    registry_schema_t *s = weir_calloc(1, sizeof(*s));
    s->type = type;
    size_t n = refs ? refs->count : 0;
    s->refs.names = weir_calloc(n + 1, sizeof(char *));
    s->refs.schemas = weir_calloc(n + 1, sizeof(registry_schema_t *));
    s->refs.count = n;
    for (size_t i = 0; i < n; i++) {
        ((char **)s->refs.names)[i] = weir_strdup(refs->names[i]);
        ((const registry_schema_t **)s->refs.schemas)[i] = refs->schemas[i];
    }
    int rc;
    switch (type) {
    case REGISTRY_AVRO:
        rc = reg_avro_parse(s, text, len, &s->refs, normalize, b, err, err_size);
        break;
    case REGISTRY_JSON:
        rc = reg_json_parse(s, text, len, &s->refs, normalize, b, err, err_size);
        break;
    case REGISTRY_PROTOBUF:
        rc = reg_proto_parse(s, text, len, &s->refs, normalize, b, err, err_size);
        break;
    default:
        reg_errf(err, err_size, "unknown schema type");
        rc = -WEIR_EINVAL;
    }
    if (rc) {
        registry_schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int registry_schema_parse(registry_type_t type, const char *text, size_t len, bool normalize,
                          registry_schema_t **out, char *err, size_t err_size)
{
    registry_limits_t lim;
    registry_limits_default(&lim);
    reg_bounds_t b = {lim.schema_bytes_max, lim.depth_max};
    return reg_schema_parse_refs(type, text, len, NULL, normalize, &b, out, err, err_size);
}

const char *registry_schema_canonical(const registry_schema_t *s)
{
    return s->canonical;
}

registry_type_t registry_schema_type(const registry_schema_t *s)
{
    return s->type;
}

const char *registry_schema_avro_pcf(const registry_schema_t *s)
{
    return s->type == REGISTRY_AVRO ? s->pcf : NULL;
}

int reg_schema_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    if (reader->type != writer->type) {
        reg_compat_msg(msgs, "TYPE_MISMATCH", "", "The schema type changed from %s to %s",
                       registry_type_name(writer->type), registry_type_name(reader->type));
        return 1;
    }
    switch (reader->type) {
    case REGISTRY_AVRO:
        return reg_avro_compat(reader, writer, msgs);
    case REGISTRY_JSON:
        return reg_json_compat(reader, writer, msgs);
    case REGISTRY_PROTOBUF:
        return reg_proto_compat(reader, writer, msgs);
    }
    return 1;
}

int registry_schema_compat(const registry_schema_t *reader, const registry_schema_t *writer,
                           buf_t *msgs)
{
    size_t from = msgs ? msgs->len : 0;
    int n = reg_schema_compat(reader, writer, msgs);
    for (size_t i = from; msgs && i < msgs->len; i++)
        if (msgs->data[i] == (uint8_t)REG_MSG_SEP)
            msgs->data[i] = '\n';
    return n;
}

int registry_schema_decode(const registry_schema_t *s, const int32_t *msg_index, size_t nindex,
                           const uint8_t *p, size_t n, buf_t *json, char *why, size_t why_size)
{
    switch (s->type) {
    case REGISTRY_AVRO:
        return reg_avro_decode(s, p, n, json, why, why_size);
    case REGISTRY_JSON:
        return reg_json_decode(s, p, n, json, why, why_size);
    case REGISTRY_PROTOBUF:
        return reg_proto_decode(s, msg_index, nindex, p, n, json, why, why_size);
    }
    return -WEIR_EINVAL;
}

int registry_wire_header(const uint8_t *p, size_t n, int32_t *id)
{
    if (!p || n < 5 || p[0] != 0)
        return -WEIR_EINVAL;
    *id = (int32_t)be32_read(p + 1);
    return 0;
}
