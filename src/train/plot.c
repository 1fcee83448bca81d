/* plot.c - training loss curves as SVG (see plot.h): read the JSONL log, choose "nice"
 * axis ticks, draw polylines, axes and a legend into a string, write it atomically. */
#include "train/plot.h"

#include <jansson.h>
#include <stdbool.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/fileio.h"

#define W 820.0
#define H 500.0
#define ML 78.0 /* margins: left, right, top, bottom */
#define MR 24.0
#define MT 48.0
#define MB 62.0

typedef struct {
    double *x, *y;
    int n, cap;
} series;

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) ATTN_PRINTF(2, 3);
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) b->oom = true;
        else b->s = s, b->cap = cap;
    }
}

/* Adds (x, y); an x at or before the last one first drops the points from x on. */
static int add_point(series *s, double x, double y) {
    while (s->n > 0 && s->x[s->n - 1] >= x) s->n--;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx) s->x = nx;
        double *ny = nx ? realloc(s->y, (size_t)cap * sizeof *ny) : NULL;
        if (!nx || !ny) return attn_error("out of memory reading the log");
        s->y = ny, s->cap = cap;
    }
    s->x[s->n] = x, s->y[s->n] = y, s->n++;
    return 0;
}

/* A point the plot can place: a finite step and a loss within any sane range (a loss of
 * 1e308 would stretch the axis past what a float can map). */
static bool plottable(const json_t *step, const json_t *loss) {
    double x = json_number_value(step), y = json_number_value(loss);
    return json_is_number(step) && json_is_number(loss) && fabs(x) <= 1e15 && fabs(y) <= 1e6;
}

/* A log line's points; true when it had a loss of either kind that could not be drawn (or was
 * no JSON object at all, a line cut short by a crash). */
static bool read_line_points(const char *line, series *train, series *val, int *rc) {
    json_t *j = json_loads(line, 0, NULL);
    json_t *step = json_object_get(j, "step"), *loss = json_object_get(j, "loss"), *vl = json_object_get(j, "val_loss");
    bool bad = !json_is_object(j);
    if (loss) {
        if (plottable(step, loss)) *rc = add_point(train, json_number_value(step), json_number_value(loss));
        else bad = true;
    }
    if (vl && *rc == 0) {
        if (plottable(step, vl)) *rc = add_point(val, json_number_value(step), json_number_value(vl));
        else bad = true;
    }
    json_decref(j);
    return bad;
}

static int read_log(const char *path, series *train, series *val, int *skipped) {
    FILE *f = fopen(path, "r");
    if (!f) return attn_error("%s: cannot open the log", path);
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0)
        if (line[strspn(line, " \t\r\n")]) *skipped += read_line_points(line, train, val, &rc);
    free(line);
    fclose(f);
    if (rc == 0 && train->n + val->n == 0) rc = attn_error("%s: no \"loss\" or \"val_loss\" entries to plot", path);
    return rc;
}

/* A tick spacing of 1, 2 or 5 times a power of ten giving about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct {
    double x0, x1, y0, y1;
} range;

static double px(const range *r, double x) { return ML + (x - r->x0) / (r->x1 - r->x0) * (W - ML - MR); }
static double py(const range *r, double y) { return H - MB - (y - r->y0) / (r->y1 - r->y0) * (H - MT - MB); }

static void find_range(const series *a, const series *b, range *r) {
    r->x0 = r->y0 = INFINITY, r->x1 = r->y1 = -INFINITY;
    const series *ss[] = {a, b};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ss[k]->n; i++) {
            r->x0 = fmin(r->x0, ss[k]->x[i]), r->x1 = fmax(r->x1, ss[k]->x[i]);
            r->y0 = fmin(r->y0, ss[k]->y[i]), r->y1 = fmax(r->y1, ss[k]->y[i]);
        }
    if (r->x1 - r->x0 < 1) r->x1 = r->x0 + 1;
    double pad = fmax((r->y1 - r->y0) * 0.05, 0.05);
    r->y0 -= pad, r->y1 += pad;
    double sy = nice_step(r->y1 - r->y0, 6); /* axis ends on ticks */
    r->y0 = floor(r->y0 / sy) * sy, r->y1 = ceil(r->y1 / sy) * sy;
    if (r->x0 > 0 && r->x0 < (r->x1 - r->x0) * 0.2) r->x0 = 0;
}

static void draw_axes(sbuf *b, const range *r) {
    double sx = nice_step(r->x1 - r->x0, 8), sy = nice_step(r->y1 - r->y0, 6);
    put(b, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#333\">\n");
    for (double x = ceil(r->x0 / sx) * sx; x <= r->x1 + 1e-9 * sx; x += sx) {
        put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", px(r, x), MT, px(r, x),
            H - MB);
        put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(r, x), H - MB + 18, x);
    }
    for (double y = r->y0; y <= r->y1 + 1e-9 * sy; y += sy) {
        put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", ML, py(r, y), W - MR,
            py(r, y));
        put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", ML - 8, py(r, y) + 4, y);
    }
    put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", ML, MT,
        W - ML - MR, H - MT - MB);
    put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\">step</text>\n", (ML + W - MR) / 2,
        H - 18);
    put(b, "<text transform=\"translate(20,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">loss "
           "(nats/token)</text>\n</g>\n", (MT + H - MB) / 2);
}

static void draw_series(sbuf *b, const range *r, const series *s, const char *color, bool dots) {
    if (s->n == 0) return;
    put(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
    for (int i = 0; i < s->n; i++) put(b, "%.1f,%.1f ", px(r, s->x[i]), py(r, s->y[i]));
    put(b, "\"/>\n");
    for (int i = 0; dots && i < s->n; i++)
        put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(r, s->x[i]), py(r, s->y[i]), color);
}

static void draw_legend(sbuf *b, const series *train, const series *val) {
    const char *names[] = {"train loss", "val loss"}, *colors[] = {"#1f77b4", "#ff7f0e"};
    int n[] = {train->n, val->n}, row = 0;
    double x = W - MR - 150, y = MT + 12;
    put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"140\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n", x, y,
        (train->n > 0) * 20 + (val->n > 0) * 20 + 8);
    for (int k = 0; k < 2; k++) {
        if (!n[k]) continue;
        double ly = y + 18 + 20 * row++;
        put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n", x + 10,
            ly - 4, x + 40, ly - 4, colors[k]);
        put(b, "<text x=\"%.1f\" y=\"%.1f\" font-family=\"sans-serif\" font-size=\"13\">%s</text>\n", x + 48, ly,
            names[k]);
    }
}

/* Text for an XML element: markup escaped, and what XML cannot hold (bytes that are no UTF-8,
 * control characters) as U+FFFD, so the file stays well-formed whatever the title holds. */
static void put_escaped(sbuf *b, const char *s) {
    for (size_t i = 0, len = strlen(s), n; i < len; i += n) {
        unsigned char c = (unsigned char)s[i];
        n = attn_utf8_char(s + i, len - i);
        if (n == 0 || (c < 0x20 && c != '\t')) put(b, "\xEF\xBF\xBD"), n = 1;
        else if (c == '<') put(b, "&lt;");
        else if (c == '>') put(b, "&gt;");
        else if (c == '&') put(b, "&amp;");
        else put(b, "%.*s", (int)n, s + i);
    }
}

int attn_plot_losses(const char *log_path, const char *svg_path, const char *title, int *n_train, int *n_val,
                     int *n_skipped) {
    series train = {0}, val = {0};
    sbuf b = {0};
    int skipped = 0, rc = attn_output_not_input(svg_path, log_path); /* the plot would replace the log */
    if (rc == 0) rc = read_log(log_path, &train, &val, &skipped);
    if (rc == 0) {
        range r;
        find_range(&train, &val, &r);
        put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            W, H, W, H);
        put(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
        put(&b, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"16\">",
            (ML + W - MR) / 2);
        put_escaped(&b, title ? title : log_path);
        put(&b, "</text>\n");
        draw_axes(&b, &r);
        draw_series(&b, &r, &train, "#1f77b4", false);
        draw_series(&b, &r, &val, "#ff7f0e", true);
        draw_legend(&b, &train, &val);
        put(&b, "</svg>\n");
        rc = b.oom ? attn_error("out of memory drawing the plot") : attn_write_file_atomic(svg_path, b.s, b.n);
    }
    if (n_skipped) *n_skipped = skipped;
    if (n_train) *n_train = train.n;
    if (n_val) *n_val = val.n;
    free(b.s), free(train.x), free(train.y), free(val.x), free(val.y);
    return rc;
}
