/*
 * Broker settings and topic configs: where Weir differs from Apache Kafka's catalogue.
 *
 * config_kafka.c (generated from Kafka's own definitions) has every Kafka broker and topic
 * config: name, type, default, bounds, accepted values, whether it may change at run time,
 * documentation. This file adds what Weir knows: which of them Weir honours (BCFG_F_APPLIES;
 * every other one is accepted, checked as Kafka checks it, stored and described, without
 * effect on one node), the defaults and bounds Weir sets differently (and why), the settings
 * it cannot change at run time although Kafka can, and Weir's own weir.* settings. Every user
 * of the tables reads a row through broker_cfg_row() / broker_topic_cfg_row(), which apply
 * these differences, so the answer to "what is this setting" is always the same.
 *
 * Value parsing and Kafka's checks are config_value.c; the settings' layers and the effective
 * values of broker settings and topic configs are config_settings.c.
 */
#include "broker/broker_internal.h"

#include <stdio.h>

/* ---- Weir's differences ------------------------------------------------------------------ */

enum {
    W_DEF = 1 << 8,      /* def replaces Kafka's default (NULL too) */
    W_LO = 1 << 9,       /* lo replaces Kafka's lower bound */
    W_HI = 1 << 10,      /* hi replaces Kafka's upper bound */
    W_STATIC = 1 << 11,  /* Kafka may change it at run time, Weir reads it once at start */
    W_DYNAMIC = 1 << 12, /* Weir may change it at run time, Kafka cannot */
};

typedef struct {
    uint16_t flags; /* BCFG_F_APPLIES and W_* */
    const char *def;
    const char *lo, *hi;
} weir_diff_t;

#define ON                                                                                         \
    {                                                                                              \
        BCFG_F_APPLIES, NULL, NULL, NULL                                                           \
    }
#define ON_STATIC                                                                                  \
    {                                                                                              \
        BCFG_F_APPLIES | W_STATIC, NULL, NULL, NULL                                                \
    }
#define ON_DEF(d)                                                                                  \
    {                                                                                              \
        BCFG_F_APPLIES | W_DEF, d, NULL, NULL                                                      \
    }
#define ON_LO(l)                                                                                   \
    {                                                                                              \
        BCFG_F_APPLIES | W_LO, NULL, l, NULL                                                       \
    }
#define ON_RANGE(l, h)                                                                             \
    {                                                                                              \
        BCFG_F_APPLIES | W_LO | W_HI, NULL, l, h                                                   \
    }
#define ON_X(fl, d, l, h)                                                                          \
    {                                                                                              \
        BCFG_F_APPLIES | (fl), d, l, h                                                             \
    }
#define STORED_DEF(d)                                                                              \
    {                                                                                              \
        W_DEF, d, NULL, NULL                                                                       \
    }

/* Broker settings Weir honours. Bounds Weir sets where Kafka has none keep a value the code
 * cannot use out (a negative interval, say); looser bounds are noted. */
static const weir_diff_t broker_diffs[BCFG__KAFKA_COUNT] = {
    /* One node, started by `weir serve`: an id and a data dir without any configuration. */
    [BCFG_NODE_ID] = ON_X(W_DEF | W_HI, "1", NULL, "2147483647"),
    [BCFG_BROKER_ID] = ON, /* as Kafka: node.id's other name (they must agree) */
    [BCFG_LOG_DIRS] = ON_DEF("./data"),
    [BCFG_LOG_DIR] = ON, /* used when log.dirs is not set */
    [BCFG_LISTENERS] = ON_X(W_DEF | W_STATIC, "PLAINTEXT://127.0.0.1:9092", NULL, NULL),
    [BCFG_ADVERTISED_LISTENERS] = ON,
    /* Security (docs/security.md), read once at start. PEM files only: the keystore holds the
     * certificate chain and the key. Weir's SASL mechanisms are PLAIN and SCRAM; Kafka's
     * default (GSSAPI) is not one of them, so SCRAM is the default. */
    [BCFG_LISTENER_SECURITY_PROTOCOL_MAP] = ON_STATIC,
    [BCFG_SSL_KEYSTORE_LOCATION] = ON_STATIC,
    [BCFG_SSL_KEY_PASSWORD] = ON_STATIC,
    [BCFG_SSL_KEYSTORE_TYPE] = ON_X(W_DEF | W_STATIC, "PEM", NULL, NULL),
    [BCFG_SSL_TRUSTSTORE_LOCATION] = ON_STATIC,
    [BCFG_SSL_TRUSTSTORE_TYPE] = ON_X(W_DEF | W_STATIC, "PEM", NULL, NULL),
    [BCFG_SSL_CLIENT_AUTH] = ON_STATIC,
    [BCFG_SSL_ENABLED_PROTOCOLS] = ON_STATIC,
    [BCFG_SSL_CIPHER_SUITES] = ON_STATIC,
    /* ACLs (docs/security.md): Kafka's StandardAuthorizer or AclAuthorizer, read at start. */
    [BCFG_AUTHORIZER_CLASS_NAME] = ON_STATIC,
    [BCFG_SASL_ENABLED_MECHANISMS] =
        ON_X(W_DEF | W_STATIC, "SCRAM-SHA-256,SCRAM-SHA-512", NULL, NULL),
    /* OAUTHBEARER (src/server/oauth.c), read at start; the JWKS from a file:// URL or http://
     * on a loopback address. */
    [BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL] = ON_STATIC,
    [BCFG_SASL_OAUTHBEARER_EXPECTED_ISSUER] = ON_STATIC,
    [BCFG_SASL_OAUTHBEARER_EXPECTED_AUDIENCE] = ON_STATIC,
    [BCFG_SASL_OAUTHBEARER_SUB_CLAIM_NAME] = ON_STATIC,
    [BCFG_SASL_OAUTHBEARER_SCOPE_CLAIM_NAME] = ON_STATIC,
    [BCFG_SASL_OAUTHBEARER_CLOCK_SKEW_SECONDS] = ON_X(W_LO | W_STATIC, NULL, "0", NULL),
    /* Weir: at least a second; a replaced key set is freed one refresh later (oauth.c). */
    [BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_REFRESH_MS] = ON_X(W_LO | W_STATIC, NULL, "1000", NULL),
    /* KIP-368 (src/kafka/api_sasl.c): read at each authentication; 0 = sessions without end. */
    [BCFG_CONNECTIONS_MAX_REAUTH_MS] = ON_LO("0"),
    /* A failed SaslAuthenticate is answered this much later (src/kafka/api_sasl.c). */
    [BCFG_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS] = ON,
    /* Event loops, each doing network and request work: 0 = one per core. */
    [BCFG_NUM_IO_THREADS] = ON_X(W_DEF | W_LO | W_HI | W_STATIC, "0", "0", "64"),
    /* Threads that open the partitions at start and close them at a clean stop: each mostly
     * waits for its fdatasyncs, so more than the cores (bench/restart.py: 1,000 partitions
     * after SIGKILL ready in 1.24 s with 8, 2.38 s with Kafka's 2). */
    [BCFG_NUM_RECOVERY_THREADS_PER_DATA_DIR] = ON_X(W_DEF | W_HI, "8", NULL, "64"),
    [BCFG_NUM_PARTITIONS] = ON_RANGE("1", "10000"),
    [BCFG_AUTO_CREATE_TOPICS_ENABLE] = ON,
    [BCFG_DELETE_TOPIC_ENABLE] = ON,
    [BCFG_LOG_RETENTION_MS] = ON_LO("-1"),
    [BCFG_LOG_RETENTION_MINUTES] = ON_LO("-1"),
    [BCFG_LOG_RETENTION_HOURS] = ON_LO("-1"),
    [BCFG_LOG_RETENTION_BYTES] = ON_LO("-1"),
    /* Kafka 4 refuses segments under 1 MiB; Weir's tests and small devices use smaller. */
    [BCFG_LOG_SEGMENT_BYTES] = ON_LO("100"),
    [BCFG_LOG_ROLL_MS] = ON_LO("1"),
    [BCFG_LOG_ROLL_HOURS] = ON,
    [BCFG_LOG_ROLL_JITTER_MS] = ON_LO("0"),
    [BCFG_LOG_ROLL_JITTER_HOURS] = ON,
    [BCFG_LOG_CLEANUP_POLICY] = ON,
    [BCFG_LOG_CLEANER_ENABLE] = ON,
    [BCFG_LOG_CLEANER_BACKOFF_MS] = ON,
    [BCFG_LOG_CLEANER_MIN_CLEANABLE_RATIO] = ON,
    [BCFG_LOG_CLEANER_DELETE_RETENTION_MS] = ON_LO("0"),
    [BCFG_LOG_CLEANER_MIN_COMPACTION_LAG_MS] = ON_LO("0"),
    [BCFG_LOG_CLEANER_MAX_COMPACTION_LAG_MS] = ON_LO("1"),
    /* The compaction key map's memory bound. */
    [BCFG_LOG_CLEANER_DEDUPE_BUFFER_SIZE] = ON_RANGE("4096", "2147483647"),
    [BCFG_LOG_SEGMENT_DELETE_DELAY_MS] = ON_LO("0"),
    [BCFG_LOG_INDEX_INTERVAL_BYTES] = ON,
    [BCFG_LOG_MESSAGE_TIMESTAMP_TYPE] = ON,
    [BCFG_LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS] = ON,
    [BCFG_LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS] = ON,
    [BCFG_LOG_RETENTION_CHECK_INTERVAL_MS] = ON,
    /* Weir's background sync of acks=0/1 data (acks=-1 never waits for it): data unsynced for
     * this long is fdatasynced. Unset (Kafka's default, described as Kafka describes it), Weir
     * still syncs within BROKER_FLUSH_INTERVAL_MS rather than leave it to the OS. */
    [BCFG_LOG_FLUSH_INTERVAL_MS] = ON_X(W_LO | W_HI, NULL, "1", "2147483647"),
    [BCFG_COMPRESSION_TYPE] = ON,
    [BCFG_COMPRESSION_GZIP_LEVEL] = ON,
    [BCFG_COMPRESSION_LZ4_LEVEL] = ON,
    [BCFG_COMPRESSION_ZSTD_LEVEL] = ON,
    [BCFG_MESSAGE_MAX_BYTES] = ON,
    [BCFG_FETCH_MAX_BYTES] = ON,
    [BCFG_SOCKET_REQUEST_MAX_BYTES] = ON_LO("64"),
    [BCFG_CONNECTIONS_MAX_IDLE_MS] = ON_LO("0"), /* 0 = never */
    [BCFG_MAX_CONNECTIONS] = ON_X(W_LO | W_STATIC, NULL, "1", NULL),
    [BCFG_QUEUED_MAX_REQUESTS] = ON_RANGE("1", "1000000"), /* per connection in Weir */
    [BCFG_GROUP_MIN_SESSION_TIMEOUT_MS] = ON_LO("0"),
    [BCFG_GROUP_MAX_SESSION_TIMEOUT_MS] = ON_LO("0"),
    [BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS] = ON_LO("0"),
    [BCFG_GROUP_MAX_SIZE] = ON_DEF("1000"),
    /* consumer groups (KIP-848): Weir's assignors are uniform and range */
    [BCFG_GROUP_CONSUMER_SESSION_TIMEOUT_MS] = ON,
    [BCFG_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS] = ON,
    [BCFG_GROUP_CONSUMER_ASSIGNORS] = ON,
    [BCFG_GROUP_CONSUMER_MAX_SIZE] = ON,
    [BCFG_OFFSETS_RETENTION_MINUTES] = ON,
    [BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS] = ON,
    [BCFG_OFFSET_METADATA_MAX_BYTES] = ON_LO("0"),
    /* One node: one partition is plenty, and 50 would be 50 directories for every data dir. */
    [BCFG_OFFSETS_TOPIC_NUM_PARTITIONS] = ON_X(W_DEF | W_HI, "1", NULL, "1000"),
    [BCFG_PRODUCER_ID_EXPIRATION_MS] = ON_STATIC,
    [BCFG_TRANSACTION_MAX_TIMEOUT_MS] = ON,
    [BCFG_TRANSACTIONAL_ID_EXPIRATION_MS] = ON,
    [BCFG_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS] = ON,
    [BCFG_TRANSACTION_REMOVE_EXPIRED_TRANSACTION_CLEANUP_INTERVAL_MS] = ON,
    [BCFG_TRANSACTION_PARTITION_VERIFICATION_ENABLE] = ON,
    [BCFG_TRANSACTION_STATE_LOG_SEGMENT_BYTES] = ON,
    /* As __consumer_offsets: one partition on one node. */
    [BCFG_TRANSACTION_STATE_LOG_NUM_PARTITIONS] = ON_X(W_DEF | W_HI, "1", NULL, "1000"),
    /* Stored only, with the values a one-node Kafka must be configured with. */
    [BCFG_PROCESS_ROLES] = STORED_DEF("broker,controller"),
    [BCFG_OFFSETS_TOPIC_REPLICATION_FACTOR] = STORED_DEF("1"),
    [BCFG_TRANSACTION_STATE_LOG_REPLICATION_FACTOR] = STORED_DEF("1"),
    [BCFG_TRANSACTION_STATE_LOG_MIN_ISR] = STORED_DEF("1"),
    [BCFG_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR] = STORED_DEF("1"),
    [BCFG_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR] = STORED_DEF("1"),
};

#define WEIR_ROW(n, t, d, lo, hi, doc)                                                             \
    {                                                                                              \
        n, t, BCFG_F_APPLIES, d, lo, hi, NULL, NULL, {-1, -1, -1}, doc                             \
    }
/* A Weir setting that AlterConfigs may change at run time (read again at every use). */
#define WEIR_ROW_DYN(n, t, d, lo, hi, doc)                                                         \
    {                                                                                              \
        n, t, BCFG_F_APPLIES | BCFG_F_DYNAMIC, d, lo, hi, NULL, NULL, {-1, -1, -1}, doc            \
    }

/* Weir's own settings (weir.*), after Kafka's keys. */
static const broker_cfg_row_t weir_rows[BCFG__COUNT - BCFG__KAFKA_COUNT] = {
    [BCFG_LOG_PREALLOCATE_BYTES - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.log.preallocate.bytes", BCFG_T_INT, "1048576", "0", "2147483647",
        "Weir: the active segment's file is extended (fallocate) this far ahead of its data, so "
        "an fdatasync writes the data without the file's size and extent map; 0 turns it off."),
    [BCFG_MAX_DECOMPRESSED_BYTES - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.max.decompressed.bytes", BCFG_T_INT, "134217728", "1024", "2147483647",
                 "Weir: the bound on a record batch's decompressed size while it is validated."),
    [BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.producer.snapshot.interval.offsets", BCFG_T_LONG, "100000", "0",
        "9223372036854775807",
        "Weir: offsets between snapshots of the idempotent producers' state (a shorter scan after "
        "a crash); 0 = never."),
    [BCFG_METRICS_PARTITION_LABELS - BCFG__KAFKA_COUNT] = WEIR_ROW_DYN(
        "weir.metrics.partition.labels", BCFG_T_BOOLEAN, "true", NULL, NULL,
        "Weir: /metrics has series per partition (offsets, size, consumer lag); false: per topic "
        "and group only."),
    [BCFG_METRICS_PARTITION_MAX - BCFG__KAFKA_COUNT] = WEIR_ROW_DYN(
        "weir.metrics.partition.max", BCFG_T_INT, "20000", "0", "2147483647",
        "Weir: partitions with their own series in /metrics, in topic order; past it a scrape "
        "leaves the rest out and logs a warning."),
    [BCFG_METRICS_CONSUMERGROUP_SUMS - BCFG__KAFKA_COUNT] = WEIR_ROW_DYN(
        "weir.metrics.consumergroup.sums", BCFG_T_BOOLEAN, "true", NULL, NULL,
        "Weir: /metrics has kafka_exporter's kafka_consumergroup_lag_sum and "
        "kafka_consumergroup_current_offset_sum (promtool's linter objects to their names)."),
    [BCFG_TRACE_SPANS_MAX - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.trace.spans.max", BCFG_T_INT, "10000", "0", "10000000",
        "Weir: spans the broker keeps from services' OTLP exports (POST /v1/traces) for event "
        "journeys (GET /api/v1/traces/<id>); about 1 KiB each; 0 = no receiver."),
    [BCFG_TRANSACTIONAL_ID_MAX_COUNT - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.transactional.id.max.count", BCFG_T_INT, "100000", "1", "2147483647",
        "Weir: the most transactional ids the coordinator keeps (its memory bound); a new one "
        "beyond it gets COORDINATOR_NOT_AVAILABLE until idle ids expire."),
    [BCFG_SSL_HANDSHAKE_TIMEOUT_MS - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.ssl.handshake.timeout.ms", BCFG_T_LONG, "10000", "1", "3600000",
                 "Weir: a TLS connection whose handshake is not finished after this long is "
                 "closed (a stalled or very slow client must not hold a connection)."),
    [BCFG_OAUTHBEARER_UNSECURED_ENABLE - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.sasl.oauthbearer.unsecured.enable", BCFG_T_BOOLEAN, "false", NULL, NULL,
                 "Weir: SASL OAUTHBEARER accepts unsecured JWTs (alg none, no signature) when no "
                 "sasl.oauthbearer.jwks.endpoint.url is set: for tests and development only."),
    [BCFG_OAUTHBEARER_REQUIRED_SCOPES - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.sasl.oauthbearer.required.scopes", BCFG_T_LIST, "", NULL, NULL,
        "Weir: scopes every OAUTHBEARER token (and HTTP bearer token) must carry in its "
        "sasl.oauthbearer.scope.claim.name claim (a space-separated string or an array); a token "
        "without one of them fails authentication. Empty: scopes are not checked."),
    [BCFG_OAUTHBEARER_JWKS_CA_LOCATION - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.sasl.oauthbearer.jwks.endpoint.ca.location", BCFG_T_STRING, NULL, NULL, NULL,
                 "Weir: a PEM file of the CAs an https:// sasl.oauthbearer.jwks.endpoint.url's "
                 "certificate must chain to; unset: the system's CAs."),
    [BCFG_MEMORY_BUFFERS_MAX_BYTES - BCFG__KAFKA_COUNT] = WEIR_ROW(
        "weir.memory.buffers.max.bytes", BCFG_T_LONG, "0", "0", "9223372036854775807",
        "Weir: the memory all connections together may hold in request and response buffers "
        "(unsent responses, partially read requests); when it is full, a Fetch answers with less "
        "(its first batch at least) and a large request stops being read until memory frees. "
        "0: an eighth of physical memory, at least 64 MiB and at most 4 GiB."),
    [BCFG_REQUEST_STALL_TIMEOUT_MS - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.request.stall.timeout.ms", BCFG_T_LONG, "30000", "0", "3600000",
                 "Weir: a connection that sent part of a request and nothing more for this long is "
                 "closed and the request's memory freed (logged with the reason); 0 = never."),
    [BCFG_FETCH_ZERO_COPY - BCFG__KAFKA_COUNT] = WEIR_ROW_DYN(
        "weir.fetch.zero.copy", BCFG_T_BOOLEAN, "true", NULL, NULL,
        "Weir: on plaintext listeners a Fetch sends record batches this process has already "
        "verified (appended, or checked by recovery or an earlier read) straight from the "
        "segment file (sendfile), without copying them into memory; false: every batch is "
        "read into the response and verified again."),
    [BCFG_SUPER_USERS - BCFG__KAFKA_COUNT] =
        WEIR_ROW("super.users", BCFG_T_STRING, NULL, NULL, NULL,
                 "The authorizer's super users, semicolon separated principals "
                 "(User:admin;User:ops), allowed every operation whatever the ACLs say."),
    [BCFG_ALLOW_EVERYONE_IF_NO_ACL_FOUND - BCFG__KAFKA_COUNT] =
        WEIR_ROW("allow.everyone.if.no.acl.found", BCFG_T_BOOLEAN, "false", NULL, NULL,
                 "With an authorizer: an operation on a resource that has no ACL at all is allowed "
                 "(true) or denied (false)."),
    [BCFG_HTTP_AUTHENTICATION_METHODS - BCFG__KAFKA_COUNT] =
        {"weir.http.authentication.methods",
         BCFG_T_LIST,
         BCFG_F_APPLIES | BCFG_F_NOCASE,
         "",
         NULL,
         NULL,
         NULL,
         "BASIC|BEARER",
         {-1, -1, -1},
         "Weir: the HTTP listener (schema registry, admin API, console's API, /metrics) needs "
         "authentication with these schemes: BASIC (a SCRAM user's name and password) and "
         "BEARER (a JWT); with an authorizer, each route is checked against the ACLs. Empty: no "
         "authentication (Confluent Schema Registry's authentication.method)."},
    [BCFG_HTTP_METRICS_OPEN - BCFG__KAFKA_COUNT] =
        WEIR_ROW("weir.http.metrics.open", BCFG_T_BOOLEAN, "false", NULL, NULL,
                 "Weir: with HTTP authentication on, GET /metrics stays open (a Prometheus "
                 "scraper without credentials); /health is always open."),
};

/* Topic configs Weir honours; the rest (replication, tiered storage, flushing, preallocation,
 * the DLQ flag of share groups) are stored and described only. */
static const weir_diff_t topic_diffs[TCFG__KAFKA_COUNT] = {
    [TCFG_RETENTION_MS] = ON,
    [TCFG_RETENTION_BYTES] = ON_LO("-1"),
    [TCFG_SEGMENT_BYTES] = ON_LO("100"), /* see log.segment.bytes */
    [TCFG_INTERNAL_SEGMENT_BYTES] = ON_LO("100"),
    [TCFG_SEGMENT_MS] = ON,
    [TCFG_SEGMENT_JITTER_MS] = ON,
    [TCFG_CLEANUP_POLICY] = ON,
    [TCFG_MAX_MESSAGE_BYTES] = ON,
    [TCFG_MESSAGE_TIMESTAMP_TYPE] = ON,
    [TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS] = ON,
    [TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS] = ON,
    [TCFG_DELETE_RETENTION_MS] = ON,
    [TCFG_MIN_COMPACTION_LAG_MS] = ON,
    [TCFG_MAX_COMPACTION_LAG_MS] = ON,
    [TCFG_MIN_CLEANABLE_DIRTY_RATIO] = ON,
    [TCFG_FILE_DELETE_DELAY_MS] = ON,
    [TCFG_INDEX_INTERVAL_BYTES] = ON,
    [TCFG_COMPRESSION_TYPE] = ON,
    [TCFG_COMPRESSION_GZIP_LEVEL] = ON,
    [TCFG_COMPRESSION_LZ4_LEVEL] = ON,
    [TCFG_COMPRESSION_ZSTD_LEVEL] = ON,
};

/* Topic configs Weir adds: broker-side schema validation (schema_hook.c, docs/schemas.md) and
 * the event store's key index (conditional.c, docs/event-store.md).
 * Confluent Server's names, so its users' tooling works unchanged, and Weir's, which also
 * offers full decoding; the stronger of the two applies. */
#define STRATEGY_VALUES                                                                            \
    "io.confluent.kafka.serializers.subject.TopicNameStrategy|"                                    \
    "io.confluent.kafka.serializers.subject.RecordNameStrategy|"                                   \
    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
#define TOPIC_ROW(n, t, d, v, doc)                                                                 \
    {                                                                                              \
        n, t, BCFG_F_APPLIES, d, NULL, NULL, NULL, v, {-1, -1, -1}, doc                            \
    }
static const broker_cfg_row_t weir_topic_rows[TCFG__COUNT - TCFG__KAFKA_COUNT] = {
    [TCFG_CONFLUENT_KEY_SCHEMA_VALIDATION - TCFG__KAFKA_COUNT] = TOPIC_ROW(
        "confluent.key.schema.validation", BCFG_T_BOOLEAN, "false", NULL,
        "Confluent's: every record's key must carry a schema id registered under the key's "
        "subject (weir.key.schema.validation=id)."),
    [TCFG_CONFLUENT_KEY_SUBJECT_NAME_STRATEGY - TCFG__KAFKA_COUNT] =
        TOPIC_ROW("confluent.key.subject.name.strategy", BCFG_T_STRING,
                  "io.confluent.kafka.serializers.subject.TopicNameStrategy", STRATEGY_VALUES,
                  "Confluent's: how the subject of a key's schema is named: <topic>-key "
                  "(TopicNameStrategy), the record's name (RecordNameStrategy) or "
                  "<topic>-<record name> (TopicRecordNameStrategy)."),
    [TCFG_CONFLUENT_VALUE_SCHEMA_VALIDATION - TCFG__KAFKA_COUNT] = TOPIC_ROW(
        "confluent.value.schema.validation", BCFG_T_BOOLEAN, "false", NULL,
        "Confluent's: every record's value must carry a schema id registered under the value's "
        "subject (weir.value.schema.validation=id)."),
    [TCFG_CONFLUENT_VALUE_SUBJECT_NAME_STRATEGY - TCFG__KAFKA_COUNT] =
        TOPIC_ROW("confluent.value.subject.name.strategy", BCFG_T_STRING,
                  "io.confluent.kafka.serializers.subject.TopicNameStrategy", STRATEGY_VALUES,
                  "Confluent's: how the subject of a value's schema is named: <topic>-value "
                  "(TopicNameStrategy), the record's name (RecordNameStrategy) or "
                  "<topic>-<record name> (TopicRecordNameStrategy)."),
    [TCFG_WEIR_KEY_SCHEMA_VALIDATION - TCFG__KAFKA_COUNT] = TOPIC_ROW(
        "weir.key.schema.validation", BCFG_T_STRING, "none", "none|id|full",
        "Weir: keys are checked by the broker: none; id (the schema registry's wire header with "
        "an id registered under the key's subject); full (id, and the key decodes with that "
        "schema). A batch with a record that fails is refused whole with INVALID_RECORD."),
    [TCFG_WEIR_VALUE_SCHEMA_VALIDATION - TCFG__KAFKA_COUNT] = TOPIC_ROW(
        "weir.value.schema.validation", BCFG_T_STRING, "none", "none|id|full",
        "Weir: values are checked by the broker: none; id (the schema registry's wire header "
        "with an id registered under the value's subject); full (id, and the value decodes with "
        "that schema). A batch with a record that fails is refused whole with INVALID_RECORD."),
    [TCFG_WEIR_KEY_INDEX - TCFG__KAFKA_COUNT] = TOPIC_ROW(
        "weir.key.index", BCFG_T_BOOLEAN, "false", NULL,
        "Weir: each partition keeps an index from a record's key to the offset of the key's "
        "latest record, rebuilt from the log when the partition opens, so a record with the "
        "header weir.expected.offset is appended only if the key's latest offset is still the "
        "one expected (-1: the key must not exist). See docs/event-store.md."),
};

/* ---- rows ---------------------------------------------------------------------------------- */

static void apply_diff(broker_cfg_row_t *r, const weir_diff_t *w)
{
    r->flags |= w->flags & BCFG_F_APPLIES;
    if (w->flags & W_DEF)
        r->def = w->def;
    if (w->flags & W_LO)
        r->lo = w->lo;
    if (w->flags & W_HI)
        r->hi = w->hi;
    if (w->flags & W_STATIC)
        r->flags &= (uint16_t)~BCFG_F_DYNAMIC;
    if (w->flags & W_DYNAMIC)
        r->flags |= BCFG_F_DYNAMIC;
}

const broker_cfg_row_t *broker_cfg_row(int key, broker_cfg_row_t *scratch)
{
    WEIR_ASSERT(key >= 0 && key < BCFG__COUNT);
    if (key >= BCFG__KAFKA_COUNT)
        return &weir_rows[key - BCFG__KAFKA_COUNT];
    *scratch = broker_kafka_cfgs[key];
    apply_diff(scratch, &broker_diffs[key]);
    return scratch;
}

const broker_cfg_row_t *broker_topic_cfg_row(int key, broker_cfg_row_t *scratch)
{
    WEIR_ASSERT(key >= 0 && key < TCFG__COUNT);
    if (key >= TCFG__KAFKA_COUNT)
        return &weir_topic_rows[key - TCFG__KAFKA_COUNT];
    *scratch = broker_kafka_topic_cfgs[key];
    apply_diff(scratch, &topic_diffs[key]);
    return scratch;
}

const char *broker_cfg_name(int key)
{
    broker_cfg_row_t tmp;
    return broker_cfg_row(key, &tmp)->name;
}

/* Binary search over a table sorted by name (Kafka's are, by generation). */
static int find_sorted(const broker_cfg_row_t *rows, int n, const char *name, size_t len)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *m = rows[mid].name;
        int c = strncmp(m, name, len);
        if (c == 0)
            c = m[len] ? 1 : 0;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int broker_cfg_find(const char *name, size_t len)
{
    if (memchr(name, 0, len))
        return -1;
    int k = find_sorted(broker_kafka_cfgs, BCFG__KAFKA_COUNT, name, len);
    if (k >= 0)
        return k;
    for (int i = 0; i < BCFG__COUNT - BCFG__KAFKA_COUNT; i++)
        if (strlen(weir_rows[i].name) == len && memcmp(weir_rows[i].name, name, len) == 0)
            return BCFG__KAFKA_COUNT + i;
    return -1;
}

int broker_topic_cfg_find(const char *name, size_t len)
{
    if (memchr(name, 0, len))
        return -1;
    int k = find_sorted(broker_kafka_topic_cfgs, TCFG__KAFKA_COUNT, name, len);
    if (k >= 0)
        return k;
    for (int i = 0; i < TCFG__COUNT - TCFG__KAFKA_COUNT; i++)
        if (strlen(weir_topic_rows[i].name) == len &&
            memcmp(weir_topic_rows[i].name, name, len) == 0)
            return TCFG__KAFKA_COUNT + i;
    return -1;
}

/* Kafka's chains of broker settings that stand for one value in different units. */
static const int chain_retention[] = {BCFG_LOG_RETENTION_MS, BCFG_LOG_RETENTION_MINUTES,
                                      BCFG_LOG_RETENTION_HOURS, -1};
static const int chain_roll[] = {BCFG_LOG_ROLL_MS, BCFG_LOG_ROLL_HOURS, -1};
static const int chain_jitter[] = {BCFG_LOG_ROLL_JITTER_MS, BCFG_LOG_ROLL_JITTER_HOURS, -1};
static const int chain_flush[] = {BCFG_LOG_FLUSH_INTERVAL_MS, BCFG_LOG_FLUSH_SCHEDULER_INTERVAL_MS,
                                  -1};

const int *broker_cfg_chain(int key, int one[2])
{
    /* log.flush.scheduler.interval.ms is log.flush.interval.ms's fallback, not its synonym. */
    if (key == BCFG_LOG_FLUSH_INTERVAL_MS)
        return chain_flush;
    static const int *const chains[] = {chain_retention, chain_roll, chain_jitter};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(chains); i++)
        for (const int *c = chains[i]; *c >= 0; c++)
            if (*c == key)
                return chains[i];
    one[0] = key;
    one[1] = -1;
    return one;
}
