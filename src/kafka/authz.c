/*
 * authz: the one place where a request meets the authorizer (broker/acl.c). A handler asks
 * "may this connection's principal, from its host, do this operation on this resource" and
 * answers Kafka's *_AUTHORIZATION_FAILED code when not. What each API asks is Kafka's
 * (KafkaApis), in one table here so the checks are read together, not hunted through
 * handlers:
 *
 *   API                               resource: operation                  error when denied
 *   Produce                           TRANSACTIONAL_ID: WRITE (transactional) TRANSACTIONAL_ID_
 *                                     TOPIC: WRITE, per topic               TOPIC_
 *   Fetch                             TOPIC: READ, per topic                TOPIC_
 *   ListOffsets, OffsetForLeaderEpoch TOPIC: DESCRIBE, per topic            TOPIC_
 *   Metadata                          TOPIC: DESCRIBE (unlisted when denied and all topics are
 *                                     asked for); auto-creation: CLUSTER or TOPIC: CREATE
 *   DescribeTopicPartitions           TOPIC: DESCRIBE                       TOPIC_
 *   CreateTopics                      CLUSTER or TOPIC: CREATE              TOPIC_
 *   DeleteTopics                      TOPIC: DELETE                         TOPIC_
 *   CreatePartitions                  TOPIC: ALTER                          TOPIC_
 *   DeleteRecords                     TOPIC: DELETE                         TOPIC_
 *   DescribeConfigs / (Incremental)AlterConfigs
 *                                     TOPIC or CLUSTER: DESCRIBE_CONFIGS / ALTER_CONFIGS
 *                                                                           TOPIC_ / CLUSTER_
 *   FindCoordinator                   GROUP or TRANSACTIONAL_ID: DESCRIBE   GROUP_ /
 * TRANSACTIONAL_ID_ JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetFetch GROUP: READ GROUP_
 *   OffsetCommit, TxnOffsetCommit     GROUP: READ, then TOPIC: READ         GROUP_, TOPIC_
 *   DescribeGroups                    GROUP: DESCRIBE                       GROUP_
 *   ListGroups                        CLUSTER: DESCRIBE, else the groups the principal may
 *                                     DESCRIBE
 *   DeleteGroups                      GROUP: DELETE                         GROUP_
 *   InitProducerId                    TRANSACTIONAL_ID: WRITE; without one CLUSTER:
 *                                     IDEMPOTENT_WRITE or WRITE on some topic
 *                                                                           TRANSACTIONAL_ID_ /
 * CLUSTER_ AddPartitionsToTxn, AddOffsetsToTxn, EndTxn TRANSACTIONAL_ID: WRITE (+ TOPIC: WRITE,
 * GROUP: READ) DescribeAcls                      CLUSTER: DESCRIBE                     CLUSTER_
 *   CreateAcls, DeleteAcls            CLUSTER: ALTER                        CLUSTER_
 *   DescribeUserScramCredentials      CLUSTER: DESCRIBE                     CLUSTER_
 *   AlterUserScramCredentials         CLUSTER: ALTER                        CLUSTER_
 *   DescribeClientQuotas              CLUSTER: DESCRIBE_CONFIGS             CLUSTER_
 *   AlterClientQuotas                 CLUSTER: ALTER_CONFIGS                CLUSTER_
 *   DescribeLogDirs                   CLUSTER: DESCRIBE                     CLUSTER_
 *   WriteTxnMarkers                   CLUSTER: CLUSTER_ACTION               CLUSTER_
 *   OffsetDelete                      GROUP: DELETE, TOPIC: READ            GROUP_, TOPIC_
 *   ConsumerGroupHeartbeat            GROUP: READ                           GROUP_
 *   ConsumerGroupDescribe             GROUP: DESCRIBE                       GROUP_
 *   TxnOffsetCommit                   TRANSACTIONAL_ID: WRITE first         TRANSACTIONAL_ID_
 *
 *   DescribeProducers                 TOPIC: READ                           TOPIC_
 *   DescribeTransactions              TRANSACTIONAL_ID: DESCRIBE            TRANSACTIONAL_ID_
 *   ListTransactions                  lists the ids the principal may DESCRIBE
 *
 * Not checked yet (Kafka checks them): ElectLeaders, Alter/ListPartitionReassignments (no-ops on
 * one node), DescribeCluster's authorized operations.
 *
 * With no authorizer configured every check is one relaxed load (broker_acl_enabled).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>

/* The peer's IP, what a host in an ACL names: "127.0.0.1:5000" -> "127.0.0.1",
 * "[::1]:5000" -> "::1". */
void kafka_conn_host(const net_conn_t *conn, char *out, size_t cap)
{
    const char *peer = conn ? net_conn_peer(conn) : "";
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

bool kafka_authz(const kafka_req_t *req, int8_t rtype, const char *name, size_t len, int8_t op)
{
    if (!broker_acl_enabled(req->b))
        return true;
    char host[128];
    kafka_conn_host(req->conn, host, sizeof(host));
    return broker_acl_authorize(req->b, kafka_conn_principal(req->conn), host, rtype, name, len,
                                op);
}

bool kafka_authz_str(const kafka_req_t *req, int8_t rtype, wire_str_t name, int8_t op)
{
    return kafka_authz(req, rtype, name.s ? name.s : "", name.len > 0 ? (size_t)name.len : 0, op);
}

bool kafka_authz_cluster(const kafka_req_t *req, int8_t op)
{
    return kafka_authz(req, KAFKA_RESOURCE_CLUSTER, BROKER_ACL_CLUSTER_NAME,
                       strlen(BROKER_ACL_CLUSTER_NAME), op);
}

bool kafka_authz_any(const kafka_req_t *req, int8_t rtype, int8_t op)
{
    if (!broker_acl_enabled(req->b))
        return true;
    char host[128];
    kafka_conn_host(req->conn, host, sizeof(host));
    return broker_acl_authorize_any(req->b, kafka_conn_principal(req->conn), host, rtype, op);
}

int32_t kafka_authz_ops(const kafka_req_t *req, int8_t rtype, const char *name, size_t len)
{
    int32_t all = wire_acl_ops_all(rtype);
    if (!broker_acl_enabled(req->b))
        return all;
    int32_t ops = 0;
    for (int8_t op = KAFKA_ACL_OP_READ; op <= KAFKA_ACL_OP_DESCRIBE_TOKENS; op++)
        if ((all & (1 << op)) && kafka_authz(req, rtype, name, len, op))
            ops |= 1 << op;
    return ops;
}
