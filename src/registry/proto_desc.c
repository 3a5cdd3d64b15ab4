/*
 * FileDescriptorProto in and out (descriptor.proto's field numbers), for Confluent's clients:
 * their Protobuf serializers register a base64 FileDescriptorProto instead of .proto text, and
 * their deserializers ask for `format=serialized`. Decoding fills the same model as the text
 * parser (then linked the same way); encoding writes what protoc would for the model, with the
 * standard options we know (java_package, go_package, packed, deprecated, map_entry, ...).
 * Custom options cannot be encoded without their definitions and are left out.
 *
 * Invariant: the decoder reads only within [p, end) and checks every length before use;
 * nesting is bounded by depth_max.
 */
#include "registry/proto_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- reading ------------------------------------------------------------------------------------
 */

typedef struct {
    const uint8_t *p, *end;
    int depth, depth_max;
    char *err;
    size_t err_size;
    bool failed;
} pbr_t;

static int rd_fail(pbr_t *r, const char *what)
{
    if (!r->failed)
        reg_errf(r->err, r->err_size, "FileDescriptorProto: %s", what);
    r->failed = true;
    return -1;
}

static int rd_varint(pbr_t *r, uint64_t *v)
{
    size_t k = varint_decode_u64(r->p, r->end, v);
    if (!k)
        return rd_fail(r, "bad varint");
    r->p += k;
    return 0;
}

static int rd_tag(pbr_t *r, uint32_t *field, int *wt)
{
    uint64_t v;
    if (rd_varint(r, &v))
        return -1;
    *field = (uint32_t)(v >> 3);
    *wt = (int)(v & 7);
    if (*field == 0 || v >> 32)
        return rd_fail(r, "bad tag");
    return 0;
}

static int rd_len(pbr_t *r, pbr_t *sub)
{
    uint64_t n;
    if (rd_varint(r, &n))
        return -1;
    if (n > (uint64_t)(r->end - r->p))
        return rd_fail(r, "length past the end");
    *sub = *r;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

static int rd_skip(pbr_t *r, int wt)
{
    uint64_t v;
    pbr_t sub;
    switch (wt) {
    case 0:
        return rd_varint(r, &v);
    case 1:
    case 5: {
        size_t k = wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < k)
            return rd_fail(r, "truncated fixed field");
        r->p += k;
        return 0;
    }
    case 2:
        return rd_len(r, &sub);
    default:
        return rd_fail(r, "unsupported wire type");
    }
}

static char *rd_string(pbr_t *r, int wt)
{
    pbr_t sub;
    if (wt != 2 || rd_len(r, &sub))
        return rd_fail(r, "expected a string"), NULL;
    size_t n = (size_t)(sub.end - sub.p);
    if (!reg_utf8_valid(sub.p, n) || memchr(sub.p, 0, n))
        return rd_fail(r, "string is not UTF-8 text"), NULL;
    return weir_strndup((const char *)sub.p, n);
}

static int rd_int(pbr_t *r, int wt, int64_t *v)
{
    uint64_t u;
    if (wt != 0 || rd_varint(r, &u))
        return rd_fail(r, "expected a varint");
    *v = (int64_t)u;
    return 0;
}

static void opt_add(pb_opts_t *o, const char *name, const char *value)
{
    PB_PUSH(o->v, o->n, ((pb_option_t){weir_strdup(name), weir_strdup(value)}));
}

static void opt_add_str(pb_opts_t *o, const char *name, const char *s)
{
    buf_t b;
    buf_init(&b);
    reg_json_quote(&b, s, strlen(s));
    buf_append_u8(&b, 0);
    PB_PUSH(o->v, o->n, ((pb_option_t){weir_strdup(name), (char *)b.data}));
}

typedef struct {
    uint32_t field;
    const char *name;
    char kind; /* 's' string, 'b' bool, 'e' optimize_for */
} pb_known_opt_t;

static const pb_known_opt_t file_opts[] = {
    {1, "java_package", 's'},         {8, "java_outer_classname", 's'},
    {10, "java_multiple_files", 'b'}, {11, "go_package", 's'},
    {9, "optimize_for", 'e'},         {23, "deprecated", 'b'},
    {31, "cc_enable_arenas", 'b'},    {36, "objc_class_prefix", 's'},
    {37, "csharp_namespace", 's'},    {39, "swift_prefix", 's'},
    {40, "php_class_prefix", 's'},    {41, "php_namespace", 's'},
    {45, "ruby_package", 's'},        {0, NULL, 0}};
static const pb_known_opt_t msg_opts[] = {{3, "deprecated", 'b'}, {0, NULL, 0}};
static const pb_known_opt_t field_opts[] = {
    {2, "packed", 'b'}, {3, "deprecated", 'b'}, {5, "lazy", 'b'}, {0, NULL, 0}};
static const pb_known_opt_t enum_opts[] = {
    {2, "allow_alias", 'b'}, {3, "deprecated", 'b'}, {0, NULL, 0}};
static const pb_known_opt_t value_opts[] = {{1, "deprecated", 'b'}, {0, NULL, 0}};
static const char *const optimize_names[] = {NULL, "SPEED", "CODE_SIZE", "LITE_RUNTIME"};

/* Reads an *Options message: known options into o, map_entry into *map_entry. */
static int rd_options(pbr_t *r, int wt, const pb_known_opt_t *known, pb_opts_t *o, bool *map_entry)
{
    pbr_t sub;
    if (wt != 2 || rd_len(r, &sub))
        return rd_fail(r, "expected options");
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        const pb_known_opt_t *k = known;
        while (k->name && k->field != fn)
            k++;
        int64_t v;
        if (map_entry && fn == 7) {
            if (rd_int(&sub, fwt, &v) == 0)
                *map_entry = v != 0;
        } else if (!k->name) {
            rd_skip(&sub, fwt);
        } else if (k->kind == 's') {
            char *s = rd_string(&sub, fwt);
            if (s)
                opt_add_str(o, k->name, s);
            free(s);
        } else if (rd_int(&sub, fwt, &v) == 0) {
            if (k->kind == 'b')
                opt_add(o, k->name, v ? "true" : "false");
            else if (v >= 1 && v <= 3)
                opt_add(o, k->name, optimize_names[v]);
        }
    }
    if (sub.failed)
        return rd_fail(r, "bad options");
    return 0;
}

static int rd_range(pbr_t *r, int wt, bool end_exclusive, pb_range_t *out)
{
    pbr_t sub;
    if (wt != 2 || rd_len(r, &sub))
        return rd_fail(r, "expected a range");
    int64_t start = 0, end = 0;
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        if (fn == 1)
            rd_int(&sub, fwt, &start);
        else if (fn == 2)
            rd_int(&sub, fwt, &end);
        else
            rd_skip(&sub, fwt);
    }
    start = (int32_t)start;
    end = (int32_t)end - (end_exclusive ? 1 : 0);
    if (sub.failed || end < start)
        return rd_fail(r, "bad range");
    *out = (pb_range_t){(int32_t)start, (int32_t)end};
    return 0;
}

static int rd_field(pbr_t *r, int wt, pb_msg_t *m)
{
    pbr_t sub;
    if (wt != 2 || rd_len(r, &sub))
        return rd_fail(r, "expected a field");
    pb_field_t fd = {.oneof = -1, .label = PB_LABEL_OPTIONAL};
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        int64_t v = 0;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        switch (fn) {
        case 1:
            free(fd.name);
            fd.name = rd_string(&sub, fwt);
            break;
        case 3:
            if (rd_int(&sub, fwt, &v) == 0)
                fd.number = v < 0 || v > PB_FIELD_NUMBER_MAX ? -1 : (int32_t)v;
            break;
        case 4:
            if (rd_int(&sub, fwt, &v) == 0)
                fd.label = v >= 1 && v <= 3 ? (int)v : PB_LABEL_OPTIONAL;
            break;
        case 5:
            if (rd_int(&sub, fwt, &v) == 0)
                fd.type = v >= 1 && v <= 18 ? (int)v : -1;
            break;
        case 6:
            free(fd.type_name);
            fd.type_name = rd_string(&sub, fwt);
            break;
        case 7:
            free(fd.default_value);
            fd.default_value = rd_string(&sub, fwt);
            break;
        case 8:
            rd_options(&sub, fwt, field_opts, &fd.opts, NULL);
            break;
        case 9:
            if (rd_int(&sub, fwt, &v) == 0)
                fd.oneof = v < 0 || v > 65535 ? 65535 : (int)v;
            break;
        case 10:
            free(fd.json_name);
            fd.json_name = rd_string(&sub, fwt);
            break;
        case 17:
            if (rd_int(&sub, fwt, &v) == 0)
                fd.proto3_optional = v != 0;
            break;
        default:
            rd_skip(&sub, fwt);
        }
    }
    fd.explicit_label = fd.label != PB_LABEL_OPTIONAL || fd.proto3_optional;
    if (fd.type == PB_MESSAGE || fd.type == PB_ENUM || (fd.type == 0 && fd.type_name)) {
        /* resolved by linking */
    } else {
        free(fd.type_name);
        fd.type_name = NULL;
    }
    PB_PUSH(m->fields, m->nfields, fd);
    if (sub.failed)
        return rd_fail(r, "bad field");
    return 0;
}

static pb_enum_t *rd_enum(pbr_t *r, int wt)
{
    pbr_t sub;
    pb_enum_t *e = weir_calloc(1, sizeof(*e));
    if (wt != 2 || rd_len(r, &sub)) {
        rd_fail(r, "expected an enum");
        return e;
    }
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        if (fn == 1) {
            free(e->name);
            e->name = rd_string(&sub, fwt);
        } else if (fn == 2) {
            pbr_t vs;
            if (fwt != 2 || rd_len(&sub, &vs)) {
                rd_fail(&sub, "bad enum value");
                break;
            }
            pb_enum_value_t val = {0};
            while (vs.p < vs.end && !vs.failed) {
                uint32_t vf;
                int vwt;
                int64_t num;
                if (rd_tag(&vs, &vf, &vwt))
                    break;
                if (vf == 1) {
                    free(val.name);
                    val.name = rd_string(&vs, vwt);
                } else if (vf == 2 && rd_int(&vs, vwt, &num) == 0) {
                    val.number = (int32_t)num;
                } else if (vf == 3) {
                    rd_options(&vs, vwt, value_opts, &val.opts, NULL);
                } else if (vf != 2) {
                    rd_skip(&vs, vwt);
                }
            }
            PB_PUSH(e->vals, e->nvals, val);
            if (vs.failed || !val.name)
                rd_fail(&sub, "bad enum value");
        } else if (fn == 3) {
            rd_options(&sub, fwt, enum_opts, &e->opts, NULL);
        } else if (fn == 4) {
            pb_range_t rg;
            if (rd_range(&sub, fwt, false, &rg) == 0)
                PB_PUSH(e->res, e->nres, rg);
        } else if (fn == 5) {
            char *s = rd_string(&sub, fwt);
            if (s)
                PB_PUSH(e->resnames, e->nresnames, s);
        } else {
            rd_skip(&sub, fwt);
        }
    }
    if (sub.failed)
        rd_fail(r, "bad enum");
    return e;
}

static pb_msg_t *rd_msg(pbr_t *r, int wt);

static void rd_msg_item(pbr_t *sub, pb_msg_t *m, uint32_t fn, int fwt)
{
    pb_range_t rg;
    switch (fn) {
    case 1:
        free(m->name);
        m->name = rd_string(sub, fwt);
        break;
    case 2:
        rd_field(sub, fwt, m);
        break;
    case 3: {
        pb_msg_t *n = rd_msg(sub, fwt);
        PB_PUSH(m->msgs, m->nmsgs, n);
        break;
    }
    case 4: {
        pb_enum_t *e = rd_enum(sub, fwt);
        PB_PUSH(m->enums, m->nenums, e);
        break;
    }
    case 5:
        if (rd_range(sub, fwt, true, &rg) == 0)
            PB_PUSH(m->ext, m->next, rg);
        break;
    case 7:
        rd_options(sub, fwt, msg_opts, &m->opts, &m->map_entry);
        break;
    case 8: {
        pbr_t os;
        if (fwt != 2 || rd_len(sub, &os)) {
            rd_fail(sub, "bad oneof");
            break;
        }
        pb_oneof_t o = {0};
        while (os.p < os.end && !os.failed) {
            uint32_t of;
            int owt;
            if (rd_tag(&os, &of, &owt))
                break;
            if (of == 1) {
                free(o.name);
                o.name = rd_string(&os, owt);
            } else {
                rd_skip(&os, owt);
            }
        }
        PB_PUSH(m->oneofs, m->noneofs, o);
        if (os.failed || !o.name)
            rd_fail(sub, "bad oneof");
        break;
    }
    case 9:
        if (rd_range(sub, fwt, true, &rg) == 0)
            PB_PUSH(m->res, m->nres, rg);
        break;
    case 10: {
        char *s = rd_string(sub, fwt);
        if (s)
            PB_PUSH(m->resnames, m->nresnames, s);
        break;
    }
    default:
        rd_skip(sub, fwt);
    }
}

static pb_msg_t *rd_msg(pbr_t *r, int wt)
{
    pbr_t sub;
    pb_msg_t *m = weir_calloc(1, sizeof(*m));
    if (wt != 2 || rd_len(r, &sub)) {
        rd_fail(r, "expected a message");
        return m;
    }
    if (++sub.depth > sub.depth_max) {
        rd_fail(r, "messages nested too deeply");
        return m;
    }
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        rd_msg_item(&sub, m, fn, fwt);
    }
    /* proto3 optional fields sit in synthetic oneofs */
    for (size_t i = 0; i < m->nfields; i++) {
        pb_field_t *fd = &m->fields[i];
        if (fd->proto3_optional && fd->oneof >= 0 && (size_t)fd->oneof < m->noneofs)
            m->oneofs[fd->oneof].synthetic = true;
    }
    if (sub.failed)
        rd_fail(r, "bad message");
    return m;
}

static void rd_service(pbr_t *r, int wt, pb_file_t *f)
{
    pbr_t sub;
    if (wt != 2 || rd_len(r, &sub)) {
        rd_fail(r, "expected a service");
        return;
    }
    pb_service_t s = {0};
    while (sub.p < sub.end && !sub.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&sub, &fn, &fwt))
            break;
        if (fn == 1) {
            free(s.name);
            s.name = rd_string(&sub, fwt);
        } else if (fn == 2) {
            pbr_t ms;
            if (fwt != 2 || rd_len(&sub, &ms)) {
                rd_fail(&sub, "bad method");
                break;
            }
            pb_rpc_t rp = {0};
            while (ms.p < ms.end && !ms.failed) {
                uint32_t mf;
                int mwt;
                int64_t v;
                if (rd_tag(&ms, &mf, &mwt))
                    break;
                char **slot = mf == 1 ? &rp.name : mf == 2 ? &rp.in : mf == 3 ? &rp.out : NULL;
                if (slot) {
                    free(*slot);
                    *slot = rd_string(&ms, mwt);
                } else if ((mf == 5 || mf == 6) && rd_int(&ms, mwt, &v) == 0) {
                    *(mf == 5 ? &rp.client_streaming : &rp.server_streaming) = v != 0;
                } else if (mf != 5 && mf != 6) {
                    rd_skip(&ms, mwt);
                }
            }
            PB_PUSH(s.rpcs, s.nrpcs, rp);
            if (ms.failed || !rp.name || !rp.in || !rp.out)
                rd_fail(&sub, "bad method");
        } else {
            rd_skip(&sub, fwt);
        }
    }
    PB_PUSH(f->svcs, f->nsvcs, s);
    if (sub.failed || !s.name)
        rd_fail(r, "bad service");
}

static void rd_file_item(pbr_t *r, pb_file_t *f, uint32_t fn, int fwt)
{
    int64_t v;
    switch (fn) {
    case 2:
        free(f->package);
        f->package = rd_string(r, fwt);
        break;
    case 3: {
        char *s = rd_string(r, fwt);
        if (!s)
            break;
        PB_PUSH(f->imports, f->nimports, s);
        f->import_kind = weir_realloc(f->import_kind, f->nimports * sizeof(int));
        f->import_kind[f->nimports - 1] = 0;
        break;
    }
    case 4: {
        pb_msg_t *m = rd_msg(r, fwt);
        PB_PUSH(f->msgs, f->nmsgs, m);
        break;
    }
    case 5: {
        pb_enum_t *e = rd_enum(r, fwt);
        PB_PUSH(f->enums, f->nenums, e);
        break;
    }
    case 6:
        rd_service(r, fwt, f);
        break;
    case 8:
        rd_options(r, fwt, file_opts, &f->opts, NULL);
        break;
    case 10:
    case 11:
        if (rd_int(r, fwt, &v) == 0 && v >= 0 && (size_t)v < f->nimports)
            f->import_kind[v] = fn == 10 ? 1 : 2;
        break;
    case 12:
        free(f->syntax);
        f->syntax = rd_string(r, fwt);
        break;
    default:
        rd_skip(r, fwt);
    }
}

int pb_desc_decode(pb_file_t *f, const uint8_t *p, size_t n, int depth_max, char *err,
                   size_t err_size)
{
    pbr_t r = {p, p + n, 0, depth_max, err, err_size, false};
    while (r.p < r.end && !r.failed) {
        uint32_t fn;
        int fwt;
        if (rd_tag(&r, &fn, &fwt))
            break;
        rd_file_item(&r, f, fn, fwt);
    }
    if (r.failed)
        return -1;
    if (f->syntax && strcmp(f->syntax, "proto2") && strcmp(f->syntax, "proto3")) {
        reg_errf(err, err_size, "FileDescriptorProto: syntax %s is not supported", f->syntax);
        return -1;
    }
    return 0;
}

/* ---- writing
 * ------------------------------------------------------------------------------------- */

static void wr_tag(buf_t *b, uint32_t field, int wt)
{
    buf_append_uvarint(b, (uint64_t)field << 3 | (uint64_t)wt);
}

static void wr_int(buf_t *b, uint32_t field, int64_t v)
{
    wr_tag(b, field, 0);
    buf_append_uvarint(b, (uint64_t)v);
}

static void wr_bytes(buf_t *b, uint32_t field, const void *p, size_t n)
{
    wr_tag(b, field, 2);
    buf_append_uvarint(b, n);
    buf_append(b, p, n);
}

static void wr_str(buf_t *b, uint32_t field, const char *s)
{
    if (s)
        wr_bytes(b, field, s, strlen(s));
}

static void wr_sub(buf_t *b, uint32_t field, buf_t *sub)
{
    wr_bytes(b, field, sub->data, sub->len);
    buf_deinit(sub);
}

/* A quoted option value as written in .proto text, unquoted. */
static char *unquote(const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || (v[0] != '"' && v[0] != '\''))
        return weir_strdup(v);
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
    char *s = json_is_string(j) ? weir_strdup(json_string_value(j)) : weir_strndup(v + 1, n - 2);
    json_decref(j);
    return s;
}

static void wr_options(buf_t *b, uint32_t field, const pb_opts_t *o, const pb_known_opt_t *known,
                       bool map_entry)
{
    buf_t sub;
    buf_init(&sub);
    for (size_t i = 0; i < o->n; i++) {
        const pb_known_opt_t *k = known;
        while (k->name && strcmp(k->name, o->v[i].name) != 0)
            k++;
        if (!k->name)
            continue;
        if (k->kind == 's') {
            char *s = unquote(o->v[i].value);
            wr_str(&sub, k->field, s);
            free(s);
        } else if (k->kind == 'b') {
            wr_int(&sub, k->field, strcmp(o->v[i].value, "true") == 0);
        } else {
            for (int e = 1; e <= 3; e++)
                if (strcmp(o->v[i].value, optimize_names[e]) == 0)
                    wr_int(&sub, k->field, e);
        }
    }
    if (map_entry)
        wr_int(&sub, 7, 1);
    if (sub.len)
        wr_sub(b, field, &sub);
    else
        buf_deinit(&sub);
}

static void wr_range(buf_t *b, uint32_t field, const pb_range_t *r, bool end_exclusive)
{
    buf_t sub;
    buf_init(&sub);
    wr_int(&sub, 1, r->start);
    wr_int(&sub, 2, (int64_t)r->end + (end_exclusive ? 1 : 0));
    wr_sub(b, field, &sub);
}

static void wr_field(buf_t *b, const pb_field_t *fd)
{
    buf_t sub;
    buf_init(&sub);
    wr_str(&sub, 1, fd->name);
    wr_int(&sub, 3, fd->number);
    wr_int(&sub, 4, fd->label);
    wr_int(&sub, 5, fd->type);
    if (fd->full_type)
        wr_str(&sub, 6, fd->full_type);
    wr_str(&sub, 7, fd->default_value);
    wr_options(&sub, 8, &fd->opts, field_opts, false);
    if (fd->oneof >= 0)
        wr_int(&sub, 9, fd->oneof);
    wr_str(&sub, 10, fd->json_name);
    if (fd->proto3_optional)
        wr_int(&sub, 17, 1);
    wr_sub(b, 2, &sub);
}

static void wr_enum(buf_t *b, uint32_t field, const pb_enum_t *e)
{
    buf_t sub;
    buf_init(&sub);
    wr_str(&sub, 1, e->name);
    for (size_t i = 0; i < e->nvals; i++) {
        buf_t v;
        buf_init(&v);
        wr_str(&v, 1, e->vals[i].name);
        wr_int(&v, 2, e->vals[i].number);
        wr_options(&v, 3, &e->vals[i].opts, value_opts, false);
        wr_sub(&sub, 2, &v);
    }
    wr_options(&sub, 3, &e->opts, enum_opts, false);
    for (size_t i = 0; i < e->nres; i++)
        wr_range(&sub, 4, &e->res[i], false);
    for (size_t i = 0; i < e->nresnames; i++)
        wr_str(&sub, 5, e->resnames[i]);
    wr_sub(b, field, &sub);
}

static void wr_msg(buf_t *b, uint32_t field, const pb_msg_t *m)
{
    buf_t sub;
    buf_init(&sub);
    wr_str(&sub, 1, m->name);
    for (size_t i = 0; i < m->nfields; i++)
        wr_field(&sub, &m->fields[i]);
    for (size_t i = 0; i < m->nmsgs; i++)
        wr_msg(&sub, 3, m->msgs[i]);
    for (size_t i = 0; i < m->nenums; i++)
        wr_enum(&sub, 4, m->enums[i]);
    for (size_t i = 0; i < m->next; i++)
        wr_range(&sub, 5, &m->ext[i], true);
    wr_options(&sub, 7, &m->opts, msg_opts, m->map_entry);
    for (size_t i = 0; i < m->noneofs; i++) {
        buf_t o;
        buf_init(&o);
        wr_str(&o, 1, m->oneofs[i].name);
        wr_sub(&sub, 8, &o);
    }
    for (size_t i = 0; i < m->nres; i++)
        wr_range(&sub, 9, &m->res[i], true);
    for (size_t i = 0; i < m->nresnames; i++)
        wr_str(&sub, 10, m->resnames[i]);
    wr_sub(b, field, &sub);
}

void pb_desc_encode(const pb_file_t *f, const char *name, buf_t *out)
{
    wr_str(out, 1, name);
    wr_str(out, 2, f->package);
    for (size_t i = 0; i < f->nimports; i++)
        wr_str(out, 3, f->imports[i]);
    for (size_t i = 0; i < f->nmsgs; i++)
        wr_msg(out, 4, f->msgs[i]);
    for (size_t i = 0; i < f->nenums; i++)
        wr_enum(out, 5, f->enums[i]);
    for (size_t i = 0; i < f->nsvcs; i++) {
        const pb_service_t *s = &f->svcs[i];
        buf_t sub;
        buf_init(&sub);
        wr_str(&sub, 1, s->name);
        for (size_t k = 0; k < s->nrpcs; k++) {
            buf_t m;
            buf_init(&m);
            wr_str(&m, 1, s->rpcs[k].name);
            wr_str(&m, 2, s->rpcs[k].full_in);
            wr_str(&m, 3, s->rpcs[k].full_out);
            if (s->rpcs[k].client_streaming)
                wr_int(&m, 5, 1);
            if (s->rpcs[k].server_streaming)
                wr_int(&m, 6, 1);
            wr_sub(&sub, 2, &m);
        }
        wr_sub(out, 6, &sub);
    }
    wr_options(out, 8, &f->opts, file_opts, false);
    for (size_t i = 0; i < f->nimports; i++)
        if (f->import_kind[i] == 1)
            wr_int(out, 10, (int64_t)i);
    for (size_t i = 0; i < f->nimports; i++)
        if (f->import_kind[i] == 2)
            wr_int(out, 11, (int64_t)i);
    wr_str(out, 12, f->syntax && strcmp(f->syntax, "proto2") ? f->syntax : NULL);
}
