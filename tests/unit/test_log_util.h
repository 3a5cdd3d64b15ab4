/*
 * Helpers shared by the partition-log tests (tests/unit/test_log*.c, test_compact.c,
 * test_segment.c and tests/sim/): batches with known content, temporary directories on the
 * real file system, and reading a whole log back through the public read path.
 * Header-only (static), because the Makefile makes every tests/unit/test_*.c a program.
 */
#ifndef WEIR_TEST_LOG_UTIL_H
#define WEIR_TEST_LOG_UTIL_H

#include "storage/log_internal.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A batch of n records: key "k<key0+i>" (or null if key0 < 0), value of value_len bytes
 * derived from (seed, i), timestamp ts + i. Appended to out; returns its size. */
static inline size_t tl_batch(buf_t *out, int n, int key0, int value_len, int64_t ts, uint64_t seed)
{
    storage_record_in_t *recs = weir_calloc((size_t)n, sizeof(*recs));
    char(*keys)[24] = weir_calloc((size_t)n, sizeof(*keys));
    uint8_t *vals = weir_malloc((size_t)n * (size_t)(value_len > 0 ? value_len : 1));
    for (int i = 0; i < n; i++) {
        if (key0 >= 0) {
            int kl = snprintf(keys[i], sizeof(keys[i]), "k%d", key0 + i);
            recs[i].key = keys[i];
            recs[i].key_len = kl;
        } else {
            recs[i].key_len = -1;
        }
        uint8_t *v = vals + (size_t)i * (size_t)(value_len > 0 ? value_len : 1);
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1;
        for (int k = 0; k < value_len; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v[k] = (uint8_t)x;
        }
        recs[i].value = value_len >= 0 ? v : NULL;
        recs[i].value_len = value_len;
        recs[i].timestamp = ts + i;
    }
    size_t before = out->len;
    storage_batch_build(out, recs, (size_t)n, NULL);
    free(recs);
    free(keys);
    free(vals);
    return out->len - before;
}

/* Appends a fresh batch; returns the base offset (or the negative error). */
static inline int64_t tl_append(storage_log_t *log, int n, int value_len, int64_t ts, uint64_t seed)
{
    buf_t b;
    buf_init(&b);
    tl_batch(&b, n, -1, value_len, ts, seed);
    int64_t base;
    int rc = storage_log_append(log, b.data, b.len, &base);
    buf_deinit(&b);
    return rc ? rc : base;
}

/* Every batch of the log, read back through storage_log_read + storage_slice_pread, into
 * out as one concatenation. Returns the number of batches or a negative error. */
static inline int64_t tl_read_all(storage_log_t *log, buf_t *out)
{
    int64_t off = storage_log_start_offset(log), end = storage_log_end_offset(log), n = 0;
    while (off < end) {
        storage_slice_t s;
        int rc = storage_log_read(log, off, 1 << 20, &s);
        if (rc)
            return rc;
        if (s.len == 0)
            break;
        size_t len = s.len;
        uint8_t *p = buf_extend(out, len);
        rc = storage_slice_pread(log, &s, p);
        storage_slice_release(log, &s);
        if (rc)
            return rc;
        size_t pos = 0;
        while (pos < len) {
            storage_batch_header_t h;
            size_t t;
            if (storage_batch_header_read(p + pos, len - pos, &h, &t) != 0)
                return -WEIR_ECORRUPT;
            off = h.base_offset + h.last_offset_delta + 1;
            pos += t;
            n++;
        }
    }
    return n;
}

/* ---- temporary directories ------------------------------------------------------------------ */

static inline char *tl_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/weir-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        abort();
    }
    return weir_strdup(d);
}

static inline int tl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tl_rmrf(char *dir)
{
    if (dir)
        nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* ---- files ------------------------------------------------------------------------------------
 */

static inline long tl_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline void tl_seg_path(char *out, size_t cap, const char *dir, int64_t base,
                               const char *ext)
{
    storage_segment_path(out, cap, dir, base, ext);
}

/* Overwrites bytes of a real file. */
static inline int tl_poke(const char *path, long pos, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t w = pwrite(fd, p, n, pos);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static inline int tl_flip(const char *path, long pos)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    uint8_t b;
    int rc = -1;
    if (pread(fd, &b, 1, pos) == 1) {
        b ^= 0x5a;
        rc = pwrite(fd, &b, 1, pos) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

static inline int tl_append_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, p, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

#endif
