/*
 * Tables for the `weir` listing commands: left-aligned columns two spaces apart under capital
 * headers, no trailing spaces, and never wider than the limit (100 columns) when the command
 * marked a column shrinkable: the widest shrinkable columns lose characters first and end with
 * "…". Widths count UTF-8 code points, so names in any script line up.
 *
 * Invariant: a table owns copies of every cell; rendering does not change it.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>

#define SHRINK_MIN 8 /* a shrunk column keeps at least this many characters */

size_t cli_text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((uint8_t)*s & 0xc0) != 0x80;
    return n;
}

void cli_table_init(cli_table_t *t, size_t ncols, const char *const *headers)
{
    WEIR_ASSERT(ncols > 0 && ncols <= WEIR_ARRAY_LEN(t->headers));
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    for (size_t j = 0; j < ncols; j++)
        t->headers[j] = headers[j];
}

void cli_table_deinit(cli_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

void cli_table_add(cli_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = weir_realloc(t->cells, t->cap * t->ncols * sizeof(char *));
    }
    for (size_t j = 0; j < t->ncols; j++)
        t->cells[t->nrows * t->ncols + j] = weir_strdup(cells[j] ? cells[j] : "");
    t->nrows++;
}

void cli_table_addf(cli_table_t *t, const char *fmt, ...)
{
    buf_t b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(tmp)) { /* long cells: format again into a big enough buffer */
        char *big = weir_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_append_str(&b, big);
        free(big);
    } else if (n > 0) {
        buf_append_str(&b, tmp);
    }
    buf_append_u8(&b, '\0');
    const char *cells[WEIR_ARRAY_LEN(t->headers)] = {0};
    char *p = (char *)b.data;
    for (size_t j = 0; j < t->ncols; j++) {
        cells[j] = p ? p : "";
        char *tab = p ? strchr(p, '\t') : NULL;
        if (tab)
            *tab = '\0';
        p = tab ? tab + 1 : NULL;
    }
    cli_table_add(t, cells);
    buf_deinit(&b);
}

/* Appends s cut to `width` code points ("…" marks a cut), padded with spaces when pad. */
static void put_cell(buf_t *out, const char *s, size_t width, bool pad)
{
    size_t w = cli_text_width(s);
    if (w <= width) {
        buf_append_str(out, s);
    } else {
        size_t keep = width ? width - 1 : 0, n = 0;
        const char *p = s;
        while (*p && n < keep) {
            p++;
            while (((uint8_t)*p & 0xc0) == 0x80)
                p++;
            n++;
        }
        buf_append(out, s, (size_t)(p - s));
        if (width)
            buf_append_str(out, "\xe2\x80\xa6"); /* … */
        w = width;
    }
    if (pad)
        for (; w < width; w++)
            buf_append_u8(out, ' ');
}

static void fit_widths(const cli_table_t *t, size_t *w, size_t max_width)
{
    size_t total = 2 * (t->ncols - 1);
    for (size_t j = 0; j < t->ncols; j++)
        total += w[j];
    while (total > max_width) {
        size_t widest = t->ncols;
        for (size_t j = 0; j < t->ncols; j++)
            if ((t->shrinkable & (1u << j)) && w[j] > SHRINK_MIN &&
                (widest == t->ncols || w[j] > w[widest]))
                widest = j;
        if (widest == t->ncols)
            return; /* nothing left to shrink: let it be wide rather than unreadable */
        w[widest]--;
        total--;
    }
}

void cli_table_render(const cli_table_t *t, size_t max_width, buf_t *out)
{
    size_t w[WEIR_ARRAY_LEN(t->headers)];
    for (size_t j = 0; j < t->ncols; j++) {
        w[j] = cli_text_width(t->headers[j]);
        for (size_t i = 0; i < t->nrows; i++)
            w[j] = WEIR_MAX(w[j], cli_text_width(t->cells[i * t->ncols + j]));
    }
    fit_widths(t, w, max_width);
    for (size_t i = 0; i <= t->nrows; i++) {
        for (size_t j = 0; j < t->ncols; j++) {
            const char *s = i == 0 ? t->headers[j] : t->cells[(i - 1) * t->ncols + j];
            bool last = j + 1 == t->ncols;
            put_cell(out, s, w[j], !last);
            if (!last)
                buf_append_str(out, "  ");
        }
        /* A last column of empty cells would leave trailing spaces: trim them. */
        while (out->len && out->data[out->len - 1] == ' ')
            out->len--;
        buf_append_u8(out, '\n');
    }
}

void cli_table_print(const cli_table_t *t, FILE *f)
{
    buf_t b;
    buf_init(&b);
    cli_table_render(t, CLI_TABLE_WIDTH_MAX, &b);
    fwrite(b.data, 1, b.len, f);
    buf_deinit(&b);
}
