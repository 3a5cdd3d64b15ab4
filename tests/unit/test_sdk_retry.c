/* Unit tests of the SDK's retry policy: the exponential schedule, its cap, the jitter bounds,
 * and which policies are refused. */
#include "sdk/sdk.h"
#include "test.h"

#include <math.h>

static weir_retry_policy policy(int max, int64_t initial, double mult, int64_t cap, double jitter)
{
    weir_retry_policy p = {max, initial, mult, cap, jitter};
    return p;
}

TEST(defaults)
{
    weir_retry_policy p;
    weir_retry_policy_init(&p);
    CHECK_EQ(p.max_attempts, 3);
    CHECK_EQ(p.initial_backoff_ms, 100);
    CHECK(p.multiplier == 2.0);
    CHECK_EQ(p.max_backoff_ms, 10000);
    CHECK(p.jitter == 0.2);
    CHECK_EQ(sdk_retry_policy_check(&p), 0);
}

TEST(schedule_without_jitter)
{
    weir_retry_policy p = policy(10, 100, 2.0, 1000, 0.0);
    uint64_t rng = 1;
    const int64_t want[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; a++) {
        CHECK_EQ(sdk_backoff_base_ms(&p, a), want[a - 1]);
        CHECK_EQ(sdk_backoff_ms(&p, a, &rng), want[a - 1]);
    }
    /* attempt 0 or below counts as the first */
    CHECK_EQ(sdk_backoff_base_ms(&p, 0), 100);
    CHECK_EQ(sdk_backoff_base_ms(&p, -5), 100);
}

TEST(schedule_multiplier_one_is_fixed)
{
    weir_retry_policy p = policy(5, 250, 1.0, 10000, 0.0);
    for (int a = 1; a < 50; a++)
        CHECK_EQ(sdk_backoff_base_ms(&p, a), 250);
}

TEST(huge_attempt_does_not_overflow)
{
    weir_retry_policy p = policy(1000000, 100, 1000.0, 30000, 0.0);
    CHECK_EQ(sdk_backoff_base_ms(&p, 1000000), 30000);
    CHECK_EQ(sdk_backoff_base_ms(&p, 2), 30000);
    weir_retry_policy q = policy(5, INT64_MAX / 2, 2.0, INT64_MAX / 4, 0.0);
    CHECK_EQ(sdk_backoff_base_ms(&q, 3), INT64_MAX / 4);
}

TEST(jitter_within_bounds)
{
    weir_retry_policy p = policy(10, 1000, 2.0, 5000, 0.25);
    uint64_t rng = 42;
    for (int a = 1; a <= 5; a++) {
        int64_t base = sdk_backoff_base_ms(&p, a);
        int64_t lo = base - base / 4, hi = WEIR_MIN(base + base / 4, 5000);
        int64_t min = INT64_MAX, max = 0;
        double sum = 0;
        const int n = 20000;
        for (int i = 0; i < n; i++) {
            int64_t d = sdk_backoff_ms(&p, a, &rng);
            CHECK(d >= lo && d <= hi);
            min = WEIR_MIN(min, d);
            max = WEIR_MAX(max, d);
            sum += (double)d;
        }
        /* The draws spread over the whole window, not one point of it. */
        CHECK(min <= lo + (hi - lo) / 20);
        CHECK(max >= hi - (hi - lo) / 20);
        if (base + base / 4 <= 5000) {
            double mean = sum / n;
            CHECK(mean > (double)base * 0.98 && mean < (double)base * 1.02);
        }
    }
}

TEST(full_jitter_never_negative)
{
    weir_retry_policy p = policy(4, 10, 3.0, 100, 1.0);
    uint64_t rng = 7;
    for (int i = 0; i < 10000; i++) {
        int64_t d = sdk_backoff_ms(&p, 1 + i % 4, &rng);
        CHECK(d >= 0 && d <= 100);
    }
}

TEST(zero_backoff_stays_zero)
{
    weir_retry_policy p = policy(3, 0, 2.0, 1000, 0.5);
    uint64_t rng = 9;
    for (int a = 1; a < 5; a++)
        CHECK_EQ(sdk_backoff_ms(&p, a, &rng), 0);
}

TEST(policy_check_rejects)
{
    weir_retry_policy ok = policy(3, 100, 2.0, 1000, 0.2);
    CHECK_EQ(sdk_retry_policy_check(&ok), 0);
    weir_retry_policy bad[] = {
        policy(0, 100, 2.0, 1000, 0.2), policy(-1, 100, 2.0, 1000, 0.2),
        policy(3, -1, 2.0, 1000, 0.2),  policy(3, 100, 2.0, -1, 0.2),
        policy(3, 100, 0.5, 1000, 0.2), policy(3, 100, 2.0, 1000, -0.1),
        policy(3, 100, 2.0, 1000, 1.5), policy(3, 100, NAN, 1000, 0.2),
        policy(3, 100, 2.0, 1000, NAN),
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++)
        CHECK_EQ(sdk_retry_policy_check(&bad[i]), -WEIR_EINVAL);
}

TEST(rng_unit_range_and_threads_differ)
{
    uint64_t s = 123;
    for (int i = 0; i < 100000; i++) {
        double u = sdk_rng_unit(&s);
        CHECK(u >= 0.0 && u < 1.0);
    }
    uint64_t *t = sdk_rng_thread();
    CHECK(t == sdk_rng_thread());
    uint64_t a = sdk_rng_next(t), b = sdk_rng_next(t);
    CHECK(a != b);
}

TEST_MAIN()
