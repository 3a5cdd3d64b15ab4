/*
 * fraud-detection: card transactions in, fraud alerts out, with libweir streams.
 *
 *   card-transactions  key card id, value {"card":"c0042","amount":12.5,"country":"FR",
 *                      "ts":1764400000000} (the event time is "ts")
 *   cards              key card id, value {"home":"FR"} (compacted: the card register)
 *   fraud-alerts       key card id, value {"card":...,"rule":"velocity|amount|foreign",...}
 *
 * Three rules, three branches of one topology:
 *   velocity  5 or more transactions of a card within 10 minutes (hopping windows advancing by
 *             a minute; the alert goes out as the 5th one arrives);
 *   amount    more than 5000 spent within an hour (hopping windows of an hour advancing by 15
 *             minutes; judged once per window, when it closes);
 *   foreign   a transaction over 1000 in a country other than the card's home country (a join
 *             with the table of cards).
 * Transactions may arrive up to a minute out of order (the grace period); later ones go to
 * card-transactions-late.
 *
 *   fraud-detection --bootstrap HOST:PORT --state-dir DIR [--app-id ID] [--exactly-once]
 *
 * It runs until SIGINT/SIGTERM and then prints its counters.
 */
#include <weir/streams.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VELOCITY_COUNT 5
#define AMOUNT_LIMIT   5000.0
#define FOREIGN_LIMIT  1000.0
#define MINUTE         60000

/* A transaction's fields, from its JSON value. */
typedef struct {
    double amount;
    char country[8];
    int64_t ts;
} tx_t;

static int tx_parse(const weir_record *r, tx_t *tx)
{
    if (!r->value)
        return -1;
    json_error_t e;
    json_t *j = json_loadb(r->value, r->value_len, 0, &e);
    const char *country = NULL;
    json_int_t ts = -1;
    int rc =
        j ? json_unpack(j, "{s:F, s:s, s:I}", "amount", &tx->amount, "country", &country, "ts", &ts)
          : -1;
    if (rc == 0)
        snprintf(tx->country, sizeof(tx->country), "%s", country);
    tx->ts = ts;
    json_decref(j);
    return rc;
}

static int64_t tx_time(const weir_record *r, void *user)
{
    tx_t tx;
    return tx_parse(r, &tx) == 0 ? tx.ts : -1;
}

static int tx_amount(const weir_record *r, double *out, void *user)
{
    tx_t tx;
    if (tx_parse(r, &tx) != 0)
        return -1;
    *out = tx.amount;
    return 0;
}

/* An alert as the value of a record keyed by the card. */
static int alert(weir_collector *out, const weir_record *r, const char *rule, json_t *extra)
{
    json_t *a = json_pack("{s:s%, s:s, s:I}", "card", r->key, r->key_len, "rule", rule, "ts",
                          (json_int_t)r->timestamp);
    json_object_update(a, extra);
    json_decref(extra);
    char *text = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(a);
    int rc = weir_collect_value(out, text, strlen(text));
    free(text);
    return rc;
}

/* ---- velocity -------------------------------------------------------------------------------- */

static bool fifth(const weir_record *r, void *user)
{
    return atoll(r->value) == VELOCITY_COUNT; /* once per window, as the count reaches it */
}

static int velocity_alert(const weir_record *r, weir_collector *out, void *user)
{
    return alert(out, r, "velocity",
                 json_pack("{s:I, s:I}", "count", (json_int_t)atoll(r->value), "window_start",
                           (json_int_t)r->window_start));
}

/* ---- amount ---------------------------------------------------------------------------------- */

static bool over_limit(const weir_record *r, void *user)
{
    return atof(r->value) > AMOUNT_LIMIT;
}

static int amount_alert(const weir_record *r, weir_collector *out, void *user)
{
    return alert(out, r, "amount",
                 json_pack("{s:f, s:I, s:I}", "spent", atof(r->value), "window_start",
                           (json_int_t)r->window_start, "window_end", (json_int_t)r->window_end));
}

/* ---- foreign --------------------------------------------------------------------------------- */

static int foreign(const weir_record *txr, const weir_record *card, weir_collector *out, void *user)
{
    tx_t tx;
    if (!card || tx_parse(txr, &tx) != 0 || tx.amount <= FOREIGN_LIMIT)
        return 0;
    json_t *c = json_loadb(card->value, card->value_len, 0, NULL);
    const char *home = c ? json_string_value(json_object_get(c, "home")) : NULL;
    int rc = 0;
    if (home && strcmp(home, tx.country) != 0)
        rc = alert(
            out, txr, "foreign",
            json_pack("{s:s, s:s, s:f}", "home", home, "country", tx.country, "amount", tx.amount));
    json_decref(c);
    return rc;
}

/* ---- the topology ---------------------------------------------------------------------------- */

static void topology(weir_streams *s)
{
    weir_streams_table(s, "cards", "cards");
    weir_stream *tx = weir_streams_source(s, "card-transactions", tx_time, NULL);

    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "velocity", WEIR_AGG_COUNT);
    o.window = weir_window_hopping(10 * MINUTE, MINUTE, MINUTE);
    o.late_topic = "card-transactions-late";
    weir_stream *count = weir_stream_aggregate(tx, &o);
    weir_stream_to(
        weir_stream_map_values(weir_stream_filter(count, fifth, NULL), velocity_alert, NULL),
        "fraud-alerts");

    weir_aggregate_options_init(&o, "spend", WEIR_AGG_SUM);
    o.number = tx_amount;
    o.window = weir_window_hopping(60 * MINUTE, 15 * MINUTE, MINUTE);
    o.emit = WEIR_EMIT_FINAL;
    weir_stream *spent = weir_stream_aggregate(tx, &o);
    weir_stream_to(
        weir_stream_map_values(weir_stream_filter(spent, over_limit, NULL), amount_alert, NULL),
        "fraud-alerts");

    weir_stream_to(weir_stream_join_table(tx, "cards", foreign, NULL, false), "fraud-alerts");
}

int main(int argc, char **argv)
{
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.application_id = "fraud-detection";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc)
            cfg.bootstrap = argv[++i];
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            cfg.state_dir = argv[++i];
        else if (strcmp(argv[i], "--app-id") == 0 && i + 1 < argc)
            cfg.application_id = argv[++i];
        else if (strcmp(argv[i], "--exactly-once") == 0)
            cfg.guarantee = WEIR_EXACTLY_ONCE;
        else {
            fprintf(stderr, "usage: fraud-detection --bootstrap HOST:PORT --state-dir DIR "
                            "[--app-id ID] [--exactly-once]\n");
            return 2;
        }
    }
    weir_streams *s;
    char err[256];
    if (weir_streams_new(&cfg, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "fraud-detection: %s\n", err);
        return 1;
    }
    topology(s);
    int rc = weir_streams_run(s);
    weir_streams_counters c;
    weir_streams_stats(s, &c);
    printf("processed %llu, alerts and other records produced %llu, late %llu\n",
           (unsigned long long)c.processed, (unsigned long long)c.produced,
           (unsigned long long)c.late);
    if (rc)
        fprintf(stderr, "fraud-detection: %s\n", weir_streams_errmsg(s));
    weir_streams_free(s);
    return rc ? 1 : 0;
}
