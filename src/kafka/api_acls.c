/*
 * DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), versions 1-3 (flexible
 * from 2), as Kafka 4 serves them to kafka-acls.sh, the AdminClient and `weir acl`.
 *
 * Kafka's rules: without an authorizer every answer is SECURITY_DISABLED; describing needs
 * DESCRIBE on the cluster, creating and deleting ALTER on the cluster (else
 * CLUSTER_AUTHORIZATION_FAILED). A creation is checked on its own (INVALID_REQUEST with
 * Kafka's message for an unknown type, a pattern that is not LITERAL or PREFIXED, ANY as an
 * operation or a permission, a principal that is not Type:name); the valid ones of a request
 * are added together and persisted once (broker_acls_create). Filters (describe, delete) take
 * ANY and MATCH too. Strings with a NUL refuse the request.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define ACL_REQ_MAX 100000

/* Reads a filter or a binding; strings are copied (NULL for null). false on a NUL inside. */
static bool read_binding(wire_reader_t *r, broker_acl_t *a, bool filter)
{
    a->resource_type = wire_read_i8(r);
    wire_str_t name = filter ? wire_read_nstr(r) : wire_read_str(r);
    a->pattern_type = wire_read_i8(r);
    wire_str_t principal = filter ? wire_read_nstr(r) : wire_read_str(r);
    wire_str_t host = filter ? wire_read_nstr(r) : wire_read_str(r);
    a->operation = wire_read_i8(r);
    a->permission = wire_read_i8(r);
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return false;
    bool nul = wire_str_has_nul(name) || wire_str_has_nul(principal) || wire_str_has_nul(host);
    a->resource_name = wire_str_dup(name);
    a->principal = wire_str_dup(principal);
    a->host = wire_str_dup(host);
    return !nul;
}

static void binding_deinit(broker_acl_t *a)
{
    free((char *)a->resource_name);
    free((char *)a->principal);
    free((char *)a->host);
}

/* The error every request of the family answers before looking at its contents. */
static int16_t gate(kafka_req_t *req, int8_t op, const char **msg)
{
    if (!broker_acl_enabled(req->b)) {
        *msg = "No Authorizer is configured.";
        return KAFKA_SECURITY_DISABLED;
    }
    if (!kafka_authz_cluster(req, op)) {
        *msg = NULL;
        return KAFKA_CLUSTER_AUTHORIZATION_FAILED;
    }
    return KAFKA_NONE;
}

/* Writes bindings grouped by resource pattern (they come sorted by it). */
static void write_resources(wire_writer_t *w, const broker_acl_t *v, size_t n)
{
    int32_t groups = 0;
    for (size_t i = 0; i < n; i++)
        groups += i == 0 || v[i].resource_type != v[i - 1].resource_type ||
                  v[i].pattern_type != v[i - 1].pattern_type ||
                  strcmp(v[i].resource_name, v[i - 1].resource_name) != 0;
    wire_write_array_len(w, groups);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].resource_type == v[i].resource_type &&
               v[j].pattern_type == v[i].pattern_type &&
               strcmp(v[j].resource_name, v[i].resource_name) == 0)
            j++;
        wire_write_i8(w, v[i].resource_type);
        wire_write_cstr(w, v[i].resource_name);
        wire_write_i8(w, v[i].pattern_type);
        wire_write_array_len(w, (int32_t)(j - i));
        for (size_t k = i; k < j; k++) {
            wire_write_cstr(w, v[k].principal);
            wire_write_cstr(w, v[k].host);
            wire_write_i8(w, v[k].operation);
            wire_write_i8(w, v[k].permission);
            wire_write_tags(w);
        }
        wire_write_tags(w);
        i = j;
    }
}

int kafka_handle_describe_acls(kafka_req_t *req)
{
    broker_acl_t f = {0};
    bool ok = read_binding(&req->r, &f, true);
    if (!ok || !wire_reader_ok(&req->r)) {
        binding_deinit(&f);
        return -WEIR_EINVAL;
    }
    wire_writer_t *w = &req->w;
    const char *msg = NULL;
    int16_t err = gate(req, KAFKA_ACL_OP_DESCRIBE, &msg);
    if (err == KAFKA_NONE &&
        (f.resource_type <= KAFKA_RESOURCE_UNKNOWN || f.resource_type > KAFKA_RESOURCE_USER ||
         f.pattern_type <= KAFKA_PATTERN_UNKNOWN || f.pattern_type > KAFKA_PATTERN_PREFIXED ||
         f.operation <= KAFKA_ACL_OP_UNKNOWN || f.operation > KAFKA_ACL_OP_DESCRIBE_TOKENS ||
         f.permission <= KAFKA_ACL_PERM_UNKNOWN || f.permission > KAFKA_ACL_PERM_ALLOW)) {
        err = KAFKA_INVALID_REQUEST;
        msg = "The filter has an UNKNOWN or out-of-range value";
    }
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, err);
    wire_write_cstr(w, msg);
    if (err != KAFKA_NONE) {
        wire_write_array_len(w, 0);
    } else {
        broker_acl_t *v;
        size_t n = broker_acls_describe(req->b, &f, &v);
        write_resources(w, v, n);
        broker_acls_free(v, n);
    }
    wire_write_tags(w);
    binding_deinit(&f);
    kafka_stats_count_error(req->lst->stats, req->api_row, err);
    return KAFKA_RESPOND;
}

int kafka_handle_create_acls(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int32_t n = wire_read_array(r, 8, ACL_REQ_MAX);
    broker_acl_t *v = n > 0 ? weir_calloc((size_t)n, sizeof(*v)) : NULL;
    bool ok = wire_reader_ok(r) && n >= 0;
    int32_t got = 0;
    for (; ok && got < n; got++)
        ok = read_binding(r, &v[got], false);
    wire_read_tags(r);
    int rc = KAFKA_RESPOND;
    if (!ok || !wire_reader_ok(r)) {
        rc = -WEIR_EINVAL;
        goto out;
    }
    const char *gmsg = NULL;
    int16_t gerr = gate(req, KAFKA_ACL_OP_ALTER, &gmsg);
    int16_t *errs = weir_calloc((size_t)n + 1, sizeof(*errs));
    const char **msgs = weir_calloc((size_t)n + 1, sizeof(*msgs));
    broker_acl_t *valid = weir_calloc((size_t)n + 1, sizeof(*valid));
    size_t nvalid = 0;
    for (int32_t i = 0; i < n; i++) {
        errs[i] = gerr;
        msgs[i] = gmsg;
        if (gerr == KAFKA_NONE && (errs[i] = broker_acl_check(&v[i], &msgs[i])) == KAFKA_NONE)
            valid[nvalid++] = v[i];
    }
    int crc = nvalid ? broker_acls_create(req->b, valid, nvalid) : 0;
    for (int32_t i = 0; i < n && crc < 0; i++) {
        if (errs[i] != KAFKA_NONE)
            continue;
        errs[i] = crc == -WEIR_ETOOBIG ? KAFKA_POLICY_VIOLATION : KAFKA_UNKNOWN_SERVER_ERROR;
        msgs[i] = crc == -WEIR_ETOOBIG ? "Too many ACLs: Weir keeps at most 100000"
                                       : "The ACLs could not be written to disk";
    }
    if (crc == 0 && nvalid)
        log_info("kafka", "%s: %zu ACL(s) created by %s", net_conn_peer(req->conn), nvalid,
                 kafka_conn_principal(req->conn));
    wire_writer_t *w = &req->w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++) {
        wire_write_i16(w, errs[i]);
        wire_write_cstr(w, msgs[i]);
        wire_write_tags(w);
        kafka_stats_count_error(req->lst->stats, req->api_row, errs[i]);
    }
    wire_write_tags(w);
    free(errs);
    free(msgs);
    free(valid);
out:
    for (int32_t i = 0; i < got; i++)
        binding_deinit(&v[i]);
    free(v);
    return rc;
}

int kafka_handle_delete_acls(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int32_t n = wire_read_array(r, 8, ACL_REQ_MAX);
    broker_acl_t *f = n > 0 ? weir_calloc((size_t)n, sizeof(*f)) : NULL;
    bool ok = wire_reader_ok(r) && n >= 0;
    int32_t got = 0;
    for (; ok && got < n; got++)
        ok = read_binding(r, &f[got], true);
    wire_read_tags(r);
    int rc = KAFKA_RESPOND;
    if (!ok || !wire_reader_ok(r)) {
        rc = -WEIR_EINVAL;
        goto out;
    }
    const char *msg = NULL;
    int16_t err = gate(req, KAFKA_ACL_OP_ALTER, &msg);
    broker_acl_t **out = weir_calloc((size_t)n + 1, sizeof(*out));
    size_t *nout = weir_calloc((size_t)n + 1, sizeof(*nout));
    if (err == KAFKA_NONE && n > 0 && broker_acls_delete(req->b, f, (size_t)n, out, nout) < 0) {
        err = KAFKA_UNKNOWN_SERVER_ERROR;
        msg = "The ACLs could not be written to disk";
    }
    size_t total = 0;
    wire_writer_t *w = &req->w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++) {
        wire_write_i16(w, err);
        wire_write_cstr(w, msg);
        wire_write_array_len(w, err == KAFKA_NONE ? (int32_t)nout[i] : 0);
        for (size_t k = 0; err == KAFKA_NONE && k < nout[i]; k++) {
            const broker_acl_t *a = &out[i][k];
            wire_write_i16(w, KAFKA_NONE);
            wire_write_cstr(w, NULL);
            wire_write_i8(w, a->resource_type);
            wire_write_cstr(w, a->resource_name);
            wire_write_i8(w, a->pattern_type);
            wire_write_cstr(w, a->principal);
            wire_write_cstr(w, a->host);
            wire_write_i8(w, a->operation);
            wire_write_i8(w, a->permission);
            wire_write_tags(w);
        }
        wire_write_tags(w);
        total += nout[i];
        broker_acls_free(out[i], nout[i]);
        kafka_stats_count_error(req->lst->stats, req->api_row, err);
    }
    wire_write_tags(w);
    if (err == KAFKA_NONE && total)
        log_info("kafka", "%s: ACL(s) deleted by %s", net_conn_peer(req->conn),
                 kafka_conn_principal(req->conn));
    free(out);
    free(nout);
out:
    for (int32_t i = 0; i < got; i++)
        binding_deinit(&f[i]);
    free(f);
    return rc;
}
