/*
 * Format strings for `weir consume -f` (render a record) and `weir produce -f` (parse records
 * from a byte stream), with rpk's and kcat's tokens: %t %p %o %k %K %v %V %h %H %T %d, kcat's
 * %s/%S for the value, modifiers {hex} and {base64} on %k / %v, escapes \n \t \r \0 \\ \xHH, %%.
 * Also the default consume output (one JSON object a line) and the byte helpers both need.
 *
 * Invariant of the reader: it holds at most one record plus one read chunk. A record is parsed
 * as offsets from its first byte, so the buffer may move (compaction, growth) mid-record; the
 * pointers handed out in cli_record_t are made at the end and stay valid until the next call.
 * No field may make the buffered record larger than max_record_bytes.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define READ_CHUNK_BYTES 65536

/* ---- bytes: UTF-8, JSON strings, base64, hex ---------------------------------------------------
 */

bool cli_utf8_valid(const void *p, size_t n)
{
    const uint8_t *s = p, *end = s + n;
    while (s < end) {
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - s) < len)
            return false;
        for (size_t i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += len;
    }
    return true;
}

void cli_json_escape(buf_t *out, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    buf_reserve(out, n + 2);
    buf_append_u8(out, '"');
    size_t run = 0; /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        buf_append(out, s + i - run, run);
        run = 0;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        buf_append(out, esc, elen);
    }
    buf_append(out, s + n - run, run);
    buf_append_u8(out, '"');
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cli_base64_encode(buf_t *out, const void *p, size_t n)
{
    if (n == 0)
        return;
    const uint8_t *s = p;
    uint8_t *o = buf_extend(out, (n + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = (uint8_t)b64[v >> 18];
        *o++ = (uint8_t)b64[(v >> 12) & 63];
        *o++ = (uint8_t)b64[(v >> 6) & 63];
        *o++ = (uint8_t)b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = (uint8_t)b64[v >> 18];
        *o++ = (uint8_t)b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? (uint8_t)b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
}

static int b64_value(uint8_t c)
{
    const char *q = c ? strchr(b64, c) : NULL;
    return q ? (int)(q - b64) : -1;
}

int cli_base64_decode(buf_t *out, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (n % 4 != 0)
        return -WEIR_EINVAL;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int pad = (last && s[i + 3] == '=') + (last && s[i + 2] == '=');
        if (pad == 1 && s[i + 2] == '=') /* "x=y=" */
            return -WEIR_EINVAL;
        int v[4] = {b64_value(s[i]), b64_value(s[i + 1]), pad == 2 ? 0 : b64_value(s[i + 2]),
                    pad ? 0 : b64_value(s[i + 3])};
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return -WEIR_EINVAL;
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf_append_u8(out, (uint8_t)(w >> 16));
        if (pad < 2)
            buf_append_u8(out, (uint8_t)(w >> 8));
        if (pad < 1)
            buf_append_u8(out, (uint8_t)w);
    }
    return 0;
}

void cli_hex_encode(buf_t *out, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    if (n == 0)
        return;
    uint8_t *o = buf_extend(out, n * 2);
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = (uint8_t)hex[s[i] >> 4];
        o[2 * i + 1] = (uint8_t)hex[s[i] & 15];
    }
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cli_hex_decode(buf_t *out, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (n % 2 != 0)
        return -WEIR_EINVAL;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -WEIR_EINVAL;
        buf_append_u8(out, (uint8_t)(hi << 4 | lo));
    }
    return 0;
}

/* ---- format strings ------------------------------------------------------------------------ */

static int fmt_err(char *err, size_t err_size, const char *msg, size_t at)
{
    snprintf(err, err_size, "%s at character %zu", msg, at + 1);
    return -WEIR_EINVAL;
}

static bool tok_push(cli_format_t *fmt, cli_tok_kind_t kind, cli_enc_t enc)
{
    if (fmt->ntoks >= CLI_FORMAT_TOKENS_MAX)
        return false;
    fmt->toks[fmt->ntoks++] = (cli_tok_t){kind, enc, 0, 0};
    return true;
}

static bool lit_push(cli_format_t *fmt, uint8_t byte)
{
    cli_tok_t *last = fmt->ntoks ? &fmt->toks[fmt->ntoks - 1] : NULL;
    if (!last || last->kind != CLI_TOK_LITERAL) {
        if (!tok_push(fmt, CLI_TOK_LITERAL, CLI_ENC_RAW))
            return false;
        last = &fmt->toks[fmt->ntoks - 1];
        last->lit_off = fmt->lit.len;
    }
    buf_append_u8(&fmt->lit, byte);
    last->lit_len++;
    return true;
}

static int parse_escape(const char *src, size_t *i, uint8_t *byte)
{
    char c = src[*i + 1];
    *i += 2;
    switch (c) {
    case 'n':
        *byte = '\n';
        return 0;
    case 't':
        *byte = '\t';
        return 0;
    case 'r':
        *byte = '\r';
        return 0;
    case '0':
        *byte = '\0';
        return 0;
    case '\\':
        *byte = '\\';
        return 0;
    case 'x': {
        int hi = hex_value((uint8_t)src[*i]), lo = hi < 0 ? -1 : hex_value((uint8_t)src[*i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        *byte = (uint8_t)(hi << 4 | lo);
        *i += 2;
        return 0;
    }
    }
    return -1;
}

static int token_kind(char c, cli_tok_kind_t *kind)
{
    switch (c) {
    case 't':
        *kind = CLI_TOK_TOPIC;
        return 0;
    case 'p':
        *kind = CLI_TOK_PARTITION;
        return 0;
    case 'o':
        *kind = CLI_TOK_OFFSET;
        return 0;
    case 'k':
        *kind = CLI_TOK_KEY;
        return 0;
    case 'K':
        *kind = CLI_TOK_KEY_LEN;
        return 0;
    case 'v':
    case 's':
        *kind = CLI_TOK_VALUE;
        return 0;
    case 'V':
    case 'S':
        *kind = CLI_TOK_VALUE_LEN;
        return 0;
    case 'h':
        *kind = CLI_TOK_HEADERS;
        return 0;
    case 'H':
        *kind = CLI_TOK_HEADER_COUNT;
        return 0;
    case 'T':
        *kind = CLI_TOK_TIMESTAMP;
        return 0;
    case 'd':
        *kind = CLI_TOK_TIME;
        return 0;
    }
    return -1;
}

/* "{hex}" / "{base64}" / "{raw}" after %k or %v. */
static int parse_modifier(const char *src, size_t *i, cli_tok_kind_t kind, cli_enc_t *enc)
{
    *enc = CLI_ENC_RAW;
    if (src[*i] != '{')
        return 0;
    const char *close = strchr(src + *i, '}');
    if (!close || (kind != CLI_TOK_KEY && kind != CLI_TOK_VALUE))
        return -1;
    size_t n = (size_t)(close - (src + *i + 1));
    const char *m = src + *i + 1;
    if (n == 3 && memcmp(m, "hex", 3) == 0)
        *enc = CLI_ENC_HEX;
    else if (n == 6 && memcmp(m, "base64", 6) == 0)
        *enc = CLI_ENC_BASE64;
    else if (!(n == 3 && memcmp(m, "raw", 3) == 0))
        return -1;
    *i += n + 2;
    return 0;
}

static bool tok_numeric(cli_tok_kind_t k)
{
    return k == CLI_TOK_PARTITION || k == CLI_TOK_OFFSET || k == CLI_TOK_KEY_LEN ||
           k == CLI_TOK_VALUE_LEN || k == CLI_TOK_HEADER_COUNT || k == CLI_TOK_TIMESTAMP;
}

/* Input formats must be parseable back: see cli.h. */
static int check_input(const cli_format_t *fmt, char *err, size_t err_size)
{
    bool key_len = false, value_len = false;
    for (size_t i = 0; i < fmt->ntoks; i++) {
        const cli_tok_t *t = &fmt->toks[i];
        bool next_lit = i + 1 == fmt->ntoks || fmt->toks[i + 1].kind == CLI_TOK_LITERAL;
        if (t->kind == CLI_TOK_TIME) {
            snprintf(err, err_size, "%%d cannot be read back; use %%T (milliseconds) in input");
            return -WEIR_EINVAL;
        }
        if (t->kind == CLI_TOK_KEY_LEN)
            key_len = true;
        if (t->kind == CLI_TOK_VALUE_LEN)
            value_len = true;
        if (t->kind == CLI_TOK_LITERAL || tok_numeric(t->kind) || next_lit)
            continue;
        bool sized = t->enc == CLI_ENC_RAW && ((t->kind == CLI_TOK_KEY && key_len) ||
                                               (t->kind == CLI_TOK_VALUE && value_len));
        if (!sized) {
            snprintf(err, err_size,
                     "token %zu has no delimiter after it: put a literal (like \\t) after it, "
                     "or give its length first with %%K / %%V",
                     i + 1);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

int cli_format_parse(cli_format_t *fmt, const char *src, bool for_input, char *err, size_t err_size)
{
    memset(fmt, 0, sizeof(*fmt));
    buf_init(&fmt->lit);
    size_t i = 0;
    while (src[i]) {
        bool ok;
        if (src[i] == '\\') {
            uint8_t byte;
            size_t at = i;
            if (src[i + 1] == '\0' || parse_escape(src, &i, &byte) != 0) {
                cli_format_deinit(fmt);
                return fmt_err(err, err_size, "bad escape (use \\n \\t \\r \\0 \\\\ \\xHH)", at);
            }
            ok = lit_push(fmt, byte);
        } else if (src[i] == '%') {
            cli_tok_kind_t kind;
            cli_enc_t enc;
            size_t at = i;
            if (src[i + 1] == '%') {
                ok = lit_push(fmt, '%');
                i += 2;
            } else if (src[i + 1] == '\0' || token_kind(src[i + 1], &kind) != 0) {
                cli_format_deinit(fmt);
                return fmt_err(err, err_size, "unknown token (see 'weir help consume')", at);
            } else {
                i += 2;
                if (parse_modifier(src, &i, kind, &enc) != 0) {
                    cli_format_deinit(fmt);
                    return fmt_err(err, err_size,
                                   "bad modifier ({hex}, {base64} or {raw}, on %k and %v)", at);
                }
                ok = tok_push(fmt, kind, enc);
            }
        } else {
            ok = lit_push(fmt, (uint8_t)src[i++]);
        }
        if (!ok) {
            cli_format_deinit(fmt);
            return fmt_err(err, err_size, "format has too many tokens", i);
        }
    }
    if (fmt->ntoks == 0) {
        snprintf(err, err_size, "empty format");
        return -WEIR_EINVAL;
    }
    if (for_input && check_input(fmt, err, err_size) != 0) {
        cli_format_deinit(fmt);
        return -WEIR_EINVAL;
    }
    return 0;
}

void cli_format_deinit(cli_format_t *fmt)
{
    buf_deinit(&fmt->lit);
    fmt->ntoks = 0;
}

static void render_bytes(buf_t *out, const void *p, ssize_t n, cli_enc_t enc)
{
    if (n <= 0)
        return;
    if (enc == CLI_ENC_HEX)
        cli_hex_encode(out, p, (size_t)n);
    else if (enc == CLI_ENC_BASE64)
        cli_base64_encode(out, p, (size_t)n);
    else
        buf_append(out, p, (size_t)n);
}

static void render_headers(buf_t *out, const cli_record_t *rec)
{
    for (size_t i = 0; i < rec->header_count; i++) {
        const cli_header_t *h = &rec->headers[i];
        if (i)
            buf_append_u8(out, ',');
        buf_append(out, h->name, h->name_len);
        if (h->value_len >= 0) {
            buf_append_u8(out, '=');
            buf_append(out, h->value, (size_t)h->value_len);
        }
    }
}

void cli_format_render(const cli_format_t *fmt, const cli_record_t *rec, buf_t *out)
{
    char tbuf[40];
    for (size_t i = 0; i < fmt->ntoks; i++) {
        const cli_tok_t *t = &fmt->toks[i];
        switch (t->kind) {
        case CLI_TOK_LITERAL:
            buf_append(out, fmt->lit.data + t->lit_off, t->lit_len);
            break;
        case CLI_TOK_TOPIC:
            buf_append(out, rec->topic, rec->topic_len);
            break;
        case CLI_TOK_PARTITION:
            buf_printf(out, "%" PRId32, rec->partition);
            break;
        case CLI_TOK_OFFSET:
            buf_printf(out, "%" PRId64, rec->offset);
            break;
        case CLI_TOK_KEY:
            render_bytes(out, rec->key, rec->key_len, t->enc);
            break;
        case CLI_TOK_KEY_LEN:
            buf_printf(out, "%zd", rec->key_len);
            break;
        case CLI_TOK_VALUE:
            render_bytes(out, rec->value, rec->value_len, t->enc);
            break;
        case CLI_TOK_VALUE_LEN:
            buf_printf(out, "%zd", rec->value_len);
            break;
        case CLI_TOK_HEADERS:
            render_headers(out, rec);
            break;
        case CLI_TOK_HEADER_COUNT:
            buf_printf(out, "%zu", rec->header_count);
            break;
        case CLI_TOK_TIMESTAMP:
            buf_printf(out, "%" PRId64, rec->timestamp_ms);
            break;
        case CLI_TOK_TIME:
            if (rec->timestamp_ms >= 0) {
                cli_time_format(rec->timestamp_ms, tbuf, sizeof(tbuf));
                buf_append_str(out, tbuf);
            }
            break;
        }
    }
}

/* A key or value as JSON: a string when it is UTF-8, base64 with an "<name>_encoding" field
 * when it is not, null when absent. */
void cli_json_bytes_field(buf_t *out, const char *name, const void *p, ssize_t n)
{
    buf_printf(out, "\"%s\":", name);
    if (n < 0) {
        buf_append_str(out, "null");
    } else if (cli_utf8_valid(p, (size_t)n)) {
        cli_json_escape(out, p, (size_t)n);
    } else {
        buf_append_u8(out, '"');
        cli_base64_encode(out, p, (size_t)n);
        buf_printf(out, "\",\"%s_encoding\":\"base64\"", name);
    }
}

void cli_record_render_json(const cli_record_t *rec, buf_t *out)
{
    char tbuf[40];
    buf_append_str(out, "{\"topic\":");
    cli_json_escape(out, rec->topic, rec->topic_len);
    buf_printf(out, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":%" PRId64,
               rec->partition, rec->offset, rec->timestamp_ms);
    buf_append_str(out, ",\"time\":");
    if (rec->timestamp_ms >= 0) {
        cli_time_format(rec->timestamp_ms, tbuf, sizeof(tbuf));
        buf_printf(out, "\"%s\"", tbuf);
    } else {
        buf_append_str(out, "null");
    }
    buf_append_u8(out, ',');
    if (rec->key_is_json) {
        buf_append_str(out, "\"key\":");
        buf_append(out, rec->key, (size_t)rec->key_len);
    } else {
        cli_json_bytes_field(out, "key", rec->key, rec->key_len);
    }
    buf_append_u8(out, ',');
    if (rec->value_is_json) {
        buf_append_str(out, "\"value\":");
        buf_append(out, rec->value, (size_t)rec->value_len);
    } else {
        cli_json_bytes_field(out, "value", rec->value, rec->value_len);
    }
    buf_append_str(out, ",\"headers\":[");
    for (size_t i = 0; i < rec->header_count; i++) {
        const cli_header_t *h = &rec->headers[i];
        buf_append_str(out, i ? ",{\"key\":" : "{\"key\":");
        cli_json_escape(out, h->name, h->name_len);
        buf_append_u8(out, ',');
        cli_json_bytes_field(out, "value", h->value, h->value_len);
        buf_append_u8(out, '}');
    }
    buf_append_str(out, "]}\n");
}

/* ---- the reader ------------------------------------------------------------------------------ */

ssize_t cli_read_fd(void *ctx, void *p, size_t n)
{
    for (;;) {
        ssize_t got = read(*(int *)ctx, p, n);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

void cli_reader_init(cli_reader_t *r, cli_read_fn read_fn, void *ctx, size_t max_record_bytes)
{
    memset(r, 0, sizeof(*r));
    r->read = read_fn;
    r->ctx = ctx;
    r->max_record_bytes = max_record_bytes;
    buf_init(&r->buf);
    buf_init(&r->decoded);
}

void cli_reader_deinit(cli_reader_t *r)
{
    buf_deinit(&r->buf);
    buf_deinit(&r->decoded);
}

/* Bytes of the current record available in the buffer. */
static size_t have(const cli_reader_t *r)
{
    return r->buf.len - r->pos;
}

/* Reads one more chunk. 1: got bytes, 0: end of input, <0: error. */
static int fill(cli_reader_t *r)
{
    if (r->eof)
        return 0;
    if (have(r) > r->max_record_bytes)
        return -WEIR_ETOOBIG;
    if (r->pos > 0) { /* compact: the record so far moves to the front */
        buf_consume(&r->buf, r->pos);
        r->pos = 0;
    }
    buf_reserve(&r->buf, READ_CHUNK_BYTES);
    ssize_t n = r->read(r->ctx, r->buf.data + r->buf.len, r->buf.cap - r->buf.len);
    if (n < 0)
        return errno == EINTR ? -WEIR_ECLOSED : -WEIR_EIO;
    if (n == 0) {
        r->eof = true;
        return 0;
    }
    r->buf.len += (size_t)n;
    return 1;
}

/* Makes `need` bytes of the record available. 1 ok, 0 input ended first, <0 error. */
static int need_bytes(cli_reader_t *r, size_t need)
{
    if (need > r->max_record_bytes)
        return -WEIR_ETOOBIG;
    while (have(r) < need) {
        int rc = fill(r);
        if (rc <= 0)
            return rc;
    }
    return 1;
}

/* A field's bytes: from the input buffer, or decoded into r->decoded. */
typedef struct {
    bool present;
    bool null;
    bool decoded;
    size_t off, len;
} span_t;

typedef struct {
    size_t c; /* cursor: bytes of this record consumed */
    span_t topic, key, value, headers;
    int64_t partition, key_len, value_len, timestamp;
    bool has_partition, has_key_len, has_value_len, has_timestamp;
    bool done; /* the input ended at the record's final literal */
} parse_t;

/* Finds the delimiter `d` at or after ps->c. Sets *end to where the field ends; 0 if found,
 * 1 if the input ended first, <0 error. */
static int scan_to(cli_reader_t *r, const parse_t *ps, const uint8_t *d, size_t dlen, size_t *end)
{
    size_t from = ps->c;
    for (;;) {
        size_t h = have(r);
        if (h >= from + dlen) {
            const uint8_t *base = r->buf.data + r->pos;
            const uint8_t *hit = memmem(base + from, h - from, d, dlen);
            if (hit) {
                *end = (size_t)(hit - base);
                return 0;
            }
            from = h - dlen + 1;
        }
        int rc = fill(r);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            *end = have(r);
            return 1;
        }
    }
}

/* A number: optional '-', then digits, up to the first other byte. */
static int read_number(cli_reader_t *r, parse_t *ps, int64_t *v)
{
    size_t start = ps->c;
    for (;;) {
        int rc = need_bytes(r, ps->c + 1);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        uint8_t ch = r->buf.data[r->pos + ps->c];
        if (!((ch >= '0' && ch <= '9') || (ch == '-' && ps->c == start)))
            break;
        ps->c++;
        if (ps->c - start > 20)
            return -WEIR_EINVAL;
    }
    char tmp[24];
    size_t n = ps->c - start;
    if (n == 0)
        return -WEIR_EINVAL;
    memcpy(tmp, r->buf.data + r->pos + start, n);
    tmp[n] = '\0';
    return cli_parse_i64(tmp, INT64_MIN, INT64_MAX, v);
}

/* Decodes a {hex}/{base64} field into r->decoded. */
static int decode_span(cli_reader_t *r, span_t *sp, cli_enc_t enc)
{
    if (enc == CLI_ENC_RAW || sp->null)
        return 0;
    size_t off = r->decoded.len;
    const uint8_t *src = r->buf.data + r->pos + sp->off;
    int rc = enc == CLI_ENC_HEX ? cli_hex_decode(&r->decoded, src, sp->len)
                                : cli_base64_decode(&r->decoded, src, sp->len);
    if (rc != 0)
        return rc;
    sp->decoded = true;
    sp->off = off;
    sp->len = r->decoded.len - off;
    return 0;
}

static span_t *field_span(parse_t *ps, cli_tok_kind_t k)
{
    switch (k) {
    case CLI_TOK_TOPIC:
        return &ps->topic;
    case CLI_TOK_KEY:
        return &ps->key;
    case CLI_TOK_VALUE:
        return &ps->value;
    case CLI_TOK_HEADERS:
        return &ps->headers;
    default:
        return NULL;
    }
}

static int read_numeric(cli_reader_t *r, parse_t *ps, cli_tok_kind_t k)
{
    int64_t v;
    int rc = read_number(r, ps, &v);
    if (rc != 0)
        return rc;
    switch (k) {
    case CLI_TOK_PARTITION:
        if (v < -1 || v > INT32_MAX)
            return -WEIR_ERANGE;
        ps->partition = v;
        ps->has_partition = true;
        break;
    case CLI_TOK_KEY_LEN:
    case CLI_TOK_VALUE_LEN:
        if (v < -1 || v > (int64_t)r->max_record_bytes)
            return -WEIR_ERANGE;
        *(k == CLI_TOK_KEY_LEN ? &ps->key_len : &ps->value_len) = v;
        *(k == CLI_TOK_KEY_LEN ? &ps->has_key_len : &ps->has_value_len) = true;
        break;
    case CLI_TOK_TIMESTAMP:
        ps->timestamp = v;
        ps->has_timestamp = true;
        break;
    default: /* %o, %H: read and ignored */
        break;
    }
    return 0;
}

/* One variable-length field: sized by an earlier %K/%V, delimited by the next literal, or
 * running to the end of input when it is last. */
static int read_field(const cli_format_t *fmt, size_t i, cli_reader_t *r, parse_t *ps)
{
    const cli_tok_t *t = &fmt->toks[i];
    span_t *sp = field_span(ps, t->kind);
    sp->present = true;
    sp->null = false;
    int64_t sized = -2;
    if (t->enc == CLI_ENC_RAW && t->kind == CLI_TOK_KEY && ps->has_key_len)
        sized = ps->key_len;
    if (t->enc == CLI_ENC_RAW && t->kind == CLI_TOK_VALUE && ps->has_value_len)
        sized = ps->value_len;
    if (sized >= -1) {
        sp->null = sized == -1;
        size_t n = sized < 0 ? 0 : (size_t)sized;
        int rc = need_bytes(r, ps->c + n);
        if (rc <= 0)
            return rc < 0 ? rc : -WEIR_EINVAL;
        sp->off = ps->c;
        sp->len = n;
        ps->c += n;
        return decode_span(r, sp, t->enc);
    }
    size_t end;
    int rc;
    if (i + 1 < fmt->ntoks) {
        const cli_tok_t *d = &fmt->toks[i + 1];
        rc = scan_to(r, ps, fmt->lit.data + d->lit_off, d->lit_len, &end);
        /* The input may end where the record's final delimiter would be. */
        if (rc == 1 && i + 2 == fmt->ntoks)
            ps->done = true;
        else if (rc == 1)
            return -WEIR_EINVAL;
    } else { /* the last token: everything to the end of input */
        rc = 0;
        while (!r->eof)
            if ((rc = fill(r)) < 0)
                return rc;
        end = have(r);
    }
    if (rc < 0)
        return rc;
    sp->off = ps->c;
    sp->len = end - ps->c;
    ps->c = end;
    return decode_span(r, sp, t->enc);
}

static int read_literal(const cli_format_t *fmt, size_t i, cli_reader_t *r, parse_t *ps)
{
    const cli_tok_t *t = &fmt->toks[i];
    if (ps->done)
        return 0;
    int rc = need_bytes(r, ps->c + t->lit_len);
    if (rc < 0)
        return rc;
    const uint8_t *at = r->buf.data + r->pos + ps->c, *lit = fmt->lit.data + t->lit_off;
    if (rc == 0) {
        /* Input ended: fine before the record's first byte, or inside its final literal. */
        size_t h = have(r) - ps->c;
        if (i + 1 == fmt->ntoks && memcmp(at, lit, h) == 0) {
            ps->c += h;
            ps->done = true;
            return 0;
        }
        return -WEIR_EINVAL;
    }
    if (memcmp(at, lit, t->lit_len) != 0)
        return -WEIR_EINVAL;
    ps->c += t->lit_len;
    return 0;
}

/* Splits "k=v,k2=v2" into r->headers; "k" alone is a null value. */
static int split_headers(cli_reader_t *r, const uint8_t *p, size_t n, cli_record_t *rec)
{
    size_t count = 0;
    const uint8_t *end = p + n;
    while (p < end) {
        const uint8_t *comma = memchr(p, ',', (size_t)(end - p));
        const uint8_t *item_end = comma ? comma : end;
        const uint8_t *eq = memchr(p, '=', (size_t)(item_end - p));
        if (count >= WEIR_ARRAY_LEN(r->headers))
            return -WEIR_ETOOBIG;
        cli_header_t *h = &r->headers[count++];
        h->name = (const char *)p;
        h->name_len = (size_t)((eq ? eq : item_end) - p);
        h->value = eq ? eq + 1 : NULL;
        h->value_len = eq ? (ssize_t)(item_end - eq - 1) : -1;
        p = comma ? comma + 1 : end;
    }
    rec->headers = r->headers;
    rec->header_count = count;
    return 0;
}

static const void *span_ptr(const cli_reader_t *r, const span_t *sp)
{
    const uint8_t *base = sp->decoded ? r->decoded.data : r->buf.data;
    if (!base) /* an empty field decoded into a never-used buffer: still not null */
        return "";
    return sp->decoded ? base + sp->off : base + r->pos + sp->off;
}

static int fill_record(cli_reader_t *r, const parse_t *ps, cli_record_t *rec)
{
    if (ps->topic.present) {
        rec->topic = span_ptr(r, &ps->topic);
        rec->topic_len = ps->topic.len;
    }
    if (ps->has_partition)
        rec->partition = (int32_t)ps->partition;
    if (ps->has_timestamp)
        rec->timestamp_ms = ps->timestamp;
    if (ps->key.present) {
        rec->key = ps->key.null ? NULL : span_ptr(r, &ps->key);
        rec->key_len = ps->key.null ? -1 : (ssize_t)ps->key.len;
    }
    if (ps->value.present) {
        rec->value = ps->value.null ? NULL : span_ptr(r, &ps->value);
        rec->value_len = ps->value.null ? -1 : (ssize_t)ps->value.len;
    }
    if (ps->headers.present)
        return split_headers(r, span_ptr(r, &ps->headers), ps->headers.len, rec);
    return 0;
}

int cli_format_read(const cli_format_t *fmt, cli_reader_t *r, cli_record_t *rec, char *err,
                    size_t err_size)
{
    parse_t ps = {0};
    buf_reset(&r->decoded);
    int rc = need_bytes(r, 1);
    if (rc == 0)
        return 0; /* clean end between records */
    if (rc < 0 && rc != -WEIR_ECLOSED)
        snprintf(err, err_size, "read failed");
    for (size_t i = 0; rc >= 0 && i < fmt->ntoks; i++) {
        cli_tok_kind_t k = fmt->toks[i].kind;
        if (k == CLI_TOK_LITERAL)
            rc = read_literal(fmt, i, r, &ps);
        else if (tok_numeric(k))
            rc = ps.done ? -WEIR_EINVAL : read_numeric(r, &ps, k);
        else
            rc = ps.done ? -WEIR_EINVAL : read_field(fmt, i, r, &ps);
        if (rc < 0 && rc != -WEIR_ECLOSED) {
            const char *why = rc == -WEIR_ETOOBIG  ? "record larger than the limit"
                              : rc == -WEIR_EIO    ? "read failed"
                              : rc == -WEIR_ERANGE ? "number out of range"
                                                   : "input does not match the format";
            snprintf(err, err_size, "%s (token %zu, byte %zu of the record)", why, i + 1, ps.c + 1);
        }
    }
    if (rc < 0)
        return rc;
    rc = fill_record(r, &ps, rec);
    if (rc < 0) {
        snprintf(err, err_size, "more than %zu headers in one record", WEIR_ARRAY_LEN(r->headers));
        return rc;
    }
    r->pos += ps.c;
    return 1;
}
