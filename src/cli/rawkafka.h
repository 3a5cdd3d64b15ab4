/*
 * rawkafka: a small synchronous Kafka protocol client for the commands librdkafka's admin API
 * cannot serve (`weir txn`: ListTransactions, DescribeTransactions, DescribeProducers,
 * WriteTxnMarkers; `weir user`: DescribeUserScramCredentials, AlterUserScramCredentials). It
 * speaks plaintext TCP to the bootstrap brokers (-b / $WEIR_BROKERS), asks ApiVersions first on
 * every connection and picks, for each request, the highest version both sides know, encoding
 * and decoding with the codec of src/kafka/wire. Only what Kafka 4.x serves is used, so the
 * same commands work against Apache Kafka.
 *
 * Bounds: a connect, and each request's round trip, wait at most --timeout; a response frame
 * is at most CLI_RAW_FRAME_MAX bytes and every length and count in it is checked by the codec
 * before anything is sized from it. Every failure is printed as one line (cli_err) and returned
 * as an exit code (CLI_ERROR, or CLI_NOT_FOUND where the broker said "unknown").
 *
 * Ownership: everything a call returns is heap memory owned by the caller, freed with the
 * matching *_free function; a response reader points into rk->frame until the next call.
 * Main thread only, like the rest of the CLI.
 */
#ifndef WEIR_CLI_RAWKAFKA_H
#define WEIR_CLI_RAWKAFKA_H

#include "cli/cli.h"
#include "kafka/wire/wire.h"

#define CLI_RAW_FRAME_MAX (64 * 1024 * 1024)
#define CLI_RAW_CONNS_MAX 64
#define CLI_RAW_COUNT_MAX 1000000 /* any array in an answer */

typedef struct {
    int fd;
    int32_t node_id; /* -1: a bootstrap server not yet matched to a node */
    char addr[320];  /* host:port, for messages */
    int16_t min_version[KAFKA_API_KEY_MAX + 1];
    int16_t max_version[KAFKA_API_KEY_MAX + 1]; /* -1: not served */
    int32_t correlation_id;
} cli_raw_conn_t;

typedef struct {
    int32_t id;
    char *host;
    int32_t port;
} cli_raw_node_t;

typedef struct {
    int32_t partition;
    int16_t error;
    int32_t leader; /* -1: none */
} cli_raw_part_t;

typedef struct {
    char *name;
    int16_t error;
    bool internal;
    cli_raw_part_t *parts;
    size_t nparts;
} cli_raw_topic_t;

typedef struct {
    cli_global_t *g;
    cli_raw_conn_t *conns[CLI_RAW_CONNS_MAX];
    size_t nconns;
    cli_raw_conn_t *boot;  /* the bootstrap connection: FindCoordinator and Metadata go there */
    cli_raw_node_t *nodes; /* the brokers of the last Metadata answer */
    size_t nnodes;
    cli_raw_topic_t *topics; /* its topics, partitions sorted */
    size_t ntopics;
    buf_t frame; /* the last response frame */
} cli_raw_t;

/* Connects to the first bootstrap server that answers ApiVersions, then asks Metadata for the
 * brokers. -X settings are checked as librdkafka would (a bad one is a usage error); anything
 * but security.protocol=plaintext is refused, this client has no TLS or SASL. 0, or an exit
 * code after printing why (rk is closed then). */
int cli_raw_open(cli_raw_t *rk, cli_global_t *g);
void cli_raw_close(cli_raw_t *rk); /* safe on a zeroed or closed client */

/* Metadata for n topics (none: the brokers alone), or all topics (topics NULL): replaces
 * rk->nodes and rk->topics. A topic the broker does not know is kept with its error (never
 * auto-created). */
int cli_raw_metadata(cli_raw_t *rk, char *const *topics, size_t n);
const cli_raw_topic_t *cli_raw_topic(const cli_raw_t *rk, const char *name);
/* The connection to broker `id` of the last Metadata answer, opened on first use. */
int cli_raw_node(cli_raw_t *rk, int32_t id, cli_raw_conn_t **out);
/* The connection to a broker named by a coordinator answer, opened on first use. */
int cli_raw_node_at(cli_raw_t *rk, int32_t id, const char *host, int32_t port,
                    cli_raw_conn_t **out);

/* The highest version of api in [lo, hi] that the broker serves, or -1. */
int16_t cli_raw_version(const cli_raw_conn_t *c, int16_t api, int16_t lo, int16_t hi);
/* Whether a request of api at version uses the flexible encoding (KIP-482). */
bool cli_raw_flexible(int16_t api, int16_t version);
/* One round trip: sends body (encoded by the caller with cli_raw_flexible's encoding) under a
 * request header, waits for the answer within --timeout and sets r to the response body
 * (valid until the next call). 0 or an exit code after printing why. */
int cli_raw_call(cli_raw_t *rk, cli_raw_conn_t *c, int16_t api, int16_t version, const buf_t *body,
                 wire_reader_t *r);
/* Prints "<what>: malformed answer from ADDR" and returns CLI_ERROR. */
int cli_raw_malformed(cli_raw_t *rk, const cli_raw_conn_t *c, const char *what);
/* The exit code for a Kafka ErrorCode: CLI_NOT_FOUND for an unknown topic, partition or
 * transactional id, CLI_ERROR otherwise. */
int cli_raw_exit(int16_t error);

/* ---- the coordinator (FindCoordinator; v4+ batched, v1-3 one key at a time) ------------------ */
typedef struct {
    int16_t error;
    int32_t node_id;
    char *host;
    int32_t port;
} cli_raw_coord_t;

enum { CLI_RAW_KEY_GROUP = 0, CLI_RAW_KEY_TRANSACTION = 1 };

/* out[i] for keys[i]; free each host. */
int cli_raw_find_coordinators(cli_raw_t *rk, int8_t key_type, char *const *keys, size_t n,
                              cli_raw_coord_t *out);

/* ---- the transaction APIs (txn_api.c) -------------------------------------------------------- */
typedef struct {
    char *topic;
    int32_t partition;
} cli_tp_t;

typedef struct {
    char *transactional_id;
    int64_t producer_id;
    char *state;
    int32_t coordinator; /* the broker that answered */
} cli_txn_listing_t;

typedef struct {
    const char *const *states; /* Kafka's names */
    size_t nstates;
    const int64_t *producer_ids;
    size_t nproducer_ids;
    int64_t older_than_ms; /* -1: any age (needs ListTransactions v1 otherwise) */
} cli_txn_filter_t;

/* ListTransactions to one broker; appends to *out (n grows). *unknown gets the first state
 * filter the broker did not know (heap, or NULL). */
int cli_txn_list(cli_raw_t *rk, cli_raw_conn_t *c, const cli_txn_filter_t *f,
                 cli_txn_listing_t **out, size_t *n, char **unknown);
void cli_txn_listings_free(cli_txn_listing_t *l, size_t n);

typedef struct {
    int16_t error;
    char *transactional_id;
    char *state;
    int32_t timeout_ms;
    int64_t start_ms; /* -1: no transaction open */
    int64_t producer_id;
    int32_t producer_epoch;
    cli_tp_t *parts;
    size_t nparts;
    int32_t coordinator;
} cli_txn_desc_t;

/* DescribeTransactions v0 of n ids at their coordinator c: out gets n descriptions, in order. */
int cli_txn_describe(cli_raw_t *rk, cli_raw_conn_t *c, char *const *ids, size_t n,
                     cli_txn_desc_t *out);
void cli_txn_desc_deinit(cli_txn_desc_t *d);

typedef struct {
    int64_t producer_id;
    int32_t producer_epoch;
    int32_t last_sequence;
    int64_t last_timestamp;
    int32_t coordinator_epoch;        /* -1: none yet */
    int64_t current_txn_start_offset; /* -1: no open transaction */
} cli_producer_t;

typedef struct {
    char *topic;
    int32_t partition;
    int16_t error;
    char *error_message; /* or NULL */
    cli_producer_t *producers;
    size_t nproducers;
} cli_part_producers_t;

/* DescribeProducers v0 of n partitions at their leader c; appends to *out (*nout grows). */
int cli_txn_producers(cli_raw_t *rk, cli_raw_conn_t *c, const cli_tp_t *tps, size_t n,
                      cli_part_producers_t **out, size_t *nout);
void cli_part_producers_free(cli_part_producers_t *p, size_t n);

/* WriteTxnMarkers v1: one ABORT marker for producer_id/epoch in topic/partition, at its
 * leader c. *error is the partition's ErrorCode. */
int cli_txn_write_abort(cli_raw_t *rk, cli_raw_conn_t *c, const char *topic, int32_t partition,
                        int64_t producer_id, int16_t producer_epoch, int32_t coordinator_epoch,
                        int16_t *error);

#endif
