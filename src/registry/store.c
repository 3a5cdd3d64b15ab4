/*
 * The test store: `_schemas` records appended to one file, each framed as
 * [crc32c u32][key_len u32][value_len i32, -1 = tombstone][key][value], with fdatasync after
 * every append so an acknowledged write survives a crash. Replay reads the frames back in
 * order and cuts a torn tail (a frame cut short or failing its CRC) at the last good frame.
 * With no path it keeps the records in memory.
 *
 * It stands in for the broker's internal-topic API in tests and in the test server; it never
 * compacts. Appends are serialized by the registry's writer mutex; the store takes a mutex of
 * its own anyway so a test may share one between registries.
 */
#include "registry/registry_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { STORE_FRAME_HEADER = 12, STORE_RECORD_MAX = 64 << 20 };

struct registry_file_store {
    pthread_mutex_t mu;
    int fd; /* -1: memory */
    buf_t mem;
    bool fail_next;
};

int registry_file_store_open(registry_file_store_t **out, const char *path)
{
    registry_file_store_t *fs = weir_calloc(1, sizeof(*fs));
    pthread_mutex_init(&fs->mu, NULL);
    fs->fd = -1;
    if (path) {
        fs->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fs->fd < 0) {
            log_error("registry", "cannot open %s: %s", path, strerror(errno));
            pthread_mutex_destroy(&fs->mu);
            free(fs);
            return -WEIR_EIO;
        }
    }
    *out = fs;
    return 0;
}

void registry_file_store_close(registry_file_store_t *fs)
{
    if (!fs)
        return;
    if (fs->fd >= 0)
        close(fs->fd);
    buf_deinit(&fs->mem);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
}

void registry_file_store_fail_next(registry_file_store_t *fs)
{
    pthread_mutex_lock(&fs->mu);
    fs->fail_next = true;
    pthread_mutex_unlock(&fs->mu);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -WEIR_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int store_append(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t value_len)
{
    registry_file_store_t *fs = arg;
    if (key_len > STORE_RECORD_MAX || value_len > STORE_RECORD_MAX)
        return -WEIR_ETOOBIG;
    buf_t f;
    buf_init(&f);
    buf_append_be32(&f, 0);
    buf_append_be32(&f, (uint32_t)key_len);
    buf_append_be32(&f, value ? (uint32_t)value_len : UINT32_MAX);
    buf_append(&f, key, key_len);
    if (value)
        buf_append(&f, value, value_len);
    be32_write(f.data, crc32c(0, f.data + 4, f.len - 4));
    int rc = 0;
    pthread_mutex_lock(&fs->mu);
    if (fs->fail_next) {
        fs->fail_next = false;
        rc = -WEIR_EIO;
    } else if (fs->fd < 0) {
        buf_append(&fs->mem, f.data, f.len);
    } else {
        off_t end = lseek(fs->fd, 0, SEEK_END);
        rc = end < 0 ? -WEIR_EIO : write_all(fs->fd, f.data, f.len);
        if (rc == 0 && fdatasync(fs->fd) != 0)
            rc = -WEIR_EIO;
        if (rc && end >= 0 && ftruncate(fs->fd, end) != 0)
            log_error("registry", "cannot cut a failed append: %s", strerror(errno));
    }
    pthread_mutex_unlock(&fs->mu);
    buf_deinit(&f);
    return rc;
}

/* Walks frames in [p, p+n); returns the length of the good prefix, calling fn on each. */
static size_t frames_walk(const uint8_t *p, size_t n, registry_record_fn fn, void *fn_arg, int *rc)
{
    size_t off = 0;
    *rc = 0;
    while (n - off >= STORE_FRAME_HEADER) {
        const uint8_t *h = p + off;
        uint32_t klen = be32_read(h + 4), vraw = be32_read(h + 8);
        size_t vlen = vraw == UINT32_MAX ? 0 : vraw;
        if (klen > STORE_RECORD_MAX || vlen > STORE_RECORD_MAX ||
            n - off - STORE_FRAME_HEADER < (size_t)klen + vlen)
            break;
        size_t total = STORE_FRAME_HEADER + klen + vlen;
        if (crc32c(0, h + 4, total - 4) != be32_read(h))
            break;
        *rc = fn(fn_arg, h + STORE_FRAME_HEADER, klen,
                 vraw == UINT32_MAX ? NULL : h + STORE_FRAME_HEADER + klen, vlen);
        if (*rc)
            return off;
        off += total;
    }
    return off;
}

static int store_replay(void *arg, registry_record_fn fn, void *fn_arg)
{
    registry_file_store_t *fs = arg;
    int rc = 0;
    pthread_mutex_lock(&fs->mu);
    if (fs->fd < 0) {
        frames_walk(fs->mem.data, fs->mem.len, fn, fn_arg, &rc);
        pthread_mutex_unlock(&fs->mu);
        return rc;
    }
    struct stat st;
    buf_t data;
    buf_init(&data);
    if (fstat(fs->fd, &st) != 0) {
        rc = -WEIR_EIO;
        goto out;
    }
    if (st.st_size == 0)
        goto out;
    uint8_t *p = buf_extend(&data, (size_t)st.st_size);
    for (size_t got = 0; got < (size_t)st.st_size;) {
        ssize_t k = pread(fs->fd, p + got, (size_t)st.st_size - got, (off_t)got);
        if (k <= 0) {
            rc = -WEIR_EIO;
            goto out;
        }
        got += (size_t)k;
    }
    size_t good = frames_walk(data.data, data.len, fn, fn_arg, &rc);
    if (rc == 0 && good < data.len) {
        log_warn("registry", "store: cutting a torn tail of %zu bytes", data.len - good);
        if (ftruncate(fs->fd, (off_t)good) != 0)
            rc = -WEIR_EIO;
    }
out:
    buf_deinit(&data);
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

registry_store_t registry_file_store_iface(registry_file_store_t *fs)
{
    return (registry_store_t){.arg = fs, .append = store_append, .replay = store_replay};
}
