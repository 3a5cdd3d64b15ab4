/*
 * The order aggregate of the event-sourced order-service. An order is the records of its id in
 * order.events, a topic with weir.key.index=true, appended only through weir_store_execute: each
 * record was decided on the whole history before it, and the broker refuses the append of a
 * writer that decided on a stale history (weir.expected.offset), which then decides again.
 * This file folds a history into the order's state and holds the one decision function; the
 * service runs it and writes its read model (the orders table) from the state it returns.
 *
 * A record is a JSON object {"type","order_id","t_ms","cause",...}. cause is what led to it (the
 * ce_id of the event a handler took, or "http:<uuid>" for a request), so a handler that runs
 * again after its transaction rolled back finds its own verdict in the history and publishes it
 * again, while a second copy of an input (another ce_id) finds the fact recorded and adds nothing.
 */
#include "order_flow.h"

#include <stdlib.h>
#include <string.h>

/* Each fact another service reports: the record it becomes, the member of the state it sets. */
typedef struct {
    const char *input;  /* the ce_type handled */
    const char *record; /* the aggregate's record type */
    char field;         /* 'p' payment, 's' stock, 'r' refunded, 'l' released, 'h' shipped */
    const char *value;  /* for 'p' and 's' */
    bool failure;       /* cancels a PENDING order */
} fact_t;

static const fact_t facts[] = {
    {"PaymentSucceeded", "OrderPaid", 'p', "SUCCEEDED", false},
    {"PaymentFailed", "PaymentDeclined", 'p', "FAILED", true},
    {"StockReserved", "StockReserved", 's', "RESERVED", false},
    {"StockRejected", "StockRejected", 's', "REJECTED", true},
    {"PaymentRefunded", "OrderRefunded", 'r', NULL, false},
    {"StockReleased", "StockReleased", 'l', NULL, false},
    {"OrderShipped", "OrderShipped", 'h', NULL, false}, /* orchestrated: shipping-service's */
};

static const fact_t *fact_by(const char *type, bool record)
{
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
        if (strcmp(record ? facts[i].record : facts[i].input, type) == 0)
            return &facts[i];
    return NULL;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

void of_order_deinit(of_order_t *o)
{
    json_decref(o->items);
    memset(o, 0, sizeof(*o));
}

/* One record onto the state; records of unknown types change nothing. */
static void order_apply(of_order_t *o, const json_t *rec)
{
    const char *type = of_json_str(rec, "type");
    const char *cause = of_json_str(rec, "cause");
    int64_t t_ms = json_integer_value(json_object_get(rec, "t_ms"));
    if (!type)
        return;
    if (strcmp(type, "OrderCreated") == 0) {
        o->exists = true;
        copy_str(o->status, sizeof(o->status), "PENDING");
        copy_str(o->user_id, sizeof(o->user_id), of_json_str(rec, "user_id"));
        json_decref(o->items);
        o->items = json_incref(json_object_get(rec, "items"));
        o->amount = json_number_value(json_object_get(rec, "amount"));
        o->created_ms = t_ms;
        return;
    }
    if (strcmp(type, "OrderConfirmed") == 0 || strcmp(type, "OrderCancelled") == 0) {
        copy_str(o->status, sizeof(o->status),
                 strcmp(type, "OrderConfirmed") == 0 ? "CONFIRMED" : "CANCELLED");
        copy_str(o->reason, sizeof(o->reason), of_json_str(rec, "reason"));
        copy_str(o->decided_by, sizeof(o->decided_by), cause);
        o->decided_ms = t_ms;
        return;
    }
    const fact_t *f = fact_by(type, true);
    if (!f)
        return;
    if (f->field == 'p')
        copy_str(o->payment, sizeof(o->payment), f->value);
    else if (f->field == 's')
        copy_str(o->stock, sizeof(o->stock), f->value);
    else if (f->field == 'r')
        o->refunded = true;
    else if (f->field == 'l')
        o->released = true;
    else
        o->shipped = true;
}

int of_order_fold(const weir_store_events *h, of_order_t *o)
{
    memset(o, 0, sizeof(*o));
    o->version = h->version;
    for (size_t i = 0; i < h->count; i++) {
        json_error_t jerr;
        json_t *rec = h->records[i].value
                          ? json_loadb(h->records[i].value, h->records[i].value_len, 0, &jerr)
                          : NULL;
        if (!json_is_object(rec)) {
            json_decref(rec);
            return WEIR_ERR_CORRUPT; /* only this service writes order.events */
        }
        order_apply(o, rec);
        json_decref(rec);
    }
    return 0;
}

json_t *of_order_json(const of_order_t *o, const char *order_id)
{
    json_t *j = json_pack("{s:s, s:s, s:o}", "order_id", order_id, "status", o->status, "reason",
                          o->reason[0] ? json_string(o->reason) : json_null());
    json_object_set_new(j, "user_id", json_string(o->user_id));
    json_object_set_new(j, "items", o->items ? json_incref(o->items) : json_array());
    json_object_set_new(j, "amount", json_real(o->amount));
    json_object_set_new(j, "payment", o->payment[0] ? json_string(o->payment) : json_null());
    json_object_set_new(j, "stock", o->stock[0] ? json_string(o->stock) : json_null());
    json_object_set_new(j, "refunded", json_boolean(o->refunded));
    json_object_set_new(j, "released", json_boolean(o->released));
    json_object_set_new(j, "shipped", json_boolean(o->shipped));
    json_object_set_new(j, "created_ms", json_integer(o->created_ms));
    if (o->decided_ms)
        json_object_set_new(j, "decided_ms", json_integer(o->decided_ms));
    json_object_set_new(j, "version", json_integer(o->version));
    return j;
}

/* Adds a record (rec is consumed) to the decision and to the state it leads to. */
static void order_append(of_order_cmd_t *c, weir_store_decision *d, const char *type, json_t *data)
{
    json_t *rec = json_pack("{s:s, s:s}", "type", type, "order_id", c->order_id);
    json_object_update(rec, data);
    json_decref(data);
    json_object_set_new(rec, "t_ms", json_integer(of_now_ms()));
    json_object_set_new(rec, "cause", json_string(c->cause));
    char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        abort();
    weir_store_decision_add(d, text, strlen(text));
    free(text);
    order_apply(&c->state, rec);
    json_decref(rec);
}

/* A fact another service reported: recorded once; it may decide a PENDING order (choreography;
 * orchestrated, order-saga decides and the facts are only recorded). */
static void decide_fact(of_order_cmd_t *c, weir_store_decision *d, const fact_t *f)
{
    of_order_t *o = &c->state;
    bool known = f->field == 'p'   ? o->payment[0] != '\0'
                 : f->field == 's' ? o->stock[0] != '\0'
                 : f->field == 'r' ? o->refunded
                 : f->field == 'l' ? o->released
                                   : o->shipped;
    if (!known)
        order_append(c, d, f->record,
                     c->reason && f->failure ? json_pack("{s:s}", "reason", c->reason)
                                             : json_object());
    if (c->record_only || strcmp(o->status, "PENDING") != 0)
        return;
    if (f->failure && !known)
        order_append(c, d, "OrderCancelled",
                     json_pack("{s:s}", "reason", c->reason ? c->reason : f->input));
    else if (strcmp(o->payment, "SUCCEEDED") == 0 && strcmp(o->stock, "RESERVED") == 0)
        order_append(c, d, "OrderConfirmed", json_object());
}

int of_order_decide(const weir_store_events *h, weir_store_decision *d, void *user)
{
    of_order_cmd_t *c = user;
    of_order_deinit(&c->state);
    c->refused = false;
    int rc = of_order_fold(h, &c->state);
    if (rc != 0)
        return rc;
    of_order_t *o = &c->state;
    if (c->kind == OF_CMD_CREATE) {
        if (o->exists || h->count > 0)
            return WEIR_ERR_EXIST;
        order_append(c, d, "OrderCreated", json_deep_copy(c->created));
        return 0;
    }
    if (!o->exists)
        return WEIR_ERR_NOENT;
    const fact_t *f = c->kind == OF_CMD_FACT ? fact_by(c->type, false) : NULL;
    if (c->kind == OF_CMD_FACT && !f)
        return WEIR_ERR_INVAL;
    if (f) {
        decide_fact(c, d, f);
    } else if (strcmp(o->status, "PENDING") != 0) {
        c->refused = c->kind == OF_CMD_CANCEL; /* a verdict after another: nothing to do */
    } else if (c->kind == OF_CMD_CANCEL) {
        order_append(c, d, "OrderCancelled",
                     json_pack("{s:s}", "reason", c->reason ? c->reason : "cancelled"));
    } else { /* OF_CMD_VERDICT: type is OrderConfirmed or OrderCancelled */
        order_append(c, d, c->type,
                     c->reason ? json_pack("{s:s}", "reason", c->reason) : json_object());
    }
    return 0;
}

const char *of_order_verdict_of(const of_order_cmd_t *c)
{
    if (!c->state.decided_by[0] || strcmp(c->state.decided_by, c->cause) != 0)
        return NULL;
    return strcmp(c->state.status, "CONFIRMED") == 0 ? "OrderConfirmed" : "OrderCancelled";
}
