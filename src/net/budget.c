/*
 * budget: the broker-wide bound on memory held in connection buffers
 * (weir.memory.buffers.max.bytes).
 *
 * What counts: the capacity of every response buffer completed and not yet sent, the loops'
 * kept response buffers, the input buffers of partially read requests, and reservations a
 * response builder (Fetch) takes before it writes. One atomic counter shared by every loop: the
 * callers that add memory they must hold anyway (a completed response, bytes already read)
 * add it unconditionally, and the two places that can wait or shrink ask first: a Fetch
 * reserves what it may write (net_budget_reserve grants only what is left), and a request
 * larger than the shared read buffer reserves its whole size (net_budget_try, all or nothing)
 * before its buffer grows; its connection stops being read until it fits.
 *
 * Invariant: held equals the sum of what was added and not yet released; it never goes below
 * zero. Callers may overshoot the limit by what they add unconditionally, which each caller
 * bounds (a small stash, one first batch), so the bound holds to within a few MiB per loop.
 */
#include "net/net_internal.h"

#include <stdlib.h>
#include <unistd.h>

struct net_budget {
    size_t max_bytes;
    _Atomic int64_t held;
    metric_counter_t fetches_shrunk, reads_paused;
};

void net_budget_new(size_t max_bytes, net_budget_t **out)
{
    net_budget_t *bud = weir_calloc(1, sizeof(*bud));
    bud->max_bytes = max_bytes;
    *out = bud;
}

void net_budget_free(net_budget_t *bud)
{
    free(bud);
}

size_t net_budget_max(const net_budget_t *bud)
{
    return bud ? bud->max_bytes : SIZE_MAX;
}

size_t net_budget_held(const net_budget_t *bud)
{
    if (!bud)
        return 0;
    int64_t h = atomic_load_explicit(&((net_budget_t *)bud)->held, memory_order_relaxed);
    return h > 0 ? (size_t)h : 0;
}

bool net_budget_full(const net_budget_t *bud)
{
    return bud && net_budget_held(bud) >= bud->max_bytes;
}

void net_budget_add(net_budget_t *bud, size_t n)
{
    if (bud && n)
        atomic_fetch_add_explicit(&bud->held, (int64_t)n, memory_order_relaxed);
}

void net_budget_release(net_budget_t *bud, size_t n)
{
    if (!bud || !n)
        return;
    int64_t before = atomic_fetch_sub_explicit(&bud->held, (int64_t)n, memory_order_relaxed);
    WEIR_ASSERT(before >= (int64_t)n);
}

size_t net_budget_reserve(net_budget_t *bud, size_t want)
{
    if (!bud)
        return want;
    int64_t h = atomic_load_explicit(&bud->held, memory_order_relaxed);
    for (;;) {
        size_t left = h < (int64_t)bud->max_bytes ? bud->max_bytes - (size_t)h : 0;
        size_t grant = WEIR_MIN(want, left);
        if (grant == 0)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&bud->held, &h, h + (int64_t)grant,
                                                  memory_order_relaxed, memory_order_relaxed))
            return grant;
    }
}

bool net_budget_try(net_budget_t *bud, size_t n)
{
    if (!bud || n == 0)
        return true;
    int64_t h = atomic_load_explicit(&bud->held, memory_order_relaxed);
    for (;;) {
        if (h + (int64_t)n > (int64_t)bud->max_bytes)
            return false;
        if (atomic_compare_exchange_weak_explicit(&bud->held, &h, h + (int64_t)n,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

void net_budget_note_shrunk(net_budget_t *bud)
{
    if (bud)
        metric_counter_add(&bud->fetches_shrunk, 1);
}

void net_budget_note_paused(net_budget_t *bud)
{
    if (bud)
        metric_counter_add(&bud->reads_paused, 1);
}

void net_budget_stats(const net_budget_t *bud, net_budget_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (!bud)
        return;
    st->max_bytes = bud->max_bytes;
    st->held_bytes = net_budget_held(bud);
    st->fetches_shrunk = metric_counter_get(&bud->fetches_shrunk);
    st->reads_paused = metric_counter_get(&bud->reads_paused);
}

size_t net_budget_default_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    size_t phys = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)8 << 30;
    /* An eighth of the machine, within [64 MiB, 4 GiB]: room for dozens of full-size fetches
     * on a server, and a small device keeps most of its memory for the page cache. */
    return WEIR_MAX((size_t)64 << 20, WEIR_MIN(phys / 8, (size_t)4 << 30));
}
