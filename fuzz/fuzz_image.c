/* fuzz_image.c: libFuzzer target for the JPEG/PNG ingest path of xm-pack:
 * xm_image_decode from memory (magic bytes, header and size checks, libjpeg-
 * turbo or libpng, channel conversion, shorter side to S and center crop).
 *
 * The first input byte chooses the options, the rest is the file:
 *   channels = {0, 1, 3}[b % 3], size = {0, 32, 7, 1}[(b / 3) % 4].
 * One decoder is reused for every input, as each xm-pack worker does.
 * The pixel limit is lowered (4 Mpx) so hostile headers cannot ask for large
 * allocations. Anything but success or a clean XM_EDATA / XM_EFAIL refusal is
 * a bug, and a decoded image must have the requested shape. */
#include <stdint.h>
#include <stdlib.h>

#include "xm_image.h"

static xm_decoder *dec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xm_err e;
    xm_err_clear(&e);
    if (!(dec = xm_decoder_new(&e))) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const int chans[3] = {0, 1, 3}, sizes[4] = {0, 32, 7, 1};
    xm_decode_opts o = {.channels = chans[data[0] % 3], .size = sizes[(data[0] / 3) % 4],
                        .max_pixels = (int64_t)1 << 22};
    xm_image im = {0};
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_image_decode(dec, data + 1, size - 1, "fuzz.img", &o, &im, &e);
    if (rc == 0) {
        if (im.h <= 0 || im.w <= 0 || !im.px) abort();
        if (o.channels ? im.c != o.channels : (im.c != 1 && im.c != 3)) abort();
        if (o.size && (im.h != o.size || im.w != o.size)) abort();
        if ((int64_t)im.h * im.w > o.max_pixels) abort();
        volatile uint8_t s = 0;
        size_t n = (size_t)im.h * im.w * im.c;
        for (size_t k = 0; k < n; k += 31) s ^= im.px[k];
        s ^= im.px[n - 1];
        (void)s;
        xm_image_release(&im);
    } else {
        if (rc != XM_EDATA && rc != XM_EFAIL) abort();
        if (im.px) abort(); /* a failed decode leaves nothing to free */
    }
    return 0;
}
