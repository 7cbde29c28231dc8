/* test_train_fmnist.c: a short real training run: a fresh ResNet-20 on
 * 2,000 Fashion-MNIST training images (random 20 px crops and flips), 80
 * steps of batch 32; the loss must fall and the top-1 accuracy on 500 test
 * images (center crops) must beat chance (10%) by far. Skipped when the
 * IDX files are not installed. Kept small: the whole run is a few seconds
 * on two idle cores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xm_atomic.h"
#include "xm_hash.h"
#include "xm_idx.h"
#include "xm_plan.h"
#include "xm_test.h"
#include "xm_train.h"
#include "xm_xms_out.h"

#define FM "/usr/share/datasets/fashion-mnist/"

static char dir[] = "/tmp/xm_test_fmnist_XXXXXX";

static const char *const classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/* The first n images of an IDX pair as an .xms. */
static int subset(const char *images, const char *labels, int n, const char *out, xm_err *err)
{
    xm_idx im, lb;
    memset(&im, 0, sizeof im);
    memset(&lb, 0, sizeof lb);
    int rc = xm_idx_read(images, 0, &im, err);
    if (!rc) rc = xm_idx_read(labels, 0, &lb, err);
    xm_xms_out *o = NULL;
    if (!rc) rc = xm_xms_out_open(out, 0, XM_ATOMIC_FORCE, NULL, &o, err);
    if (!rc) rc = xm_xms_out_set_classes(o, classes, 10, err);
    for (int i = 0; i < n && !rc; i++)
        rc = xm_xms_out_add(o, im.data + (size_t)i * 784, 28, 28, 1, lb.data[i], NULL, err);
    if (!rc) rc = xm_xms_out_commit(o, err);
    xm_xms_out_free(o);
    xm_idx_release(&im);
    xm_idx_release(&lb);
    return rc;
}

typedef struct trace {
    double loss[200];
    int n;
    double top1, mca;
} trace;

static void on_event(void *ctx, const xm_train_event *ev)
{
    trace *t = ctx;
    if (ev->kind == XM_TRAIN_EV_STEP && t->n < 200) t->loss[t->n++] = ev->loss;
    if (ev->kind == XM_TRAIN_EV_EVAL) {
        t->top1 = ev->top1;
        t->mca = ev->mean_class_acc;
    }
}

int main(void)
{
    FILE *f = fopen(FM "train-images-idx3-ubyte.gz", "rb");
    if (!f) return xm_test_skip("Fashion-MNIST not installed in " FM);
    fclose(f);
    if (!mkdtemp(dir)) return xm_test_skip("mkdtemp failed");
    xm_err err;
    xm_err_clear(&err);
    char tr[600], te[600], plan[600], out[600];
    snprintf(tr, sizeof tr, "%s/train.xms", dir);
    snprintf(te, sizeof te, "%s/test.xms", dir);
    snprintf(plan, sizeof plan, "%s/plan.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    XM_CHECKF(subset(FM "train-images-idx3-ubyte.gz", FM "train-labels-idx1-ubyte.gz", 2000, tr,
                     &err) == 0, "%s", err.msg);
    XM_CHECKF(subset(FM "t10k-images-idx3-ubyte.gz", FM "t10k-labels-idx1-ubyte.gz", 500, te,
                     &err) == 0, "%s", err.msg);

    /* plan: none (plain fine-tuning), random 20 px crops of the 28 px images */
    xm_xms_set *s = NULL;
    const char *p[1] = {tr};
    XM_CHECK(xm_xms_set_open(p, 1, NULL, &s, &err) == 0);
    xm_plan_cfg pc;
    xm_plan_cfg_default(&pc);
    pc.mode = XM_PLAN_NONE;
    pc.steps = 80;
    pc.batch = 32;
    pc.seed = 3;
    pc.input_size = 20;
    xm_plan_gen *g = NULL;
    xm_plan pl;
    memset(&pl, 0, sizeof pl);
    XM_CHECK(xm_plan_gen_new(&pc, s, NULL, NULL, &g, &err) == 0);
    XM_CHECK(g && xm_plan_generate(g, s, NULL, &pl, &err) == 0);
    pl.n_target_files = 1;
    pl.target_files = calloc(1, sizeof(char *));
    pl.target_files[0] = strdup(tr);
    pl.target_xxh64 = calloc(1, 8);
    XM_CHECK(xm_hash_file(tr, pl.target_xxh64, &err) == 0);
    XM_CHECKF(xm_plan_save(&pl, plan, XM_ATOMIC_FORCE, &err) == 0, "%s", err.msg);
    xm_plan_release(&pl);
    xm_plan_gen_free(g);
    xm_xms_set_close(s);

    xm_train_cfg c;
    xm_train_cfg_default(&c);
    c.arch = "resnet20";
    c.init_seed = 1;
    c.plan_path = plan;
    c.out_path = out;
    c.eval_path = te;
    c.lr = 0.05;
    c.sched = XM_SCHED_COSINE;
    c.threads = 2;
    trace t;
    memset(&t, 0, sizeof t);
    int early = 0;
    XM_CHECKF(xm_train_run(&c, on_event, &t, &early, &err) == 0, "%s", err.msg);
    double first = 0, last = 0;
    for (int i = 0; i < 10 && t.n == 80; i++) {
        first += t.loss[i] / 10;
        last += t.loss[70 + i] / 10;
    }
    printf("fashion-mnist: loss %.3f (steps 1-10) -> %.3f (steps 71-80), test top1 %.3f, "
           "mean class acc %.3f\n", first, last, t.top1, t.mca);
    XM_CHECK(t.n == 80);
    XM_CHECKF(last < 0.7 * first, "the loss did not fall: %.3f -> %.3f", first, last);
    XM_CHECKF(t.top1 > 0.5, "test accuracy %.3f is not far above chance (0.1)", t.top1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return xm_test_finish();
}
