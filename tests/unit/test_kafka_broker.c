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
                                 sizeof(err)) < 0);
    CHECK(broker_topic_cfg_check(TCFG_SEGMENT_BYTES, NULL, out, sizeof(out), err, sizeof(err)) < 0);
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

TEST(dynamic_configs_persist_and_apply)
{
    char d[64];
    snprintf(d, sizeof(d), "%s", mktemp_dir());
    weir_broker *w = start(d, NULL);
    REQUIRE(w);
    broker_t *b = server_broker(w);
    broker_err_t err;
    CHECK_EQ(broker_topic_create(b, "dyn", 1, NULL, 0, false, NULL, &err), 0);
    broker_cfg_change_t ch[] = {{BCFG_LOG_RETENTION_BYTES, "12345"}};
    CHECK_EQ(broker_dynamic_alter(b, ch, 1, false, false, &err), 0);
    broker_cfg_change_t bad[] = {{BCFG_NUM_IO_THREADS, "3"}};
    CHECK(broker_dynamic_alter(b, bad, 1, false, false, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_REQUEST);
    broker_cfg_change_t badv[] = {{BCFG_LOG_RETENTION_BYTES, "lots"}};
    CHECK(broker_dynamic_alter(b, badv, 1, false, false, &err) < 0);
    CHECK_EQ(err.code, KAFKA_INVALID_CONFIG);
    broker_topics_rdlock(b);
    CHECK_EQ(broker_topic_find(b, "dyn", 3)->log_cfg.retention_bytes, 12345);
    broker_topics_unlock(b);
    weir_broker_stop(w);
    w = start(d, NULL);
    REQUIRE(w);
    b = server_broker(w);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_RETENTION_BYTES), 12345);
    CHECK_EQ(b->set.source[BCFG_LOG_RETENTION_BYTES], CFG_SOURCE_DYNAMIC_BROKER);
    broker_cfg_change_t back[] = {{BCFG_LOG_RETENTION_BYTES, NULL}};
    CHECK_EQ(broker_dynamic_alter(b, back, 1, false, false, &err), 0);
    CHECK_EQ(broker_settings_int(&b->set, BCFG_LOG_RETENTION_BYTES), -1);
    weir_broker_stop(w);
    rm_rf(d);
}

TEST_MAIN()
