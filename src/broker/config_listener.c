/*
 * Listener-prefixed settings, as Kafka has them: listener.name.<listener>.<setting> gives one
 * listener its own value of a setting (its own keystore, truststore, client auth, SASL
 * mechanisms), and listener.name.<listener>.<mechanism>.<setting> one SASL mechanism on it (its
 * connections.max.reauth.ms). The listener name is written lowercased, as Kafka requires; the
 * setting after the prefix must be a setting Kafka defines and its value passes the same checks
 * as the shared one. Whether the listener exists is only known once `listeners` is read: the
 * server checks that (src/server/listeners.c) and which of these it applies.
 *
 * Invariant: every entry holds a known key and a checked, normalized value; one entry per
 * (listener, mechanism, key), the last one given winning.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* The SASL mechanisms a prefix may name, lowercased as Kafka writes them. */
static const char *const listener_mechanisms[] = {"plain", "scram-sha-256", "scram-sha-512",
                                                  "oauthbearer", "gssapi"};

static bool is_mechanism(const char *s, size_t n)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(listener_mechanisms); i++)
        if (strlen(listener_mechanisms[i]) == n && memcmp(listener_mechanisms[i], s, n) == 0)
            return true;
    return false;
}

/* Splits what follows "listener.name.<listener>." into an optional mechanism and a key. */
static int split_rest(const char *rest, char *mech, size_t mech_cap, int *key)
{
    mech[0] = '\0';
    *key = broker_cfg_find(rest, strlen(rest));
    if (*key >= 0)
        return 0;
    const char *dot = strchr(rest, '.');
    if (!dot || !is_mechanism(rest, (size_t)(dot - rest)) || (size_t)(dot - rest) >= mech_cap)
        return -WEIR_EINVAL;
    memcpy(mech, rest, (size_t)(dot - rest));
    mech[dot - rest] = '\0';
    *key = broker_cfg_find(dot + 1, strlen(dot + 1));
    return *key >= 0 ? 0 : -WEIR_EINVAL;
}

int broker_settings_listener_set(broker_settings_t *s, const char *key, const char *value,
                                 char *err, size_t err_len)
{
    const char *name = key + strlen("listener.name.");
    const char *dot = strchr(name, '.');
    if (!dot || dot == name) {
        snprintf(err, err_len, "'%s': expected listener.name.<listener>.<setting>", key);
        return -WEIR_EINVAL;
    }
    size_t name_len = (size_t)(dot - name);
    for (size_t i = 0; i < name_len; i++) {
        if (isupper((unsigned char)name[i])) {
            snprintf(err, err_len,
                     "'%s': the listener name in listener.name.<listener>. is written in lower "
                     "case, as Kafka requires",
                     key);
            return -WEIR_EINVAL;
        }
    }
    char mech[32];
    int k;
    if (split_rest(dot + 1, mech, sizeof(mech), &k) < 0) {
        snprintf(err, err_len, "unknown setting '%s' (after listener.name.%.*s.)", dot + 1,
                 (int)name_len, name);
        return -WEIR_EINVAL;
    }
    char norm[BROKER_CFG_VALUE_MAX], msg[256];
    if (broker_cfg_check(k, value, norm, sizeof(norm), msg, sizeof(msg)) < 0) {
        snprintf(err, err_len, "%s: %s", key, msg);
        return -WEIR_EINVAL;
    }
    for (size_t i = 0; i < s->per_listener_n; i++) {
        broker_listener_setting_t *e = &s->per_listener[i];
        if (e->key == k && strlen(e->listener) == name_len &&
            memcmp(e->listener, name, name_len) == 0 && strcmp(e->mechanism, mech) == 0) {
            free(e->value);
            e->value = weir_strdup(norm);
            return 0;
        }
    }
    s->per_listener =
        weir_realloc(s->per_listener, (s->per_listener_n + 1) * sizeof(*s->per_listener));
    s->per_listener[s->per_listener_n++] = (broker_listener_setting_t){
        .listener = weir_strndup(name, name_len),
        .mechanism = weir_strdup(mech),
        .key = k,
        .value = weir_strdup(norm),
    };
    return 0;
}

void broker_settings_listener_free(broker_settings_t *s)
{
    for (size_t i = 0; i < s->per_listener_n; i++) {
        free(s->per_listener[i].listener);
        free(s->per_listener[i].mechanism);
        free(s->per_listener[i].value);
    }
    free(s->per_listener);
    s->per_listener = NULL;
    s->per_listener_n = 0;
}

static const char *listener_find(const broker_settings_t *s, const char *listener,
                                 const char *mechanism, int key)
{
    for (size_t i = 0; i < s->per_listener_n; i++) {
        const broker_listener_setting_t *e = &s->per_listener[i];
        if (e->key == key && strcasecmp(e->listener, listener) == 0 &&
            strcasecmp(e->mechanism, mechanism) == 0)
            return e->value;
    }
    return NULL;
}

const char *broker_settings_listener(const broker_settings_t *s, const char *listener,
                                     const char *mechanism, int key)
{
    const char *v = mechanism ? listener_find(s, listener, mechanism, key) : NULL;
    return v ? v : listener_find(s, listener, "", key);
}
