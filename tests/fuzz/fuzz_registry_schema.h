/*
 * Shared by the schema fuzz targets: parse the input as a schema of one type, and when it
 * parses, check the oracles every valid schema must satisfy: its stored form parses again to
 * the same stored form, the normalized form is stable too, and a schema is compatible with
 * itself in both directions.
 */
#ifndef WEIR_FUZZ_REGISTRY_SCHEMA_H
#define WEIR_FUZZ_REGISTRY_SCHEMA_H

#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>

static void fuzz_schema_one(registry_type_t type, const char *text, size_t size, bool normalize)
{
    registry_schema_t *s = NULL;
    char err[256];
    if (registry_schema_parse(type, text, size, normalize, &s, err, sizeof(err)) != 0) {
        WEIR_ASSERT(s == NULL && err[0] != 0);
        return;
    }
    const char *canon = registry_schema_canonical(s);
    registry_schema_t *again = NULL;
    if (registry_schema_parse(type, canon, strlen(canon), normalize, &again, err, sizeof(err))) {
        fprintf(stderr, "stored form does not parse: %s\n--\n%s\n", err, canon);
        abort();
    }
    if (strcmp(registry_schema_canonical(again), canon) != 0) {
        fprintf(stderr, "stored form not stable:\n%s\n--\n%s\n", canon,
                registry_schema_canonical(again));
        abort();
    }
    WEIR_ASSERT(registry_schema_compat(s, again, NULL) == 0);
    WEIR_ASSERT(registry_schema_compat(again, s, NULL) == 0);
    registry_schema_free(again);
    registry_schema_free(s);
}

#endif
