/* xm_h5_impl.h: helpers shared by the xm_h5 source files (not installed). */
#ifndef XM_H5_IMPL_H
#define XM_H5_IMPL_H

#include <stdarg.h>
#include <stdio.h>

#include "xm_h5.h"

hid_t xm_h5__native(xm_h5_type t);
size_t xm_h5__size(xm_h5_type t);
int xm_h5__type_ok(hid_t stored, xm_h5_type want, char *why, size_t size);
/* Fill err with "FILE: message" (FILE from loc) and return code. */
int xm_h5__fail(hid_t loc, xm_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
