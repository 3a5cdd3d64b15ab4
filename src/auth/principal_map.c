/*
 * principal_map: Kafka's ssl.principal.mapping.rules, which turn a TLS client certificate's
 * subject (RFC 2253) into the name of the principal User:<name>.
 *
 * The rules are a comma-separated list of DEFAULT (the subject unchanged) and
 * RULE:pattern/replacement/[LU]; the first rule whose pattern matches the whole subject
 * (Java's Matcher.matches()) gives the name: the replacement with $n replaced by group n
 * (a group the pattern lacks stays literal text, as Kafka escapes it), \x by x, then
 * lowercased (L) or uppercased (U); an empty match at the end is replaced too, as
 * String.replaceAll does. No rule matching is a failed authentication, as in Kafka. A slash
 * inside a pattern or replacement is written \/.
 *
 * Patterns are Java regular expressions, and POSIX regex.h cannot give their meaning (lazy
 * quantifiers, whose capture groups end as early as possible, and Java's leftmost-first
 * alternation), so this file has its own small backtracking matcher over the subset of Java's
 * syntax that rules use: literals, `.`, classes `[a-z]` `[^,]`, `\d \D \w \W \s \S`, groups
 * `( )` and `(?: )`, `|`, `^ $`, and `* + ? {n} {n,} {n,m}` each greedy or lazy (`*?`).
 * Everything else (lookaround, flags such as (?i), named groups, back references, \b, \Q,
 * possessive quantifiers, \p{...}, nested classes) is refused when the rules are parsed, with
 * the reason, so a rule never means something else than it does in Kafka. `.` and a negated
 * class match one UTF-8 character, as Java matches one code point.
 *
 * Invariant: matching is bounded (RX_STEPS_MAX steps, subjects of at most
 * AUTH_PRINCIPAL_DN_MAX bytes): a pattern that would backtrack without end fails the match
 * instead of stalling the loop thread that authenticates. Pure computation; a parsed map is
 * read-only and may be shared by threads.
 */
#include "auth/auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_STEPS_MAX  200000
#define RX_DEPTH_MAX  12000
#define RX_GROUPS_MAX 32
#define RX_REPEAT_MAX 1000 /* the largest n of {n} / {n,m} */

enum { RX_CHAR, RX_SET, RX_GROUP, RX_BOL, RX_EOL };

typedef struct rx_node rx_node_t;

typedef struct {
    rx_node_t **v;
    int n;
} rx_seq_t;

struct rx_node {
    int kind;
    uint8_t c;       /* RX_CHAR */
    uint8_t set[32]; /* RX_SET: the ASCII bytes it holds, as a bitmap */
    bool negated;    /* RX_SET: also every non-ASCII character */
    int cap;         /* RX_GROUP: the capture group's number, 0: (?: ) */
    rx_seq_t *alts;  /* RX_GROUP: the alternatives */
    int nalts;       /* RX_GROUP */
    int min, max;    /* how often; max -1: no limit */
    bool lazy;       /* *? +? ?? {n,m}? */
};

typedef struct {
    bool is_default;
    rx_seq_t *alts; /* the pattern: one group of alternatives */
    int nalts;
    int ngroups;
    char *replacement; /* raw: $n and \/ still in it */
    char fold;         /* 'L', 'U' or 0 */
} pm_rule_t;

struct auth_principal_map {
    pm_rule_t *rules;
    int n;
};

/* ---- the pattern parser -------------------------------------------------------------------- */

typedef struct {
    const char *p;
    int ngroups;
    char *err;
    size_t err_len;
} rx_parser_t;

static void rx_free_alts(rx_seq_t *alts, int n);

static void rx_node_free(rx_node_t *nd)
{
    if (!nd)
        return;
    if (nd->kind == RX_GROUP)
        rx_free_alts(nd->alts, nd->nalts);
    free(nd);
}

static void rx_free_alts(rx_seq_t *alts, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < alts[i].n; j++)
            rx_node_free(alts[i].v[j]);
        free(alts[i].v);
    }
    free(alts);
}

static bool rx_fail(rx_parser_t *ps, const char *what)
{
    if (!ps->err[0])
        snprintf(ps->err, ps->err_len, "%s", what);
    return false;
}

static void set_add(uint8_t *set, int c)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const uint8_t *set, int c)
{
    return (set[c >> 3] >> (c & 7)) & 1;
}

/* \d \w \s (and their negations when negate) added to set. */
static void set_add_class(uint8_t *set, char cls, bool negate)
{
    for (int c = 0; c < 128; c++) {
        bool in = cls == 'd'   ? isdigit(c)
                  : cls == 'w' ? (isalnum(c) || c == '_')
                               : (c == ' ' || (c >= '\t' && c <= '\r'));
        if (in != negate)
            set_add(set, c);
    }
}

static int escape_char(char e)
{
    switch (e) {
    case 't':
        return '\t';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 'f':
        return '\f';
    default:
        return isalnum((unsigned char)e) ? -1 : (unsigned char)e;
    }
}

static bool parse_class(rx_parser_t *ps, rx_node_t *nd)
{
    nd->kind = RX_SET;
    if (*ps->p == '^') {
        nd->negated = true;
        ps->p++;
    }
    bool first = true;
    while (*ps->p && (*ps->p != ']' || first)) {
        first = false;
        int c = (unsigned char)*ps->p++;
        if (c == '[' || (c == '&' && *ps->p == '&'))
            return rx_fail(ps, "nested classes and && inside [...] are not supported");
        if (c >= 0x80)
            return rx_fail(ps, "a non-ASCII character inside [...] is not supported");
        if (c == '\\') {
            char e = *ps->p++;
            if (e == 'd' || e == 'w' || e == 's') {
                set_add_class(nd->set, e, false);
                continue;
            }
            c = escape_char(e);
            if (c < 0 || e == 0)
                return rx_fail(ps, "an escape inside [...] that is not supported (\\d \\w \\s "
                                   "and escaped punctuation are)");
        }
        int hi = c;
        if (ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
            hi = (unsigned char)ps->p[1];
            if (hi == '\\' || hi == '[' || hi >= 0x80 || hi < c)
                return rx_fail(ps, "a range inside [...] that is not supported");
            ps->p += 2;
        }
        for (int x = c; x <= hi; x++)
            set_add(nd->set, x);
    }
    if (*ps->p != ']')
        return rx_fail(ps, "unclosed [");
    ps->p++;
    if (nd->negated)
        for (int i = 0; i < 16; i++)
            nd->set[i] = (uint8_t)~nd->set[i];
    return true;
}

static bool parse_alts(rx_parser_t *ps, rx_seq_t **alts, int *nalts);

static bool parse_escape(rx_parser_t *ps, rx_node_t *nd)
{
    char e = *ps->p++;
    if (e == 'd' || e == 'w' || e == 's' || e == 'D' || e == 'W' || e == 'S') {
        nd->kind = RX_SET;
        bool neg = isupper((unsigned char)e);
        set_add_class(nd->set, (char)tolower((unsigned char)e), neg);
        nd->negated = neg;
        return true;
    }
    int c = e ? escape_char(e) : -1;
    if (c < 0)
        return rx_fail(ps, "an escape that is not supported (\\d \\D \\w \\W \\s \\S \\t \\n "
                           "and escaped punctuation are; \\b, \\Q, \\p, back references are not)");
    nd->kind = RX_CHAR;
    nd->c = (uint8_t)c;
    return true;
}

static bool parse_atom(rx_parser_t *ps, rx_node_t *nd)
{
    int c = (unsigned char)*ps->p++;
    switch (c) {
    case '(':
        if (ps->p[0] == '?' && ps->p[1] == ':') {
            ps->p += 2;
        } else if (ps->p[0] == '?') {
            return rx_fail(ps, "(?...) other than (?:...) is not supported (lookaround, flags "
                               "such as (?i), named groups)");
        } else {
            if (++ps->ngroups > RX_GROUPS_MAX)
                return rx_fail(ps, "more than 32 capture groups");
            nd->cap = ps->ngroups;
        }
        nd->kind = RX_GROUP;
        if (!parse_alts(ps, &nd->alts, &nd->nalts))
            return false;
        if (*ps->p != ')')
            return rx_fail(ps, "unclosed (");
        ps->p++;
        return true;
    case '[':
        return parse_class(ps, nd);
    case '.':
        nd->kind = RX_SET;
        nd->negated = true;
        memset(nd->set, 0xff, 16);
        nd->set['\n' >> 3] &= (uint8_t) ~(1u << ('\n' & 7));
        nd->set['\r' >> 3] &= (uint8_t) ~(1u << ('\r' & 7));
        return true;
    case '^':
        nd->kind = RX_BOL;
        return true;
    case '$':
        nd->kind = RX_EOL;
        return true;
    case '\\':
        return parse_escape(ps, nd);
    case '*':
    case '+':
    case '?':
    case '{':
        return rx_fail(ps, "a quantifier with nothing to repeat");
    default:
        nd->kind = RX_CHAR;
        nd->c = (uint8_t)c;
        return true;
    }
}

static bool parse_count(rx_parser_t *ps, int *out)
{
    if (!isdigit((unsigned char)*ps->p))
        return false;
    long v = 0;
    while (isdigit((unsigned char)*ps->p) && v <= RX_REPEAT_MAX)
        v = v * 10 + (*ps->p++ - '0');
    *out = (int)v;
    return v <= RX_REPEAT_MAX;
}

static bool parse_quantifier(rx_parser_t *ps, rx_node_t *nd)
{
    nd->min = nd->max = 1;
    char q = *ps->p;
    if (q == '*' || q == '+' || q == '?') {
        nd->min = q == '+' ? 1 : 0;
        nd->max = q == '?' ? 1 : -1;
        ps->p++;
    } else if (q == '{') {
        ps->p++;
        if (!parse_count(ps, &nd->min))
            return rx_fail(ps, "a {n,m} quantifier without a count of at most 1000");
        nd->max = nd->min;
        if (*ps->p == ',') {
            ps->p++;
            nd->max = -1;
            if (*ps->p != '}' && (!parse_count(ps, &nd->max) || nd->max < nd->min))
                return rx_fail(ps, "a {n,m} quantifier with m below n or over 1000");
        }
        if (*ps->p++ != '}')
            return rx_fail(ps, "an unclosed {n,m} quantifier");
    } else {
        return true;
    }
    if (*ps->p == '?') {
        nd->lazy = true;
        ps->p++;
    } else if (*ps->p == '+') {
        return rx_fail(ps, "possessive quantifiers (*+ ++ ?+) are not supported");
    }
    return true;
}

static bool parse_seq(rx_parser_t *ps, rx_seq_t *seq)
{
    while (*ps->p && *ps->p != '|' && *ps->p != ')') {
        rx_node_t *nd = weir_calloc(1, sizeof(*nd));
        seq->v = weir_realloc(seq->v, sizeof(*seq->v) * (size_t)(seq->n + 1));
        seq->v[seq->n++] = nd;
        if (!parse_atom(ps, nd) || !parse_quantifier(ps, nd))
            return false;
    }
    return true;
}

static bool parse_alts(rx_parser_t *ps, rx_seq_t **alts, int *nalts)
{
    for (;;) {
        *alts = weir_realloc(*alts, sizeof(**alts) * (size_t)(*nalts + 1));
        rx_seq_t *seq = &(*alts)[(*nalts)++];
        memset(seq, 0, sizeof(*seq));
        if (!parse_seq(ps, seq))
            return false;
        if (*ps->p != '|')
            return true;
        ps->p++;
    }
}

/* ---- the matcher --------------------------------------------------------------------------- */

/* What to match after the current node: the rest of a sequence, another iteration of a
 * repeated node, or the end of a group (which records its capture). */
enum { K_SEQ, K_ITER, K_GROUP_END };

typedef struct rx_cont {
    int kind;
    const rx_seq_t *seq; /* K_SEQ: continue at node i */
    int i;
    const rx_node_t *nd; /* K_ITER, K_GROUP_END */
    int count;           /* K_ITER: iterations done */
    size_t start;        /* K_ITER, K_GROUP_END: where the iteration or group began */
    const struct rx_cont *next;
} rx_cont_t;

typedef struct {
    const uint8_t *s;
    size_t len;
    size_t caps[RX_GROUPS_MAX + 1][2];
    bool set[RX_GROUPS_MAX + 1];
    long steps;
    int depth;
} rx_match_t;

static bool m_cont(rx_match_t *m, size_t pos, const rx_cont_t *k);
static bool m_seq(rx_match_t *m, const rx_seq_t *seq, int i, size_t pos, const rx_cont_t *k);

/* The length of the UTF-8 character at pos (1 for a stray byte). */
static size_t utf8_len(const rx_match_t *m, size_t pos)
{
    uint8_t b = m->s[pos];
    size_t n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    size_t k = 1;
    while (k < n && pos + k < m->len && (m->s[pos + k] & 0xc0) == 0x80)
        k++;
    return k;
}

static bool m_one(rx_match_t *m, const rx_node_t *nd, int count, size_t pos, const rx_cont_t *k)
{
    rx_cont_t iter = {.kind = K_ITER, .nd = nd, .count = count + 1, .start = pos, .next = k};
    switch (nd->kind) {
    case RX_CHAR:
        return pos < m->len && m->s[pos] == nd->c && m_cont(m, pos + 1, &iter);
    case RX_SET:
        if (pos >= m->len)
            return false;
        if (m->s[pos] >= 0x80)
            return nd->negated && m_cont(m, pos + utf8_len(m, pos), &iter);
        return set_has(nd->set, m->s[pos]) && m_cont(m, pos + 1, &iter);
    case RX_BOL:
        return pos == 0 && m_cont(m, pos, &iter);
    case RX_EOL:
        return pos == m->len && m_cont(m, pos, &iter);
    default:
        break;
    }
    rx_cont_t end = {.kind = K_GROUP_END, .nd = nd, .start = pos, .next = &iter};
    for (int a = 0; a < nd->nalts; a++)
        if (m_seq(m, &nd->alts[a], 0, pos, &end))
            return true;
    return false;
}

/* nd after count iterations: another one, or what follows, in greedy or lazy order. */
static bool m_node(rx_match_t *m, const rx_node_t *nd, int count, size_t pos, const rx_cont_t *k)
{
    if (++m->steps > RX_STEPS_MAX || m->depth > RX_DEPTH_MAX)
        return false;
    m->depth++;
    bool can_stop = count >= nd->min;
    bool can_more = nd->max < 0 || count < nd->max;
    bool ok;
    if (nd->lazy)
        ok = (can_stop && m_cont(m, pos, k)) || (can_more && m_one(m, nd, count, pos, k));
    else
        ok = (can_more && m_one(m, nd, count, pos, k)) || (can_stop && m_cont(m, pos, k));
    m->depth--;
    return ok;
}

static bool m_seq(rx_match_t *m, const rx_seq_t *seq, int i, size_t pos, const rx_cont_t *k)
{
    if (i == seq->n)
        return m_cont(m, pos, k);
    rx_cont_t rest = {.kind = K_SEQ, .seq = seq, .i = i + 1, .next = k};
    return m_node(m, seq->v[i], 0, pos, &rest);
}

static bool m_cont(rx_match_t *m, size_t pos, const rx_cont_t *k)
{
    if (!k)
        return pos == m->len; /* matches(): the whole subject */
    switch (k->kind) {
    case K_SEQ:
        return m_seq(m, k->seq, k->i, pos, k->next);
    case K_ITER:
        /* An iteration that matched nothing ends the repetition (as Java does), else
         * x* of an empty-matching x would loop without end. */
        if (pos == k->start)
            return m_cont(m, pos, k->next);
        return m_node(m, k->nd, k->count, pos, k->next);
    default:
        break;
    }
    int g = k->nd->cap;
    if (!g)
        return m_cont(m, pos, k->next);
    size_t old0 = m->caps[g][0], old1 = m->caps[g][1];
    bool old_set = m->set[g];
    m->caps[g][0] = k->start;
    m->caps[g][1] = pos;
    m->set[g] = true;
    if (m_cont(m, pos, k->next))
        return true;
    m->caps[g][0] = old0;
    m->caps[g][1] = old1;
    m->set[g] = old_set;
    return false;
}

/* ---- rules --------------------------------------------------------------------------------- */

/* The number of the group reference at r (after '$'): Java takes the first digit, then each
 * next one while the number stays a group of the pattern. -1 when r holds no digit. */
static int group_ref(const char *r, int ngroups, size_t *used)
{
    if (!isdigit((unsigned char)r[0]))
        return -1;
    int g = r[0] - '0';
    size_t i = 1;
    while (isdigit((unsigned char)r[i]) && g * 10 + (r[i] - '0') <= ngroups)
        g = g * 10 + (r[i++] - '0');
    *used = i;
    return g;
}

/* Refuses what Java's Matcher.replaceAll would throw on when the rule is applied: '$' not
 * followed by a group number, a back reference in a pattern without groups, a trailing '\\'.
 * With groups, Kafka turns a reference to a group the pattern lacks into the literal text
 * (`$4` with 3 groups stays "$4"), and so does expand(). */
static bool check_replacement(const char *r, int ngroups, char *err, size_t err_len)
{
    for (size_t i = 0; r[i]; i++) {
        if (r[i] == '\\') {
            if (!r[++i]) {
                snprintf(err, err_len, "replacement '%s': a trailing '\\'", r);
                return false;
            }
            continue;
        }
        if (r[i] != '$')
            continue;
        size_t used;
        int g = group_ref(r + i + 1, ngroups, &used);
        if (g < 0 || (g > 0 && ngroups == 0)) {
            snprintf(err, err_len,
                     g < 0 ? "replacement '%s': '$' must be followed by a group number"
                           : "replacement '%s': a group reference, and the pattern has no group",
                     r);
            return false;
        }
    }
    return true;
}

/* One part of a rule up to its unescaped '/': a copy into *out; *p moves past the '/'. */
static bool read_part(const char **p, char **out)
{
    const char *s = *p, *e = s;
    while (*e && *e != '/')
        e += e[0] == '\\' && e[1] ? 2 : 1;
    if (*e != '/')
        return false;
    *out = weir_strndup(s, (size_t)(e - s));
    *p = e + 1;
    return true;
}

static bool parse_rule(const char **p, pm_rule_t *r, char *err, size_t err_len)
{
    char *pattern = NULL;
    if (!read_part(p, &pattern) || !read_part(p, &r->replacement)) {
        free(pattern);
        snprintf(err, err_len, "expected RULE:pattern/replacement/[LU]");
        return false;
    }
    if (**p == 'L' || **p == 'U')
        r->fold = *(*p)++;
    char why[200] = "";
    rx_parser_t ps = {.p = pattern, .err = why, .err_len = sizeof(why)};
    bool ok = parse_alts(&ps, &r->alts, &r->nalts);
    if (ok && *ps.p)
        ok = rx_fail(&ps, "unbalanced )");
    r->ngroups = ps.ngroups;
    if (!ok)
        snprintf(err, err_len, "pattern '%s': %s", pattern, why);
    else
        ok = check_replacement(r->replacement, r->ngroups, err, err_len);
    free(pattern);
    return ok;
}

int auth_principal_map_parse(const char *rules, auth_principal_map_t **out, char *err,
                             size_t err_len)
{
    auth_principal_map_t *pm = weir_calloc(1, sizeof(*pm));
    const char *p = rules ? rules : "";
    char why[300];
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',') /* Kafka ignores empty rules */
            p++;
        if (!*p)
            break;
        pm->rules = weir_realloc(pm->rules, sizeof(*pm->rules) * (size_t)(pm->n + 1));
        pm_rule_t *r = &pm->rules[pm->n++];
        memset(r, 0, sizeof(*r));
        const char *at = p;
        why[0] = '\0';
        bool ok = true;
        if (strncmp(p, "DEFAULT", 7) == 0) {
            r->is_default = true;
            p += 7;
        } else if (strncmp(p, "RULE:", 5) == 0) {
            p += 5;
            ok = parse_rule(&p, r, why, sizeof(why));
        } else {
            ok = false;
        }
        if (!ok) {
            snprintf(err, err_len, "ssl.principal.mapping.rules: rule %d ('%.60s'): %s", pm->n, at,
                     why[0] ? why : "expected DEFAULT or RULE:pattern/replacement/[LU]");
            auth_principal_map_free(pm);
            return -WEIR_EINVAL;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',') {
            snprintf(err, err_len,
                     "ssl.principal.mapping.rules: rule %d: unexpected '%.40s' "
                     "after it (rules are separated by commas)",
                     pm->n, p);
            auth_principal_map_free(pm);
            return -WEIR_EINVAL;
        }
        if (*p)
            p++;
    }
    if (pm->n == 0) {
        snprintf(err, err_len, "ssl.principal.mapping.rules: no rule (DEFAULT keeps the subject)");
        auth_principal_map_free(pm);
        return -WEIR_EINVAL;
    }
    *out = pm;
    return 0;
}

void auth_principal_map_free(auth_principal_map_t *pm)
{
    if (!pm)
        return;
    for (int i = 0; i < pm->n; i++) {
        rx_free_alts(pm->rules[i].alts, pm->rules[i].nalts);
        free(pm->rules[i].replacement);
    }
    free(pm->rules);
    free(pm);
}

/* The replacement of r with the groups of m, folded, appended to out. */
static void expand(const pm_rule_t *r, const rx_match_t *m, buf_t *out)
{
    const char *s = r->replacement;
    size_t from = out->len; /* out may hold a prefix: fold only what is appended */
    for (size_t i = 0; s[i]; i++) {
        size_t used;
        int g = s[i] == '$' ? group_ref(s + i + 1, r->ngroups, &used) : -1;
        if (g >= 0 && g <= r->ngroups) {
            if (m->set[g])
                buf_append(out, m->s + m->caps[g][0], m->caps[g][1] - m->caps[g][0]);
            i += used;
        } else if (s[i] == '\\' && s[i + 1]) {
            buf_append_u8(out, (uint8_t)s[++i]); /* Java: \x is x ('\/' for a slash) */
        } else {
            buf_append_u8(out, (uint8_t)s[i]); /* '$4' with 3 groups: literal, as in Kafka */
        }
    }
    for (size_t i = from; i < out->len && r->fold; i++)
        out->data[i] = (uint8_t)(r->fold == 'L' ? tolower(out->data[i]) : toupper(out->data[i]));
}

/* Matches r's pattern from pos to the end of the subject: group 0 is [pos, len). */
static bool rule_match(const pm_rule_t *r, rx_match_t *m, size_t pos)
{
    memset(m->set, 0, sizeof(m->set));
    m->steps = 0;
    m->depth = 0;
    rx_node_t top = {.kind = RX_GROUP, .alts = r->alts, .nalts = r->nalts, .min = 1, .max = 1};
    if (!m_node(m, &top, 0, pos, NULL))
        return false;
    m->caps[0][0] = pos;
    m->caps[0][1] = m->len;
    m->set[0] = true;
    return true;
}

int auth_principal_map_apply(const auth_principal_map_t *pm, const char *dn, buf_t *out)
{
    size_t len = strlen(dn);
    if (len > AUTH_PRINCIPAL_DN_MAX)
        return -WEIR_EINVAL;
    for (int i = 0; i < pm->n; i++) {
        const pm_rule_t *r = &pm->rules[i];
        if (r->is_default) {
            buf_append(out, dn, len);
            return 0;
        }
        rx_match_t *m = weir_calloc(1, sizeof(*m));
        m->s = (const uint8_t *)dn;
        m->len = len;
        bool ok = rule_match(r, m, 0);
        if (ok) {
            expand(r, m, out);
            /* Kafka applies the rule with String.replaceAll, which after a match of the whole
             * subject also replaces an empty match at its end: RULE:(.*)/x$1/ on "abc" gives
             * "xabcx". Only a pattern that can match empty there (no leading ^) does. */
            if (len > 0 && rule_match(r, m, len))
                expand(r, m, out);
        }
        free(m);
        if (ok)
            return 0;
    }
    return -WEIR_ENOENT;
}
