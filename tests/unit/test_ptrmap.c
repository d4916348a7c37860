/* vouchd's pointer map (server/ptrmap.c), which holds the connections a
 * worker accepted until their first request: random adds, finds, removes
 * and expiries checked against a plain list, across growth and probe
 * chains that wrap around the end of the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/ptrmap.h"

#define N 3000

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_same(vouchd_ptrmap *m, const char *live, const time_t *at, char *base)
{
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        vouchd_ptrmap_slot *s = vouchd_ptrmap_find(m, base + i);
        if (live[i]) {
            assert_non_null(s);
            assert_int_equal(s->at, at[i]);
            n++;
        } else {
            assert_null(s);
        }
    }
    assert_int_equal(m->count, n);
    size_t used = 0;
    for (size_t i = 0; i < m->cap; i++)
        used += m->slots[i].key != NULL;
    assert_int_equal(used, n);
}

static void test_random_ops(void **state)
{
    (void)state;
    static char base[N];
    static char live[N];
    static time_t at[N];
    vouchd_ptrmap m = {0};
    assert_null(vouchd_ptrmap_find(&m, base));
    assert_int_equal(vouchd_ptrmap_add(&m, NULL, 1), -1);
    for (int round = 0; round < 40000; round++) {
        size_t k = (size_t)(next() % N);
        switch (next() % 4) {
        case 0:
        case 1:
            if (!live[k]) {
                at[k] = (time_t)(next() % 100);
                assert_int_equal(vouchd_ptrmap_add(&m, base + k, at[k]), 0);
                live[k] = 1;
            }
            break;
        case 2: {
            vouchd_ptrmap_slot *s = vouchd_ptrmap_find(&m, base + k);
            assert_true((s != NULL) == (live[k] != 0));
            if (s) {
                vouchd_ptrmap_remove(&m, s);
                live[k] = 0;
            }
            break;
        }
        default:
            if (next() % 50 == 0) {
                time_t before = (time_t)(next() % 100);
                size_t want = 0;
                for (size_t i = 0; i < N; i++)
                    if (live[i] && at[i] < before) {
                        live[i] = 0;
                        want++;
                    }
                assert_int_equal(vouchd_ptrmap_expire(&m, before), want);
            }
        }
        if (round % 997 == 0)
            check_same(&m, live, at, base);
    }
    check_same(&m, live, at, base);
    /* everything expires; the table stays usable */
    vouchd_ptrmap_expire(&m, 1000);
    assert_int_equal(m.count, 0);
    assert_int_equal(vouchd_ptrmap_add(&m, base, 5), 0);
    assert_non_null(vouchd_ptrmap_find(&m, base));
    vouchd_ptrmap_free(&m);
    assert_int_equal(m.cap, 0);
}

/* Keys that all land in the last slots, so probe chains wrap to slot 0,
 * then removals and expiry from the middle of the wrapped chain. */
static void test_wrapping_chains(void **state)
{
    (void)state;
    static char base[1 << 16];
    vouchd_ptrmap m = {0};
    const void *keys[20];
    size_t nk = 0;
    assert_int_equal(vouchd_ptrmap_add(&m, base, 0), 0); /* cap is now 64 */
    vouchd_ptrmap_remove(&m, vouchd_ptrmap_find(&m, base));
    for (size_t i = 1; i < sizeof base && nk < 20; i++) {
        vouchd_ptrmap_slot *before = m.slots;
        if (vouchd_ptrmap_find(&m, base + i))
            continue;
        /* keep keys that sit in the last three slots or at the start */
        assert_int_equal(vouchd_ptrmap_add(&m, base + i, (time_t)nk), 0);
        assert_ptr_equal(m.slots, before); /* no growth: fewer than 32 keys */
        vouchd_ptrmap_slot *s = vouchd_ptrmap_find(&m, base + i);
        size_t idx = (size_t)(s - m.slots);
        int wrapped_or_end = idx >= m.cap - 3 || idx < 17;
        if (!wrapped_or_end || m.count > 20) {
            vouchd_ptrmap_remove(&m, s);
            continue;
        }
        keys[nk++] = base + i;
    }
    assert_true(nk >= 10);
    size_t at_end = 0;
    for (size_t i = 0; i < m.cap; i++)
        at_end += i >= m.cap - 3 && m.slots[i].key != NULL;
    assert_int_equal(at_end, 3); /* the last slots are full: chains homed there wrap */
    /* the first ten (at = 0..9) expire, from wherever they sit in the chains */
    assert_int_equal(vouchd_ptrmap_expire(&m, 10), 10);
    for (size_t i = 0; i < nk; i++) {
        vouchd_ptrmap_slot *s = vouchd_ptrmap_find(&m, keys[i]);
        if ((time_t)i < 10)
            assert_null(s);
        else
            assert_non_null(s);
    }
    vouchd_ptrmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops),
        cmocka_unit_test(test_wrapping_chains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
