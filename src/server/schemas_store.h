/*
 * schemas_store: the schema registry's store on the broker's compacted topic `_schemas`, and
 * the broker's schema validation hook on the registry's validators (schemas_store.c).
 * Internal to the server.
 */
#ifndef WEIR_SERVER_SCHEMAS_STORE_H
#define WEIR_SERVER_SCHEMAS_STORE_H

#include "broker/broker.h"
#include "registry/registry.h"

/* A store that appends durably to `_schemas` (made on the first write) and replays it. b must
 * outlive the registry that uses it; append must not be called on an io loop thread. */
registry_store_t schemas_store(broker_t *b);

/* The broker's schema validation hook on registry validators (one per topic side): set it with
 * broker_schema_hook_set once r runs, and remove it before registry_free(r). */
broker_schema_hook_t schemas_validation_hook(registry_t *r);

#endif
