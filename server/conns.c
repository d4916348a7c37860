/*
 * Spreading connections over the workers: least connections.
 *
 * Every worker accepts on the same listening socket (main.c). libevent's
 * listener accepts in a loop until the kernel's queue is empty, so the
 * worker that wakes first takes a whole burst: a client opening 16
 * keep-alive connections at once had 15 of them served by one worker while
 * the other idled, halving what the server could do for it. Here each
 * worker counts its connections (its "load"), and a worker whose load is
 * more than SLACK above the least loaded worker's stops accepting (its
 * listener is disabled: "gated") until that is no longer so; the kernel
 * keeps new connections queued for the workers still accepting. The least
 * loaded worker always accepts, so some worker always does.
 *
 * Counting. A connection is counted from its accept (evhttp's bufferevent
 * factory, vouchd_conns_accepted) to its close. libevent 2.1 tells a server
 * nothing about a close unless the connection's close callback was set, and
 * the connection object is only reachable from a request; so an accepted
 * connection waits in a per-worker "pending" map (ptrmap.h) keyed by its
 * bufferevent until its first request (vouchd_conns_request) sets the
 * close callback, and a connection that closes without any request (a
 * port check, a client giving up, a request libevent refused before
 * routing) leaves the table when evhttp's inactivity timeout must have
 * closed it (VOUCHD_TIMEOUT_S and a margin). A bufferevent address seen
 * again at accept means the old connection is gone: its entry is dropped.
 *
 * Signals. A worker's load rising can make a gated worker eligible again:
 * the worker whose load rose wakes it (event_active on its regate event,
 * thread-safe: evthread_use_pthreads). A worker's own load falling is
 * re-evaluated by itself. A gated worker also re-evaluates every 100 ms,
 * which bounds any missed wake-up.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "server/http.h"
#include "server/ptrmap.h"

#define SLACK 1                           /* connections a worker may be above the least */
#define REGATE_US 100000                  /* a gated worker looks again this often */
#define PENDING_TTL (VOUCHD_TIMEOUT_S + 5) /* seconds an unrequested connection is counted */

typedef struct vouchd_conns vouchd_conns;

struct vouchd_conns {
    vouchd_worker *w;
    atomic_int load;   /* pending + requested connections */
    atomic_int gated;  /* listener disabled for balance */
    struct event *regate;
    struct event *sweep;   /* drops expired pending entries */
    vouchd_ptrmap pending; /* bufferevent -> accept time, until the first request */
};

static vouchd_worker *g_all;
static int g_n;
static atomic_int g_stopped; /* the loops are gone: count, never gate */

static int min_load(void)
{
    int m = INT32_MAX;
    for (int i = 0; i < g_n; i++) {
        if (!g_all[i].conns)
            continue;
        int l = atomic_load_explicit(&g_all[i].conns->load, memory_order_relaxed);
        if (l < m)
            m = l;
    }
    return m;
}

/* Gate or ungate this worker's listener by its load; on its own thread. */
static void evaluate(vouchd_conns *c)
{
    vouchd_worker *w = c->w;
    if (atomic_load(&g_stopped))
        return;
    int over = atomic_load_explicit(&c->load, memory_order_relaxed) > min_load() + SLACK;
    if (over && !atomic_load(&c->gated)) {
        atomic_store(&c->gated, 1);
        evconnlistener_disable(w->listener);
    } else if (!over && atomic_load(&c->gated)) {
        atomic_store(&c->gated, 0);
        if (!evtimer_pending(w->accept_resume, NULL)) /* not paused by an accept error */
            evconnlistener_enable(w->listener);
    }
    if (atomic_load(&c->gated)) {
        struct timeval tv = {0, REGATE_US};
        event_add(c->regate, &tv);
    }
}

static void regate_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evaluate(arg);
}

/* This worker's load rose: re-evaluate it, and wake gated workers that are
 * now close enough to the least loaded one. */
static void load_rose(vouchd_conns *c)
{
    evaluate(c);
    int m = min_load();
    for (int i = 0; i < g_n; i++) {
        vouchd_conns *o = g_all[i].conns;
        if (o && o != c && atomic_load(&o->gated) &&
            atomic_load_explicit(&o->load, memory_order_relaxed) <= m + SLACK)
            event_active(o->regate, EV_TIMEOUT, 1);
    }
}

static void load_fell(vouchd_conns *c)
{
    atomic_fetch_sub_explicit(&c->load, 1, memory_order_relaxed);
    if (atomic_load(&c->gated))
        evaluate(c);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    vouchd_conns *c = arg;
    size_t n = vouchd_ptrmap_expire(&c->pending, time(NULL) - PENDING_TTL);
    while (n--)
        load_fell(c);
}

static void closed_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    load_fell(arg);
}

void vouchd_conns_accepted(vouchd_worker *w, const struct bufferevent *bev)
{
    vouchd_conns *c = w->conns;
    if (!c || !bev)
        return;
    time_t now = time(NULL);
    vouchd_ptrmap_slot *old = vouchd_ptrmap_find(&c->pending, bev);
    if (old) { /* that connection was freed without a request: no longer open */
        old->at = now;
        return; /* the entry now stands for the new connection; load unchanged */
    }
    if (vouchd_ptrmap_add(&c->pending, bev, now) != 0)
        return; /* out of memory: this connection is not counted */
    atomic_fetch_add_explicit(&c->load, 1, memory_order_relaxed);
    load_rose(c);
}

void vouchd_conns_request(vouchd_worker *w, struct evhttp_request *req)
{
    vouchd_conns *c = w->conns;
    if (!c || !c->pending.count)
        return;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    vouchd_ptrmap_slot *s = bev ? vouchd_ptrmap_find(&c->pending, bev) : NULL;
    if (!s)
        return; /* not its first request, or never counted */
    vouchd_ptrmap_remove(&c->pending, s);
    /* counted until closed_cb; the load does not change */
    evhttp_connection_set_closecb(evcon, closed_cb, c);
}

int vouchd_conns_init(vouchd_worker *w, vouchd_worker *all, int n)
{
    g_all = all;
    g_n = n;
    vouchd_conns *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->w = w;
    c->regate = evtimer_new(w->base, regate_cb, c);
    c->sweep = event_new(w->base, -1, EV_PERSIST, sweep_cb, c);
    struct timeval tv = {5, 0};
    if (!c->regate || !c->sweep || event_add(c->sweep, &tv) != 0) {
        if (c->regate)
            event_free(c->regate);
        if (c->sweep)
            event_free(c->sweep);
        free(c);
        return -1;
    }
    w->conns = c;
    return 0;
}

void vouchd_conns_stop(void)
{
    atomic_store(&g_stopped, 1);
}

int vouchd_conns_gated(const vouchd_worker *w)
{
    return w->conns && atomic_load(&w->conns->gated);
}

int vouchd_conns_load(const vouchd_worker *w)
{
    return w->conns ? atomic_load(&w->conns->load) : 0;
}

void vouchd_conns_free(vouchd_worker *w)
{
    vouchd_conns *c = w->conns;
    if (!c)
        return;
    event_free(c->regate);
    event_free(c->sweep);
    vouchd_ptrmap_free(&c->pending);
    free(c);
    w->conns = NULL;
}
