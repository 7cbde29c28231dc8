/* test_net_ref18.c: torchvision ResNet-18 (3x64x64, batch 2) against PyTorch
 * (tests/refs/resnet18_ref.h5): as test_net_ref20, with sampled entries and
 * norms for the large tensors. */
#include "test_net_ref.h"

int main(void)
{
    ref_run_case("refs/resnet18_ref.h5", 1);
    return xm_test_finish();
}
