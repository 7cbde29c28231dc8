/* sgd.cu: the optimizer update, one fused pass over the parameter slab
 * (torch.optim.SGD semantics, see xm_sgd_cfg). */
#include "xm_cuda_dev.cuh"

__global__ void sgd_kernel(float *w, const float *g, float *mom, const float *w0, size_t n,
                           float lr, float mu, float wd, float l2sp, int nesterov)
{
    XM_GRID_STRIDE(i, n)
    {
        float wi = w[i];
        float gi = g[i] + wd * wi;
        if (w0) gi += l2sp * (wi - w0[i]);
        float step = gi;
        if (mom) {
            float b = mu * mom[i] + gi;
            mom[i] = b;
            step = nesterov ? gi + mu * b : b;
        }
        w[i] = wi - lr * step;
    }
}

extern "C" int xm_cuda_sgd_update(xm_cuda *cu, float *w, const float *g, float *mom,
                                  const float *w0, size_t n, const xm_sgd_cfg *cfg, xm_err *err)
{
    if (!n) return 0;
    if (!w || !g || !cfg) return xm_err_set(err, XM_EUSAGE, "sgd_update: NULL pointer");
    if (cfg->momentum != 0.f && !mom)
        return xm_err_set(err, XM_EUSAGE, "sgd_update: momentum without a momentum buffer");
    if (cfg->l2sp != 0.f && !w0)
        return xm_err_set(err, XM_EUSAGE, "sgd_update: L2-SP without starting weights");
    const float *w0u = cfg->l2sp != 0.f ? w0 : NULL;
    int blocks = xm_cuda_blocks(cu, n, 256);
    sgd_kernel<<<blocks, 256, 0, cu->stream>>>(w, g, mom, w0u, n, cfg->lr, cfg->momentum,
                                               cfg->weight_decay, cfg->l2sp, cfg->nesterov);
    XM_CU_LAUNCHED();
    return 0;
}
