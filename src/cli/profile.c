/*
 * Profiles: named brokers (and their schema registry and librdkafka settings) in
 * ~/.config/weir/weir.yaml, so `weir --profile prod topic list` or WEIR_PROFILE=prod reach a
 * cluster without repeating -b and -X. The file is a small subset of YAML, read here without a
 * YAML library:
 *
 *   current: local                 # the profile used when none is named
 *   profiles:
 *     local:
 *       brokers: 127.0.0.1:9092
 *       registry: http://127.0.0.1:8081
 *     prod:
 *       brokers: "kafka-1:9092,kafka-2:9092"
 *       settings:                  # any librdkafka setting, as with -X
 *         security.protocol: SASL_SSL
 *
 * Keys are "name: value" or "name:" opening a nested map (indented by spaces); values may be
 * quoted ('...' or "..."); "#" starts a comment outside quotes. Where the brokers come from,
 * first wins: -b, $WEIR_BROKERS, the profile (--profile, $WEIR_PROFILE, `current`), then
 * 127.0.0.1:9092.
 *
 * Invariant: the file is read whole and bounded (CLI_PROFILE_FILE_MAX); a line that does not
 * parse is an error naming its line, never a guess.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>

#define CLI_PROFILE_FILE_MAX (256u << 10)

const char *cli_profile_path(char *buf, size_t cap)
{
    const char *p = getenv("WEIR_CONFIG");
    if (p && *p)
        return p;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, cap, "%s/weir/weir.yaml", xdg);
    else if (home && *home)
        snprintf(buf, cap, "%s/.config/weir/weir.yaml", home);
    else
        return NULL;
    return buf;
}

/* Strips a comment, trailing spaces and matching quotes; returns the value in place. */
static char *yaml_value(char *v)
{
    while (*v == ' ')
        v++;
    char q = (*v == '"' || *v == '\'') ? *v : 0;
    if (q) {
        char *end = strchr(v + 1, q);
        if (!end)
            return NULL;
        *end = '\0';
        return v + 1;
    }
    char *hash = strchr(v, '#');
    if (hash)
        *hash = '\0';
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\r'))
        v[--n] = '\0';
    return v;
}

/* One "key: value" line at an indentation; NULL key for blank and comment lines. */
static int yaml_line(char *line, int *indent, char **key, char **value)
{
    *key = *value = NULL;
    int i = 0;
    while (line[i] == ' ')
        i++;
    if (line[i] == '\t')
        return -1; /* YAML forbids tabs for indentation */
    if (line[i] == '\0' || line[i] == '#' || line[i] == '\r')
        return 0;
    char *colon = strchr(line + i, ':');
    if (!colon || (colon[1] != '\0' && colon[1] != ' ' && colon[1] != '\r'))
        return -1;
    *colon = '\0';
    *indent = i;
    *key = line + i;
    *value = yaml_value(colon + 1);
    return *value ? 0 : -1;
}

static void profile_set(cli_profile_t *p, const char *key, const char *value, bool in_settings)
{
    if (in_settings) {
        if (p->nsettings < CLI_XCONF_MAX) {
            size_t n = strlen(key) + strlen(value) + 2;
            char *kv = weir_malloc(n);
            snprintf(kv, n, "%s=%s", key, value);
            p->settings[p->nsettings++] = kv;
        }
    } else if (strcmp(key, "brokers") == 0) {
        free(p->brokers);
        p->brokers = weir_strdup(value);
    } else if (strcmp(key, "registry") == 0) {
        free(p->registry);
        p->registry = weir_strdup(value);
    }
}

/* Every profile of the file into all (at most CLI_PROFILES_MAX). */
static int profiles_parse(char *text, cli_profiles_t *all, char *err, size_t cap)
{
    int depth_name = -1, depth_key = -1;
    bool in_profiles = false, in_settings = false;
    cli_profile_t *cur = NULL;
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        int indent = 0;
        char *key, *value;
        if (yaml_line(line, &indent, &key, &value) != 0) {
            snprintf(err, cap, "line %d: expected 'name: value' indented with spaces", lineno);
            return -WEIR_EINVAL;
        }
        if (!key)
            continue;
        if (indent == 0) {
            in_profiles = strcmp(key, "profiles") == 0;
            depth_name = -1;
            cur = NULL;
            if (strcmp(key, "current") == 0)
                snprintf(all->current, sizeof(all->current), "%s", value);
            continue;
        }
        if (!in_profiles)
            continue;
        if (depth_name < 0 || indent <= depth_name) { /* a profile's name */
            depth_name = indent;
            depth_key = -1;
            in_settings = false;
            cur = all->n < CLI_PROFILES_MAX ? &all->items[all->n++] : NULL;
            if (cur)
                snprintf(cur->name, sizeof(cur->name), "%s", key);
            continue;
        }
        if (depth_key < 0 || indent <= depth_key) {
            depth_key = indent;
            in_settings = strcmp(key, "settings") == 0 && !*value;
            if (!in_settings && cur)
                profile_set(cur, key, value, false);
            continue;
        }
        if (in_settings && cur)
            profile_set(cur, key, value, true);
    }
    return 0;
}

void cli_profile_free(cli_profile_t *p)
{
    free(p->brokers);
    free(p->registry);
    for (size_t i = 0; i < p->nsettings; i++)
        free(p->settings[i]);
    memset(p, 0, sizeof(*p));
}

void cli_profiles_free(cli_profiles_t *all)
{
    for (size_t i = 0; i < all->n; i++)
        cli_profile_free(&all->items[i]);
    memset(all, 0, sizeof(*all));
}

int cli_profiles_load(cli_profiles_t *all, char *err, size_t cap)
{
    memset(all, 0, sizeof(*all));
    const char *path = cli_profile_path(all->path, sizeof(all->path));
    if (!path)
        return -WEIR_ENOENT;
    if (path != all->path)
        snprintf(all->path, sizeof(all->path), "%s", path);
    FILE *f = fopen(all->path, "r");
    if (!f) {
        snprintf(err, cap, "%s: %s", all->path, strerror(errno));
        return errno == ENOENT ? -WEIR_ENOENT : -WEIR_EIO;
    }
    char *text = weir_malloc(CLI_PROFILE_FILE_MAX + 1);
    size_t n = fread(text, 1, CLI_PROFILE_FILE_MAX + 1, f);
    fclose(f);
    int rc = 0;
    if (n > CLI_PROFILE_FILE_MAX) {
        snprintf(err, cap, "%s: larger than %u KiB", all->path, CLI_PROFILE_FILE_MAX >> 10);
        rc = -WEIR_ETOOBIG;
    } else {
        text[n] = '\0';
        char msg[200] = "";
        rc = profiles_parse(text, all, msg, sizeof(msg));
        if (rc != 0)
            snprintf(err, cap, "%s: %s", all->path, msg);
    }
    free(text);
    return rc;
}

const cli_profile_t *cli_profiles_find(const cli_profiles_t *all, const char *name)
{
    for (size_t i = 0; name && i < all->n; i++)
        if (strcmp(all->items[i].name, name) == 0)
            return &all->items[i];
    return NULL;
}
