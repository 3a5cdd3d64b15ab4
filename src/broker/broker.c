/*
 * The broker's life and what belongs to the whole broker: open (data dir and its lock, the
 * cluster id, dynamic configs, topics, the flusher, the log cleaner, the group coordinator,
 * the maintenance timer), quiesce (answer what is parked), close (every log with its
 * clean-shutdown marker); and the maintenance timer (retention and time rolls, every
 * log.retention.check.interval.ms; compaction is the cleaner's, cleaner.c). The event loops
 * and listeners are the server's (src/server): the broker runs on loops it is given.
 *
 * Data dir layout: meta.properties (cluster.id and node.id, written once, like Kafka's),
 * dynamic.properties and dynamic-default.properties (broker configs changed at run time, see
 * config_dynamic.c), topics/<name>.conf (see topics.c),
 * <topic>-<n>/ (partition logs), .lock (flock: one broker per data dir).
 *
 * Invariant: several brokers can run in one process: all state hangs off broker_t, nothing
 * is global except the log level.
 */
#include "broker/broker_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------------
 */

int32_t broker_node_id(const broker_t *b)
{
    return b->node_id;
}

void broker_parked_inc(broker_t *b)
{
    atomic_fetch_add(&b->parked, 1);
}

void broker_parked_dec(broker_t *b)
{
    atomic_fetch_sub(&b->parked, 1);
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -WEIR_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -WEIR_EIO;
    return 0;
}

void broker_random_bytes(uint8_t *p, size_t n)
{
    if (getrandom(p, n, 0) == (ssize_t)n)
        return;
    uint64_t x = (uint64_t)clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20;
    for (size_t i = 0; i < n; i++, x = x * 6364136223846793005ULL + 1)
        p[i] = (uint8_t)(x >> 56);
}

/* Reads "key=value" lines; calls fn for each. */
static int read_properties(const char *path, int (*fn)(void *arg, char *key, char *val), void *arg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? -WEIR_ENOENT : -WEIR_EIO;
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = 0;
        rc = fn(arg, line, eq + 1);
    }
    fclose(f);
    return rc;
}

/* ---- meta.properties: the cluster id ------------------------------------------------------------
 */

typedef struct {
    char cluster_id[32];
    long node_id;
} meta_t;

static int meta_line(void *arg, char *key, char *val)
{
    meta_t *m = arg;
    if (strcmp(key, "cluster.id") == 0)
        snprintf(m->cluster_id, sizeof(m->cluster_id), "%s", val);
    else if (strcmp(key, "node.id") == 0)
        m->node_id = strtol(val, NULL, 10);
    return 0;
}

/* 16 random bytes in URL-safe base64 without padding: 22 characters, as Kafka's ids. */
static void cluster_id_new(char *out)
{
    uint8_t r[16];
    broker_random_bytes(r, sizeof(r));
    base64url_encode(r, sizeof(r), out);
}

static int meta_load(broker_t *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.properties", b->data_dir);
    meta_t m = {{0}, -1};
    int rc = read_properties(path, meta_line, &m);
    if (rc == 0 && m.cluster_id[0]) {
        if (m.node_id >= 0 && m.node_id != b->node_id) {
            log_error("broker", "%s says node.id=%ld but the settings say %d", path, m.node_id,
                      b->node_id);
            return -WEIR_EINVAL;
        }
        snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", m.cluster_id);
        return 0;
    }
    if (rc < 0 && rc != -WEIR_ENOENT) {
        log_error("broker", "cannot read %s", path);
        return rc;
    }
    cluster_id_new(b->cluster_id);
    buf_t c = {0};
    buf_printf(&c,
               "# written once by weir; like Kafka's meta.properties\nversion=1\n"
               "cluster.id=%s\nnode.id=%d\n",
               b->cluster_id, b->node_id);
    rc = broker_write_file_atomic(b->data_dir, "meta.properties", &c);
    buf_deinit(&c);
    if (rc == 0)
        log_info("broker", "new cluster id %s", b->cluster_id);
    b->new_cluster = rc == 0;
    return rc;
}

/* ---- maintenance (loop 0)
 * ------------------------------------------------------------------------ */

static void maint_tick(void *arg)
{
    broker_t *b = arg;
    if (atomic_load(&b->stopping))
        return;
    int64_t now = clock_wall_ms();
    broker_topics_rdlock(b);
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext) {
            for (int32_t j = 0; j < t->npart; j++) {
                broker_partition_t *p = t->parts[j];
                if (!p->log)
                    continue;
                int rc = storage_log_maintain(p->log, now);
                if (rc < 0)
                    log_warn("broker", "maintenance of %s-%d: %s", t->name, j, weir_strerror(rc));
            }
        }
    }
    broker_topics_unlock(b);
    net_timer_start(b->loops[0], &b->maint_timer,
                    broker_settings_int(&b->set, BCFG_LOG_RETENTION_CHECK_INTERVAL_MS));
}

/* ---- open and close
 * ------------------------------------------------------------------------------ */

static void maint_start_on_loop0(void *arg)
{
    broker_t *b = arg;
    net_timer_start(b->loops[0], &b->maint_timer,
                    broker_settings_int(&b->set, BCFG_LOG_RETENTION_CHECK_INTERVAL_MS));
}

static void maint_stop_on_loop0(void *arg)
{
    broker_t *b = arg;
    net_timer_stop(b->loops[0], &b->maint_timer);
}

static int open_data_dir(broker_t *b)
{
    if (mkdir_p(b->data_dir) < 0) {
        log_error("broker", "cannot create data dir %s: %s", b->data_dir, strerror(errno));
        return -WEIR_EIO;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/.lock", b->data_dir);
    b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("broker", "data dir %s is in use by another broker", b->data_dir);
        return -WEIR_EEXIST;
    }
    int rc = meta_load(b);
    if (rc < 0)
        return rc;
    rc = broker_dynamic_load(b);
    if (rc == 0 && b->new_cluster) {
        /* As Kafka 4 formats a new cluster (eligible leader replicas on): min.insync.replicas
         * is a cluster-wide dynamic default from the start, which DescribeConfigs shows. */
        broker_cfg_change_t ch = {BCFG_MIN_INSYNC_REPLICAS, "min.insync.replicas", "1"};
        broker_err_t err;
        rc = broker_dynamic_alter(b, BCFG_LAYER_DYNAMIC_DEFAULT, &ch, 1, false, &err);
    }
    return rc;
}

int broker_open(const broker_open_args_t *a, broker_t **out)
{
    WEIR_ASSERT(a->nloops > 0);
    broker_t *b = weir_calloc(1, sizeof(*b));
    b->lock_fd = -1;
    net_timer_init(&b->maint_timer, maint_tick, b);
    net_timer_init(&b->producer_timer, NULL, b);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* Writers (create/delete topic) must not starve behind a steady stream of produces. */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->topics_lock, &ra);
    pthread_mutex_init(&b->topics_admin_mu, NULL);
    pthread_rwlockattr_destroy(&ra);
    b->set = *a->settings; /* moved: the caller's copy is no longer freed */
    memset(a->settings, 0, sizeof(*a->settings));
    b->loops = a->loops;
    b->nloops = a->nloops;
    b->node_id = (int32_t)broker_settings_int(&b->set, BCFG_NODE_ID);
    b->data_dir = weir_strdup(a->data_dir ? a->data_dir : broker_settings_data_dir(&b->set));
    if (a->data_dir && strcmp(a->data_dir, broker_settings_data_dir(&b->set)) != 0) {
        char err[256]; /* --data-dir: what log.dirs says from now on */
        broker_settings_layer_set(&b->set, BCFG_LAYER_STATIC, BCFG_LOG_DIRS, a->data_dir, err,
                                  sizeof(err));
    }
    int rc = open_data_dir(b);
    if (rc < 0)
        goto out_fail;
    b->io = storage_io_real();
    int64_t flush_ms = broker_settings_int(&b->set, BCFG_LOG_FLUSH_INTERVAL_MS);
    rc = storage_flusher_start(&b->flusher,
                               flush_ms == BCFG_UNSET ? BROKER_FLUSH_INTERVAL_MS : flush_ms);
    if (rc < 0)
        goto out_fail;
    rc = broker_users_open(b);
    if (rc < 0)
        goto out_fail;
    rc = broker_acls_open(b);
    if (rc < 0)
        goto out_fail;
    rc = broker_quotas_open(b);
    if (rc < 0)
        goto out_fail;
    rc = broker_topics_load(b);
    if (rc < 0)
        goto out_fail;
    rc = broker_cleaner_start(b); /* compaction on Kafka's cleaner schedule */
    if (rc < 0)
        goto out_fail;
    rc = broker_producers_start(b); /* producer ids, expiry and snapshots */
    if (rc < 0)
        goto out_fail;
    rc = broker_groups_start(b); /* group coordinator, __consumer_offsets */
    if (rc < 0)
        goto out_fail;
    rc = broker_txns_start(b); /* transaction coordinator, __transaction_state */
    if (rc < 0)
        goto out_fail;
    net_loop_call(b->loops[0], maint_start_on_loop0, b);
    log_info("broker", "node %d of cluster %s: data in %s", b->node_id, b->cluster_id, b->data_dir);
    *out = b;
    return 0;

out_fail:
    broker_quiesce(b);
    broker_close(b);
    return rc;
}

void broker_watches_notify_all(broker_t *b)
{
    broker_topics_rdlock(b);
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            for (int32_t j = 0; j < t->npart; j++)
                broker_watches_notify(t->parts[j]);
    broker_topics_unlock(b);
}

void broker_quiesce(broker_t *b)
{
    if (atomic_exchange(&b->stopping, true))
        return;
    net_loop_call(b->loops[0], maint_stop_on_loop0, b);
    broker_cleaner_stop(b); /* a pass in progress finishes first */
    /* Answer what is parked: fetches at once (stopping), acks=-1 produces when the flusher
     * has synced them, which it does promptly. Bounded, in case a disk hangs. */
    broker_watches_notify_all(b);
    for (int i = 0; i < 30000 && atomic_load(&b->parked) > 0; i++) {
        if (i % 100 == 0)
            broker_watches_notify_all(b);
        usleep(1000);
    }
    if (atomic_load(&b->parked) > 0)
        log_warn("broker", "%d request(s) still parked at shutdown", atomic_load(&b->parked));
    /* Let every loop run what was posted to it (completions, their writes). */
    for (int i = 0; i < b->nloops; i++)
        net_loop_call(b->loops[i], NULL, NULL);
    broker_txns_stop(b);   /* first: its markers in __consumer_offsets reach the groups */
    broker_groups_stop(b); /* while the loops still run: it answers parked group requests */
    broker_producers_stop(b);
}

void broker_close(broker_t *b)
{
    if (!b)
        return;
    broker_cleaner_stop(b); /* if open failed before quiesce */
    broker_txns_free(b);
    broker_groups_free(b); /* no loop runs requests any more: nothing can reach it */
    broker_producers_free(b);
    if (b->flusher) {
        broker_topics_close(b);
        storage_flusher_stop(b->flusher);
    }
    broker_dynamic_free(b);
    broker_users_free(b);
    broker_acls_free_all(b);
    broker_quotas_free(b);
    broker_settings_free(&b->set);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&b->topics_lock);
    pthread_mutex_destroy(&b->topics_admin_mu);
    free(b->data_dir);
    free(b);
}

const broker_settings_t *broker_settings(const broker_t *b)
{
    return &b->set;
}

void broker_settings_observed(broker_t *b, int key, const char *value)
{
    char err[256];
    pthread_mutex_lock(&b->topics_admin_mu); /* a writer of topics_lock: see broker_internal.h */
    broker_topics_wrlock(b);
    if (!b->set.sval[key] || strcmp(b->set.sval[key], value) != 0)
        if (broker_settings_layer_set(&b->set, BCFG_LAYER_STATIC, key, value, err, sizeof(err)) < 0)
            log_warn("broker", "%s", err);
    broker_topics_unlock(b);
    pthread_mutex_unlock(&b->topics_admin_mu);
}

const char *broker_cluster_id(const broker_t *b)
{
    return b->cluster_id;
}

bool broker_stopping(const broker_t *b)
{
    return atomic_load(&b->stopping);
}
