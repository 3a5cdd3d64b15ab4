/*
 * The backoff schedule of a retry policy: exponential from the initial delay, capped, with
 * symmetric jitter so that many consumers retrying the same failure do not hit it in step.
 * Invariant: every delay is within [0, max_backoff_ms].
 */
#include "sdk/sdk.h"

#include <math.h>

void weir_retry_policy_init(weir_retry_policy *p)
{
    p->max_attempts = 3;
    p->initial_backoff_ms = 100;
    p->multiplier = 2.0;
    p->max_backoff_ms = 10000;
    p->jitter = 0.2;
}

int sdk_retry_policy_check(const weir_retry_policy *p)
{
    if (p->max_attempts < 1 || p->max_attempts > 1000000)
        return -WEIR_EINVAL;
    if (p->initial_backoff_ms < 0 || p->max_backoff_ms < 0)
        return -WEIR_EINVAL;
    if (!(p->multiplier >= 1.0 && p->multiplier <= 1000.0)) /* also rejects NaN */
        return -WEIR_EINVAL;
    if (!(p->jitter >= 0.0 && p->jitter <= 1.0))
        return -WEIR_EINVAL;
    return 0;
}

int64_t sdk_backoff_base_ms(const weir_retry_policy *p, int attempt)
{
    if (attempt < 1)
        attempt = 1;
    /* In double: the multiplier to a large power overflows an integer long before the cap
     * would stop it. */
    double d = (double)p->initial_backoff_ms * pow(p->multiplier, (double)(attempt - 1));
    if (!(d < (double)p->max_backoff_ms)) /* also catches inf */
        return p->max_backoff_ms;
    /* (double)max may round up past max: clamp again as integers. */
    int64_t v = (int64_t)d;
    return v > p->max_backoff_ms ? p->max_backoff_ms : v;
}

int64_t sdk_backoff_ms(const weir_retry_policy *p, int attempt, uint64_t *rng)
{
    int64_t base = sdk_backoff_base_ms(p, attempt);
    if (p->jitter <= 0.0 || base == 0)
        return base;
    double u = sdk_rng_unit(rng) * 2.0 - 1.0; /* [-1, 1) */
    double d = (double)base * (1.0 + p->jitter * u);
    if (d < 0)
        d = 0;
    if (!(d < (double)p->max_backoff_ms))
        return p->max_backoff_ms;
    int64_t v = (int64_t)llround(d);
    return v > p->max_backoff_ms ? p->max_backoff_ms : v;
}
