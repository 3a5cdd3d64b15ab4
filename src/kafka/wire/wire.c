/*
 * The Kafka wire codec: primitive types, classic and flexible (KIP-482) encodings, and the
 * request/response headers.
 *
 * Invariant of the reader: r->p never passes r->end, and once r->err is set every later read
 * returns a zero value without moving. Lengths and counts from the wire are compared with the
 * bytes actually left before anything is sized from them, so a caller that allocates from a
 * returned count allocates at most (bytes left / min element size) elements.
 */
#include "kafka/wire/wire.h"

#include <stdlib.h>

void wire_reader_init(wire_reader_t *r, const uint8_t *p, size_t n, bool flexible)
{
    r->p = p;
    r->end = p + n;
    r->flexible = flexible;
    r->err = 0;
}

void wire_reader_fail(wire_reader_t *r)
{
    r->err = -WEIR_EINVAL;
    r->p = r->end;
}

static inline bool reader_need(wire_reader_t *r, size_t n)
{
    if (r->err)
        return false;
    if ((size_t)(r->end - r->p) < n) {
        wire_reader_fail(r);
        return false;
    }
    return true;
}

int8_t wire_read_i8(wire_reader_t *r)
{
    if (!reader_need(r, 1))
        return 0;
    return (int8_t)*r->p++;
}

bool wire_read_bool(wire_reader_t *r)
{
    return wire_read_i8(r) != 0;
}

int16_t wire_read_i16(wire_reader_t *r)
{
    if (!reader_need(r, 2))
        return 0;
    int16_t v = (int16_t)be16_read(r->p);
    r->p += 2;
    return v;
}

int32_t wire_read_i32(wire_reader_t *r)
{
    if (!reader_need(r, 4))
        return 0;
    int32_t v = (int32_t)be32_read(r->p);
    r->p += 4;
    return v;
}

int64_t wire_read_i64(wire_reader_t *r)
{
    if (!reader_need(r, 8))
        return 0;
    int64_t v = (int64_t)be64_read(r->p);
    r->p += 8;
    return v;
}

void wire_read_uuid(wire_reader_t *r, uint8_t out[16])
{
    if (!reader_need(r, 16)) {
        memset(out, 0, 16);
        return;
    }
    memcpy(out, r->p, 16);
    r->p += 16;
}

uint32_t wire_read_uvarint(wire_reader_t *r)
{
    if (r->err)
        return 0;
    uint32_t v;
    size_t n = varint_decode_u32(r->p, r->end, &v);
    if (n == 0) {
        wire_reader_fail(r);
        return 0;
    }
    r->p += n;
    return v;
}

/* Reads a length prefix: i16 (strings) or i32 (bytes) classic, uvarint N+1 compact. Returns
 * -1 for null, -2 after a failure. The length is checked against the bytes left. */
static int32_t read_len(wire_reader_t *r, bool wide, bool compact)
{
    int64_t len;
    if (compact) {
        uint32_t u = wire_read_uvarint(r);
        len = (int64_t)u - 1;
    } else {
        len = wide ? wire_read_i32(r) : wire_read_i16(r);
    }
    if (r->err)
        return -2;
    if (len < -1) {
        wire_reader_fail(r);
        return -2;
    }
    if (len >= 0 && (uint64_t)len > wire_reader_left(r)) {
        wire_reader_fail(r);
        return -2;
    }
    return (int32_t)len;
}

static wire_str_t read_string(wire_reader_t *r, bool compact, bool nullable)
{
    wire_str_t s = {NULL, -1};
    int32_t len = read_len(r, false, compact);
    if (len == -2)
        return s;
    if (len == -1) {
        if (!nullable)
            wire_reader_fail(r);
        return s;
    }
    s.s = (const char *)r->p;
    s.len = len;
    r->p += len;
    return s;
}

wire_str_t wire_read_str(wire_reader_t *r)
{
    wire_str_t s = read_string(r, r->flexible, false);
    if (s.len < 0)
        s = (wire_str_t){"", 0}; /* only after a failure: keep callers' views valid */
    return s;
}

wire_str_t wire_read_nstr(wire_reader_t *r)
{
    return read_string(r, r->flexible, true);
}

wire_str_t wire_read_nstr_classic(wire_reader_t *r)
{
    return read_string(r, false, true);
}

wire_bytes_t wire_read_nbytes(wire_reader_t *r)
{
    wire_bytes_t b = {NULL, -1};
    int32_t len = read_len(r, true, r->flexible);
    if (len < 0)
        return b;
    b.p = r->p;
    b.len = len;
    r->p += len;
    return b;
}

wire_bytes_t wire_read_bytes(wire_reader_t *r)
{
    wire_bytes_t b = wire_read_nbytes(r);
    if (b.len < 0) {
        wire_reader_fail(r);
        b.p = NULL;
        b.len = 0;
    }
    return b;
}

int32_t wire_read_array(wire_reader_t *r, size_t min_elem_bytes, int32_t max_count)
{
    int64_t n;
    if (r->flexible)
        n = (int64_t)wire_read_uvarint(r) - 1;
    else
        n = wire_read_i32(r);
    if (r->err)
        return -1;
    if (n < -1 || n > max_count) {
        wire_reader_fail(r);
        return -1;
    }
    if (n > 0 && (uint64_t)n * (uint64_t)min_elem_bytes > wire_reader_left(r)) {
        wire_reader_fail(r);
        return -1;
    }
    return (int32_t)n;
}

void wire_read_tags(wire_reader_t *r)
{
    if (!r->flexible || r->err)
        return;
    uint32_t n = wire_read_uvarint(r);
    /* Each field takes at least two bytes (tag and size), which bounds the loop. */
    if (n > wire_reader_left(r) / 2) {
        wire_reader_fail(r);
        return;
    }
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)wire_read_uvarint(r); /* tag */
        uint32_t size = wire_read_uvarint(r);
        if (r->err)
            return;
        if (size > wire_reader_left(r)) {
            wire_reader_fail(r);
            return;
        }
        r->p += size;
    }
}

bool wire_str_eq(wire_str_t s, const char *c)
{
    size_t n = strlen(c);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.s, c, n) == 0;
}

char *wire_str_dup(wire_str_t s)
{
    if (s.len < 0)
        return NULL;
    char *p = weir_malloc((size_t)s.len + 1); /* every byte, embedded NULs included */
    memcpy(p, s.s, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

bool wire_str_has_nul(wire_str_t s)
{
    return s.len > 0 && memchr(s.s, 0, (size_t)s.len) != NULL;
}

/* ---- writer ------------------------------------------------------------------------------------
 */

void wire_write_i8(wire_writer_t *w, int8_t v)
{
    buf_append_u8(w->b, (uint8_t)v);
}

void wire_write_bool(wire_writer_t *w, bool v)
{
    buf_append_u8(w->b, v ? 1 : 0);
}

void wire_write_i16(wire_writer_t *w, int16_t v)
{
    buf_append_be16(w->b, (uint16_t)v);
}

void wire_write_i32(wire_writer_t *w, int32_t v)
{
    buf_append_be32(w->b, (uint32_t)v);
}

void wire_write_i64(wire_writer_t *w, int64_t v)
{
    buf_append_be64(w->b, (uint64_t)v);
}

void wire_write_uuid(wire_writer_t *w, const uint8_t id[16])
{
    buf_append(w->b, id, 16);
}

void wire_write_uvarint(wire_writer_t *w, uint32_t v)
{
    buf_append_uvarint(w->b, v);
}

void wire_write_str(wire_writer_t *w, const char *s, size_t len)
{
    WEIR_ASSERT(w->flexible || len <= INT16_MAX); /* names we write come from such fields */
    if (w->flexible)
        buf_append_uvarint(w->b, (uint64_t)len + 1);
    else
        buf_append_be16(w->b, (uint16_t)len);
    buf_append(w->b, s, len);
}

void wire_write_cstr(wire_writer_t *w, const char *s)
{
    if (!s) {
        if (w->flexible)
            buf_append_uvarint(w->b, 0);
        else
            buf_append_be16(w->b, 0xffff);
        return;
    }
    wire_write_str(w, s, strlen(s));
}

void wire_write_view(wire_writer_t *w, wire_str_t s)
{
    if (s.len < 0)
        wire_write_cstr(w, NULL);
    else
        wire_write_str(w, s.s, (size_t)s.len);
}

void wire_write_bytes_len(wire_writer_t *w, int32_t len)
{
    if (w->flexible)
        buf_append_uvarint(w->b, (uint64_t)((int64_t)len + 1));
    else
        buf_append_be32(w->b, (uint32_t)len);
}

size_t wire_write_bytes_len_reserve(wire_writer_t *w)
{
    size_t at = w->b->len;
    buf_extend(w->b, w->flexible ? 5 : 4);
    return at;
}

/* Classic: the i32. Flexible: a 5-byte unsigned varint padded with continuation bits, which
 * Kafka's and librdkafka's decoders accept, so it fits the room reserved before the length was
 * known. */
void wire_write_bytes_len_fill(wire_writer_t *w, size_t at, size_t len)
{
    uint8_t *p = w->b->data + at;
    if (!w->flexible) {
        be32_write(p, (uint32_t)len);
        return;
    }
    uint64_t v = (uint64_t)len + 1;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    p[4] = (uint8_t)(v & 0x7f);
}

void wire_write_nbytes(wire_writer_t *w, const void *p, int32_t len)
{
    wire_write_bytes_len(w, len);
    if (len > 0)
        buf_append(w->b, p, (size_t)len);
}

void wire_write_array_len(wire_writer_t *w, int32_t n)
{
    if (w->flexible)
        buf_append_uvarint(w->b, (uint64_t)((int64_t)n + 1));
    else
        buf_append_be32(w->b, (uint32_t)n);
}

void wire_write_tags(wire_writer_t *w)
{
    if (w->flexible)
        buf_append_u8(w->b, 0);
}

/* ---- headers ------------------------------------------------------------------------------------
 */

int wire_req_header_read(wire_reader_t *r, wire_req_header_t *h)
{
    h->api_key = wire_read_i16(r);
    h->api_version = wire_read_i16(r);
    h->correlation_id = wire_read_i32(r);
    /* client_id keeps the classic i16 length even in header v2. */
    h->client_id = wire_read_nstr_classic(r);
    wire_read_tags(r);
    return r->err;
}

void wire_resp_begin(buf_t *b, int32_t correlation_id, bool header_v1)
{
    buf_append_be32(b, 0); /* the size, filled by wire_resp_finish */
    buf_append_be32(b, (uint32_t)correlation_id);
    if (header_v1)
        buf_append_u8(b, 0);
}

void wire_resp_finish(buf_t *b)
{
    WEIR_ASSERT(b->len >= 8);
    be32_write(b->data, (uint32_t)(b->len - 4));
}

/* ---- error names
 * --------------------------------------------------------------------------------- */

const char *wire_err_name(int16_t code)
{
    switch (code) {
#define WIRE_ERROR_CASE(name, code)                                                                \
    case code:                                                                                     \
        return #name;
        WIRE_ERRORS(WIRE_ERROR_CASE)
#undef WIRE_ERROR_CASE
    default:
        return "UNKNOWN";
    }
}

int32_t wire_acl_ops_all(int8_t resource_type)
{
#define OP(x) (1 << KAFKA_ACL_OP_##x)
    switch (resource_type) {
    case KAFKA_RESOURCE_TOPIC:
        return OP(READ) | OP(WRITE) | OP(CREATE) | OP(DESCRIBE) | OP(DELETE) | OP(ALTER) |
               OP(DESCRIBE_CONFIGS) | OP(ALTER_CONFIGS);
    case KAFKA_RESOURCE_GROUP:
        return OP(READ) | OP(DESCRIBE) | OP(DELETE);
    case KAFKA_RESOURCE_CLUSTER:
        return OP(CREATE) | OP(CLUSTER_ACTION) | OP(DESCRIBE_CONFIGS) | OP(ALTER_CONFIGS) |
               OP(IDEMPOTENT_WRITE) | OP(ALTER) | OP(DESCRIBE);
    case KAFKA_RESOURCE_TRANSACTIONAL_ID:
        return OP(DESCRIBE) | OP(WRITE);
    case KAFKA_RESOURCE_DELEGATION_TOKEN:
        return OP(DESCRIBE);
    case KAFKA_RESOURCE_USER:
        return OP(CREATE_TOKENS) | OP(DESCRIBE_TOKENS);
    default:
        return 0;
    }
#undef OP
}
