/* fuzz_list.c: libFuzzer target for xm-pack's list-file input ('path<TAB>label'
 * lines) and its classes file: xm_pack_src_add_list then xm_pack_src_finish,
 * the parse and label resolution only (the listed images are never opened).
 *
 * The input is the list file; when it holds a NUL byte, what follows the
 * first NUL is the classes file (one name per line) and is used with
 * --classes. Both are written to memory files and read by path, as xm-pack
 * reads them. Anything but success or a clean XM_EDATA refusal is a bug; on
 * success every record must carry a path and a label inside the class table. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xm_pack.h"

static int mem_file(const uint8_t *d, size_t n, char *path, size_t size)
{
    int fd = memfd_create("fuzz.list", 0);
    if (fd < 0) return -1;
    if (n && write(fd, d, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    snprintf(path, size, "/proc/self/fd/%d", fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t nlist = nul ? (size_t)(nul - data) : size;
    char lpath[64], cpath[64];
    int lfd = mem_file(data, nlist, lpath, sizeof lpath), cfd = -1;
    if (lfd < 0) return 0;
    if (nul && (cfd = mem_file(nul + 1, size - nlist - 1, cpath, sizeof cpath)) < 0) {
        close(lfd);
        return 0;
    }
    xm_pack_src s;
    xm_pack_src_init(&s);
    xm_err e;
    xm_err_clear(&e);
    int rc = xm_pack_src_add_list(&s, lpath, &e);
    if (!rc) rc = xm_pack_src_finish(&s, cfd >= 0 ? cpath : NULL, &e);
    if (rc == 0) {
        if (s.n < 0 || (s.n && !s.items) || (s.nclasses && !s.classes)) abort();
        for (int64_t i = 0; i < s.n; i++) {
            const xm_pack_item *it = &s.items[i];
            if (!it->path || it->label_str || it->idx != -1) abort();
            if (it->label < 0 || it->label >= s.nclasses) abort();
        }
        for (int k = 0; k < s.nclasses; k++) (void)strlen(s.classes[k]);
    } else if (rc != XM_EDATA) {
        abort(); /* a bad list is bad data, never a usage or I/O error */
    }
    if (rc && !e.msg[0]) abort();
    xm_pack_src_release(&s);
    close(lfd);
    if (cfd >= 0) close(cfd);
    return 0;
}
