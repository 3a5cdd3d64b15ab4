/*
 * principal_map: ssl.principal.mapping.rules against Kafka's semantics (first matching rule,
 * whole-subject match, $n, L/U, DEFAULT, no rule -> failure), the Java regex behaviour POSIX
 * lacks (lazy groups, leftmost-first alternation), the constructs refused when parsed, and a
 * pattern that would backtrack without end.
 */
#include "test.h"

#include "auth/auth.h"

#include <time.h>

/* The name rules give dn, or "<ENOENT>" / "<EINVAL>" / "<PARSE>". */
static const char *map(const char *rules, const char *dn, char *out, size_t out_len)
{
    auth_principal_map_t *pm = NULL;
    char err[400];
    if (auth_principal_map_parse(rules, &pm, err, sizeof(err)) < 0)
        return "<PARSE>";
    buf_t b = {0};
    buf_printf(&b, "User:"); /* what is there already keeps its case */
    int rc = auth_principal_map_apply(pm, dn, &b);
    WEIR_ASSERT(memcmp(b.data, "User:", 5) == 0);
    if (rc == 0)
        snprintf(out, out_len, "%.*s", (int)b.len - 5, (const char *)b.data + 5);
    else
        snprintf(out, out_len, "%s", rc == -WEIR_ENOENT ? "<ENOENT>" : "<EINVAL>");
    buf_deinit(&b);
    auth_principal_map_free(pm);
    return out;
}

static const struct {
    const char *rules, *dn, *want;
} CASES[] = {
    {"DEFAULT", "CN=alice,O=x", "CN=alice,O=x"},
    {"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT",
     "CN=kafka-server1,OU=ServiceUsers,O=org,L=city,ST=state,C=US", "kafka-server1"},
    {"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=duke,OU=JavaSoft,O=Sun",
     "CN=duke,OU=JavaSoft,O=Sun"},
    {"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
     "CN=Kafka-Server1,OU=ServiceUsers,O=org,L=city,ST=state,C=US", "kafka-server1@serviceusers"},
    {"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U", "OU=x,cn=Kafka-Server1.example", "KAFKA"},
    /* lazy against greedy: the group ends at the first comma, then at the last */
    {"RULE:^CN=(.*?),(.*)$/$1/", "CN=a,OU=b,O=c", "a"},
    {"RULE:^CN=(.*),(.*)$/$1/", "CN=a,OU=b,O=c", "a,OU=b"},
    /* Java's alternation takes the first alternative that lets the rest match */
    {"RULE:^(a|ab)(.*)$/$1-$2/", "abc", "a-bc"},
    {"RULE:^(?:CN|UID)=(\\w+)\\s*,.*$/$1/", "UID=bob_1 ,O=x", "bob_1"},
    {"RULE:^CN=(\\d{2,3})\\D.*$/n$1/", "CN=123x", "n123"},
    {"RULE:^CN=(\\d{2,3})\\D.*$/n$1/", "CN=1234x", "<ENOENT>"},
    /* the whole subject must match: no rule applies, which fails the authentication */
    {"RULE:CN=alice/a/", "CN=alice,O=x", "<ENOENT>"},
    {"RULE:^CN=([^,]+),O=x$/$1/,RULE:^CN=([^,]+).*$/other-$1/", "CN=bob,O=y", "other-bob"},
    /* \/ for a slash, $0 for the whole subject, $10 with one group: $1 then '0' */
    {"RULE:^CN=(.*)\\/x$/$1\\/y/", "CN=a/x", "a/y"},
    {"RULE:^CN=(.*)$/[$0]/", "CN=a", "[CN=a]"},
    {"RULE:^CN=(.*)$/$10/", "CN=a", "a0"},
    {"RULE:^CN=(x)?(.*)$/<$1>$2/", "CN=abc", "<>abc"},
    /* . and [^...] take one UTF-8 character, as Java takes one code point */
    {"RULE:^CN=(.)(.*)$/$1|$2/", "CN=\xc3\xa9t\xc3\xa9", "\xc3\xa9|t\xc3\xa9"},
    {"  RULE:^CN=(.*)$/$1/L ,  DEFAULT ", "CN=ALICE", "alice"},
    /* Kafka's replacement: a group the pattern lacks is literal, \x is x, empty rules are
     * skipped, and String.replaceAll also replaces the empty match at the end */
    {"RULE:^CN=(.*)$/$1-$2/", "CN=a", "a-$2"},
    {"RULE:^CN=(.*)$/\\$1\\x/", "CN=a", "$1x"},
    {",RULE:^CN=(.*)$/$1/,,DEFAULT,", "CN=a", "a"},
    {"RULE:(.*)/x$1/", "abc", "xabcx"},
    {"RULE:^(.*)$/x$1/", "abc", "xabc"},
    {"RULE:CN=([^,]*),?(.*)/<$1|$2>/", "CN=a,O=b", "<a|O=b>"}, /* no empty match */
};

TEST(mapping_rules_table)
{
    char out[256];
    for (size_t i = 0; i < WEIR_ARRAY_LEN(CASES); i++) {
        const char *got = map(CASES[i].rules, CASES[i].dn, out, sizeof(out));
        if (strcmp(got, CASES[i].want) != 0)
            fprintf(stderr, "case %zu: %s on %s: got '%s', want '%s'\n", i, CASES[i].rules,
                    CASES[i].dn, got, CASES[i].want);
        CHECK_STR(got, CASES[i].want);
    }
}

TEST(mapping_rules_refused)
{
    static const struct {
        const char *rules, *reason;
    } bad[] = {
        {"", "no rule"},
        {"FOO", "expected DEFAULT or RULE"},
        {"RULE:abc", "expected RULE:pattern/replacement/[LU]"},
        {"RULE:a/b/X", "unexpected 'X'"},
        {"RULE:abc/$1/", "the pattern has no group"},
        {"RULE:a/$x/", "must be followed by a group number"},
        {"RULE:(?i)cn=(.*)/$1/", "lookaround, flags"},
        {"RULE:(?=x).*/$1/", "lookaround, flags"},
        {"RULE:\\bCN/x/", "escape that is not supported"},
        {"RULE:(a)\\1/x/", "back references"},
        {"RULE:a*+/x/", "possessive"},
        {"RULE:[a-z&&[^e]]/x/", "nested classes"},
        {"RULE:(ab/x/", "unclosed ("},
        {"RULE:ab)/x/", "unbalanced )"},
        {"RULE:[ab/x/", "unclosed ["},
        {"RULE:*a/x/", "nothing to repeat"},
        {"RULE:a{2000}/x/", "at most 1000"},
        {"RULE:a{3,2}/x/", "m below n"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        auth_principal_map_t *pm = NULL;
        char err[400] = "";
        int rc = auth_principal_map_parse(bad[i].rules, &pm, err, sizeof(err));
        CHECK_EQ(rc, -WEIR_EINVAL);
        CHECK(pm == NULL);
        if (!strstr(err, bad[i].reason))
            fprintf(stderr, "'%s': error '%s' lacks '%s'\n", bad[i].rules, err, bad[i].reason);
        CHECK(strstr(err, bad[i].reason) != NULL);
        CHECK(strstr(err, "ssl.principal.mapping.rules") == err);
    }
}

/* (a*)*b on a long run of a's backtracks exponentially in Java; here the step bound ends it
 * as no match, well within a millisecond's order, and the next rule still applies. */
TEST(mapping_rules_bounded)
{
    char dn[64], out[256];
    memset(dn, 'a', 40);
    dn[40] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_STR(map("RULE:^(a*)*b$/x/,DEFAULT", dn, out, sizeof(out)), dn);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms < 2000);
    char *big = malloc(AUTH_PRINCIPAL_DN_MAX + 2);
    memset(big, 'a', AUTH_PRINCIPAL_DN_MAX + 1);
    big[AUTH_PRINCIPAL_DN_MAX + 1] = 0;
    CHECK_STR(map("DEFAULT", big, out, sizeof(out)), "<EINVAL>");
    free(big);
}

TEST_MAIN()
