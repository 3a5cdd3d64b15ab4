/*
 * A simulated payment gateway, an external service with idempotency keys. Declines are decided
 * by the order id (a hash with the seed), so a given order is declined or not however often it
 * is asked; transient errors are random per call, half of them before the gateway did anything
 * and half after it did (the answer was lost on the way back, the case idempotency keys are
 * for). Its records live in two tables of the payment service's database file, each request in
 * a SQLite transaction of its own: gateway_ledger (captures, declines, refunds: the money) and
 * gateway_requests (idempotency key -> first answer and the origin that asked).
 */
#include "order_flow.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int of_gateway_schema(sqlite3 *db)
{
    return of_exec(db, "CREATE TABLE IF NOT EXISTS gateway_ledger("
                       "  id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL,"
                       "  kind TEXT NOT NULL CHECK (kind IN ('capture','decline','refund')),"
                       "  amount REAL NOT NULL, at_ms INTEGER NOT NULL);"
                       "CREATE INDEX IF NOT EXISTS gateway_ledger_order ON "
                       "  gateway_ledger(order_id);"
                       "CREATE TABLE IF NOT EXISTS gateway_requests("
                       "  idem_key TEXT PRIMARY KEY, result INTEGER NOT NULL,"
                       "  amount REAL NOT NULL, origin TEXT NOT NULL, at_ms INTEGER NOT NULL)"
                       "  WITHOUT ROWID;");
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(uint64_t x)
{
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

bool of_gateway_declines(const of_gateway_t *gw, const char *order_id)
{
    uint64_t h = 1469598103934665603ull ^ gw->seed; /* FNV-1a, then a mix */
    for (const char *p = order_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return unit(mix(h)) < gw->failure_rate;
}

/* 0: no failure; 1: fail before doing anything; 2: do it, then lose the answer. */
static int transient_now(const of_gateway_t *gw)
{
    static _Thread_local uint64_t state;
    if (!state && getrandom(&state, sizeof(state), 0) != sizeof(state))
        state = (uint64_t)of_now_ms() ^ (uint64_t)(uintptr_t)&state;
    state += 0x9e3779b97f4a7c15ull;
    double u = unit(mix(state));
    return u < gw->transient_rate / 2 ? 1 : u < gw->transient_rate ? 2 : 0;
}

typedef struct {
    bool found;
    int result;
    double amount;
    char origin[256];
} request_t;

static void row_request(sqlite3_stmt *st, void *arg)
{
    request_t *r = arg;
    r->found = true;
    r->result = sqlite3_column_int(st, 0);
    r->amount = sqlite3_column_double(st, 1);
    snprintf(r->origin, sizeof(r->origin), "%s", (const char *)sqlite3_column_text(st, 2));
}

static void row_amount(sqlite3_stmt *st, void *arg)
{
    *(double *)arg = sqlite3_column_double(st, 0);
}

/* One request: the first answer under key if there is one, else decide() and record it, in one
 * transaction. Returns the answer (or -1) and whether the key came from another origin. */
typedef int (*decide_fn)(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double *amount);

static int request(sqlite3 *db, const of_gateway_t *gw, const char *kind, const char *order_id,
                   double *amount, const char *origin, bool *duplicate, decide_fn decide)
{
    *duplicate = false;
    int t = transient_now(gw);
    if (t == 1)
        return OF_GW_TRANSIENT;
    char key[300];
    snprintf(key, sizeof(key), "%s:%s", kind, order_id);
    if (of_exec(db, "BEGIN IMMEDIATE") != 0)
        return -1;
    request_t prev = {0};
    int result = -1;
    if (of_sql(db, "SELECT result, amount, origin FROM gateway_requests WHERE idem_key = ?", "t",
               row_request, &prev, key) != 0)
        goto fail;
    if (prev.found) {
        of_exec(db, "COMMIT");
        *duplicate = strcmp(prev.origin, origin) != 0;
        *amount = prev.amount;
        return t ? OF_GW_TRANSIENT : prev.result;
    }
    if ((result = decide(db, gw, order_id, amount)) < 0 ||
        of_sql(db,
               "INSERT INTO gateway_requests(idem_key, result, amount, origin, at_ms) "
               "VALUES (?,?,?,?,?)",
               "tidti", NULL, NULL, key, (int64_t)result, *amount, origin, of_now_ms()) != 0 ||
        of_exec(db, "COMMIT") != 0)
        goto fail;
    return t ? OF_GW_TRANSIENT : result;
fail:
    of_exec(db, "ROLLBACK");
    return -1;
}

static int ledger(sqlite3 *db, const char *order_id, const char *kind, double amount)
{
    return of_sql(db, "INSERT INTO gateway_ledger(order_id, kind, amount, at_ms) VALUES (?,?,?,?)",
                  "ttdi", NULL, NULL, order_id, kind, amount, of_now_ms());
}

static int decide_charge(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double *amount)
{
    if (of_gateway_declines(gw, order_id))
        return ledger(db, order_id, "decline", *amount) ? -1 : OF_GW_DECLINED;
    return ledger(db, order_id, "capture", *amount) ? -1 : OF_GW_CAPTURED;
}

static int decide_refund(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double *amount)
{
    double captured = -1;
    if (of_sql(db, "SELECT amount FROM gateway_ledger WHERE order_id = ? AND kind = 'capture'", "t",
               row_amount, &captured, order_id) != 0)
        return -1;
    if (captured < 0) {
        *amount = 0;
        return OF_GW_NOT_CAPTURED;
    }
    *amount = captured;
    return ledger(db, order_id, "refund", captured) ? -1 : OF_GW_REFUNDED;
}

int of_gateway_charge(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double amount,
                      const char *origin, bool *duplicate)
{
    return request(db, gw, "charge", order_id, &amount, origin, duplicate, decide_charge);
}

int of_gateway_refund(sqlite3 *db, const of_gateway_t *gw, const char *order_id, const char *origin,
                      bool *duplicate, double *amount)
{
    *amount = 0;
    return request(db, gw, "refund", order_id, amount, origin, duplicate, decide_refund);
}
