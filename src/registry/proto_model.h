/*
 * The Protobuf schema model shared by protobuf.c (the .proto text parser, name resolution and
 * printer), proto_desc.c (FileDescriptorProto in and out) and proto_wire.c (compatibility and
 * payload decoding). Internal to src/registry.
 *
 * A pb_file_t owns everything below it; `syms` maps fully-qualified names (".pkg.Msg") to the
 * messages and enums of this file and of the files it imports (those are owned by their own
 * registry schemas, which outlive this one).
 */
#ifndef WEIR_REGISTRY_PROTO_MODEL_H
#define WEIR_REGISTRY_PROTO_MODEL_H

#include "registry/registry_internal.h"

/* FieldDescriptorProto.Type and .Label numbers */
enum {
    PB_DOUBLE = 1,
    PB_FLOAT = 2,
    PB_INT64 = 3,
    PB_UINT64 = 4,
    PB_INT32 = 5,
    PB_FIXED64 = 6,
    PB_FIXED32 = 7,
    PB_BOOL = 8,
    PB_STRING = 9,
    PB_GROUP = 10,
    PB_MESSAGE = 11,
    PB_BYTES = 12,
    PB_UINT32 = 13,
    PB_ENUM = 14,
    PB_SFIXED32 = 15,
    PB_SFIXED64 = 16,
    PB_SINT32 = 17,
    PB_SINT64 = 18
};
enum { PB_LABEL_OPTIONAL = 1, PB_LABEL_REQUIRED = 2, PB_LABEL_REPEATED = 3 };
enum { PB_FIELD_NUMBER_MAX = 536870911 };

typedef struct {
    char *name;  /* "java_package", "(my.opt).x" */
    char *value; /* as written: "\"x\"", "true", "SPEED", "{ a: 1 }" */
} pb_option_t;

typedef struct {
    pb_option_t *v;
    size_t n;
} pb_opts_t;

typedef struct pb_msg pb_msg_t;
typedef struct pb_enum pb_enum_t;

typedef struct {
    char *name;
    int32_t number;
    int label;           /* PB_LABEL_* */
    bool explicit_label; /* "optional"/"required"/"repeated" written */
    bool proto3_optional;
    int type;        /* PB_* */
    char *type_name; /* message/enum as written, NULL for scalars */
    char *full_type; /* resolved ".pkg.Type" */
    pb_msg_t *msg;
    pb_enum_t *en;
    int oneof; /* index in the message's oneofs, -1 */
    char *default_value;
    char *json_name;
    pb_opts_t opts;
} pb_field_t;

typedef struct {
    int32_t start, end; /* inclusive */
} pb_range_t;

typedef struct {
    char *name;
    int32_t number;
    pb_opts_t opts;
} pb_enum_value_t;

struct pb_enum {
    char *name, *full;
    pb_enum_value_t *vals;
    size_t nvals;
    pb_range_t *res;
    size_t nres;
    char **resnames;
    size_t nresnames;
    pb_opts_t opts;
};

typedef struct {
    char *name;
    bool synthetic; /* proto3 `optional` */
    pb_opts_t opts;
} pb_oneof_t;

struct pb_msg {
    char *name, *full;
    pb_field_t *fields;
    size_t nfields;
    pb_msg_t **msgs;
    size_t nmsgs;
    pb_enum_t **enums;
    size_t nenums;
    pb_oneof_t *oneofs;
    size_t noneofs;
    pb_range_t *res;
    size_t nres;
    char **resnames;
    size_t nresnames;
    pb_range_t *ext; /* extensions ranges, kept for printing */
    size_t next;
    pb_opts_t opts;
    bool map_entry;
};

typedef struct {
    char *name, *in, *out;
    char *full_in, *full_out; /* resolved ".pkg.Msg" */
    bool client_streaming, server_streaming;
    pb_opts_t opts;
} pb_rpc_t;

typedef struct {
    char *name;
    pb_rpc_t *rpcs;
    size_t nrpcs;
    pb_opts_t opts;
} pb_service_t;

typedef struct {
    int kind; /* PB_MESSAGE or PB_ENUM */
    void *p;
} pb_sym_t;

typedef struct pb_file {
    char *syntax; /* "proto2", "proto3" */
    char *package;
    char **imports;
    int *import_kind; /* 0, 1 public, 2 weak */
    size_t nimports;
    pb_msg_t **msgs;
    size_t nmsgs;
    pb_enum_t **enums;
    size_t nenums;
    pb_service_t *svcs;
    size_t nsvcs;
    pb_opts_t opts;
    reg_map_t syms;               /* ".pkg.Name" -> pb_sym_t (owned) */
    registry_schema_t **builtins; /* well-known imports parsed here */
    size_t nbuiltins;
} pb_file_t;

#define PB_PUSH(arr, n, item)                                                                      \
    do {                                                                                           \
        (arr) = weir_realloc((arr), ((n) + 1) * sizeof(*(arr)));                                   \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

pb_file_t *pb_file_new(void);
void pb_file_free(pb_file_t *f);
/* Checks and resolves a file built by the parser or the descriptor decoder. */
int pb_file_link(pb_file_t *f, const reg_refs_t *refs, const reg_bounds_t *b, char *err,
                 size_t err_size);
void pb_file_print(const pb_file_t *f, bool normalize, buf_t *out);
/* FileDescriptorProto */
int pb_desc_decode(pb_file_t *f, const uint8_t *p, size_t n, int depth_max, char *err,
                   size_t err_size);
void pb_desc_encode(const pb_file_t *f, const char *name, buf_t *out);
bool pb_is_scalar_name(const char *s, int *type);
const char *pb_scalar_name(int type);

#endif
