/*
 * The broker's life and what belongs to the whole broker: open (data dir and its lock, the
 * cluster id, dynamic configs, topics, the flusher, the group coordinator, the maintenance
 * timer), quiesce (answer what is parked), close (every log with its clean-shutdown marker);
 * dynamic broker configs and the maintenance timer. The event loops and listeners are the
 * server's (src/server): the broker runs on loops it is given.
 *
 * Data dir layout: meta.properties (cluster.id and node.id, written once, like Kafka's),
 * dynamic.properties (broker configs changed at run time), topics/<name>.conf (see topics.c),
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
    return rc;
}

/* ---- dynamic broker configs
 * ---------------------------------------------------------------------- */

static bool source_dynamic(int source)
{
    return source == CFG_SOURCE_DYNAMIC_BROKER || source == CFG_SOURCE_DYNAMIC_DEFAULT_BROKER;
}

static int dynamic_line(void *arg, char *key, char *val)
{
    broker_t *b = arg;
    int k = broker_cfg_find(key, strlen(key));
    char err[256];
    if (k < 0 || !broker_cfg_defs[k].dynamic) {
        log_error("broker", "dynamic.properties: '%s' is not a dynamic broker setting", key);
        return -WEIR_EINVAL;
    }
    if (broker_settings_set(&b->set, k, val, CFG_SOURCE_DYNAMIC_BROKER, err, sizeof(err)) < 0) {
        log_error("broker", "dynamic.properties: %s", err);
        return -WEIR_EINVAL;
    }
    return 0;
}

static int dynamic_save(broker_t *b)
{
    buf_t c = {0};
    buf_append_str(&c, "# broker configs changed at run time (AlterConfigs)\n");
    for (int k = 0; k < BCFG__COUNT; k++)
        if (source_dynamic(b->set.source[k]) && b->set.sval[k])
            buf_printf(&c, "%s=%s\n", broker_cfg_defs[k].name, b->set.sval[k]);
    int rc = broker_write_file_atomic(b->data_dir, "dynamic.properties", &c);
    buf_deinit(&c);
    return rc;
}

static void revert_to_static(broker_t *b, int k)
{
    char err[256];
    int rc =
        broker_settings_set(&b->set, k, b->static_sval[k], b->static_source[k], err, sizeof(err));
    WEIR_ASSERT(rc == 0); /* it passed the same checks at start */
}

int broker_dynamic_alter(broker_t *b, const broker_cfg_change_t *ch, size_t n, bool replace,
                         bool validate_only, broker_err_t *err)
{
    /* Check everything first, on a scratch copy, so a bad entry changes nothing. */
    broker_settings_t scratch;
    memset(&scratch, 0, sizeof(scratch));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const broker_cfg_def_t *d = &broker_cfg_defs[ch[i].key];
        char e[256];
        if (!d->dynamic)
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                             "Cannot update these configs dynamically: %s", d->name);
        else if (ch[i].value && broker_settings_set(&scratch, ch[i].key, ch[i].value,
                                                    CFG_SOURCE_DYNAMIC_BROKER, e, sizeof(e)) < 0)
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "%s", e);
    }
    broker_settings_free(&scratch);
    if (rc < 0 || validate_only)
        return rc;
    broker_topics_wrlock(b);
    if (replace)
        for (int k = 0; k < BCFG__COUNT; k++)
            if (source_dynamic(b->set.source[k]))
                revert_to_static(b, k);
    for (size_t i = 0; i < n; i++) {
        char e[256];
        if (!ch[i].value)
            revert_to_static(b, ch[i].key);
        else if (broker_settings_set(&b->set, ch[i].key, ch[i].value, CFG_SOURCE_DYNAMIC_BROKER, e,
                                     sizeof(e)) < 0)
            WEIR_ASSERT(!"checked above");
    }
    if (dynamic_save(b) < 0)
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot persist dynamic configs");
    broker_topics_reconfigure(b);
    broker_topics_unlock(b);
    log_info("broker", "dynamic broker configs changed");
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
    for (int k = 0; k < BCFG__COUNT; k++) {
        b->static_sval[k] = b->set.sval[k] ? weir_strdup(b->set.sval[k]) : NULL;
        b->static_source[k] = b->set.source[k];
    }
    snprintf(path, sizeof(path), "%s/dynamic.properties", b->data_dir);
    rc = read_properties(path, dynamic_line, b);
    return rc == -WEIR_ENOENT ? 0 : rc;
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
    pthread_rwlockattr_destroy(&ra);
    b->set = *a->settings; /* moved: the caller's copy is no longer freed */
    memset(a->settings, 0, sizeof(*a->settings));
    b->loops = a->loops;
    b->nloops = a->nloops;
    b->node_id = (int32_t)broker_settings_int(&b->set, BCFG_NODE_ID);
    b->data_dir = weir_strdup(a->data_dir ? a->data_dir : b->set.sval[BCFG_LOG_DIRS]);
    int rc = open_data_dir(b);
    if (rc < 0)
        goto out_fail;
    b->io = storage_io_real();
    rc = storage_flusher_start(&b->flusher,
                               broker_settings_int(&b->set, BCFG_LOG_FLUSH_INTERVAL_MS));
    if (rc < 0)
        goto out_fail;
    rc = broker_topics_load(b);
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
    broker_txns_free(b);
    broker_groups_free(b); /* no loop runs requests any more: nothing can reach it */
    broker_producers_free(b);
    if (b->flusher) {
        broker_topics_close(b);
        storage_flusher_stop(b->flusher);
    }
    for (int k = 0; k < BCFG__COUNT; k++)
        free(b->static_sval[k]);
    broker_settings_free(&b->set);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&b->topics_lock);
    free(b->data_dir);
    free(b);
}

const broker_settings_t *broker_settings(const broker_t *b)
{
    return &b->set;
}

const char *broker_cluster_id(const broker_t *b)
{
    return b->cluster_id;
}

bool broker_stopping(const broker_t *b)
{
    return atomic_load(&b->stopping);
}
