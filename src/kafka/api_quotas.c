/*
 * DescribeClientQuotas (key 48) 0-1 and AlterClientQuotas (key 49) 0-1: Kafka's client quotas
 * (producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate per
 * user and/or client id, connection_creation_rate per ip), as kafka-configs.sh --entity-type
 * users/clients/ips and the AdminClient manage them; the store and the rates are the broker's
 * (broker/quotas.c). Plus the protocol side of enforcement: the request's quota identity (the
 * principal's user name and the header's client id), the KIP-219 mute, and the per-IP
 * connection rate, checked when a connection opens (closed at once when over; Kafka closes it
 * after the throttle time).
 *
 * Entity names: a null or empty name is the entity type's default (kafka-configs.sh
 * --entity-default). Describe's filter follows Kafka's ClientQuotasImage: EXACT (a name, or
 * null for the default), DEFAULT, SPECIFIED (any entity with that type), strict or not; Alter
 * answers per entity, each checked and applied on its own, as Kafka's controller does.
 *
 * Both need the authorizer's CLUSTER DESCRIBE_CONFIGS / ALTER_CONFIGS (authz.c).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define QUOTA_ENTRIES_MAX    1000
#define QUOTA_COMPONENTS_MAX 16
#define QUOTA_OPS_MAX        64

static double read_f64(wire_reader_t *r)
{
    uint64_t bits = (uint64_t)wire_read_i64(r);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void write_f64(wire_writer_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    wire_write_i64(w, (int64_t)bits);
}

static int qe_type_parse(wire_str_t s)
{
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        if (wire_str_eq(s, broker_qe_type_names[c]))
            return c;
    return -1;
}

/* ---- enforcement --------------------------------------------------------------------------- */

bool kafka_quota_identity(const kafka_req_t *req, int key, char **user, char **client_id)
{
    if (!broker_quota_active(req->b, (broker_quota_key_t)key))
        return false;
    const char *p = kafka_conn_principal(req->conn);
    *user = weir_strdup(strncmp(p, "User:", 5) == 0 ? p + 5 : p);
    wire_str_t c = req->hdr.client_id;
    *client_id = c.len > 0 && !wire_str_has_nul(c) ? wire_str_dup(c) : weir_strdup("");
    return true;
}

int32_t kafka_quota_charge(struct broker *b, net_conn_t *conn, int key, const char *user,
                           const char *client_id, double amount)
{
    int32_t ms =
        broker_quota_record(b, (broker_quota_key_t)key, user, client_id, amount, clock_mono_ms());
    if (ms > 0 && conn)
        net_conn_mute(conn, ms); /* KIP-219: answered at once, then not read for ms */
    return ms;
}

void kafka_on_open(net_conn_t *conn, void *user)
{
    kafka_listener_t *lst = user;
#ifdef WEIR_FUZZ
    /* The fuzzer reconnects after every close: a quota it set must not shut it out. */
    (void)lst;
    (void)conn;
    return;
#endif
    if (!broker_quota_active(lst->b, BROKER_QUOTA_CONNECTION_CREATION_RATE))
        return;
    char host[128];
    kafka_conn_host(conn, host, sizeof(host));
    int32_t ms = broker_quota_record(lst->b, BROKER_QUOTA_CONNECTION_CREATION_RATE, host, "", 1.0,
                                     clock_mono_ms());
    if (ms > 0) {
        log_info("kafka", "closing %s: over the connection_creation_rate quota of %s",
                 net_conn_peer(conn), host);
        net_conn_close(conn);
    }
}

/* ---- DescribeClientQuotas ------------------------------------------------------------------- */

typedef struct {
    int8_t match_type[BROKER_QE__COUNT]; /* -1: not in the filter; 0 exact, 1 default, 2 any */
    char *match[BROKER_QE__COUNT];
    bool strict;
} quota_filter_t;

static bool filter_matches(const quota_filter_t *f, const broker_quota_entry_t *e)
{
    int want = 0, have = 0;
    for (int c = 0; c < BROKER_QE__COUNT; c++) {
        have += e->state[c] != BROKER_QE_ABSENT;
        if (f->match_type[c] < 0)
            continue;
        want++;
        if (e->state[c] == BROKER_QE_ABSENT)
            return false;
        if (f->match_type[c] == 1 && e->state[c] != BROKER_QE_DEFAULT)
            return false;
        if (f->match_type[c] == 0 &&
            (e->state[c] != BROKER_QE_NAMED || strcmp(e->name[c], f->match[c]) != 0))
            return false;
    }
    return !f->strict || want == have;
}

/* Decodes and checks the filter: KAFKA_NONE, or the code with msg filled; < 0: undecodable. */
static int describe_decode(wire_reader_t *r, quota_filter_t *f, char *msg, size_t cap)
{
    int code = KAFKA_NONE;
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        f->match_type[c] = -1;
    int32_t n = wire_read_array(r, 4, QUOTA_COMPONENTS_MAX);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t type = wire_read_str(r);
        int8_t mt = wire_read_i8(r);
        wire_str_t match = wire_read_nstr(r);
        wire_read_tags(r);
        if (!wire_reader_ok(r) || wire_str_has_nul(type) || wire_str_has_nul(match))
            return -WEIR_EINVAL;
        if (code != KAFKA_NONE)
            continue;
        int c = qe_type_parse(type);
        if (type.len <= 0) {
            code = KAFKA_INVALID_REQUEST;
            snprintf(msg, cap, "Invalid empty entity type.");
        } else if (c < 0) {
            code = KAFKA_UNSUPPORTED_VERSION;
            snprintf(msg, cap, "Custom entity type %.*s not supported.", (int)type.len, type.s);
        } else if (f->match_type[c] >= 0) {
            code = KAFKA_INVALID_REQUEST;
            snprintf(msg, cap, "Entity type %s cannot appear more than once in the filter.",
                     broker_qe_type_names[c]);
        } else if (mt < 0 || mt > 2) {
            code = KAFKA_INVALID_REQUEST;
            snprintf(msg, cap, "Unknown match type %d", mt);
        } else if ((mt == 0) != (match.len >= 0)) {
            code = KAFKA_INVALID_REQUEST;
            snprintf(
                msg, cap, "%s",
                mt == 0 ? "Request specified MATCH_TYPE_EXACT, but set match string to null."
                : mt == 1
                    ? "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                    : "Request specified MATCH_TYPE_SPECIFIED, but also specified a match "
                      "string.");
        } else {
            f->match_type[c] = mt;
            /* An exact match of an empty name is the default, as in Alter. */
            if (mt == 0 && match.len == 0)
                f->match_type[c] = 1;
            f->match[c] = mt == 0 ? wire_str_dup(match) : NULL;
        }
    }
    f->strict = wire_read_bool(r);
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    if (code == KAFKA_NONE && f->match_type[BROKER_QE_IP] >= 0 &&
        (f->match_type[BROKER_QE_USER] >= 0 || f->match_type[BROKER_QE_CLIENT] >= 0)) {
        code = KAFKA_INVALID_REQUEST;
        snprintf(msg, cap,
                 "Invalid entity filter component combination. IP filter component should not be "
                 "used with user or clientId filter component.");
    }
    return code;
}

static void describe_write_entry(wire_writer_t *w, const broker_quota_entry_t *e)
{
    int32_t ncomp = 0, nval = 0;
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        ncomp += e->state[c] != BROKER_QE_ABSENT;
    for (int k = 0; k < BROKER_QUOTA__COUNT; k++)
        nval += !isnan(e->value[k]);
    wire_write_array_len(w, ncomp);
    for (int c = 0; c < BROKER_QE__COUNT; c++) {
        if (e->state[c] == BROKER_QE_ABSENT)
            continue;
        wire_write_cstr(w, broker_qe_type_names[c]);
        wire_write_cstr(w, e->state[c] == BROKER_QE_NAMED ? e->name[c] : NULL);
        wire_write_tags(w);
    }
    wire_write_array_len(w, nval);
    for (int k = 0; k < BROKER_QUOTA__COUNT; k++) {
        if (isnan(e->value[k]))
            continue;
        wire_write_cstr(w, broker_quota_key_names[k]);
        write_f64(w, e->value[k]);
        wire_write_tags(w);
    }
    wire_write_tags(w);
}

int kafka_handle_describe_client_quotas(kafka_req_t *req)
{
    wire_writer_t *w = &req->w;
    quota_filter_t f;
    memset(&f, 0, sizeof(f));
    char msg[256] = "";
    int code = describe_decode(&req->r, &f, msg, sizeof(msg));
    if (code >= 0 && !kafka_authz_cluster(req, KAFKA_ACL_OP_DESCRIBE_CONFIGS)) {
        code = KAFKA_CLUSTER_AUTHORIZATION_FAILED;
        snprintf(msg, sizeof(msg), "Cluster authorization failed.");
    }
    if (code >= 0) {
        wire_write_i32(w, 0); /* throttle_time_ms */
        wire_write_i16(w, (int16_t)code);
        wire_write_cstr(w, code ? msg : NULL);
        if (code) {
            wire_write_array_len(w, -1);
        } else {
            broker_quota_entry_t *v;
            size_t n = broker_quotas_list(req->b, &v);
            int32_t cnt = 0;
            for (size_t i = 0; i < n; i++)
                cnt += filter_matches(&f, &v[i]);
            wire_write_array_len(w, cnt);
            for (size_t i = 0; i < n; i++)
                if (filter_matches(&f, &v[i]))
                    describe_write_entry(w, &v[i]);
            broker_quotas_list_free(v, n);
        }
        wire_write_tags(w);
    }
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        free(f.match[c]);
    return code < 0 ? code : KAFKA_RESPOND;
}

/* ---- AlterClientQuotas ---------------------------------------------------------------------- */

typedef struct {
    int32_t ncomp;
    wire_str_t type[QUOTA_COMPONENTS_MAX];
    wire_str_t name[QUOTA_COMPONENTS_MAX];
    int32_t nops;
    wire_str_t key[QUOTA_OPS_MAX];
    double value[QUOTA_OPS_MAX];
    bool remove[QUOTA_OPS_MAX];
} quota_alter_entry_t;

static int alter_decode_entry(wire_reader_t *r, quota_alter_entry_t *e)
{
    /* Neither array is nullable: a null one is malformed, as in Kafka (found by fuzzing). */
    e->ncomp = wire_read_array(r, 4, QUOTA_COMPONENTS_MAX);
    if (e->ncomp < 0) {
        wire_reader_fail(r);
        e->ncomp = 0;
    }
    for (int32_t i = 0; i < e->ncomp && wire_reader_ok(r); i++) {
        e->type[i] = wire_read_str(r);
        e->name[i] = wire_read_nstr(r);
        wire_read_tags(r);
        if (wire_str_has_nul(e->type[i]) || wire_str_has_nul(e->name[i]))
            wire_reader_fail(r);
    }
    e->nops = wire_read_array(r, 10, QUOTA_OPS_MAX);
    if (e->nops < 0) {
        wire_reader_fail(r);
        e->nops = 0;
    }
    for (int32_t i = 0; i < e->nops && wire_reader_ok(r); i++) {
        e->key[i] = wire_read_str(r);
        e->value[i] = read_f64(r);
        e->remove[i] = wire_read_bool(r);
        wire_read_tags(r);
        if (wire_str_has_nul(e->key[i]))
            wire_reader_fail(r);
    }
    wire_read_tags(r);
    return wire_reader_ok(r) ? 0 : -WEIR_EINVAL;
}

/* Turns the wire entry into the broker's terms and applies it; err says why not. */
static void alter_apply(kafka_req_t *req, const quota_alter_entry_t *e, bool validate_only,
                        broker_err_t *err)
{
    broker_quota_entity_t ent;
    memset(&ent, 0, sizeof(ent));
    char *names[BROKER_QE__COUNT] = {NULL, NULL, NULL};
    broker_quota_op_t ops[QUOTA_OPS_MAX];
    err->code = KAFKA_INVALID_REQUEST;
    for (int32_t i = 0; i < e->ncomp; i++) {
        int c = qe_type_parse(e->type[i]);
        if (c < 0) {
            snprintf(err->message, sizeof(err->message), "Unhandled client quota entity type: %.*s",
                     (int)e->type[i].len, e->type[i].s);
            goto out;
        }
        if (ent.state[c] != BROKER_QE_ABSENT) {
            snprintf(err->message, sizeof(err->message), "Duplicate entity type: %s",
                     broker_qe_type_names[c]);
            goto out;
        }
        bool named = e->name[i].len > 0;
        ent.state[c] = named ? BROKER_QE_NAMED : BROKER_QE_DEFAULT;
        names[c] = named ? wire_str_dup(e->name[i]) : NULL;
        ent.name[c] = names[c];
        struct in6_addr a;
        if (c == BROKER_QE_IP && named && inet_pton(AF_INET, names[c], &a) != 1 &&
            inet_pton(AF_INET6, names[c], &a) != 1) {
            snprintf(err->message, sizeof(err->message), "%s is not a valid IP", names[c]);
            goto out;
        }
    }
    for (int32_t i = 0; i < e->nops; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)e->key[i].len, e->key[i].s);
        int k = broker_quota_key_parse(key);
        if (k < 0) {
            snprintf(err->message, sizeof(err->message), "Invalid configuration key %s", key);
            goto out;
        }
        ops[i] = (broker_quota_op_t){(broker_quota_key_t)k, e->value[i], e->remove[i]};
    }
    err->code = KAFKA_NONE;
    err->message[0] = '\0';
    if (broker_quota_alter(req->b, &ent, ops, (size_t)e->nops, validate_only, err) == 0)
        err->code = KAFKA_NONE;
out:
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        free(names[c]);
}

int kafka_handle_alter_client_quotas(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t n = wire_read_array(r, 8, QUOTA_ENTRIES_MAX);
    if (!wire_reader_ok(r) || n < 0)
        return -WEIR_EINVAL;
    quota_alter_entry_t *v = n > 0 ? weir_calloc((size_t)n, sizeof(*v)) : NULL;
    for (int32_t i = 0; i < n; i++)
        if (alter_decode_entry(r, &v[i]) < 0)
            break;
    bool validate_only = wire_read_bool(r);
    wire_read_tags(r);
    if (!wire_reader_ok(r)) {
        free(v);
        return -WEIR_EINVAL;
    }
    bool allowed = kafka_authz_cluster(req, KAFKA_ACL_OP_ALTER_CONFIGS);
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n < 0 ? 0 : n);
    for (int32_t i = 0; i < n; i++) {
        broker_err_t err = {KAFKA_CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."};
        if (allowed)
            alter_apply(req, &v[i], validate_only, &err);
        wire_write_i16(w, err.code);
        wire_write_cstr(w, err.code ? err.message : NULL);
        wire_write_array_len(w, v[i].ncomp);
        for (int32_t c = 0; c < v[i].ncomp; c++) {
            wire_write_view(w, v[i].type[c]);
            wire_write_view(w, v[i].name[c]);
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    wire_write_tags(w);
    free(v);
    return KAFKA_RESPOND;
}
