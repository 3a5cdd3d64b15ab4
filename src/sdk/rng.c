/*
 * Per-thread random numbers for the SDK: retry jitter, event ids, span ids. splitmix64 seeded
 * once per thread from getrandom(); the state is thread-local, so no locking and no sharing.
 * Not for secrets.
 */
#include "sdk/sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

uint64_t sdk_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double sdk_rng_unit(uint64_t *state)
{
    /* The top 53 bits make an exact double in [0, 1). */
    return (double)(sdk_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static _Thread_local uint64_t rng_state;
static _Thread_local bool rng_seeded;

uint64_t *sdk_rng_thread(void)
{
    if (!rng_seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
            /* No entropy yet (early boot): time and thread identity still differ per thread. */
            seed = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)&rng_state ^
                   ((uint64_t)pthread_self() << 17);
        }
        rng_state = seed;
        rng_seeded = true;
    }
    return &rng_state;
}

void sdk_uuid_format(uint64_t hi, uint64_t lo, char out[37])
{
    /* Version 4, variant 10xx (RFC 4122). */
    hi = (hi & ~0xf000ull) | 0x4000ull;
    lo = (lo & ~(0xc000ull << 48)) | (0x8000ull << 48);
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffull));
}

void sdk_uuid7_format(int64_t ms, uint64_t r1, uint64_t r2, char out[37])
{
    /* RFC 9562 version 7: 48 bits of Unix time in ms, version 7, 12 random bits, variant 10,
     * 62 random bits. Ids made later sort later (to the ms), so a store keyed by them appends
     * instead of writing all over its index. */
    uint64_t hi = ((uint64_t)ms << 16) | 0x7000u | (r1 & 0x0fffu);
    uint64_t lo = (r2 & ~(0xc000ull << 48)) | (0x8000ull << 48);
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffull));
}

void weir_uuid(char out[37])
{
    uint64_t *rng = sdk_rng_thread();
    uint64_t r1 = sdk_rng_next(rng), r2 = sdk_rng_next(rng);
    sdk_uuid7_format(clock_wall_ms(), r1, r2, out);
}
