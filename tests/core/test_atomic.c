/* test_atomic.c: commit publishes, abort and signals leave no temp files,
 * existing outputs are refused without force. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xm_atomic.h"
#include "xm_test.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(void)
{
    char dir[] = "/tmp/xm_test_atomic_XXXXXX";
    XM_CHECK(mkdtemp(dir) != NULL);
    char out[512];
    snprintf(out, sizeof out, "%s/out.bin", dir);
    xm_err e;
    xm_err_clear(&e);

    xm_atomic a;
    XM_CHECK(xm_atomic_open(&a, out, 0, &e) == 0);
    XM_CHECK(xm_atomic_registered() == 1);
    fputs("hello", xm_atomic_file(&a));
    XM_CHECK(access(out, F_OK) != 0); /* not visible before commit */
    XM_CHECK(xm_atomic_commit(&a, &e) == 0);
    XM_CHECK(strcmp(slurp(out), "hello") == 0);
    XM_CHECK(count_entries(dir) == 1 && xm_atomic_registered() == 0);

    /* Existing output refused without force, kept intact. */
    xm_err_clear(&e);
    XM_CHECK(xm_atomic_open(&a, out, 0, &e) == XM_ECANTCREAT && strstr(e.msg, "exists"));
    XM_CHECK(strcmp(slurp(out), "hello") == 0 && count_entries(dir) == 1);
    xm_err_clear(&e);

    /* Abort leaves the old file and no temp. */
    XM_CHECK(xm_atomic_open(&a, out, XM_ATOMIC_FORCE, &e) == 0);
    fputs("broken", xm_atomic_file(&a));
    xm_atomic_abort(&a);
    XM_CHECK(strcmp(slurp(out), "hello") == 0 && count_entries(dir) == 1);

    /* Path-based writers (HDF5 style). */
    XM_CHECK(xm_atomic_open(&a, out, XM_ATOMIC_FORCE, &e) == 0);
    xm_atomic_close_fd(&a);
    FILE *f = fopen(a.tmp, "wb");
    fputs("bypath", f);
    fclose(f);
    XM_CHECK(xm_atomic_commit(&a, &e) == 0 && strcmp(slurp(out), "bypath") == 0);

    /* Missing directory. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/nodir/x", dir);
    xm_err_clear(&e);
    XM_CHECK(xm_atomic_open(&a, bad, 0, &e) == XM_ECANTCREAT);

    /* SIGTERM while writing: temp removed, exit 143. */
    char out2[512];
    snprintf(out2, sizeof out2, "%s/sig.bin", dir);
    int pipefd[2];
    XM_CHECK(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        xm_atomic_install_signals();
        xm_atomic b;
        if (xm_atomic_open(&b, out2, 0, NULL) != 0) _exit(3);
        (void)!write(pipefd[1], "x", 1);
        for (;;) pause();
    }
    char c;
    XM_CHECK(read(pipefd[0], &c, 1) == 1);
    XM_CHECK(count_entries(dir) == 2); /* out.bin + the temp */
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    XM_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 143, "status %d", st);
    XM_CHECK(count_entries(dir) == 1 && access(out2, F_OK) != 0);

    /* Messages name the final output, not its temporary file. */
    static const char *const names[][2] = {
        {"d/.out.h5.tmp.123", "d/out.h5"},     {".x.tmp.9", "x"},
        {"/a/b/.c.tmp.h5.tmp.77", "/a/b/c.tmp.h5"}, {"d/out.h5", "d/out.h5"},
        {"d/.out.h5.tmp.", "d/.out.h5.tmp."}, {"d/.out.h5.tmp.12x", "d/.out.h5.tmp.12x"},
        {"d/..tmp.5", "d/..tmp.5"},           {".hidden", ".hidden"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char shown[64];
        xm_atomic_display_name(names[i][0], shown, sizeof shown);
        XM_CHECKF(strcmp(shown, names[i][1]) == 0, "%s -> %s", names[i][0], shown);
    }

    unlink(out);
    rmdir(dir);
    return xm_test_finish();
}
