/*
 * The broker's own pieces without clients: settings (defaults, the config file, --set
 * overrides, aliases, Kafka's retention synonyms, bad keys and values), topic name rules,
 * topic config checks, and the broker as a library: two brokers in one process, a data dir
 * that is in use refused, the cluster id kept across restarts, topics and their configs
 * reloaded from the data dir.
 */
#include "broker/broker_internal.h"
#include "server/server.h"
#include "kafka/kafka.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static const char *mktemp_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-unit-broker-XXXXXX");
    return mkdtemp(tmpdir);
}

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TEST(settings_defaults)
{
    broker_settings_t s;
    char err[256];
    REQUIRE(broker_settings_load(&s, NULL, NULL, err, sizeof(err)) == 0);
    CHECK_EQ(broker_settings_int(&s, BCFG_NUM_PARTITIONS), 1);
    CHECK_EQ(broker_settings_int(&s, BCFG_AUTO_CREATE_TOPICS_ENABLE), 1);
    CHECK_EQ(broker_settings_int(&s, BCFG_MESSAGE_MAX_BYTES), 1048588);
    CHECK_EQ(broker_settings_int(&s, BCFG_SOCKET_REQUEST_MAX_BYTES), 104857600);
    CHECK_EQ(broker_settings_int(&s, BCFG_LOG_SEGMENT_BYTES), 1073741824);
    CHECK_EQ(broker_settings_int(&s, BCFG_CONNECTIONS_MAX_IDLE_MS), 600000);
    CHECK_EQ(broker_settings_retention_ms(&s), 7LL * 24 * 3600 * 1000);
    CHECK_EQ(broker_settings_roll_ms(&s), 7LL * 24 * 3600 * 1000);
    CHECK_STR(s.sval[BCFG_LOG_CLEANUP_POLICY], "delete");
    CHECK_EQ(s.source[BCFG_NUM_PARTITIONS], CFG_SOURCE_DEFAULT);
    broker_settings_free(&s);
}

TEST(settings_file_and_overrides)
{
    const char *dir = mktemp_dir();
    REQUIRE(dir);
    char path[128];
    snprintf(path, sizeof(path), "%s/weir.conf", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "# comment\n\n! also a comment\nnum.partitions = 4\n  broker.id=7  \n"
               "log.retention.minutes=10\nlog.cleanup.policy = compact, delete\n"
               "message.max.bytes=100\n");
    fclose(f);
    const char *over[] = {"message.max.bytes=200", "auto.create.topics.enable=FALSE", NULL};
    broker_settings_t s;
    char err[256];
    REQUIRE(broker_settings_load(&s, path, over, err, sizeof(err)) == 0);
    CHECK_EQ(broker_settings_int(&s, BCFG_NUM_PARTITIONS), 4);
    CHECK_EQ(broker_settings_int(&s, BCFG_NODE_ID), 7);             /* broker.id is an alias */
    CHECK_EQ(broker_settings_retention_ms(&s), 600000);             /* minutes, since ms is unset */
    CHECK_EQ(broker_settings_int(&s, BCFG_LOG_CLEANUP_POLICY), 3);  /* both bits */
    CHECK_EQ(broker_settings_int(&s, BCFG_MESSAGE_MAX_BYTES), 200); /* --set wins */
    CHECK_EQ(broker_settings_int(&s, BCFG_AUTO_CREATE_TOPICS_ENABLE), 0);
    CHECK_EQ(s.source[BCFG_NUM_PARTITIONS], CFG_SOURCE_STATIC_BROKER);
    broker_settings_free(&s);
    rm_rf(dir);
}

TEST(settings_errors_name_the_key)
{
    broker_settings_t s;
    char err[256];
    const char *unknown[] = {"no.such.key=1", NULL};
    CHECK(broker_settings_load(&s, NULL, unknown, err, sizeof(err)) < 0);
    CHECK(strstr(err, "no.such.key") != NULL);
    broker_settings_free(&s);
    const char *bad[][2] = {{"num.partitions=0", "num.partitions"},
                            {"num.partitions=abc", "num.partitions"},
                            {"auto.create.topics.enable=yes", "auto.create.topics.enable"},
                            {"log.cleanup.policy=sometimes", "log.cleanup.policy"},
                            {"log.message.timestamp.type=createtime", "log.message.timestamp"},
                            {"message.max.bytes=99999999999", "message.max.bytes"},
                            {"novalue", "expected key = value"}};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        const char *o[] = {bad[i][0], NULL};
        CHECK(broker_settings_load(&s, NULL, o, err, sizeof(err)) < 0);
        CHECK(strstr(err, bad[i][1]) != NULL);
        broker_settings_free(&s);
    }
    CHECK(broker_settings_load(&s, "/nonexistent/weir.conf", NULL, err, sizeof(err)) < 0);
    broker_settings_free(&s);
}

TEST(topic_names)
{
    const char *why;
    CHECK(broker_topic_name_valid("orders.v1_x-Y9", 14, &why));
    char n249[250], n250[251];
    memset(n249, 'a', 249);
    memset(n250, 'a', 250);
    CHECK(broker_topic_name_valid(n249, 249, &why));
    CHECK(!broker_topic_name_valid(n250, 250, &why));
    CHECK(!broker_topic_name_valid("", 0, &why));
    CHECK(!broker_topic_name_valid(".", 1, &why));
    CHECK(!broker_topic_name_valid("..", 2, &why));
    CHECK(broker_topic_name_valid("...", 3, &why));
    CHECK(!broker_topic_name_valid("a/b", 3, &why));
    CHECK(!broker_topic_name_valid("a\0b", 3, &why));
    CHECK(!broker_topic_name_valid("sp ace", 6, &why));
    CHECK(!broker_topic_name_valid("\xc3\xa9", 2, &why));
    CHECK(broker_topic_name_internal("__consumer_offsets"));
    CHECK(!broker_topic_name_internal("__other"));
}

TEST(topic_configs)
{
    char out[256], err[256];
    CHECK_EQ(broker_topic_cfg_find("retention.ms", 12), TCFG_RETENTION_MS);
    CHECK_EQ(broker_topic_cfg_find("retention.msx", 13), -1);
    CHECK(broker_topic_cfg_check(TCFG_RETENTION_MS, "-1", out, sizeof(out), err, sizeof(err)) == 0);
    CHECK(broker_topic_cfg_check(TCFG_RETENTION_MS, "-2", out, sizeof(out), err, sizeof(err)) < 0);
    CHECK(broker_topic_cfg_check(TCFG_CLEANUP_POLICY, "compact,delete", out, sizeof(out), err,
                                 sizeof(err)) == 0);
    CHECK(broker_topic_cfg_check(TCFG_CLEANUP_POLICY, "compact,nope", out, sizeof(out), err,
                                 sizeof(err)) < 0);
    CHECK(broker_topic_cfg_check(TCFG_MESSAGE_TIMESTAMP_TYPE, "LogAppendTime", out, sizeof(out),
                                 err, sizeof(err)) == 0);
    CHECK(broker_topic_cfg_check(TCFG_UNCLEAN_LEADER_ELECTION_ENABLE, "TRUE", out, sizeof(out), err,
                                 sizeof(err)) == 0);
    CHECK_STR(out, "true");
    CHECK(broker_topic_cfg_check(TCFG_COMPRESSION_TYPE, "gzip", out, sizeof(out), err,
                                 sizeof(err)) == 0);
    CHECK(broker_topic_cfg_check(TCFG_COMPRESSION_TYPE, "GZIP", out, sizeof(out), err,
                                 sizeof(err)) < 0);
    CHECK_STR(err, "Invalid value GZIP for configuration compression.type: String must be one of: "
                   "uncompressed, zstd, lz4, snappy, gzip, producer");
    CHECK(broker_topic_cfg_check(TCFG_SEGMENT_BYTES, NULL, out, sizeof(out), err, sizeof(err)) < 0);
}

/* Kafka's ConfigDef: parsing, normalizing and its messages, for each type. */
TEST(config_values_as_kafka_reads_them)
{
    static const struct {
        int key;
        const char *in, *norm, *err;
    } cases[] = {
        {TCFG_RETENTION_MS, " +1000 ", "1000", NULL},
        {TCFG_RETENTION_MS, "1e3", NULL,
         "Invalid value 1e3 for configuration retention.ms: Not a number of type LONG"},
        {TCFG_RETENTION_MS, "", NULL,
         "Invalid value  for configuration retention.ms: Not a number of type LONG"},
        {TCFG_RETENTION_MS, "-5", NULL,
         "Invalid value -5 for configuration retention.ms: Value must be at least -1"},
        {TCFG_SEGMENT_BYTES, "99999999999", NULL,
         "Invalid value 99999999999 for configuration segment.bytes: Not a number of type INT"},
        {TCFG_PREALLOCATE, " TRUE ", "true", NULL},
        {TCFG_PREALLOCATE, "yes", NULL,
         "Invalid value yes for configuration preallocate: Expected value to be either true or "
         "false"},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, ".5", "0.5", NULL},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, "0.10", "0.1", NULL},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, "1e-4", "1.0E-4", NULL},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, "1", "1.0", NULL},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, "1.5", NULL,
         "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more "
         "than 1"},
        {TCFG_MIN_CLEANABLE_DIRTY_RATIO, "x", NULL,
         "Invalid value x for configuration min.cleanable.dirty.ratio: Not a number of type "
         "DOUBLE"},
        {TCFG_COMPRESSION_GZIP_LEVEL, "-1", "-1", NULL},
        {TCFG_COMPRESSION_GZIP_LEVEL, "0", NULL,
         "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 "
         "or equal to -1"},
        {TCFG_CLEANUP_POLICY, "compact , delete", "compact,delete", NULL},
        {TCFG_CLEANUP_POLICY, "", "", NULL},
        {TCFG_CLEANUP_POLICY, "compact,bogus", NULL,
         "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, "
         "delete"},
        {TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS, "*", "*", NULL},
        {TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS, "0:1, 1:1", "0:1,1:1", NULL},
        {TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS, "0:1,*", NULL,
         "Invalid value [0:1, *] for configuration leader.replication.throttled.replicas: "
         "leader.replication.throttled.replicas must be the literal '*' or a list of replicas in "
         "the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
        {TCFG_SEGMENT_INDEX_BYTES, "2", NULL,
         "Invalid value 2 for configuration segment.index.bytes: Value must be at least 4"},
        {TCFG_SEGMENT_BYTES, "100", "100", NULL}, /* Weir's lower bound (Kafka's is 1 MiB) */
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++) {
        char out[256], err[512];
        int rc =
            broker_topic_cfg_check(cases[i].key, cases[i].in, out, sizeof(out), err, sizeof(err));
        if (cases[i].norm) {
            CHECK_EQ(rc, 0);
            CHECK_STR(out, cases[i].norm);
        } else {
            CHECK(rc < 0);
            CHECK_STR(err, cases[i].err);
        }
    }
    char d[40];
    broker_cfg_double_str(1.7976931348623157e308, d, sizeof(d));
    CHECK_STR(d, "1.7976931348623157E308");
    broker_cfg_double_str(0.001, d, sizeof(d));
    CHECK_STR(d, "0.001");
    broker_cfg_double_str(12345678.0, d, sizeof(d));
    CHECK_STR(d, "1.2345678E7");
    broker_cfg_double_str(100.0, d, sizeof(d));
    CHECK_STR(d, "100.0");
}

/* The tables: every Kafka row is found by name, Weir's rows too, and the defaults Weir keeps
 * pass the checks of their own rows. */
TEST(config_tables)
{
    for (int k = 0; k < BCFG__COUNT; k++) {
        broker_cfg_row_t tmp;
        const broker_cfg_row_t *row = broker_cfg_row(k, &tmp);
        CHECK_EQ(broker_cfg_find(row->name, strlen(row->name)), k);
        char norm[BROKER_CFG_VALUE_MAX], err[512];
        if (row->def && (row->flags & BCFG_F_APPLIES) &&
            broker_cfg_check(k, row->def, norm, sizeof(norm), err, sizeof(err)) != 0)
            CHECK_STR(err, "(a default Weir honours fails its own check)");
    }
    for (int k = 0; k < TCFG__COUNT; k++) {
        broker_cfg_row_t trow;
        const char *name = broker_topic_cfg_row(k, &trow)->name;
        CHECK_EQ(broker_topic_cfg_find(name, strlen(name)), k);
    }
    CHECK_EQ(broker_cfg_find("weir.max.decompressed.bytes", 27), BCFG_MAX_DECOMPRESSED_BYTES);
    CHECK_EQ(broker_cfg_find("log.retention.msx", 17), -1);
    CHECK_EQ(broker_cfg_find("log.retention.m", 15), -1);
    broker_cfg_row_t tmp;
    CHECK(!(broker_cfg_row(BCFG_NUM_IO_THREADS, &tmp)->flags & BCFG_F_DYNAMIC)); /* Weir: static */
    CHECK(broker_cfg_row(BCFG_LOG_RETENTION_MS, &tmp)->flags & BCFG_F_DYNAMIC);
    CHECK(broker_cfg_row(BCFG_LOG_RETENTION_MS, &tmp)->flags & BCFG_F_APPLIES);
    /* The security work honours the ssl.* settings it implements (read once at start) and
     * leaves the JVM's ones stored only. */
    CHECK(broker_cfg_row(BCFG_SSL_KEYSTORE_LOCATION, &tmp)->flags & BCFG_F_APPLIES);
    CHECK(!(broker_cfg_row(BCFG_SSL_KEYSTORE_LOCATION, &tmp)->flags & BCFG_F_DYNAMIC));
    CHECK(!(broker_cfg_row(BCFG_SSL_KEYMANAGER_ALGORITHM, &tmp)->flags & BCFG_F_APPLIES));
}

static weir_broker *start(const char *dir, const char *const *settings)
{
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.listen = "127.0.0.1:0";
    cfg.http_listen = NULL;
    cfg.io_threads = 1;
    cfg.settings = settings;
    weir_broker *b = NULL;
    return weir_broker_start(&cfg, &b) == 0 ? b : NULL;
}

TEST(two_brokers_one_process_and_the_data_dir_lock)
{
    char d1[64], d2[64];
    snprintf(d1, sizeof(d1), "%s", mktemp_dir());
    snprintf(d2, sizeof(d2), "%s", mktemp_dir());
    weir_broker *a = start(d1, NULL), *b = start(d2, NULL);
    REQUIRE(a && b);
    CHECK(strcmp(weir_broker_bootstrap(a), weir_broker_bootstrap(b)) != 0);
    CHECK(weir_broker_http_address(a) == NULL);
    CHECK(start(d1, NULL) == NULL); /* in use */
    broker_t *ba = server_broker(a), *bb = server_broker(b);
    CHECK(strcmp(ba->cluster_id, bb->cluster_id) != 0);
    weir_broker_stop(a);
    weir_broker_stop(b);
    rm_rf(d1);
    rm_rf(d2);
}

TEST(restart_keeps_cluster_id_topics_and_configs)
{
    char d[64];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    broker_t *b = server_broker(w);
    char cid[32];
    broker_err_t err;
    snprintf(cid, sizeof(cid), "%s", b->cluster_id);
    broker_config_kv_t kv[] = {{"retention.ms", "5000"}};
    CHECK_EQ(broker_topic_create(b, "keep", 3, kv, 1, false, NULL, &err), 0);
    CHECK_EQ(broker_topic_create(b, "keep", 3, NULL, 0, false, NULL, &err), -WEIR_EEXIST);
    CHECK_EQ(err.code, KAFKA_TOPIC_ALREADY_EXISTS);
    CHECK_EQ(broker_topic_create(b, "drop", 1, NULL, 0, false, NULL, &err), 0);
    CHECK_EQ(broker_topic_create(b, "dry", 1, NULL, 0, true, NULL, &err), 0);
    CHECK_EQ(broker_topic_add_partitions(b, "keep", 4, 5, false, &err), 0);
    CHECK_EQ(broker_topic_delete(b, "drop", 4, &err), 0);
    CHECK(broker_topic_create(b, "bad/x", 1, NULL, 0, false, NULL, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_TOPIC_EXCEPTION);
    CHECK(broker_topic_create(b, "zero", 0, NULL, 0, false, NULL, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_PARTITIONS);
    broker_config_kv_t bad[] = {{"retention.ms", "soon"}};
    CHECK(broker_topic_create(b, "badcfg", 1, bad, 1, false, NULL, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_CONFIG);
    weir_broker_stop(w);
    char path[128];
    snprintf(path, sizeof(path), "%s/drop-0", d);
    CHECK(access(path, F_OK) != 0); /* the deleted topic's directory is gone */

    w = start(d, NULL);
    REQUIRE(w);
    b = server_broker(w);
    CHECK_STR(b->cluster_id, cid);
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, "keep", 4);
    CHECK(t && t->npart == 5 && t->log_cfg.retention_ms == 5000);
    CHECK(broker_topic_find(b, "drop", 4) == NULL);
    CHECK(broker_topic_find(b, "dry", 3) == NULL);
    broker_topics_unlock(b);
    weir_broker_stop(w);
    rm_rf(d);
}

struct create_arg {
    broker_t *b;
    const char *name;
    int rc;
};

static void *create_main(void *arg)
{
    struct create_arg *a = arg;
    broker_err_t err;
    a->rc = broker_topic_create(a->b, a->name, 2, NULL, 0, false, NULL, &err);
    return NULL;
}

/* A topic's files are written and synced without the table's write lock: produces and fetches
 * (readers of the table) go on meanwhile. Here a reader holds the lock, and the new topic's
 * partition directories still appear; it is published once the reader lets go. */
TEST(topic_disk_work_runs_outside_the_table_lock)
{
    char d[64], path[128];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    broker_t *b = server_broker(w);
    broker_topics_rdlock(b);
    struct create_arg a = {b, "slow-disk", -1};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, create_main, &a) == 0);
    snprintf(path, sizeof(path), "%s/slow-disk-1", d);
    int waited = 0;
    while (access(path, F_OK) != 0 && waited < 10000) {
        usleep(1000);
        waited++;
    }
    CHECK(access(path, F_OK) == 0);
    CHECK(broker_topic_find(b, "slow-disk", 9) == NULL); /* not yet published */
    broker_topics_unlock(b);
    pthread_join(th, NULL);
    CHECK_EQ(a.rc, 0);
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, "slow-disk", 9);
    CHECK(t && t->npart == 2);
    broker_topics_unlock(b);
    weir_broker_stop(w);
    rm_rf(d);
}

#define RACE_TOPICS  12
#define RACE_THREADS 4

struct race {
    broker_t *b;
    pthread_barrier_t step;
    atomic_int created[RACE_TOPICS], grown[RACE_TOPICS], deleted[RACE_TOPICS];
    atomic_int other_errors;
    atomic_bool done;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    broker_err_t err;
    char name[32];
    for (int i = 0; i < RACE_TOPICS; i++) {
        snprintf(name, sizeof(name), "race-%d", i);
        int rc = broker_topic_create(r->b, name, 2, NULL, 0, false, NULL, &err);
        if (rc == 0)
            atomic_fetch_add(&r->created[i], 1);
        else if (err.code != KAFKA_TOPIC_ALREADY_EXISTS)
            atomic_fetch_add(&r->other_errors, 1);
    }
    pthread_barrier_wait(&r->step);
    for (int i = 0; i < RACE_TOPICS; i++) {
        snprintf(name, sizeof(name), "race-%d", i);
        int rc = broker_topic_add_partitions(r->b, name, strlen(name), 3, false, &err);
        if (rc == 0)
            atomic_fetch_add(&r->grown[i], 1);
        else if (err.code != KAFKA_INVALID_PARTITIONS)
            atomic_fetch_add(&r->other_errors, 1);
    }
    pthread_barrier_wait(&r->step);
    for (int i = 0; i < RACE_TOPICS; i++) {
        snprintf(name, sizeof(name), "race-%d", i);
        int rc = broker_topic_delete(r->b, name, strlen(name), &err);
        if (rc == 0)
            atomic_fetch_add(&r->deleted[i], 1);
        else if (err.code != KAFKA_UNKNOWN_TOPIC_OR_PARTITION)
            atomic_fetch_add(&r->other_errors, 1);
    }
    return NULL;
}

/* Reads the table as produce and fetch do while the writers race. */
static void *race_reader(void *arg)
{
    struct race *r = arg;
    long seen = 0;
    while (!atomic_load(&r->done)) {
        broker_topics_rdlock(r->b);
        broker_topic_t *t = broker_topic_find(r->b, "race-3", 6);
        if (t)
            for (int32_t i = 0; i < t->npart; i++)
                seen += t->parts[i]->index == i;
        broker_topics_unlock(r->b);
    }
    return (void *)seen;
}

/* Writers racing on the same names: each create, growth and delete happens exactly once, the
 * others get Kafka's answer for "already done", and readers never see a half-made topic. */
TEST(topic_changes_race_cleanly)
{
    char d[64];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    struct race *r = calloc(1, sizeof(*r));
    REQUIRE(r);
    r->b = server_broker(w);
    pthread_barrier_init(&r->step, NULL, RACE_THREADS);
    pthread_t th[RACE_THREADS], rd;
    REQUIRE(pthread_create(&rd, NULL, race_reader, r) == 0);
    for (int i = 0; i < RACE_THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, race_main, r) == 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&r->done, true);
    pthread_join(rd, NULL);
    for (int i = 0; i < RACE_TOPICS; i++) {
        CHECK_EQ(atomic_load(&r->created[i]), 1);
        CHECK_EQ(atomic_load(&r->grown[i]), 1);
        CHECK_EQ(atomic_load(&r->deleted[i]), 1);
    }
    CHECK_EQ(atomic_load(&r->other_errors), 0);
    broker_topics_rdlock(r->b);
    CHECK(broker_topic_find(r->b, "race-0", 6) == NULL);
    broker_topics_unlock(r->b);
    pthread_barrier_destroy(&r->step);
    free(r);
    weir_broker_stop(w);
    rm_rf(d);
}

TEST(dynamic_configs_persist_and_apply)
{
    char d[64];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    broker_t *b = server_broker(w);
    broker_err_t err;
    CHECK_EQ(broker_topic_create(b, "dyn", 1, NULL, 0, false, NULL, &err), 0);
    broker_config_op_t ch[] = {{"log.retention.bytes", BROKER_CONFIG_SET, "12345"}};
    CHECK_EQ(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "1", 1, ch, 1, true, false, &err), 0);
    broker_config_op_t bad[] = {{"num.io.threads", BROKER_CONFIG_SET, "3"}};
    CHECK(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "1", 1, bad, 1, true, false, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_REQUEST);
    CHECK_STR(err.message, "Cannot update these configs dynamically: [num.io.threads]");
    broker_config_op_t badv[] = {{"log.retention.bytes", BROKER_CONFIG_SET, "lots"}};
    CHECK(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "1", 1, badv, 1, true, false, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_REQUEST);
    CHECK_STR(
        err.message,
        "Invalid value lots for configuration log.retention.bytes: Not a number of type LONG");
    broker_config_op_t dflt[] = {{"log.cleaner.backoff.ms", BROKER_CONFIG_SET, "20000"}};
    CHECK_EQ(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "", 0, dflt, 1, true, false, &err), 0);
    broker_topics_rdlock(b);
    CHECK_EQ(broker_topic_find(b, "dyn", 3)->log_cfg.retention_bytes, 12345);
    broker_topics_unlock(b);
    weir_broker_stop(w);
    w = start(d, NULL);
    REQUIRE(w);
    b = server_broker(w);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_RETENTION_BYTES), 12345);
    CHECK_EQ(b->set.source[BCFG_LOG_RETENTION_BYTES], CFG_SOURCE_DYNAMIC_BROKER);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_CLEANER_BACKOFF_MS), 20000);
    CHECK_EQ(b->set.source[BCFG_LOG_CLEANER_BACKOFF_MS], CFG_SOURCE_DYNAMIC_DEFAULT_BROKER);
    broker_config_op_t back[] = {{"log.retention.bytes", BROKER_CONFIG_DELETE, NULL}};
    CHECK_EQ(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "1", 1, back, 1, true, false, &err),
             0);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_RETENTION_BYTES), -1);
    /* AlterConfigs replaces the cluster-default layer as a whole, but (Kafka 4, eligible leader
     * replicas) never drops the cluster-wide min.insync.replicas a new cluster starts with. */
    CHECK_EQ(b->set.source[BCFG_MIN_INSYNC_REPLICAS], CFG_SOURCE_DYNAMIC_DEFAULT_BROKER);
    CHECK(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "", 0, NULL, 0, false, false, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_CONFIG);
    CHECK_STR(err.message,
              "Cluster-level min.insync.replicas cannot be removed while ELR is enabled.");
    broker_config_op_t keep[] = {{"min.insync.replicas", BROKER_CONFIG_SET, "1"}};
    CHECK_EQ(broker_configs_alter(b, BROKER_RESOURCE_BROKER, "", 0, keep, 1, false, false, &err),
             0);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_CLEANER_BACKOFF_MS), 15000);
    weir_broker_stop(w);
    rm_rf(d);
}

static void note_error(void *arg, int32_t index, const char *message)
{
    buf_printf(arg, "%d:%s|", index, message);
}

static size_t one_batch(buf_t *b, int64_t ts0, int n)
{
    storage_record_in_t r[8];
    for (int i = 0; i < n; i++)
        r[i] = (storage_record_in_t){NULL, -1, "value value value", 17, ts0 + i, NULL, 0, 0};
    buf_reset(b);
    storage_batch_build(b, r, (size_t)n, NULL);
    return b->len;
}

/* The produce path's policy helpers: KIP-937 timestamp bounds with Kafka's messages, and
 * compression.type recompression, as the topic's configs ask. */
TEST(produce_policy_helpers)
{
    char d[64];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    broker_t *b = server_broker(w);
    broker_err_t err;
    broker_config_kv_t ts_cfg[] = {{"message.timestamp.before.max.ms", "60000"},
                                   {"message.timestamp.after.max.ms", "60000"}};
    CHECK_EQ(broker_topic_create(b, "pol-ts", 1, ts_cfg, 2, false, NULL, &err), 0);
    broker_config_kv_t lat_cfg[] = {{"message.timestamp.type", "LogAppendTime"},
                                    {"message.timestamp.after.max.ms", "0"}};
    CHECK_EQ(broker_topic_create(b, "pol-lat", 1, lat_cfg, 2, false, NULL, &err), 0);
    broker_config_kv_t gz_cfg[] = {{"compression.type", "gzip"}, {"compression.gzip.level", "9"}};
    CHECK_EQ(broker_topic_create(b, "pol-gz", 1, gz_cfg, 2, false, NULL, &err), 0);
    CHECK_EQ(broker_topic_create(b, "pol-plain", 1, NULL, 0, false, NULL, &err), 0);
    int64_t now = 1800000000000;
    buf_t batch, out, errs;
    buf_init(&batch), buf_init(&out), buf_init(&errs);
    broker_topics_rdlock(b);
    broker_topic_t *ts = broker_topic_find(b, "pol-ts", 6),
                   *lat = broker_topic_find(b, "pol-lat", 7);
    broker_topic_t *gz = broker_topic_find(b, "pol-gz", 6),
                   *plain = broker_topic_find(b, "pol-plain", 9);
    REQUIRE(ts && lat && gz && plain);
    one_batch(&batch, now - 1000, 3);
    CHECK_EQ(broker_produce_check_timestamps(b, ts, batch.data, batch.len, now, note_error, &errs),
             0);
    one_batch(&batch, now + 59999, 4); /* the bound itself is in (Kafka's), the last two out */
    CHECK_EQ(broker_produce_check_timestamps(b, ts, batch.data, batch.len, now, note_error, &errs),
             2);
    buf_append_u8(&errs, 0);
    CHECK_STR((const char *)errs.data,
              "2:Timestamp 1800000060001 of message with offset 2 is out of range. The timestamp "
              "should be within [1799999940000, 1800000060000]|3:Timestamp 1800000060002 of "
              "message with offset 3 is out of range. The timestamp should be within "
              "[1799999940000, 1800000060000]|");
    one_batch(&batch, now - 120000, 1);
    CHECK_EQ(broker_produce_check_timestamps(b, ts, batch.data, batch.len, now, NULL, NULL), 1);
    CHECK_EQ(broker_produce_check_timestamps(b, lat, batch.data, batch.len, now, NULL, NULL), 0);
    one_batch(&batch, now + 3600 * 1000 + 1, 1); /* past Kafka's default after.max.ms (1 h) */
    CHECK_EQ(broker_produce_check_timestamps(b, plain, batch.data, batch.len, now, NULL, NULL), 1);
    one_batch(&batch, now, 4);
    CHECK_EQ(broker_produce_recompress(b, plain, batch.data, batch.len, &out), 0);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(broker_produce_recompress(b, gz, batch.data, batch.len, &out), 1);
    CHECK_EQ(be16_read(out.data + BATCH_ATTRIBUTES) & BATCH_COMPRESSION_MASK, CODEC_GZIP);
    CHECK_EQ(storage_batch_validate_records(out.data, out.len, 1 << 20, NULL), 0);
    broker_topics_unlock(b);
    /* compression.type changed at run time: the next batch follows it. */
    broker_config_op_t ops[] = {{"compression.type", BROKER_CONFIG_SET, "uncompressed"}};
    CHECK_EQ(broker_configs_alter(b, BROKER_RESOURCE_TOPIC, "pol-gz", 6, ops, 1, true, false, &err),
             0);
    broker_topics_rdlock(b);
    gz = broker_topic_find(b, "pol-gz", 6);
    buf_t again;
    buf_init(&again);
    CHECK_EQ(broker_produce_recompress(b, gz, out.data, out.len, &again), 1);
    CHECK_EQ(be16_read(again.data + BATCH_ATTRIBUTES) & BATCH_COMPRESSION_MASK, CODEC_NONE);
    broker_topics_unlock(b);
    buf_deinit(&batch), buf_deinit(&out), buf_deinit(&errs), buf_deinit(&again);
    weir_broker_stop(w);
    rm_rf(d);
}

TEST_MAIN()
