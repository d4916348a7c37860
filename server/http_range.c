/*
 * The Range header of an image download (http_range.h). The value is
 * untrusted: it is read byte by byte against the grammar, numbers
 * saturate instead of overflowing, and anything the grammar does not allow
 * is refused rather than guessed at.
 */
#include "server/http_range.h"

#include <strings.h>

/* Decimal digits at *p (at least one) into *v, saturating at UINT64_MAX;
 * *p moves past them. 0, or -1 when there is no digit. */
static int digits(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *p = s;
    *v = x;
    return 0;
}

vouchd_range_kind vouchd_range_parse(const char *value, uint64_t size, uint64_t *first,
                                     uint64_t *last)
{
    if (!value || strncasecmp(value, "bytes=", 6) != 0)
        return VOUCHD_RANGE_WHOLE;
    const char *p = value + 6;
    for (const char *c = p; *c; c++)
        if (*c == ',')
            return VOUCHD_RANGE_WHOLE;
    uint64_t a = 0, b = 0;
    if (*p == '-') { /* suffix: the last b bytes */
        p++;
        if (digits(&p, &b) != 0 || *p != '\0' || b == 0 || size == 0)
            return VOUCHD_RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return VOUCHD_RANGE_PARTIAL;
    }
    if (digits(&p, &a) != 0 || *p++ != '-')
        return VOUCHD_RANGE_UNSATISFIABLE;
    int open = *p == '\0';
    if (!open && (digits(&p, &b) != 0 || *p != '\0' || b < a))
        return VOUCHD_RANGE_UNSATISFIABLE;
    if (a >= size)
        return VOUCHD_RANGE_UNSATISFIABLE;
    *first = a;
    *last = open || b >= size ? size - 1 : b;
    return VOUCHD_RANGE_PARTIAL;
}
