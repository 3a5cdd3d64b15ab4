/*
 * Protobuf compatibility (Confluent's rules: field numbers keep their kind and type, required
 * fields are neither added nor removed, oneofs do not lose fields nor swallow several existing
 * ones, messages and the package stay; plus Weir's: a new field must not reuse a number or a
 * name the old schema reserved) and payload decoding on the wire format, against the message
 * Confluent's message indexes select.
 *
 * Invariant: decoding reads only within the payload, recursion is bounded, and nothing is
 * allocated unless JSON output is asked for.
 */
#include "registry/proto_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- compatibility --------------------------------------------------------------------------- */

typedef struct {
    buf_t *msgs;
    int count;
} pb_compat_t;

#define PB_FAIL(c, type, ...) ((c)->count++, reg_compat_msg((c)->msgs, type, "", __VA_ARGS__))

static int scalar_group(int t)
{
    switch (t) {
    case PB_INT32:
    case PB_UINT32:
    case PB_INT64:
    case PB_UINT64:
    case PB_BOOL:
        return 1;
    case PB_SINT32:
    case PB_SINT64:
        return 2;
    case PB_FIXED32:
    case PB_SFIXED32:
        return 3;
    case PB_FIXED64:
    case PB_SFIXED64:
        return 4;
    case PB_STRING:
    case PB_BYTES:
        return 5;
    default:
        return 100 + t;
    }
}

static const pb_field_t *field_by_number(const pb_msg_t *m, int32_t n)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].number == n)
            return &m->fields[i];
    return NULL;
}

static bool is_real_oneof(const pb_msg_t *m, int idx)
{
    return idx >= 0 && !m->oneofs[idx].synthetic;
}

static void cmp_field(pb_compat_t *c, const pb_msg_t *rm, const pb_field_t *rf, const pb_msg_t *wm,
                      const pb_field_t *wf)
{
    const char *path = rm->full + 1;
    bool rscalar = rf->type != PB_MESSAGE && rf->type != PB_ENUM;
    bool wscalar = wf->type != PB_MESSAGE && wf->type != PB_ENUM;
    if (rscalar != wscalar || (!rscalar && rf->type != wf->type)) {
        PB_FAIL(c, "FIELD_KIND_CHANGED",
                "The kind of field %" PRId32 " at path '#/%s' changed (%s to %s)", rf->number, path,
                wscalar ? pb_scalar_name(wf->type) : wf->full_type,
                rscalar ? pb_scalar_name(rf->type) : rf->full_type);
    } else if (rscalar && scalar_group(rf->type) != scalar_group(wf->type)) {
        PB_FAIL(c, "FIELD_SCALAR_KIND_CHANGED",
                "The scalar type of field %" PRId32 " at path '#/%s' changed from %s to %s",
                rf->number, path, pb_scalar_name(wf->type), pb_scalar_name(rf->type));
    } else if (!rscalar) {
        const char *a = strrchr(rf->full_type, '.'), *b = strrchr(wf->full_type, '.');
        if (strcmp(a ? a : rf->full_type, b ? b : wf->full_type) != 0)
            PB_FAIL(c, "FIELD_NAMED_TYPE_CHANGED",
                    "The type of field %" PRId32 " at path '#/%s' changed from %s to %s",
                    rf->number, path, wf->full_type, rf->full_type);
    }
    if ((rf->label == PB_LABEL_REPEATED) != (wf->label == PB_LABEL_REPEATED) &&
        !(rf->type == PB_STRING || rf->type == PB_BYTES || rf->type == PB_MESSAGE))
        PB_FAIL(c, "FIELD_KIND_CHANGED",
                "Field %" PRId32 " at path '#/%s' changed between repeated and singular",
                rf->number, path);
    if (rf->label == PB_LABEL_REQUIRED && wf->label != PB_LABEL_REQUIRED)
        PB_FAIL(c, "REQUIRED_FIELD_ADDED", "Field %" PRId32 " at path '#/%s' became required",
                rf->number, path);
    if (wf->label == PB_LABEL_REQUIRED && rf->label != PB_LABEL_REQUIRED)
        PB_FAIL(c, "REQUIRED_FIELD_REMOVED",
                "Field %" PRId32 " at path '#/%s' is no longer required", rf->number, path);
    if (is_real_oneof(rm, rf->oneof) && !is_real_oneof(wm, wf->oneof)) {
        /* moved into a oneof: fine if the oneof is new and takes only this old field */
        int moved = 0;
        bool existing = false;
        for (size_t i = 0; i < rm->nfields; i++) {
            if (rm->fields[i].oneof != rf->oneof)
                continue;
            const pb_field_t *old = field_by_number(wm, rm->fields[i].number);
            if (old && is_real_oneof(wm, old->oneof))
                existing = true;
            else if (old)
                moved++;
        }
        if (existing)
            PB_FAIL(c, "FIELD_MOVED_TO_EXISTING_ONEOF",
                    "Field %" PRId32 " at path '#/%s' moved into an existing oneof", rf->number,
                    path);
        else if (moved > 1)
            PB_FAIL(c, "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                    "Several existing fields at path '#/%s' moved into oneof %s", path,
                    rm->oneofs[rf->oneof].name);
    }
}

static void cmp_msg(pb_compat_t *c, const pb_msg_t *rm, const pb_msg_t *wm)
{
    const char *path = rm->full + 1;
    for (size_t i = 0; i < wm->nfields; i++) {
        const pb_field_t *wf = &wm->fields[i];
        const pb_field_t *rf = field_by_number(rm, wf->number);
        if (rf) {
            cmp_field(c, rm, rf, wm, wf);
            continue;
        }
        if (wf->label == PB_LABEL_REQUIRED)
            PB_FAIL(c, "REQUIRED_FIELD_REMOVED",
                    "Required field %" PRId32 " at path '#/%s' was removed", wf->number, path);
        if (is_real_oneof(wm, wf->oneof))
            PB_FAIL(c, "ONEOF_FIELD_REMOVED",
                    "Field %" PRId32 " of oneof %s at path '#/%s' was removed", wf->number,
                    wm->oneofs[wf->oneof].name, path);
    }
    for (size_t i = 0; i < rm->nfields; i++) {
        const pb_field_t *rf = &rm->fields[i];
        if (field_by_number(wm, rf->number))
            continue;
        if (rf->label == PB_LABEL_REQUIRED)
            PB_FAIL(c, "REQUIRED_FIELD_ADDED",
                    "Required field %" PRId32 " at path '#/%s' was added", rf->number, path);
        bool num_reserved = false, name_reserved = false;
        for (size_t k = 0; k < wm->nres; k++)
            num_reserved =
                num_reserved || (rf->number >= wm->res[k].start && rf->number <= wm->res[k].end);
        for (size_t k = 0; k < wm->nresnames; k++)
            name_reserved = name_reserved || strcmp(wm->resnames[k], rf->name) == 0;
        if (num_reserved || name_reserved)
            PB_FAIL(c, "RESERVED_FIELD_REUSED",
                    "Field %s = %" PRId32 " at path '#/%s' reuses a %s the old schema reserved",
                    rf->name, rf->number, path, num_reserved ? "number" : "name");
    }
    for (size_t i = 0; i < wm->nmsgs; i++) {
        const pb_msg_t *wn = wm->msgs[i];
        const pb_msg_t *rn = NULL;
        for (size_t k = 0; k < rm->nmsgs && !rn; k++)
            if (strcmp(rm->msgs[k]->name, wn->name) == 0)
                rn = rm->msgs[k];
        if (rn)
            cmp_msg(c, rn, wn);
        else if (!wn->map_entry)
            PB_FAIL(c, "MESSAGE_REMOVED", "Message %s was removed", wn->full + 1);
    }
}

int reg_proto_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    const pb_file_t *r = reader->model, *w = writer->model;
    pb_compat_t c = {msgs, 0};
    const char *rp = r->package ? r->package : "", *wp = w->package ? w->package : "";
    if (strcmp(rp, wp) != 0)
        PB_FAIL(&c, "PACKAGE_CHANGED", "The package changed from '%s' to '%s'", wp, rp);
    for (size_t i = 0; i < w->nmsgs; i++) {
        const pb_msg_t *rm = NULL;
        for (size_t k = 0; k < r->nmsgs && !rm; k++)
            if (strcmp(r->msgs[k]->name, w->msgs[i]->name) == 0)
                rm = r->msgs[k];
        if (rm)
            cmp_msg(&c, rm, w->msgs[i]);
        else
            PB_FAIL(&c, "MESSAGE_REMOVED", "Message %s was removed", w->msgs[i]->full + 1);
    }
    return c.count;
}

/* ---- payload decoding ---------------------------------------------------------------------------
 */

enum { PB_DECODE_DEPTH_MAX = 64 };

typedef struct {
    const uint8_t *start;
    char *why;
    size_t why_size;
    bool strict_utf8; /* proto3 strings */
} pb_dec_t;

static int dec_fail(pb_dec_t *d, const uint8_t *at, const char *what, const char *msg_name)
{
    reg_errf(d->why, d->why_size, "Protobuf: %s (message %s, byte %td)", what, msg_name,
             at - d->start);
    return -WEIR_EINVAL;
}

static int wire_type_of(const pb_field_t *fd)
{
    switch (fd->type) {
    case PB_DOUBLE:
    case PB_FIXED64:
    case PB_SFIXED64:
        return 1;
    case PB_FLOAT:
    case PB_FIXED32:
    case PB_SFIXED32:
        return 5;
    case PB_STRING:
    case PB_BYTES:
    case PB_MESSAGE:
        return 2;
    default:
        return 0;
    }
}

/* Reads one field value's extent: [*vp, *vp + *vn) for length-delimited, fixed or varint. */
static int read_value(const uint8_t **p, const uint8_t *end, int wt, const uint8_t **vp, size_t *vn)
{
    uint64_t v;
    size_t k;
    *vp = *p;
    switch (wt) {
    case 0:
        if (!(k = varint_decode_u64(*p, end, &v)))
            return -1;
        *vn = k;
        break;
    case 1:
    case 5:
        k = wt == 1 ? 8 : 4;
        if ((size_t)(end - *p) < k)
            return -1;
        *vn = k;
        break;
    case 2:
        if (!(k = varint_decode_u64(*p, end, &v)) || v > (uint64_t)(end - *p - (ptrdiff_t)k))
            return -1;
        *vp = *p + k;
        *vn = (size_t)v;
        *p += k;
        break;
    default:
        return -1;
    }
    *p = *vp + *vn;
    return 0;
}

static int dec_msg(pb_dec_t *d, const pb_msg_t *m, const uint8_t *p, const uint8_t *end, int depth,
                   buf_t *json);

static int dec_packed(pb_dec_t *d, const pb_msg_t *m, const pb_field_t *fd, const uint8_t *vp,
                      size_t vn)
{
    int ewt = wire_type_of(fd);
    const uint8_t *q = vp, *qe = vp + vn;
    while (q < qe) {
        const uint8_t *ip;
        size_t in;
        if (read_value(&q, qe, ewt, &ip, &in))
            return dec_fail(d, q, "bad packed repeated value", m->full + 1);
    }
    return 0;
}

static int check_value(pb_dec_t *d, const pb_msg_t *m, const pb_field_t *fd, int wt,
                       const uint8_t *vp, size_t vn, int depth)
{
    int ewt = wire_type_of(fd);
    if (wt != ewt) {
        bool packable = ewt != 2 && fd->label == PB_LABEL_REPEATED && wt == 2;
        if (!packable) {
            char msg[128];
            snprintf(msg, sizeof(msg), "field %s has wire type %d, its type needs %d", fd->name, wt,
                     ewt);
            return dec_fail(d, vp, msg, m->full + 1);
        }
        return dec_packed(d, m, fd, vp, vn);
    }
    if (fd->type == PB_MESSAGE)
        return dec_msg(d, fd->msg, vp, vp + vn, depth + 1, NULL);
    if (fd->type == PB_STRING && d->strict_utf8 && !reg_utf8_valid(vp, vn))
        return dec_fail(d, vp, "string field is not UTF-8", m->full + 1);
    if (fd->type == PB_BOOL || fd->type == PB_INT32 || fd->type == PB_UINT32 ||
        fd->type == PB_SINT32 || fd->type == PB_ENUM) {
        uint64_t v;
        varint_decode_u64(vp, vp + vn, &v);
        if (fd->type == PB_UINT32 && v > UINT32_MAX)
            return dec_fail(d, vp, "uint32 out of range", m->full + 1);
        if (fd->type == PB_SINT32 && v > UINT32_MAX)
            return dec_fail(d, vp, "sint32 out of range", m->full + 1);
    }
    return 0;
}

static void json_scalar(buf_t *out, const pb_field_t *fd, const uint8_t *vp, size_t vn);

static int dec_json(pb_dec_t *d, const pb_msg_t *m, const uint8_t *p, const uint8_t *end, int depth,
                    buf_t *json);

static int dec_msg(pb_dec_t *d, const pb_msg_t *m, const uint8_t *p, const uint8_t *end, int depth,
                   buf_t *json)
{
    if (depth > PB_DECODE_DEPTH_MAX)
        return dec_fail(d, p, "message nested too deeply", m->full + 1);
    uint64_t seen_required[16] = {0};
    const uint8_t *begin = p;
    while (p < end) {
        uint64_t key;
        size_t k = varint_decode_u64(p, end, &key);
        if (!k || (key >> 3) == 0 || (key >> 3) > PB_FIELD_NUMBER_MAX)
            return dec_fail(d, p, "bad field tag", m->full + 1);
        const uint8_t *tag_at = p;
        p += k;
        int wt = (int)(key & 7);
        const uint8_t *vp;
        size_t vn;
        if (wt == 3 || wt == 4)
            return dec_fail(d, tag_at, "groups are not supported", m->full + 1);
        if (read_value(&p, end, wt, &vp, &vn))
            return dec_fail(d, tag_at, "field value runs past the end", m->full + 1);
        const pb_field_t *fd = field_by_number(m, (int32_t)(key >> 3));
        if (!fd)
            continue; /* unknown fields are kept by readers: fine */
        size_t idx = (size_t)(fd - m->fields);
        if (fd->label == PB_LABEL_REQUIRED && idx < 16 * 64)
            seen_required[idx / 64] |= 1ull << (idx % 64);
        int rc = check_value(d, m, fd, wt, vp, vn, depth);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < m->nfields && i < 16 * 64; i++)
        if (m->fields[i].label == PB_LABEL_REQUIRED && !(seen_required[i / 64] >> (i % 64) & 1))
            return dec_fail(d, end, "a required field is missing", m->full + 1);
    return json ? dec_json(d, m, begin, end, depth, json) : 0;
}

/* ---- JSON output (the payload was checked already) ----------------------------------------------
 */

static void json_scalar(buf_t *out, const pb_field_t *fd, const uint8_t *vp, size_t vn)
{
    uint64_t v = 0;
    if (fd->type != PB_STRING && fd->type != PB_BYTES && fd->type != PB_MESSAGE) {
        if (vn == 4 || vn == 8) {
            if (wire_type_of(fd) != 0)
                for (size_t i = vn; i > 0; i--)
                    v = v << 8 | vp[i - 1];
            else
                varint_decode_u64(vp, vp + vn, &v);
        } else {
            varint_decode_u64(vp, vp + vn, &v);
        }
    }
    switch (fd->type) {
    case PB_STRING:
        reg_json_quote(out, (const char *)vp, vn);
        return;
    case PB_BYTES:
        buf_append_u8(out, '"');
        reg_base64_encode(out, vp, vn);
        buf_append_u8(out, '"');
        return;
    case PB_BOOL:
        buf_append_str(out, v ? "true" : "false");
        return;
    case PB_INT32:
        buf_printf(out, "%" PRId32, (int32_t)v);
        return;
    case PB_SINT32:
        buf_printf(out, "%" PRId64, zigzag_decode(v));
        return;
    case PB_UINT32:
    case PB_FIXED32:
        buf_printf(out, "%" PRIu32, (uint32_t)v);
        return;
    case PB_SFIXED32:
        buf_printf(out, "%" PRId32, (int32_t)(uint32_t)v);
        return;
    case PB_INT64:
    case PB_SFIXED64:
        buf_printf(out, "\"%" PRId64 "\"", (int64_t)v);
        return;
    case PB_SINT64:
        buf_printf(out, "\"%" PRId64 "\"", zigzag_decode(v));
        return;
    case PB_UINT64:
    case PB_FIXED64:
        buf_printf(out, "\"%" PRIu64 "\"", v);
        return;
    case PB_FLOAT: {
        float f;
        uint32_t u = (uint32_t)v;
        memcpy(&f, &u, 4);
        if (isfinite(f))
            buf_printf(out, "%.9g", f);
        else
            buf_append_str(out, "null");
        return;
    }
    case PB_DOUBLE: {
        double x;
        memcpy(&x, &v, 8);
        if (isfinite(x))
            buf_printf(out, "%.17g", x);
        else
            buf_append_str(out, "null");
        return;
    }
    case PB_ENUM:
        for (size_t i = 0; fd->en && i < fd->en->nvals; i++)
            if (fd->en->vals[i].number == (int32_t)v) {
                reg_json_quote(out, fd->en->vals[i].name, strlen(fd->en->vals[i].name));
                return;
            }
        buf_printf(out, "%" PRId32, (int32_t)v);
        return;
    default:
        buf_append_str(out, "null");
    }
}

static void json_value(pb_dec_t *d, const pb_field_t *fd, int wt, const uint8_t *vp, size_t vn,
                       int depth, buf_t *json, bool *first)
{
    if (fd->type == PB_MESSAGE && wt == 2) {
        if (!*first)
            buf_append_u8(json, ',');
        *first = false;
        dec_msg(d, fd->msg, vp, vp + vn, depth + 1, json);
        return;
    }
    if (wt == 2 && wire_type_of(fd) != 2) { /* packed */
        const uint8_t *q = vp, *qe = vp + vn, *ip;
        size_t in;
        while (q < qe && read_value(&q, qe, wire_type_of(fd), &ip, &in) == 0) {
            if (!*first)
                buf_append_u8(json, ',');
            *first = false;
            json_scalar(json, fd, ip, in);
        }
        return;
    }
    if (!*first)
        buf_append_u8(json, ',');
    *first = false;
    json_scalar(json, fd, vp, vn);
}

/* One pass per known field, in schema order; repeated fields as arrays, last one wins else. */
static int dec_json(pb_dec_t *d, const pb_msg_t *m, const uint8_t *p, const uint8_t *end, int depth,
                    buf_t *json)
{
    buf_append_u8(json, '{');
    bool any = false;
    for (size_t i = 0; i < m->nfields; i++) {
        const pb_field_t *fd = &m->fields[i];
        bool rep = fd->label == PB_LABEL_REPEATED;
        const uint8_t *q = p, *last_vp = NULL;
        size_t last_vn = 0;
        int last_wt = 0;
        bool first = true, found = false;
        while (q < end) {
            uint64_t key;
            size_t k = varint_decode_u64(q, end, &key);
            q += k;
            const uint8_t *vp;
            size_t vn;
            int wt = (int)(key & 7);
            read_value(&q, end, wt, &vp, &vn);
            if ((int32_t)(key >> 3) != fd->number)
                continue;
            if (!found) {
                buf_printf(json, "%s", any ? "," : "");
                reg_json_quote(json, fd->name, strlen(fd->name));
                buf_append_str(json, rep ? ":[" : ":");
                any = found = true;
            }
            if (rep)
                json_value(d, fd, wt, vp, vn, depth, json, &first);
            last_vp = vp, last_vn = vn, last_wt = wt;
        }
        if (found && rep)
            buf_append_u8(json, ']');
        else if (found)
            json_value(d, fd, last_wt, last_vp, last_vn, depth, json, &first);
    }
    buf_append_u8(json, '}');
    return 0;
}

int reg_proto_decode(const registry_schema_t *s, const int32_t *idx, size_t nidx, const uint8_t *p,
                     size_t n, buf_t *json, char *why, size_t why_size)
{
    const pb_file_t *f = s->model;
    int32_t first = nidx ? idx[0] : 0;
    if (first < 0 || (size_t)first >= f->nmsgs) {
        reg_errf(why, why_size, "Protobuf: message index %" PRId32 " is not in the schema", first);
        return -WEIR_EINVAL;
    }
    const pb_msg_t *m = f->msgs[first];
    for (size_t i = 1; i < nidx; i++) {
        if (idx[i] < 0 || (size_t)idx[i] >= m->nmsgs) {
            reg_errf(why, why_size, "Protobuf: message index %" PRId32 " is not in %s", idx[i],
                     m->full + 1);
            return -WEIR_EINVAL;
        }
        m = m->msgs[idx[i]];
    }
    pb_dec_t d = {p, why, why_size, f->syntax && strcmp(f->syntax, "proto3") == 0};
    return dec_msg(&d, m, p, p + n, 0, json) ? -WEIR_EINVAL : 0;
}
