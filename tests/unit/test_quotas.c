/*
 * Client quotas (broker/quotas.c): Kafka's precedence as a table with exact answers, the
 * windowed rate's throttle arithmetic at given times, the checks of AlterClientQuotas with
 * Kafka's messages, and the file: what is stored survives a reopen, a damaged file stops the
 * open.
 */
#include "broker/broker_internal.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static void open_quotas(broker_t *b)
{
    memset(b, 0, sizeof(*b));
    static const char *const over[] = {"quota.window.num=2", "quota.window.size.seconds=1", NULL};
    char err[256];
    WEIR_ASSERT(broker_settings_load(&b->set, NULL, over, err, sizeof(err)) == 0);
    b->data_dir = tmpdir;
    WEIR_ASSERT(broker_quotas_open(b) == 0);
}

/* Each case starts with no quotas file. */
static void open_fresh(broker_t *b)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/client-quotas", tmpdir);
    unlink(path);
    open_quotas(b);
}

static void close_quotas(broker_t *b)
{
    broker_quotas_free(b);
    broker_settings_free(&b->set);
}

#define A   BROKER_QE_ABSENT
#define D   BROKER_QE_DEFAULT
#define N   BROKER_QE_NAMED
#define PBR BROKER_QUOTA_PRODUCER_BYTE_RATE

static int set(broker_t *b, broker_qe_state_t us, const char *user, broker_qe_state_t cs,
               const char *client, broker_quota_key_t key, double value, bool remove,
               broker_err_t *err)
{
    broker_quota_entity_t e = {{us, cs, A}, {user, client, NULL}};
    broker_quota_op_t op = {key, value, remove};
    return broker_quota_alter(b, &e, &op, 1, false, err);
}

/* Kafka's eight levels, most specific first; each gets the value of its row + 1. */
static const struct {
    broker_qe_state_t us, cs;
} levels[8] = {{N, N}, {N, D}, {N, A}, {D, N}, {D, D}, {D, A}, {A, N}, {A, D}};

TEST(precedence_table)
{
    broker_t b;
    open_fresh(&b);
    broker_err_t err;
    CHECK(isnan(broker_quota_resolve(&b, PBR, "alice", "app")));
    for (int i = 0; i < 8; i++)
        CHECK_EQ(set(&b, levels[i].us, "alice", levels[i].cs, "app", PBR, i + 1, false, &err), 0);
    /* Who gets what with all eight stored. */
    static const struct {
        const char *user, *client;
        double want;
    } cases[] = {
        {"alice", "app", 1},   /* user + client-id */
        {"alice", "other", 2}, /* user + default client-id */
        {"bob", "app", 4},     /* default user + client-id */
        {"bob", "other", 5},   /* default user + default client-id */
        {"", "app", 4},        /* no user name: still a user, the default one */
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++)
        CHECK(broker_quota_resolve(&b, PBR, cases[i].user, cases[i].client) == cases[i].want);
    /* Removing the most specific level each time uncovers the next. */
    for (int i = 0; i < 8; i++) {
        CHECK(broker_quota_resolve(&b, PBR, "alice", "app") == i + 1);
        CHECK_EQ(set(&b, levels[i].us, "alice", levels[i].cs, "app", PBR, 0, true, &err), 0);
    }
    CHECK(isnan(broker_quota_resolve(&b, PBR, "alice", "app")));
    CHECK(!broker_quota_active(&b, PBR));
    /* Another key does not count: a consumer quota leaves produce unquota'd. */
    CHECK_EQ(set(&b, N, "alice", A, NULL, BROKER_QUOTA_CONSUMER_BYTE_RATE, 5, false, &err), 0);
    CHECK(isnan(broker_quota_resolve(&b, PBR, "alice", "app")));
    CHECK(broker_quota_resolve(&b, BROKER_QUOTA_CONSUMER_BYTE_RATE, "alice", "x") == 5);
    close_quotas(&b);
}

TEST(throttle_arithmetic)
{
    broker_t b;
    open_fresh(&b); /* 2 samples of 1 s: the rate is over at least 1 s */
    broker_err_t err;
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "c", 1e9, 0), 0); /* no quota: never throttled */
    CHECK_EQ(set(&b, A, NULL, N, "c", PBR, 1000, false, &err), 0);
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "c", 1000, 10000), 0);    /* 1000 B/s: at */
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "c", 1000, 10000), 1000); /* 2000 B/s over 1 s */
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "c", 5000, 10000), 2000); /* capped: 2 windows */
    /* Another user with the same client id shares the client's quota and its rate. */
    CHECK_EQ(broker_quota_record(&b, PBR, "v", "c", 1, 10000), 2000);
    /* An unquota'd client id is not throttled. */
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "free", 1e6, 10000), 0);
    /* Two windows later the old samples are obsolete. */
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "c", 500, 12000), 0);
    /* A default client-id quota rates each client id separately. */
    CHECK_EQ(set(&b, A, NULL, D, NULL, PBR, 1000, false, &err), 0);
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "d1", 3000, 20000), 2000);
    CHECK_EQ(broker_quota_record(&b, PBR, "u", "d2", 1500, 20000), 500);
    close_quotas(&b);
}

TEST(connection_rate_per_ip)
{
    broker_t b;
    open_fresh(&b); /* 2 samples of 1 s */
    broker_err_t err;
    broker_quota_entity_t ip = {{A, A, N}, {NULL, NULL, "10.0.0.1"}};
    broker_quota_op_t op = {BROKER_QUOTA_CONNECTION_CREATION_RATE, 2, false};
    CHECK_EQ(broker_quota_alter(&b, &ip, &op, 1, false, &err), 0);
    int key = BROKER_QUOTA_CONNECTION_CREATION_RATE;
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.1", "", 1, 5000), 0);
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.1", "", 1, 5000), 0);   /* 2 a second */
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.1", "", 1, 5000), 500); /* 3: over */
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.2", "", 100, 5000), 0); /* no quota */
    /* The default IP's quota rates each IP on its own. */
    broker_quota_entity_t dflt = {{A, A, D}, {NULL, NULL, NULL}};
    op.value = 1;
    CHECK_EQ(broker_quota_alter(&b, &dflt, &op, 1, false, &err), 0);
    CHECK(broker_quota_resolve(&b, key, "10.0.0.1", "") == 2);
    CHECK(broker_quota_resolve(&b, key, "10.0.0.3", "") == 1);
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.3", "", 1, 5000), 0);
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.3", "", 1, 5000), 1000);
    CHECK_EQ(broker_quota_record(&b, key, "10.0.0.4", "", 1, 5000), 0);
    close_quotas(&b);
}

TEST(alter_checks)
{
    broker_t b;
    open_fresh(&b);
    broker_err_t err;
    static const struct {
        broker_qe_state_t us, cs, is;
        broker_quota_key_t key;
        double value;
        const char *msg;
    } bad[] = {
        {A, A, A, PBR, 10, "Invalid empty client quota entity"},
        {N, A, D, PBR, 10,
         "Invalid quota entity combination, IP entity should not be combined with User or "
         "ClientId"},
        {N, A, A, PBR, -1, "Quota producer_byte_rate must be greater than 0"},
        {N, A, A, PBR, 0, "Quota producer_byte_rate must be greater than 0"},
        {N, A, A, PBR, 1.5, "producer_byte_rate cannot be a fractional value."},
        {N, A, A, PBR, 1e30, "Proposed value for producer_byte_rate is too large for a LONG."},
        {N, A, A, BROKER_QUOTA_CONNECTION_CREATION_RATE, 5,
         "Invalid configuration key connection_creation_rate"},
        {A, A, N, PBR, 5, "Invalid configuration key producer_byte_rate"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        broker_quota_entity_t e = {{bad[i].us, bad[i].cs, bad[i].is}, {"alice", NULL, "1.2.3.4"}};
        broker_quota_op_t op = {bad[i].key, bad[i].value, false};
        memset(&err, 0, sizeof(err));
        CHECK_EQ(broker_quota_alter(&b, &e, &op, 1, false, &err), -WEIR_EINVAL);
        CHECK_EQ(err.code, KAFKA_INVALID_REQUEST);
        CHECK_STR(err.message, bad[i].msg);
    }
    /* request_percentage may be fractional; validate_only stores nothing. */
    broker_quota_entity_t e = {{N, A, A}, {"alice", NULL, NULL}};
    broker_quota_op_t op = {BROKER_QUOTA_REQUEST_PERCENTAGE, 12.5, false};
    CHECK_EQ(broker_quota_alter(&b, &e, &op, 1, true, &err), 0);
    CHECK(!broker_quota_active(&b, BROKER_QUOTA_REQUEST_PERCENTAGE));
    CHECK_EQ(broker_quota_alter(&b, &e, &op, 1, false, &err), 0);
    CHECK(broker_quota_resolve(&b, BROKER_QUOTA_REQUEST_PERCENTAGE, "alice", "") == 12.5);
    close_quotas(&b);
}

TEST(file_survives_reopen_and_damage_stops_open)
{
    broker_t b;
    open_fresh(&b);
    broker_err_t err;
    /* A name with a tab and a newline: the file keeps names in base64. */
    CHECK_EQ(set(&b, N, "al\tice\n", N, "app", PBR, 4096, false, &err), 0);
    CHECK_EQ(set(&b, D, NULL, A, NULL, BROKER_QUOTA_CONSUMER_BYTE_RATE, 2048, false, &err), 0);
    broker_quota_entity_t ip = {{A, A, N}, {NULL, NULL, "10.0.0.1"}};
    broker_quota_op_t op = {BROKER_QUOTA_CONNECTION_CREATION_RATE, 7, false};
    CHECK_EQ(broker_quota_alter(&b, &ip, &op, 1, false, &err), 0);
    close_quotas(&b);

    open_quotas(&b);
    CHECK(broker_quota_resolve(&b, PBR, "al\tice\n", "app") == 4096);
    CHECK(broker_quota_resolve(&b, BROKER_QUOTA_CONSUMER_BYTE_RATE, "x", "y") == 2048);
    broker_quota_entry_t *v;
    size_t n = broker_quotas_list(&b, &v);
    CHECK_EQ(n, 3);
    broker_quotas_list_free(v, n);
    close_quotas(&b);

    char path[128];
    snprintf(path, sizeof(path), "%s/client-quotas", tmpdir);
    FILE *f = fopen(path, "r+");
    REQUIRE(f);
    fseek(f, -2, SEEK_END);
    fputc('9', f); /* a digit of the last value: the CRC no longer matches */
    fclose(f);
    broker_t b2;
    memset(&b2, 0, sizeof(b2));
    char e2[256];
    WEIR_ASSERT(broker_settings_load(&b2.set, NULL, NULL, e2, sizeof(e2)) == 0);
    b2.data_dir = tmpdir;
    CHECK_EQ(broker_quotas_open(&b2), -WEIR_ECORRUPT);
    close_quotas(&b2);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    CHECK_EQ(system(cmd), 0);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
    WEIR_ASSERT(mkdtemp(strcpy(tmpdir, "/tmp/weir-unit-quotas-XXXXXX")));
}

TEST_MAIN()
