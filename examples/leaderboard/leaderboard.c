/*
 * leaderboard: a live leaderboard served over HTTP from a libweir streams table.
 *
 *   scores              key player id, value the points of one game ("25")
 *   players             key player id, value the player's name (compacted: the register)
 *   leaderboard-totals  every change of a player's total (the store's changelog stream)
 *
 *   GET /top?n=10       {"top":[{"rank":1,"player":"p0042","name":"Ada","score":1234},...]}
 *                       highest score first, ties by player id; n at most 1000
 *   GET /players/<id>   {"player":"p0042","name":"Ada","score":1234}, or 404
 *   GET /health         {"status":"ok","ready":true}
 *
 * The totals are a running SUM per player (store "totals"); names come from the table
 * "players". HTTP threads read both through weir_streams_get/scan: the state as of the last
 * commit, at most commit_interval_ms behind the scores. With several instances each serves the
 * players of its own partitions (a real deployment would ask each and merge).
 *
 *   leaderboard --bootstrap HOST:PORT --state-dir DIR [--http 127.0.0.1:0] [--app-id ID]
 * prints "http on HOST:PORT" once it listens.
 */
#include <weir/streams.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP_MAX 1000

static weir_streams *app;

typedef struct {
    char player[64];
    double score;
} entry_t;

typedef struct {
    entry_t *best; /* sorted, best first */
    size_t n, max;
} top_t;

static bool better(const entry_t *a, const entry_t *b)
{
    return a->score > b->score || (a->score == b->score && strcmp(a->player, b->player) < 0);
}

/* Keeps the max best rows: an insertion into a sorted array of at most TOP_MAX. */
static int top_row(const weir_row *row, void *user)
{
    top_t *t = user;
    entry_t e;
    snprintf(e.player, sizeof(e.player), "%.*s", (int)row->key_len, (const char *)row->key);
    char num[64];
    snprintf(num, sizeof(num), "%.*s", (int)row->value_len, (const char *)row->value);
    e.score = atof(num);
    if (t->n == t->max && !better(&e, &t->best[t->n - 1]))
        return 0;
    size_t i = t->n < t->max ? t->n++ : t->n - 1;
    while (i > 0 && better(&e, &t->best[i - 1])) {
        t->best[i] = t->best[i - 1];
        i--;
    }
    t->best[i] = e;
    return 0;
}

static json_t *player_json(const char *id, double score)
{
    void *name = NULL;
    size_t len = 0;
    weir_streams_get(app, "players", id, strlen(id), &name, &len);
    json_t *j = json_pack("{s:s, s:s, s:f}", "player", id, "name", name ? (char *)name : "",
                          "score", score);
    free(name);
    return j;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result get_top(struct MHD_Connection *c)
{
    const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
    long n = ns ? atol(ns) : 10;
    if (n < 1 || n > TOP_MAX)
        return reply(c, MHD_HTTP_BAD_REQUEST, json_pack("{s:s}", "error", "n must be 1..1000"));
    top_t t = {calloc((size_t)n, sizeof(entry_t)), 0, (size_t)n};
    if (!t.best || weir_streams_scan(app, "totals", top_row, &t) != 0) {
        free(t.best);
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, json_pack("{s:s}", "error", "store"));
    }
    json_t *list = json_array();
    for (size_t i = 0; i < t.n; i++) {
        json_t *p = player_json(t.best[i].player, t.best[i].score);
        json_object_set_new(p, "rank", json_integer((json_int_t)i + 1));
        json_array_append_new(list, p);
    }
    free(t.best);
    return reply(c, MHD_HTTP_OK, json_pack("{s:o}", "top", list));
}

static enum MHD_Result get_player(struct MHD_Connection *c, const char *id)
{
    void *v;
    size_t len;
    if (!id[0] || weir_streams_get(app, "totals", id, strlen(id), &v, &len) != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "error", "no such player"));
    double score = atof(v);
    free(v);
    return reply(c, MHD_HTTP_OK, player_json(id, score));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **state)
{
    if (strcmp(method, "GET") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, json_pack("{s:s}", "error", "GET only"));
    if (strcmp(url, "/top") == 0)
        return get_top(c);
    if (strncmp(url, "/players/", 9) == 0)
        return get_player(c, url + 9);
    if (strcmp(url, "/health") == 0)
        return reply(c, MHD_HTTP_OK,
                     json_pack("{s:s, s:b}", "status", "ok", "ready", weir_streams_ready(app)));
    return reply(c, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "error", "not found"));
}

static struct MHD_Daemon *http_start(const char *hostport)
{
    char host[64] = "127.0.0.1";
    int port = 0;
    if (sscanf(hostport, "%63[^:]:%d", host, &port) != 2)
        return NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return NULL;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_request,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("http on %s:%u\n", host, info ? info->port : 0);
    fflush(stdout);
    return d;
}

int main(int argc, char **argv)
{
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.application_id = "leaderboard";
    const char *http = "127.0.0.1:8090";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc)
            cfg.bootstrap = argv[++i];
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            cfg.state_dir = argv[++i];
        else if (strcmp(argv[i], "--app-id") == 0 && i + 1 < argc)
            cfg.application_id = argv[++i];
        else if (strcmp(argv[i], "--http") == 0 && i + 1 < argc)
            http = argv[++i];
        else {
            fprintf(stderr, "usage: leaderboard --bootstrap HOST:PORT --state-dir DIR "
                            "[--http HOST:PORT] [--app-id ID]\n");
            return 2;
        }
    }
    char err[256];
    if (weir_streams_new(&cfg, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "leaderboard: %s\n", err);
        return 1;
    }
    weir_streams_table(app, "players", "players");
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "totals", WEIR_AGG_SUM);
    weir_stream_to(weir_stream_aggregate(weir_streams_source(app, "scores", NULL, NULL), &o),
                   "leaderboard-totals");
    struct MHD_Daemon *d = http_start(http);
    if (!d) {
        fprintf(stderr, "leaderboard: cannot listen on %s\n", http);
        weir_streams_free(app);
        return 1;
    }
    int rc = weir_streams_run(app);
    MHD_stop_daemon(d);
    if (rc)
        fprintf(stderr, "leaderboard: %s\n", weir_streams_errmsg(app));
    weir_streams_free(app);
    return rc ? 1 : 0;
}
