/*
 * io_real: the storage I/O interface on the real file system (POSIX calls).
 *
 * Every call returns 0 or a negative WEIR_ code and never leaves its work half done silently:
 * pwrite and pread loop over short transfers and EINTR, so a caller either gets the whole range
 * or an error. errno is logged here, where it is still meaningful, and mapped to WEIR_EIO
 * (or WEIR_ENOENT / WEIR_EEXIST, which callers act on).
 */
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* The path of an open file, for a message about it: /proc/self/fd names it. */
static const char *fd_path(int fd, char *buf, size_t size)
{
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, size - 1);
    if (n <= 0)
        snprintf(buf, size, "fd %d", fd);
    else
        buf[n] = 0;
    return buf;
}

/* The calls that can fail, each logged on its own at most once per interval (a full disk fails
 * every append: one line for the pwrite, not thousands). */
typedef enum {
    IO_OPEN,
    IO_CLOSE,
    IO_PWRITE,
    IO_PREAD,
    IO_FDATASYNC,
    IO_FTRUNCATE,
    IO_FALLOCATE,
    IO_FSTAT,
    IO_RENAME,
    IO_UNLINK,
    IO_MKDIR,
    IO_RMDIR,
    IO_OPEN_DIR,
    IO_FSYNC_DIR,
    IO_OPENDIR,
    IO_READDIR,
    IO_NCALLS
} io_call_t;
static const char *const io_call_names[IO_NCALLS] = {
    [IO_OPEN] = "open",           [IO_CLOSE] = "close",         [IO_PWRITE] = "pwrite",
    [IO_PREAD] = "pread",         [IO_FDATASYNC] = "fdatasync", [IO_FTRUNCATE] = "ftruncate",
    [IO_FALLOCATE] = "fallocate", [IO_FSTAT] = "fstat",         [IO_RENAME] = "rename",
    [IO_UNLINK] = "unlink",       [IO_MKDIR] = "mkdir",         [IO_RMDIR] = "rmdir",
    [IO_OPEN_DIR] = "open dir",   [IO_FSYNC_DIR] = "fsync dir", [IO_OPENDIR] = "opendir",
    [IO_READDIR] = "readdir",
};
static log_limit_t io_limits[IO_NCALLS];

/* Maps errno to a WEIR_ code and logs it with the file's path: `name`, or NULL to find it
 * from fd. */
static int io_real_err(io_call_t call, const char *name, int fd)
{
    int e = errno;
    if (e == ENOENT)
        return -WEIR_ENOENT;
    if (e == EEXIST)
        return -WEIR_EEXIST;
    char path[512];
    log_write_limited(&io_limits[call], LOG_ERROR, "storage", "%s %s: %s", io_call_names[call],
                      name ? name : fd_path(fd, path, sizeof(path)), strerror(e));
    return e == ENOSPC || e == EDQUOT ? -WEIR_ENOSPC : -WEIR_EIO;
}

static int io_real_open(storage_io_t *io, const char *path, int flags, int *fd)
{
    (void)io;
    int f = open(path, flags | O_CLOEXEC, 0644);
    if (f < 0)
        return io_real_err(IO_OPEN, path, -1);
    *fd = f;
    return 0;
}

static int io_real_close(storage_io_t *io, int fd)
{
    (void)io;
    /* close() may report a deferred write error on some file systems; the log never relies on
     * close for durability (it fdatasyncs first), so the error is only logged. */
    if (close(fd) != 0 && errno != EINTR)
        return io_real_err(IO_CLOSE, NULL, fd);
    return 0;
}

static int io_real_pwrite(storage_io_t *io, int fd, const void *p, size_t n, uint64_t off)
{
    (void)io;
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, q, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return io_real_err(IO_PWRITE, NULL, fd);
        }
        q += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int io_real_pread(storage_io_t *io, int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    (void)io;
    uint8_t *q = p;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, q + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return io_real_err(IO_PREAD, NULL, fd);
        }
        if (r == 0)
            break; /* end of file */
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int io_real_fdatasync(storage_io_t *io, int fd)
{
    (void)io;
    /* No retry on failure: after a failed fdatasync the kernel may already have dropped the
     * dirty pages, so a second call that succeeds proves nothing (PostgreSQL's "fsyncgate"). */
    if (fdatasync(fd) != 0)
        return io_real_err(IO_FDATASYNC, NULL, fd);
    return 0;
}

static int io_real_ftruncate(storage_io_t *io, int fd, uint64_t size)
{
    (void)io;
    if (ftruncate(fd, (off_t)size) != 0)
        return io_real_err(IO_FTRUNCATE, NULL, fd);
    return 0;
}

static int io_real_preallocate(storage_io_t *io, int fd, uint64_t off, uint64_t len)
{
    (void)io;
    int rc = fallocate(fd, 0, (off_t)off, (off_t)len);
    if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
        return -WEIR_EUNSUPPORTED;
    if (rc != 0 && (errno == ENOSPC || errno == EDQUOT))
        return -WEIR_ENOSPC; /* preallocation is optional: the write that follows tells */
    if (rc != 0)
        return io_real_err(IO_FALLOCATE, NULL, fd);
    return 0;
}

static int io_real_fsize(storage_io_t *io, int fd, uint64_t *size)
{
    (void)io;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return io_real_err(IO_FSTAT, NULL, fd);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int io_real_rename(storage_io_t *io, const char *from, const char *to)
{
    (void)io;
    if (rename(from, to) != 0)
        return io_real_err(IO_RENAME, from, -1);
    return 0;
}

static int io_real_unlink(storage_io_t *io, const char *path)
{
    (void)io;
    if (unlink(path) != 0)
        return io_real_err(IO_UNLINK, path, -1);
    return 0;
}

static int io_real_mkdir(storage_io_t *io, const char *path)
{
    (void)io;
    if (mkdir(path, 0755) != 0)
        return io_real_err(IO_MKDIR, path, -1);
    return 0;
}

static int io_real_rmdir(storage_io_t *io, const char *path)
{
    (void)io;
    if (rmdir(path) != 0)
        return io_real_err(IO_RMDIR, path, -1);
    return 0;
}

static int io_real_fsync_dir(storage_io_t *io, const char *path)
{
    (void)io;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_real_err(IO_OPEN_DIR, path, -1);
    int rc = 0;
    if (fsync(fd) != 0)
        rc = io_real_err(IO_FSYNC_DIR, path, -1);
    close(fd);
    return rc;
}

static int io_real_list(storage_io_t *io, const char *dir, int (*fn)(const char *name, void *arg),
                        void *arg)
{
    (void)io;
    DIR *d = opendir(dir);
    if (!d)
        return io_real_err(IO_OPENDIR, dir, -1);
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fn(e->d_name, arg) != 0)
            break;
        errno = 0;
    }
    if (!e && errno != 0)
        rc = io_real_err(IO_READDIR, dir, -1);
    closedir(d);
    return rc;
}

static bool io_real_exists(storage_io_t *io, const char *path)
{
    (void)io;
    struct stat st;
    return stat(path, &st) == 0;
}

static const storage_io_ops_t io_real_ops = {
    .open = io_real_open,
    .close = io_real_close,
    .pwrite = io_real_pwrite,
    .pread = io_real_pread,
    .fdatasync = io_real_fdatasync,
    .ftruncate = io_real_ftruncate,
    .preallocate = io_real_preallocate,
    .fsize = io_real_fsize,
    .rename = io_real_rename,
    .unlink = io_real_unlink,
    .mkdir = io_real_mkdir,
    .rmdir = io_real_rmdir,
    .fsync_dir = io_real_fsync_dir,
    .list = io_real_list,
    .exists = io_real_exists,
};

static storage_io_t io_real_instance = {.ops = &io_real_ops};

storage_io_t *storage_io_real(void)
{
    return &io_real_instance;
}
