/*
 * libFuzzer target for ssl.principal.mapping.rules (src/auth/principal_map.c): the input up to
 * its first newline is the rules, the rest a certificate subject. Rules that parse are applied
 * to the subject. Oracles: no crash or sanitizer report; the matcher's bounds hold (each apply
 * returns within the step bound: libFuzzer's -timeout catches one that does not); a name is
 * no longer than the replacements can make it; DEFAULT appended to rules that parse still
 * parses and always gives a name. Seeds: tests/fuzz/corpus/principal_map/.
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t rules_len = nl ? (size_t)(nl - data) : size;
    char *rules = weir_strndup((const char *)data, rules_len);
    char *dn = nl ? weir_strndup((const char *)nl + 1, size - rules_len - 1) : weir_strndup("", 0);
    char err[400];
    auth_principal_map_t *pm = NULL;
    if (strlen(rules) == rules_len && auth_principal_map_parse(rules, &pm, err, sizeof(err)) == 0) {
        buf_t out = {0};
        int rc = auth_principal_map_apply(pm, dn, &out);
        /* each replacement character yields at most the whole subject ($0) */
        if (rc == 0 && out.len > (rules_len + 1) * (strlen(dn) + 1))
            abort();
        if (rc != 0 && rc != -WEIR_ENOENT && rc != -WEIR_EINVAL)
            abort();
        buf_deinit(&out);
        auth_principal_map_free(pm);
        buf_t with_default = {0};
        buf_printf(&with_default, "%s,DEFAULT", rules);
        buf_append_u8(&with_default, 0);
        if (auth_principal_map_parse((char *)with_default.data, &pm, err, sizeof(err)) != 0)
            abort();
        buf_t named = {0};
        if (auth_principal_map_apply(pm, dn, &named) != 0 && strlen(dn) <= AUTH_PRINCIPAL_DN_MAX)
            abort();
        buf_deinit(&named);
        buf_deinit(&with_default);
        auth_principal_map_free(pm);
    }
    free(rules);
    free(dn);
    return 0;
}
