/*
 * Small helpers the registry's files share: a string-keyed hash map, UTF-8 checking, base64,
 * JSON quoting, and the one format of compatibility messages (Confluent's verbose answers).
 *
 * Invariant: the map never holds two entries with the same key; its slot count is a power of two,
 * doubled as soon as the entries outnumber the slots.
 */
#include "registry/registry_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t reg_hash(const void *p, size_t n)
{
    /* FNV-1a, 64-bit: keys are subject names and schema texts, not attacker-chosen in bulk
     * beyond the registry's own bounds. */
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

void reg_map_init(reg_map_t *m)
{
    m->nslots = 16;
    m->count = 0;
    m->slots = weir_calloc(m->nslots, sizeof(*m->slots));
}

void reg_map_deinit(reg_map_t *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        reg_map_ent_t *e = m->slots[i];
        while (e) {
            reg_map_ent_t *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static reg_map_ent_t **map_find(const reg_map_t *m, const char *key, uint64_t h)
{
    reg_map_ent_t **pe = &m->slots[h & (m->nslots - 1)];
    while (*pe && ((*pe)->hash != h || strcmp((*pe)->key, key) != 0))
        pe = &(*pe)->next;
    return pe;
}

void *reg_map_get(const reg_map_t *m, const char *key)
{
    reg_map_ent_t **pe = map_find(m, key, reg_hash(key, strlen(key)));
    return *pe ? (*pe)->val : NULL;
}

static void map_grow(reg_map_t *m)
{
    size_t n = m->nslots * 2;
    reg_map_ent_t **slots = weir_calloc(n, sizeof(*slots));
    for (size_t i = 0; i < m->nslots; i++) {
        reg_map_ent_t *e = m->slots[i];
        while (e) {
            reg_map_ent_t *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

void reg_map_put(reg_map_t *m, const char *key, void *val)
{
    uint64_t h = reg_hash(key, strlen(key));
    reg_map_ent_t **pe = map_find(m, key, h);
    if (*pe) {
        (*pe)->val = val;
        return;
    }
    reg_map_ent_t *e = weir_calloc(1, sizeof(*e));
    e->key = weir_strdup(key);
    e->val = val;
    e->hash = h;
    *pe = e;
    if (++m->count > m->nslots)
        map_grow(m);
}

void *reg_map_del(reg_map_t *m, const char *key)
{
    reg_map_ent_t **pe = map_find(m, key, reg_hash(key, strlen(key)));
    reg_map_ent_t *e = *pe;
    if (!e)
        return NULL;
    void *val = e->val;
    *pe = e->next;
    free(e->key);
    free(e);
    m->count--;
    return val;
}

void reg_map_each(const reg_map_t *m, int (*fn)(void *arg, const char *key, void *val), void *arg)
{
    for (size_t i = 0; i < m->nslots; i++)
        for (reg_map_ent_t *e = m->slots[i]; e; e = e->next)
            if (fn(arg, e->key, e->val))
                return;
}

bool reg_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += len;
    }
    return true;
}

void reg_errf(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || !err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

void reg_compat_msg(buf_t *msgs, const char *type, const char *info, const char *fmt, ...)
{
    if (!msgs)
        return;
    char desc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    buf_printf(msgs, "{errorType:'%s', description:'%s', additionalInfo:'%s'}%c", type, desc,
               info ? info : "", REG_MSG_SEP);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void reg_base64_encode(buf_t *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        buf_append(out, q, 4);
    }
}

static int b64_val(char c)
{
    const char *x = c ? strchr(b64, c) : NULL;
    return x ? (int)(x - b64) : -1;
}

int reg_base64_decode(buf_t *out, const char *p, size_t n)
{
    if (n % 4)
        return -WEIR_EINVAL;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (p[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64_val(p[i + k])) < 0)
                return -WEIR_EINVAL;
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        uint8_t b[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
        buf_append(out, b, (size_t)(3 - pad));
    }
    return 0;
}

void reg_json_quote(buf_t *out, const char *s, size_t n)
{
    buf_append_u8(out, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        switch (c) {
        case '"':
            buf_append_str(out, "\\\"");
            break;
        case '\\':
            buf_append_str(out, "\\\\");
            break;
        case '\n':
            buf_append_str(out, "\\n");
            break;
        case '\r':
            buf_append_str(out, "\\r");
            break;
        case '\t':
            buf_append_str(out, "\\t");
            break;
        default:
            if (c < 0x20)
                buf_printf(out, "\\u%04x", c);
            else
                buf_append_u8(out, c);
        }
    }
    buf_append_u8(out, '"');
}
