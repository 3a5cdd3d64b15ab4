/*
 * saga_internal: what the orchestrator's files share (saga.c: the state machine, timers and the
 * public calls; saga_io.c: the Kafka side, storing states, sending commands, reading the state
 * topic back). A saga record changes only while its `busy` flag is held by one thread; the flag
 * and the table are guarded by s->lock, the record's fields by the flag.
 */
#ifndef WEIR_SDK_SAGA_INTERNAL_H
#define WEIR_SDK_SAGA_INTERNAL_H

#include "sdk/sdk.h"

#define SAGA_STEPS_MAX    32
#define SAGA_BUCKETS      4096
#define SAGA_WAIT_MS      15000 /* a state write, a topic read */
#define SAGA_TIMEOUT_MS   30000
#define SAGA_COMP_BACKOFF 5000 /* the longest wait between attempts of a compensation */
#define SAGA_ID_MAX       200

typedef enum {
    SAGA_RUNNING = 0,
    SAGA_COMPENSATING = 1,
    SAGA_COMPLETED = 2,
    SAGA_COMPENSATED = 3
} saga_status_t;

typedef struct saga_rec {
    struct saga_rec *next; /* hash chain */
    char *id;
    saga_status_t status;
    int step;
    int attempt;
    bool waiting;  /* in the backoff before the next attempt: no command is out */
    bool notified; /* the outcome event was sent */
    bool resume;   /* read back at start: send the current command (or outcome) again */
    bool busy;
    int64_t due_ms; /* the attempt's timeout or the end of the backoff; 0: nothing due */
    char *reason;
    json_t *data;    /* object */
    json_t *history; /* array */
} saga_rec_t;

struct weir_saga {
    weir_app *app;
    char *name, *state_topic, *reply_topic, *outcome_topic, *completed_type, *compensated_type;
    char *source;
    weir_saga_step steps[SAGA_STEPS_MAX]; /* strings owned */
    int nsteps;
    int partitions, history_max;
    int64_t ended_retention_ms;
    long sagas_max;
    long nrecs; /* records in the table; under lock */
    weir_saga_change_fn on_change;
    void *on_change_user;

    rd_kafka_t *rk; /* the producer of states, commands and outcomes */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a busy flag was dropped */
    saga_rec_t *buckets[SAGA_BUCKETS];
    pthread_mutex_t dr_lock;
    pthread_cond_t dr_cond;
    pthread_t timer, poller;
    bool threads_started, timer_started;
    atomic_bool stop;      /* the timer thread */
    atomic_bool poll_stop; /* the poller: after the timer, whose writes wait for it */
};

const char *saga_status_name(saga_status_t st);
int saga_status_parse(const char *name, saga_status_t *out);
/* The record as the JSON stored and queried; and back (0 or -WEIR_ECORRUPT). */
json_t *saga_rec_json(const weir_saga *s, const saga_rec_t *rec);
int saga_rec_load(const weir_saga *s, saga_rec_t *rec, json_t *j);
/* Adds a record read back at start (replacing one of the same id; NULL j deletes). */
void saga_table_put(weir_saga *s, const char *id, json_t *j);

/* saga_io.c */
int saga_io_open(weir_saga *s, char *err, size_t errlen);
void saga_io_close(weir_saga *s);
int saga_io_create_topics(weir_saga *s, char *err, size_t errlen);
int saga_io_persist(weir_saga *s, const saga_rec_t *rec); /* waits for the broker's ack */
int saga_io_tombstone(weir_saga *s, const char *id);      /* the same, for a null value */
int saga_io_send_command(weir_saga *s, const saga_rec_t *rec);
int saga_io_send_outcome(weir_saga *s, const saga_rec_t *rec);
/* Reads state_topic to its end; each record goes to fn (value NULL: a tombstone). */
typedef void (*saga_io_record_fn)(const char *key, const char *value, size_t len, void *arg);
int saga_io_read_all(const char *brokers, const char *topic, saga_io_record_fn fn, void *arg,
                     char *err, size_t errlen);
void *saga_poller_main(void *arg);

#endif
