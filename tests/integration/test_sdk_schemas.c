/*
 * libweir's serializers as a filter, driven by test_sdk_schemas.py against real Confluent
 * serializers (confluent-kafka) and a registry on `weir serve`:
 *
 *   test_sdk_schemas URL ser SUBJECT avro|json SCHEMA_FILE [validate]
 *       stdin: one JSON value a line; stdout: the serialized record in hex, a line each
 *   test_sdk_schemas URL de
 *       stdin: one record in hex a line; stdout: its value as JSON text, a line each
 *   test_sdk_schemas URL de-threads N
 *       as `de`, each line decoded by N threads at once on one registry client; prints the
 *       lines once, "differ" in place of a line the threads did not all decode alike
 *   test_sdk_schemas URL register SUBJECT avro|json SCHEMA_FILE
 *       stdout: "id N"
 *
 * A failure prints "error RC HTTP_STATUS ERROR_CODE MESSAGE" in place of the line (RC is the
 * WEIR_ERR_* number); `de` ends with "cache hits=H misses=M". Exit 0 unless the arguments,
 * the schema file or `register` failed.
 */
#include "weir/weir.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS_MAX 16
#define LINES_MAX   4096

static void print_error(int rc, const weir_registry_error *e)
{
    printf("error %d %d %d %s\n", rc, e->http_status, e->error_code, e->message);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int serialize_lines(weir_registry *reg, char **argv, int argc)
{
    char *schema = read_file(argv[5]);
    if (!schema) {
        fprintf(stderr, "cannot read %s\n", argv[5]);
        return 2;
    }
    weir_schema_type type = strcmp(argv[4], "avro") == 0 ? WEIR_SCHEMA_AVRO : WEIR_SCHEMA_JSON;
    unsigned flags = argc > 6 && strcmp(argv[6], "validate") == 0 ? WEIR_SERDE_VALIDATE : 0;
    weir_serializer *ser;
    weir_registry_error e;
    int rc = weir_serializer_new(reg, argv[3], type, schema, flags, &ser, &e);
    free(schema);
    if (rc) {
        print_error(rc, &e);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        void *out;
        size_t len;
        rc = weir_serialize(ser, line, (size_t)n, &out, &len, &e);
        if (rc) {
            print_error(rc, &e);
            continue;
        }
        for (size_t i = 0; i < len; i++)
            printf("%02x", ((unsigned char *)out)[i]);
        printf("\n");
        free(out);
    }
    free(line);
    weir_serializer_free(ser);
    return 0;
}

static int deserialize_lines(weir_registry *reg)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        size_t len = (size_t)n / 2;
        unsigned char *bytes = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            bytes[i] = (unsigned char)(hexval(line[2 * i]) << 4 | hexval(line[2 * i + 1]));
        char *json;
        weir_registry_error e;
        int rc = weir_deserialize(reg, bytes, len, &json, NULL, &e);
        free(bytes);
        if (rc) {
            print_error(rc, &e);
            continue;
        }
        printf("%s\n", json);
        free(json);
    }
    free(line);
    uint64_t hits, misses;
    weir_registry_cache_stats(reg, &hits, &misses);
    printf("cache hits=%llu misses=%llu\n", (unsigned long long)hits, (unsigned long long)misses);
    return 0;
}

typedef struct {
    weir_registry *reg;
    unsigned char **recs;
    size_t *lens;
    size_t n;
    char **out; /* n decoded values, or an error line */
} de_job_t;

static char *decode_one(weir_registry *reg, const unsigned char *rec, size_t len)
{
    char *json, *line;
    weir_registry_error e;
    int rc = weir_deserialize(reg, rec, len, &json, NULL, &e);
    if (rc == 0)
        return json;
    if (asprintf(&line, "error %d %d %d %s", rc, e.http_status, e.error_code, e.message) < 0)
        abort();
    return line;
}

static void *de_thread(void *arg)
{
    de_job_t *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->out[i] = decode_one(j->reg, j->recs[i], j->lens[i]);
    return NULL;
}

/* Every thread decodes every line, all at once on one client: the cache and the registry
 * client under contention; the results must agree. */
static int deserialize_threads(weir_registry *reg, int nthreads)
{
    static unsigned char *recs[LINES_MAX];
    static size_t lens[LINES_MAX];
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (n < LINES_MAX && (got = getline(&line, &cap, stdin)) > 0) {
        while (got > 0 && line[got - 1] == '\n')
            line[--got] = '\0';
        lens[n] = (size_t)got / 2;
        recs[n] = malloc(lens[n] + 1);
        for (size_t i = 0; i < lens[n]; i++)
            recs[n][i] = (unsigned char)(hexval(line[2 * i]) << 4 | hexval(line[2 * i + 1]));
        n++;
    }
    free(line);
    de_job_t jobs[THREADS_MAX];
    pthread_t t[THREADS_MAX];
    for (int k = 0; k < nthreads; k++) {
        jobs[k] = (de_job_t){reg, recs, lens, n, calloc(n + 1, sizeof(char *))};
        pthread_create(&t[k], NULL, de_thread, &jobs[k]);
    }
    for (int k = 0; k < nthreads; k++)
        pthread_join(t[k], NULL);
    for (size_t i = 0; i < n; i++) {
        bool same = true;
        for (int k = 1; k < nthreads; k++)
            same = same && strcmp(jobs[k].out[i], jobs[0].out[i]) == 0;
        printf("%s\n", same ? jobs[0].out[i] : "differ");
        free(recs[i]);
    }
    for (int k = 0; k < nthreads; k++) {
        for (size_t i = 0; i < n; i++)
            free(jobs[k].out[i]);
        free(jobs[k].out);
    }
    uint64_t hits, misses;
    weir_registry_cache_stats(reg, &hits, &misses);
    printf("cache hits=%llu misses=%llu\n", (unsigned long long)hits, (unsigned long long)misses);
    return 0;
}

static int register_schema(weir_registry *reg, char **argv)
{
    char *schema = read_file(argv[5]);
    if (!schema)
        return 2;
    int32_t id;
    weir_registry_error e;
    int rc = weir_registry_register(
        reg, argv[3], strcmp(argv[4], "avro") == 0 ? WEIR_SCHEMA_AVRO : WEIR_SCHEMA_JSON, schema,
        &id, &e);
    free(schema);
    if (rc) {
        print_error(rc, &e);
        return 1;
    }
    printf("id %d\n", (int)id);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 ||
        ((strcmp(argv[2], "ser") == 0 || strcmp(argv[2], "register") == 0) && argc < 6)) {
        fprintf(stderr, "usage: see the top of tests/integration/test_sdk_schemas.c\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    weir_registry_config cfg;
    weir_registry_config_init(&cfg);
    cfg.url = argv[1];
    weir_registry *reg;
    weir_registry_error e;
    int rc = weir_registry_new(&cfg, &reg, &e);
    if (rc) {
        print_error(rc, &e);
        return 2;
    }
    if (strcmp(argv[2], "ser") == 0)
        rc = serialize_lines(reg, argv, argc);
    else if (strcmp(argv[2], "de") == 0)
        rc = deserialize_lines(reg);
    else if (strcmp(argv[2], "de-threads") == 0 && argc > 3 && atoi(argv[3]) >= 1 &&
             atoi(argv[3]) <= THREADS_MAX)
        rc = deserialize_threads(reg, atoi(argv[3]));
    else
        rc = register_schema(reg, argv);
    weir_registry_free(reg);
    return rc;
}
