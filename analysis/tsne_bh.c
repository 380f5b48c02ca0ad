/* Barnes-Hut t-SNE gradient (van der Maaten 2014, JMLR 15, §4.2): attractive
 * forces over the sparse P, repulsive forces through a quadtree of the
 * embedding, a cell summarised by its centre of mass when side / distance <
 * theta (sklearn's _quad_tree rule; the paper uses the cell diagonal).
 *
 * The tree is built sequentially in point order; forces run in parallel over
 * points, each point's traversal in a fixed order, and the normaliser Z is
 * summed over points sequentially: the bits do not depend on the thread
 * count. A point's own leaf never counts the point itself (exact
 * self-exclusion, where bhtsne counts duplicates of it). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "tsne_impl.h"

/* Cells below this depth are not split: points closer than 2^-48 of the
 * root's side share a leaf (their mutual forces are then taken as zero). */
#define QT_MAX_DEPTH 48

typedef struct QtNode {
    double cx, cy, hw; /* cell centre and half side */
    double mx, my;     /* sum of the positions, then (after qt_build) the centre of mass */
    double px, py;     /* leaf: the position of its first point */
    int count;         /* points in the cell */
    int child;         /* first of the 4 children (quadrant order), -1 for a leaf */
} QtNode;

/* What the force pass reads of a node, packed (32 bytes; half of QtNode's
 * cache traffic). */
typedef struct QtHot {
    double mx, my; /* centre of mass */
    double side2;  /* squared side */
    int count, child;
} QtHot;

struct TsneBh {
    int n;
    QtNode *node;
    QtHot *hot; /* (cap) */
    int len, cap;
    double *rep; /* (n, 2) repulsive sums Σ w²·(y_i − y_j) */
    double *z;   /* (n) Σ_{j≠i} w_ij */
    double *s;   /* (n) Σ_j p_ij·log(p_ij / w_ij) over the entries of P */
    double *sp;  /* (n) Σ_j p_ij */
};

TsneBh *tsne_bh_new(int n) {
    TsneBh *b = n >= 1 && n <= INT_MAX / 8 ? calloc(1, sizeof *b) : NULL;
    if (!b) return NULL;
    b->n = n;
    b->cap = 4 * n + 4;
    b->node = malloc((size_t)b->cap * sizeof *b->node);
    b->hot = malloc((size_t)b->cap * sizeof *b->hot);
    b->rep = malloc(2 * (size_t)n * sizeof *b->rep);
    b->z = malloc((size_t)n * sizeof *b->z);
    b->s = malloc((size_t)n * sizeof *b->s);
    b->sp = malloc((size_t)n * sizeof *b->sp);
    if (!b->node || !b->hot || !b->rep || !b->z || !b->s || !b->sp) {
        tsne_bh_free(b);
        return NULL;
    }
    return b;
}

void tsne_bh_free(TsneBh *b) {
    if (!b) return;
    free(b->node);
    free(b->hot);
    free(b->rep);
    free(b->z);
    free(b->s);
    free(b->sp);
    free(b);
}

static int quadrant(const QtNode *N, double x, double y) { return (x >= N->cx) | (y >= N->cy) << 1; }

/* Append an empty leaf; its index, or -1 on out of memory. */
static int qt_push(TsneBh *b, double cx, double cy, double hw) {
    if (b->len == b->cap) {
        if (b->cap > INT_MAX / 2) return -1;
        int cap = b->cap * 2;
        QtNode *node = realloc(b->node, (size_t)cap * sizeof *node);
        if (node) b->node = node;
        QtHot *hot = node ? realloc(b->hot, (size_t)cap * sizeof *hot) : NULL;
        if (!hot) return -1;
        b->hot = hot;
        b->cap = cap;
    }
    b->node[b->len] = (QtNode){cx, cy, hw, 0, 0, 0, 0, 0, -1};
    return b->len++;
}

/* Split leaf k into 4 children and move its points into theirs. */
static int qt_split(TsneBh *b, int k) {
    double h = b->node[k].hw / 2;
    int first = b->len;
    for (int q = 0; q < 4; q++)
        if (qt_push(b, b->node[k].cx + (q & 1 ? h : -h), b->node[k].cy + (q & 2 ? h : -h), h) < 0) return -1;
    QtNode *N = &b->node[k], *C = &b->node[first + quadrant(N, N->px, N->py)];
    C->mx = N->mx, C->my = N->my, C->px = N->px, C->py = N->py, C->count = N->count;
    N->child = first;
    return 0;
}

static int qt_insert(TsneBh *b, double x, double y) {
    for (int k = 0, depth = 0;; depth++) {
        QtNode *N = &b->node[k];
        if (N->child < 0) {
            if (N->count == 0) {
                N->mx = N->px = x, N->my = N->py = y, N->count = 1;
                return 0;
            }
            if ((x == N->px && y == N->py) || depth >= QT_MAX_DEPTH) {
                N->mx += x, N->my += y, N->count++;
                return 0;
            }
            if (qt_split(b, k) < 0) return -1;
            N = &b->node[k];
        }
        N->mx += x, N->my += y, N->count++;
        k = N->child + quadrant(N, x, y);
    }
}

/* The quadtree of Y (n, 2): a square root cell around the points. */
static int qt_build(TsneBh *b, const double *Y, int n) {
    double x0 = Y[0], x1 = Y[0], y0 = Y[1], y1 = Y[1];
    for (int i = 1; i < n; i++) {
        x0 = fmin(x0, Y[2 * i]), x1 = fmax(x1, Y[2 * i]);
        y0 = fmin(y0, Y[2 * i + 1]), y1 = fmax(y1, Y[2 * i + 1]);
    }
    b->len = 0; /* the root's push cannot fail: cap >= 4 */
    qt_push(b, (x0 + x1) / 2, (y0 + y1) / 2, fmax(x1 - x0, y1 - y0) / 2 * (1 + 1e-9) + 1e-300);
    for (int i = 0; i < n; i++)
        if (qt_insert(b, Y[2 * i], Y[2 * i + 1]) < 0) return -1;
    for (int k = 0; k < b->len; k++) {
        QtNode *N = &b->node[k];
        if (N->count > 0) N->mx /= N->count, N->my /= N->count;
        b->hot[k] = (QtHot){N->mx, N->my, 4 * N->hw * N->hw, N->count, N->child};
    }
    return 0;
}

typedef struct Acc { double fx, fy, z; } Acc;

/* Repulsion on the point (x, y) from the cell k; `contains`: the point lies
 * in this cell (then its own leaf counts one point fewer, and the cell is
 * never summarised). theta2 = theta². */
static void qt_repulse(const TsneBh *b, int k, double x, double y, int contains, double theta2, Acc *a) {
    const QtHot *N = b->hot + k;
    int c = N->count - (N->child < 0 ? contains : 0);
    if (c == 0) return;
    double dx = x - N->mx, dy = y - N->my, d2 = dx * dx + dy * dy;
    if (N->child < 0 || (!contains && N->side2 < theta2 * d2)) {
        double w = 1.0 / (1.0 + d2);
        a->z += c * w;
        a->fx += c * w * w * dx;
        a->fy += c * w * w * dy;
        return;
    }
    int q = contains ? quadrant(b->node + k, x, y) : -1;
    for (int i = 0; i < 4; i++) qt_repulse(b, N->child + i, x, y, i == q, theta2, a);
}

/* Attraction on point i over row i of P: a = Σ_j p_ij·w_ij·(y_i − y_j); with
 * want_kl also b->s[i] and b->sp[i]. */
static void attract(const TsneSparseP *P, const double *Y, int i, int want_kl, double a[2], TsneBh *b) {
    double ax = 0, ay = 0, s = 0, sp = 0;
    for (int k = P->row[i]; k < P->row[i + 1]; k++) {
        int j = P->col[k];
        double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
        double w = 1.0 / (1.0 + dx * dx + dy * dy), p = P->val[k];
        ax += p * w * dx, ay += p * w * dy;
        if (want_kl && p > 0) s += p * log(p / w), sp += p;
    }
    a[0] = ax, a[1] = ay;
    b->s[i] = s, b->sp[i] = sp;
}

int tsne_bh_grad(TsneBh *b, const TsneSparseP *P, double alpha, double theta, const double *Y, double *dY,
                 double *kl) {
    int n = b->n;
    if (qt_build(b, Y, n) < 0) return -1;
#pragma omp parallel for schedule(dynamic, 64)
    for (int i = 0; i < n; i++) {
        Acc acc = {0, 0, 0};
        qt_repulse(b, 0, Y[2 * i], Y[2 * i + 1], 1, theta * theta, &acc);
        b->rep[2 * i] = acc.fx, b->rep[2 * i + 1] = acc.fy, b->z[i] = acc.z;
        double a[2];
        attract(P, Y, i, kl != NULL, a, b);
        dY[2 * i] = alpha * a[0], dY[2 * i + 1] = alpha * a[1];
    }
    double Z = 0, s = 0, sp = 0;
    for (int i = 0; i < n; i++) Z += b->z[i], s += b->s[i], sp += b->sp[i];
    for (int i = 0; i < 2 * n; i++) dY[i] -= b->rep[i] / Z;
    if (kl) *kl = s + sp * log(Z); /* Σ p·log(p / (w / Z)) */
    return 0;
}
