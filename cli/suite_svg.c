/* suite_svg.c - a small SVG writer for the suite's plots: grouped bar charts
 * and scatter plots with axes, ticks, a legend and escaped labels. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/suite.h"

/* Canvas and plot area, in SVG user units (pixels). */
enum { WIDTH = 720, HEIGHT = 420, LEFT = 70, RIGHT = 170, TOP = 40, BOTTOM = 110 };

static const char *const palette[] = {"#4477aa", "#ee6677", "#228833", "#ccbb44",
                                      "#66ccee", "#aa3377", "#bbbbbb"};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))

/* Appends text with the five XML special characters escaped. */
static void put_escaped(sdq_buf *b, const char *text) {
  for (const char *p = text ? text : ""; *p; p++) {
    switch (*p) {
    case '&': sdq_buf_printf(b, "&amp;"); break;
    case '<': sdq_buf_printf(b, "&lt;"); break;
    case '>': sdq_buf_printf(b, "&gt;"); break;
    case '"': sdq_buf_printf(b, "&quot;"); break;
    case '\'': sdq_buf_printf(b, "&apos;"); break;
    default: sdq_buf_printf(b, "%c", *p);
    }
  }
}

/* Picks a "nice" tick step (1, 2 or 5 times a power of ten) so that the
 * range spans about five ticks. */
static double nice_step(double range) {
  if (!(range > 0))
    return 1.0;
  double raw = range / 5.0;
  double p = pow(10.0, floor(log10(raw)));
  double m = raw / p;
  if (m < 1.5)
    return p;
  if (m < 3.5)
    return 2.0 * p;
  if (m < 7.5)
    return 5.0 * p;
  return 10.0 * p;
}

/* Extends [*lo, *hi] to whole tick steps; returns the step. */
static double nice_range(double *lo, double *hi) {
  if (!(*hi > *lo))
    *hi = *lo + 1.0;
  double step = nice_step(*hi - *lo);
  *lo = floor(*lo / step) * step;
  *hi = ceil(*hi / step) * step;
  return step;
}

static void open_svg(sdq_buf *b, const char *title) {
  sdq_buf_printf(b,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                 "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
                 WIDTH, HEIGHT, WIDTH, HEIGHT, (LEFT + WIDTH - RIGHT) / 2);
  put_escaped(b, title);
  sdq_buf_printf(b, "</text>\n");
}

/* Draws the y axis with grid lines and ticks over [lo, hi]. */
static void draw_y_axis(sdq_buf *b, double lo, double hi, double step, const char *label) {
  int plot_h = HEIGHT - TOP - BOTTOM;
  for (double v = lo; v <= hi + step * 1e-6; v += step) {
    double y = TOP + plot_h * (1.0 - (v - lo) / (hi - lo));
    sdq_buf_printf(b,
                   "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                   LEFT, y, WIDTH - RIGHT, y, LEFT - 6, y + 4, fabs(v) < step * 1e-6 ? 0.0 : v);
  }
  sdq_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", LEFT,
                 TOP, LEFT, HEIGHT - BOTTOM);
  sdq_buf_printf(b,
                 "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 16 %d)\">",
                 TOP + plot_h / 2, TOP + plot_h / 2);
  put_escaped(b, label);
  sdq_buf_printf(b, "</text>\n");
}

static void draw_legend(sdq_buf *b, const char *const *names, int n) {
  for (int s = 0; s < n; s++) {
    int y = TOP + 10 + 20 * s;
    sdq_buf_printf(b,
                   "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n"
                   "<text x=\"%d\" y=\"%d\">",
                   WIDTH - RIGHT + 14, y - 10, palette[s % N_PALETTE], WIDTH - RIGHT + 32, y);
    put_escaped(b, names[s]);
    sdq_buf_printf(b, "</text>\n");
  }
}

static int close_svg(sdq_buf *b) {
  sdq_buf_printf(b, "</svg>\n");
  return b->failed ? -1 : 0;
}

int sdq_svg_bar_chart(sdq_buf *b, const char *title, const char *y_label,
                      const sdq_svg_bar *bars, int n_bars,
                      const char *const *series_names, int n_series) {
  /* 1. The categories, in order of first appearance. */
  const char *cats[256];
  int n_cats = 0;
  for (int i = 0; i < n_bars; i++) {
    int found = 0;
    for (int c = 0; c < n_cats && !found; c++)
      found = !strcmp(cats[c], bars[i].category);
    if (!found && n_cats < 256)
      cats[n_cats++] = bars[i].category;
  }

  /* 2. The value range always contains 0, so bars start at the axis. */
  double lo = 0.0, hi = 0.0;
  for (int i = 0; i < n_bars; i++) {
    if (!isfinite(bars[i].value))
      continue;
    lo = fmin(lo, bars[i].value);
    hi = fmax(hi, bars[i].value);
  }
  hi += 0.05 * (hi - lo); /* headroom, so the tallest bar stays below the top */
  double step = nice_range(&lo, &hi);

  open_svg(b, title);
  draw_y_axis(b, lo, hi, step, y_label);

  /* 3. The bars: each category gets a slot, split among the series. */
  int plot_w = WIDTH - LEFT - RIGHT, plot_h = HEIGHT - TOP - BOTTOM;
  double slot = n_cats ? (double)plot_w / n_cats : plot_w;
  double bar_w = slot * 0.8 / (n_series > 0 ? n_series : 1);
  double y0 = TOP + plot_h * (1.0 - (0.0 - lo) / (hi - lo));
  for (int i = 0; i < n_bars; i++) {
    int c = 0;
    while (c < n_cats && strcmp(cats[c], bars[i].category))
      c++;
    if (c == n_cats || !isfinite(bars[i].value))
      continue;
    double x = LEFT + slot * c + slot * 0.1 + bar_w * bars[i].series;
    double y = TOP + plot_h * (1.0 - (bars[i].value - lo) / (hi - lo));
    sdq_buf_printf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                   "<title>",
                   x, fmin(y, y0), bar_w, fabs(y0 - y), palette[bars[i].series % N_PALETTE]);
    put_escaped(b, bars[i].category);
    sdq_buf_printf(b, ": %.2f</title></rect>\n", bars[i].value);
  }
  sdq_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n",
                 LEFT, y0, WIDTH - RIGHT, y0);

  /* 4. Category labels, rotated so long configuration names fit. */
  for (int c = 0; c < n_cats; c++) {
    double x = LEFT + slot * (c + 0.5);
    int y = HEIGHT - BOTTOM + 14;
    sdq_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" transform=\"rotate(-35 %.1f %d)\">",
                   x, y, x, y);
    put_escaped(b, cats[c]);
    sdq_buf_printf(b, "</text>\n");
  }

  if (n_series > 1)
    draw_legend(b, series_names, n_series);
  return close_svg(b);
}

int sdq_svg_scatter(sdq_buf *b, const char *title, const char *x_label,
                    const char *y_label, const sdq_svg_point *points,
                    int n_points, const char *const *series_names,
                    int n_series) {
  /* 1. Ranges over the finite points. */
  double xlo = INFINITY, xhi = -INFINITY, ylo = 0.0, yhi = -INFINITY;
  for (int i = 0; i < n_points; i++) {
    if (!isfinite(points[i].x) || !isfinite(points[i].y))
      continue;
    xlo = fmin(xlo, points[i].x);
    xhi = fmax(xhi, points[i].x);
    ylo = fmin(ylo, points[i].y);
    yhi = fmax(yhi, points[i].y);
  }
  if (!isfinite(xlo)) {
    xlo = 0.0;
    xhi = 1.0;
    yhi = 1.0;
  }
  xlo -= 0.5;
  xhi += 0.5;
  double ystep = nice_range(&ylo, &yhi);
  double xstep = nice_range(&xlo, &xhi);

  open_svg(b, title);
  draw_y_axis(b, ylo, yhi, ystep, y_label);

  /* 2. The x axis with ticks. */
  int plot_w = WIDTH - LEFT - RIGHT, plot_h = HEIGHT - TOP - BOTTOM;
  sdq_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", LEFT,
                 HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM);
  for (double v = xlo; v <= xhi + xstep * 1e-6; v += xstep) {
    double x = LEFT + plot_w * (v - xlo) / (xhi - xlo);
    sdq_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x,
                   HEIGHT - BOTTOM + 16, v);
  }
  sdq_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", LEFT + plot_w / 2,
                 HEIGHT - BOTTOM + 40);
  put_escaped(b, x_label);
  sdq_buf_printf(b, "</text>\n");

  /* 3. The points, each with a hover title and a small label. */
  for (int i = 0; i < n_points; i++) {
    if (!isfinite(points[i].x) || !isfinite(points[i].y))
      continue;
    double x = LEFT + plot_w * (points[i].x - xlo) / (xhi - xlo);
    double y = TOP + plot_h * (1.0 - (points[i].y - ylo) / (yhi - ylo));
    sdq_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" fill-opacity=\"0.8\"><title>",
                   x, y, palette[points[i].series % N_PALETTE]);
    put_escaped(b, points[i].label);
    sdq_buf_printf(b, " (%.2f, %.2f)</title></circle>\n", points[i].x, points[i].y);
    if (points[i].label) {
      sdq_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#555555\">", x + 6, y - 6);
      put_escaped(b, points[i].label);
      sdq_buf_printf(b, "</text>\n");
    }
  }

  if (n_series > 0)
    draw_legend(b, series_names, n_series);
  return close_svg(b);
}
