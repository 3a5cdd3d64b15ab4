/*
 * iot-telemetry: device readings rolled up per minute, the last known state of every device,
 * and devices that went silent, with libweir streams.
 *
 *   telemetry        key device id, value {"device":"d07","temp":21.5,"ts":1764400000000}
 *   telemetry-1m     one record per device and minute, when the minute closes:
 *                    {"device":"d07","minute":<start ms>,"n":6,"min":20.9,"max":22.1,"avg":21.4}
 *   device-state     the latest reading of each device (by event time), on every change
 *   devices-silent   a device heard from for the last time at last_seen and not for two
 *                    minutes since: {"device":"d07","first_seen":...,"last_seen":...,"readings":n}
 *   telemetry-late   readings that came after their minute had closed (10 s of grace)
 *
 * The minute roll-up is a custom reducer on a tumbling window emitted when the window closes;
 * the state is a running reducer that keeps the newest reading; silence is a session window
 * (gap two minutes) emitted when the session closes, i.e. once the stream time of the device's
 * partition is past its last reading plus the gap: silence is told in event time, from what the
 * other devices of the partition send.
 *
 *   iot-telemetry --bootstrap HOST:PORT --state-dir DIR [--app-id ID] [--exactly-once]
 */
#include <weir/streams.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE 60000

static json_t *value_json(const void *p, size_t n)
{
    return p ? json_loadb(p, n, 0, NULL) : NULL;
}

static int64_t reading_time(const weir_record *r, void *user)
{
    json_t *j = value_json(r->value, r->value_len);
    json_t *ts = j ? json_object_get(j, "ts") : NULL;
    int64_t t = json_is_integer(ts) ? json_integer_value(ts) : -1;
    json_decref(j);
    return t;
}

static int collect_json(weir_collector *out, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    int rc = weir_collect_value(out, text, strlen(text));
    free(text);
    return rc;
}

/* ---- per minute: {"n","min","max","sum"} ------------------------------------------------------
 */

static int minute_reduce(const void *agg, size_t alen, const weir_record *r, weir_collector *out,
                         void *user)
{
    json_t *reading = value_json(r->value, r->value_len);
    json_t *temp = reading ? json_object_get(reading, "temp") : NULL;
    if (!json_is_number(temp)) {
        json_decref(reading);
        return -1; /* not a reading: skipped */
    }
    double t = json_number_value(temp);
    json_decref(reading);
    json_t *a = agg ? value_json(agg, alen) : NULL;
    json_int_t n = 0;
    double lo = t, hi = t, sum = 0;
    if (a)
        json_unpack(a, "{s:I, s:F, s:F, s:F}", "n", &n, "min", &lo, "max", &hi, "sum", &sum);
    json_decref(a);
    lo = t < lo ? t : lo;
    hi = t > hi ? t : hi;
    return collect_json(
        out, json_pack("{s:I, s:f, s:f, s:f}", "n", n + 1, "min", lo, "max", hi, "sum", sum + t));
}

static int minute_result(const weir_record *r, weir_collector *out, void *user)
{
    json_t *a = value_json(r->value, r->value_len);
    json_int_t n = 0;
    double lo = 0, hi = 0, sum = 0;
    if (!a ||
        json_unpack(a, "{s:I, s:F, s:F, s:F}", "n", &n, "min", &lo, "max", &hi, "sum", &sum) != 0 ||
        n <= 0) {
        json_decref(a);
        return -1;
    }
    json_decref(a);
    return collect_json(out, json_pack("{s:s%, s:I, s:I, s:f, s:f, s:f}", "device", r->key,
                                       r->key_len, "minute", (json_int_t)r->window_start, "n", n,
                                       "min", lo, "max", hi, "avg", sum / (double)n));
}

/* ---- last known state: the reading with the latest event time -------------------------------- */

static int newest(const void *agg, size_t alen, const weir_record *r, weir_collector *out,
                  void *user)
{
    if (agg) {
        json_t *a = value_json(agg, alen);
        json_t *ts = a ? json_object_get(a, "ts") : NULL;
        bool older = json_is_integer(ts) && json_integer_value(ts) > r->timestamp;
        json_decref(a);
        if (older)
            return 0; /* an older reading arrived late: the state stays */
    }
    return weir_collect_value(out, r->value, r->value_len);
}

/* ---- silence --------------------------------------------------------------------------------- */

static int silent(const weir_record *r, weir_collector *out, void *user)
{
    if (!r->value)
        return 0;
    return collect_json(out, json_pack("{s:s%, s:I, s:I, s:I}", "device", r->key, r->key_len,
                                       "first_seen", (json_int_t)r->window_start, "last_seen",
                                       (json_int_t)r->window_end, "readings",
                                       (json_int_t)atoll(r->value)));
}

static void topology(weir_streams *s)
{
    weir_stream *readings = weir_streams_source(s, "telemetry", reading_time, NULL);

    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "per-minute", WEIR_AGG_REDUCE);
    o.reduce = minute_reduce;
    o.window = weir_window_tumbling(MINUTE, 10000);
    o.emit = WEIR_EMIT_FINAL;
    o.late_topic = "telemetry-late";
    weir_stream_to(weir_stream_map_values(weir_stream_aggregate(readings, &o), minute_result, NULL),
                   "telemetry-1m");

    weir_aggregate_options_init(&o, "device-state", WEIR_AGG_REDUCE);
    o.reduce = newest;
    weir_stream_to(weir_stream_aggregate(readings, &o), "device-state");

    weir_aggregate_options_init(&o, "sessions", WEIR_AGG_COUNT);
    o.window = weir_window_session(2 * MINUTE, 10000);
    o.emit = WEIR_EMIT_FINAL;
    weir_stream_to(weir_stream_map_values(weir_stream_aggregate(readings, &o), silent, NULL),
                   "devices-silent");
}

int main(int argc, char **argv)
{
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.application_id = "iot-telemetry";
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
            fprintf(stderr, "usage: iot-telemetry --bootstrap HOST:PORT --state-dir DIR "
                            "[--app-id ID] [--exactly-once]\n");
            return 2;
        }
    }
    weir_streams *s;
    char err[256];
    if (weir_streams_new(&cfg, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "iot-telemetry: %s\n", err);
        return 1;
    }
    topology(s);
    int rc = weir_streams_run(s);
    weir_streams_counters c;
    weir_streams_stats(s, &c);
    printf("processed %llu, produced %llu, late %llu\n", (unsigned long long)c.processed,
           (unsigned long long)c.produced, (unsigned long long)c.late);
    if (rc)
        fprintf(stderr, "iot-telemetry: %s\n", weir_streams_errmsg(s));
    weir_streams_free(s);
    return rc ? 1 : 0;
}
