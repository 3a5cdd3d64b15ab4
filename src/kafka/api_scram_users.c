/*
 * DescribeUserScramCredentials (key 50) 0 and AlterUserScramCredentials (key 51) 0: the users
 * of SASL/SCRAM (and PLAIN, which checks the same credentials), as kafka-configs.sh
 * --entity-type users, the AdminClient and `weir user` manage them.
 *
 * Alter follows Kafka's controller: a client sends the salt and the salted password (never
 * the password); per user, every deletion and upsertion of the request is checked first
 * (a mechanism Kafka knows, iterations within 4096..16384, a name, no credential named twice,
 * a deletion of something that exists) and either all of that user's changes apply or none
 * does, with one result per user in the order users first appear. Answered at once: a change
 * rewrites and syncs the small credentials file (broker/users.c).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

#define SCRAM_OPS_MAX 10000

int kafka_handle_describe_user_scram_credentials(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t n = wire_read_array(r, 2, SCRAM_OPS_MAX);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    char **names = n > 0 ? weir_calloc((size_t)n, sizeof(*names)) : NULL;
    bool bad = false;
    for (int32_t i = 0; i < n; i++) {
        wire_str_t s = wire_read_str(r);
        wire_read_tags(r);
        if (!wire_reader_ok(r))
            break;
        bad = bad || wire_str_has_nul(s);
        names[i] = wire_str_dup(s);
    }
    wire_read_tags(r);
    int rc = 0;
    if (!wire_reader_ok(r) || bad) {
        rc = -WEIR_EINVAL;
        goto out;
    }
    if (!kafka_authz_cluster(req, KAFKA_ACL_OP_DESCRIBE)) { /* Kafka's check (authz.c) */
        wire_write_i32(w, 0);
        wire_write_i16(w, KAFKA_CLUSTER_AUTHORIZATION_FAILED);
        wire_write_cstr(w, NULL);
        wire_write_array_len(w, 0);
        wire_write_tags(w);
        goto out;
    }
    broker_user_info_t *users;
    size_t nusers = broker_users_list(req->b, &users);
    wire_write_i32(w, 0);          /* throttle_time_ms */
    wire_write_i16(w, KAFKA_NONE); /* error_code */
    wire_write_cstr(w, NULL);      /* error_message */
    if (n <= 0) {                  /* null or empty: every user */
        wire_write_array_len(w, (int32_t)nusers);
        for (size_t u = 0; u < nusers; u++) {
            wire_write_cstr(w, users[u].name);
            wire_write_i16(w, KAFKA_NONE);
            wire_write_cstr(w, NULL);
            int32_t k = 0;
            for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
                k += users[u].iterations[m] > 0;
            wire_write_array_len(w, k);
            for (int m = 0; m < AUTH_SCRAM__COUNT; m++) {
                if (users[u].iterations[m] <= 0)
                    continue;
                wire_write_i8(w, auth_scram_mech_kafka_type((auth_mech_t)m));
                wire_write_i32(w, users[u].iterations[m]);
                wire_write_tags(w);
            }
            wire_write_tags(w);
        }
    } else {
        wire_write_array_len(w, n);
        for (int32_t i = 0; i < n; i++) {
            bool dup = false;
            for (int32_t j = 0; j < n && !dup; j++)
                dup = j != i && strcmp(names[j], names[i]) == 0;
            const broker_user_info_t *found = NULL;
            for (size_t u = 0; u < nusers && !found; u++)
                if (strcmp(users[u].name, names[i]) == 0)
                    found = &users[u];
            wire_write_cstr(w, names[i]);
            char msg[AUTH_USER_MAX + 128];
            if (dup || !found) {
                snprintf(msg, sizeof(msg),
                         dup ? "Cannot describe SCRAM credentials for the same user twice in a "
                               "single request: %s"
                             : "Attempt to describe a user credential that does not exist: %s",
                         names[i]);
                wire_write_i16(w, dup ? KAFKA_DUPLICATE_RESOURCE : KAFKA_RESOURCE_NOT_FOUND);
                wire_write_cstr(w, msg);
                wire_write_array_len(w, 0);
            } else {
                wire_write_i16(w, KAFKA_NONE);
                wire_write_cstr(w, NULL);
                int32_t k = 0;
                for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
                    k += found->iterations[m] > 0;
                wire_write_array_len(w, k);
                for (int m = 0; m < AUTH_SCRAM__COUNT; m++) {
                    if (found->iterations[m] <= 0)
                        continue;
                    wire_write_i8(w, auth_scram_mech_kafka_type((auth_mech_t)m));
                    wire_write_i32(w, found->iterations[m]);
                    wire_write_tags(w);
                }
            }
            wire_write_tags(w);
        }
    }
    wire_write_tags(w);
    broker_users_list_free(users, nusers);
out:
    for (int32_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc < 0 ? rc : KAFKA_RESPOND;
}

typedef struct {
    char *user;
    int8_t mech; /* Kafka's type: 1, 2; anything else is unknown */
    bool upsert;
    int32_t iterations;
    wire_bytes_t salt, salted; /* views into the frame */
} scram_op_t;

/* The first problem with one user's operations (Kafka's code and message), or KAFKA_NONE. */
static int16_t user_ops_check(broker_t *b, const scram_op_t *ops, size_t nops, const char *user,
                              const char **msg)
{
    for (size_t i = 0; i < nops; i++) {
        const scram_op_t *op = &ops[i];
        if (strcmp(op->user, user) != 0)
            continue;
        if (!*op->user || !broker_user_name_ok(op->user)) {
            *msg = "Username must not be empty";
            return KAFKA_UNACCEPTABLE_CREDENTIAL;
        }
        int m = auth_scram_mech_from_kafka_type(op->mech);
        if (m < 0) {
            *msg = "Unknown SCRAM mechanism";
            return KAFKA_UNSUPPORTED_SASL_MECHANISM;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ops[j].user, user) == 0 && ops[j].mech == op->mech) {
                *msg = "A user credential cannot be altered twice in the same request";
                return KAFKA_DUPLICATE_RESOURCE;
            }
        }
        if (!op->upsert) {
            auth_scram_cred_t c;
            if (broker_user_scram_get(b, user, (auth_mech_t)m, &c) < 0) {
                *msg = "Attempt to delete a user credential that does not exist";
                return KAFKA_RESOURCE_NOT_FOUND;
            }
            continue;
        }
        if (op->iterations < AUTH_SCRAM_ITER_MIN) {
            *msg = "Too few iterations";
            return KAFKA_UNACCEPTABLE_CREDENTIAL;
        }
        if (op->iterations > AUTH_SCRAM_ITER_MAX) {
            *msg = "Too many iterations";
            return KAFKA_UNACCEPTABLE_CREDENTIAL;
        }
        if (op->salt.len <= 0 || op->salt.len > AUTH_SALT_MAX ||
            (size_t)op->salted.len != auth_scram_key_len((auth_mech_t)m)) {
            *msg = "Invalid salt or salted password";
            return KAFKA_UNACCEPTABLE_CREDENTIAL;
        }
    }
    return KAFKA_NONE;
}

static int16_t user_ops_apply(broker_t *b, const scram_op_t *ops, size_t nops, const char *user,
                              const char **msg)
{
    for (size_t i = 0; i < nops; i++) {
        const scram_op_t *op = &ops[i];
        if (strcmp(op->user, user) != 0)
            continue;
        auth_mech_t m = (auth_mech_t)auth_scram_mech_from_kafka_type(op->mech);
        int rc;
        if (op->upsert) {
            auth_scram_cred_t c;
            rc = auth_scram_cred_from_salted(m, op->salt.p, (size_t)op->salt.len, op->iterations,
                                             op->salted.p, (size_t)op->salted.len, &c);
            if (rc == 0)
                rc = broker_user_scram_set(b, user, &c);
        } else {
            rc = broker_user_scram_delete(b, user, m);
        }
        if (rc < 0) {
            *msg = weir_strerror(rc);
            return KAFKA_UNKNOWN_SERVER_ERROR;
        }
    }
    return KAFKA_NONE;
}

int kafka_handle_alter_user_scram_credentials(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    scram_op_t *ops = NULL;
    size_t nops = 0;
    bool bad = false;
    int32_t nd = wire_read_array(r, 3, SCRAM_OPS_MAX);
    if (nd > 0)
        ops = weir_calloc((size_t)nd, sizeof(*ops));
    for (int32_t i = 0; i < nd && wire_reader_ok(r); i++) {
        wire_str_t s = wire_read_str(r);
        ops[nops].mech = wire_read_i8(r);
        wire_read_tags(r);
        bad = bad || wire_str_has_nul(s);
        ops[nops++].user = wire_str_dup(s);
    }
    int32_t nu = wire_read_array(r, 12, SCRAM_OPS_MAX);
    if (nu > 0)
        ops = weir_realloc(ops, (nops + (size_t)nu) * sizeof(*ops));
    for (int32_t i = 0; i < nu && wire_reader_ok(r); i++) {
        scram_op_t *op = &ops[nops];
        memset(op, 0, sizeof(*op));
        wire_str_t s = wire_read_str(r);
        op->mech = wire_read_i8(r);
        op->iterations = wire_read_i32(r);
        op->salt = wire_read_bytes(r);
        op->salted = wire_read_bytes(r);
        wire_read_tags(r);
        op->upsert = true;
        bad = bad || wire_str_has_nul(s);
        op->user = wire_str_dup(s);
        nops++;
    }
    wire_read_tags(r);
    int rc = KAFKA_RESPOND;
    if (!wire_reader_ok(r) || bad || nd < 0 || nu < 0) {
        rc = -WEIR_EINVAL;
        goto out;
    }
    bool allowed = kafka_authz_cluster(req, KAFKA_ACL_OP_ALTER); /* Kafka's check (authz.c) */
    wire_write_i32(w, 0);                                        /* throttle_time_ms */
    int32_t nusers = 0;
    for (size_t i = 0; i < nops; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(ops[j].user, ops[i].user) != 0;
        nusers += first;
    }
    wire_write_array_len(w, nusers);
    for (size_t i = 0; i < nops; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(ops[j].user, ops[i].user) != 0;
        if (!first)
            continue;
        const char *msg = NULL;
        int16_t err = allowed ? user_ops_check(req->b, ops, nops, ops[i].user, &msg)
                              : KAFKA_CLUSTER_AUTHORIZATION_FAILED;
        if (err == KAFKA_NONE)
            err = user_ops_apply(req->b, ops, nops, ops[i].user, &msg);
        if (err == KAFKA_NONE)
            log_info("kafka", "%s: SCRAM credentials of user '%s' altered by %s",
                     net_conn_peer(req->conn), ops[i].user, kafka_conn_principal(req->conn));
        wire_write_cstr(w, ops[i].user);
        wire_write_i16(w, err);
        wire_write_cstr(w, msg);
        wire_write_tags(w);
    }
    wire_write_tags(w);
out:
    for (size_t i = 0; i < nops; i++)
        free(ops[i].user);
    free(ops);
    return rc;
}
