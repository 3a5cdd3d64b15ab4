/*
 * The topic registry: name -> topic, each topic an array of partitions, each partition a
 * storage_log_t in <data>/<topic>-<n>/. Topic metadata (partition count, config overrides)
 * lives in <data>/topics/<topic>.conf ("partitions=N" then "key=value" lines), written to a
 * temporary file, fsynced and renamed over the old one, so a crash leaves the old or the new
 * file whole.
 *
 * Invariants: a topic is in the hash table iff it is live (not deleted); the table holds one
 * reference; every partition of a live topic has an open log or is offline (log NULL, logged
 * loudly at start). Creating writes the .conf before the partition directories, deleting
 * removes the .conf before the directories: at start, a partition directory that no .conf
 * accounts for is a leftover of an interrupted delete and is removed, so a re-created topic
 * never resurrects old data.
 */
#include "broker/broker_internal.h"

#include <stdarg.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef WEIR_FUZZ
/* The request fuzzer creates topics from random frames: keep its file count bounded. */
#define MAX_PARTITIONS_PER_TOPIC 4
#define MAX_TOPICS               64
#else
#define MAX_PARTITIONS_PER_TOPIC 10000
#define MAX_TOPICS               SIZE_MAX
#endif

/* ---- locking and lookup ------------------------------------------------------------------------
 */

void broker_topics_rdlock(broker_t *b)
{
    pthread_rwlock_rdlock(&b->topics_lock);
}

void broker_topics_wrlock(broker_t *b)
{
    pthread_rwlock_wrlock(&b->topics_lock);
}

void broker_topics_unlock(broker_t *b)
{
    pthread_rwlock_unlock(&b->topics_lock);
}

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

broker_topic_t *broker_topic_find(broker_t *b, const char *name, size_t len)
{
    if (!b->nbuckets)
        return NULL;
    broker_topic_t *t = b->buckets[name_hash(name, len) & (b->nbuckets - 1)];
    for (; t; t = t->hnext)
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

static size_t id_hash(const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, sizeof(h)); /* random bytes already */
    return (size_t)h;
}

broker_topic_t *broker_topic_find_id(broker_t *b, const uint8_t id[16])
{
    if (!b->nbuckets)
        return NULL;
    broker_topic_t *t = b->id_buckets[id_hash(id) & (b->nbuckets - 1)];
    for (; t; t = t->idnext)
        if (memcmp(t->id, id, 16) == 0)
            return t;
    return NULL;
}

broker_partition_t *broker_partition_find(broker_t *b, const char *name, size_t len, int32_t idx)
{
    broker_topic_t *t = broker_topic_find(b, name, len);
    if (!t || idx < 0 || idx >= t->npart)
        return NULL;
    return t->parts[idx];
}

static void table_grow(broker_t *b)
{
    size_t n = b->nbuckets ? b->nbuckets * 2 : 64;
    broker_topic_t **nb = weir_calloc(n, sizeof(*nb)), **ni = weir_calloc(n, sizeof(*ni));
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (broker_topic_t *x = b->buckets[i], *next; x; x = next) {
            next = x->hnext;
            size_t j = name_hash(x->name, strlen(x->name)) & (n - 1);
            x->hnext = nb[j];
            nb[j] = x;
            size_t k = id_hash(x->id) & (n - 1);
            x->idnext = ni[k];
            ni[k] = x;
        }
    }
    free(b->buckets);
    free(b->id_buckets);
    b->buckets = nb;
    b->id_buckets = ni;
    b->nbuckets = n;
}

static void table_insert(broker_t *b, broker_topic_t *t)
{
    if (b->ntopics + 1 > b->nbuckets / 2)
        table_grow(b);
    size_t j = name_hash(t->name, strlen(t->name)) & (b->nbuckets - 1);
    t->hnext = b->buckets[j];
    b->buckets[j] = t;
    size_t k = id_hash(t->id) & (b->nbuckets - 1);
    t->idnext = b->id_buckets[k];
    b->id_buckets[k] = t;
    b->ntopics++;
}

static void table_remove(broker_t *b, broker_topic_t *t)
{
    size_t k = id_hash(t->id) & (b->nbuckets - 1);
    for (broker_topic_t **pp = &b->id_buckets[k]; *pp; pp = &(*pp)->idnext) {
        if (*pp == t) {
            *pp = t->idnext;
            t->idnext = NULL;
            break;
        }
    }
    size_t j = name_hash(t->name, strlen(t->name)) & (b->nbuckets - 1);
    for (broker_topic_t **pp = &b->buckets[j]; *pp; pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            t->hnext = NULL;
            b->ntopics--;
            return;
        }
    }
    WEIR_ASSERT(!"topic not in its bucket");
}

static int topic_cmp(const void *a, const void *b)
{
    return strcmp((*(broker_topic_t *const *)a)->name, (*(broker_topic_t *const *)b)->name);
}

broker_topic_t **broker_topics_list(broker_t *b, size_t *n)
{
    broker_topic_t **v = weir_calloc(b->ntopics + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            v[k++] = t;
    qsort(v, k, sizeof(*v), topic_cmp);
    *n = k;
    return v;
}

size_t broker_topics_count(broker_t *b)
{
    broker_topics_rdlock(b);
    size_t n = b->ntopics;
    broker_topics_unlock(b);
    return n;
}

/* ---- topic objects ------------------------------------------------------------------------------
 */

static void partition_free(broker_partition_t *p)
{
    WEIR_ASSERT(p->watches == NULL);
    pthread_mutex_destroy(&p->append_mu);
    pthread_mutex_destroy(&p->watch_mu);
    free(p);
}

void broker_topic_ref(broker_topic_t *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void broker_topic_unref(broker_topic_t *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    broker_topic_schema_close(t);
    for (int32_t i = 0; i < t->npart; i++)
        partition_free(t->parts[i]);
    free(t->parts);
    broker_topic_overrides_free(&t->over);
    free(t->name);
    free(t);
}

bool broker_topic_name_internal(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

bool broker_topic_name_valid(const char *name, size_t len, const char **why)
{
    if (len == 0) {
        *why = "Topic name is illegal, it can't be empty";
        return false;
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        *why = "Topic name cannot be \".\" or \"..\"";
        return false;
    }
    if (len > 249) {
        *why = "Topic name is illegal, it can't be longer than 249 characters";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            *why = "Topic name contains a character other than ASCII alphanumerics, '.', '_' "
                   "and '-'";
            return false;
        }
    }
    return true;
}

/* A new topic id, as Kafka's Uuid.randomUuid: random, never the zero id, never the id Kafka
 * reserves for its metadata topic (..01), and never one whose text starts with '-' (so that
 * command-line tools do not take it for a flag). */
static void topic_id_new(broker_t *b, uint8_t id[16])
{
    static const uint8_t zero[16], metadata[16] = {[15] = 1};
    do {
        broker_random_bytes(id, 16);
    } while (memcmp(id, zero, 16) == 0 || memcmp(id, metadata, 16) == 0 || (id[0] >> 2) == 62 ||
             broker_topic_find_id(b, id) != NULL);
}

static broker_topic_t *topic_new(broker_t *b, const char *name,
                                 const broker_topic_overrides_t *over)
{
    broker_topic_t *t = weir_calloc(1, sizeof(*t));
    t->name = weir_strdup(name);
    atomic_init(&t->refs, 1);
    t->internal = broker_topic_name_internal(name);
    broker_topic_overrides_copy(&t->over, over);
    broker_topic_effective(b, t);
    return t;
}

static char *partition_dir(const broker_t *b, const char *topic, int32_t idx)
{
    buf_t p = {0};
    buf_printf(&p, "%s/%s-%d", b->data_dir, topic, idx);
    buf_append_u8(&p, 0);
    return (char *)p.data;
}

/* Opens (creating) the log of partition idx; an unrecoverable log leaves it offline. */
static broker_partition_t *partition_open(broker_t *b, broker_topic_t *t, int32_t idx)
{
    broker_partition_t *p = weir_calloc(1, sizeof(*p));
    p->topic = t;
    p->index = idx;
    pthread_mutex_init(&p->append_mu, NULL);
    pthread_mutex_init(&p->watch_mu, NULL);
    atomic_init(&p->nwatches, 0);
    char *dir = partition_dir(b, t->name, idx);
    int rc = storage_log_open(b->io, dir, &t->log_cfg, &p->log);
    if (rc < 0) {
        log_error("broker", "partition %s-%d is OFFLINE: cannot open %s: %s", t->name, idx, dir,
                  weir_strerror(rc));
        p->log = NULL;
    } else {
        storage_flusher_attach(b->flusher, p->log);
        broker_partition_producers_open(b, p, dir); /* idempotent producers */
        broker_partition_keys_sync(b, p);           /* weir.key.index */
        /* As a Kafka leader does when it takes the partition: its epoch begins at the end. */
        storage_log_epoch_assign(p->log, BROKER_LEADER_EPOCH, storage_log_end_offset(p->log));
    }
    free(dir);
    return p;
}

static void partition_close(broker_t *b, broker_partition_t *p, bool destroy)
{
    if (!p->log)
        return;
    broker_partition_producers_close(b, p, destroy);
    broker_partition_keys_close(p);
    storage_flusher_detach(b->flusher, p->log);
    if (destroy) {
        int rc = storage_log_destroy(p->log);
        if (rc < 0)
            log_error("broker", "deleting partition %s-%d: %s", p->topic->name, p->index,
                      weir_strerror(rc));
    } else {
        storage_log_close(p->log);
    }
    p->log = NULL;
}

/* ---- persistence -------------------------------------------------------------------------------
 */

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -WEIR_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc ? -WEIR_EIO : 0;
}

/* Writes path atomically: path.tmp, fsync, rename, fsync of the directory. */
int broker_write_file_atomic(const char *dir, const char *name, const buf_t *content)
{
    /* The temporary name is short: a 249-character topic's "<name>.conf" plus a suffix would
     * pass the file system's 255-byte name limit. */
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        log_error("broker", "cannot write %s: %s", tmp, strerror(errno));
        return -WEIR_EIO;
    }
    size_t off = 0;
    while (off < content->len) {
        ssize_t n = write(fd, content->data + off, content->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_error("broker", "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -WEIR_EIO;
        }
        off += (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || fdatasync(fd) != 0 || close(fd) != 0) {
        log_error("broker", "cannot sync %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -WEIR_EIO;
    }
    if (rename(tmp, path) != 0) {
        log_error("broker", "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -WEIR_EIO;
    }
    return fsync_path(dir);
}

static char *topics_dir(const broker_t *b)
{
    buf_t p = {0};
    buf_printf(&p, "%s/topics", b->data_dir);
    buf_append_u8(&p, 0);
    return (char *)p.data;
}

static int topic_save(broker_t *b, const char *name, const uint8_t id[16], int32_t npart,
                      const broker_topic_overrides_t *o)
{
    buf_t c = {0};
    char idtext[32];
    broker_cfg_row_t tmp;
    base64url_encode(id, 16, idtext);
    buf_printf(&c, "partitions=%d\ntopic.id=%s\n", npart, idtext);
    for (int k = 0; k < TCFG__COUNT; k++)
        if (o && o->val[k])
            buf_printf(&c, "%s=%s\n", broker_topic_cfg_row(k, &tmp)->name, o->val[k]);
    char *dir = topics_dir(b), file[300];
    snprintf(file, sizeof(file), "%s.conf", name);
    int rc = broker_write_file_atomic(dir, file, &c);
    free(dir);
    buf_deinit(&c);
    return rc;
}

static int topic_unsave(broker_t *b, const char *name)
{
    char *dir = topics_dir(b);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
    int rc = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("broker", "cannot remove %s: %s", path, strerror(errno));
        rc = -WEIR_EIO;
    } else {
        rc = fsync_path(dir);
    }
    free(dir);
    return rc;
}

/* ---- create, delete, grow, configure ------------------------------------------------------------
 */

int broker_fail(broker_err_t *err, int rc, int16_t code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return rc;
}

int broker_topic_create_with(broker_t *b, const char *name, int32_t nparts,
                             const broker_topic_overrides_t *over, bool validate_only,
                             broker_topic_created_t *out, broker_err_t *err)
{
    const char *why;
    if (!broker_topic_name_valid(name, strlen(name), &why))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION, "%s", why);
    if (nparts == -1)
        nparts = (int32_t)broker_settings_int(&b->set, BCFG_NUM_PARTITIONS);
    if (nparts <= 0 || nparts > MAX_PARTITIONS_PER_TOPIC)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_PARTITIONS,
                           "Number of partitions must be in [1, %d]", MAX_PARTITIONS_PER_TOPIC);
    /* Every writer of the table holds topics_admin_mu: under it the table and the settings
     * hold still without topics_lock, so the disk work below stalls no produce or fetch. */
    pthread_mutex_lock(&b->topics_admin_mu);
    int rc = 0;
    if (broker_topic_find(b, name, strlen(name))) {
        rc = broker_fail(err, -WEIR_EEXIST, KAFKA_TOPIC_ALREADY_EXISTS,
                         "Topic '%s' already exists.", name);
        goto out_unlock;
    }
    if (b->ntopics >= MAX_TOPICS) {
        rc = broker_fail(err, -WEIR_ETOOBIG, KAFKA_POLICY_VIOLATION, "Too many topics");
        goto out_unlock;
    }
    if (out)
        *out = (broker_topic_created_t){.partitions = nparts};
    uint8_t id[16];
    topic_id_new(b, id);
    if (validate_only) {
        /* Kafka's controller draws the id before it validates, and a validate-only answer
         * (CreateTopics v7+) carries that id although nothing is created. */
        if (out)
            memcpy(out->id, id, 16);
        goto out_unlock;
    }
    if (topic_save(b, name, id, nparts, over) < 0) {
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot write the topic's metadata");
        goto out_unlock;
    }
    broker_topic_t *t = topic_new(b, name, over);
    memcpy(t->id, id, 16);
    if (out)
        memcpy(out->id, id, 16);
    t->parts = weir_calloc((size_t)nparts, sizeof(*t->parts));
    for (int32_t i = 0; i < nparts; i++)
        t->parts[i] = partition_open(b, t, i);
    t->npart = nparts;
    broker_topics_wrlock(b);
    table_insert(b, t);
    broker_topics_unlock(b);
    log_info("broker", "created topic %s with %d partition(s)", name, nparts);
out_unlock:
    pthread_mutex_unlock(&b->topics_admin_mu);
    return rc;
}

int broker_topic_create(broker_t *b, const char *name, int32_t nparts,
                        const broker_config_kv_t *configs, size_t nconfigs, bool validate_only,
                        broker_topic_created_t *out, broker_err_t *err)
{
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    int rc = broker_topic_overrides_parse(&over, configs, nconfigs, err);
    if (rc == 0)
        rc = broker_topic_create_with(b, name, nparts, &over, validate_only, out, err);
    broker_topic_overrides_free(&over);
    return rc;
}

int broker_topic_auto_create(broker_t *b, const char *name, size_t len)
{
    const char *why;
    if (!broker_topic_name_valid(name, len, &why))
        return -WEIR_EINVAL;
    broker_topics_rdlock(b);
    bool exists = broker_topic_find(b, name, len) != NULL;
    broker_topics_unlock(b);
    if (exists)
        return 0;
    char *ns = weir_strndup(name, len);
    broker_err_t err;
    int rc = broker_topic_create_with(b, ns, -1, NULL, false, NULL, &err);
    if (rc == -WEIR_EEXIST)
        rc = 0;
    else if (rc < 0)
        log_warn("broker", "auto-creating topic %s: %s", ns, err.message);
    free(ns);
    return rc;
}

/* Deletes a topic's logs and takes it out of the table (write lock held). */
static void topic_remove_locked(broker_t *b, broker_topic_t *t)
{
    table_remove(b, t);
    t->deleted = true;
    broker_topic_schema_close(t); /* the hook's owner may go before the last reference */
    for (int32_t i = 0; i < t->npart; i++) {
        broker_partition_t *p = t->parts[i];
        broker_watches_notify(p); /* waiting fetches answer UNKNOWN_TOPIC_OR_PARTITION */
        partition_close(b, p, true);
    }
    broker_topic_unref(t);
}

int broker_topic_delete(broker_t *b, const char *name, size_t len, broker_err_t *err)
{
    if (!broker_settings_int(&b->set, BCFG_DELETE_TOPIC_ENABLE))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_TOPIC_DELETION_DISABLED,
                           "Topic deletion is disabled.");
    if (memchr(name, 0, len))
        return broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                           "This server does not host this topic-partition.");
    char *ns = weir_strndup(name, len);
    int rc = 0;
    if (broker_topic_name_internal(ns)) { /* it holds every group's committed offsets */
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION,
                         "Topic %s is an internal topic and cannot be deleted.", ns);
        free(ns);
        return rc;
    }
    pthread_mutex_lock(&b->topics_admin_mu);
    broker_topic_t *t = broker_topic_find(b, name, len);
    if (!t) {
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "This server does not host this topic-partition.");
        goto out_unlock;
    }
    if (topic_unsave(b, ns) < 0) {
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot remove the topic's metadata");
        goto out_unlock;
    }
    broker_topics_wrlock(b);
    topic_remove_locked(b, t);
    broker_topics_unlock(b);
    log_info("broker", "deleted topic %s", ns);
out_unlock:
    pthread_mutex_unlock(&b->topics_admin_mu);
    free(ns);
    return rc;
}

int broker_topic_add_partitions(broker_t *b, const char *name, size_t len, int32_t count,
                                bool validate_only, broker_err_t *err)
{
    pthread_mutex_lock(&b->topics_admin_mu); /* the table holds still: see create */
    int rc = 0;
    broker_topic_t *t = memchr(name, 0, len) ? NULL : broker_topic_find(b, name, len);
    if (!t) {
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "The topic '%.*s' does not exist.", (int)len, name);
        goto out_unlock;
    }
    if (count <= t->npart) {
        if (count == t->npart)
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_PARTITIONS,
                             "Topic already has %d partitions.", t->npart);
        else
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_PARTITIONS,
                             "Topic currently has %d partitions, which is higher than the "
                             "requested %d.",
                             t->npart, count);
        goto out_unlock;
    }
    if (count > MAX_PARTITIONS_PER_TOPIC) {
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_PARTITIONS,
                         "Number of partitions must be at most %d", MAX_PARTITIONS_PER_TOPIC);
        goto out_unlock;
    }
    if (validate_only)
        goto out_unlock;
    if (topic_save(b, t->name, t->id, count, &t->over) < 0) {
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot write the topic's metadata");
        goto out_unlock;
    }
    /* The new logs are created first; readers see them all at once under the write lock. */
    broker_partition_t **parts = weir_calloc((size_t)count, sizeof(*parts));
    for (int32_t i = t->npart; i < count; i++)
        parts[i] = partition_open(b, t, i);
    broker_topics_wrlock(b);
    memcpy(parts, t->parts, (size_t)t->npart * sizeof(*parts));
    free(t->parts);
    t->parts = parts;
    log_info("broker", "topic %s: %d -> %d partitions", t->name, t->npart, count);
    t->npart = count;
    broker_topics_unlock(b);
out_unlock:
    pthread_mutex_unlock(&b->topics_admin_mu);
    return rc;
}

static void topic_apply_config(broker_t *b, broker_topic_t *t)
{
    broker_topic_effective(b, t);
    for (int32_t i = 0; i < t->npart; i++)
        if (t->parts[i]->log) {
            storage_log_set_config(t->parts[i]->log, &t->log_cfg);
            broker_partition_keys_sync(b, t->parts[i]); /* weir.key.index turned on or off */
        }
}

int broker_topic_set_configs(broker_t *b, const char *name, size_t len,
                             const broker_topic_overrides_t *over, bool validate_only,
                             broker_err_t *err)
{
    pthread_mutex_lock(&b->topics_admin_mu); /* the table holds still: see create */
    int rc = 0;
    broker_topic_t *t = memchr(name, 0, len) ? NULL : broker_topic_find(b, name, len);
    if (!t) {
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "Topic %.*s does not exist", (int)len, name);
        goto out_unlock;
    }
    if (validate_only)
        goto out_unlock;
    if (topic_save(b, t->name, t->id, t->npart, over) < 0) {
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot write the topic's metadata");
        goto out_unlock;
    }
    broker_topics_wrlock(b);
    broker_topic_overrides_free(&t->over);
    broker_topic_overrides_copy(&t->over, over);
    topic_apply_config(b, t);
    broker_topics_unlock(b);
    log_info("broker", "topic %s: configs changed", t->name);
out_unlock:
    pthread_mutex_unlock(&b->topics_admin_mu);
    return rc;
}

/* ---- descriptions and DeleteRecords ------------------------------------------------------------
 */

static void describe_locked(broker_topic_t *t, broker_topic_desc_t *d)
{
    d->name = weir_strdup(t->name);
    memcpy(d->id, t->id, 16);
    d->internal = t->internal;
    d->partitions = t->npart;
    d->offline = weir_calloc((size_t)t->npart + 1, sizeof(*d->offline));
    for (int32_t i = 0; i < t->npart; i++)
        d->offline[i] = t->parts[i]->log == NULL;
}

int broker_topic_describe_id(broker_t *b, const uint8_t id[16], broker_topic_desc_t *out)
{
    memset(out, 0, sizeof(*out));
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find_id(b, id);
    if (t)
        describe_locked(t, out);
    broker_topics_unlock(b);
    return t ? 0 : -WEIR_ENOENT;
}

int broker_topic_describe(broker_t *b, const char *name, size_t len, broker_topic_desc_t *out)
{
    memset(out, 0, sizeof(*out));
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, name, len);
    if (t)
        describe_locked(t, out);
    broker_topics_unlock(b);
    return t ? 0 : -WEIR_ENOENT;
}

void broker_topics_describe(broker_t *b, broker_topic_desc_t **out, size_t *n)
{
    broker_topics_rdlock(b);
    broker_topic_t **all = broker_topics_list(b, n);
    broker_topic_desc_t *d = weir_calloc(*n + 1, sizeof(*d));
    for (size_t i = 0; i < *n; i++)
        describe_locked(all[i], &d[i]);
    broker_topics_unlock(b);
    free(all);
    *out = d;
}

void broker_topic_desc_deinit(broker_topic_desc_t *d)
{
    free(d->name);
    free(d->offline);
    memset(d, 0, sizeof(*d));
}

void broker_topic_descs_free(broker_topic_desc_t *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        broker_topic_desc_deinit(&d[i]);
    free(d);
}

int broker_delete_records(broker_t *b, const char *topic, size_t len, int32_t partition,
                          int64_t offset, int64_t *low)
{
    *low = -1;
    int rc = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p) {
        rc = -WEIR_ENOENT;
    } else if (!p->log || storage_log_offline(p->log)) {
        rc = -WEIR_EOFFLINE;
    } else {
        int64_t hwm = broker_partition_hwm(p);
        if (offset == -1)
            offset = hwm;
        if (offset < 0 || offset > hwm) {
            rc = -WEIR_ERANGE;
        } else if (offset > broker_partition_log_start(p)) {
            rc = storage_log_delete_records(p->log, offset);
            if (rc == 0)
                broker_watches_notify(p); /* fetches below the new start: OFFSET_OUT_OF_RANGE */
        }
        if (rc == 0)
            *low = broker_partition_log_start(p);
    }
    broker_topics_unlock(b);
    return rc;
}

void broker_topics_reconfigure(broker_t *b)
{
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            topic_apply_config(b, t);
}

/* ---- load at start, close at stop
 * ------------------------------------------------------------------ */

/* Reads one <topic>.conf. */
static int topic_load_one(broker_t *b, const char *dir, const char *file)
{
    size_t flen = strlen(file);
    char name[256];
    if (flen <= 5 || flen - 5 >= sizeof(name) || strcmp(file + flen - 5, ".conf") != 0)
        return 0; /* .tmp leftovers and foreign files */
    memcpy(name, file, flen - 5);
    name[flen - 5] = 0;
    const char *why;
    if (!broker_topic_name_valid(name, strlen(name), &why)) {
        log_warn("broker", "ignoring %s/%s: %s", dir, file, why);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("broker", "cannot read %s: %s", path, strerror(errno));
        return -WEIR_EIO;
    }
    broker_topic_overrides_t over = {0};
    int32_t npart = -1;
    uint8_t id[16];
    bool have_id = false;
    char line[1024];
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *val = eq + 1;
        if (strcmp(line, "partitions") == 0) {
            npart = atoi(val);
            continue;
        }
        if (strcmp(line, "topic.id") == 0) {
            if (base64url_decode(val, strlen(val), id, sizeof(id)) != 16) {
                log_error("broker", "%s: bad topic.id '%s'", path, val);
                rc = -WEIR_ECORRUPT;
                break;
            }
            have_id = true;
            continue;
        }
        int k = broker_topic_cfg_find(line, strlen(line));
        char norm[256], err[256];
        if (k < 0 || broker_topic_cfg_check(k, val, norm, sizeof(norm), err, sizeof(err)) < 0) {
            log_error("broker", "%s: bad config '%s=%s'", path, line, val);
            rc = -WEIR_ECORRUPT;
            break;
        }
        free(over.val[k]);
        over.val[k] = weir_strdup(norm);
    }
    fclose(f);
    if (rc == 0 && (npart <= 0 || npart > MAX_PARTITIONS_PER_TOPIC)) {
        log_error("broker", "%s: bad or missing partitions=", path);
        rc = -WEIR_ECORRUPT;
    }
    if (rc == 0 && !have_id) { /* written before topic ids: give it one, once */
        topic_id_new(b, id);
        rc = topic_save(b, name, id, npart, &over);
        if (rc < 0)
            log_error("broker", "%s: cannot record a topic id", path);
    }
    if (rc == 0) {
        broker_topic_t *t = topic_new(b, name, &over);
        memcpy(t->id, id, 16);
        t->parts = weir_calloc((size_t)npart, sizeof(*t->parts)); /* opened by partitions_run */
        t->npart = npart;
        table_insert(b, t);
    }
    broker_topic_overrides_free(&over);
    return rc;
}

/* ---- opening and closing every partition at once ---------------------------------------------
 * At start after a crash each partition's log is recovered (its tail read and checked, files
 * synced); at a clean stop each is synced and its indexes written. Both are mostly waits for the
 * disk, so num.recovery.threads.per.data.dir threads (Kafka's setting) take the partitions in
 * turn and the waits overlap. */

typedef struct {
    broker_t *b;
    broker_topic_t **topics; /* partition k is topics[k]->parts[indexes[k]] */
    int32_t *indexes;
    size_t n;
    _Atomic size_t next;
    bool opening;
} partitions_run_t;

static void *partitions_worker(void *arg)
{
    partitions_run_t *r = arg;
    for (size_t i; (i = atomic_fetch_add(&r->next, 1)) < r->n;) {
        broker_topic_t *t = r->topics[i];
        if (r->opening)
            t->parts[r->indexes[i]] = partition_open(r->b, t, r->indexes[i]);
        else
            partition_close(r->b, t->parts[r->indexes[i]], false);
    }
    return NULL;
}

/* Opens (or closes) every partition of every topic in the table, in parallel. */
static void partitions_run(broker_t *b, bool opening)
{
    partitions_run_t r = {.b = b, .opening = opening};
    size_t cap = 0;
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            for (int32_t j = 0; j < t->npart; j++) {
                if (r.n == cap) {
                    cap = cap ? 2 * cap : 64;
                    r.topics = weir_realloc(r.topics, cap * sizeof(*r.topics));
                    r.indexes = weir_realloc(r.indexes, cap * sizeof(*r.indexes));
                }
                r.topics[r.n] = t;
                r.indexes[r.n++] = j;
            }
    int64_t want = broker_settings_int(&b->set, BCFG_NUM_RECOVERY_THREADS_PER_DATA_DIR);
    size_t nthreads = (size_t)WEIR_MAX(1, WEIR_MIN(want, 64)); /* bounded by the setting too */
    nthreads = WEIR_MIN(nthreads, r.n);
    pthread_t th[64];
    size_t started = 0;
    while (started + 1 < nthreads && pthread_create(&th[started], NULL, partitions_worker, &r) == 0)
        started++;
    partitions_worker(&r); /* this thread is one of them */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(r.topics);
    free(r.indexes);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* A directory "<topic>-<n>" that no topic accounts for: removed (see the invariant above). */
static void orphan_check(broker_t *b, const char *entry)
{
    const char *dash = strrchr(entry, '-');
    if (!dash || dash == entry || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
        return;
    long idx = strtol(dash + 1, NULL, 10);
    broker_topic_t *t = broker_topic_find(b, entry, (size_t)(dash - entry));
    if (t && idx < t->npart)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, entry);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    log_warn("broker", "removing %s: left over from a deleted topic", path);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int broker_topics_load(broker_t *b)
{
    char *dir = topics_dir(b);
    int rc = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_error("broker", "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        return -WEIR_EIO;
    }
    DIR *d = opendir(dir);
    if (!d) {
        log_error("broker", "cannot list %s: %s", dir, strerror(errno));
        free(dir);
        return -WEIR_EIO;
    }
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) /* a write a crash interrupted */
            unlinkat(dirfd(d), e->d_name, 0);
        else if (e->d_name[0] != '.')
            rc = topic_load_one(b, dir, e->d_name);
    }
    closedir(d);
    free(dir);
    if (rc < 0)
        return rc;
    partitions_run(b, true);
    d = opendir(b->data_dir);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, ".tmp-", 5) == 0)
                unlinkat(dirfd(d), e->d_name, 0);
            else if (e->d_name[0] != '.')
                orphan_check(b, e->d_name);
        }
        closedir(d);
    }
    log_info("broker", "loaded %zu topic(s) from %s", b->ntopics, b->data_dir);
    return 0;
}

void broker_topics_close(broker_t *b)
{
    partitions_run(b, false);
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (broker_topic_t *t = b->buckets[i], *next; t; t = next) {
            next = t->hnext;
            t->hnext = NULL;
            broker_topic_unref(t);
        }
    }
    free(b->buckets);
    free(b->id_buckets); /* was leaked since topic ids came (LeakSanitizer at every stop) */
    b->buckets = b->id_buckets = NULL;
    b->nbuckets = b->ntopics = 0;
}
