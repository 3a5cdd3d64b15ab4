/*
 * AVRO schemas: our own tree built from the JSON text (names, namespaces, defaults checked as
 * the Avro spec says), then handed in its self-contained Parsing Canonical Form to Debian's
 * libavro, which must accept it too. The tree gives the stored form (compact, attributes in a
 * fixed order, as Java's Schema.toString prints them), the Parsing Canonical Form, schema
 * resolution for compatibility, and a bounded binary decoder for payload validation.
 *
 * Invariant: every node of a schema is on its `nodes` list and freed with it; named types
 * imported from references belong to the referenced schema, which outlives this one (the
 * registry refuses to delete a schema that is referenced).
 */
#include "registry/registry_internal.h"

#include <avro.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum {
    AV_NULL = 0,
    AV_BOOLEAN,
    AV_INT,
    AV_LONG,
    AV_FLOAT,
    AV_DOUBLE,
    AV_BYTES,
    AV_STRING,
    AV_RECORD,
    AV_ENUM,
    AV_ARRAY,
    AV_MAP,
    AV_UNION,
    AV_FIXED
} av_kind_t;

static const char *const av_kind_names[] = {"null",   "boolean", "int",    "long",   "float",
                                            "double", "bytes",   "string", "record", "enum",
                                            "array",  "map",     "union",  "fixed"};

typedef struct av_node av_node_t;
typedef struct {
    char *name;
    av_node_t *type;
    json_t *dflt;    /* NULL: no default */
    json_t *doc;     /* string or NULL */
    json_t *order;   /* string or NULL */
    json_t *aliases; /* array or NULL */
    json_t *props;   /* other attributes, in order */
} av_field_t;

struct av_node {
    av_kind_t kind;
    char *fullname; /* named types */
    char *space;    /* namespace of a named type, "" for none */
    json_t *doc;
    json_t *aliases;
    json_t *props; /* other attributes (logicalType, ...), in order */
    av_field_t *fields;
    size_t nfields;
    char **symbols;
    size_t nsymbols;
    char *enum_default;
    av_node_t *items; /* array items, map values */
    av_node_t **branches;
    size_t nbranches;
    int64_t size;
    av_node_t *next_alloc;
};

typedef struct {
    av_node_t *root;
    av_node_t *nodes;
    reg_map_t names; /* full name -> node, own and imported */
} av_schema_t;

typedef struct {
    av_schema_t *sc;
    const reg_bounds_t *b;
    char *err;
    size_t err_size;
} av_parse_t;

/* ---- parsing ------------------------------------------------------------------------------- */

static av_node_t *node_new(av_schema_t *sc, av_kind_t kind)
{
    av_node_t *n = weir_calloc(1, sizeof(*n));
    n->kind = kind;
    n->next_alloc = sc->nodes;
    sc->nodes = n;
    return n;
}

static int primitive_kind(const char *s)
{
    for (int k = AV_NULL; k <= AV_STRING; k++)
        if (strcmp(s, av_kind_names[k]) == 0)
            return k;
    return -1;
}

static bool name_valid(const char *s)
{
    if (!*s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool fullname_valid(const char *s)
{
    char tmp[1024];
    if (strlen(s) >= sizeof(tmp))
        return false;
    strcpy(tmp, s);
    char *save = NULL;
    size_t parts = 0;
    for (char *p = strtok_r(tmp, ".", &save); p; p = strtok_r(NULL, ".", &save), parts++)
        if (!name_valid(p))
            return false;
    return parts > 0 && s[strlen(s) - 1] != '.' && s[0] != '.' && !strstr(s, "..");
}

/* The full name of `name` declared or used in namespace `ns`. */
static char *fullname_of(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return weir_strdup(name);
    size_t n = strlen(ns) + strlen(name) + 2;
    char *f = weir_malloc(n);
    snprintf(f, n, "%s.%s", ns, name);
    return f;
}

static av_node_t *parse_node(av_parse_t *pc, json_t *j, const char *ns, int depth);

static av_node_t *parse_name_ref(av_parse_t *pc, const char *s, const char *ns)
{
    int k = primitive_kind(s);
    if (k >= 0)
        return node_new(pc->sc, (av_kind_t)k);
    char *full = fullname_of(s, ns);
    av_node_t *n = reg_map_get(&pc->sc->names, full);
    if (!n && strchr(s, '.') == NULL)
        n = reg_map_get(&pc->sc->names, s); /* a name of the null namespace */
    free(full);
    if (!n)
        reg_errf(pc->err, pc->err_size, "Undefined name: \"%s\"", s);
    return n;
}

static bool is_reserved(const char *key, const char *const *reserved)
{
    for (; *reserved; reserved++)
        if (strcmp(key, *reserved) == 0)
            return true;
    return false;
}

/* Other attributes of a schema or field, kept in their order. */
static json_t *collect_props(json_t *j, const char *const *reserved)
{
    json_t *props = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (is_reserved(key, reserved))
            continue;
        if (!props)
            props = json_object();
        json_object_set(props, key, v);
    }
    return props;
}

static json_t *opt_string(av_parse_t *pc, json_t *j, const char *key, bool *bad)
{
    json_t *v = json_object_get(j, key);
    if (v && !json_is_string(v)) {
        reg_errf(pc->err, pc->err_size, "\"%s\" must be a string", key);
        *bad = true;
        return NULL;
    }
    return v ? json_incref(v) : NULL;
}

static json_t *opt_aliases(av_parse_t *pc, json_t *j, bool *bad)
{
    json_t *a = json_object_get(j, "aliases");
    if (!a)
        return NULL;
    size_t i;
    json_t *v;
    bool ok = json_is_array(a);
    json_array_foreach(a, i, v) ok =
        ok && json_is_string(v) && fullname_valid(json_string_value(v));
    if (!ok) {
        reg_errf(pc->err, pc->err_size, "aliases must be an array of names");
        *bad = true;
        return NULL;
    }
    return json_incref(a);
}

/* Declares a named type: checks its name and that it is new. */
static av_node_t *declare(av_parse_t *pc, json_t *j, av_kind_t kind, const char **ns_inout)
{
    json_t *name = json_object_get(j, "name");
    json_t *space = json_object_get(j, "namespace");
    if (!json_is_string(name) || !fullname_valid(json_string_value(name))) {
        reg_errf(pc->err, pc->err_size, "%s needs a valid \"name\"", av_kind_names[kind]);
        return NULL;
    }
    if (space && !json_is_null(space) &&
        (!json_is_string(space) ||
         (*json_string_value(space) && !fullname_valid(json_string_value(space))))) {
        reg_errf(pc->err, pc->err_size, "invalid namespace");
        return NULL;
    }
    const char *nm = json_string_value(name);
    const char *nsp = json_is_string(space) ? json_string_value(space) : *ns_inout;
    av_node_t *n = node_new(pc->sc, kind);
    n->fullname = fullname_of(nm, nsp);
    const char *dot = strrchr(n->fullname, '.');
    n->space = dot ? weir_strndup(n->fullname, (size_t)(dot - n->fullname)) : weir_strdup("");
    if (primitive_kind(n->fullname) >= 0 || reg_map_get(&pc->sc->names, n->fullname)) {
        reg_errf(pc->err, pc->err_size, "Can't redefine: %s", n->fullname);
        return NULL;
    }
    reg_map_put(&pc->sc->names, n->fullname, n);
    *ns_inout = n->space;
    return n;
}

static bool default_valid(const av_node_t *t, json_t *d, int depth);

static bool record_default_valid(const av_node_t *t, json_t *d, int depth)
{
    if (!json_is_object(d))
        return false;
    for (size_t i = 0; i < t->nfields; i++) {
        json_t *v = json_object_get(d, t->fields[i].name);
        if (!v)
            v = t->fields[i].dflt;
        if (!v || !default_valid(t->fields[i].type, v, depth + 1))
            return false;
    }
    return true;
}

static bool default_valid(const av_node_t *t, json_t *d, int depth)
{
    if (depth > 64)
        return false;
    size_t i;
    json_t *v;
    switch (t->kind) {
    case AV_NULL:
        return json_is_null(d);
    case AV_BOOLEAN:
        return json_is_boolean(d);
    case AV_INT:
        return json_is_integer(d) && json_integer_value(d) >= INT32_MIN &&
               json_integer_value(d) <= INT32_MAX;
    case AV_LONG:
        return json_is_integer(d);
    case AV_FLOAT:
    case AV_DOUBLE:
        return json_is_number(d);
    case AV_BYTES:
    case AV_STRING:
    case AV_FIXED:
        return json_is_string(d);
    case AV_ENUM:
        if (!json_is_string(d))
            return false;
        for (size_t k = 0; k < t->nsymbols; k++)
            if (strcmp(t->symbols[k], json_string_value(d)) == 0)
                return true;
        return false;
    case AV_ARRAY:
        if (!json_is_array(d))
            return false;
        json_array_foreach(d, i, v) if (!default_valid(t->items, v, depth + 1)) return false;
        return true;
    case AV_MAP: {
        if (!json_is_object(d))
            return false;
        const char *key;
        json_object_foreach(d, key, v) if (!default_valid(t->items, v, depth + 1)) return false;
        return true;
    }
    case AV_UNION:
        return t->nbranches > 0 && default_valid(t->branches[0], d, depth + 1);
    case AV_RECORD:
        return record_default_valid(t, d, depth);
    }
    return false;
}

static int parse_fields(av_parse_t *pc, av_node_t *n, json_t *fields, const char *ns, int depth)
{
    static const char *const reserved[] = {"name",  "type",    "doc", "default",
                                           "order", "aliases", NULL};
    if (!json_is_array(fields)) {
        reg_errf(pc->err, pc->err_size, "Record has no fields: %s", n->fullname);
        return -1;
    }
    n->nfields = json_array_size(fields);
    n->fields = weir_calloc(n->nfields ? n->nfields : 1, sizeof(*n->fields));
    for (size_t i = 0; i < n->nfields; i++) {
        json_t *f = json_array_get(fields, i);
        av_field_t *fd = &n->fields[i];
        json_t *fname = json_object_get(f, "name");
        if (!json_is_object(f) || !json_is_string(fname) || !name_valid(json_string_value(fname))) {
            reg_errf(pc->err, pc->err_size, "field %zu of %s needs a valid \"name\"", i,
                     n->fullname);
            return -1;
        }
        fd->name = weir_strdup(json_string_value(fname));
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->fields[k].name, fd->name) == 0) {
                reg_errf(pc->err, pc->err_size, "Duplicate field %s in record %s", fd->name,
                         n->fullname);
                return -1;
            }
        json_t *ft = json_object_get(f, "type");
        if (!ft) {
            reg_errf(pc->err, pc->err_size, "No field type: %s", fd->name);
            return -1;
        }
        if (!(fd->type = parse_node(pc, ft, ns, depth + 1)))
            return -1;
        bool bad = false;
        fd->doc = opt_string(pc, f, "doc", &bad);
        fd->order = opt_string(pc, f, "order", &bad);
        fd->aliases = opt_aliases(pc, f, &bad);
        if (bad)
            return -1;
        const char *ord = fd->order ? json_string_value(fd->order) : "ascending";
        if (strcmp(ord, "ascending") && strcmp(ord, "descending") && strcmp(ord, "ignore")) {
            reg_errf(pc->err, pc->err_size, "Invalid order for field %s: %s", fd->name, ord);
            return -1;
        }
        fd->props = collect_props(f, reserved);
        json_t *d = json_object_get(f, "default");
        if (d) {
            fd->dflt = json_incref(d);
        }
    }
    return 0;
}

/* Defaults are checked once the whole record is known (a default may hold the record). */
static int check_defaults(av_parse_t *pc, const av_node_t *n)
{
    for (size_t i = 0; i < n->nfields; i++) {
        const av_field_t *fd = &n->fields[i];
        if (fd->dflt && !default_valid(fd->type, fd->dflt, 0)) {
            char *s = json_dumps(fd->dflt, JSON_COMPACT | JSON_ENCODE_ANY);
            reg_errf(pc->err, pc->err_size, "Invalid default for field %s: %.100s not a %s",
                     fd->name, s ? s : "?", av_kind_names[fd->type->kind]);
            free(s);
            return -1;
        }
    }
    return 0;
}

static av_node_t *parse_enum(av_parse_t *pc, av_node_t *n, json_t *j)
{
    json_t *syms = json_object_get(j, "symbols");
    if (!json_is_array(syms)) {
        reg_errf(pc->err, pc->err_size, "Enum has no symbols: %s", n->fullname);
        return NULL;
    }
    n->nsymbols = json_array_size(syms);
    n->symbols = weir_calloc(n->nsymbols ? n->nsymbols : 1, sizeof(char *));
    for (size_t i = 0; i < n->nsymbols; i++) {
        json_t *s = json_array_get(syms, i);
        if (!json_is_string(s) || !name_valid(json_string_value(s))) {
            reg_errf(pc->err, pc->err_size, "Invalid enum symbol in %s", n->fullname);
            return NULL;
        }
        n->symbols[i] = weir_strdup(json_string_value(s));
        for (size_t k = 0; k < i; k++)
            if (strcmp(n->symbols[k], n->symbols[i]) == 0) {
                reg_errf(pc->err, pc->err_size, "Duplicate enum symbol: %s", n->symbols[i]);
                return NULL;
            }
    }
    json_t *d = json_object_get(j, "default");
    if (d) {
        bool found = false;
        for (size_t i = 0; json_is_string(d) && i < n->nsymbols; i++)
            found = found || strcmp(n->symbols[i], json_string_value(d)) == 0;
        if (!found) {
            reg_errf(pc->err, pc->err_size, "The Enum Default is not a symbol of %s", n->fullname);
            return NULL;
        }
        n->enum_default = weir_strdup(json_string_value(d));
    }
    return n;
}

static av_node_t *parse_named(av_parse_t *pc, json_t *j, av_kind_t kind, const char *ns, int depth)
{
    static const char *const reserved[] = {"type",   "name",    "namespace", "doc",     "aliases",
                                           "fields", "symbols", "size",      "default", NULL};
    const char *inner_ns = ns;
    av_node_t *n = declare(pc, j, kind, &inner_ns);
    if (!n)
        return NULL;
    bool bad = false;
    n->doc = opt_string(pc, j, "doc", &bad);
    n->aliases = opt_aliases(pc, j, &bad);
    if (bad)
        return NULL;
    n->props = collect_props(j, reserved);
    if (kind == AV_RECORD) {
        if (parse_fields(pc, n, json_object_get(j, "fields"), inner_ns, depth) ||
            check_defaults(pc, n))
            return NULL;
        return n;
    }
    if (kind == AV_ENUM)
        return parse_enum(pc, n, j);
    json_t *size = json_object_get(j, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > INT32_MAX) {
        reg_errf(pc->err, pc->err_size, "Invalid fixed size for %s", n->fullname);
        return NULL;
    }
    n->size = json_integer_value(size);
    return n;
}

static av_node_t *parse_union(av_parse_t *pc, json_t *j, const char *ns, int depth)
{
    av_node_t *n = node_new(pc->sc, AV_UNION);
    n->nbranches = json_array_size(j);
    n->branches = weir_calloc(n->nbranches ? n->nbranches : 1, sizeof(*n->branches));
    for (size_t i = 0; i < n->nbranches; i++) {
        av_node_t *b = parse_node(pc, json_array_get(j, i), ns, depth + 1);
        if (!b)
            return NULL;
        if (b->kind == AV_UNION) {
            reg_errf(pc->err, pc->err_size, "Nested union: a union cannot hold a union");
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            const av_node_t *o = n->branches[k];
            bool named = b->fullname != NULL;
            if (o->kind == b->kind && (!named || strcmp(o->fullname, b->fullname) == 0)) {
                reg_errf(pc->err, pc->err_size, "Duplicate in union: %s",
                         named ? b->fullname : av_kind_names[b->kind]);
                return NULL;
            }
        }
        n->branches[i] = b;
    }
    return n;
}

static av_node_t *parse_object(av_parse_t *pc, json_t *j, const char *ns, int depth)
{
    static const char *const prim_reserved[] = {"type", NULL};
    static const char *const coll_reserved[] = {"type", "items", "values", NULL};
    json_t *type = json_object_get(j, "type");
    if (!type) {
        reg_errf(pc->err, pc->err_size, "No type: a schema object needs \"type\"");
        return NULL;
    }
    if (!json_is_string(type))
        return parse_node(pc, type, ns, depth + 1); /* {"type": {...}} wraps a schema */
    const char *t = json_string_value(type);
    int k = primitive_kind(t);
    if (k >= 0) {
        av_node_t *n = node_new(pc->sc, (av_kind_t)k);
        n->props = collect_props(j, prim_reserved);
        return n;
    }
    if (!strcmp(t, "record") || !strcmp(t, "error"))
        return parse_named(pc, j, AV_RECORD, ns, depth);
    if (!strcmp(t, "enum"))
        return parse_named(pc, j, AV_ENUM, ns, depth);
    if (!strcmp(t, "fixed"))
        return parse_named(pc, j, AV_FIXED, ns, depth);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = t[0] == 'a';
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it) {
            reg_errf(pc->err, pc->err_size, "%s has no %s", t, arr ? "items" : "values");
            return NULL;
        }
        av_node_t *n = node_new(pc->sc, arr ? AV_ARRAY : AV_MAP);
        if (!(n->items = parse_node(pc, it, ns, depth + 1)))
            return NULL;
        n->props = collect_props(j, coll_reserved);
        return n;
    }
    return parse_name_ref(pc, t, ns);
}

static av_node_t *parse_node(av_parse_t *pc, json_t *j, const char *ns, int depth)
{
    if (depth > pc->b->depth_max) {
        reg_errf(pc->err, pc->err_size, "schema nesting deeper than %d", pc->b->depth_max);
        return NULL;
    }
    if (json_is_string(j))
        return parse_name_ref(pc, json_string_value(j), ns);
    if (json_is_array(j))
        return parse_union(pc, j, ns, depth);
    if (json_is_object(j))
        return parse_object(pc, j, ns, depth);
    reg_errf(pc->err, pc->err_size, "a schema must be a string, an object or an array");
    return NULL;
}

/* ---- writing: the stored form and the Parsing Canonical Form -------------------------------- */

typedef struct {
    buf_t *out;
    reg_map_t done; /* named types already written */
    bool pcf;       /* Parsing Canonical Form */
    bool fullnames; /* normalized: every name written in full */
    int depth;
} av_write_t;

static void write_json(buf_t *out, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    buf_append_str(out, s ? s : "null");
    free(s);
}

static void write_key(av_write_t *w, const char *key, bool *first)
{
    if (!*first)
        buf_append_u8(w->out, ',');
    *first = false;
    reg_json_quote(w->out, key, strlen(key));
    buf_append_u8(w->out, ':');
}

static void write_str(av_write_t *w, const char *key, const char *val, bool *first)
{
    write_key(w, key, first);
    reg_json_quote(w->out, val, strlen(val));
}

static void write_props(av_write_t *w, json_t *props, bool *first)
{
    if (!props || w->pcf)
        return;
    const char *key;
    json_t *v;
    json_object_foreach(props, key, v)
    {
        write_key(w, key, first);
        write_json(w->out, v);
    }
}

static void write_node(av_write_t *w, const av_node_t *n, const char *ns);

static void write_fields(av_write_t *w, const av_node_t *n)
{
    buf_append_u8(w->out, '[');
    for (size_t i = 0; i < n->nfields; i++) {
        const av_field_t *f = &n->fields[i];
        bool first = true;
        buf_append_str(w->out, i ? ",{" : "{");
        write_str(w, "name", f->name, &first);
        write_key(w, "type", &first);
        write_node(w, f->type, n->space);
        if (!w->pcf) {
            if (f->doc)
                write_key(w, "doc", &first), write_json(w->out, f->doc);
            if (f->dflt)
                write_key(w, "default", &first), write_json(w->out, f->dflt);
            if (f->order && strcmp(json_string_value(f->order), "ascending"))
                write_key(w, "order", &first), write_json(w->out, f->order);
            if (f->aliases)
                write_key(w, "aliases", &first), write_json(w->out, f->aliases);
            write_props(w, f->props, &first);
        }
        buf_append_u8(w->out, '}');
    }
    buf_append_u8(w->out, ']');
}

static void write_named(av_write_t *w, const av_node_t *n, const char *ns)
{
    bool first = true;
    buf_append_u8(w->out, '{');
    if (w->pcf) /* the spec's order: name, type, fields, symbols, items, values, size */
        write_str(w, "name", n->fullname, &first);
    write_str(w, "type", av_kind_names[n->kind], &first);
    if (!w->pcf && w->fullnames) {
        write_str(w, "name", n->fullname, &first);
    } else if (!w->pcf) {
        const char *dot = strrchr(n->fullname, '.');
        write_str(w, "name", dot ? dot + 1 : n->fullname, &first);
        if (strcmp(n->space, ns ? ns : "") != 0)
            write_str(w, "namespace", n->space, &first);
    }
    if (!w->pcf && n->doc)
        write_key(w, "doc", &first), write_json(w->out, n->doc);
    if (n->kind == AV_RECORD) {
        write_key(w, "fields", &first);
        write_fields(w, n);
    } else if (n->kind == AV_ENUM) {
        write_key(w, "symbols", &first);
        buf_append_u8(w->out, '[');
        for (size_t i = 0; i < n->nsymbols; i++) {
            if (i)
                buf_append_u8(w->out, ',');
            reg_json_quote(w->out, n->symbols[i], strlen(n->symbols[i]));
        }
        buf_append_u8(w->out, ']');
        if (!w->pcf && n->enum_default)
            write_str(w, "default", n->enum_default, &first);
    } else {
        write_key(w, "size", &first);
        buf_printf(w->out, "%" PRId64, n->size);
    }
    if (!w->pcf && n->aliases)
        write_key(w, "aliases", &first), write_json(w->out, n->aliases);
    write_props(w, n->props, &first);
    buf_append_u8(w->out, '}');
}

static void write_node(av_write_t *w, const av_node_t *n, const char *ns)
{
    if (n->fullname) {
        if (reg_map_get(&w->done, n->fullname)) {
            const char *dot = strrchr(n->fullname, '.');
            bool short_ok = !w->pcf && !w->fullnames && dot &&
                            strncmp(n->fullname, ns ? ns : "", (size_t)(dot - n->fullname)) == 0 &&
                            strlen(ns ? ns : "") == (size_t)(dot - n->fullname);
            const char *nm = short_ok ? dot + 1 : n->fullname;
            reg_json_quote(w->out, nm, strlen(nm));
            return;
        }
        reg_map_put(&w->done, n->fullname, (void *)n);
        write_named(w, n, ns);
        return;
    }
    bool first = true;
    switch (n->kind) {
    case AV_UNION:
        buf_append_u8(w->out, '[');
        for (size_t i = 0; i < n->nbranches; i++) {
            if (i)
                buf_append_u8(w->out, ',');
            write_node(w, n->branches[i], ns);
        }
        buf_append_u8(w->out, ']');
        return;
    case AV_ARRAY:
    case AV_MAP:
        buf_append_u8(w->out, '{');
        write_str(w, "type", av_kind_names[n->kind], &first);
        write_key(w, n->kind == AV_ARRAY ? "items" : "values", &first);
        write_node(w, n->items, ns);
        write_props(w, n->props, &first);
        buf_append_u8(w->out, '}');
        return;
    default:
        if (n->props && !w->pcf) {
            buf_append_u8(w->out, '{');
            write_str(w, "type", av_kind_names[n->kind], &first);
            write_props(w, n->props, &first);
            buf_append_u8(w->out, '}');
        } else {
            reg_json_quote(w->out, av_kind_names[n->kind], strlen(av_kind_names[n->kind]));
        }
    }
}

/* imported: named types of references count as written (the stored form names them). */
static char *av_write(const av_schema_t *sc, bool pcf, bool fullnames, const reg_map_t *imported)
{
    buf_t out;
    buf_init(&out);
    av_write_t w = {.out = &out, .pcf = pcf, .fullnames = fullnames};
    reg_map_init(&w.done);
    if (imported) {
        for (size_t i = 0; i < imported->nslots; i++)
            for (reg_map_ent_t *e = imported->slots[i]; e; e = e->next)
                reg_map_put(&w.done, e->key, e->val);
    }
    write_node(&w, sc->root, "");
    reg_map_deinit(&w.done);
    buf_append_u8(&out, 0);
    return (char *)out.data;
}

/* ---- entry points ------------------------------------------------------------------------- */

void reg_avro_free(void *model)
{
    av_schema_t *sc = model;
    if (!sc)
        return;
    av_node_t *n = sc->nodes;
    while (n) {
        av_node_t *next = n->next_alloc;
        for (size_t i = 0; i < n->nfields; i++) {
            av_field_t *f = &n->fields[i];
            free(f->name);
            json_decref(f->dflt);
            json_decref(f->doc);
            json_decref(f->order);
            json_decref(f->aliases);
            json_decref(f->props);
        }
        free(n->fields);
        for (size_t i = 0; i < n->nsymbols; i++)
            free(n->symbols[i]);
        free(n->symbols);
        free(n->enum_default);
        free(n->branches);
        free(n->fullname);
        free(n->space);
        json_decref(n->doc);
        json_decref(n->aliases);
        json_decref(n->props);
        free(n);
        n = next;
    }
    reg_map_deinit(&sc->names);
    free(sc);
}

static int import_refs(av_schema_t *sc, reg_map_t *imported, const reg_refs_t *refs)
{
    for (size_t i = 0; refs && i < refs->count; i++) {
        const registry_schema_t *rs = refs->schemas[i];
        if (rs->type != REGISTRY_AVRO)
            return -1;
        const av_schema_t *o = rs->model;
        for (size_t k = 0; k < o->names.nslots; k++)
            for (reg_map_ent_t *e = o->names.slots[k]; e; e = e->next) {
                reg_map_put(&sc->names, e->key, e->val);
                reg_map_put(imported, e->key, e->val);
            }
    }
    return 0;
}

/* libavro must accept the self-contained canonical form too. */
static int libavro_check(const char *pcf, char *err, size_t err_size)
{
    avro_schema_t as = NULL;
    if (avro_schema_from_json_length(pcf, strlen(pcf), &as) != 0) {
        reg_errf(err, err_size, "libavro refuses the schema: %s", avro_strerror());
        return -1;
    }
    avro_schema_decref(as);
    return 0;
}

int reg_avro_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                   bool normalize, const reg_bounds_t *b, char *err, size_t err_size)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reg_errf(err, err_size, "Invalid schema JSON: %s (line %d)", je.text, je.line);
        return -WEIR_EINVAL;
    }
    av_schema_t *sc = weir_calloc(1, sizeof(*sc));
    reg_map_init(&sc->names);
    reg_map_t imported;
    reg_map_init(&imported);
    av_parse_t pc = {sc, b, err, err_size};
    int rc = -WEIR_EINVAL;
    if (import_refs(sc, &imported, refs)) {
        reg_errf(err, err_size, "an AVRO schema can only reference AVRO schemas");
        goto out;
    }
    if (!(sc->root = parse_node(&pc, j, "", 0)))
        goto out;
    s->pcf = av_write(sc, true, true, NULL);
    if (libavro_check(s->pcf, err, err_size))
        goto out;
    s->canonical = av_write(sc, false, normalize, &imported);
    s->model = sc;
    sc = NULL;
    rc = 0;
out:
    reg_map_deinit(&imported);
    reg_avro_free(sc);
    json_decref(j);
    return rc;
}

const char *reg_avro_record_name(const registry_schema_t *s)
{
    const av_schema_t *sc = s->model;
    return sc->root->fullname;
}

/* ---- compatibility: Avro schema resolution ---------------------------------------------------
 * reader = the schema that decodes, writer = the one that encoded. BACKWARD checks the new
 * schema as reader against the old one as writer; FORWARD the other way round. */

typedef struct {
    buf_t *msgs;
    int count;
    char path[512];
    const av_node_t *stack_r[128], *stack_w[128]; /* pairs being checked (recursive types) */
    int depth;
} av_compat_t;

#define COMPAT_FAIL(c, type, info, ...)                                                            \
    ((c)->count++, reg_compat_msg((c)->msgs, type, info, __VA_ARGS__))

static bool unqualified_eq(const char *a, const char *b)
{
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    return strcmp(da ? da + 1 : a, db ? db + 1 : b) == 0;
}

static bool names_match(const av_node_t *r, const av_node_t *w)
{
    if (unqualified_eq(r->fullname, w->fullname))
        return true;
    size_t i;
    json_t *a;
    json_array_foreach(r->aliases, i,
                       a) if (unqualified_eq(json_string_value(a), w->fullname)) return true;
    return false;
}

static void check_pair(av_compat_t *c, const av_node_t *r, const av_node_t *w);

/* Appends "/seg" or "/seg/i" (i >= 0) to the path; returns the old length to cut back to. */
static size_t path_push(av_compat_t *c, const char *seg, long i)
{
    size_t old = strlen(c->path);
    if (i >= 0)
        snprintf(c->path + old, sizeof(c->path) - old, "/%s/%ld", seg, i);
    else
        snprintf(c->path + old, sizeof(c->path) - old, "/%s", seg);
    return old;
}

static void check_record(av_compat_t *c, const av_node_t *r, const av_node_t *w)
{
    for (size_t i = 0; i < r->nfields; i++) {
        const av_field_t *rf = &r->fields[i];
        const av_field_t *wf = NULL;
        for (size_t k = 0; k < w->nfields && !wf; k++)
            if (strcmp(w->fields[k].name, rf->name) == 0)
                wf = &w->fields[k];
        size_t a;
        json_t *al;
        json_array_foreach(rf->aliases, a,
                           al) for (size_t k = 0; k < w->nfields && !wf;
                                    k++) if (strcmp(w->fields[k].name, json_string_value(al)) == 0)
            wf = &w->fields[k];
        size_t old = path_push(c, "fields", (long)i);
        if (wf) {
            path_push(c, "type", -1);
            check_pair(c, rf->type, wf->type);
        } else if (!rf->dflt) {
            COMPAT_FAIL(c, "READER_FIELD_MISSING_DEFAULT_VALUE", rf->name,
                        "The field '%s' at path '%s' in the new schema has no default value and "
                        "is missing in the old schema",
                        rf->name, c->path);
        }
        c->path[old] = 0;
    }
}

static void check_named(av_compat_t *c, const av_node_t *r, const av_node_t *w)
{
    if (!names_match(r, w)) {
        COMPAT_FAIL(c, "NAME_MISMATCH", w->fullname,
                    "The name of the schema has changed (path '%s')", *c->path ? c->path : "/");
        return;
    }
    if (r->kind == AV_FIXED && r->size != w->size) {
        COMPAT_FAIL(c, "FIXED_SIZE_MISMATCH", "",
                    "The size of FIXED type field at path '%s' in the new schema does not match "
                    "with the old schema",
                    *c->path ? c->path : "/");
    } else if (r->kind == AV_ENUM && !r->enum_default) {
        buf_t missing;
        buf_init(&missing);
        for (size_t i = 0; i < w->nsymbols; i++) {
            bool found = false;
            for (size_t k = 0; k < r->nsymbols && !found; k++)
                found = strcmp(r->symbols[k], w->symbols[i]) == 0;
            if (!found)
                buf_printf(&missing, "%s%s", missing.len ? ", " : "", w->symbols[i]);
        }
        if (missing.len) {
            buf_append_u8(&missing, 0);
            COMPAT_FAIL(c, "MISSING_ENUM_SYMBOLS", (char *)missing.data,
                        "The new schema is missing enum symbols '[%s]' at path '%s' in the old "
                        "schema",
                        (char *)missing.data, *c->path ? c->path : "/");
        }
        buf_deinit(&missing);
    } else if (r->kind == AV_RECORD) {
        check_record(c, r, w);
    }
}

static bool promotable(av_kind_t w, av_kind_t r)
{
    return (w == AV_INT && (r == AV_LONG || r == AV_FLOAT || r == AV_DOUBLE)) ||
           (w == AV_LONG && (r == AV_FLOAT || r == AV_DOUBLE)) ||
           (w == AV_FLOAT && r == AV_DOUBLE) || (w == AV_STRING && r == AV_BYTES) ||
           (w == AV_BYTES && r == AV_STRING);
}

/* Whether a reader union has a branch the writer's type resolves to, without reporting. */
static bool branch_matches(const av_node_t *rb, const av_node_t *w)
{
    if (rb->kind != w->kind)
        return promotable(w->kind, rb->kind);
    return !rb->fullname || names_match(rb, w);
}

static void check_pair(av_compat_t *c, const av_node_t *r, const av_node_t *w)
{
    for (int i = 0; i < c->depth; i++)
        if (c->stack_r[i] == r && c->stack_w[i] == w)
            return; /* already being checked higher up: a recursive type */
    if (c->depth >= (int)WEIR_ARRAY_LEN(c->stack_r))
        return;
    c->stack_r[c->depth] = r;
    c->stack_w[c->depth] = w;
    c->depth++;
    const char *at = *c->path ? c->path : "/";
    if (w->kind == AV_UNION) {
        for (size_t i = 0; i < w->nbranches; i++)
            check_pair(c, r, w->branches[i]);
    } else if (r->kind == AV_UNION) {
        const av_node_t *match = NULL;
        for (size_t i = 0; i < r->nbranches && !match; i++)
            if (r->branches[i]->kind == w->kind && (!w->fullname || names_match(r->branches[i], w)))
                match = r->branches[i];
        for (size_t i = 0; i < r->nbranches && !match; i++)
            if (branch_matches(r->branches[i], w))
                match = r->branches[i];
        if (match) {
            check_pair(c, match, w);
        } else {
            COMPAT_FAIL(c, "MISSING_UNION_BRANCH", av_kind_names[w->kind],
                        "The new schema is missing a type inside a union field at path '%s' in "
                        "the old schema",
                        at);
        }
    } else if (r->kind != w->kind) {
        if (!promotable(w->kind, r->kind)) {
            COMPAT_FAIL(c, "TYPE_MISMATCH", av_kind_names[r->kind],
                        "The type (path '%s') of a field in the new schema does not match with "
                        "the old schema",
                        at);
        }
    } else if (r->kind == AV_ARRAY || r->kind == AV_MAP) {
        size_t old = path_push(c, r->kind == AV_ARRAY ? "items" : "values", -1);
        check_pair(c, r->items, w->items);
        c->path[old] = 0;
    } else if (r->fullname) {
        check_named(c, r, w);
    }
    c->depth--;
}

int reg_avro_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    av_compat_t *c = weir_calloc(1, sizeof(*c));
    c->msgs = msgs;
    check_pair(c, ((const av_schema_t *)reader->model)->root,
               ((const av_schema_t *)writer->model)->root);
    int n = c->count;
    free(c);
    return n;
}

/* ---- binary decoding ------------------------------------------------------------------------
 * Walks the writer's schema over the bytes: every length is checked against the bytes left
 * before it is used, recursion is bounded, and the payload must be consumed exactly. No
 * allocation unless json output is asked for. */

typedef struct {
    const uint8_t *p, *end, *start;
    buf_t *json;
    char *why;
    size_t why_size;
    int depth;
} av_dec_t;

enum { AV_DECODE_DEPTH_MAX = 128 };

static int dec_fail(av_dec_t *d, const char *what)
{
    reg_errf(d->why, d->why_size, "Avro: %s at byte %td", what, d->p - d->start);
    return -WEIR_EINVAL;
}

static int dec_long(av_dec_t *d, int64_t *v)
{
    size_t k = varint_decode_i64(d->p, d->end, v);
    if (!k)
        return dec_fail(d, "bad or truncated varint");
    d->p += k;
    return 0;
}

static int dec_node(av_dec_t *d, const av_node_t *n);

static int dec_bytes(av_dec_t *d, bool utf8, size_t fixed, bool is_fixed)
{
    int64_t len = (int64_t)fixed;
    if (!is_fixed && dec_long(d, &len))
        return -WEIR_EINVAL;
    if (len < 0 || len > d->end - d->p)
        return dec_fail(d, "length past the end of the payload");
    if (utf8 && !reg_utf8_valid(d->p, (size_t)len))
        return dec_fail(d, "string is not UTF-8");
    if (d->json) {
        if (utf8) {
            reg_json_quote(d->json, (const char *)d->p, (size_t)len);
        } else {
            /* bytes as Avro's JSON encoding: each byte one code point 0-255 */
            buf_append_u8(d->json, '"');
            for (int64_t i = 0; i < len; i++) {
                uint8_t c = d->p[i];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                    buf_append_u8(d->json, c);
                else
                    buf_printf(d->json, "\\u%04x", c);
            }
            buf_append_u8(d->json, '"');
        }
    }
    d->p += len;
    return 0;
}

static int dec_blocks(av_dec_t *d, const av_node_t *n)
{
    bool map = n->kind == AV_MAP;
    size_t count = 0;
    if (d->json)
        buf_append_u8(d->json, map ? '{' : '[');
    for (;;) {
        int64_t items;
        if (dec_long(d, &items))
            return -WEIR_EINVAL;
        if (items == 0)
            break;
        if (items < 0) {
            int64_t bytes;
            if (items == INT64_MIN || dec_long(d, &bytes))
                return dec_fail(d, "bad block");
            items = -items;
        }
        /* each item takes at least one byte for a map key or most item types */
        if (items > d->end - d->p + 1)
            return dec_fail(d, "block count past the end of the payload");
        for (int64_t i = 0; i < items; i++) {
            if (d->json && count++)
                buf_append_u8(d->json, ',');
            if (map) {
                if (dec_bytes(d, true, 0, false))
                    return -WEIR_EINVAL;
                if (d->json)
                    buf_append_u8(d->json, ':');
            }
            if (dec_node(d, n->items))
                return -WEIR_EINVAL;
        }
    }
    if (d->json)
        buf_append_u8(d->json, map ? '}' : ']');
    return 0;
}

static int dec_record(av_dec_t *d, const av_node_t *n)
{
    if (d->json)
        buf_append_u8(d->json, '{');
    for (size_t i = 0; i < n->nfields; i++) {
        if (d->json) {
            if (i)
                buf_append_u8(d->json, ',');
            reg_json_quote(d->json, n->fields[i].name, strlen(n->fields[i].name));
            buf_append_u8(d->json, ':');
        }
        if (dec_node(d, n->fields[i].type))
            return -WEIR_EINVAL;
    }
    if (d->json)
        buf_append_u8(d->json, '}');
    return 0;
}

static int dec_scalar(av_dec_t *d, const av_node_t *n)
{
    int64_t v;
    switch (n->kind) {
    case AV_NULL:
        if (d->json)
            buf_append_str(d->json, "null");
        return 0;
    case AV_BOOLEAN:
        if (d->p >= d->end || *d->p > 1)
            return dec_fail(d, "boolean is not 0 or 1");
        if (d->json)
            buf_append_str(d->json, *d->p ? "true" : "false");
        d->p++;
        return 0;
    case AV_INT:
    case AV_LONG:
        if (dec_long(d, &v))
            return -WEIR_EINVAL;
        if (n->kind == AV_INT && (v < INT32_MIN || v > INT32_MAX))
            return dec_fail(d, "int out of range");
        if (d->json)
            buf_printf(d->json, "%" PRId64, v);
        return 0;
    case AV_FLOAT:
    case AV_DOUBLE: {
        size_t k = n->kind == AV_FLOAT ? 4 : 8;
        if ((size_t)(d->end - d->p) < k)
            return dec_fail(d, "truncated floating-point value");
        if (d->json) {
            double x;
            if (k == 4) {
                uint32_t u = (uint32_t)d->p[0] | (uint32_t)d->p[1] << 8 | (uint32_t)d->p[2] << 16 |
                             (uint32_t)d->p[3] << 24;
                float f;
                memcpy(&f, &u, 4);
                x = f;
            } else {
                uint64_t u = 0;
                for (int i = 7; i >= 0; i--)
                    u = u << 8 | d->p[i];
                memcpy(&x, &u, 8);
            }
            if (isfinite(x))
                buf_printf(d->json, "%.17g", x);
            else
                buf_append_str(d->json, "null");
        }
        d->p += k;
        return 0;
    }
    default:
        return dec_bytes(d, n->kind == AV_STRING, 0, false);
    }
}

static int dec_node(av_dec_t *d, const av_node_t *n)
{
    if (++d->depth > AV_DECODE_DEPTH_MAX)
        return dec_fail(d, "value nested too deeply");
    int rc = 0;
    int64_t idx;
    switch (n->kind) {
    case AV_RECORD:
        rc = dec_record(d, n);
        break;
    case AV_ENUM:
        if ((rc = dec_long(d, &idx)))
            break;
        if (idx < 0 || (uint64_t)idx >= n->nsymbols) {
            rc = dec_fail(d, "enum index out of range");
            break;
        }
        if (d->json)
            reg_json_quote(d->json, n->symbols[idx], strlen(n->symbols[idx]));
        break;
    case AV_ARRAY:
    case AV_MAP:
        rc = dec_blocks(d, n);
        break;
    case AV_UNION:
        if ((rc = dec_long(d, &idx)))
            break;
        if (idx < 0 || (uint64_t)idx >= n->nbranches) {
            rc = dec_fail(d, "union branch index out of range");
            break;
        }
        rc = dec_node(d, n->branches[idx]);
        break;
    case AV_FIXED:
        rc = dec_bytes(d, false, (size_t)n->size, true);
        break;
    default:
        rc = dec_scalar(d, n);
    }
    d->depth--;
    return rc;
}

int reg_avro_decode(const registry_schema_t *s, const uint8_t *p, size_t n, buf_t *json, char *why,
                    size_t why_size)
{
    av_dec_t d = {p, p + n, p, json, why, why_size, 0};
    if (dec_node(&d, ((const av_schema_t *)s->model)->root))
        return -WEIR_EINVAL;
    if (d.p != d.end) {
        reg_errf(why, why_size, "Avro: %td bytes left after the value", d.end - d.p);
        return -WEIR_EINVAL;
    }
    return 0;
}
