/* placeholder */
#include "registry/registry_internal.h"
int reg_json_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                   bool normalize, const reg_bounds_t *b, char *err, size_t err_size)
{
    reg_errf(err, err_size, "JSON not yet");
    return -WEIR_EINVAL;
}
void reg_json_free(void *model)
{
    json_decref(model);
}
int reg_json_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    return 0;
}
int reg_json_decode(const registry_schema_t *s, const uint8_t *p, size_t n, buf_t *json, char *why,
                    size_t why_size)
{
    return -WEIR_EINVAL;
}
const char *reg_json_record_name(const registry_schema_t *s)
{
    return NULL;
}
