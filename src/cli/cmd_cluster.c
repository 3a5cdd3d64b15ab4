/*
 * `weir cluster info`: the cluster id, controller, brokers, topic and partition counts, from one
 * Metadata request (plus librdkafka's cached cluster id and controller), and this client's
 * version: brokers do not report their software version over the Kafka protocol.
 *
 * Invariant: internal topics (names starting "__") are counted apart, so the counts match what
 * `weir topic list` shows.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>

static int cmp_broker(const void *a, const void *b)
{
    const rd_kafka_metadata_broker_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static void info_print(const cli_global_t *g, const rd_kafka_metadata_t *md, const char *cid,
                       int32_t controller)
{
    int topics = 0, internal = 0, partitions = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        if (cli_topic_internal(md->topics[i].topic)) {
            internal++;
            continue;
        }
        topics++;
        partitions += md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_broker_t *bs = weir_calloc((size_t)md->broker_cnt + 1, sizeof(*bs));
    memcpy(bs, md->brokers, (size_t)md->broker_cnt * sizeof(*bs));
    qsort(bs, (size_t)md->broker_cnt, sizeof(*bs), cmp_broker);
    if (g->output == CLI_OUT_JSON) {
        json_t *brokers = json_array();
        for (int i = 0; i < md->broker_cnt; i++)
            json_array_append_new(brokers, json_pack("{s:i, s:s, s:i}", "id", bs[i].id, "host",
                                                     bs[i].host, "port", bs[i].port));
        cli_json_print(json_pack("{s:s?, s:i, s:o, s:i, s:i, s:i, s:s, s:s}", "cluster_id", cid,
                                 "controller_id", controller, "brokers", brokers, "topic_count",
                                 topics, "internal_topic_count", internal, "partition_count",
                                 partitions, "client_version", CLI_VERSION, "librdkafka_version",
                                 rd_kafka_version_str()),
                       stdout);
    } else {
        printf("%-12s%s\n%-12s%" PRId32 "\n%-12s%d\n%-12s%d (and %d internal)\n%-12s%d\n"
               "%-12sweir %s (librdkafka %s)\n\n",
               "CLUSTER", cid ? cid : "-", "CONTROLLER", controller, "BROKERS", md->broker_cnt,
               "TOPICS", topics, internal, "PARTITIONS", partitions, "CLIENT", CLI_VERSION,
               rd_kafka_version_str());
        static const char *const hdr[] = {"ID", "HOST", "PORT"};
        cli_table_t t;
        cli_table_init(&t, 3, hdr);
        t.shrinkable = 1u << 1;
        for (int i = 0; i < md->broker_cnt; i++)
            cli_table_addf(&t, "%" PRId32 "\t%s\t%d", bs[i].id, bs[i].host, bs[i].port);
        cli_table_print(&t, stdout);
        cli_table_deinit(&t);
    }
    free(bs);
}

static int cluster_info(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (npos)
        return cli_usage_err(g, "takes no arguments");

    cli_client_t c;
    const rd_kafka_metadata_t *md;
    if ((rc = cli_admin_open(&c, g)) != 0)
        return rc;
    if ((rc = cli_client_metadata(&c, &md)) == 0) {
        char *cid = rd_kafka_clusterid(c.rk, (int)g->timeout_ms);
        int32_t controller = rd_kafka_controllerid(c.rk, (int)g->timeout_ms);
        info_print(g, md, cid, controller);
        if (cid)
            rd_kafka_mem_free(c.rk, cid);
        rd_kafka_metadata_destroy(md);
    }
    cli_client_close(&c);
    return rc;
}

int cli_cluster_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"info", cluster_info},
                                     {"health", cli_cluster_health},
                                     {"logdirs", cli_cluster_logdirs},
                                     {"config", cli_cluster_config}};
    return cli_dispatch(g, "cluster", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
