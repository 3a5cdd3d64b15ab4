/*
 * A tiny test harness: TEST(name) defines a case, CHECK*() record failures without stopping the
 * case, and TEST_MAIN() runs every case in definition order, printing TAP lines ("ok 3 - name",
 * "not ok 4 - name") that tests/run.sh counts. A case can be run alone: `./test_x name`.
 */
#ifndef WEIR_TEST_H
#define WEIR_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
struct test_case {
    const char *name;
    test_fn fn;
};
#define TEST_MAX 512
static struct test_case test_cases[TEST_MAX];
static int test_count;
static int test_failed_now;

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_register_##name(void)                            \
    {                                                                                              \
        if (test_count < TEST_MAX)                                                                 \
            test_cases[test_count++] = (struct test_case){#name, test_##name};                     \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);                \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,    \
                    #b, a_, b_);                                                                   \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,    \
                    #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                               \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
/* REQUIRE stops the case on failure (for preconditions later checks depend on). */
#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #c);              \
            test_failed_now = 1;                                                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        int failed = 0, n = 0;                                                                     \
        setvbuf(stdout, NULL, _IOLBF, 0);                                                          \
        for (int i = 0; i < test_count; i++) {                                                     \
            if (argc > 1 && strcmp(argv[1], test_cases[i].name) != 0)                              \
                continue;                                                                          \
            test_failed_now = 0;                                                                   \
            test_cases[i].fn();                                                                    \
            n++;                                                                                   \
            printf("%s %d - %s\n", test_failed_now ? "not ok" : "ok", n, test_cases[i].name);      \
            failed += test_failed_now;                                                             \
        }                                                                                          \
        printf("1..%d\n", n);                                                                      \
        return failed ? 1 : 0;                                                                     \
    }

/* stderr captured into a temporary file between test_stderr_begin() and test_stderr_end(), which
 * returns what was written (malloc'd, NUL-terminated): for checking log lines. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int test_stderr_saved = -1;
static FILE *test_stderr_file;
static inline void test_stderr_begin(void)
{
    fflush(stderr);
    test_stderr_file = tmpfile();
    test_stderr_saved = dup(2);
    dup2(fileno(test_stderr_file), 2);
}
static inline char *test_stderr_end(void)
{
    fflush(stderr);
    dup2(test_stderr_saved, 2);
    close(test_stderr_saved);
    off_t n = lseek(fileno(test_stderr_file), 0, SEEK_END);
    if (n < 0)
        n = 0;
    char *text = calloc(1, (size_t)n + 1);
    if (n > 0 && pread(fileno(test_stderr_file), text, (size_t)n, 0) != n)
        text[0] = 0;
    fclose(test_stderr_file);
    return text;
}

/* How many times `needle` occurs in `text`. */
static inline int test_count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#endif
