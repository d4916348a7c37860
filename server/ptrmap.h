/*
 * A small map from pointers (used only as identities, never dereferenced)
 * to a time, for the connections a worker has accepted but not yet seen a
 * request on (conns.c). Open addressing with linear probing and
 * backward-shift deletion; grows by doubling, never shrinks. Not
 * thread-safe: one worker's own.
 */
#ifndef VOUCHD_PTRMAP_H
#define VOUCHD_PTRMAP_H

#include <stddef.h>
#include <time.h>

typedef struct vouchd_ptrmap_slot {
    const void *key; /* NULL: empty */
    time_t at;
} vouchd_ptrmap_slot;

typedef struct vouchd_ptrmap {
    vouchd_ptrmap_slot *slots;
    size_t cap, count; /* cap: 0 or a power of two */
} vouchd_ptrmap;

/* The entry for key, or NULL. */
vouchd_ptrmap_slot *vouchd_ptrmap_find(vouchd_ptrmap *m, const void *key);
/* Add key (not present, not NULL) with time at. 0, or -1 out of memory. */
int vouchd_ptrmap_add(vouchd_ptrmap *m, const void *key, time_t at);
/* Remove the entry s (from find). A later entry may move into s's place. */
void vouchd_ptrmap_remove(vouchd_ptrmap *m, vouchd_ptrmap_slot *s);
/* Remove every entry with at < before; returns how many. */
size_t vouchd_ptrmap_expire(vouchd_ptrmap *m, time_t before);
void vouchd_ptrmap_free(vouchd_ptrmap *m);

#endif
