/*
 * console: the web console's static files (ui/ in the source tree: HTML, CSS and JavaScript
 * written by hand, no framework, no CDN), embedded in the binary at build time by
 * scripts/embed_files.c and served under /ui/. The pages talk to the admin API (/api/v1/),
 * /metrics when it exists, and the schema registry.
 *
 * Threads: the files are constant; any HTTP pool thread serves them.
 */
#ifndef WEIR_CONSOLE_H
#define WEIR_CONSOLE_H

#include "base/base.h"
#include "http/http.h"

typedef struct {
    const char *path; /* relative to ui/: "index.html", "js/app.js" */
    const uint8_t *data;
    size_t len;
} console_file_t;

/* Generated (build/gen/console_files.c). */
extern const console_file_t console_files[];
extern const size_t console_files_count;
extern const char console_files_etag[];

/* Registers GET /ui/ (the files; /ui/ is index.html) and GET / (a redirect to /ui/). */
void console_routes(http_server_t *s);
/* A file by its path, or NULL (tests, the benchmark). */
const console_file_t *console_file_find(const char *path);

#endif
