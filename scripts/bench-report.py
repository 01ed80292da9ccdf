#!/usr/bin/env python3
"""Generate docs/BENCHMARKS.md from the JSON that bench/sdq-bench writes.

usage: bench-report.py RESULTS.json OUTPUT.md [MODEL_RESULTS.json] [--notes FILE]
                       [--targets FILE] [--restricted TAG=FILE]...

The page lists, per kernel and shape, the best sdq variant next to the
yardstick measured in the same run, the ratio, and the fraction of the
machine's measured peak; then every target with its measured ratio. Causes
of missed targets come from a hand-written notes file (default
bench/NOTES.md beside this script's repository) and are copied verbatim.
When MODEL_RESULTS.json (written by bench/sdq-bench-model) is given and
exists, a "Model" section lists the tokenizer and GPT-2 124M rates.

--targets FILE holds a second pass over the benchmarks the target table
uses, with repetitions: its medians replace the single-run figures of the
same benchmarks everywhere on the page.

Each --restricted TAG=FILE adds the yardsticks of another sdq-bench run in
which the libraries were limited to an instruction set (OpenBLAS through
OPENBLAS_CORETYPE, oneDNN through ONEDNN_MAX_CPU_ISA; a library picks its
kernels once per process, so this needs its own run). Its yardsticks are
named NAME@TAG: `make bench-run` writes avx2 (Haswell OpenBLAS, AVX2 oneDNN)
and vnni (oneDNN limited to AVX-512 VNNI, which matters on AMX machines).
"""
import json
import os
import platform
import re
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone

SHAPES = [(768, 2304), (768, 768), (768, 3072), (3072, 768), (768, 50257)]
NAME_RE = re.compile(
    r"^(?P<src>sdq|yardstick)/(?P<kernel>[a-z0-9_]+)/(?:(?P<isa>[a-z0-9]+)/)?"
    r"M=(?P<M>\d+)/K=(?P<K>\d+)/N=(?P<N>\d+)(?:/bits=(?P<bits>\d))?(?:/(?P<temp>hot|cold))?"
)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pick_runs(benchmarks):
    """Picks one entry per benchmark: the median aggregate where the run had
    --benchmark_repetitions, else the single iteration run. Skipped
    benchmarks have no aggregate and keep their iteration entry."""
    medians = {b.get("run_name"): b for b in benchmarks
               if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"}
    out = []
    for b in benchmarks:
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out.append(b)
        elif name not in medians and (b.get("repetition_index", 0) == 0):
            out.append(b)
    return out


def load(path):
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise SystemExit(f"bench-report: {path} is not benchmark JSON ({e}); "
                             "rerun make bench-run") from None
    rows = []
    for b in pick_runs(data.get("benchmarks", [])):
        m = NAME_RE.match(b.get("run_name", b["name"]))
        if not m:
            continue
        r = m.groupdict()
        for key in ("M", "K", "N"):
            r[key] = int(r[key])
        r["bits"] = int(r["bits"]) if r["bits"] else None
        r["error"] = b.get("error_message") if b.get("error_occurred") else None
        r["gflops"] = b.get("GFLOPS")
        r["peak_frac"] = b.get("peak_frac")
        r["weight_gbs"] = b.get("weight_GBs")
        r["label"] = b.get("label", "")
        rows.append(r)
    return data.get("context", {}), rows


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def verdict(r, goal):
    """Returns the "met" cell of a target row: ?, yes or a bold no."""
    if r is None:
        return "?"
    return "yes" if r >= goal else "**no**"


def ratio(a, b):
    return None if a is None or not b else a / b


def best_sdq(rows, kernel, M, K, N, bits=None, temp=None, isa=None):
    best = None
    for r in rows:
        if r["src"] != "sdq" or r["kernel"] != kernel or r["error"] or r["gflops"] is None:
            continue
        if (r["M"], r["K"], r["N"]) != (M, K, N) or r["bits"] != bits:
            continue
        if temp and r["temp"] != temp or isa and r["isa"] != isa:
            continue
        if best is None or r["gflops"] > best["gflops"]:
            best = r
    return best


def yard_row(rows, name, M, K, N):
    for r in rows:
        if r["src"] == "yardstick" and r["kernel"] == name and (r["M"], r["K"], r["N"]) == (M, K, N):
            return None if r["error"] else r
    return None


def yard(rows, name, M, K, N):
    r = yard_row(rows, name, M, K, N)
    return r and r["gflops"]


def impls(rows, name):
    """The implementation names a yardstick reported (oneDNN's impl_info_str)."""
    seen = []
    for r in rows:
        if r["src"] == "yardstick" and r["kernel"] == name and not r["error"]:
            impl = r["label"][len(name):].strip()
            if impl and impl not in seen:
                seen.append(impl)
    return ", ".join(seen) or "-"


def load_restricted(spec):
    """Rows of the yardsticks in a --restricted TAG=FILE run, named NAME@TAG,
    and that run's context."""
    tag, _, path = spec.partition("=")
    if not tag or not path:
        raise SystemExit(f"--restricted {spec}: expected TAG=FILE")
    ctx, rows = load(path)
    out = []
    for r in rows:
        if r["src"] == "yardstick":
            r["label"] = r["label"].replace(r["kernel"], f"{r['kernel']}@{tag}", 1)
            r["kernel"] = f"{r['kernel']}@{tag}"
            out.append(r)
    return ctx, out


def target_row(L, what, K, N, s_val, yname, y_val, goal):
    r = ratio(s_val, y_val)
    L.append(f"| {what} | {K} x {N} | {fmt(s_val)} | {yname} {fmt(y_val)} | {fmt(r, 2)} | "
             f"{goal} | {verdict(r, goal)} |")


MODEL_RE = re.compile(
    r"^model/(?P<what>[a-z_]+)(?:/bits=(?P<bits>\d+))?(?P<rest>(?:/[A-Za-z0-9_]+=[A-Za-z0-9]+)*)"
)


def model_section(path):
    """Returns the lines of the Model section from bench/sdq-bench-model JSON."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    L = ["## Model\n",
         "GPT-2 124M (random weights, LoRA rank 8 on every linear layer, base frozen) and the "
         "GPT-2 tokenizer, from `bench/sdq-bench-model`. `wall` rates are per second of wall "
         "time; `CPU` rates per second of process CPU time over all threads, which a loaded "
         "machine disturbs less. `loss=last16`: loss and LM head on the last 16 positions of "
         "each row (SQuAD answers); `loss=all`: on every position. Decode excludes the prompt.\n",
         "| benchmark | bits | shape | rate (wall) | rate (CPU) | peak RSS MiB |",
         "| --- | ---: | --- | ---: | ---: | ---: |"]
    for b in pick_runs(data.get("benchmarks", [])):
        m = MODEL_RE.match(b.get("run_name", b["name"]))
        if not m:
            continue
        if b.get("error_occurred"):
            L.append(f"| {m['what']} | {m['bits'] or '-'} | - | skipped: {b.get('error_message', '')} | | |")
            continue
        shape = m["rest"].strip("/").replace("/", " ") or "-"
        if m["what"] == "tokenizer_encode":
            unit = "MB/s"
            wall = b.get("MB_per_s")
            shape = f"{b.get('label', '')} ({fmt(b.get('corpus_MB'))} MB)"
        else:
            unit = "tok/s"
            wall = b.get("tokens_per_s")
        cpu = b.get("per_cpu_s")
        L.append(f"| {m['what']} | {m['bits'] or '-'} | {shape} | {fmt(wall)} {unit} | "
                 f"{fmt(cpu)} {unit} | {fmt(b.get('peak_rss_MiB'), 0)} |")
    L.append("")
    L.append("Tokenizer goal: at least 5 MB/s on one core.\n")
    return L


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results, out = argv[1], argv[2]
    model_results = argv[3] if len(argv) > 3 and not argv[3].startswith("--") else None
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "NOTES.md")
    if "--notes" in argv:
        notes = argv[argv.index("--notes") + 1]
    ctx, rows = load(results)
    if not rows:
        print(f"{results}: no sdq benchmark results found", file=sys.stderr)
        return 1
    reps = None
    if "--targets" in argv:
        tpath = argv[argv.index("--targets") + 1]
        if os.path.exists(tpath):
            _, trows = load(tpath)
            key = lambda r: (r["src"], r["kernel"], r["isa"], r["M"], r["K"], r["N"], r["bits"], r["temp"])
            better = {key(r): r for r in trows}
            rows = [better.pop(key(r), r) for r in rows] + list(better.values())
            with open(tpath, encoding="utf-8") as f:
                reps = max((b.get("repetitions", 1) for b in json.load(f).get("benchmarks", [])),
                           default=None)
        else:
            print(f"bench-report: {tpath}: no such file; targets use the single run", file=sys.stderr)
    restricted = {}
    for i, a in enumerate(argv):
        if a == "--restricted" and i + 1 < len(argv):
            tag = argv[i + 1].partition("=")[0]
            if not os.path.exists(argv[i + 1].partition("=")[2]):
                print(f"bench-report: {argv[i + 1]}: no such file; its targets are shown as ?",
                      file=sys.stderr)
                continue
            rctx, rrows = load_restricted(argv[i + 1])
            restricted[tag] = rctx
            rows.extend(rrows)

    L = []
    L.append("# sdq kernel benchmarks\n")
    L.append("Generated by `scripts/bench-report.py` from the JSON of `make bench-run`; "
             "do not edit by hand. Every yardstick figure was measured in the same run.\n")
    L.append("## Machine and run\n")
    L.append("| what | value |\n| --- | --- |")
    L.append(f"| CPU | {cpu_model()} |")
    L.append(f"| cores used | {ctx.get('sdq_threads', '?')} threads (OpenMP) of {ctx.get('num_cpus', '?')} CPUs |")
    L.append(f"| measured clock | {ctx.get('sdq_clock_ghz', '?')} GHz (dependent register add chain) |")
    L.append(f"| fp32 peak | {ctx.get('sdq_peak_fp32_gflops', '?')} GFLOP/s ({ctx.get('sdq_peak_fp32_isa', '?')} FMA loop) |")
    L.append(f"| int8 peak | {ctx.get('sdq_peak_int8_gops', '?')} GOP/s ({ctx.get('sdq_peak_int8_isa', '?')} dot-product loop) |")
    L.append(f"| DRAM read / triad | {ctx.get('sdq_read_gbs', '?')} / {ctx.get('sdq_triad_gbs', '?')} GB/s |")
    L.append(f"| compiler | {ctx.get('sdq_compiler', '?')} |")
    L.append(f"| commit | {ctx.get('sdq_commit', '?')} |")
    L.append(f"| date | {ctx.get('date', datetime.now(timezone.utc).isoformat())} |")
    L.append(f"| Google Benchmark | library build type {ctx.get('library_build_type', '?')} |")
    L.append(f"| OpenBLAS kernels | {ctx.get('sdq_openblas_core') or '?'} (as it chose them); "
             f"{restricted.get('avx2', {}).get('sdq_openblas_core') or '-'} in the avx2 run |")
    L.append(f"| oneDNN s8 implementation | {impls(rows, 'onednn_s8_nt')}; vnni run: "
             f"{impls(rows, 'onednn_s8_nt@vnni')}; avx2 run: {impls(rows, 'onednn_s8_nt@avx2')} |")
    L.append(f"| oneDNN f32 implementation | {impls(rows, 'onednn_f32_nt')} |")
    L.append("")

    # Targets first: they are what a reader looks for.
    L.append("## Targets (both cores)\n")
    L.append("Each sdq figure is the best variant named in the row; each yardstick was measured in "
             "the same `make bench-run`. `@avx2` and `@vnni` yardsticks come from the runs with the "
             "libraries restricted to that instruction set. "
             + (f"Every figure here is the median of {reps} repetitions." if reps and reps > 1
                else "Every figure here comes from a single run.") + "\n")
    L.append("| target | shape K x N | sdq | yardstick | ratio | goal | met |")
    L.append("| --- | --- | ---: | --- | ---: | ---: | --- |")
    for isa, suffix, goals in (("avx512", "", ((1.0, "openblas"), (0.9, "onednn"))),
                               ("avx2", "@avx2", ((0.9, "openblas"),))):
        for kernel, layout in (("sgemm_nt", "nt"), ("sgemm_nn", "nn"), ("sgemm_tn", "tn")):
            for K, N in SHAPES:
                s_row = best_sdq(rows, kernel, 512, K, N, isa=isa)
                for goal, lib in goals:
                    if lib == "onednn" and layout != "nt":
                        continue
                    yname = (f"openblas_sgemm_{layout}" if lib == "openblas" else "onednn_f32_nt") + suffix
                    target_row(L, f"{kernel} M=512 ({isa}) GFLOP/s", K, N, s_row and s_row["gflops"],
                               yname, yard(rows, yname, 512, K, N), goal)
    vnni_yard = "onednn_s8_nt@vnni" if "vnni" in restricted else "onednn_s8_nt"
    for bits, goal in ((8, 1.0), (4, 0.8)):
        for K, N in SHAPES:
            s_row = best_sdq(rows, "qgemm_i8_nt", 512, K, N, bits=bits, isa="avx512vnni")
            target_row(L, f"qgemm_i8_nt M=512 int8 x {bits}-bit (avx512vnni) GOP/s", K, N,
                       s_row and s_row["gflops"], vnni_yard, yard(rows, vnni_yard, 512, K, N), goal)
    for K, N in SHAPES:
        s_row = best_sdq(rows, "qgemm_i8_nt", 512, K, N, bits=8, isa="avx2")
        target_row(L, "qgemm_i8_nt M=512 int8 x 8-bit (avx2) GOP/s", K, N, s_row and s_row["gflops"],
                   "onednn_s8_nt@avx2", yard(rows, "onednn_s8_nt@avx2", 512, K, N), 1.0)
    amx_yard_is_amx = "amx" in impls(rows, "onednn_s8_nt")
    for bits in (8, 4):
        for K, N in SHAPES:
            s_row = best_sdq(rows, "qgemm_i8_nt", 512, K, N, bits=bits, isa="amx")
            y = yard(rows, "onednn_s8_nt", 512, K, N) if amx_yard_is_amx else None
            target_row(L, f"qgemm_i8_nt M=512 int8 x {bits}-bit (amx) GOP/s", K, N,
                       s_row and s_row["gflops"], "onednn_s8_nt (AMX)", y, 0.8)
    read = float(ctx.get("sdq_read_gbs") or 0) or None
    for K, N in SHAPES:
        s_row = best_sdq(rows, "qgemm_f32_nt", 1, K, N, bits=4, temp="cold")
        gbs = s_row and s_row["weight_gbs"]
        target_row(L, "qgemm_f32_nt M=1 4-bit cold: weight GB/s vs DRAM read", K, N, gbs,
                   "read bandwidth", read, 0.8)
        target_row(L, "qgemm_f32_nt M=1 4-bit cold GFLOP/s", K, N, s_row and s_row["gflops"],
                   "openblas_sgemv_cold", yard(rows, "openblas_sgemv_cold", 1, K, N), 3.5)
    L.append("")
    if not amx_yard_is_amx:
        L.append("AMX-INT8: this page's machine has no AMX (oneDNN ran "
                 f"{impls(rows, 'onednn_s8_nt')}), so the AMX rows have no figures.\n")

    if os.path.exists(notes):
        L.append("## Why targets are missed\n")
        with open(notes, encoding="utf-8") as f:
            L.append(f.read().strip() + "\n")

    # Full tables per kernel.
    kernels = sorted({r["kernel"] for r in rows if r["src"] == "sdq"},
                     key=lambda k: ["sgemm_nt", "sgemm_nn", "sgemm_tn", "qgemm_f32_nt",
                                    "qgemm_f32_nn", "qgemm_i8_nt"].index(k)
                     if k in ("sgemm_nt", "sgemm_nn", "sgemm_tn", "qgemm_f32_nt", "qgemm_f32_nn", "qgemm_i8_nt") else 99)
    for kernel in kernels:
        L.append(f"## {kernel}\n")
        L.append("GFLOP/s (GOP/s for the integer kernel) per ISA variant; `peak` is the best variant's fraction of the measured peak; "
                 "`GB/s` is the weight bytes read per second by the best variant.\n")
        isas = []
        for r in rows:
            if r["src"] == "sdq" and r["kernel"] == kernel and r["isa"] not in isas and not r["error"]:
                isas.append(r["isa"])
        ylist = {"sgemm_nt": ["openblas_sgemm_nt", "onednn_f32_nt"], "sgemm_nn": ["openblas_sgemm_nn"],
                 "sgemm_tn": ["openblas_sgemm_tn"],
                 "qgemm_f32_nt": ["openblas_sgemm_nt", "openblas_sgemv_cold"],
                 "qgemm_i8_nt": ["onednn_s8_nt"]}.get(kernel, [])
        header = "| M | K x N | bits | temp | " + " | ".join(isas) + " | peak | GB/s | " + " | ".join(ylist) + " |"
        L.append(header)
        L.append("|" + " --- |" * 4 + " ---: |" * (len(isas) + 2 + len(ylist)))
        groups = defaultdict(dict)
        for r in rows:
            if r["src"] == "sdq" and r["kernel"] == kernel and not r["error"]:
                groups[(r["M"], r["K"], r["N"], r["bits"] or 0, r["temp"] or "")][r["isa"]] = r
        for key in sorted(groups):
            M, K, N, bits, temp = key
            g = groups[key]
            best = max(g.values(), key=lambda r: r["gflops"] or 0)
            cells = [fmt(g[i]["gflops"]) if i in g else "-" for i in isas]
            ys = [fmt(yard(rows, y, M, K, N)) for y in ylist]
            L.append(f"| {M} | {K} x {N} | {bits or '-'} | {temp or '-'} | " + " | ".join(cells) +
                     f" | {fmt(best['peak_frac'], 2)} | {fmt(best['weight_gbs'])} | " + " | ".join(ys) + " |")
        L.append("")

    skipped = sorted({(r["isa"], r["error"]) for r in rows if r["error"] and r["src"] == "sdq"})
    if skipped:
        L.append("## Skipped\n")
        for isa, err in skipped:
            L.append(f"- {isa}: {err}")
        L.append("")

    if model_results and os.path.exists(model_results):
        L.extend(model_section(model_results))

    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out)), prefix=".bench-", suffix=".md")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
