/* xm_plan_aux.c: the auxiliary shard of --aux-out: only the records of the
 * paired source classes, so training does not need the whole source set. */
#include "xm_plan.h"

#include <stdlib.h>

#include "xm_xms_out.h"

int xm_plan_write_aux(const xm_xms_set *partner, const int64_t *records, int64_t n,
                      const char *path, int flags, xm_err *err)
{
    int nc = xm_xms_set_nclasses(partner);
    const char **names = calloc((size_t)nc + 1, sizeof *names);
    xm_xms_cursor *cur = xm_xms_cursor_new(err);
    xm_xms_out *out = NULL;
    int rc = 0;
    if (!names || !cur) {
        rc = err->code ? err->code : xm_err_set(err, XM_EFAIL, "out of memory");
        goto done;
    }
    for (int c = 0; c < nc; c++) names[c] = xm_xms_set_class(partner, c);
    /* keep the partner's compression settings' defaults: records are copied
     * decoded and re-packed */
    if ((rc = xm_xms_out_open(path, 0, flags, NULL, &out, err)) ||
        (rc = xm_xms_out_set_classes(out, names, nc, err)))
        goto done;
    for (int64_t i = 0; i < n; i++) {
        xm_xms_rec r;
        if ((rc = xm_xms_set_read(partner, cur, (uint64_t)records[i], &r, err)) ||
            (rc = xm_xms_out_add(out, r.px, r.h, r.w, r.c, r.label, r.name, err)))
            goto done;
    }
    rc = xm_xms_out_commit(out, err);
done:
    xm_xms_out_free(out);
    xm_xms_cursor_free(cur);
    free(names);
    return rc;
}
