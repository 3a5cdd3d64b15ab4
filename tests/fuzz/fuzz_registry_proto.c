/*
 * libFuzzer target for Protobuf schemas: the input as .proto text, and the same bytes as a
 * FileDescriptorProto (base64, as Confluent's serializers send it), with the oracles of
 * fuzz_registry_schema.h. Seeds: tests/fuzz/corpus/registry_proto/.
 */
#include "fuzz_registry_schema.h"
#include "registry/registry_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_schema_one(REGISTRY_PROTOBUF, (const char *)data, size, false);
    if (size > 64 << 10)
        return 0;
    buf_t b64;
    buf_init(&b64);
    reg_base64_encode(&b64, data, size);
    fuzz_schema_one(REGISTRY_PROTOBUF, (const char *)b64.data, b64.len, false);
    fuzz_schema_one(REGISTRY_PROTOBUF, (const char *)b64.data, b64.len, true);
    buf_deinit(&b64);
    return 0;
}
