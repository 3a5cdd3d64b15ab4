/*
 * Topics, before the app joins its group: the partition count of every sub-topology (all of its
 * inputs must agree: they are read together, one task per partition), the internal topics
 * (repartition topics; changelogs, compacted), the output and late topics, and the check for a
 * changelog that is gone while the group has committed offsets for its inputs, which means the
 * state it held is lost: an error, or a rebuild from the inputs when the config asks for one.
 *
 * Topic lists come from all-topics Metadata requests, which never create a topic (a request
 * naming one may, on brokers with auto creation on).
 */
#include "sdk/streams_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    char **names;
    int *parts;
    size_t n;
} st_topics_t;

static void topics_free(st_topics_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->parts);
    memset(t, 0, sizeof(*t));
}

static int topics_list(weir_streams *s, st_topics_t *out)
{
    memset(out, 0, sizeof(*out));
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->restorer, 1, NULL, &md, 10000);
    if (e) {
        st_set_error(s, "metadata from %s: %s", s->bootstrap, rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    out->names = weir_calloc((size_t)md->topic_cnt + 1, sizeof(char *));
    out->parts = weir_calloc((size_t)md->topic_cnt + 1, sizeof(int));
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err)
            continue;
        out->names[out->n] = weir_strdup(md->topics[i].topic);
        out->parts[out->n++] = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int topics_parts(const st_topics_t *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return t->parts[i];
    return -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until every source and table topic exists. */
static int topics_wait_inputs(weir_streams *s, st_topics_t *tl)
{
    int64_t deadline = clock_mono_ms() + 10000;
    for (;;) {
        int r = topics_list(s, tl);
        if (r)
            return r;
        const char *missing = NULL;
        for (size_t i = 0; i < s->nnodes && !missing; i++)
            if (s->nodes[i]->kind == ST_SOURCE && !s->nodes[i]->internal &&
                topics_parts(tl, s->nodes[i]->topic) < 0)
                missing = s->nodes[i]->topic;
        for (size_t i = 0; i < s->ntables && !missing; i++)
            if (topics_parts(tl, s->tables[i]->topic) < 0)
                missing = s->tables[i]->topic;
        if (!missing)
            return 0;
        topics_free(tl);
        if (clock_mono_ms() >= deadline || atomic_load(&s->stop)) {
            st_set_error(s, "input topic %s does not exist", missing);
            return -WEIR_ENOENT;
        }
        sleep_ms(200);
    }
}

static weir_stream *repart_sink_of(weir_streams *s, const char *topic)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->kind == ST_REPART_SINK && strcmp(s->nodes[i]->topic, topic) == 0)
            return s->nodes[i];
    return NULL;
}

/* The partitions of one input: the topic's own, or for a repartition topic not created yet,
 * internal_partitions or its upstream's. 0: not known yet. */
static int input_parts(weir_streams *s, const st_topics_t *tl, const weir_stream *src)
{
    int p = topics_parts(tl, src->topic);
    if (p > 0 || !src->internal)
        return p > 0 ? p : 0;
    if (s->cfg.internal_partitions > 0)
        return s->cfg.internal_partitions;
    weir_stream *up = repart_sink_of(s, src->topic);
    return up ? up->sub->partitions : 0;
}

static int subs_partitions(weir_streams *s, const st_topics_t *tl)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < s->nsubs; i++) {
            st_sub_t *sub = s->subs[i];
            if (sub->partitions || sub->ninputs == 0)
                continue;
            int p = input_parts(s, tl, sub->inputs[0]);
            for (size_t k = 1; k < sub->ninputs && p; k++) {
                int q = input_parts(s, tl, sub->inputs[k]);
                if (q && q != p) {
                    st_set_error(s,
                                 "topics %s (%d partitions) and %s (%d) are read together (a "
                                 "join) and must have as many partitions",
                                 sub->inputs[0]->topic, p, sub->inputs[k]->topic, q);
                    return -WEIR_EINVAL;
                }
                p = q;
            }
            if (p > ST_PARTITIONS_MAX) {
                st_set_error(s, "%s has more than %d partitions", sub->inputs[0]->topic,
                             ST_PARTITIONS_MAX);
                return -WEIR_ERANGE;
            }
            if (p) {
                sub->partitions = p;
                changed = true;
            }
        }
    }
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i]->ninputs && !s->subs[i]->partitions) {
            st_set_error(s, "cannot tell the partitions of %s", s->subs[i]->inputs[0]->topic);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

/* ---- creating topics ------------------------------------------------------------------------- */

#define ST_COMPACTION_LAG_MS "600000" /* changelogs: 10 minutes */

typedef struct {
    const char *name;
    int partitions;
    bool compact;
    int64_t retention_ms; /* > 0: also deleted by time (changelogs of windowed stores) */
} st_newtopic_t;

static int create_topics(weir_streams *s, const st_newtopic_t *list, size_t n)
{
    if (!n)
        return 0;
    char errstr[256];
    rd_kafka_NewTopic_t **nts = weir_calloc(n, sizeof(*nts));
    for (size_t i = 0; i < n; i++) {
        nts[i] =
            rd_kafka_NewTopic_new(list[i].name, list[i].partitions, -1, errstr, sizeof(errstr));
        if (nts[i] && list[i].compact) {
            rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", "compact");
            /* The rerun after a crash rewrites what the crash left uncommitted; until it has,
             * the older values must stay (a restore leaves the uncommitted ones out). */
            rd_kafka_NewTopic_set_config(nts[i], "min.compaction.lag.ms", ST_COMPACTION_LAG_MS);
        }
        if (nts[i] && list[i].retention_ms > 0) {
            char ms[32];
            snprintf(ms, sizeof(ms), "%lld", (long long)list[i].retention_ms);
            rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", "compact,delete");
            rd_kafka_NewTopic_set_config(nts[i], "retention.ms", ms);
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->producer);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(s->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, 15000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(s->producer, nts, n, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    int r = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        st_set_error(s, "creating topics: %s", ev ? rd_kafka_event_error_string(ev) : "timed out");
        r = -WEIR_EIO;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                st_set_error(s, "creating topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                             rd_kafka_err2str(e));
                r = -WEIR_EIO;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < n; i++)
        if (nts[i])
            rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    return r;
}

static void want(st_newtopic_t **list, size_t *n, const st_topics_t *tl, const char *name,
                 int parts, bool compact, int64_t retention_ms)
{
    if (topics_parts(tl, name) > 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].name, name) == 0)
            return;
    *list = weir_realloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = (st_newtopic_t){name, parts, compact, retention_ms};
}

/* ---- lost changelogs ------------------------------------------------------------------------- */

/* Does the group have a committed offset for any partition of the sub-topology's inputs? */
static int sub_committed(weir_streams *s, st_sub_t *sub, bool *any)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t k = 0; k < sub->ninputs; k++)
        for (int p = 0; p < sub->partitions; p++)
            rd_kafka_topic_partition_list_add(l, sub->inputs[k]->topic, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(s->consumer, l, 10000);
    *any = false;
    for (int i = 0; !e && i < l->cnt; i++)
        *any |= l->elems[i].offset >= 0;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        st_set_error(s, "committed offsets of group %s: %s", s->app_id, rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    return 0;
}

static int check_lost(weir_streams *s, const st_topics_t *tl)
{
    for (size_t i = 0; i < s->nstores; i++) {
        st_store_t *st = s->stores[i];
        if (topics_parts(tl, st->changelog) > 0)
            continue;
        bool committed;
        int r = sub_committed(s, st->sub, &committed);
        if (r)
            return r;
        if (!committed)
            continue; /* a first run */
        if (!s->cfg.rebuild_lost_state) {
            st_set_error(s,
                         "store %s: its changelog topic %s is missing, yet group %s has "
                         "committed offsets for its input, so the state it held is lost; "
                         "set rebuild_lost_state to rebuild it from the input topics "
                         "(their outputs are not produced again)",
                         st->name, st->changelog, s->app_id);
            return -WEIR_ENOENT;
        }
        st_sub_t *sub = st->sub;
        if (!sub->rebuild)
            sub->rebuild = weir_calloc((size_t)sub->partitions, sizeof(bool));
        for (int p = 0; p < sub->partitions; p++)
            sub->rebuild[p] = true;
        st_log(s, WEIR_LOG_WARN, "store %s: changelog %s missing: rebuilding it from the inputs",
               st->name, st->changelog);
    }
    return 0;
}

/* Windowed stores: a closed row is not tombstoned, so its changelog also deletes by time, a day
 * after the row could last have changed (as Kafka Streams' windowed changelogs do). */
static int64_t changelog_retention(const st_store_t *st)
{
    const int64_t day = 86400000;
    const weir_window *w = &st->node->agg.window;
    switch (st->kind) {
    case ST_STORE_WINDOW:
        return w->size_ms + st->grace_ms + day;
    case ST_STORE_SESSION:
        return st->gap_ms + st->grace_ms + day;
    case ST_STORE_BUFFER:
        return 2 * st->window_ms + st->grace_ms + day;
    default:
        return 0;
    }
}

/* ---- all of it ------------------------------------------------------------------------------- */

static void wanted_topics(weir_streams *s, const st_topics_t *tl, st_newtopic_t **list, size_t *n)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        weir_stream *nd = s->nodes[i];
        if (nd->kind == ST_SOURCE && nd->internal)
            want(list, n, tl, nd->topic, nd->sub->partitions, false, 0);
        else if (nd->kind == ST_SINK)
            want(list, n, tl, nd->topic, nd->sub->partitions, false, 0);
    }
    for (size_t i = 0; i < s->nstores; i++) {
        st_store_t *st = s->stores[i];
        want(list, n, tl, st->changelog, st->sub->partitions, true, changelog_retention(st));
        if (st->late_topic)
            want(list, n, tl, st->late_topic, st->sub->partitions, false, 0);
    }
}

static int check_changelog_sizes(weir_streams *s, const st_topics_t *tl)
{
    for (size_t i = 0; i < s->nstores; i++) {
        st_store_t *st = s->stores[i];
        int p = topics_parts(tl, st->changelog);
        if (p > 0 && p < st->sub->partitions) {
            st_set_error(s, "changelog %s has %d partitions, its store needs %d", st->changelog, p,
                         st->sub->partitions);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

/* Metadata for a topic the producer writes to, asked now: librdkafka would otherwise learn it at
 * the first record, holding that record (and the commit that flushes it) up to a second. */
static void warm(weir_streams *s, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->producer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(s->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

static void warm_outputs(weir_streams *s)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->kind == ST_SINK || s->nodes[i]->kind == ST_REPART_SINK)
            warm(s, s->nodes[i]->topic);
    for (size_t i = 0; i < s->nstores; i++) {
        warm(s, s->stores[i]->changelog);
        if (s->stores[i]->late_topic)
            warm(s, s->stores[i]->late_topic);
    }
}

int st_topics_prepare(weir_streams *s)
{
    st_topics_t tl;
    int r = topics_wait_inputs(s, &tl);
    if (r)
        return r;
    for (size_t i = 0; i < s->ntables; i++) {
        st_table_t *t = s->tables[i];
        t->partitions = topics_parts(&tl, t->topic);
        t->next = weir_calloc((size_t)t->partitions, sizeof(int64_t));
        t->eof = weir_calloc((size_t)t->partitions, sizeof(bool));
    }
    r = subs_partitions(s, &tl);
    if (!r)
        r = check_changelog_sizes(s, &tl);
    if (!r)
        r = check_lost(s, &tl);
    st_newtopic_t *list = NULL;
    size_t n = 0;
    if (!r)
        wanted_topics(s, &tl, &list, &n);
    if (!r)
        r = create_topics(s, list, n);
    /* Until the broker lists every created topic (and its leaders are known to librdkafka). */
    for (int tries = 0; !r && n && tries < 50; tries++) {
        topics_free(&tl);
        if ((r = topics_list(s, &tl)) != 0)
            break;
        size_t have = 0;
        for (size_t i = 0; i < n; i++)
            have += topics_parts(&tl, list[i].name) > 0;
        if (have == n)
            break;
        sleep_ms(100);
    }
    free(list);
    topics_free(&tl);
    if (!r)
        warm_outputs(s);
    return r;
}

/* ---- does the broker serve transactions? ----------------------------------------------------- */

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ST_APIVERSIONS_MAX (64u << 10)

static int probe_connect(const char *hostport)
{
    char host[256], port[16];
    const char *colon = strrchr(hostport, ':');
    const char *end = strchr(hostport, ',');
    if (!colon || (end && colon > end) || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
    snprintf(port, sizeof(port), "%.*s", end ? (int)(end - colon - 1) : 15, colon + 1);
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        struct pollfd p = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int probe_io(int fd, void *p, size_t n, bool write_)
{
    size_t done = 0;
    while (done < n) {
        struct pollfd pf = {fd, write_ ? POLLOUT : POLLIN, 0};
        if (poll(&pf, 1, 5000) != 1)
            return -1;
        ssize_t k =
            write_ ? write(fd, (char *)p + done, n - done) : read(fd, (char *)p + done, n - done);
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

/* Sends ApiVersions v0 to the first bootstrap broker and looks for AddPartitionsToTxn (24),
 * AddOffsetsToTxn (25), EndTxn (26) and TxnOffsetCommit (28). 1: all there, 0: not, -1: could
 * not tell (not plaintext, no answer). */
int st_broker_has_transactions(weir_streams *s)
{
    for (size_t i = 0; s->settings && s->settings[i]; i++)
        if (strncmp(s->settings[i], "security.protocol=", 18) == 0 &&
            strcmp(s->settings[i] + 18, "plaintext") != 0)
            return -1;
    int fd = probe_connect(s->bootstrap);
    if (fd < 0)
        return -1;
    uint8_t req[] = {0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, 7, 0, 4, 'w', 'e', 'i', 'r'};
    uint8_t hdr[4];
    uint8_t *body = NULL;
    int r = -1;
    if (probe_io(fd, req, sizeof(req), true) == 0 && probe_io(fd, hdr, 4, false) == 0) {
        uint32_t n = be32_read(hdr);
        if (n >= 10 && n <= ST_APIVERSIONS_MAX) {
            body = weir_malloc(n);
            if (probe_io(fd, body, n, false) == 0 && be16_read(body + 4) == 0) {
                uint32_t cnt = be32_read(body + 6);
                int found = 0;
                for (uint32_t k = 0; k < cnt && 10 + (size_t)(k + 1) * 6 <= n; k++) {
                    uint16_t key = be16_read(body + 10 + (size_t)k * 6);
                    found += key == 24 || key == 25 || key == 26 || key == 28;
                }
                r = found == 4 ? 1 : 0;
            }
        }
    }
    free(body);
    close(fd);
    return r;
}
