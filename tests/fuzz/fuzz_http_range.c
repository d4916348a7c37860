/* The Range header of a firmware image download, through vouchd's parser
 * (server/http_range.c). Input: 8 bytes of image size (little-endian),
 * then the header value. Oracles: a partial answer lies inside the image
 * and comes only from one "bytes=" range; and where the value is one
 * plain "bytes=FIRST-[LAST]" with numbers small enough for strtoull, the
 * answer is the one the RFC gives, computed here another way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_range.h"

static int is_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > 8 + 4096)
        return 0;
    uint64_t img = 0;
    for (int i = 7; i >= 0; i--)
        img = img << 8 | data[i];
    if (data[7] & 0x80) /* keep half the sizes small, where the edges are */
        img &= 0xFFFF;
    size_t len = size - 8;
    char *v = malloc(len + 1);
    if (!v)
        return 0;
    memcpy(v, data + 8, len);
    v[len] = 0;
    uint64_t first = 7, last = 3;
    vouchd_range_kind k = vouchd_range_parse(v, img, &first, &last);
    int bytes = strncasecmp(v, "bytes=", 6) == 0, comma = strchr(v, ',') != NULL;
    if (k != VOUCHD_RANGE_WHOLE && k != VOUCHD_RANGE_PARTIAL && k != VOUCHD_RANGE_UNSATISFIABLE)
        __builtin_trap();
    if (k == VOUCHD_RANGE_PARTIAL && (img == 0 || first > last || last >= img))
        __builtin_trap();
    if (k != VOUCHD_RANGE_WHOLE && (!bytes || comma))
        __builtin_trap();
    if (k == VOUCHD_RANGE_WHOLE && bytes && !comma)
        __builtin_trap();
    if (vouchd_range_parse(NULL, img, &first, &last) != VOUCHD_RANGE_WHOLE)
        __builtin_trap();
    /* the reference: bytes=A-[B] */
    const char *dash = bytes ? strchr(v + 6, '-') : NULL;
    if (dash && is_digits(v + 6, (size_t)(dash - v - 6)) &&
        (dash[1] == 0 || is_digits(dash + 1, strlen(dash + 1)))) {
        uint64_t a = strtoull(v + 6, NULL, 10), b = dash[1] ? strtoull(dash + 1, NULL, 10) : 0;
        int open = dash[1] == 0;
        vouchd_range_kind want = (!open && b < a) || a >= img ? VOUCHD_RANGE_UNSATISFIABLE
                                                              : VOUCHD_RANGE_PARTIAL;
        if (k != want)
            __builtin_trap();
        if (k == VOUCHD_RANGE_PARTIAL &&
            (first != a || last != (open || b >= img ? img - 1 : b)))
            __builtin_trap();
    }
    free(v);
    return 0;
}
