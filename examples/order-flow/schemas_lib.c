/*
 * The order flow's event schemas (JSON Schema) and their use through libweir's serializers.
 *
 * With --registry URL each service registers, at start, the schema of every topic it writes
 * under the topic's TopicNameStrategy subject ("<topic>-value"), and stops with the registry's
 * answer if it is refused (409: incompatible with what the subject holds; 422: invalid). Its
 * events then travel in the schema registry's wire format (magic byte 0, schema id, the JSON
 * text), checked against the schema before they leave (WEIR_SERDE_VALIDATE), with a CloudEvents
 * ce_dataschema header naming the schema; events read are decoded by the id they carry.
 * Without --registry the events are plain JSON, as before.
 *
 * Why JSON Schema and not Avro: the services build and read their events as JSON (jansson), the
 * events stay readable by any tool (`weir consume --decode`, the console, jq), and a topic
 * carries several event types (ce_type tells them apart) that one schema per subject describes
 * as one object with the type-specific fields optional. The content models are closed
 * (additionalProperties: false): under BACKWARD compatibility a closed model may gain an
 * optional property in a later version, while an open one may not (Confluent's rules), and a
 * misspelt field is caught at the producer.
 *
 * --schema TOPIC=FILE replaces a topic's schema by a file's: how a new version of an event is
 * tried (docs/order-flow.md, "Schemas").
 */
#include "order_flow.h"

#include <stdlib.h>
#include <string.h>

/* Properties every event of a topic may have; "order_id" is in every event and required. */
#define OF_SCHEMA_HEAD(title)                                                                      \
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"title\":\"" title "\","            \
    "\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"order_id\"],"              \
    "\"properties\":{\"order_id\":{\"type\":\"string\",\"minLength\":1}"
#define OF_SCHEMA_ITEMS                                                                            \
    ",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":"      \
    "false,"                                                                                       \
    "\"required\":[\"sku\",\"qty\"],\"properties\":{\"sku\":{\"type\":\"string\"},"                \
    "\"qty\":{\"type\":\"integer\",\"minimum\":1}}}}"
#define OF_SCHEMA_AMOUNT ",\"amount\":{\"type\":\"number\",\"minimum\":0}"
#define OF_SCHEMA_REASON ",\"reason\":{\"type\":\"string\"}"

static const struct {
    const char *topic;
    const char *schema;
} builtin[] = {
    {OF_TOPIC_ORDERS,
     OF_SCHEMA_HEAD(
         "orders: OrderPlaced, OrderConfirmed, OrderCancelled") ",\"user_id\":{\"type\":"
                                                                "\"string\"}" OF_SCHEMA_ITEMS
                                                                    OF_SCHEMA_AMOUNT
                                                                ",\"created_ms\":{\"type\":"
                                                                "\"integer\"}" OF_SCHEMA_REASON
                                                                "}}"},
    {OF_TOPIC_PAYMENTS, OF_SCHEMA_HEAD("payments: PaymentSucceeded, PaymentFailed, PaymentRefunded")
                            OF_SCHEMA_AMOUNT OF_SCHEMA_REASON "}}"},
    {OF_TOPIC_INVENTORY, OF_SCHEMA_HEAD("inventory: StockReserved, StockRejected, StockReleased")
                             OF_SCHEMA_ITEMS OF_SCHEMA_REASON "}}"},
    {OF_TOPIC_LEDGER,
     OF_SCHEMA_HEAD("payments.ledger: PaymentCaptured, PaymentRefunded") OF_SCHEMA_AMOUNT "}}"},
};
#define OF_NTOPICS (sizeof(builtin) / sizeof(builtin[0]))

/* Set once at start (of_schemas_start), read by every thread after. */
static weir_registry *registry;
static weir_serializer *serializers[OF_NTOPICS];
static char *dataschema[OF_NTOPICS]; /* "<registry>/schemas/ids/<id>" */
static char *registry_url;

static int topic_index(const char *topic)
{
    for (size_t i = 0; i < OF_NTOPICS; i++)
        if (strcmp(builtin[i].topic, topic) == 0)
            return (int)i;
    return -1;
}

const char *of_schema_builtin(const char *topic)
{
    int i = topic_index(topic);
    return i < 0 ? NULL : builtin[i].schema;
}

/* The schema of topic: the --schema file given for it, else the built-in one. *owned is what
 * to free. */
static const char *schema_of(const of_opts_t *o, const char *topic, char **owned)
{
    *owned = NULL;
    size_t tn = strlen(topic);
    for (int i = 0; i < o->nschema_files; i++) {
        const char *a = o->schema_files[i];
        if (strncmp(a, topic, tn) != 0 || a[tn] != '=')
            continue;
        FILE *f = fopen(a + tn + 1, "rb");
        if (!f) {
            of_log(o->name, "cannot read the schema file %s", a + tn + 1);
            return NULL;
        }
        char *buf = calloc(1, 1 << 20);
        size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        *owned = buf;
        (void)n;
        return buf;
    }
    return of_schema_builtin(topic);
}

static void schemas_stop(void)
{
    for (size_t i = 0; i < OF_NTOPICS; i++) {
        weir_serializer_free(serializers[i]);
        free(dataschema[i]);
        serializers[i] = NULL;
        dataschema[i] = NULL;
    }
    weir_registry_free(registry);
    registry = NULL;
    free(registry_url);
    registry_url = NULL;
}

/* Registers the schema of one topic the service writes; on a refusal, says why and how. */
static int register_topic(const of_opts_t *o, const char *topic)
{
    int i = topic_index(topic);
    char *owned;
    const char *schema = i < 0 ? NULL : schema_of(o, topic, &owned);
    if (!schema)
        return -1;
    char subject[128];
    snprintf(subject, sizeof(subject), "%s-value", topic); /* TopicNameStrategy */
    weir_registry_error e;
    int rc = weir_serializer_new(registry, subject, WEIR_SCHEMA_JSON, schema, WEIR_SERDE_VALIDATE,
                                 &serializers[i], &e);
    free(owned);
    if (rc && e.http_status == 0) { /* not an answer: no registry there, a schema file... */
        of_log(o->name, "cannot start: the schema of topic %s (subject %s) was not registered: %s",
               topic, subject, e.message);
        return -1;
    }
    if (rc) {
        of_log(o->name,
               "cannot start: the registry at %s refused the schema of topic %s (subject %s): "
               "HTTP %d, error_code %d: %s",
               o->registry, topic, subject, e.http_status, e.error_code, e.message);
        if (e.http_status && e.error_code == 409)
            of_log(o->name,
                   "the new schema is incompatible with the versions registered under "
                   "%s: keep old events readable (add optional fields only), or "
                   "publish under a new topic",
                   subject);
        return -1;
    }
    if (asprintf(&dataschema[i], "%s/schemas/ids/%d", registry_url,
                 (int)weir_serializer_id(serializers[i])) < 0)
        abort();
    of_log(o->name, "schema of %s registered as %s id %d", topic, subject,
           (int)weir_serializer_id(serializers[i]));
    return 0;
}

int of_schemas_start(const of_opts_t *o)
{
    if (!o->registry)
        return 0;
    atexit(schemas_stop);
    registry_url = strdup(o->registry);
    size_t n = strlen(registry_url);
    while (n > 0 && registry_url[n - 1] == '/')
        registry_url[--n] = '\0';
    weir_registry_config cfg;
    weir_registry_config_init(&cfg);
    cfg.url = registry_url;
    weir_registry_error e;
    if (weir_registry_new(&cfg, &registry, &e) != 0) {
        of_log(o->name, "--registry %s: %s", o->registry, e.message);
        return -1;
    }
    for (int f = 0; f < o->nschema_files; f++) {
        size_t tn = strcspn(o->schema_files[f], "=");
        bool written = false;
        for (size_t i = 0; o->writes && o->writes[i]; i++)
            written = written || (strlen(o->writes[i]) == tn &&
                                  strncmp(o->writes[i], o->schema_files[f], tn) == 0);
        if (!written) {
            of_log(o->name, "--schema %s: %s does not write that topic", o->schema_files[f],
                   o->name);
            return -1;
        }
    }
    for (size_t i = 0; o->writes && o->writes[i]; i++)
        if (register_topic(o, o->writes[i]) != 0)
            return -1;
    return 0;
}

int of_value_encode(const char *topic, const char *json, void **out, size_t *len,
                    const char **schema_url, char *err, size_t errlen)
{
    *out = NULL;
    *schema_url = NULL;
    int i = topic_index(topic);
    if (!registry || i < 0 || !serializers[i]) {
        *out = strdup(json); /* no registry: the JSON text as it is */
        *len = strlen(json);
        return 0;
    }
    weir_registry_error e;
    if (weir_serialize(serializers[i], json, 0, out, len, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    *schema_url = dataschema[i];
    return 0;
}

json_t *of_value_decode(const void *value, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = value;
    json_error_t jerr;
    if (len == 0 || p[0] != 0) { /* plain JSON: no registry, or written before one was used */
        json_t *j = json_loadb(value, len, 0, &jerr);
        if (!j)
            snprintf(err, errlen, "%s", jerr.text);
        return j;
    }
    if (!registry) {
        snprintf(err, errlen,
                 "the value is in the schema registry's wire format: start the "
                 "service with --registry URL");
        return NULL;
    }
    char *text;
    weir_registry_error e;
    if (weir_deserialize(registry, value, len, &text, NULL, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return NULL;
    }
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        snprintf(err, errlen, "%s", jerr.text);
    free(text);
    return j;
}
