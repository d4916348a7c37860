/*
 * The committer thread (commit.h says why and how).
 */
#include "server/commit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define GROUP_MAX 1024 /* writes per transaction at most */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vouchd_job *head, **tail; /* queued, in arrival order */
    int running, stopping;
    pthread_t tid;
    vouch_store *store;
    unsigned long long writes, groups, largest; /* committer thread only */
} C = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Guards every worker's replies list. */
static pthread_mutex_t replies_mu = PTHREAD_MUTEX_INITIALIZER;

static void deliver(vouchd_job *j)
{
    vouchd_worker *w = j->w;
    pthread_mutex_lock(&replies_mu);
    j->next = w->replies;
    w->replies = j;
    pthread_mutex_unlock(&replies_mu);
    event_active(w->replies_ev, EV_READ, 0);
}

static void run_one(vouchd_job *j)
{
    j->err[0] = '\0';
    if (j->kind == VOUCHD_JOB_INSERT)
        j->rc = vouch_store_cert_insert(C.store, &j->cert, j->actor, &j->id, j->err,
                                        sizeof j->err);
    else
        j->rc = vouch_store_cert_revoke(C.store, j->issuer_id, j->serial, j->serial_len,
                                        j->reason, j->actor, j->err, sizeof j->err);
}

static void run_group(vouchd_job *group)
{
    char err[256] = "";
    vouch_store_rc rc = vouch_store_begin(C.store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        /* no group: each write commits on its own */
        for (vouchd_job *j = group; j; j = j->next)
            run_one(j);
        return;
    }
    for (vouchd_job *j = group; j; j = j->next)
        run_one(j);
    rc = vouch_store_commit(C.store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        /* nothing of the group is stored */
        vouchd_log("committing a group of writes failed: %s",
                   *err ? err : vouch_store_strerror(rc));
        for (vouchd_job *j = group; j; j = j->next)
            if (j->rc == VOUCH_STORE_OK) {
                j->rc = rc;
                snprintf(j->err, sizeof j->err, "commit: %.200s",
                         *err ? err : vouch_store_strerror(rc));
            }
    }
}

static void *committer_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "vouchd-commit");
    for (;;) {
        pthread_mutex_lock(&C.mu);
        while (!C.head && !C.stopping)
            pthread_cond_wait(&C.cv, &C.mu);
        if (!C.head) {
            pthread_mutex_unlock(&C.mu);
            break;
        }
        vouchd_job *group = C.head, *last = C.head;
        unsigned long long n = 1;
        for (; n < GROUP_MAX && last->next; n++)
            last = last->next;
        C.head = last->next;
        if (!C.head)
            C.tail = &C.head;
        last->next = NULL;
        pthread_mutex_unlock(&C.mu);
        C.writes += n;
        C.groups++;
        if (n > C.largest)
            C.largest = n;

        run_group(group);
        for (vouchd_job *j = group, *next; j; j = next) {
            next = j->next;
            deliver(j);
        }
    }
    return NULL;
}

int vouchd_commit_start(const char *db)
{
    char err[256] = "";
    vouch_store_rc rc = vouch_store_open_sqlite(db, &C.store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("committer: cannot open %s: %s", db, *err ? err : vouch_store_strerror(rc));
        return -1;
    }

    C.head = NULL;
    C.tail = &C.head;
    C.stopping = 0;
    int e = pthread_create(&C.tid, NULL, committer_main, NULL);
    if (e) {
        vouchd_log("cannot start the committer thread: %s", strerror(e));
        vouch_store_close(C.store);
        C.store = NULL;
        return -1;
    }
    C.running = 1;
    return 0;
}

void vouchd_commit_stop(void)
{
    if (!C.running)
        return;
    pthread_mutex_lock(&C.mu);
    C.stopping = 1;
    pthread_cond_signal(&C.cv);
    pthread_mutex_unlock(&C.mu);
    pthread_join(C.tid, NULL);
    C.running = 0;
    if (C.groups) /* how well writes grouped (docs/perf.md) */
        vouchd_log("committer: %llu writes in %llu commits (%.1f per commit, largest %llu)",
                   C.writes, C.groups, (double)C.writes / (double)C.groups, C.largest);
    vouch_store_close(C.store);
    C.store = NULL;
}

static void replies_cb(evutil_socket_t fd, short what, void *arg)
{
    vouchd_worker *w = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&replies_mu);
    vouchd_job *list = w->replies;
    w->replies = NULL;
    pthread_mutex_unlock(&replies_mu);
    /* the list is newest first; answer in commit order */
    vouchd_job *rev = NULL;
    while (list) {
        vouchd_job *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    for (vouchd_job *j = rev, *n; j; j = n) {
        n = j->next;
        j->next = NULL;
        j->done(w, j, 0);
    }
}

int vouchd_commit_worker_init(vouchd_worker *w)
{
    w->replies = NULL;
    w->replies_ev = event_new(w->base, -1, 0, replies_cb, w);
    return w->replies_ev ? 0 : -1;
}

void vouchd_commit_worker_free(vouchd_worker *w)
{
    pthread_mutex_lock(&replies_mu);
    vouchd_job *list = w->replies;
    w->replies = NULL;
    pthread_mutex_unlock(&replies_mu);
    for (vouchd_job *j = list, *n; j; j = n) {
        n = j->next;
        j->done(w, j, 1);
    }
    if (w->replies_ev)
        event_free(w->replies_ev);
    w->replies_ev = NULL;
}

int vouchd_commit_submit(vouchd_worker *w, vouchd_job *job)
{
    job->w = w;
    job->next = NULL;
    pthread_mutex_lock(&C.mu);
    if (!C.running || C.stopping) {
        pthread_mutex_unlock(&C.mu);
        return -1;
    }
    *C.tail = job;
    C.tail = &job->next;
    pthread_cond_signal(&C.cv);
    pthread_mutex_unlock(&C.mu);
    return 0;
}
