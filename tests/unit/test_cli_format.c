/*
 * Unit tests of the CLI's format strings (consume -f / produce -f), the JSON line renderer and
 * the byte helpers. The CLI is not in a library, so its pure source files are compiled in here.
 */
#include "test.h"

#include "../../src/cli/args.c"
#include "../../src/cli/profile.c"
#include "../../src/cli/format.c"
#include "../../src/cli/help.c"
#include "../../src/cli/spec.c"

static cli_format_t parse_ok(const char *src, bool for_input)
{
    cli_format_t f;
    char err[256] = "";
    int rc = cli_format_parse(&f, src, for_input, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "  parse '%s': %s\n", src, err);
    CHECK_EQ(rc, 0);
    return f;
}

static int parse_rc(const char *src, bool for_input)
{
    cli_format_t f;
    char err[256];
    int rc = cli_format_parse(&f, src, for_input, err, sizeof(err));
    if (rc == 0)
        cli_format_deinit(&f);
    return rc;
}

static char *render(const char *src, const cli_record_t *rec)
{
    cli_format_t f = parse_ok(src, false);
    buf_t b;
    buf_init(&b);
    cli_format_render(&f, rec, &b);
    buf_append_u8(&b, 0);
    cli_format_deinit(&f);
    return (char *)b.data;
}

static const cli_header_t sample_headers[] = {{"h1", 2, "v1", 2}, {"nul", 3, NULL, -1}};

static cli_record_t sample(void)
{
    return (cli_record_t){.topic = "orders",
                          .topic_len = 6,
                          .partition = 2,
                          .offset = 41,
                          .timestamp_ms = 1714564800123LL,
                          .key = "k1",
                          .key_len = 2,
                          .value = "hello",
                          .value_len = 5,
                          .headers = sample_headers,
                          .header_count = 2};
}

TEST(parse_tokens_and_literals)
{
    cli_format_t f = parse_ok("%t:%p:%o %k=%v\\n", false);
    CHECK_EQ(f.ntoks, 10);
    CHECK_EQ(f.toks[0].kind, CLI_TOK_TOPIC);
    CHECK_EQ(f.toks[1].kind, CLI_TOK_LITERAL);
    CHECK_EQ(f.toks[2].kind, CLI_TOK_PARTITION);
    CHECK_EQ(f.toks[4].kind, CLI_TOK_OFFSET);
    CHECK_EQ(f.toks[6].kind, CLI_TOK_KEY);
    CHECK_EQ(f.toks[8].kind, CLI_TOK_VALUE);
    CHECK_EQ(f.toks[9].kind, CLI_TOK_LITERAL);
    CHECK_EQ(f.toks[9].lit_len, 1);
    CHECK_EQ(f.lit.data[f.toks[9].lit_off], '\n');
    cli_format_deinit(&f);
}

TEST(parse_escapes_and_percent)
{
    cli_format_t f = parse_ok("a\\tb\\\\c\\x41\\0%%\\r", false);
    CHECK_EQ(f.ntoks, 1);
    CHECK_EQ(f.toks[0].lit_len, 9);
    CHECK_MEM(f.lit.data, "a\tb\\cA\0%\r", 9);
    cli_format_deinit(&f);
}

TEST(parse_kcat_aliases_and_modifiers)
{
    cli_format_t f = parse_ok("%s%S%k{hex}%v{base64}%v{raw}", false);
    CHECK_EQ(f.toks[0].kind, CLI_TOK_VALUE);
    CHECK_EQ(f.toks[1].kind, CLI_TOK_VALUE_LEN);
    CHECK_EQ(f.toks[2].enc, CLI_ENC_HEX);
    CHECK_EQ(f.toks[3].enc, CLI_ENC_BASE64);
    CHECK_EQ(f.toks[4].enc, CLI_ENC_RAW);
    cli_format_deinit(&f);
}

TEST(parse_errors)
{
    CHECK_EQ(parse_rc("%z", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("abc%", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("\\q", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("\\x4", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("trailing\\", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("%p{hex}", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("%v{rot13}", false), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("", false), -WEIR_EINVAL);
    char many[CLI_FORMAT_TOKENS_MAX * 3 + 8] = "";
    for (int i = 0; i < CLI_FORMAT_TOKENS_MAX; i++)
        strcat(many, "%v,");
    CHECK_EQ(parse_rc(many, false), -WEIR_EINVAL);
}

TEST(parse_input_rules)
{
    CHECK_EQ(parse_rc("%k%v", true), -WEIR_EINVAL);            /* %k has no delimiter */
    CHECK_EQ(parse_rc("%k\\t%v", true), 0);                    /* %v is last: runs to the end */
    CHECK_EQ(parse_rc("%d %v\\n", true), -WEIR_EINVAL);        /* %d is output only */
    CHECK_EQ(parse_rc("%K %k%v\\n", true), 0);                 /* %k sized by %K */
    CHECK_EQ(parse_rc("%K %k{hex}%v\\n", true), -WEIR_EINVAL); /* sizes are raw bytes */
    CHECK_EQ(parse_rc("%t%v", true), -WEIR_EINVAL);
    CHECK_EQ(parse_rc("%p%v\\n", true), 0); /* numbers end at the first non-digit */
}

TEST(render_every_token)
{
    cli_record_t r = sample();
    char *s = render("%t|%p|%o|%k|%K|%v|%V|%h|%H|%T|%d|%%\\n", &r);
    CHECK_STR(s, "orders|2|41|k1|2|hello|5|h1=v1,nul|2|1714564800123|2024-05-01T12:00:00.123Z|%\n");
    free(s);
}

TEST(render_null_key_value_and_encodings)
{
    cli_record_t r = sample();
    r.key = NULL;
    r.key_len = -1;
    r.value = "\x00\xff\x10", r.value_len = 3;
    r.header_count = 0;
    char *s = render("[%k][%K][%v{hex}][%v{base64}][%V][%h][%H]", &r);
    CHECK_STR(s, "[][-1][00ff10][AP8Q][3][][0]");
    free(s);
}

TEST(json_line_utf8)
{
    cli_record_t r = sample();
    buf_t b;
    buf_init(&b);
    cli_record_render_json(&r, &b);
    buf_append_u8(&b, 0);
    CHECK_STR(
        (char *)b.data,
        "{\"topic\":\"orders\",\"partition\":2,\"offset\":41,\"timestamp\":1714564800123,"
        "\"time\":\"2024-05-01T12:00:00.123Z\",\"key\":\"k1\",\"value\":\"hello\","
        "\"headers\":[{\"key\":\"h1\",\"value\":\"v1\"},{\"key\":\"nul\",\"value\":null}]}\n");
    buf_deinit(&b);
}

TEST(json_line_binary_and_nulls)
{
    cli_record_t r = sample();
    r.key = NULL;
    r.key_len = -1;
    r.value = "\xff\xfe", r.value_len = 2;
    r.header_count = 0;
    r.timestamp_ms = -1;
    buf_t b;
    buf_init(&b);
    cli_record_render_json(&r, &b);
    buf_append_u8(&b, 0);
    CHECK_STR((char *)b.data,
              "{\"topic\":\"orders\",\"partition\":2,\"offset\":41,\"timestamp\":-1,\"time\":null,"
              "\"key\":null,\"value\":\"//4=\",\"value_encoding\":\"base64\",\"headers\":[]}\n");
    buf_deinit(&b);
}

TEST(json_escape)
{
    buf_t b;
    buf_init(&b);
    cli_json_escape(&b, "a\"b\\c\n\t\x01\x1f\xc3\xa9", 11);
    buf_append_u8(&b, 0);
    CHECK_STR((char *)b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\"");
    buf_deinit(&b);
}

TEST(utf8_validation)
{
    CHECK(cli_utf8_valid("", 0));
    CHECK(cli_utf8_valid("plain", 5));
    CHECK(cli_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9)); /* é € 😀 */
    CHECK(!cli_utf8_valid("\xc0\xaf", 2));                            /* overlong */
    CHECK(!cli_utf8_valid("\xe0\x80\xaf", 3));                        /* overlong */
    CHECK(!cli_utf8_valid("\xed\xa0\x80", 3));                        /* surrogate */
    CHECK(!cli_utf8_valid("\xf4\x90\x80\x80", 4));                    /* > U+10FFFF */
    CHECK(!cli_utf8_valid("\xe2\x82", 2));                            /* truncated */
    CHECK(!cli_utf8_valid("\x80", 1));                                /* lone continuation */
}

TEST(base64_and_hex)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(plain); i++) {
        buf_t b, d;
        buf_init(&b);
        buf_init(&d);
        cli_base64_encode(&b, plain[i], strlen(plain[i]));
        CHECK_EQ(b.len, strlen(enc[i]));
        if (b.len)
            CHECK_MEM(b.data, enc[i], b.len);
        CHECK_EQ(cli_base64_decode(&d, enc[i], strlen(enc[i])), 0);
        CHECK_EQ(d.len, strlen(plain[i]));
        if (d.len)
            CHECK_MEM(d.data, plain[i], d.len);
        buf_deinit(&b);
        buf_deinit(&d);
    }
    buf_t d;
    buf_init(&d);
    CHECK_EQ(cli_base64_decode(&d, "Zm9", 3), -WEIR_EINVAL);
    CHECK_EQ(cli_base64_decode(&d, "Zm9!", 4), -WEIR_EINVAL);
    CHECK_EQ(cli_base64_decode(&d, "Z=9v", 4), -WEIR_EINVAL);
    CHECK_EQ(cli_base64_decode(&d, "Zg=v", 4), -WEIR_EINVAL);
    CHECK_EQ(cli_base64_decode(&d, "Zg==Zg==", 8), -WEIR_EINVAL); /* padding mid-way */
    buf_reset(&d);
    CHECK_EQ(cli_hex_decode(&d, "00fFa0", 6), 0);
    CHECK_EQ(d.len, 3);
    CHECK_MEM(d.data, "\x00\xff\xa0", 3);
    CHECK_EQ(cli_hex_decode(&d, "0", 1), -WEIR_EINVAL);
    CHECK_EQ(cli_hex_decode(&d, "0g", 2), -WEIR_EINVAL);
    buf_deinit(&d);
}

/* ---- reading -----------------------------------------------------------------------------------
 */

typedef struct {
    const uint8_t *p;
    size_t n, at, step; /* step: bytes per read() (1 makes every boundary a chunk edge) */
} mem_src_t;

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    mem_src_t *m = ctx;
    size_t k = WEIR_MIN(n, WEIR_MIN(m->step, m->n - m->at));
    memcpy(buf, m->p + m->at, k);
    m->at += k;
    return (ssize_t)k;
}

typedef struct {
    char key[64], value[300000];
    ssize_t key_len, value_len;
    int32_t partition;
    int64_t ts;
    size_t nh;
    char hname[4][16];
    ssize_t hval_len[4];
} got_t;

/* Reads every record of `input` with `fmt`; returns the count, or the negative error. */
static int read_all(const char *fmt_src, const void *input, size_t n, size_t step, got_t *out,
                    int max, size_t max_record)
{
    cli_format_t f = parse_ok(fmt_src, true);
    mem_src_t m = {input, n, 0, step};
    cli_reader_t r;
    cli_reader_init(&r, mem_read, &m, max_record);
    int count = 0, rc;
    char err[256];
    for (;;) {
        cli_record_t rec = {.topic = "t",
                            .topic_len = 1,
                            .partition = -1,
                            .timestamp_ms = -1,
                            .key_len = -1,
                            .value_len = -1};
        rc = cli_format_read(&f, &r, &rec, err, sizeof(err));
        if (rc <= 0)
            break;
        if (count < max) {
            got_t *g = &out[count];
            memset(g, 0, sizeof(*g));
            g->key_len = rec.key_len;
            g->value_len = rec.value_len;
            if (rec.key_len > 0)
                memcpy(g->key, rec.key, WEIR_MIN((size_t)rec.key_len, sizeof(g->key)));
            if (rec.value_len > 0)
                memcpy(g->value, rec.value, WEIR_MIN((size_t)rec.value_len, sizeof(g->value)));
            g->partition = rec.partition;
            g->ts = rec.timestamp_ms;
            g->nh = rec.header_count;
            for (size_t i = 0; i < rec.header_count && i < 4; i++) {
                snprintf(g->hname[i], sizeof(g->hname[i]), "%.*s", (int)rec.headers[i].name_len,
                         rec.headers[i].name);
                g->hval_len[i] = rec.headers[i].value_len;
            }
        }
        count++;
    }
    cli_reader_deinit(&r);
    cli_format_deinit(&f);
    return rc < 0 ? rc : count;
}

static got_t got[8];

TEST(read_lines_default)
{
    const char *in = "one\n\nthree";
    for (size_t step = 1; step <= 64; step *= 4) {
        CHECK_EQ(read_all("%v\\n", in, strlen(in), step, got, 8, 1 << 20), 3);
        CHECK_EQ(got[0].value_len, 3);
        CHECK_MEM(got[0].value, "one", 3);
        CHECK_EQ(got[1].value_len, 0); /* an empty line is an empty value, not null */
        CHECK_EQ(got[2].value_len, 5); /* no newline at the end: still a record */
        CHECK_MEM(got[2].value, "three", 5);
        CHECK_EQ(got[0].key_len, -1);
    }
    CHECK_EQ(read_all("%v\\n", "", 0, 1, got, 8, 1 << 20), 0);
    CHECK_EQ(read_all("%v\\n", "\n", 1, 1, got, 8, 1 << 20), 1);
}

TEST(read_key_value_partition_timestamp)
{
    const char *in = "3 1700000000000 k1\tv1\n0 5 k2\tv\t2\n";
    CHECK_EQ(read_all("%p %T %k\\t%v\\n", in, strlen(in), 3, got, 8, 1 << 20), 2);
    CHECK_EQ(got[0].partition, 3);
    CHECK_EQ(got[0].ts, 1700000000000LL);
    CHECK_EQ(got[0].key_len, 2);
    CHECK_MEM(got[0].key, "k1", 2);
    CHECK_EQ(got[1].partition, 0);
    CHECK_EQ(got[1].value_len, 3); /* the value ends at the newline, not the tab */
    CHECK_MEM(got[1].value, "v\t2", 3);
}

TEST(read_headers)
{
    const char *in = "a=1,b,c=\tv\n";
    CHECK_EQ(read_all("%h\\t%v\\n", in, strlen(in), 2, got, 8, 1 << 20), 1);
    CHECK_EQ(got[0].nh, 3);
    CHECK_STR(got[0].hname[0], "a");
    CHECK_EQ(got[0].hval_len[0], 1);
    CHECK_STR(got[0].hname[1], "b");
    CHECK_EQ(got[0].hval_len[1], -1);
    CHECK_STR(got[0].hname[2], "c");
    CHECK_EQ(got[0].hval_len[2], 0);
}

TEST(read_mismatch_is_an_error)
{
    const char *in = "abc\n";
    CHECK_EQ(read_all("%k\\t%v\\n", in, strlen(in), 1, got, 8, 1 << 20), -WEIR_EINVAL);
    CHECK_EQ(read_all("key=%k;%v\\n", "nope;x\n", 7, 2, got, 8, 1 << 20), -WEIR_EINVAL);
    CHECK_EQ(read_all("%p %v\\n", "x y\n", 4, 2, got, 8, 1 << 20), -WEIR_EINVAL);
}

TEST(read_record_bound)
{
    static char big[5000];
    memset(big, 'x', sizeof(big));
    CHECK_EQ(read_all("%v\\n", big, sizeof(big), 100, got, 8, 1000), -WEIR_ETOOBIG);
    CHECK_EQ(read_all("%V %v\\n", "999999999 x", 11, 100, got, 8, 1000), -WEIR_ERANGE);
}

/* Renders records with a format, parses the bytes back with the same format: same records. */
TEST(round_trip_binary_with_lengths)
{
    static const struct {
        const char *k;
        ssize_t klen;
        const char *v;
        ssize_t vlen;
    } recs[] = {{"a\tb", 3, "line\nbreak", 10},
                {NULL, -1, "", 0},
                {"", 0, NULL, -1},
                {"\x00\x01", 2, "\xff\n\t\\%", 5}};
    static const char *const fmts[] = {"%K %k %V %v\\n", "%K:%V:%k%v;", "%k{hex} %v{base64}\\n",
                                       "%k{base64}\\t%v{hex}\\n"};
    for (size_t fi = 0; fi < WEIR_ARRAY_LEN(fmts); fi++) {
        cli_format_t f = parse_ok(fmts[fi], false);
        buf_t b;
        buf_init(&b);
        for (size_t i = 0; i < WEIR_ARRAY_LEN(recs); i++) {
            cli_record_t r = {.topic = "t",
                              .topic_len = 1,
                              .key = recs[i].k,
                              .key_len = recs[i].klen,
                              .value = recs[i].v,
                              .value_len = recs[i].vlen};
            cli_format_render(&f, &r, &b);
        }
        cli_format_deinit(&f);
        bool encoded = strchr(fmts[fi], '{') != NULL; /* encodings cannot say null */
        for (size_t step = 1; step <= 7; step += 3) {
            int n = read_all(fmts[fi], b.data, b.len, step, got, 8, 1 << 20);
            CHECK_EQ(n, (int)WEIR_ARRAY_LEN(recs));
            for (size_t i = 0; i < WEIR_ARRAY_LEN(recs) && n > 0; i++) {
                ssize_t kl = encoded && recs[i].klen < 0 ? 0 : recs[i].klen;
                ssize_t vl = encoded && recs[i].vlen < 0 ? 0 : recs[i].vlen;
                CHECK_EQ(got[i].key_len, kl);
                CHECK_EQ(got[i].value_len, vl);
                if (kl > 0)
                    CHECK_MEM(got[i].key, recs[i].k, (size_t)kl);
                if (vl > 0)
                    CHECK_MEM(got[i].value, recs[i].v, (size_t)vl);
            }
        }
        buf_deinit(&b);
    }
}

TEST(read_large_value_across_chunks)
{
    size_t n = 200000;
    char *in = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    in[n] = '\n';
    CHECK_EQ(read_all("%v\\n", in, n + 1, 4096, got, 1, 1 << 20), 1);
    CHECK_EQ(got[0].value_len, (ssize_t)n);
    CHECK_MEM(got[0].value, in, n);
    free(in);
}

TEST_MAIN()
