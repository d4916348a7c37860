/* The pointer map of ptrmap.h. */
#include "server/ptrmap.h"

#include <stdint.h>
#include <stdlib.h>

#define MIN_CAP 64

static size_t home(const vouchd_ptrmap *m, const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (m->cap - 1);
}

vouchd_ptrmap_slot *vouchd_ptrmap_find(vouchd_ptrmap *m, const void *key)
{
    if (!m->cap || !key)
        return NULL;
    for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].key)
            return NULL;
        if (m->slots[i].key == key)
            return &m->slots[i];
    }
}

void vouchd_ptrmap_remove(vouchd_ptrmap *m, vouchd_ptrmap_slot *s)
{
    size_t mask = m->cap - 1, i = (size_t)(s - m->slots), j = i;
    m->slots[i].key = NULL;
    m->count--;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            return;
        size_t h = home(m, m->slots[j].key);
        /* move j back into the hole at i unless its home lies cyclically
         * in (i, j]: then it is already as close to home as it can be */
        if ((i <= j) ? (h <= i || h > j) : (h <= i && h > j)) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
}

static int grow(vouchd_ptrmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : MIN_CAP, ocap = m->cap;
    vouchd_ptrmap_slot *old = m->slots, *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    m->slots = ns;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key)
            continue;
        size_t k = home(m, old[i].key);
        while (ns[k].key)
            k = (k + 1) & (ncap - 1);
        ns[k] = old[i];
    }
    free(old);
    return 0;
}

int vouchd_ptrmap_add(vouchd_ptrmap *m, const void *key, time_t at)
{
    if (!key)
        return -1;
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t k = home(m, key);
    while (m->slots[k].key)
        k = (k + 1) & (m->cap - 1);
    m->slots[k].key = key;
    m->slots[k].at = at;
    m->count++;
    return 0;
}

size_t vouchd_ptrmap_expire(vouchd_ptrmap *m, time_t before)
{
    size_t n = 0;
    /* A removal may move a later entry (or, wrapping, one from the start)
     * into slot i, so i is looked at again; entries from the start were
     * already kept as fresh. Each step removes one or advances i. */
    for (size_t i = 0; i < m->cap && m->count;) {
        if (m->slots[i].key && m->slots[i].at < before) {
            vouchd_ptrmap_remove(m, &m->slots[i]);
            n++;
            continue;
        }
        i++;
    }
    return n;
}

void vouchd_ptrmap_free(vouchd_ptrmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
