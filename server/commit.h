/*
 * vouchd's committer: one thread that owns the only writing store
 * connection for certificate writes and commits them in groups.
 *
 * Why: with synchronous=FULL every SQLite commit costs an fsync (about a
 * millisecond here), so one transaction per certificate caps durable
 * issuance at a few hundred to a few thousand per second, and workers
 * writing on their own connections would queue on SQLite's write lock with
 * sleeping busy handlers. Instead each worker does the cryptography
 * (CSR check, signing) itself, hands the finished record to the committer,
 * and goes on serving other connections. The committer takes everything
 * queued, writes it in ONE transaction (each write in its own savepoint,
 * so one failure does not undo the others), commits once, and hands every
 * result back to the worker that asked; only then does that worker answer
 * its client. While one group is being made durable the next one gathers,
 * so the group size follows the load: one write when idle, hundreds under
 * pressure, no timer and no added latency when idle.
 *
 * A client is answered only after the commit that holds its certificate
 * returned: a certificate a client received is on disk (the crash test in
 * tests/integration/vouchd_crash.sh checks it with kill -9).
 */
#ifndef VOUCHD_COMMIT_H
#define VOUCHD_COMMIT_H

#include "server/http.h"

typedef enum { VOUCHD_JOB_INSERT = 1, VOUCHD_JOB_REVOKE = 2 } vouchd_job_kind;

typedef struct vouchd_job vouchd_job;
/* Called on the worker's thread with the job's result (job->rc, job->err).
 * cancelled: the server is stopping and the request is gone; free only. */
typedef void (*vouchd_job_done)(vouchd_worker *w, vouchd_job *job, int cancelled);

struct vouchd_job {
    vouchd_job_kind kind;
    vouch_store_cert cert;      /* INSERT: the record (caller-owned memory) */
    int64_t issuer_id;          /* REVOKE */
    uint8_t serial[VOUCH_SERIAL_MAX];
    size_t serial_len;
    int reason;
    char actor[160];
    vouchd_job_done done;
    void *arg;                  /* the caller's */
    vouchd_worker *w;           /* set by submit */
    int64_t id;                 /* INSERT: the new row id */
    vouch_store_rc rc;          /* result */
    char err[256];
    vouchd_job *next;
};

/* Start the committer thread on its own connection to db. 0 or -1 (logged). */
int vouchd_commit_start(const char *db);
/* Finish what is queued (results are delivered as cancelled), stop the
 * thread. Call after the workers' loops have stopped, before they are freed. */
void vouchd_commit_stop(void);
/* Set up the worker's reply event (after its base exists). 0 or -1. */
int vouchd_commit_worker_init(vouchd_worker *w);
/* Cancel and free the worker's undelivered replies and its event. */
void vouchd_commit_worker_free(vouchd_worker *w);
/* Queue a job (the worker's thread). job->done runs later on the same
 * thread. -1 when the committer is not running (the job is untouched). */
int vouchd_commit_submit(vouchd_worker *w, vouchd_job *job);

#endif
