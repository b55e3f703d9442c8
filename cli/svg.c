/* A horizontal bar chart of GB per CPU-second, grouped by pair, with the
 * GB/s printed next to each bar.  Plain SVG 1.1, no script, no font
 * files: it renders the same in a browser and on a forge's README. */
#include "bench.h"
#include "cli.h"

#include <string.h>

#define W 960
#define LABEL_W 230
#define BAR_MAX 520
#define ROW 18
#define HEAD 26

static const char *colour(const struct result *x) {
  if (x->c->kind == KIND_BARE)
    return "#9e9e9e";
  if (x->c->kind == KIND_PEER)
    return strncmp(x->c->name, "splicer", 7) == 0 ? "#1565c0" : "#ef6c00";
  return "#42a5f5";
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else fputc(*s, f);
  }
}

int report_svg(const char *path, const struct bench_env *env,
               const struct result *r, size_t n) {
  double max = 0;
  int rows = 0, groups = 0, last = -1;
  for (size_t i = 0; i < n; i++) {
    if (!r[i].applies)
      continue;
    rows++;
    if (r[i].pair != last)
      groups++, last = r[i].pair;
    if (r[i].ok && r[i].gb_per_cpu > max)
      max = r[i].gb_per_cpu;
  }
  if (max <= 0)
    max = 1;
  int h = 70 + rows * ROW + groups * HEAD + 30;
  FILE *f = fopen(path, "we");
  if (!f)
    return -1;
  char hs[32];
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
          "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">splicer "
          "bench: GB per CPU-second (longer is better), %s per run, %s</text>\n"
          "<text x=\"10\" y=\"42\" fill=\"#555\">light blue: splicer in-process; "
          "dark blue: splicer command; grey: bare syscall loop; orange: other "
          "programs. Right: GB/CPU-s and GB/s.</text>\n",
          W, h, W, h, cli_human(env->size, hs, sizeof hs), env->fs_name);
  int y = 60;
  last = -1;
  for (size_t i = 0; i < n; i++) {
    const struct result *x = &r[i];
    if (!x->applies)
      continue;
    if (x->pair != last) {
      last = x->pair;
      y += HEAD;
      fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">", y - 6);
      xml_text(f, bench_pairs[x->pair].label);
      fprintf(f, "</text>\n<line x1=\"10\" x2=\"%d\" y1=\"%d\" y2=\"%d\" "
                 "stroke=\"#ddd\"/>\n", W - 10, y - 2, y - 2);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_W - 8,
            y + 13);
    xml_text(f, x->c->name);
    fprintf(f, "</text>\n");
    if (x->ok) {
      int bw = (int)(x->gb_per_cpu / max * BAR_MAX + 0.5);
      fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                 "fill=\"%s\"/>\n", LABEL_W, y + 2, bw > 1 ? bw : 1, ROW - 4,
              colour(x));
      fprintf(f, "<text x=\"%d\" y=\"%d\">%.2f GB/CPU-s · %.2f GB/s</text>\n",
              LABEL_W + bw + 6, y + 13, x->gb_per_cpu, x->gbps);
    } else {
      fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#c62828\">failed: ", LABEL_W,
              y + 13);
      xml_text(f, x->error);
      fprintf(f, "</text>\n");
    }
    y += ROW;
  }
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : -1;
}
