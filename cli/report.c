/* The bench results as JSON, for scripts (bench/run builds RESULTS.md
 * from it). */
#include "bench.h"
#include "cli.h"

#include <sys/utsname.h>
#include <unistd.h>

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static const char *kind_name(int kind) {
  return kind == KIND_SPLICER ? "splicer" : kind == KIND_BARE ? "bare" : "peer";
}

int report_json(const char *path, const struct bench_env *env,
                const struct result *r, size_t n, int repeat) {
  FILE *f = fopen(path, "we");
  if (!f)
    return -1;
  struct utsname u;
  uname(&u);
  fprintf(f, "{\n  \"version\": ");
  json_str(f, splicer_version_string());
  fprintf(f, ",\n  \"size\": %llu,\n  \"repeat\": %d,\n  \"cpus\": %ld,\n",
          (unsigned long long)env->size, repeat, sysconf(_SC_NPROCESSORS_ONLN));
  fprintf(f, "  \"kernel\": ");
  json_str(f, u.release);
  fprintf(f, ",\n  \"dir\": ");
  json_str(f, env->dir);
  fprintf(f, ",\n  \"fs\": ");
  json_str(f, env->fs_name);
  fprintf(f, ",\n  \"cpu_accounting\": \"user+sys of the whole bench process "
             "(copy and the helper threads feeding the source and draining the "
             "destination) plus a spawned peer's own user+sys; best of the "
             "runs\",\n  \"results\": [");
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    const struct result *x = &r[i];
    if (!x->applies)
      continue;
    fprintf(f, "%s\n    {\"pair\": ", first ? "" : ",");
    first = false;
    json_str(f, bench_pairs[x->pair].id);
    fprintf(f, ", \"pair_label\": ");
    json_str(f, bench_pairs[x->pair].label);
    fprintf(f, ", \"contender\": ");
    json_str(f, x->c->name);
    fprintf(f, ", \"kind\": \"%s\"", kind_name(x->c->kind));
    if (x->c->kind == KIND_PEER) {
      fprintf(f, ", \"command\": ");
      json_str(f, x->c->cmd);
    } else {
      fprintf(f, ", \"method\": \"%s\"", splicer_method_name(x->method_used));
    }
    fprintf(f, ", \"ok\": %s", x->ok ? "true" : "false");
    if (!x->ok) {
      fprintf(f, ", \"error\": ");
      json_str(f, x->error);
    } else {
      fprintf(f,
              ", \"runs\": %d, \"wall_s\": %.6f, \"cpu_s\": %.6f, "
              "\"gbps\": %.4f, \"gb_per_cpu_s\": %.4f",
              x->runs, x->best_wall, x->best_cpu, x->gbps, x->gb_per_cpu);
      if (x->gb_per_thread_cpu > 0)
        fprintf(f, ", \"thread_cpu_s\": %.6f, \"gb_per_thread_cpu_s\": %.4f",
                x->best_thread_cpu, x->gb_per_thread_cpu);
      else
        fprintf(f, ", \"thread_cpu_s\": null, \"gb_per_thread_cpu_s\": null");
      if (x->syscalls_per_gib >= 0)
        fprintf(f, ", \"syscalls_per_gib\": %.1f", x->syscalls_per_gib);
      else
        fprintf(f, ", \"syscalls_per_gib\": null");
    }
    fputc('}', f);
  }
  fprintf(f, "\n  ]\n}\n");
  return fclose(f) == 0 ? 0 : -1;
}
