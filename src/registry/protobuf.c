/* placeholder */
#include "registry/registry_internal.h"
int reg_proto_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                    bool normalize, const reg_bounds_t *b, char *err, size_t err_size)
{
    reg_errf(err, err_size, "PROTOBUF not yet");
    return -WEIR_EINVAL;
}
void reg_proto_free(void *model) {}
int reg_proto_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    return 0;
}
int reg_proto_decode(const registry_schema_t *s, const int32_t *idx, size_t nidx, const uint8_t *p,
                     size_t n, buf_t *json, char *why, size_t why_size)
{
    return -WEIR_EINVAL;
}
int reg_proto_message_name(const registry_schema_t *s, const int32_t *idx, size_t nidx, char *out,
                           size_t out_size)
{
    return -1;
}
void reg_proto_descriptor(const registry_schema_t *s, buf_t *out) {}
