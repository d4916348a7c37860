/*
 * The Range request header (RFC 9110 section 14), as vouchd serves a
 * firmware image: one byte range or none. Kept apart from the handlers so
 * that its fuzz target (tests/fuzz/fuzz_http_range.c) links it alone.
 */
#ifndef VOUCHD_HTTP_RANGE_H
#define VOUCHD_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum vouchd_range_kind {
    VOUCHD_RANGE_WHOLE = 0,        /* no usable Range: answer 200 with everything */
    VOUCHD_RANGE_PARTIAL = 1,      /* 206: bytes first..last (inclusive) */
    VOUCHD_RANGE_UNSATISFIABLE = 2 /* 416; its Content-Range gives the size */
} vouchd_range_kind;

/*
 * Judges the value of a Range header (NULL: none) against a representation
 * of `size` bytes. Strict: "bytes=" (the unit in any case), then exactly
 * one of "FIRST-", "FIRST-LAST" or "-SUFFIX", decimal digits only, nothing
 * else (no spaces, no signs). Numbers of any length are read without
 * overflow (a value past 2^64-1 counts as 2^64-1).
 *
 *   no header, another unit ("items=0-1")       WHOLE (RFC 9110: ignored)
 *   several ranges ("bytes=0-1,5-9")            WHOLE (vouchd serves one range;
 *                                               the whole answer is allowed)
 *   FIRST-[LAST] with FIRST < size              PARTIAL, LAST cut to size-1
 *   -SUFFIX with SUFFIX > 0                     PARTIAL, the last SUFFIX bytes
 *   FIRST >= size, -0, size 0                   UNSATISFIABLE
 *   LAST < FIRST, a syntax error after "bytes=" UNSATISFIABLE
 *
 * *first and *last are set for PARTIAL only.
 */
vouchd_range_kind vouchd_range_parse(const char *value, uint64_t size, uint64_t *first,
                                     uint64_t *last);

#endif
