/* test_model_torch.c: a model file written by tools/torch2xm.py from a
 * torchvision ResNet-18 gives PyTorch's logits in xm (relative error below
 * 1e-4). Runs `torch2xm.py selftest DIR` (which also checks the exact
 * .pth -> .h5 -> .pth round trip); skipped when Debian's python3 has no
 * torch or torchvision (CI), since the 45 MB model is not committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_model.h"
#include "xm_test.h"

int main(void)
{
    char dir[128], cmd[1024], p[256];
    snprintf(dir, sizeof dir, "/tmp/xm_test_t2x_%d", (int)getpid());
    if (access("/usr/bin/python3", X_OK) != 0) return xm_test_skip("no /usr/bin/python3");
    if (system("/usr/bin/python3 -c 'import torch, torchvision, h5py' >/dev/null 2>&1") != 0)
        return xm_test_skip("python3-torch/torchvision/h5py not installed");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s selftest %s",
             xm_test_path("../tools/torch2xm.py"), dir);
    int rc = system(cmd);
    XM_CHECKF(rc == 0, "%s: status %d", cmd, rc);
    if (rc != 0) return xm_test_finish();

    xm_err err = {0};
    xm_backend_cfg bc = {.threads = 1};
    xm_backend *be = xm_backend_new("cpu", &bc, &err);
    xm_model_meta meta;
    snprintf(p, sizeof p, "%s/r18.h5", dir);
    xm_net *net = be ? xm_model_load(be, p, &meta, &err) : NULL;
    XM_CHECKF(net != NULL, "%s", err.msg);
    snprintf(p, sizeof p, "%s/check.h5", dir);
    hid_t f = xm_h5_open(p, 0, &err);
    int64_t dx[XM_H5_MAX_RANK], dl[XM_H5_MAX_RANK];
    float *xh = xm_h5_read_alloc(f, "x", XM_H5_F32, 4, NULL, dx, &err);
    float *lh = xm_h5_read_alloc(f, "logits", XM_H5_F32, 2, NULL, dl, &err);
    xm_h5_close(f, NULL);
    XM_CHECKF(xh && lh, "%s", err.msg);
    if (net && xh && lh) {
        XM_CHECK(!strcmp(meta.arch, "resnet18") && meta.num_classes == 10 &&
                 meta.input_size == 96 && xm_net_slabs_get(net)->nbt[0] == 17);
        xm_tensor x;
        XM_CHECK(xm_tensor_alloc(be, &x, (int)dx[0], (int)dx[1], (int)dx[2], (int)dx[3],
                                 be->act_dtype, &err) == 0);
        XM_CHECK(be->ops->upload_f32(be, &x, xh, &err) == 0);
        XM_CHECKF(xm_net_forward(net, &x, 0, &err) == 0, "%s", err.msg);
        float got[64];
        const xm_tensor *lo = xm_net_logits(net, 0);
        XM_CHECK(xm_tensor_count(lo) == (size_t)(dl[0] * dl[1]) && dl[0] * dl[1] <= 64);
        XM_CHECK(be->ops->download_f32(be, lo, got, &err) == 0);
        double e = xm_test_rel_err(got, lh, (size_t)(dl[0] * dl[1]));
        printf("torchvision resnet18 via torch2xm: logits relative error %.3g\n", e);
        XM_CHECK(e < 1e-4);
        xm_tensor_release(be, &x);
        xm_model_meta_release(&meta);
    }
    free(xh);
    free(lh);
    xm_net_free(net);
    xm_backend_free(be);
    const char *files[] = {"r18.pth", "r18.h5", "back.pth", "check.h5"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return xm_test_finish();
}
