/*
 * SQLite backend internals exposed for tests only: the query plan of every
 * query the API runs, so a test can prove none of them scans the
 * certificates table.
 */
#ifndef VOUCH_STORE_SQLITE_H
#define VOUCH_STORE_SQLITE_H

#include "store/store.h"

typedef enum vouch_sq_query {
    VOUCH_SQ_SEARCH = 0,         /* cert_search with the given filter */
    VOUCH_SQ_COUNT,              /* cert_count with the given filter */
    VOUCH_SQ_GET_SERIAL,
    VOUCH_SQ_GET_ID,
    VOUCH_SQ_GET_FINGERPRINT,
    VOUCH_SQ_LIST_REVOKED,
    VOUCH_SQ_CHANGES,
    VOUCH_SQ_EXPIRED_COUNT,      /* part of cert_counts */
    VOUCH_SQ_EXPIRED_BY_TEMPLATE,/* part of cert_counts_by_template */
    VOUCH_SQ_NEXT_SEQ,           /* insert / revoke: next change number */
    VOUCH_SQ_REVOKE_LOOKUP,
    VOUCH_SQ__COUNT
} vouch_sq_query;

/* EXPLAIN QUERY PLAN of that query, one plan line per row joined by '\n',
 * into out. f is used by SEARCH and COUNT only (may be NULL otherwise). */
vouch_store_rc vouch_store_sqlite_explain(vouch_store *s, vouch_sq_query q,
                                          const vouch_store_cert_filter *f, char *out,
                                          size_t out_size);

#endif
