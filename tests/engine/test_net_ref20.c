/* test_net_ref20.c: CIFAR ResNet-20 (1x28x28, batch 4, two heads) against
 * PyTorch (tests/refs/resnet20_ref.h5, from scripts/make_torch_refs.py):
 * input step, eval and train logits, loss, every gradient, running stats,
 * 3 SGD steps with momentum and weight decay, and 3 Nesterov steps. */
#include "test_net_ref.h"

int main(void)
{
    ref_run_case("refs/resnet20_ref.h5", 1);
    return xm_test_finish();
}
