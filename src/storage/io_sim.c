/*
 * io_sim: a simulated disk for crash tests, in the spirit of SQLite's crash VFS (test6.c) and
 * TigerBeetle's simulated storage.
 *
 * Each file (inode) keeps two images: `cur`, what reads see now, and `dur`, what would be on the
 * platter after a power cut, plus the list of writes and truncations made since its last
 * fdatasync. Directory entries work the same way: `names` is the current namespace, `dnames`
 * the durable one, and `journal` the ordered list of namespace changes not yet made durable by
 * fsync_dir. fsync_dir commits the journal up to the last change touching that directory (an
 * ordered metadata journal, as ext4 keeps it). At a crash, usually a prefix of the journal
 * survives, sometimes an arbitrary subset (code must fsync the directory between namespace
 * changes whose order matters).
 *
 * At storage_io_sim_crash() a seeded generator decides what survives: part of the journal,
 * and for every unsynced write of every surviving file one of: kept, dropped, torn (a prefix
 * kept), zero-filled (the size grew but the data never landed) or garbage. Writes are judged
 * independently, so a later write can survive an earlier one (reordering); sometimes the
 * surviving writes are also applied in a shuffled order. Files reachable only through lost
 * names vanish.
 *
 * Invariant: applying an inode's pending ops in order to `dur` yields `cur`; every journal
 * entry applied in order to `dnames` yields `names`. All calls take one mutex, so the simulated
 * disk may be used from the flusher thread too (tests that want determinism flush by hand).
 */
#include "storage/storage.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

typedef enum { SIM_WRITE, SIM_TRUNC } sim_op_kind_t;

typedef struct {
    sim_op_kind_t kind;
    uint64_t off; /* write offset, or the truncation size */
    size_t len;
    uint8_t *data;
} sim_op_t;

typedef struct sim_inode {
    buf_t cur, dur;
    sim_op_t *ops;
    size_t nops, capops;
    bool is_dir;
    bool mark; /* reachability, during a crash */
} sim_inode_t;

typedef struct {
    char *path;
    sim_inode_t *ino;
} sim_name_t;

typedef struct {
    sim_name_t *v;
    size_t n, cap;
} sim_names_t;

typedef enum { SIM_J_LINK, SIM_J_RENAME, SIM_J_UNLINK } sim_jkind_t;

typedef struct {
    sim_jkind_t kind;
    char *path, *path2; /* LINK: path -> ino; RENAME: path -> path2; UNLINK: path */
    sim_inode_t *ino;
} sim_jop_t;

struct storage_io_sim {
    storage_io_t io; /* first, so the io pointer converts back */
    pthread_mutex_t mu;
    uint64_t rng;
    sim_names_t names, dnames;
    sim_jop_t *journal;
    size_t njournal, capjournal;
    sim_inode_t **inodes; /* every inode ever made, freed at sim_free or when unreachable */
    size_t ninodes, capinodes;
    sim_inode_t **fds; /* fd - 3 -> inode; NULL once closed or invalidated by a crash */
    size_t nfds, capfds;
    int sync_fail_after; /* -1: none armed */
    int64_t crash_after; /* mutating ops left before the disk freezes; -1: never */
    bool frozen;
    uint64_t nsyncs, nmutations;
};

static uint64_t sim_rand(storage_io_sim_t *sim)
{
    /* splitmix64: tiny, good enough, and reproducible from the seed. */
    uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t sim_below(storage_io_sim_t *sim, uint64_t n)
{
    return n ? sim_rand(sim) % n : 0;
}

static storage_io_sim_t *sim_of(storage_io_t *io)
{
    return (storage_io_sim_t *)io;
}

/* ---- namespace -------------------------------------------------------------------------- */

static sim_name_t *names_find(sim_names_t *ns, const char *path)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].path, path) == 0)
            return &ns->v[i];
    return NULL;
}

static void names_set(sim_names_t *ns, const char *path, sim_inode_t *ino)
{
    sim_name_t *e = names_find(ns, path);
    if (e) {
        e->ino = ino;
        return;
    }
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 16;
        ns->v = weir_realloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    ns->v[ns->n++] = (sim_name_t){weir_strdup(path), ino};
}

static void names_del(sim_names_t *ns, const char *path)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].path, path) == 0) {
            free(ns->v[i].path);
            ns->v[i] = ns->v[--ns->n];
            return;
        }
}

static void names_clear(sim_names_t *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i].path);
    ns->n = 0;
}

static void names_copy(sim_names_t *dst, const sim_names_t *src)
{
    names_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        names_set(dst, src->v[i].path, src->v[i].ino);
}

/* The directory part of path ("/a/b/c" -> "/a/b"), into out. */
static void path_parent(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash == path)
        n = 1; /* "/x" -> "/" */
    if (n >= cap)
        n = cap - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

static bool parent_is(const char *path, const char *dir)
{
    char p[512];
    path_parent(path, p, sizeof(p));
    return strcmp(p, dir) == 0;
}

static bool parent_exists(storage_io_sim_t *sim, const char *path)
{
    char p[512];
    path_parent(path, p, sizeof(p));
    if (p[0] == 0 || strcmp(p, "/") == 0)
        return true;
    sim_name_t *e = names_find(&sim->names, p);
    return e && e->ino->is_dir;
}

static void journal_add(storage_io_sim_t *sim, sim_jkind_t kind, const char *path,
                        const char *path2, sim_inode_t *ino)
{
    if (sim->njournal == sim->capjournal) {
        sim->capjournal = sim->capjournal ? sim->capjournal * 2 : 16;
        sim->journal = weir_realloc(sim->journal, sim->capjournal * sizeof(*sim->journal));
    }
    sim->journal[sim->njournal++] =
        (sim_jop_t){kind, weir_strdup(path), path2 ? weir_strdup(path2) : NULL, ino};
}

static void journal_apply(storage_io_sim_t *sim, const sim_jop_t *j)
{
    switch (j->kind) {
    case SIM_J_LINK:
        names_set(&sim->dnames, j->path, j->ino);
        break;
    case SIM_J_RENAME: {
        sim_name_t *e = names_find(&sim->dnames, j->path);
        if (e) {
            sim_inode_t *ino = e->ino;
            names_del(&sim->dnames, j->path);
            names_set(&sim->dnames, j->path2, ino);
        }
        break;
    }
    case SIM_J_UNLINK:
        names_del(&sim->dnames, j->path);
        break;
    }
}

/* Makes the first n journal entries durable and drops them from the journal. */
static void journal_commit(storage_io_sim_t *sim, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        journal_apply(sim, &sim->journal[i]);
        free(sim->journal[i].path);
        free(sim->journal[i].path2);
    }
    if (n == 0)
        return;
    memmove(sim->journal, sim->journal + n, (sim->njournal - n) * sizeof(*sim->journal));
    sim->njournal -= n;
}

/* ---- inodes and their pending ops ------------------------------------------------------- */

static sim_inode_t *inode_new(storage_io_sim_t *sim, bool is_dir)
{
    sim_inode_t *ino = weir_calloc(1, sizeof(*ino));
    ino->is_dir = is_dir;
    if (sim->ninodes == sim->capinodes) {
        sim->capinodes = sim->capinodes ? sim->capinodes * 2 : 64;
        sim->inodes = weir_realloc(sim->inodes, sim->capinodes * sizeof(*sim->inodes));
    }
    sim->inodes[sim->ninodes++] = ino;
    return ino;
}

static void inode_clear_ops(sim_inode_t *ino)
{
    for (size_t i = 0; i < ino->nops; i++)
        free(ino->ops[i].data);
    ino->nops = 0;
}

static void inode_free(sim_inode_t *ino)
{
    inode_clear_ops(ino);
    free(ino->ops);
    buf_deinit(&ino->cur);
    buf_deinit(&ino->dur);
    free(ino);
}

/* Applies a write to an image, zero-filling any hole before it. */
static void image_write(buf_t *b, uint64_t off, const uint8_t *p, size_t n)
{
    if (off > b->len) {
        size_t hole = (size_t)off - b->len; /* before buf_extend changes b->len */
        memset(buf_extend(b, hole), 0, hole);
    }
    size_t end = (size_t)off + n;
    if (end > b->len)
        buf_extend(b, end - b->len);
    if (p)
        memcpy(b->data + off, p, n);
    else
        memset(b->data + off, 0, n);
}

static void image_trunc(buf_t *b, uint64_t size)
{
    if (size <= b->len) {
        b->len = (size_t)size;
    } else {
        size_t grow = (size_t)size - b->len;
        memset(buf_extend(b, grow), 0, grow);
    }
}

static void inode_push_op(sim_inode_t *ino, sim_op_t op)
{
    if (ino->nops == ino->capops) {
        ino->capops = ino->capops ? ino->capops * 2 : 8;
        ino->ops = weir_realloc(ino->ops, ino->capops * sizeof(*ino->ops));
    }
    ino->ops[ino->nops++] = op;
}

/* fdatasync: the durable image catches up with the current one. */
static void inode_sync(sim_inode_t *ino)
{
    for (size_t i = 0; i < ino->nops; i++) {
        sim_op_t *op = &ino->ops[i];
        if (op->kind == SIM_WRITE)
            image_write(&ino->dur, op->off, op->data, op->len);
        else
            image_trunc(&ino->dur, op->off);
    }
    inode_clear_ops(ino);
    WEIR_DASSERT(ino->dur.len == ino->cur.len);
}

/* The crash fate of one pending op, applied to the durable image. */
static void crash_apply_op(storage_io_sim_t *sim, sim_inode_t *ino, const sim_op_t *op, int mode)
{
    if (op->kind == SIM_TRUNC) {
        if (mode == 2 || (mode == 0 && sim_below(sim, 2)))
            image_trunc(&ino->dur, op->off);
        return;
    }
    uint64_t r = mode == 2 ? 0 : mode == 1 ? 99 : sim_below(sim, 100);
    if (r < 40) { /* kept whole */
        image_write(&ino->dur, op->off, op->data, op->len);
    } else if (r < 65) { /* dropped */
    } else if (r < 85) { /* torn: a prefix landed, sector-aligned or not */
        size_t keep = (size_t)sim_below(sim, op->len + 1);
        if (sim_below(sim, 2))
            keep -= keep % 512;
        if (keep)
            image_write(&ino->dur, op->off, op->data, keep);
    } else if (r < 95) { /* the size grew, the data never came: zeros */
        image_write(&ino->dur, op->off, NULL, op->len);
    } else { /* garbage in the written range */
        image_write(&ino->dur, op->off, NULL, op->len);
        for (size_t i = 0; i < op->len; i++)
            ino->dur.data[op->off + i] = (uint8_t)sim_rand(sim);
    }
}

static void inode_crash(storage_io_sim_t *sim, sim_inode_t *ino, int mode, bool shuffle)
{
    if (shuffle && ino->nops > 1) {
        for (size_t i = ino->nops - 1; i > 0; i--) {
            size_t j = (size_t)sim_below(sim, i + 1);
            sim_op_t t = ino->ops[i];
            ino->ops[i] = ino->ops[j];
            ino->ops[j] = t;
        }
    }
    /* mode: 0 random per op, 1 drop everything, 2 keep everything (a process crash). */
    for (size_t i = 0; i < ino->nops; i++)
        crash_apply_op(sim, ino, &ino->ops[i], mode);
    inode_clear_ops(ino);
    buf_reset(&ino->cur);
    buf_append(&ino->cur, ino->dur.data, ino->dur.len);
}

/* ---- fds ------------------------------------------------------------------------------------ */

static sim_inode_t *fd_get(storage_io_sim_t *sim, int fd)
{
    if (fd < 3 || (size_t)(fd - 3) >= sim->nfds)
        return NULL;
    return sim->fds[fd - 3];
}

static int fd_new(storage_io_sim_t *sim, sim_inode_t *ino)
{
    if (sim->nfds == sim->capfds) {
        sim->capfds = sim->capfds ? sim->capfds * 2 : 64;
        sim->fds = weir_realloc(sim->fds, sim->capfds * sizeof(*sim->fds));
    }
    sim->fds[sim->nfds++] = ino;
    return (int)(sim->nfds - 1 + 3);
}

/* Counts a mutating call; false once the disk is frozen (the simulated machine has died). */
static bool sim_mutate(storage_io_sim_t *sim)
{
    if (sim->frozen)
        return false;
    if (sim->crash_after == 0) {
        sim->frozen = true;
        return false;
    }
    if (sim->crash_after > 0)
        sim->crash_after--;
    sim->nmutations++;
    return true;
}

/* ---- the ops -------------------------------------------------------------------------------- */

static int sim_open(storage_io_t *io, const char *path, int flags, int *fd)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_name_t *e = names_find(&sim->names, path);
    if (e && e->ino->is_dir) {
        rc = -WEIR_EINVAL;
    } else if (e && (flags & O_CREAT) && (flags & O_EXCL)) {
        rc = -WEIR_EEXIST;
    } else if (!e && !(flags & O_CREAT)) {
        rc = -WEIR_ENOENT;
    } else if (!e && !parent_exists(sim, path)) {
        rc = -WEIR_ENOENT;
    } else if ((!e || (flags & O_TRUNC)) && !sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else {
        sim_inode_t *ino;
        if (!e) {
            ino = inode_new(sim, false);
            names_set(&sim->names, path, ino);
            journal_add(sim, SIM_J_LINK, path, NULL, ino);
        } else {
            ino = e->ino;
            if ((flags & O_TRUNC) && ino->cur.len > 0) {
                inode_push_op(ino, (sim_op_t){SIM_TRUNC, 0, 0, NULL});
                image_trunc(&ino->cur, 0);
            }
        }
        *fd = fd_new(sim, ino);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_close(storage_io_t *io, int fd)
{
    storage_io_sim_t *sim = sim_of(io);
    pthread_mutex_lock(&sim->mu);
    int rc = fd_get(sim, fd) ? 0 : -WEIR_EINVAL;
    if (rc == 0)
        sim->fds[fd - 3] = NULL;
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_pwrite(storage_io_t *io, int fd, const void *p, size_t n, uint64_t off)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_inode_t *ino = fd_get(sim, fd);
    if (!ino) {
        rc = -WEIR_EINVAL;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else if (n > 0) {
        uint8_t *copy = weir_malloc(n);
        memcpy(copy, p, n);
        inode_push_op(ino, (sim_op_t){SIM_WRITE, off, n, copy});
        image_write(&ino->cur, off, p, n);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_pread(storage_io_t *io, int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_inode_t *ino = fd_get(sim, fd);
    if (!ino) {
        rc = -WEIR_EINVAL;
    } else {
        size_t have = off < ino->cur.len ? ino->cur.len - (size_t)off : 0;
        size_t k = WEIR_MIN(n, have);
        if (k)
            memcpy(p, ino->cur.data + off, k);
        *got = k;
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_fdatasync(storage_io_t *io, int fd)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_inode_t *ino = fd_get(sim, fd);
    if (!ino) {
        rc = -WEIR_EINVAL;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else if (sim->sync_fail_after == 0) {
        /* The failed sync leaves its writes pending: they may or may not reach the disk. */
        sim->sync_fail_after = -1;
        rc = -WEIR_EIO;
    } else {
        if (sim->sync_fail_after > 0)
            sim->sync_fail_after--;
        inode_sync(ino);
        sim->nsyncs++;
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_ftruncate(storage_io_t *io, int fd, uint64_t size)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_inode_t *ino = fd_get(sim, fd);
    if (!ino) {
        rc = -WEIR_EINVAL;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else {
        inode_push_op(ino, (sim_op_t){SIM_TRUNC, size, 0, NULL});
        image_trunc(&ino->cur, size);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

/* Modelled as a write of zeros: like any unsynced write, a crash may keep, drop or tear it. */
static int sim_preallocate(storage_io_t *io, int fd, uint64_t off, uint64_t len)
{
    if (len > (64u << 20))
        return -WEIR_EINVAL; /* the simulated disk lives in memory */
    void *zeros = weir_calloc(1, (size_t)len);
    int rc = sim_pwrite(io, fd, zeros, (size_t)len, off);
    free(zeros);
    return rc;
}

static int sim_fsize(storage_io_t *io, int fd, uint64_t *size)
{
    storage_io_sim_t *sim = sim_of(io);
    pthread_mutex_lock(&sim->mu);
    sim_inode_t *ino = fd_get(sim, fd);
    if (ino)
        *size = ino->cur.len;
    pthread_mutex_unlock(&sim->mu);
    return ino ? 0 : -WEIR_EINVAL;
}

static int sim_rename(storage_io_t *io, const char *from, const char *to)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_name_t *e = names_find(&sim->names, from);
    if (!e) {
        rc = -WEIR_ENOENT;
    } else if (!parent_exists(sim, to)) {
        rc = -WEIR_ENOENT;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else {
        sim_inode_t *ino = e->ino;
        names_del(&sim->names, from);
        names_set(&sim->names, to, ino);
        journal_add(sim, SIM_J_RENAME, from, to, ino);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_unlink_common(storage_io_t *io, const char *path, bool dir)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_name_t *e = names_find(&sim->names, path);
    if (!e) {
        rc = -WEIR_ENOENT;
    } else if (e->ino->is_dir != dir) {
        rc = -WEIR_EINVAL;
    } else if (dir) {
        for (size_t i = 0; i < sim->names.n; i++)
            if (parent_is(sim->names.v[i].path, path))
                rc = -WEIR_EEXIST; /* not empty */
    }
    if (rc == 0 && !sim_mutate(sim))
        rc = -WEIR_EIO;
    if (rc == 0) {
        names_del(&sim->names, path);
        journal_add(sim, SIM_J_UNLINK, path, NULL, NULL);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_unlink(storage_io_t *io, const char *path)
{
    return sim_unlink_common(io, path, false);
}

static int sim_rmdir(storage_io_t *io, const char *path)
{
    return sim_unlink_common(io, path, true);
}

static int sim_mkdir(storage_io_t *io, const char *path)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    if (names_find(&sim->names, path)) {
        rc = -WEIR_EEXIST;
    } else if (!parent_exists(sim, path)) {
        rc = -WEIR_ENOENT;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else {
        sim_inode_t *ino = inode_new(sim, true);
        names_set(&sim->names, path, ino);
        journal_add(sim, SIM_J_LINK, path, NULL, ino);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static bool jop_touches(const sim_jop_t *j, const char *dir)
{
    return parent_is(j->path, dir) || (j->path2 && parent_is(j->path2, dir));
}

static int sim_fsync_dir(storage_io_t *io, const char *path)
{
    storage_io_sim_t *sim = sim_of(io);
    int rc = 0;
    pthread_mutex_lock(&sim->mu);
    sim_name_t *e = names_find(&sim->names, path);
    bool root = strcmp(path, "/") == 0;
    if (!root && (!e || !e->ino->is_dir)) {
        rc = -WEIR_ENOENT;
    } else if (!sim_mutate(sim)) {
        rc = -WEIR_EIO;
    } else {
        size_t upto = 0;
        for (size_t i = 0; i < sim->njournal; i++)
            if (jop_touches(&sim->journal[i], path))
                upto = i + 1;
        journal_commit(sim, upto);
    }
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

static int sim_list(storage_io_t *io, const char *dir, int (*fn)(const char *name, void *arg),
                    void *arg)
{
    storage_io_sim_t *sim = sim_of(io);
    pthread_mutex_lock(&sim->mu);
    sim_name_t *e = names_find(&sim->names, dir);
    if (strcmp(dir, "/") != 0 && (!e || !e->ino->is_dir)) {
        pthread_mutex_unlock(&sim->mu);
        return -WEIR_ENOENT;
    }
    /* Collect first: fn may call back into the simulated disk. */
    size_t n = 0;
    char **list = weir_malloc((sim->names.n + 1) * sizeof(*list));
    for (size_t i = 0; i < sim->names.n; i++)
        if (parent_is(sim->names.v[i].path, dir))
            list[n++] = weir_strdup(strrchr(sim->names.v[i].path, '/') + 1);
    pthread_mutex_unlock(&sim->mu);
    /* A real directory lists in no particular order; neither do we (the seed decides). */
    for (size_t i = n; i > 1; i--) {
        pthread_mutex_lock(&sim->mu);
        size_t j = (size_t)sim_below(sim, i);
        pthread_mutex_unlock(&sim->mu);
        char *t = list[i - 1];
        list[i - 1] = list[j];
        list[j] = t;
    }
    size_t i = 0;
    for (; i < n; i++)
        if (fn(list[i], arg) != 0)
            break;
    for (size_t k = 0; k < n; k++)
        free(list[k]);
    free(list);
    return 0;
}

static bool sim_exists(storage_io_t *io, const char *path)
{
    storage_io_sim_t *sim = sim_of(io);
    pthread_mutex_lock(&sim->mu);
    bool yes = strcmp(path, "/") == 0 || names_find(&sim->names, path) != NULL;
    pthread_mutex_unlock(&sim->mu);
    return yes;
}

static const storage_io_ops_t sim_ops = {
    .open = sim_open,
    .close = sim_close,
    .pwrite = sim_pwrite,
    .pread = sim_pread,
    .fdatasync = sim_fdatasync,
    .ftruncate = sim_ftruncate,
    .preallocate = sim_preallocate,
    .fsize = sim_fsize,
    .rename = sim_rename,
    .unlink = sim_unlink,
    .mkdir = sim_mkdir,
    .rmdir = sim_rmdir,
    .fsync_dir = sim_fsync_dir,
    .list = sim_list,
    .exists = sim_exists,
};

/* ---- lifecycle and the crash ------------------------------------------------------------- */

storage_io_sim_t *storage_io_sim_new(uint64_t seed)
{
    storage_io_sim_t *sim = weir_calloc(1, sizeof(*sim));
    sim->io.ops = &sim_ops;
    pthread_mutex_init(&sim->mu, NULL);
    sim->rng = seed * 0x2545f4914f6cdd1dull + 1;
    sim->sync_fail_after = -1;
    sim->crash_after = -1;
    return sim;
}

void storage_io_sim_free(storage_io_sim_t *sim)
{
    if (!sim)
        return;
    for (size_t i = 0; i < sim->ninodes; i++)
        inode_free(sim->inodes[i]);
    free(sim->inodes);
    names_clear(&sim->names);
    names_clear(&sim->dnames);
    free(sim->names.v);
    free(sim->dnames.v);
    for (size_t i = 0; i < sim->njournal; i++) {
        free(sim->journal[i].path);
        free(sim->journal[i].path2);
    }
    free(sim->journal);
    free(sim->fds);
    pthread_mutex_destroy(&sim->mu);
    free(sim);
}

storage_io_t *storage_io_sim_io(storage_io_sim_t *sim)
{
    return &sim->io;
}

/* Frees inodes no durable name reaches any more (their data is gone for good). */
static void sim_collect(storage_io_sim_t *sim)
{
    for (size_t i = 0; i < sim->ninodes; i++)
        sim->inodes[i]->mark = false;
    for (size_t i = 0; i < sim->dnames.n; i++)
        sim->dnames.v[i].ino->mark = true;
    size_t k = 0;
    for (size_t i = 0; i < sim->ninodes; i++) {
        if (sim->inodes[i]->mark)
            sim->inodes[k++] = sim->inodes[i];
        else
            inode_free(sim->inodes[i]);
    }
    sim->ninodes = k;
}

void storage_io_sim_crash(storage_io_sim_t *sim)
{
    pthread_mutex_lock(&sim->mu);
    /* Namespace: usually a prefix of the metadata journal survives (an ordered journal, as
     * ext4 and XFS keep); one crash in four keeps an arbitrary subset, the weakest thing POSIX
     * promises without fsync of the directory. */
    if (sim_below(sim, 4) == 0) {
        for (size_t i = 0; i < sim->njournal; i++)
            if (sim_below(sim, 2))
                journal_apply(sim, &sim->journal[i]);
    } else {
        journal_commit(sim, (size_t)sim_below(sim, sim->njournal + 1));
    }
    for (size_t i = 0; i < sim->njournal; i++) {
        free(sim->journal[i].path);
        free(sim->journal[i].path2);
    }
    sim->njournal = 0;
    names_copy(&sim->names, &sim->dnames);
    /* Data: per crash, a mode; then per op, a fate. */
    uint64_t r = sim_below(sim, 10);
    int mode = r == 0 ? 1 : r == 1 ? 2 : 0;
    bool shuffle = sim_below(sim, 5) == 0;
    for (size_t i = 0; i < sim->ninodes; i++)
        inode_crash(sim, sim->inodes[i], mode, shuffle);
    /* Every open fd dies with the process. */
    for (size_t i = 0; i < sim->nfds; i++)
        sim->fds[i] = NULL;
    sim_collect(sim);
    sim->frozen = false;
    sim->crash_after = -1;
    sim->sync_fail_after = -1;
    pthread_mutex_unlock(&sim->mu);
}

void storage_io_sim_fail_sync(storage_io_sim_t *sim, int after)
{
    pthread_mutex_lock(&sim->mu);
    sim->sync_fail_after = after;
    pthread_mutex_unlock(&sim->mu);
}

void storage_io_sim_crash_after(storage_io_sim_t *sim, int64_t ops)
{
    pthread_mutex_lock(&sim->mu);
    sim->crash_after = ops;
    pthread_mutex_unlock(&sim->mu);
}

bool storage_io_sim_frozen(storage_io_sim_t *sim)
{
    pthread_mutex_lock(&sim->mu);
    bool f = sim->frozen;
    pthread_mutex_unlock(&sim->mu);
    return f;
}

uint64_t storage_io_sim_sync_count(storage_io_sim_t *sim)
{
    pthread_mutex_lock(&sim->mu);
    uint64_t n = sim->nsyncs;
    pthread_mutex_unlock(&sim->mu);
    return n;
}

uint64_t storage_io_sim_mutation_count(storage_io_sim_t *sim)
{
    pthread_mutex_lock(&sim->mu);
    uint64_t n = sim->nmutations;
    pthread_mutex_unlock(&sim->mu);
    return n;
}
