/* test_hash.c: XXH64 against published values, streaming equals one-shot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xm_hash.h"
#include "xm_test.h"

int main(void)
{
    XM_CHECK(xm_xxh64("", 0, 0) == 0xEF46DB3751D8E999ull);
    XM_CHECK(xm_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
    const char *s = "Nobody inspects the spammish repetition";
    XM_CHECK(xm_xxh64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ull);

    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 37 + (i >> 3));
    uint64_t ref = xm_xxh64(buf, sizeof buf, 99);
    const size_t splits[] = {1, 7, 31, 32, 33, 64, 999};
    for (int k = 0; k < 7; k++) {
        xm_xxh64_state st;
        xm_xxh64_init(&st, 99);
        for (size_t off = 0; off < sizeof buf; off += splits[k]) {
            size_t n = sizeof buf - off < splits[k] ? sizeof buf - off : splits[k];
            xm_xxh64_update(&st, buf + off, n);
        }
        XM_CHECKF(xm_xxh64_digest(&st) == ref, "split %zu", splits[k]);
    }
    XM_CHECK(xm_xxh64(buf, sizeof buf, 0) != ref);

    char path[] = "/tmp/xm_test_hash_XXXXXX";
    int fd = mkstemp(path);
    XM_CHECK(fd >= 0);
    XM_CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
    close(fd);
    uint64_t h = 0;
    xm_err e;
    xm_err_clear(&e);
    XM_CHECK(xm_hash_file(path, &h, &e) == 0 && h == xm_xxh64(buf, sizeof buf, 0));
    unlink(path);
    XM_CHECK(xm_hash_file(path, &h, &e) == XM_ENOINPUT && strstr(e.msg, path));
    return xm_test_finish();
}
