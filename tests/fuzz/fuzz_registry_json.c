/*
 * libFuzzer target for JSON Schema checking, with the oracles of fuzz_registry_schema.h.
 * Seeds: tests/fuzz/corpus/registry_json/.
 */
#include "fuzz_registry_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_schema_one(REGISTRY_JSON, (const char *)data, size, false);
    fuzz_schema_one(REGISTRY_JSON, (const char *)data, size, true);
    return 0;
}
