/* fuzz_idx.c: libFuzzer target for the IDX parser (helper B's xm_idx_parse,
 * the same checks xm_idx_read applies after gunzip). */
#include <stdint.h>
#include <stdlib.h>

#include "xm_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xm_idx x;
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_idx_parse(data, size, "fuzz.idx", (int64_t)1 << 24, &x, &e);
    if (rc == 0) {
        size_t want = 1;
        for (int k = 0; k < x.ndim; k++) want *= (size_t)x.dims[k];
        if (want != x.bytes) abort(); /* dims must describe exactly the data */
        volatile uint8_t s = 0;
        for (size_t k = 0; k < x.bytes; k += 61) s ^= x.data[k];
        (void)s;
        xm_idx_release(&x);
    } else if (rc != XM_EDATA && rc != XM_EFAIL) {
        abort();
    }
    return 0;
}
