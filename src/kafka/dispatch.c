/*
 * The API table and the request dispatcher. kafka_on_frame runs on the connection's loop
 * thread for every complete frame: it reads the request header, finds the API and version in
 * the table, starts the response (size placeholder, correlation id, response header v1 for
 * flexible versions except ApiVersions, which always answers with header v0) and runs the
 * handler.
 *
 * Invariant: every frame's slot is completed exactly once: by this file (a response, an empty
 * completion before closing the connection, or acks=0) or by a handler that returned
 * KAFKA_PARKED and took the slot. Unknown API keys, unsupported versions (other than
 * ApiVersions, which gets the KIP-511 answer) and undecodable requests close the connection,
 * as Kafka does; nothing here trusts a length before checking it.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

/* Sorted by key. ApiVersions advertises exactly these rows. To add an API: write its handler
 * in its family's file and add one row. */
const kafka_api_t kafka_apis[] = {
    {KAFKA_API_PRODUCE, 0, 11, 9, kafka_handle_produce, "Produce"},
    {KAFKA_API_FETCH, 4, 16, 12, kafka_handle_fetch, "Fetch"},
    {KAFKA_API_LIST_OFFSETS, 1, 10, 6, kafka_handle_list_offsets, "ListOffsets"},
    {KAFKA_API_METADATA, 0, 13, 9, kafka_handle_metadata, "Metadata"},
    {KAFKA_API_OFFSET_COMMIT, 2, 9, 8, kafka_handle_offset_commit, "OffsetCommit"},
    {KAFKA_API_OFFSET_FETCH, 1, 9, 6, kafka_handle_offset_fetch, "OffsetFetch"},
    {KAFKA_API_FIND_COORDINATOR, 0, 5, 3, kafka_handle_find_coordinator, "FindCoordinator"},
    {KAFKA_API_JOIN_GROUP, 0, 9, 6, kafka_handle_join_group, "JoinGroup"},
    {KAFKA_API_HEARTBEAT, 0, 4, 4, kafka_handle_heartbeat, "Heartbeat"},
    {KAFKA_API_LEAVE_GROUP, 0, 5, 4, kafka_handle_leave_group, "LeaveGroup"},
    {KAFKA_API_SYNC_GROUP, 0, 5, 4, kafka_handle_sync_group, "SyncGroup"},
    {KAFKA_API_DESCRIBE_GROUPS, 0, 5, 5, kafka_handle_describe_groups, "DescribeGroups"},
    {KAFKA_API_LIST_GROUPS, 0, 5, 3, kafka_handle_list_groups, "ListGroups"},
    {KAFKA_API_SASL_HANDSHAKE, 0, 1, INT16_MAX, kafka_handle_sasl_handshake, "SaslHandshake"},
    {KAFKA_API_API_VERSIONS, 0, 4, 3, kafka_handle_api_versions, "ApiVersions"},
    {KAFKA_API_CREATE_TOPICS, 2, 7, 5, kafka_handle_create_topics, "CreateTopics"},
    {KAFKA_API_DELETE_TOPICS, 1, 6, 4, kafka_handle_delete_topics, "DeleteTopics"},
    {KAFKA_API_DELETE_RECORDS, 0, 2, 2, kafka_handle_delete_records, "DeleteRecords"},
    {KAFKA_API_INIT_PRODUCER_ID, 0, 5, 2, kafka_handle_init_producer_id, "InitProducerId"},
    {KAFKA_API_OFFSET_FOR_LEADER_EPOCH, 2, 4, 4, kafka_handle_offset_for_leader_epoch,
     "OffsetForLeaderEpoch"},
    {KAFKA_API_ADD_PARTITIONS_TO_TXN, 0, 4, 3, kafka_handle_add_partitions_to_txn,
     "AddPartitionsToTxn"},
    {KAFKA_API_ADD_OFFSETS_TO_TXN, 0, 3, 3, kafka_handle_add_offsets_to_txn, "AddOffsetsToTxn"},
    {KAFKA_API_END_TXN, 0, 4, 3, kafka_handle_end_txn, "EndTxn"},
    {KAFKA_API_WRITE_TXN_MARKERS, 1, 1, 1, kafka_handle_write_txn_markers, "WriteTxnMarkers"},
    {KAFKA_API_TXN_OFFSET_COMMIT, 0, 4, 3, kafka_handle_txn_offset_commit, "TxnOffsetCommit"},
    {KAFKA_API_DESCRIBE_ACLS, 1, 3, 2, kafka_handle_describe_acls, "DescribeAcls"},
    {KAFKA_API_CREATE_ACLS, 1, 3, 2, kafka_handle_create_acls, "CreateAcls"},
    {KAFKA_API_DELETE_ACLS, 1, 3, 2, kafka_handle_delete_acls, "DeleteAcls"},
    {KAFKA_API_DESCRIBE_CONFIGS, 1, 4, 4, kafka_handle_describe_configs, "DescribeConfigs"},
    {KAFKA_API_ALTER_CONFIGS, 0, 2, 2, kafka_handle_alter_configs, "AlterConfigs"},
    {KAFKA_API_DESCRIBE_LOG_DIRS, 1, 4, 2, kafka_handle_describe_log_dirs, "DescribeLogDirs"},
    {KAFKA_API_SASL_AUTHENTICATE, 0, 2, 2, kafka_handle_sasl_authenticate, "SaslAuthenticate"},
    {KAFKA_API_CREATE_PARTITIONS, 0, 3, 2, kafka_handle_create_partitions, "CreatePartitions"},
    {KAFKA_API_DELETE_GROUPS, 0, 2, 2, kafka_handle_delete_groups, "DeleteGroups"},
    {KAFKA_API_ELECT_LEADERS, 0, 2, 2, kafka_handle_elect_leaders, "ElectLeaders"},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, 1, kafka_handle_incremental_alter_configs,
     "IncrementalAlterConfigs"},
    {KAFKA_API_ALTER_PARTITION_REASSIGNMENTS, 0, 0, 0, kafka_handle_alter_partition_reassignments,
     "AlterPartitionReassignments"},
    {KAFKA_API_LIST_PARTITION_REASSIGNMENTS, 0, 0, 0, kafka_handle_list_partition_reassignments,
     "ListPartitionReassignments"},
    {KAFKA_API_OFFSET_DELETE, 0, 0, INT16_MAX, kafka_handle_offset_delete, "OffsetDelete"},
    {KAFKA_API_DESCRIBE_CLIENT_QUOTAS, 0, 1, 1, kafka_handle_describe_client_quotas,
     "DescribeClientQuotas"},
    {KAFKA_API_ALTER_CLIENT_QUOTAS, 0, 1, 1, kafka_handle_alter_client_quotas, "AlterClientQuotas"},
    {KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0, 0,
     kafka_handle_describe_user_scram_credentials, "DescribeUserScramCredentials"},
    {KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0, 0, kafka_handle_alter_user_scram_credentials,
     "AlterUserScramCredentials"},
    {KAFKA_API_DESCRIBE_CLUSTER, 0, 2, 0, kafka_handle_describe_cluster, "DescribeCluster"},
    {KAFKA_API_DESCRIBE_PRODUCERS, 0, 0, 0, kafka_handle_describe_producers, "DescribeProducers"},
    {KAFKA_API_DESCRIBE_TRANSACTIONS, 0, 0, 0, kafka_handle_describe_transactions,
     "DescribeTransactions"},
    {KAFKA_API_LIST_TRANSACTIONS, 0, 1, 0, kafka_handle_list_transactions, "ListTransactions"},
    {KAFKA_API_CONSUMER_GROUP_HEARTBEAT, 0, 1, 0, kafka_handle_consumer_group_heartbeat,
     "ConsumerGroupHeartbeat"},
    {KAFKA_API_CONSUMER_GROUP_DESCRIBE, 0, 0, 0, kafka_handle_consumer_group_describe,
     "ConsumerGroupDescribe"},
    {KAFKA_API_DESCRIBE_TOPIC_PARTITIONS, 0, 0, 0, kafka_handle_describe_topic_partitions,
     "DescribeTopicPartitions"},
};
const size_t kafka_apis_count = WEIR_ARRAY_LEN(kafka_apis);

const kafka_api_t *kafka_api_find(int16_t key)
{
    for (size_t i = 0; i < kafka_apis_count; i++)
        if (kafka_apis[i].key == key)
            return &kafka_apis[i];
    return NULL;
}

const char *const kafka_refused_names[KAFKA_REFUSED__COUNT] = {"unknown_api", "unsupported_version",
                                                               "malformed"};

static void refuse(net_conn_t *conn, net_slot_t *slot, const char *why, int16_t key,
                   int16_t version)
{
    kafka_listener_t *lst = net_conn_user(conn);
    kafka_refused_t reason = strcmp(why, "unknown api key") == 0 ? KAFKA_REFUSED_UNKNOWN_API
                             : strcmp(why, "unsupported version") == 0
                                 ? KAFKA_REFUSED_UNSUPPORTED_VERSION
                                 : KAFKA_REFUSED_MALFORMED;
    if (lst && lst->stats)
        metric_counter_add(&lst->stats->refused[reason], 1);
    log_debug("kafka", "closing %s: %s (api key %d version %d)", net_conn_peer(conn), why, key,
              version);
    net_slot_complete(slot, NULL);
    net_conn_close(conn);
}

/* KIP-511: an ApiVersions request newer than we know gets a v0-format answer with
 * UNSUPPORTED_VERSION and our table, so the client can retry with a version we speak. Only
 * the classic header is read: the body's layout is unknown. */
static void api_versions_fallback(net_conn_t *conn, net_slot_t *slot, const uint8_t *frame,
                                  size_t len)
{
    wire_reader_t r;
    wire_req_header_t h;
    wire_reader_init(&r, frame, len, false);
    if (wire_req_header_read(&r, &h) < 0) {
        refuse(conn, slot, "truncated header", KAFKA_API_API_VERSIONS, -1);
        return;
    }
    buf_t resp = {0};
    wire_writer_t w;
    wire_resp_begin(&resp, h.correlation_id, false);
    wire_writer_init(&w, &resp, false);
    kafka_api_versions_write(&w, 0, KAFKA_UNSUPPORTED_VERSION);
    wire_resp_finish(&resp);
    net_slot_complete(slot, &resp);
}

/* request_percentage, Kafka's request quota: the loop thread's time on this request (decode,
 * handler, encode; not a parked request's wait) as percent-seconds. Over the quota the
 * connection is muted; unlike Kafka the response, already written, keeps throttle_time_ms 0.
 * ApiVersions and the SASL requests are exempt. */
static void charge_request_time(kafka_req_t *req, int16_t key)
{
    char *user, *client_id;
    if (key == KAFKA_API_API_VERSIONS || key == KAFKA_API_SASL_HANDSHAKE ||
        key == KAFKA_API_SASL_AUTHENTICATE ||
        !kafka_quota_identity(req, BROKER_QUOTA_REQUEST_PERCENTAGE, &user, &client_id))
        return;
    double pct_s = (double)(clock_mono_ns() - req->start_ns) * 100.0 / 1e9;
    kafka_quota_charge(req->b, net_conn_closed(req->conn) ? NULL : req->conn,
                       BROKER_QUOTA_REQUEST_PERCENTAGE, user, client_id, pct_s);
    free(user);
    free(client_id);
}

void kafka_resp_finish(const net_slot_t *slot, buf_t *resp)
{
    wire_resp_finish(resp);
    size_t files = net_slot_file_bytes(slot);
    if (files)
        be32_write(resp->data, (uint32_t)(resp->len - 4 + files));
}

void kafka_on_frame(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len, void *user)
{
    kafka_listener_t *lst = user;
    /* Every listener but PLAINTEXT has a session; until SASL succeeds it takes the frame. */
    if (lst->security != KAFKA_SEC_PLAINTEXT && kafka_sasl_gate(conn, slot, frame, len, lst))
        return;
    if (len < 8) { /* api_key, api_version, correlation_id at least */
        refuse(conn, slot, "frame shorter than a request header", -1, -1);
        return;
    }
    int16_t key = (int16_t)be16_read(frame);
    int16_t version = (int16_t)be16_read(frame + 2);
    const kafka_api_t *api = kafka_api_find(key);
    if (!api) {
        refuse(conn, slot, "unknown api key", key, version);
        return;
    }
    if (version < api->min_version || version > api->max_version) {
        if (key == KAFKA_API_API_VERSIONS && version > api->max_version)
            api_versions_fallback(conn, slot, frame, len);
        else
            refuse(conn, slot, "unsupported version", key, version);
        return;
    }
    kafka_req_t req;
    memset(&req, 0, sizeof(req));
    req.lst = lst;
    req.api_row = (int)(api - kafka_apis);
    req.start_ns = clock_mono_ns();
    kafka_stats_t *st = req.lst->stats;
    metric_counter_add(&st->requests[req.api_row], 1);
    req.b = req.lst->b;
    req.conn = conn;
    req.slot = slot;
    req.frame_len = len + 4;
    req.flexible = version >= api->first_flexible;
    wire_reader_init(&req.r, frame, len, req.flexible);
    if (wire_req_header_read(&req.r, &req.hdr) < 0) {
        refuse(conn, slot, "bad request header", key, version);
        return;
    }
    bool header_v1 = req.flexible && key != KAFKA_API_API_VERSIONS;
    buf_init(&req.resp);
    wire_resp_begin(&req.resp, req.hdr.correlation_id, header_v1);
    wire_writer_init(&req.w, &req.resp, req.flexible);

    int rc = api->handler(&req);
    switch (rc) {
    case KAFKA_RESPOND:
        kafka_resp_finish(slot, &req.resp);
        net_slot_complete(slot, &req.resp);
        metric_hist_observe(&st->latency[req.api_row], (uint64_t)(clock_mono_ns() - req.start_ns));
        break;
    case KAFKA_NO_RESPONSE:
        net_slot_complete(slot, NULL);
        metric_hist_observe(&st->latency[req.api_row], (uint64_t)(clock_mono_ns() - req.start_ns));
        break;
    case KAFKA_PARKED:
        break;
    default:
        WEIR_ASSERT(rc < 0);
        refuse(conn, slot, "malformed request", key, version);
        break;
    }
    if (rc >= 0)
        charge_request_time(&req, key);
    buf_deinit(&req.resp);
}

/* ---- ApiVersions ------------------------------------------------------------------------------
 */

void kafka_api_versions_write(wire_writer_t *w, int16_t version, int16_t error_code)
{
    wire_write_i16(w, error_code);
    wire_write_array_len(w, (int32_t)kafka_apis_count);
    for (size_t i = 0; i < kafka_apis_count; i++) {
        wire_write_i16(w, kafka_apis[i].key);
        wire_write_i16(w, kafka_apis[i].min_version);
        wire_write_i16(w, kafka_apis[i].max_version);
        wire_write_tags(w);
    }
    if (version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_tags(w);
}

int kafka_handle_api_versions(kafka_req_t *req)
{
    if (req->hdr.api_version >= 3) {
        (void)wire_read_str(&req->r); /* client_software_name */
        (void)wire_read_str(&req->r); /* client_software_version */
        wire_read_tags(&req->r);
        if (!wire_reader_ok(&req->r))
            return -WEIR_EINVAL;
    }
    kafka_api_versions_write(&req->w, req->hdr.api_version, KAFKA_NONE);
    return KAFKA_RESPOND;
}

void kafka_listener_init(kafka_listener_t *lst, struct broker *b)
{
    memset(lst, 0, sizeof(*lst));
    lst->b = b;
    for (int m = 0; m < KAFKA_SASL_MECHS; m++)
        lst->reauth_ms[m] = -1; /* the shared connections.max.reauth.ms */
    kafka_fetch_sessions_new(&lst->fetch_sessions);
    WEIR_ASSERT(kafka_apis_count <= KAFKA_STATS_APIS_MAX);
    lst->stats = weir_calloc(1, sizeof(*lst->stats));
    for (size_t i = 0; i < KAFKA_STATS_APIS_MAX; i++)
        metric_hist_init(&lst->stats->latency[i], &metric_buckets_latency);
}

void kafka_listener_deinit(kafka_listener_t *lst)
{
    kafka_fetch_sessions_free(lst->fetch_sessions);
    lst->fetch_sessions = NULL;
    free(lst->stats);
    lst->stats = NULL;
    auth_principal_map_free(lst->principal_map);
    lst->principal_map = NULL;
}

void kafka_stats_count_error(kafka_stats_t *st, int api_row, int16_t code)
{
    if (code == 0 || !st || api_row < 0 || api_row >= KAFKA_STATS_APIS_MAX)
        return;
    int i = code + 1;
    if (i >= 0 && i < KAFKA_STATS_ERROR_MAX)
        metric_counter_add(&st->errors[api_row][i], 1);
}
