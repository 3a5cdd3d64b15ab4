/*
 * Error strings, the always-on assert, and the allocation wrappers. Allocation failure aborts:
 * every size that reaches these has been bounded by its caller first.
 */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const weir_errstr[] = {
    [WEIR_OK] = "ok",
    [WEIR_EAGAIN] = "try again",
    [WEIR_EINVAL] = "invalid argument or input",
    [WEIR_ENOMEM] = "out of memory or over a memory bound",
    [WEIR_EIO] = "I/O error",
    [WEIR_ECORRUPT] = "corrupt data",
    [WEIR_ENOENT] = "not found",
    [WEIR_EEXIST] = "already exists",
    [WEIR_ERANGE] = "out of range",
    [WEIR_ECLOSED] = "closed",
    [WEIR_ETIMEDOUT] = "timed out",
    [WEIR_ETOOBIG] = "too big",
    [WEIR_EOFFLINE] = "offline",
    [WEIR_EUNSUPPORTED] = "unsupported",
    [WEIR_ENOSPC] = "no space left on the device",
};

const char *weir_strerror(int err)
{
    if (err < 0)
        err = -err;
    if ((size_t)err < WEIR_ARRAY_LEN(weir_errstr) && weir_errstr[err])
        return weir_errstr[err];
    return "unknown error";
}

void weir_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

static void weir_oom(size_t n)
{
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

void *weir_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        weir_oom(n);
    return p;
}

void *weir_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        weir_oom(n * size);
    return p;
}

void *weir_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        weir_oom(n);
    return q;
}

char *weir_strdup(const char *s)
{
    return weir_strndup(s, strlen(s));
}

char *weir_strndup(const char *s, size_t n)
{
    char *d = weir_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
