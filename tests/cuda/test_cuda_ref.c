/* test_cuda_ref.c: the PyTorch reference cases of the CPU engine
 * (tests/refs/resnet20_ref.h5 and resnet18_ref.h5, tests/engine/test_net_ref.h)
 * run on the CUDA backend in F32 with the same tolerances: the input step,
 * eval and train logits, loss, every gradient, running statistics and the
 * SGD/Nesterov steps. The shared helper creates its backend with
 * xm_backend_new("cpu", ...); here that call is redirected to CUDA.
 * Without a GPU: "skipped: no GPU", exit 77. */
#include "test_cuda_common.h"

#ifdef XM_HAVE_CUDA

static xm_backend *ref_cuda_backend(const xm_backend_cfg *cfg, xm_err *err)
{
    xm_backend_cfg c = *cfg;
    c.precision = XM_PREC_F32;
    c.debug_sync = 1;
    return xm_backend_new(TC_GPU_DEVICE, &c, err);
}
#define xm_backend_new(device, cfg, err) ref_cuda_backend((cfg), (err))
#include "engine/test_net_ref.h"
#undef xm_backend_new

int main(void)
{
    if (xm_cuda_device_count() <= 0) return xm_test_skip("no GPU");
    ref_run_case("refs/resnet20_ref.h5", 0);
    ref_run_case("refs/resnet18_ref.h5", 0);
    return xm_test_finish();
}

#else

int main(void) { return xm_test_skip("no GPU (this build has no CUDA backend)"); }

#endif
