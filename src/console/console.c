/*
 * The console's files over HTTP: each answer carries the build's ETag and "no-cache", so a
 * browser revalidates with If-None-Match and gets a 304 without the bytes; a new build changes
 * the ETag. The Content-Security-Policy allows only this origin: the console works offline and
 * loads nothing from elsewhere.
 */
#include "console/console.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(types); i++) {
        size_t e = strlen(types[i].ext);
        if (n >= e && strcmp(path + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

const console_file_t *console_file_find(const char *path)
{
    for (size_t i = 0; i < console_files_count; i++)
        if (strcmp(console_files[i].path, path) == 0)
            return &console_files[i];
    return NULL;
}

static void console_http(void *arg, const http_request_t *req, http_response_t *resp)
{
    (void)arg;
    const char *rel = req->path + strlen("/ui/");
    const console_file_t *f = console_file_find(*rel ? rel : "index.html");
    if (!f) {
        resp->status = 404;
        resp->content_type = "application/json";
        buf_append_str(&resp->body, "{\"error\":\"not_found\",\"message\":\"no such file\"}");
        return;
    }
    http_response_header(resp, "ETag", console_files_etag);
    http_response_header(resp, "Cache-Control", "no-cache");
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_response_header(resp, "Content-Security-Policy",
                         "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                         "img-src 'self' data:; frame-ancestors 'none'");
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm && strcmp(inm, console_files_etag) == 0) {
        resp->status = 304;
        return;
    }
    resp->content_type = type_of(f->path);
    resp->static_body = f->data;
    resp->static_len = f->len;
}

static void console_root(void *arg, const http_request_t *req, http_response_t *resp)
{
    (void)arg;
    (void)req;
    resp->status = 302;
    resp->content_type = "text/plain; charset=utf-8";
    http_response_header(resp, "Location", "/ui/");
    buf_append_str(&resp->body, "the console is at /ui/\n");
}

void console_routes(http_server_t *s)
{
    http_server_route(s, "GET", "/ui/", console_http, NULL);
    http_server_route(s, "GET", "/ui", console_root, NULL);
    http_server_route(s, "GET", "/", console_root, NULL);
}
