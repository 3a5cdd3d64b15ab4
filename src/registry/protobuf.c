/*
 * PROTOBUF schemas: our own parser of .proto text (proto2 and proto3: packages, imports,
 * options, messages, nested types, enums, oneofs, maps, reserved, extensions ranges, services),
 * or of a base64 FileDescriptorProto as Confluent's serializers send it; then a link step that
 * checks field numbers, names, reserved ranges and proto3's rules and resolves every type name
 * against this file and its imports (a reference per import; a few well-known Google types are
 * built in); and a printer that gives the stored form.
 *
 * Invariant: a linked pb_file_t has every message/enum field resolved (msg or en set) and no
 * two fields of a message share a number or a name.
 */
#include "registry/proto_model.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- lexer ------------------------------------------------------------------------------------
 */

enum { TK_EOF = 0, TK_IDENT, TK_INT, TK_FLOAT, TK_STR, TK_SYM };

typedef struct {
    int kind;
    const char *s;
    size_t n;
} pb_tok_t;

typedef struct {
    const char *p, *end;
    int line;
    pb_tok_t tok;
    char *err;
    size_t err_size;
    bool failed;
    int depth, depth_max;
    pb_file_t *f;
} pb_lex_t;

static int lex_fail(pb_lex_t *lx, const char *what)
{
    if (!lx->failed)
        reg_errf(lx->err, lx->err_size, "line %d: %s (at '%.*s')", lx->line, what,
                 (int)WEIR_MIN(lx->tok.n, 40), lx->tok.s ? lx->tok.s : "");
    lx->failed = true;
    lx->tok.kind = TK_EOF;
    return -1;
}

static void lex_skip_space(pb_lex_t *lx)
{
    while (lx->p < lx->end) {
        if (*lx->p == '\n') {
            lx->line++;
            lx->p++;
        } else if (isspace((unsigned char)*lx->p)) {
            lx->p++;
        } else if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '/') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '*') {
            lx->p += 2;
            while (lx->p < lx->end && !(lx->end - lx->p >= 2 && lx->p[0] == '*' && lx->p[1] == '/'))
                lx->line += *lx->p++ == '\n';
            lx->p = lx->end - lx->p >= 2 ? lx->p + 2 : lx->end;
        } else {
            break;
        }
    }
}

static void lex_next(pb_lex_t *lx)
{
    if (lx->failed)
        return;
    lex_skip_space(lx);
    const char *s = lx->p;
    lx->tok = (pb_tok_t){TK_EOF, s, 0};
    if (s >= lx->end)
        return;
    char c = *s;
    const char *p = s;
    if (isalpha((unsigned char)c) || c == '_' ||
        (c == '.' && p + 1 < lx->end && (isalpha((unsigned char)p[1]) || p[1] == '_'))) {
        p++;
        while (p < lx->end && (isalnum((unsigned char)*p) || *p == '_' || *p == '.'))
            p++;
        lx->tok = (pb_tok_t){TK_IDENT, s, (size_t)(p - s)};
    } else if (isdigit((unsigned char)c) || ((c == '-' || c == '+' || c == '.') &&
                                             p + 1 < lx->end && isdigit((unsigned char)p[1]))) {
        bool is_float = false;
        p++;
        while (p < lx->end && (isalnum((unsigned char)*p) || *p == '.' ||
                               ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')))) {
            is_float = is_float || *p == '.' ||
                       ((*p == 'e' || *p == 'E') && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')));
            p++;
        }
        lx->tok = (pb_tok_t){is_float ? TK_FLOAT : TK_INT, s, (size_t)(p - s)};
    } else if (c == '"' || c == '\'') {
        p++;
        while (p < lx->end && *p != c && *p != '\n')
            p += (*p == '\\' && p + 1 < lx->end) ? 2 : 1;
        if (p >= lx->end || *p != c) {
            lx->p = lx->end;
            lex_fail(lx, "unterminated string");
            return;
        }
        p++;
        lx->tok = (pb_tok_t){TK_STR, s, (size_t)(p - s)};
    } else {
        lx->tok = (pb_tok_t){TK_SYM, s, 1};
        p++;
    }
    lx->p = p;
}

static bool tok_is(const pb_lex_t *lx, const char *word)
{
    size_t n = strlen(word);
    return (lx->tok.kind == TK_IDENT || lx->tok.kind == TK_SYM) && lx->tok.n == n &&
           memcmp(lx->tok.s, word, n) == 0;
}

static bool accept(pb_lex_t *lx, const char *word)
{
    if (!tok_is(lx, word))
        return false;
    lex_next(lx);
    return true;
}

static int expect(pb_lex_t *lx, const char *word)
{
    if (accept(lx, word))
        return 0;
    char msg[64];
    snprintf(msg, sizeof(msg), "expected '%s'", word);
    return lex_fail(lx, msg);
}

static char *tok_dup(const pb_lex_t *lx)
{
    return weir_strndup(lx->tok.s, lx->tok.n);
}

/* A type name: an identifier, dotted, possibly fully qualified (".pkg.Msg"). */
static char *expect_type(pb_lex_t *lx)
{
    if (lx->tok.kind != TK_IDENT) {
        lex_fail(lx, "expected a type name");
        return NULL;
    }
    char *s = tok_dup(lx);
    lex_next(lx);
    return s;
}

/* An identifier (no dots unless dotted is set). */
static char *expect_ident(pb_lex_t *lx, bool dotted)
{
    if (lx->tok.kind != TK_IDENT || lx->tok.s[0] == '.' ||
        (!dotted && memchr(lx->tok.s, '.', lx->tok.n))) {
        lex_fail(lx, "expected an identifier");
        return NULL;
    }
    char *s = tok_dup(lx);
    lex_next(lx);
    return s;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void utf8_put(buf_t *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_append_u8(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        buf_append_u8(b, (uint8_t)(0xc0 | cp >> 6));
        buf_append_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_append_u8(b, (uint8_t)(0xe0 | cp >> 12));
        buf_append_u8(b, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
        buf_append_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else {
        buf_append_u8(b, (uint8_t)(0xf0 | cp >> 18));
        buf_append_u8(b, (uint8_t)(0x80 | (cp >> 12 & 0x3f)));
        buf_append_u8(b, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
        buf_append_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
    }
}

/* One escape after a backslash at s[*i] (protobuf's: \a \b \f \n \r \t \v, \ooo, \xHH,
 * \uXXXX, \UXXXXXXXX, or the character itself); advances *i past it. */
static void unescape_one(const char *s, size_t n, size_t *i, buf_t *b)
{
    char c = s[*i];
    static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v";
    const char *m = strchr(simple, c);
    if (c && m && (m - simple) % 2 == 0) {
        buf_append_u8(b, (uint8_t)m[1]);
        (*i)++;
        return;
    }
    uint32_t v = 0;
    int digits = 0;
    if (c >= '0' && c <= '7') {
        while (digits < 3 && *i < n && s[*i] >= '0' && s[*i] <= '7')
            v = v * 8 + (uint32_t)(s[(*i)++] - '0'), digits++;
        buf_append_u8(b, (uint8_t)v);
        return;
    }
    int max = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (max) {
        (*i)++;
        while (digits < max && *i < n && hexval(s[*i]) >= 0)
            v = v * 16 + (uint32_t)hexval(s[(*i)++]), digits++;
        if (c == 'x')
            buf_append_u8(b, (uint8_t)v);
        else
            utf8_put(b, v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0xfffd : v);
        return;
    }
    buf_append_u8(b, (uint8_t)c);
    (*i)++;
}

/* A string literal's value (adjacent literals concatenated); escapes decoded. */
static char *expect_string(pb_lex_t *lx)
{
    if (lx->tok.kind != TK_STR) {
        lex_fail(lx, "expected a string");
        return NULL;
    }
    buf_t b;
    buf_init(&b);
    while (lx->tok.kind == TK_STR) {
        size_t end = lx->tok.n - 1;
        for (size_t i = 1; i < end;) {
            if (lx->tok.s[i] == '\\' && i + 1 < end) {
                i++;
                unescape_one(lx->tok.s, end, &i, &b);
            } else {
                buf_append_u8(&b, (uint8_t)lx->tok.s[i++]);
            }
        }
        lex_next(lx);
    }
    buf_append_u8(&b, 0);
    if (strlen((char *)b.data) + 1 != b.len || !reg_utf8_valid(b.data, b.len - 1)) {
        buf_deinit(&b);
        lex_fail(lx, "string holds a NUL or is not UTF-8");
        return NULL;
    }
    return (char *)b.data;
}

static int parse_int(pb_lex_t *lx, int64_t min, int64_t max, int64_t *out)
{
    bool neg = accept(lx, "-");
    if (lx->tok.kind != TK_INT)
        return lex_fail(lx, "expected an integer");
    char buf[32];
    if (lx->tok.n >= sizeof(buf))
        return lex_fail(lx, "integer too long");
    memcpy(buf, lx->tok.s, lx->tok.n);
    buf[lx->tok.n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 0);
    if (*end || errno)
        return lex_fail(lx, "bad integer");
    v = neg ? -v : v;
    if (v < min || v > max)
        return lex_fail(lx, "integer out of range");
    *out = v;
    lex_next(lx);
    return 0;
}

/* ---- options --------------------------------------------------------------------------------- */

/* The raw text of one constant: an identifier, a signed number, adjacent strings, or an
 * aggregate { ... } (kept as its tokens, balanced). */
static char *option_value(pb_lex_t *lx)
{
    buf_t b;
    buf_init(&b);
    if (tok_is(lx, "{")) {
        int depth = 0;
        do {
            if (tok_is(lx, "{"))
                depth++;
            else if (tok_is(lx, "}"))
                depth--;
            if (depth > 64 || lx->tok.kind == TK_EOF) {
                lex_fail(lx, depth > 64 ? "option value nested too deeply"
                                        : "unterminated option value");
                break;
            }
            if (b.len)
                buf_append_u8(&b, ' ');
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
        } while (depth > 0 && !lx->failed);
    } else if (lx->tok.kind == TK_STR) {
        while (lx->tok.kind == TK_STR) {
            if (b.len)
                buf_append_u8(&b, ' ');
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
        }
    } else {
        if (tok_is(lx, "-") || tok_is(lx, "+")) {
            buf_append(&b, lx->tok.s, 1);
            lex_next(lx);
        }
        if (lx->tok.kind == TK_IDENT || lx->tok.kind == TK_INT || lx->tok.kind == TK_FLOAT) {
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
        } else {
            lex_fail(lx, "expected an option value");
        }
    }
    if (lx->failed) {
        buf_deinit(&b);
        return NULL;
    }
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

/* optionName: ident | "(" fullIdent ")" { "." ident } */
static char *option_name(pb_lex_t *lx)
{
    buf_t b;
    buf_init(&b);
    for (;;) {
        if (accept(lx, "(")) {
            buf_append_u8(&b, '(');
            if (lx->tok.kind != TK_IDENT) {
                lex_fail(lx, "expected an option name");
                break;
            }
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
            if (expect(lx, ")"))
                break;
            buf_append_u8(&b, ')');
        } else if (lx->tok.kind == TK_IDENT) {
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
        } else {
            lex_fail(lx, "expected an option name");
            break;
        }
        if (lx->tok.kind == TK_IDENT && lx->tok.s[0] == '.') { /* ").x" lexed as ".x" */
            buf_append(&b, lx->tok.s, lx->tok.n);
            lex_next(lx);
        }
        if (!accept(lx, "."))
            break;
        buf_append_u8(&b, '.');
    }
    if (lx->failed) {
        buf_deinit(&b);
        return NULL;
    }
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

static int parse_option(pb_lex_t *lx, pb_opts_t *opts)
{
    char *name = option_name(lx);
    if (!name || expect(lx, "=")) {
        free(name);
        return -1;
    }
    char *value = option_value(lx);
    if (!value) {
        free(name);
        return -1;
    }
    PB_PUSH(opts->v, opts->n, ((pb_option_t){name, value}));
    return 0;
}

/* A string literal's value ("a\"b" -> a"b); anything else as it is. */
static char *unquote_literal(const char *v)
{
    if (v[0] != '"' && v[0] != '\'')
        return weir_strdup(v);
    pb_lex_t lx = {.p = v, .end = v + strlen(v), .line = 1};
    lex_next(&lx);
    char *s = expect_string(&lx);
    return s ? s : weir_strdup("");
}

/* "[" opt { "," opt } "]" on fields and enum values; default and json_name are pulled out. */
static int parse_field_options(pb_lex_t *lx, pb_field_t *fd, pb_opts_t *opts)
{
    if (!accept(lx, "["))
        return 0;
    do {
        size_t before = opts->n;
        if (parse_option(lx, opts))
            return -1;
        pb_option_t *o = &opts->v[before];
        if (fd && (strcmp(o->name, "default") == 0 || strcmp(o->name, "json_name") == 0)) {
            char **slot = o->name[0] == 'd' ? &fd->default_value : &fd->json_name;
            free(*slot);
            *slot = unquote_literal(o->value);
            free(o->value);
            free(o->name);
            opts->n--;
        }
    } while (accept(lx, ","));
    return expect(lx, "]");
}

/* ---- messages and enums ---------------------------------------------------------------------- */

static int parse_reserved(pb_lex_t *lx, pb_range_t **res, size_t *nres, char ***names,
                          size_t *nnames, int64_t max)
{
    do {
        if (lx->tok.kind == TK_STR) {
            char *s = expect_string(lx);
            if (!s)
                return -1;
            PB_PUSH(*names, *nnames, s);
        } else if (lx->tok.kind == TK_IDENT && !tok_is(lx, "max")) {
            char *s = expect_ident(lx, false); /* editions: reserved names without quotes */
            if (!s)
                return -1;
            PB_PUSH(*names, *nnames, s);
        } else {
            int64_t a, b;
            if (parse_int(lx, max == INT32_MAX ? INT32_MIN : 1, max, &a))
                return -1;
            b = a;
            if (accept(lx, "to")) {
                if (accept(lx, "max"))
                    b = max;
                else if (parse_int(lx, a, max, &b))
                    return -1;
            }
            PB_PUSH(*res, *nres, ((pb_range_t){(int32_t)a, (int32_t)b}));
        }
    } while (accept(lx, ","));
    return expect(lx, ";");
}

static pb_enum_t *parse_enum(pb_lex_t *lx)
{
    pb_enum_t *e = weir_calloc(1, sizeof(*e));
    if (!(e->name = expect_ident(lx, false)) || expect(lx, "{"))
        return e;
    while (!lx->failed && !accept(lx, "}")) {
        if (accept(lx, ";"))
            continue;
        if (accept(lx, "option")) {
            if (parse_option(lx, &e->opts) || expect(lx, ";"))
                break;
        } else if (accept(lx, "reserved")) {
            if (parse_reserved(lx, &e->res, &e->nres, &e->resnames, &e->nresnames, INT32_MAX))
                break;
        } else {
            pb_enum_value_t v = {0};
            int64_t num;
            if (!(v.name = expect_ident(lx, false)) || expect(lx, "=") ||
                parse_int(lx, INT32_MIN, INT32_MAX, &num) ||
                parse_field_options(lx, NULL, &v.opts) || expect(lx, ";")) {
                free(v.name);
                for (size_t i = 0; i < v.opts.n; i++)
                    free(v.opts.v[i].name), free(v.opts.v[i].value);
                free(v.opts.v);
                break;
            }
            v.number = (int32_t)num;
            PB_PUSH(e->vals, e->nvals, v);
        }
        if (lx->tok.kind == TK_EOF && !lx->failed)
            lex_fail(lx, "unexpected end in enum");
    }
    return e;
}

static pb_msg_t *parse_message(pb_lex_t *lx);

/* "Foo_bar" -> "FooBarEntry", as protoc names a map's entry type. */
static char *map_entry_name(const char *field)
{
    buf_t b;
    buf_init(&b);
    bool up = true;
    for (const char *p = field; *p; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        buf_append_u8(&b, (uint8_t)(up ? toupper((unsigned char)*p) : *p));
        up = false;
    }
    buf_append_str(&b, "Entry");
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

static void field_type_from_name(pb_field_t *fd, char *tname)
{
    int t;
    if (pb_is_scalar_name(tname, &t)) {
        fd->type = t;
        free(tname);
    } else {
        fd->type = 0; /* message or enum: decided by linking */
        fd->type_name = tname;
    }
}

static int parse_map_field(pb_lex_t *lx, pb_msg_t *m, pb_field_t *fd)
{
    if (expect(lx, "<"))
        return -1;
    char *kt = expect_ident(lx, false);
    if (!kt || expect(lx, ",")) {
        free(kt);
        return -1;
    }
    char *vt = expect_type(lx);
    if (!vt || expect(lx, ">")) {
        free(kt);
        free(vt);
        return -1;
    }
    int ktype;
    if (!pb_is_scalar_name(kt, &ktype) || ktype == PB_DOUBLE || ktype == PB_FLOAT ||
        ktype == PB_BYTES) {
        free(kt);
        free(vt);
        return lex_fail(lx, "a map key must be an integer, bool or string type");
    }
    pb_msg_t *entry = weir_calloc(1, sizeof(*entry));
    entry->map_entry = true;
    pb_field_t k = {.name = weir_strdup("key"),
                    .number = 1,
                    .label = PB_LABEL_OPTIONAL,
                    .oneof = -1,
                    .type = ktype};
    free(kt);
    pb_field_t v = {
        .name = weir_strdup("value"), .number = 2, .label = PB_LABEL_OPTIONAL, .oneof = -1};
    field_type_from_name(&v, vt);
    PB_PUSH(entry->fields, entry->nfields, k);
    PB_PUSH(entry->fields, entry->nfields, v);
    PB_PUSH(m->msgs, m->nmsgs, entry);
    fd->label = PB_LABEL_REPEATED;
    fd->type = PB_MESSAGE;
    if (!(fd->name = expect_ident(lx, false)))
        return -1;
    entry->name = map_entry_name(fd->name);
    fd->type_name = weir_strdup(entry->name);
    return 0;
}

static void field_free(pb_field_t *fd);

static int parse_field(pb_lex_t *lx, pb_msg_t *m, int oneof)
{
    pb_field_t fd = {.oneof = oneof, .label = PB_LABEL_OPTIONAL};
    if (oneof < 0) {
        if (accept(lx, "repeated"))
            fd.label = PB_LABEL_REPEATED, fd.explicit_label = true;
        else if (accept(lx, "required"))
            fd.label = PB_LABEL_REQUIRED, fd.explicit_label = true;
        else if (accept(lx, "optional"))
            fd.explicit_label = true;
    }
    if (tok_is(lx, "group"))
        return lex_fail(lx, "proto2 groups are not supported");
    int rc = -1;
    if (oneof < 0 && !fd.explicit_label && accept(lx, "map")) {
        if (parse_map_field(lx, m, &fd))
            goto out;
    } else {
        char *tname = expect_type(lx);
        if (!tname)
            goto out;
        field_type_from_name(&fd, tname);
        if (!(fd.name = expect_ident(lx, false)))
            goto out;
    }
    int64_t num;
    if (expect(lx, "=") || parse_int(lx, 1, PB_FIELD_NUMBER_MAX, &num))
        goto out;
    fd.number = (int32_t)num;
    if (parse_field_options(lx, &fd, &fd.opts) || expect(lx, ";"))
        goto out;
    PB_PUSH(m->fields, m->nfields, fd);
    return 0;
out:
    field_free(&fd);
    return rc;
}

static int parse_oneof(pb_lex_t *lx, pb_msg_t *m)
{
    pb_oneof_t o = {0};
    if (!(o.name = expect_ident(lx, false)))
        return -1;
    PB_PUSH(m->oneofs, m->noneofs, o);
    int idx = (int)m->noneofs - 1;
    if (expect(lx, "{"))
        return -1;
    while (!lx->failed && !accept(lx, "}")) {
        if (accept(lx, ";"))
            continue;
        if (accept(lx, "option")) {
            if (parse_option(lx, &m->oneofs[idx].opts) || expect(lx, ";"))
                return -1;
        } else if (parse_field(lx, m, idx)) {
            return -1;
        }
        if (lx->tok.kind == TK_EOF)
            return lex_fail(lx, "unexpected end in oneof");
    }
    return lx->failed ? -1 : 0;
}

/* Skips a balanced { ... } block (extend blocks: their fields belong to other messages). */
static int skip_block(pb_lex_t *lx)
{
    int depth = 0;
    do {
        if (tok_is(lx, "{"))
            depth++;
        else if (tok_is(lx, "}"))
            depth--;
        if (lx->tok.kind == TK_EOF)
            return lex_fail(lx, "unexpected end");
        lex_next(lx);
    } while (depth > 0 && !lx->failed);
    return lx->failed ? -1 : 0;
}

static int parse_message_item(pb_lex_t *lx, pb_msg_t *m)
{
    if (accept(lx, ";"))
        return 0;
    if (accept(lx, "message")) {
        pb_msg_t *sub = parse_message(lx);
        PB_PUSH(m->msgs, m->nmsgs, sub);
        return lx->failed ? -1 : 0;
    }
    if (accept(lx, "enum")) {
        pb_enum_t *e = parse_enum(lx);
        PB_PUSH(m->enums, m->nenums, e);
        return lx->failed ? -1 : 0;
    }
    if (accept(lx, "oneof"))
        return parse_oneof(lx, m);
    if (accept(lx, "option"))
        return parse_option(lx, &m->opts) || expect(lx, ";") ? -1 : 0;
    if (accept(lx, "reserved"))
        return parse_reserved(lx, &m->res, &m->nres, &m->resnames, &m->nresnames,
                              PB_FIELD_NUMBER_MAX);
    if (accept(lx, "extensions")) {
        char **none = NULL;
        size_t nnone = 0;
        int rc = parse_reserved(lx, &m->ext, &m->next, &none, &nnone, PB_FIELD_NUMBER_MAX);
        for (size_t i = 0; i < nnone; i++)
            free(none[i]);
        free(none);
        return rc;
    }
    if (accept(lx, "extend")) {
        char *t = expect_type(lx);
        free(t);
        return t ? skip_block(lx) : -1;
    }
    return parse_field(lx, m, -1);
}

static pb_msg_t *parse_message(pb_lex_t *lx)
{
    pb_msg_t *m = weir_calloc(1, sizeof(*m));
    if (++lx->depth > lx->depth_max) {
        lex_fail(lx, "messages nested too deeply");
        lx->depth--;
        return m;
    }
    if ((m->name = expect_ident(lx, false)) && expect(lx, "{") == 0) {
        while (!lx->failed && !accept(lx, "}")) {
            if (lx->tok.kind == TK_EOF) {
                lex_fail(lx, "unexpected end in message");
                break;
            }
            if (parse_message_item(lx, m))
                break;
        }
    }
    lx->depth--;
    return m;
}

static int parse_service(pb_lex_t *lx)
{
    pb_service_t s = {0};
    if (!(s.name = expect_ident(lx, false)))
        return -1;
    PB_PUSH(lx->f->svcs, lx->f->nsvcs, s);
    pb_service_t *sv = &lx->f->svcs[lx->f->nsvcs - 1];
    if (expect(lx, "{"))
        return -1;
    while (!lx->failed && !accept(lx, "}")) {
        if (accept(lx, ";"))
            continue;
        if (accept(lx, "option")) {
            if (parse_option(lx, &sv->opts) || expect(lx, ";"))
                return -1;
            continue;
        }
        pb_rpc_t r = {0};
        PB_PUSH(sv->rpcs, sv->nrpcs, r);
        pb_rpc_t *rp = &sv->rpcs[sv->nrpcs - 1];
        if (expect(lx, "rpc") || !(rp->name = expect_ident(lx, false)) || expect(lx, "("))
            return -1;
        rp->client_streaming = accept(lx, "stream");
        if (!(rp->in = expect_type(lx)) || expect(lx, ")") || expect(lx, "returns") ||
            expect(lx, "("))
            return -1;
        rp->server_streaming = accept(lx, "stream");
        if (!(rp->out = expect_type(lx)) || expect(lx, ")"))
            return -1;
        if (accept(lx, "{")) {
            while (!lx->failed && !accept(lx, "}")) {
                if (accept(lx, ";"))
                    continue;
                if (expect(lx, "option") || parse_option(lx, &rp->opts) || expect(lx, ";"))
                    return -1;
            }
        } else if (expect(lx, ";")) {
            return -1;
        }
        if (lx->tok.kind == TK_EOF && !lx->failed)
            return lex_fail(lx, "unexpected end in service");
    }
    return lx->failed ? -1 : 0;
}

static int parse_top(pb_lex_t *lx)
{
    pb_file_t *f = lx->f;
    if (accept(lx, ";"))
        return 0;
    if (accept(lx, "import")) {
        int kind = accept(lx, "public") ? 1 : accept(lx, "weak") ? 2 : 0;
        char *path = expect_string(lx);
        if (!path)
            return -1;
        PB_PUSH(f->imports, f->nimports, path);
        f->import_kind = weir_realloc(f->import_kind, f->nimports * sizeof(int));
        f->import_kind[f->nimports - 1] = kind;
        return expect(lx, ";");
    }
    if (accept(lx, "package")) {
        if (f->package)
            return lex_fail(lx, "a second package statement");
        f->package = expect_ident(lx, true);
        return f->package ? expect(lx, ";") : -1;
    }
    if (accept(lx, "option"))
        return parse_option(lx, &f->opts) || expect(lx, ";") ? -1 : 0;
    if (accept(lx, "message")) {
        pb_msg_t *m = parse_message(lx);
        PB_PUSH(f->msgs, f->nmsgs, m);
        return lx->failed ? -1 : 0;
    }
    if (accept(lx, "enum")) {
        pb_enum_t *e = parse_enum(lx);
        PB_PUSH(f->enums, f->nenums, e);
        return lx->failed ? -1 : 0;
    }
    if (accept(lx, "service"))
        return parse_service(lx);
    if (accept(lx, "extend")) {
        char *t = expect_type(lx);
        free(t);
        return t ? skip_block(lx) : -1;
    }
    return lex_fail(lx, "expected message, enum, service, import, package or option");
}

static int pb_parse_text(pb_file_t *f, const char *text, size_t len, int depth_max, char *err,
                         size_t err_size)
{
    pb_lex_t lx = {.p = text,
                   .end = text + len,
                   .line = 1,
                   .err = err,
                   .err_size = err_size,
                   .depth_max = depth_max,
                   .f = f};
    lex_next(&lx);
    if (accept(&lx, "syntax") || accept(&lx, "edition")) {
        if (expect(&lx, "="))
            return -1;
        f->syntax = expect_string(&lx);
        if (!f->syntax || expect(&lx, ";"))
            return -1;
        if (strcmp(f->syntax, "proto2") && strcmp(f->syntax, "proto3"))
            return lex_fail(&lx, "syntax must be \"proto2\" or \"proto3\"");
    }
    while (!lx.failed && lx.tok.kind != TK_EOF)
        if (parse_top(&lx))
            break;
    return lx.failed ? -1 : 0;
}

/* ---- scalars ----------------------------------------------------------------------------------
 */

static const char *const scalar_names[19] = {NULL,       "double",   "float",   "int64",  "uint64",
                                             "int32",    "fixed64",  "fixed32", "bool",   "string",
                                             "group",    "message",  "bytes",   "uint32", "enum",
                                             "sfixed32", "sfixed64", "sint32",  "sint64"};

bool pb_is_scalar_name(const char *s, int *type)
{
    for (int i = 1; i < 19; i++)
        if (i != PB_GROUP && i != PB_MESSAGE && i != PB_ENUM && strcmp(s, scalar_names[i]) == 0) {
            *type = i;
            return true;
        }
    return false;
}

const char *pb_scalar_name(int type)
{
    return type > 0 && type < 19 ? scalar_names[type] : "?";
}

/* ---- the file object ----------------------------------------------------------------------------
 */

pb_file_t *pb_file_new(void)
{
    pb_file_t *f = weir_calloc(1, sizeof(*f));
    reg_map_init(&f->syms);
    return f;
}

static void opts_free(pb_opts_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].name);
        free(o->v[i].value);
    }
    free(o->v);
}

static void field_free(pb_field_t *fd)
{
    free(fd->name);
    free(fd->type_name);
    free(fd->full_type);
    free(fd->default_value);
    free(fd->json_name);
    opts_free(&fd->opts);
}

static void strs_free(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void enum_free(pb_enum_t *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->full);
    for (size_t i = 0; i < e->nvals; i++) {
        free(e->vals[i].name);
        opts_free(&e->vals[i].opts);
    }
    free(e->vals);
    free(e->res);
    strs_free(e->resnames, e->nresnames);
    opts_free(&e->opts);
    free(e);
}

static void msg_free(pb_msg_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->full);
    for (size_t i = 0; i < m->nfields; i++)
        field_free(&m->fields[i]);
    free(m->fields);
    for (size_t i = 0; i < m->nmsgs; i++)
        msg_free(m->msgs[i]);
    free(m->msgs);
    for (size_t i = 0; i < m->nenums; i++)
        enum_free(m->enums[i]);
    free(m->enums);
    for (size_t i = 0; i < m->noneofs; i++) {
        free(m->oneofs[i].name);
        opts_free(&m->oneofs[i].opts);
    }
    free(m->oneofs);
    free(m->res);
    strs_free(m->resnames, m->nresnames);
    free(m->ext);
    opts_free(&m->opts);
    free(m);
}

static int free_sym(void *arg, const char *key, void *val)
{
    (void)arg;
    (void)key;
    free(val);
    return 0;
}

void pb_file_free(pb_file_t *f)
{
    if (!f)
        return;
    free(f->syntax);
    free(f->package);
    strs_free(f->imports, f->nimports);
    free(f->import_kind);
    for (size_t i = 0; i < f->nmsgs; i++)
        msg_free(f->msgs[i]);
    free(f->msgs);
    for (size_t i = 0; i < f->nenums; i++)
        enum_free(f->enums[i]);
    free(f->enums);
    for (size_t i = 0; i < f->nsvcs; i++) {
        pb_service_t *s = &f->svcs[i];
        free(s->name);
        for (size_t k = 0; k < s->nrpcs; k++) {
            free(s->rpcs[k].name);
            free(s->rpcs[k].in);
            free(s->rpcs[k].out);
            free(s->rpcs[k].full_in);
            free(s->rpcs[k].full_out);
            opts_free(&s->rpcs[k].opts);
        }
        free(s->rpcs);
        opts_free(&s->opts);
    }
    free(f->svcs);
    opts_free(&f->opts);
    reg_map_each(&f->syms, free_sym, NULL);
    reg_map_deinit(&f->syms);
    for (size_t i = 0; i < f->nbuiltins; i++)
        registry_schema_free(f->builtins[i]);
    free(f->builtins);
    free(f);
}

void reg_proto_free(void *model)
{
    pb_file_free(model);
}

/* ---- linking: names, numbers, proto3 rules, type resolution -----------------------------------
 */

typedef struct {
    pb_file_t *f;
    char *err;
    size_t err_size;
    bool proto3;
} pb_link_t;

static int link_fail(pb_link_t *k, const char *fmt, const char *a, const char *b)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "%s%s%s", fmt, a ? a : "", b ? b : "");
    reg_errf(k->err, k->err_size, "%s", msg);
    return -1;
}

/* Names from a FileDescriptorProto are not checked by any lexer: check them here. */
static bool pb_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* a.b.c, or .a.b.c when leading_dot */
static bool pb_dotted(const char *s, bool leading_dot)
{
    if (!s)
        return false;
    if (leading_dot && *s == '.')
        s++;
    char part[256];
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n == 0 || n >= sizeof(part))
            return false;
        memcpy(part, s, n);
        part[n] = 0;
        if (!pb_ident(part))
            return false;
        if (!dot)
            return true;
        s = dot + 1;
    }
}

/* A default written bare in .proto text: a number, true/false, inf/nan, an enum value. */
static bool pb_bare_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '-' || *s == '+'))
            return false;
    return true;
}

static char *join_name(const char *scope, const char *name)
{
    size_t n = strlen(scope) + strlen(name) + 2;
    char *s = weir_malloc(n);
    snprintf(s, n, "%s.%s", scope, name);
    return s;
}

static int add_sym(pb_link_t *k, const char *full, int kind, void *p)
{
    if (reg_map_get(&k->f->syms, full))
        return link_fail(k, "duplicate symbol ", full, NULL);
    pb_sym_t *sym = weir_malloc(sizeof(*sym));
    *sym = (pb_sym_t){kind, p};
    reg_map_put(&k->f->syms, full, sym);
    return 0;
}

static int name_enum(pb_link_t *k, pb_enum_t *e, const char *scope)
{
    if (!pb_ident(e->name))
        return link_fail(k, "an enum name is not an identifier", NULL, NULL);
    e->full = join_name(scope, e->name);
    return add_sym(k, e->full, PB_ENUM, e);
}

static int name_msg(pb_link_t *k, pb_msg_t *m, const char *scope, int depth)
{
    if (!pb_ident(m->name))
        return link_fail(k, "a message name is not an identifier", NULL, NULL);
    if (depth > 64)
        return link_fail(k, "messages nested too deeply", NULL, NULL);
    m->full = join_name(scope, m->name);
    if (add_sym(k, m->full, PB_MESSAGE, m))
        return -1;
    for (size_t i = 0; i < m->nmsgs; i++)
        if (name_msg(k, m->msgs[i], m->full, depth + 1))
            return -1;
    for (size_t i = 0; i < m->nenums; i++)
        if (name_enum(k, m->enums[i], m->full))
            return -1;
    return 0;
}

static bool in_ranges(const pb_range_t *r, size_t n, int32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (v >= r[i].start && v <= r[i].end)
            return true;
    return false;
}

static bool in_names(char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

static int check_enum(pb_link_t *k, const pb_enum_t *e)
{
    if (e->nvals == 0)
        return link_fail(k, "enum has no values: ", e->full, NULL);
    if (k->proto3 && e->vals[0].number != 0)
        return link_fail(k, "the first value of a proto3 enum must be 0: ", e->full, NULL);
    bool alias = false;
    for (size_t i = 0; i < e->opts.n; i++)
        alias = alias || (strcmp(e->opts.v[i].name, "allow_alias") == 0 &&
                          strcmp(e->opts.v[i].value, "true") == 0);
    for (size_t i = 0; i < e->nresnames; i++)
        if (!pb_ident(e->resnames[i]))
            return link_fail(k, "a reserved name is not an identifier in ", e->full, NULL);
    for (size_t i = 0; i < e->nvals; i++) {
        if (!pb_ident(e->vals[i].name))
            return link_fail(k, "an enum value name is not an identifier in ", e->full, NULL);
        if (in_ranges(e->res, e->nres, e->vals[i].number) ||
            in_names(e->resnames, e->nresnames, e->vals[i].name))
            return link_fail(k, "enum value uses a reserved number or name: ", e->vals[i].name,
                             NULL);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(e->vals[i].name, e->vals[j].name) == 0)
                return link_fail(k, "duplicate enum value ", e->vals[i].name, NULL);
            if (!alias && e->vals[i].number == e->vals[j].number)
                return link_fail(k, "two enum values share a number (allow_alias is off): ",
                                 e->vals[i].name, NULL);
        }
    }
    return 0;
}

/* Looks a type name up from a scope outwards (".a.b.C" tries .a.b.C.X, .a.b.X, .a.X, .X). */
static pb_sym_t *resolve_type(pb_file_t *f, const char *scope, const char *name, char **full)
{
    if (name[0] == '.') {
        *full = weir_strdup(name);
        return reg_map_get(&f->syms, name);
    }
    char *s = weir_strdup(scope);
    for (;;) {
        char *cand = join_name(s, name);
        pb_sym_t *sym = reg_map_get(&f->syms, cand);
        if (sym) {
            *full = cand;
            free(s);
            return sym;
        }
        free(cand);
        char *dot = strrchr(s, '.');
        if (!dot)
            break;
        *dot = 0;
    }
    free(s);
    *full = NULL;
    return NULL;
}

static int check_field(pb_link_t *k, pb_msg_t *m, pb_field_t *fd, size_t idx)
{
    if (!pb_ident(fd->name))
        return link_fail(k, "a field name is not an identifier in ", m->full, NULL);
    if (fd->type_name && !pb_dotted(fd->type_name, true))
        return link_fail(k, "a type name is not a name in ", m->full, NULL);
    if (fd->default_value && fd->type != PB_STRING && fd->type != PB_BYTES &&
        !pb_bare_token(fd->default_value))
        return link_fail(k, "a default value is not a constant in ", m->full, NULL);
    if (fd->number < 1 || fd->number > PB_FIELD_NUMBER_MAX ||
        (fd->number >= 19000 && fd->number <= 19999))
        return link_fail(k, "field number out of range or reserved for protobuf: ", fd->name, NULL);
    if (in_ranges(m->res, m->nres, fd->number) || in_names(m->resnames, m->nresnames, fd->name))
        return link_fail(k, "field uses a reserved number or name: ", m->full, fd->name);
    for (size_t j = 0; j < idx; j++) {
        if (m->fields[j].number == fd->number)
            return link_fail(k, "two fields share a number in ", m->full, NULL);
        if (strcmp(m->fields[j].name, fd->name) == 0)
            return link_fail(k, "duplicate field name in ", m->full, NULL);
    }
    if (fd->oneof >= (int)m->noneofs)
        return link_fail(k, "bad oneof index in ", m->full, NULL);
    if (k->proto3 && fd->label == PB_LABEL_REQUIRED)
        return link_fail(k, "proto3 has no required fields: ", fd->name, NULL);
    if (k->proto3 && fd->default_value)
        return link_fail(k, "proto3 has no default values: ", fd->name, NULL);
    if (fd->type == PB_GROUP)
        return link_fail(k, "proto2 groups are not supported: ", fd->name, NULL);
    if (fd->type_name) {
        char *full;
        pb_sym_t *sym = resolve_type(k->f, m->full, fd->type_name, &full);
        if (!sym) {
            free(full);
            return link_fail(k, "unknown type ", fd->type_name, " (not defined nor imported)");
        }
        free(fd->full_type);
        fd->full_type = full;
        if ((fd->type == PB_MESSAGE && sym->kind != PB_MESSAGE) ||
            (fd->type == PB_ENUM && sym->kind != PB_ENUM))
            return link_fail(k, "type kind does not match: ", fd->type_name, NULL);
        fd->type = sym->kind;
        fd->msg = sym->kind == PB_MESSAGE ? sym->p : NULL;
        fd->en = sym->kind == PB_ENUM ? sym->p : NULL;
    } else if (fd->type < 1 || fd->type > 18 || fd->type == PB_MESSAGE || fd->type == PB_ENUM) {
        return link_fail(k, "field has no valid type: ", fd->name, NULL);
    }
    return 0;
}

/* proto3 `optional`: a synthetic oneof of its own, as protoc makes it. */
static void add_synthetic_oneofs(pb_msg_t *m)
{
    for (size_t i = 0; i < m->nfields; i++) {
        pb_field_t *fd = &m->fields[i];
        if (!fd->proto3_optional || fd->oneof >= 0)
            continue;
        size_t n = strlen(fd->name) + 2;
        char *name = weir_malloc(n);
        snprintf(name, n, "_%s", fd->name);
        pb_oneof_t o = {name, true, {0}};
        PB_PUSH(m->oneofs, m->noneofs, o);
        fd->oneof = (int)m->noneofs - 1;
    }
}

static int check_msg(pb_link_t *k, pb_msg_t *m)
{
    for (size_t i = 0; i < m->noneofs; i++)
        if (!pb_ident(m->oneofs[i].name))
            return link_fail(k, "a oneof name is not an identifier in ", m->full, NULL);
    for (size_t i = 0; i < m->nresnames; i++)
        if (!pb_ident(m->resnames[i]))
            return link_fail(k, "a reserved name is not an identifier in ", m->full, NULL);
    for (size_t i = 0; i < m->nfields; i++) {
        pb_field_t *fd = &m->fields[i];
        if (k->proto3 && fd->explicit_label && fd->label == PB_LABEL_OPTIONAL)
            fd->proto3_optional = true;
    }
    add_synthetic_oneofs(m);
    for (size_t i = 0; i < m->nfields; i++)
        if (check_field(k, m, &m->fields[i], i))
            return -1;
    for (size_t i = 0; i < m->noneofs; i++) {
        bool used = false;
        for (size_t j = 0; j < m->nfields && !used; j++)
            used = m->fields[j].oneof == (int)i;
        if (!used)
            return link_fail(k, "empty oneof in ", m->full, NULL);
    }
    for (size_t i = 0; i < m->nmsgs; i++)
        if (check_msg(k, m->msgs[i]))
            return -1;
    for (size_t i = 0; i < m->nenums; i++)
        if (check_enum(k, m->enums[i]))
            return -1;
    return 0;
}

static const struct {
    const char *name;
    const char *text;
} pb_builtins[] = {
    {"google/protobuf/timestamp.proto",
     "syntax=\"proto3\";package google.protobuf;message Timestamp{int64 seconds=1;int32 nanos=2;}"},
    {"google/protobuf/duration.proto",
     "syntax=\"proto3\";package google.protobuf;message Duration{int64 seconds=1;int32 nanos=2;}"},
    {"google/protobuf/empty.proto", "syntax=\"proto3\";package google.protobuf;message Empty{}"},
    {"google/protobuf/any.proto",
     "syntax=\"proto3\";package google.protobuf;message Any{string type_url=1;bytes value=2;}"},
    {"google/protobuf/field_mask.proto",
     "syntax=\"proto3\";package google.protobuf;message FieldMask{repeated string paths=1;}"},
    {"google/protobuf/wrappers.proto",
     "syntax=\"proto3\";package google.protobuf;message DoubleValue{double value=1;}"
     "message FloatValue{float value=1;}message Int64Value{int64 value=1;}"
     "message UInt64Value{uint64 value=1;}message Int32Value{int32 value=1;}"
     "message UInt32Value{uint32 value=1;}message BoolValue{bool value=1;}"
     "message StringValue{string value=1;}message BytesValue{bytes value=1;}"},
    {"google/protobuf/struct.proto",
     "syntax=\"proto3\";package google.protobuf;message Struct{map<string,Value> fields=1;}"
     "message Value{oneof kind{NullValue null_value=1;double number_value=2;string "
     "string_value=3;bool bool_value=4;Struct struct_value=5;ListValue list_value=6;}}"
     "enum NullValue{NULL_VALUE=0;}message ListValue{repeated Value values=1;}"},
};

static int import_symbols(void *arg, const char *key, void *val)
{
    pb_file_t *f = arg;
    if (!reg_map_get(&f->syms, key)) {
        pb_sym_t *sym = weir_malloc(sizeof(*sym));
        *sym = *(pb_sym_t *)val;
        reg_map_put(&f->syms, key, sym);
    }
    return 0;
}

static int link_imports(pb_link_t *k, const reg_refs_t *refs, const reg_bounds_t *b)
{
    pb_file_t *f = k->f;
    for (size_t i = 0; i < f->nimports; i++) {
        const pb_file_t *dep = NULL;
        for (size_t r = 0; refs && r < refs->count && !dep; r++)
            if (strcmp(refs->names[r], f->imports[i]) == 0) {
                if (refs->schemas[r]->type != REGISTRY_PROTOBUF)
                    return link_fail(k, "import is not a PROTOBUF schema: ", f->imports[i], NULL);
                dep = refs->schemas[r]->model;
            }
        for (size_t w = 0; !dep && w < WEIR_ARRAY_LEN(pb_builtins); w++) {
            if (strcmp(pb_builtins[w].name, f->imports[i]) != 0)
                continue;
            registry_schema_t *bs;
            char err[256];
            if (reg_schema_parse_refs(REGISTRY_PROTOBUF, pb_builtins[w].text,
                                      strlen(pb_builtins[w].text), NULL, false, b, &bs, err,
                                      sizeof(err)))
                return link_fail(k, "built-in import does not parse: ", err, NULL);
            PB_PUSH(f->builtins, f->nbuiltins, bs);
            dep = bs->model;
        }
        if (!dep)
            return link_fail(k, "import \"", f->imports[i], "\" is not among the references");
        reg_map_each(&dep->syms, import_symbols, f);
    }
    return 0;
}

int pb_file_link(pb_file_t *f, const reg_refs_t *refs, const reg_bounds_t *b, char *err,
                 size_t err_size)
{
    pb_link_t k = {f, err, err_size, false};
    if (!f->syntax)
        f->syntax = weir_strdup("proto2");
    if (f->package && !*f->package) {
        free(f->package);
        f->package = NULL;
    }
    if (f->package && !pb_dotted(f->package, false))
        return link_fail(&k, "the package is not a dotted name", NULL, NULL);
    for (size_t i = 0; i < f->nimports; i++)
        if (!*f->imports[i] || strchr(f->imports[i], '"') || strchr(f->imports[i], '\\'))
            return link_fail(&k, "an import is not a file name", NULL, NULL);
    for (size_t i = 0; i < f->nsvcs; i++) {
        if (!pb_ident(f->svcs[i].name))
            return link_fail(&k, "a service name is not an identifier", NULL, NULL);
        for (size_t r = 0; r < f->svcs[i].nrpcs; r++)
            if (!pb_ident(f->svcs[i].rpcs[r].name) || !pb_dotted(f->svcs[i].rpcs[r].in, true) ||
                !pb_dotted(f->svcs[i].rpcs[r].out, true))
                return link_fail(&k, "an rpc is not well named in ", f->svcs[i].name, NULL);
    }
    k.proto3 = strcmp(f->syntax, "proto3") == 0;
    char *scope = f->package ? join_name("", f->package) : weir_strdup("");
    int rc = -1;
    /* own names first: they shadow an import's (protoc refuses the clash; we do too below) */
    for (size_t i = 0; i < f->nmsgs; i++)
        if (name_msg(&k, f->msgs[i], scope, 0))
            goto out;
    for (size_t i = 0; i < f->nenums; i++)
        if (name_enum(&k, f->enums[i], scope))
            goto out;
    if (link_imports(&k, refs, b))
        goto out;
    for (size_t i = 0; i < f->nmsgs; i++)
        if (check_msg(&k, f->msgs[i]))
            goto out;
    for (size_t i = 0; i < f->nenums; i++)
        if (check_enum(&k, f->enums[i]))
            goto out;
    for (size_t i = 0; i < f->nsvcs; i++)
        for (size_t r = 0; r < f->svcs[i].nrpcs; r++) {
            pb_rpc_t *rp = &f->svcs[i].rpcs[r];
            pb_sym_t *a = resolve_type(f, scope, rp->in, &rp->full_in);
            pb_sym_t *b2 = resolve_type(f, scope, rp->out, &rp->full_out);
            if (!a || !b2 || a->kind != PB_MESSAGE || b2->kind != PB_MESSAGE) {
                link_fail(&k, "unknown message type in rpc ", rp->name, NULL);
                goto out;
            }
        }
    rc = 0;
out:
    free(scope);
    return rc;
}

/* ---- printing: the stored form ------------------------------------------------------------------
 */

/* A string as .proto text writes it: quotes and backslashes escaped, control characters as
 * three-digit octal (unambiguous whatever follows). */
static void pb_quote(buf_t *out, const char *s)
{
    buf_append_u8(out, '"');
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        if (c == '"' || c == '\\')
            buf_printf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            buf_printf(out, "\\%03o", c);
        else
            buf_append_u8(out, c);
    }
    buf_append_u8(out, '"');
}

typedef struct {
    buf_t *out;
    bool normalize;
    const pb_file_t *f;
    char rel[512];
} pb_print_t;

/* The shortest trailing part of a full name that resolves to it from scope ("Line" for
 * ".shop.Order.Line" inside .shop.Order), as a person would write it. */
static const char *relative_name(pb_print_t *pp, const char *scope, const char *full)
{
    if (full[0] != '.')
        return full;
    const char *p = full + strlen(full);
    while (p > full) {
        while (p > full && p[-1] != '.')
            p--;
        char *got;
        pb_sym_t *sym = resolve_type((pb_file_t *)pp->f, scope, p, &got);
        bool same = sym && got && strcmp(got, full) == 0;
        free(got);
        if (same && strlen(p) < sizeof(pp->rel)) {
            snprintf(pp->rel, sizeof(pp->rel), "%s", p);
            return pp->rel;
        }
        if (p > full)
            p--; /* step over the dot */
    }
    return full;
}

static void indent(pb_print_t *pp, int level)
{
    for (int i = 0; i < level; i++)
        buf_append_str(pp->out, "  ");
}

static int cmp_opt(const void *a, const void *b)
{
    return strcmp(((const pb_option_t *)a)->name, ((const pb_option_t *)b)->name);
}

static void print_options(pb_print_t *pp, const pb_opts_t *o, int level)
{
    if (!o->n)
        return;
    pb_option_t *v = weir_calloc(o->n, sizeof(*v));
    memcpy(v, o->v, o->n * sizeof(*v));
    if (pp->normalize)
        qsort(v, o->n, sizeof(*v), cmp_opt);
    for (size_t i = 0; i < o->n; i++) {
        indent(pp, level);
        buf_printf(pp->out, "option %s = %s;\n", v[i].name, v[i].value);
    }
    free(v);
}

static void print_inline_options(pb_print_t *pp, const pb_field_t *fd, const pb_opts_t *o)
{
    size_t n = o->n + (fd && fd->default_value) + (fd && fd->json_name);
    if (!n)
        return;
    buf_append_str(pp->out, " [");
    bool first = true;
    if (fd && fd->default_value) {
        bool str = fd->type == PB_STRING || fd->type == PB_BYTES;
        buf_append_str(pp->out, "default = ");
        if (str)
            pb_quote(pp->out, fd->default_value);
        else
            buf_append_str(pp->out, fd->default_value);
        first = false;
    }
    if (fd && fd->json_name) {
        buf_append_str(pp->out, first ? "json_name = " : ", json_name = ");
        pb_quote(pp->out, fd->json_name);
        first = false;
    }
    for (size_t i = 0; i < o->n; i++) {
        buf_printf(pp->out, "%s%s = %s", first ? "" : ", ", o->v[i].name, o->v[i].value);
        first = false;
    }
    buf_append_u8(pp->out, ']');
}

static void print_ranges(pb_print_t *pp, const char *kw, const pb_range_t *r, size_t n, int32_t max,
                         int level)
{
    if (!n)
        return;
    indent(pp, level);
    buf_printf(pp->out, "%s ", kw);
    for (size_t i = 0; i < n; i++) {
        buf_printf(pp->out, "%s%" PRId32, i ? ", " : "", r[i].start);
        if (r[i].end == max && max != r[i].start)
            buf_append_str(pp->out, " to max");
        else if (r[i].end != r[i].start)
            buf_printf(pp->out, " to %" PRId32, r[i].end);
    }
    buf_append_str(pp->out, ";\n");
}

static void print_names(pb_print_t *pp, char *const *names, size_t n, int level)
{
    if (!n)
        return;
    indent(pp, level);
    buf_append_str(pp->out, "reserved ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_str(pp->out, ", ");
        pb_quote(pp->out, names[i]);
    }
    buf_append_str(pp->out, ";\n");
}

static void print_enum(pb_print_t *pp, const pb_enum_t *e, int level)
{
    indent(pp, level);
    buf_printf(pp->out, "enum %s {\n", e->name);
    print_options(pp, &e->opts, level + 1);
    print_ranges(pp, "reserved", e->res, e->nres, INT32_MAX, level + 1);
    print_names(pp, e->resnames, e->nresnames, level + 1);
    for (size_t i = 0; i < e->nvals; i++) {
        indent(pp, level + 1);
        buf_printf(pp->out, "%s = %" PRId32, e->vals[i].name, e->vals[i].number);
        print_inline_options(pp, NULL, &e->vals[i].opts);
        buf_append_str(pp->out, ";\n");
    }
    indent(pp, level);
    buf_append_str(pp->out, "}\n");
}

static const char *type_text(pb_print_t *pp, const pb_msg_t *m, const pb_field_t *fd)
{
    if (!fd->type_name)
        return pb_scalar_name(fd->type);
    if (pp->normalize && fd->full_type)
        return fd->full_type;
    return fd->full_type ? relative_name(pp, m->full, fd->full_type) : fd->type_name;
}

static void print_field(pb_print_t *pp, const pb_msg_t *m, const pb_field_t *fd, int level)
{
    indent(pp, level);
    if (fd->msg && fd->msg->map_entry && fd->label == PB_LABEL_REPEATED && fd->msg->nfields == 2) {
        buf_printf(pp->out, "map<%s, ", type_text(pp, fd->msg, &fd->msg->fields[0]));
        buf_printf(pp->out, "%s>", type_text(pp, fd->msg, &fd->msg->fields[1]));
    } else {
        bool in_real_oneof = fd->oneof >= 0 && !m->oneofs[fd->oneof].synthetic;
        if (fd->label == PB_LABEL_REPEATED)
            buf_append_str(pp->out, "repeated ");
        else if (fd->label == PB_LABEL_REQUIRED)
            buf_append_str(pp->out, "required ");
        else if (!in_real_oneof && (fd->proto3_optional || fd->explicit_label))
            buf_append_str(pp->out, "optional ");
        buf_append_str(pp->out, type_text(pp, m, fd));
    }
    buf_printf(pp->out, " %s = %" PRId32, fd->name, fd->number);
    print_inline_options(pp, fd, &fd->opts);
    buf_append_str(pp->out, ";\n");
}

static void print_msg(pb_print_t *pp, const pb_msg_t *m, int level)
{
    indent(pp, level);
    buf_printf(pp->out, "message %s {\n", m->name);
    print_options(pp, &m->opts, level + 1);
    print_ranges(pp, "reserved", m->res, m->nres, PB_FIELD_NUMBER_MAX, level + 1);
    print_names(pp, m->resnames, m->nresnames, level + 1);
    for (size_t i = 0; i < m->nfields; i++) {
        const pb_field_t *fd = &m->fields[i];
        if (fd->oneof >= 0 && !m->oneofs[fd->oneof].synthetic) {
            /* a oneof is printed where its first field is */
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                first = m->fields[j].oneof != fd->oneof;
            if (!first)
                continue;
            indent(pp, level + 1);
            buf_printf(pp->out, "oneof %s {\n", m->oneofs[fd->oneof].name);
            print_options(pp, &m->oneofs[fd->oneof].opts, level + 2);
            for (size_t j = i; j < m->nfields; j++)
                if (m->fields[j].oneof == fd->oneof)
                    print_field(pp, m, &m->fields[j], level + 2);
            indent(pp, level + 1);
            buf_append_str(pp->out, "}\n");
            continue;
        }
        print_field(pp, m, fd, level + 1);
    }
    print_ranges(pp, "extensions", m->ext, m->next, PB_FIELD_NUMBER_MAX, level + 1);
    for (size_t i = 0; i < m->nmsgs; i++)
        if (!m->msgs[i]->map_entry)
            print_msg(pp, m->msgs[i], level + 1);
    for (size_t i = 0; i < m->nenums; i++)
        print_enum(pp, m->enums[i], level + 1);
    indent(pp, level);
    buf_append_str(pp->out, "}\n");
}

void pb_file_print(const pb_file_t *f, bool normalize, buf_t *out)
{
    pb_print_t pp = {.out = out, .normalize = normalize, .f = f};
    char *scope = f->package ? join_name("", f->package) : weir_strdup("");
    buf_printf(out, "syntax = \"%s\";\n", f->syntax ? f->syntax : "proto2");
    if (f->package)
        buf_printf(out, "package %s;\n", f->package);
    for (size_t i = 0; i < f->nimports; i++) {
        buf_printf(out, "%simport %s", i == 0 ? "\n" : "",
                   f->import_kind[i] == 1   ? "public "
                   : f->import_kind[i] == 2 ? "weak "
                                            : "");
        pb_quote(out, f->imports[i]);
        buf_append_str(out, ";\n");
    }
    if (f->opts.n)
        buf_append_u8(out, '\n');
    print_options(&pp, &f->opts, 0);
    for (size_t i = 0; i < f->nmsgs; i++) {
        buf_append_u8(out, '\n');
        print_msg(&pp, f->msgs[i], 0);
    }
    for (size_t i = 0; i < f->nenums; i++) {
        buf_append_u8(out, '\n');
        print_enum(&pp, f->enums[i], 0);
    }
    for (size_t i = 0; i < f->nsvcs; i++) {
        const pb_service_t *s = &f->svcs[i];
        buf_printf(out, "\nservice %s {\n", s->name);
        print_options(&pp, &s->opts, 1);
        for (size_t k = 0; k < s->nrpcs; k++) {
            const pb_rpc_t *r = &s->rpcs[k];
            buf_printf(out, "  rpc %s(%s%s) returns ", r->name,
                       r->client_streaming ? "stream " : "",
                       normalize ? r->full_in : relative_name(&pp, scope, r->full_in));
            buf_printf(out, "(%s%s)", r->server_streaming ? "stream " : "",
                       normalize ? r->full_out : relative_name(&pp, scope, r->full_out));
            if (r->opts.n) {
                buf_append_str(out, " {\n");
                print_options(&pp, &r->opts, 2);
                buf_append_str(out, "  }\n");
            } else {
                buf_append_str(out, ";\n");
            }
        }
        buf_append_str(out, "}\n");
    }
    free(scope);
}

/* ---- entry points
 * -------------------------------------------------------------------------------
 */

/* Confluent's serializers send a base64 FileDescriptorProto: one token of base64 characters. */
static bool looks_base64(const char *text, size_t len)
{
    if (len < 4 || len % 4)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!(isalnum((unsigned char)c) || c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

int reg_proto_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                    bool normalize, const reg_bounds_t *b, char *err, size_t err_size)
{
    pb_file_t *f = pb_file_new();
    int rc;
    if (looks_base64(text, len)) {
        buf_t bin;
        buf_init(&bin);
        rc = reg_base64_decode(&bin, text, len);
        if (rc == 0)
            rc = pb_desc_decode(f, bin.data, bin.len, b->depth_max, err, err_size);
        else
            reg_errf(err, err_size, "not a .proto text, nor a base64 FileDescriptorProto");
        buf_deinit(&bin);
    } else {
        rc = pb_parse_text(f, text, len, b->depth_max, err, err_size);
    }
    if (rc == 0)
        rc = pb_file_link(f, refs, b, err, err_size);
    if (rc) {
        pb_file_free(f);
        return -WEIR_EINVAL;
    }
    buf_t out;
    buf_init(&out);
    pb_file_print(f, normalize, &out);
    buf_append_u8(&out, 0);
    s->canonical = (char *)out.data;
    s->model = f;
    return 0;
}

int reg_proto_message_name(const registry_schema_t *s, const int32_t *idx, size_t nidx, char *out,
                           size_t out_size)
{
    const pb_file_t *f = s->model;
    int32_t first = nidx ? idx[0] : 0;
    if (first < 0 || (size_t)first >= f->nmsgs)
        return -1;
    const pb_msg_t *m = f->msgs[first];
    for (size_t i = 1; i < nidx; i++) {
        if (idx[i] < 0 || (size_t)idx[i] >= m->nmsgs)
            return -1;
        m = m->msgs[idx[i]];
    }
    snprintf(out, out_size, "%s", m->full + 1); /* without the leading '.' */
    return 0;
}

void reg_proto_descriptor(const registry_schema_t *s, buf_t *out)
{
    pb_desc_encode(s->model, NULL, out);
}
