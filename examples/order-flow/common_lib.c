/*
 * What every order-flow program shares: the common command-line options, making the app (group,
 * store, topics, retry policy), running it, JSON in and out of events, and small SQLite helpers.
 */
#include "order_flow.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void of_opts_init(of_opts_t *o, const char *name)
{
    memset(o, 0, sizeof(*o));
    o->name = name;
    o->bootstrap = getenv("WEIR_BROKERS") ? getenv("WEIR_BROKERS") : "127.0.0.1:9092";
    o->partitions = 4;
    o->session_timeout_ms = 10000;
    o->workers = 1;
    o->log_level = WEIR_LOG_WARN;
    const char *flow = getenv("WEIR_ORDER_FLOW");
    o->flow = flow && flow[0] ? flow : "choreography";
}

bool of_orchestrated(const of_opts_t *o)
{
    return strcmp(o->flow, "orchestration") == 0;
}

bool of_opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *of_opt_value(int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

const char *of_opts_usage(void)
{
    return "  --bootstrap HOST:PORT     broker (default $WEIR_BROKERS or 127.0.0.1:9092)\n"
           "  --db PATH                 SQLite store (default ./<service>.db)\n"
           "  --partitions N            partitions of the topics it creates (default 4)\n"
           "  --instance-id ID          static group membership (fast restarts); exactly once:\n"
           "                            the transactional id is <service>-ID (default ID 1)\n"
           "  --session-timeout-ms N    group session timeout (default 10000)\n"
           "  --workers N               handler threads (default 1)\n"
           "  --log-level LEVEL         debug, info, warn or error (default warn)\n"
           "  --metrics-listen H:P      serve GET /metrics there (Prometheus text)\n"
           "  --otlp-endpoint URL       export spans to this OTLP/HTTP collector\n"
           "                            (default $OTEL_EXPORTER_OTLP_ENDPOINT; none if unset)\n"
           "  --registry URL            schema registry (http://127.0.0.1:8081 on weir serve):\n"
           "                            register the event schemas at start, send and read\n"
           "                            events in its wire format (default: plain JSON)\n"
           "  --schema TOPIC=FILE       with --registry: TOPIC's schema from FILE (JSON Schema)\n"
           "  --flow STYLE              choreography (events) or orchestration (order-saga's\n"
           "                            commands); default $WEIR_ORDER_FLOW, else choreography\n";
}

static int parse_int(const char *name, const char *v, int min, int max, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < min || x > max) {
        fprintf(stderr, "%s: expects a number in %d..%d\n", name, min, max);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int of_opts_parse(of_opts_t *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (of_opt_is(a, "--bootstrap")) {
        o->bootstrap = of_opt_value(argc, argv, i);
        return o->bootstrap ? 1 : -1;
    }
    if (of_opt_is(a, "--flow")) {
        o->flow = of_opt_value(argc, argv, i);
        return o->flow ? 1 : -1;
    }
    if (of_opt_is(a, "--db")) {
        o->db_path = of_opt_value(argc, argv, i);
        return o->db_path ? 1 : -1;
    }
    if (of_opt_is(a, "--metrics-listen")) {
        o->metrics_listen = of_opt_value(argc, argv, i);
        return o->metrics_listen ? 1 : -1;
    }
    if (of_opt_is(a, "--otlp-endpoint")) {
        o->otlp_endpoint = of_opt_value(argc, argv, i);
        return o->otlp_endpoint ? 1 : -1;
    }
    if (of_opt_is(a, "--registry")) {
        o->registry = of_opt_value(argc, argv, i);
        return o->registry ? 1 : -1;
    }
    if (of_opt_is(a, "--schema")) {
        const char *v = of_opt_value(argc, argv, i);
        const char *eq = v ? strchr(v, '=') : NULL;
        char topic[64] = "";
        if (eq && (size_t)(eq - v) < sizeof(topic))
            memcpy(topic, v, (size_t)(eq - v));
        if (!of_schema_builtin(topic) || o->nschema_files >= OF_SCHEMA_FILES_MAX) {
            fprintf(stderr, "--schema: expects TOPIC=FILE, TOPIC one of orders, payments, "
                            "inventory, payments.ledger\n");
            return -1;
        }
        o->schema_files[o->nschema_files++] = v;
        return 1;
    }
    if (of_opt_is(a, "--instance-id")) {
        o->instance_id = of_opt_value(argc, argv, i);
        return o->instance_id ? 1 : -1;
    }
    if (of_opt_is(a, "--partitions"))
        return parse_int(a, of_opt_value(argc, argv, i), 1, 1000, &o->partitions) ? -1 : 1;
    if (of_opt_is(a, "--session-timeout-ms"))
        return parse_int(a, of_opt_value(argc, argv, i), 1000, 600000, &o->session_timeout_ms) ? -1
                                                                                               : 1;
    if (of_opt_is(a, "--workers"))
        return parse_int(a, of_opt_value(argc, argv, i), 1, 64, &o->workers) ? -1 : 1;
    if (of_opt_is(a, "--log-level")) {
        const char *v = of_opt_value(argc, argv, i);
        static const char *const names[] = {"debug", "info", "warn", "error"};
        for (int l = 0; v && l < 4; l++) {
            if (strcmp(v, names[l]) == 0) {
                o->log_level = l;
                return 1;
            }
        }
        fprintf(stderr, "--log-level: debug, info, warn or error\n");
        return -1;
    }
    return 0;
}

void of_log(const char *name, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, name, msg);
}

int64_t of_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *log_names[] = {"debug", "info", "warn", "error"};

static void app_log(int level, const char *message, void *user)
{
    of_log((const char *)user, "%s: %s", log_names[level < 0 ? 0 : level > 3 ? 3 : level], message);
}

weir_app *of_app_new(const of_opts_t *o)
{
    static char db_default[256];
    char instance[300];
    const char *settings[4] = {NULL};
    size_t ns = 0;
    if (strcmp(o->flow, "choreography") != 0 && strcmp(o->flow, "orchestration") != 0) {
        fprintf(stderr,
                "%s: unknown flow '%s' (--flow or WEIR_ORDER_FLOW: choreography or "
                "orchestration)\n",
                o->name, o->flow);
        return NULL;
    }
    if (o->instance_id) {
        snprintf(instance, sizeof(instance), "consumer.group.instance.id=%s", o->instance_id);
        settings[ns++] = instance;
    }
    /* Lower latency for a chain of services: send at once, poll the broker often. */
    settings[ns++] = "producer.linger.ms=1";
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = o->bootstrap;
    cfg.group = o->name;
    if (o->db_path) {
        cfg.db_path = o->db_path;
    } else {
        snprintf(db_default, sizeof(db_default), "%s.db", o->name);
        cfg.db_path = db_default;
    }
    cfg.session_timeout_ms = o->session_timeout_ms;
    cfg.workers = o->workers;
    cfg.commit_interval_ms = 200;
    cfg.outbox_poll_ms = 100;
    cfg.create_topic_partitions = o->partitions;
    cfg.settings = settings;
    cfg.log = app_log;
    cfg.log_user = (void *)o->name;
    cfg.log_level = o->log_level;
    cfg.metrics_listen = o->metrics_listen;
    cfg.otlp_endpoint = o->otlp_endpoint;
    cfg.service_name = o->name;
    if (o->exactly_once) {
        cfg.exactly_once = true;
        cfg.instance_id = o->instance_id ? o->instance_id : "1";
    }
    weir_app *app;
    char err[512];
    if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) {
        of_log(o->name, "cannot start: %s", err);
        return NULL;
    }
    if (of_schemas_start(o) != 0) {
        weir_app_free(app);
        return NULL;
    }
    if (weir_app_metrics_address(app))
        of_log(o->name, "metrics on http://%s/metrics", weir_app_metrics_address(app));
    return app;
}

int of_topics_create(weir_app *app, int partitions)
{
    /* Each service makes every topic of the flow, so whichever starts first, the topics get
     * the right partition count before anyone produces to them. */
    const char *topics[] = {OF_TOPIC_ORDERS, OF_TOPIC_PAYMENTS, OF_TOPIC_INVENTORY,
                            OF_TOPIC_LEDGER};
    int rc = 0;
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (weir_app_create_topic(app, topics[i], partitions) != 0)
            rc = -1;
    return rc;
}

int of_saga_reply(weir_ctx *ctx, const weir_event *cmd, weir_saga_outcome outcome,
                  const char *reason)
{
    json_t *o = reason ? json_pack("{s:s}", "reason", reason) : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int r = weir_saga_reply(ctx, cmd, outcome, text);
    free(text);
    return r;
}

int of_saga_topics_create(weir_app *app, int partitions)
{
    const char *topics[] = {OF_TOPIC_PAYMENT_CMDS, OF_TOPIC_INVENTORY_CMDS, OF_TOPIC_SHIPPING_CMDS,
                            OF_TOPIC_SHIPPING, OF_SAGA_NAME ".replies"};
    int rc = of_topics_create(app, partitions);
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (weir_app_create_topic(app, topics[i], partitions) != 0)
            rc = -1;
    return rc;
}

weir_route_options of_route(int max_attempts, int64_t initial_backoff_ms)
{
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.max_attempts = max_attempts;
    o.retry.initial_backoff_ms = initial_backoff_ms;
    o.retry.max_backoff_ms = 2000;
    return o;
}

weir_route_options of_route_tx(int max_attempts, int64_t initial_backoff_ms)
{
    weir_route_options o = of_route(max_attempts, initial_backoff_ms);
    o.transactional = true;
    return o;
}

int of_app_run_and_report(weir_app *app, const char *name)
{
    int rc = weir_app_run(app);
    weir_stats s;
    weir_app_stats(app, &s);
    of_log(name,
           "stopped%s%s: received %llu, handled %llu, handler calls %llu, retried %llu, "
           "dead-lettered %llu, deduplicated %llu, emitted %llu, published %llu, "
           "transactions %llu, aborted %llu",
           rc ? ": " : "", rc ? weir_app_errmsg(app) : "", (unsigned long long)s.received,
           (unsigned long long)s.handled, (unsigned long long)s.handler_calls,
           (unsigned long long)s.retried, (unsigned long long)s.dead_lettered,
           (unsigned long long)s.deduplicated, (unsigned long long)s.emitted,
           (unsigned long long)s.outbox_published, (unsigned long long)s.transactions,
           (unsigned long long)s.aborts);
    return rc ? 1 : 0;
}

/* The JSON object obj (consumed) as an event of order_id on topic, encoded as the topic's schema
 * says: emitted from a handler (ctx) or queued in app's outbox on db (ctx NULL). */
static int send_json(weir_ctx *ctx, weir_app *app, sqlite3 *db, const char *name, const char *topic,
                     const char *type, const char *order_id, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return -1;
    void *value;
    size_t len;
    const char *schema_url;
    char err[512];
    int rc = of_value_encode(topic, text, &value, &len, &schema_url, err, sizeof(err));
    free(text);
    if (rc) {
        if (ctx)
            weir_ctx_set_error(ctx, "%s: %s", type, err);
        else
            of_log(name, "%s refused by its schema: %s", type, err);
        return -1;
    }
    const char *headers[] = {"ce_dataschema", schema_url, NULL};
    weir_message m;
    weir_message_init(&m);
    m.topic = topic;
    m.type = type;
    m.key = order_id;
    m.value = value;
    m.value_len = len;
    m.subject = order_id;
    m.headers = schema_url ? headers : NULL;
    rc = ctx ? weir_emit_message(ctx, &m) : weir_outbox_add(app, db, &m);
    free(value);
    return rc;
}

int of_emit_json(weir_ctx *ctx, const char *topic, const char *type, const char *order_id,
                 json_t *obj)
{
    return send_json(ctx, NULL, NULL, NULL, topic, type, order_id, obj);
}

int of_outbox_json(weir_app *app, sqlite3 *db, const char *name, const char *topic,
                   const char *type, const char *order_id, json_t *obj)
{
    return send_json(NULL, app, db, name, topic, type, order_id, obj);
}

json_t *of_event_json(weir_ctx *ctx, const weir_event *ev)
{
    size_t n;
    const char *v = weir_event_value(ev, &n);
    char err[512] = "";
    json_t *j = v ? of_value_decode(v, n, err, sizeof(err)) : NULL;
    if (!j || !json_is_object(j)) {
        weir_ctx_set_error(ctx, "%s: payload is not a JSON object%s%s",
                           weir_event_type(ev) ? weir_event_type(ev) : "event", j ? "" : ": ",
                           j ? "" : (v ? err : "null value"));
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *of_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int of_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int of_sql(sqlite3 *db, const char *sql, const char *types, of_row_fn row, void *arg, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sql: %s: %s\n", sql, sqlite3_errmsg(db));
        return -1;
    }
    va_list ap;
    va_start(ap, arg);
    for (int i = 0; types && types[i]; i++) {
        switch (types[i]) {
        case 't':
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'i':
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'd':
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
            break;
        default:
            break;
        }
    }
    va_end(ap);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row)
            row(st, arg);
    if (rc != SQLITE_DONE)
        fprintf(stderr, "sql: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void of_log_order(const char *name, weir_ctx *ctx, const char *traceparent, const char *order_id,
                  const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *tp = ctx ? weir_ctx_traceparent(ctx) : traceparent;
    /* "00-<32 hex trace id>-...": the trace id is what the journey is looked up by. */
    if (tp && strlen(tp) >= 35)
        of_log(name, "order %s: %s trace=%.32s", order_id, what, tp + 3);
    else
        of_log(name, "order %s: %s", order_id, what);
}
