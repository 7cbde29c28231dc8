/* xm_pack_src.c: listing xm-pack's inputs (see xm_pack.h). ImageFolder
 * order follows torchvision: classes = sorted subdirectory names; files =
 * for each class, sorted(os.walk(class_dir)) roots, then sorted file names. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "xm_idx.h"
#include "xm_pack.h"
#include "xm_parse.h"

enum { KIND_FOLDER = 1, KIND_LIST = 2, KIND_IDX = 3 };
static const char *KIND_NAME[] = {"", "ImageFolder directory", "list file", "IDX file"};

#define OOM(err) xm_err_set((err), XM_EFAIL, "out of memory")

int xm_pack_is_image_name(const char *name)
{
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
    size_t n = strlen(name);
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        size_t e = strlen(ext[k]);
        if (n >= e && strcasecmp(name + n - e, ext[k]) == 0) return 1;
    }
    return 0;
}

void xm_pack_src_init(xm_pack_src *s) { memset(s, 0, sizeof *s); }

void xm_pack_src_release(xm_pack_src *s)
{
    for (int64_t i = 0; i < s->n; i++) {
        free(s->items[i].path);
        free(s->items[i].label_str);
    }
    free(s->items);
    for (int k = 0; k < s->nclasses; k++) free(s->classes[k]);
    free(s->classes);
    for (int k = 0; k < s->nidx; k++) {
        free(s->idx[k].images_path);
        free(s->idx[k].px);
        free(s->idx[k].labels);
    }
    free(s->idx);
    for (int k = 0; k < s->nwarnings; k++) free(s->warnings[k]);
    free(s->warnings);
    memset(s, 0, sizeof *s);
}

static int push_item(xm_pack_src *s, char *path, int32_t label, char *label_str, int idx, int64_t idx_i,
                     xm_err *err)
{
    if (s->n == s->cap) {
        int64_t nc = s->cap ? s->cap * 2 : 1024;
        xm_pack_item *p = realloc(s->items, (size_t)nc * sizeof *p);
        if (!p) {
            free(path);
            free(label_str);
            return OOM(err);
        }
        s->items = p;
        s->cap = nc;
    }
    s->items[s->n++] = (xm_pack_item){path, label, label_str, idx, idx_i};
    return 0;
}

/* Append a copy of str. The array grows to the next power of two (at least
 * 16), so n pushes cost O(n), not O(n^2) copies: a list file whose one label
 * is 1000000 makes a million classes. Arrays start as NULL, 0. */
static int push_str(char ***v, int *n, const char *str)
{
    if (*n == 0 || (*n >= 16 && (*n & (*n - 1)) == 0)) {
        char **p = realloc(*v, (size_t)(*n ? 2 * *n : 16) * sizeof *p);
        if (!p) return -1;
        *v = p;
    }
    char **p = *v;
    if (!(p[*n] = strdup(str))) return -1;
    (*n)++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t o = la;
    if (la && a[la - 1] != '/') p[o++] = '/';
    memcpy(p + o, b, lb + 1);
    return p;
}

/* Sorted names in dir; dirs_only selects subdirectories (following
 * symlinks), else regular image files. */
static int list_dir(const char *dir, int dirs_only, char ***out, int *n, xm_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return xm_err_errno(err, errno == ENOENT ? XM_ENOINPUT : XM_EIO, errno, "%s", dir);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *full = join(dir, de->d_name);
        if (!full) {
            rc = OOM(err);
            break;
        }
        struct stat st;
        int isdir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        free(full);
        if (dirs_only ? !isdir : (isdir || !xm_pack_is_image_name(de->d_name))) continue;
        if (push_str(out, n, de->d_name)) {
            rc = OOM(err);
            break;
        }
    }
    closedir(d);
    if (!rc && *n) qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return rc;
}

static void free_strs(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* All directories under root (root included), as os.walk visits them. */
static int walk_dirs(const char *root, int depth, char ***v, int *n, xm_err *err)
{
    if (depth > 64) return xm_err_set(err, XM_EDATA, "%s: directories nested too deep (a symlink loop?)", root);
    if (push_str(v, n, root)) return OOM(err);
    char **sub;
    int ns;
    int rc = list_dir(root, 1, &sub, &ns, err);
    for (int i = 0; !rc && i < ns; i++) {
        char *p = join(root, sub[i]);
        if (!p) rc = OOM(err);
        else rc = walk_dirs(p, depth + 1, v, n, err);
        free(p);
    }
    free_strs(sub, ns);
    return rc;
}

static int set_kind(xm_pack_src *s, int kind, const char *input, xm_err *err)
{
    if (s->kind && s->kind != kind)
        return xm_err_set(err, XM_EUSAGE, "%s: cannot mix a %s with a %s in one run", input, KIND_NAME[kind],
                          KIND_NAME[s->kind]);
    s->kind = kind;
    return 0;
}

int xm_pack_src_add_folder(xm_pack_src *s, const char *dir, xm_err *err)
{
    int rc = set_kind(s, KIND_FOLDER, dir, err);
    if (rc) return rc;
    char **cls;
    int nc;
    if ((rc = list_dir(dir, 1, &cls, &nc, err))) return rc;
    if (nc == 0) {
        free_strs(cls, nc);
        return xm_err_set(err, XM_EDATA, "%s: no class subdirectories (not an ImageFolder)", dir);
    }
    /* Class labels are resolved in finish (several folders: union). */
    for (int k = 0; !rc && k < nc; k++) {
        char *cdir = join(dir, cls[k]);
        char **dirs = NULL;
        int nd = 0;
        if (!cdir) rc = OOM(err);
        else rc = walk_dirs(cdir, 0, &dirs, &nd, err);
        if (!rc) qsort(dirs, (size_t)nd, sizeof *dirs, cmp_str);
        int64_t before = s->n;
        for (int j = 0; !rc && j < nd; j++) {
            char **files;
            int nf;
            if ((rc = list_dir(dirs[j], 0, &files, &nf, err))) break;
            for (int f = 0; !rc && f < nf; f++) {
                char *p = join(dirs[j], files[f]), *l = strdup(cls[k]);
                if (!p || !l) {
                    free(p);
                    free(l);
                    rc = OOM(err);
                } else {
                    rc = push_item(s, p, -1, l, -1, 0, err);
                }
            }
            free_strs(files, nf);
        }
        if (!rc && s->n == before) {
            char msg[4200];
            snprintf(msg, sizeof msg, "%s: class '%s' has no images", cdir, cls[k]);
            if (push_str(&s->warnings, &s->nwarnings, msg)) rc = OOM(err);
        }
        /* Keep empty classes in the table: class indices must not depend on
         * which classes happen to have images. */
        if (!rc && s->n == before && push_item(s, NULL, -1, strdup(cls[k]), -2, 0, err)) rc = XM_EFAIL;
        free_strs(dirs, nd);
        free(cdir);
    }
    free_strs(cls, nc);
    return rc;
}

static char *dirname_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    if (!sl) return strdup("");
    size_t n = (size_t)(sl - path) + 1;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* A named input must be a regular file: opening a FIFO would block. */
static int regular_file(const char *path, xm_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return xm_err_errno(err, errno == ENOENT || errno == EACCES ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
    if (!S_ISREG(st.st_mode)) return xm_err_set(err, XM_ENOINPUT, "%s: not a regular file", path);
    return 0;
}

int xm_pack_src_add_list(xm_pack_src *s, const char *path, xm_err *err)
{
    int rc = set_kind(s, KIND_LIST, path, err);
    if (rc) return rc;
    int is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && (rc = regular_file(path, err))) return rc;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f) return xm_err_errno(err, errno == ENOENT ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
    const char *shown = is_stdin ? "(stdin)" : path;
    char *base = is_stdin ? strdup("") : dirname_of(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        if (strlen(line) != (size_t)len) {
            rc = xm_err_set(err, XM_EDATA, "%s:%ld: NUL byte in the line", shown, lineno);
            break;
        }
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || !tab[1] || strchr(tab + 1, '\t')) {
            rc = xm_err_set(err, XM_EDATA, "%s:%ld: expected 'path<TAB>label'", shown, lineno);
            break;
        }
        *tab = '\0';
        char *p = line[0] == '/' ? strdup(line) : join(base, line);
        char *l = strdup(tab + 1);
        if (!p || !l) {
            free(p);
            free(l);
            rc = OOM(err);
        } else {
            rc = push_item(s, p, -1, l, -1, lineno, err);
        }
    }
    if (!rc && ferror(f)) rc = xm_err_errno(err, XM_EIO, errno, "%s", shown);
    free(line);
    free(base);
    if (!is_stdin) fclose(f);
    return rc;
}

int xm_pack_src_add_idx(xm_pack_src *s, const char *images, const char *labels, xm_err *err)
{
    int rc = set_kind(s, KIND_IDX, images, err);
    if (rc) return rc;
    xm_idx im, lb;
    const int64_t max = (int64_t)8 << 30;
    if ((rc = xm_idx_read(images, max, &im, err))) return rc;
    if ((rc = xm_idx_read(labels, max, &lb, err))) {
        xm_idx_release(&im);
        return rc;
    }
    if (im.ndim != 3 || im.dims[1] > 65535 || im.dims[2] > 65535)
        rc = xm_err_set(err, XM_EDATA, "%s: IDX images must be N x H x W (got %d dimensions)", images, im.ndim);
    else if (lb.ndim != 1 || lb.dims[0] != im.dims[0])
        rc = xm_err_set(err, XM_EDATA, "%s: %lld labels for %lld images in %s", labels,
                        (long long)lb.dims[0], (long long)im.dims[0], images);
    else if (im.dims[0] > INT32_MAX)
        rc = xm_err_set(err, XM_EDATA, "%s: too many images", images);
    xm_pack_idx *nv = rc ? NULL : realloc(s->idx, (size_t)(s->nidx + 1) * sizeof *nv);
    if (!rc && !nv) rc = OOM(err);
    if (rc) {
        xm_idx_release(&im);
        xm_idx_release(&lb);
        return rc;
    }
    s->idx = nv;
    xm_pack_idx *x = &s->idx[s->nidx];
    x->images_path = strdup(images);
    x->n = (int)im.dims[0];
    x->h = (int)im.dims[1];
    x->w = (int)im.dims[2];
    x->px = im.data;
    x->labels = lb.data;
    im.data = lb.data = NULL;
    xm_idx_release(&im);
    xm_idx_release(&lb);
    if (!x->images_path) return OOM(err);
    int k = s->nidx++;
    struct stat st;
    if (stat(images, &st) == 0) s->idx_bytes_in += (uint64_t)st.st_size;
    if (stat(labels, &st) == 0) s->idx_bytes_in += (uint64_t)st.st_size;
    for (int i = 0; i < x->n; i++) {
        char *p = strdup(images);
        if (!p) return OOM(err);
        if ((rc = push_item(s, p, x->labels[i], NULL, k, i, err))) return rc;
    }
    return 0;
}

/* Read the first bytes through zlib (gzip'd or raw). */
static int peek(const char *path, uint8_t *b, int n)
{
    gzFile g = gzopen(path, "rb");
    if (!g) return -1;
    int r = gzread(g, b, (unsigned)n);
    gzclose(g);
    return r;
}

int xm_pack_src_add(xm_pack_src *s, const char *input, const char *idx_labels, xm_err *err)
{
    if (strcmp(input, "-") == 0) return xm_pack_src_add_list(s, input, err);
    struct stat st;
    if (stat(input, &st) != 0) return xm_err_errno(err, XM_ENOINPUT, errno, "%s", input);
    if (S_ISDIR(st.st_mode)) return xm_pack_src_add_folder(s, input, err);
    if (!S_ISREG(st.st_mode)) return xm_err_set(err, XM_ENOINPUT, "%s: not a regular file", input);
    uint8_t b[8] = {0};
    int r = peek(input, b, 8);
    if (r < 0) return xm_err_errno(err, XM_ENOINPUT, errno, "%s", input);
    if (r >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 8 && b[3] == 3) {
        if (idx_labels) return xm_pack_src_add_idx(s, input, idx_labels, err);
        const char *pos = strstr(input, "images-idx3");
        if (!pos)
            return xm_err_set(err, XM_EUSAGE, "%s: IDX images without a labels file (give --idx-labels)", input);
        char *lab = strdup(input);
        if (!lab) return OOM(err);
        memcpy(lab + (pos - input), "labels-idx1", 11);
        int rc = xm_pack_src_add_idx(s, input, lab, err);
        free(lab);
        return rc;
    }
    if (r >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 8 && b[3] == 1)
        return xm_err_set(err, XM_EUSAGE, "%s: an IDX labels file; give the images file", input);
    if ((r >= 3 && b[0] == 0xFF && b[1] == 0xD8) || (r >= 8 && memcmp(b, "\x89PNG", 4) == 0))
        return xm_err_set(err, XM_EUSAGE, "%s: an image, not an input; give a directory or a list file", input);
    return xm_pack_src_add_list(s, input, err);
}

static int read_classes(const char *path, char ***out, int *n, xm_err *err)
{
    int rc0 = regular_file(path, err);
    if (rc0) return rc0;
    FILE *f = fopen(path, "r");
    if (!f) return xm_err_errno(err, errno == ENOENT ? XM_ENOINPUT : XM_EIO, errno, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    long lineno = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) {
            rc = xm_err_set(err, XM_EDATA, "%s:%ld: empty class name", path, lineno);
            break;
        }
        for (int k = 0; k < *n; k++)
            if (!strcmp((*out)[k], line)) rc = xm_err_set(err, XM_EDATA, "%s:%ld: duplicate class '%s'", path, lineno, line);
        if (!rc && push_str(out, n, line)) rc = OOM(err);
    }
    free(line);
    fclose(f);
    if (!rc && *n == 0) rc = xm_err_set(err, XM_EDATA, "%s: no class names", path);
    return rc;
}

static int find_class(char **v, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(v[k], name)) return k;
    return -1;
}

static const char *item_where(const xm_pack_item *it, char *buf, size_t n)
{
    if (it->idx >= 0) snprintf(buf, n, "%s#%lld", it->path, (long long)it->idx_i);
    else snprintf(buf, n, "%s", it->path ? it->path : "(class)");
    return buf;
}

int xm_pack_src_finish(xm_pack_src *s, const char *classes_file, xm_err *err)
{
    int rc = 0;
    char where[4200];
    if (classes_file && (rc = read_classes(classes_file, &s->classes, &s->nclasses, err))) return rc;
    if (!classes_file) {
        if (s->kind == KIND_FOLDER) {
            for (int64_t i = 0; i < s->n; i++)
                if (find_class(s->classes, s->nclasses, s->items[i].label_str) < 0 &&
                    push_str(&s->classes, &s->nclasses, s->items[i].label_str))
                    return OOM(err);
            if (s->nclasses) qsort(s->classes, (size_t)s->nclasses, sizeof *s->classes, cmp_str);
        } else {
            /* Integer labels -> "0".."max"; names -> sorted distinct names. */
            int all_int = 1;
            int64_t maxl = -1;
            for (int64_t i = 0; i < s->n; i++) {
                int64_t v = s->items[i].label;
                if (s->items[i].label_str) {
                    xm_err tmp;
                    xm_err_clear(&tmp);
                    if (xm_parse_i64_range(s->items[i].label_str, 0, 1000000, &v, &tmp)) all_int = 0;
                }
                if (v > maxl) maxl = v;
            }
            if (all_int) {
                for (int64_t k = 0; k <= maxl; k++) {
                    char nm[32];
                    snprintf(nm, sizeof nm, "%lld", (long long)k);
                    if (push_str(&s->classes, &s->nclasses, nm)) return OOM(err);
                }
            } else {
                for (int64_t i = 0; i < s->n; i++)
                    if (find_class(s->classes, s->nclasses, s->items[i].label_str) < 0 &&
                        push_str(&s->classes, &s->nclasses, s->items[i].label_str))
                        return OOM(err);
                qsort(s->classes, (size_t)s->nclasses, sizeof *s->classes, cmp_str);
            }
        }
    }
    /* Resolve labels and drop the empty-class placeholders. */
    int64_t o = 0;
    for (int64_t i = 0; i < s->n; i++) {
        xm_pack_item *it = &s->items[i];
        if (it->label_str) {
            int k = find_class(s->classes, s->nclasses, it->label_str);
            int64_t v;
            xm_err tmp;
            xm_err_clear(&tmp);
            if (k < 0 && s->kind == KIND_LIST && xm_parse_i64(it->label_str, &v, &tmp) == 0) {
                if (v < 0 || v >= s->nclasses)
                    return xm_err_set(err, XM_EDATA, "%s: label %lld out of range (%d classes)",
                                      item_where(it, where, sizeof where), (long long)v, s->nclasses);
                k = (int)v;
            }
            if (k < 0)
                return xm_err_set(err, XM_EDATA, "%s: unknown class '%s'", item_where(it, where, sizeof where),
                                  it->label_str);
            it->label = k;
            free(it->label_str);
            it->label_str = NULL;
        } else if (it->label < 0 || it->label >= s->nclasses) {
            return xm_err_set(err, XM_EDATA, "%s: label %d out of range (%d classes)",
                              item_where(it, where, sizeof where), (int)it->label, s->nclasses);
        }
        if (it->idx == -2) {
            free(it->path);
            continue;
        }
        s->items[o++] = *it;
    }
    s->n = o;
    return 0;
}
