/*
 * A simulated payment gateway. Declines are decided by the order id (a hash with the seed), so a
 * given order is declined or not however often it is retried; transient errors are random per
 * call. Its ledger (captures, declines, refunds) is a table in the payment service's database,
 * written in the caller's transaction.
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
                       "  gateway_ledger(order_id);");
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

static bool transient_now(const of_gateway_t *gw)
{
    static _Thread_local uint64_t state;
    if (!state && getrandom(&state, sizeof(state), 0) != sizeof(state))
        state = (uint64_t)of_now_ms() ^ (uint64_t)(uintptr_t)&state;
    state += 0x9e3779b97f4a7c15ull;
    return unit(mix(state)) < gw->transient_rate;
}

static int ledger(sqlite3 *db, const char *order_id, const char *kind, double amount)
{
    return of_sql(db, "INSERT INTO gateway_ledger(order_id, kind, amount, at_ms) VALUES (?,?,?,?)",
                  "ttdi", NULL, NULL, order_id, kind, amount, of_now_ms());
}

int of_gateway_charge(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double amount)
{
    if (transient_now(gw))
        return OF_GW_TRANSIENT;
    if (of_gateway_declines(gw, order_id))
        return ledger(db, order_id, "decline", amount) ? -1 : OF_GW_DECLINED;
    return ledger(db, order_id, "capture", amount) ? -1 : OF_GW_CAPTURED;
}

int of_gateway_refund(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double amount)
{
    if (transient_now(gw))
        return OF_GW_TRANSIENT;
    return ledger(db, order_id, "refund", amount) ? -1 : OF_GW_REFUNDED;
}
