/*
 * Unit tests of the CLI's table layout: alignment, no trailing spaces, UTF-8 widths, and
 * shrinking to the width limit with "…".
 */
#include "test.h"

#include "../../src/cli/output.c"

static char *render(cli_table_t *t, size_t width)
{
    buf_t b;
    buf_init(&b);
    cli_table_render(t, width, &b);
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

TEST(aligned_columns)
{
    static const char *const hdr[] = {"NAME", "PARTITIONS", "REPLICAS"};
    cli_table_t t;
    cli_table_init(&t, 3, hdr);
    cli_table_addf(&t, "orders\t3\t1");
    cli_table_addf(&t, "a\t12\t1");
    char *s = render(&t, 100);
    CHECK_STR(s, "NAME    PARTITIONS  REPLICAS\n"
                 "orders  3           1\n"
                 "a       12          1\n");
    free(s);
    cli_table_deinit(&t);
}

TEST(empty_table_is_the_header)
{
    static const char *const hdr[] = {"GROUP", "STATE"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    char *s = render(&t, 100);
    CHECK_STR(s, "GROUP  STATE\n");
    free(s);
    cli_table_deinit(&t);
}

TEST(no_trailing_spaces)
{
    static const char *const hdr[] = {"A", "B"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    const char *row[] = {"x", ""};
    cli_table_add(&t, row);
    cli_table_addf(&t, "yyy"); /* missing cells are empty */
    char *s = render(&t, 100);
    CHECK_STR(s, "A    B\nx\nyyy\n");
    free(s);
    cli_table_deinit(&t);
}

TEST(utf8_widths)
{
    static const char *const hdr[] = {"NAME", "N"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    cli_table_addf(&t, "café\t1");
    cli_table_addf(&t, "tea\t2");
    char *s = render(&t, 100);
    CHECK_STR(s, "NAME  N\ncafé  1\ntea   2\n");
    free(s);
    CHECK_EQ(cli_text_width("café€"), 5);
    cli_table_deinit(&t);
}

TEST(shrinks_to_the_limit)
{
    static const char *const hdr[] = {"TOPIC", "PARTITION", "MEMBER-ID"};
    cli_table_t t;
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1u << 0 | 1u << 2;
    char member[200], topic[80];
    memset(member, 'm', sizeof(member) - 1);
    member[sizeof(member) - 1] = 0;
    memset(topic, 't', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = 0;
    const char *row[] = {topic, "0", member};
    cli_table_add(&t, row);
    char *s = render(&t, 100);
    char *nl = strchr(s, '\n');
    REQUIRE(nl);
    char *line2 = nl + 1;
    char *end2 = strchr(line2, '\n');
    REQUIRE(end2);
    *end2 = 0;
    CHECK_EQ(cli_text_width(line2), 100);
    CHECK(strstr(line2, "\xe2\x80\xa6") != NULL); /* cut cells end with … */
    CHECK(strncmp(line2, "tttt", 4) == 0);
    free(s);
    cli_table_deinit(&t);
}

TEST(no_shrinkable_column_stays_wide)
{
    static const char *const hdr[] = {"A"};
    cli_table_t t;
    cli_table_init(&t, 1, hdr);
    char wide[150];
    memset(wide, 'w', sizeof(wide) - 1);
    wide[sizeof(wide) - 1] = 0;
    const char *row[] = {wide};
    cli_table_add(&t, row);
    char *s = render(&t, 100);
    CHECK(strstr(s, wide) != NULL);
    free(s);
    cli_table_deinit(&t);
}

TEST(cut_keeps_utf8_whole)
{
    static const char *const hdr[] = {"X", "Y"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    t.shrinkable = 1;
    const char *row[] = {"ééééééééééééééé", "y"};
    cli_table_add(&t, row);
    char *s = render(&t, 13); /* X gets 13 - 2 - 1 = 10 columns */
    CHECK_STR(s, "X           Y\nééééééééé\xe2\x80\xa6  y\n");
    free(s);
    cli_table_deinit(&t);
}

TEST_MAIN()
