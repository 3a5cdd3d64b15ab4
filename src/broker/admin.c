/*
 * The cluster and admin operations of one node, answered as a Kafka cluster of one broker
 * answers them: OffsetForLeaderEpoch (from each partition's leader epochs), DescribeLogDirs (the
 * one data dir: partition sizes and the file system's total and usable bytes), ElectLeaders
 * (every partition already has its only replica as leader: ELECTION_NOT_NEEDED), partition
 * reassignments (only to this broker, which is where every partition is: done at once), and
 * the cleanup-policy rule of DeleteRecords.
 *
 * Everything takes the registry read lock itself and hands back copies.
 */
#include "broker/broker_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

void broker_offset_for_leader_epoch(broker_t *b, const char *topic, size_t len, int32_t partition,
                                    int32_t current_leader_epoch, int32_t leader_epoch,
                                    broker_epoch_end_t *out)
{
    out->error = KAFKA_NONE;
    out->leader_epoch = -1;
    out->end_offset = -1;
    broker_topics_rdlock(b);
    broker_partition_t *p =
        memchr(topic, 0, len) ? NULL : broker_partition_find(b, topic, len, partition);
    if (!p) {
        out->error = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
    } else if (!p->log || storage_log_offline(p->log)) {
        out->error = KAFKA_KAFKA_STORAGE_ERROR;
    } else {
        /* KIP-320: the client's idea of the leader's epoch is checked first. */
        int32_t current = storage_log_epoch_latest(p->log);
        if (current_leader_epoch >= 0 && current_leader_epoch < current)
            out->error = KAFKA_FENCED_LEADER_EPOCH;
        else if (current_leader_epoch > current)
            out->error = KAFKA_UNKNOWN_LEADER_EPOCH;
        else
            storage_log_epoch_end_offset(p->log, leader_epoch, &out->leader_epoch,
                                         &out->end_offset);
    }
    broker_topics_unlock(b);
}

/* ---- DescribeLogDirs ------------------------------------------------------------------------ */

/* Is partition idx of topic t asked for (q NULL: all)? */
static bool logdir_wanted(const broker_logdir_query_t *q, size_t nq, const broker_topic_t *t,
                          int32_t idx)
{
    if (!q)
        return true;
    for (size_t i = 0; i < nq; i++) {
        if (q[i].len != strlen(t->name) || memcmp(q[i].topic, t->name, q[i].len) != 0)
            continue;
        for (size_t j = 0; j < q[i].nparts; j++)
            if (q[i].parts[j] == idx)
                return true;
    }
    return false;
}

static void logdir_topic(broker_topic_t *t, const broker_logdir_query_t *q, size_t nq,
                         broker_logdir_t *out)
{
    broker_logdir_topic_t dt = {NULL, 0, NULL};
    for (int32_t i = 0; i < t->npart; i++) {
        broker_partition_t *p = t->parts[i];
        if (!p->log || !logdir_wanted(q, nq, t, i))
            continue;
        dt.parts = weir_realloc(dt.parts, (dt.nparts + 1) * sizeof(*dt.parts));
        dt.parts[dt.nparts++] = (broker_logdir_part_t){i, (int64_t)storage_log_size_bytes(p->log)};
    }
    if (!dt.nparts)
        return;
    dt.name = weir_strdup(t->name);
    out->topics = weir_realloc(out->topics, (out->ntopics + 1) * sizeof(*out->topics));
    out->topics[out->ntopics++] = dt;
}

int broker_log_dirs_describe(broker_t *b, const broker_logdir_query_t *q, size_t nq,
                             broker_logdir_t *out)
{
    memset(out, 0, sizeof(*out));
    char abs[PATH_MAX];
    out->path = weir_strdup(realpath(b->data_dir, abs) ? abs : b->data_dir);
    out->total_bytes = out->usable_bytes = -1;
    struct statvfs vfs;
    if (statvfs(b->data_dir, &vfs) == 0) {
        out->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
        out->usable_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    } else {
        out->error = KAFKA_KAFKA_STORAGE_ERROR;
    }
    broker_topics_rdlock(b);
    size_t n;
    broker_topic_t **all = broker_topics_list(b, &n);
    for (size_t i = 0; i < n; i++)
        logdir_topic(all[i], q, nq, out);
    broker_topics_unlock(b);
    free(all);
    return 0;
}

void broker_log_dir_deinit(broker_logdir_t *d)
{
    for (size_t i = 0; i < d->ntopics; i++) {
        free(d->topics[i].name);
        free(d->topics[i].parts);
    }
    free(d->topics);
    free(d->path);
    memset(d, 0, sizeof(*d));
}

/* ---- ElectLeaders and reassignments ------------------------------------------------------- */

/* Whether topic exists and has partition idx (idx < 0: the topic alone). */
static int partition_lookup(broker_t *b, const char *topic, size_t len, int32_t idx)
{
    broker_topics_rdlock(b);
    broker_topic_t *t = memchr(topic, 0, len) ? NULL : broker_topic_find(b, topic, len);
    int rc = !t ? -WEIR_ENOENT : (idx >= 0 && idx >= t->npart) ? -WEIR_ERANGE : 0;
    broker_topics_unlock(b);
    return rc;
}

int broker_elect_leader(broker_t *b, int8_t type, const char *topic, size_t len, int32_t partition,
                        broker_err_t *err)
{
    if (type != 0 && type != 1)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unknown election type %d",
                           type);
    int rc = partition_lookup(b, topic, len, partition);
    if (rc == -WEIR_ENOENT)
        return broker_fail(err, rc, KAFKA_UNKNOWN_TOPIC_OR_PARTITION, "No such topic as %.*s",
                           (int)WEIR_MIN(len, 255), topic);
    if (rc < 0)
        return broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                           "No such partition as %.*s-%d", (int)WEIR_MIN(len, 255), topic,
                           partition);
    /* The only replica leads already, for a preferred and for an unclean election alike. */
    return broker_fail(err, -WEIR_EEXIST, KAFKA_ELECTION_NOT_NEEDED,
                       "Leader election not needed for topic partition.");
}

int broker_reassign_partition(broker_t *b, const char *topic, size_t len, int32_t partition,
                              const int32_t *replicas, int32_t nreplicas, broker_err_t *err)
{
    int rc = partition_lookup(b, topic, len, partition);
    if (rc == -WEIR_ENOENT)
        return broker_fail(err, rc, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                           "Unable to find a topic named %.*s.", (int)WEIR_MIN(len, 255), topic);
    if (rc < 0)
        return broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                           "Unable to find partition %.*s:%d.", (int)WEIR_MIN(len, 255), topic,
                           partition);
    if (nreplicas < 0) /* a cancellation: none is ever in progress */
        return broker_fail(err, -WEIR_ENOENT, KAFKA_NO_REASSIGNMENT_IN_PROGRESS, "%s", "");
    return broker_replicas_check(b, replicas, nreplicas, err);
}

int broker_replicas_check(broker_t *b, const int32_t *replicas, int32_t n, broker_err_t *err)
{
    if (n == 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REPLICA_ASSIGNMENT,
                           "The manual partition assignment includes an empty replica list.");
    for (int32_t i = 0; i < n; i++) {
        if (replicas[i] != b->node_id)
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REPLICA_ASSIGNMENT,
                               "The manual partition assignment includes broker %d, but no such "
                               "broker is registered.",
                               replicas[i]);
        for (int32_t j = 0; j < i; j++)
            if (replicas[j] == replicas[i])
                return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REPLICA_ASSIGNMENT,
                                   "The manual partition assignment includes the broker %d more "
                                   "than once.",
                                   replicas[i]);
    }
    return 0;
}

/* ---- DeleteRecords -------------------------------------------------------------------------- */

int broker_delete_records_policy(broker_t *b, const char *topic, size_t len, broker_err_t *err)
{
    int rc = 0;
    broker_topics_rdlock(b);
    broker_topic_t *t = memchr(topic, 0, len) ? NULL : broker_topic_find(b, topic, len);
    if (t && !t->log_cfg.cleanup_delete)
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_POLICY_VIOLATION,
                         "Records of partitions of topic '%s' can be deleted only in topics with "
                         "cleanup policy 'delete'",
                         t->name);
    broker_topics_unlock(b);
    return rc;
}
