#!/usr/bin/env python3
"""Turns the log of bench/gpu.sh (stdin) into one row of the `make bench-gpu`
table and appends it to a RESULTS file (bench/RESULTS.md by default), adding
the table's heading when the file does not end with that table yet.

Columns: date, card (and the host's GPUs and cores), commit; `bltpipe bench model` tokens/s for each shape
it ran (SEQ/CHUNK: document and chunk lengths, SEQr for --ragged, +pool
for --pool); the best PyTorch eager
and torch.compile figures of the same run and ours/best (our best model-only
figure over PyTorch's best); the default fast path's and bf16's accuracy
against f32 (p99 |Δentropy| nats, patch-start agreement); end to end per
device count: the median steady rate and the whole run's rate; and the CPU
side alone (--model none) in MB/s.

Usage: bash bench/gpu.sh | tee log; python3 bench/gpu_row.py [--results F] < log
"""
import argparse, json, re, statistics, sys

HEADING = "## `make bench-gpu` runs (one row each, appended by bench/gpu_row.py)"
COLUMNS = ["date", "card", "commit", "model only, tok/s", "PyTorch eager / compile", "ours / best PyTorch",
           "accuracy vs f32: p99 nats, agreement", "end to end: steady / whole run, tok/s", "CPU side, no model"]


def parse(lines):
    r = {"model": [], "torch": [], "acc": {}, "e2e": {}, "cpu": None, "date": "", "card": "", "commit": ""}
    dev = None
    for line in lines:
        line = line.strip()
        if m := re.match(r"# (\d{4}-\d\d-\d\d) (.*?) XLA_FLAGS", line):
            r["date"], r["card"] = m.group(1), m.group(2).split(",")[0].strip()
        elif m := re.match(r"# host: (.+)", line):
            r["host"] = m.group(1)
        elif m := re.match(r"# commit (\S+)", line):
            r["commit"] = m.group(1)[:7]
        elif m := re.search(r"(bf16|f16) vs f32 \|Δentropy\| p50 (\S+) p99 (\S+) max (\S+) nats; patch-start agreement (\S+)", line):
            r["acc"][m.group(1)] = (float(m.group(3)), float(m.group(5)))
        elif line.startswith("{") and '"tokens_per_s"' in line:
            j = json.loads(line)
            if "impl" in j:
                r["torch"].append(j)
            else:
                r["model"].append(j)
        elif m := re.match(r"# end to end: --devices (\d+)", line):
            dev = int(m.group(1))
            r["e2e"][dev] = {"steady": [], "whole": None}
        elif (m := re.match(r"steady\s+\d+s-\s*\d+s: (\d+) tokens/s", line)) and dev is not None:
            r["e2e"][dev]["steady"].append(float(m.group(1)))
        elif line.startswith("e2e_timing ") and dev is not None:
            r["e2e"][dev]["whole"] = json.loads(line[len("e2e_timing "):])["tokens_per_second"]
        elif line.startswith("cpu_side_timing "):
            j = json.loads(line[len("cpu_side_timing "):])
            r["cpu"] = j["bytes_per_second"] / 1e6
    return r


def k(x):
    return f"{x / 1e3:,.0f} k" if x < 1e6 else f"{x / 1e6:.2f} M"


def row(r):
    shapes = []
    for j in r["model"]:
        name = f"{j['seq_len']}{'r' if j.get('ragged') else ''}/{j['chunk_len']}{' +pool' if j.get('pool') else ''}"
        shapes.append(f"{name}: {k(j['tokens_per_s'])}")
    best = max([j["tokens_per_s"] for j in r["model"] if not j.get("pool")] or [0])
    eager = max([j["tokens_per_s"] for j in r["torch"] if j["impl"] == "torch-eager"] or [0])
    comp = max([j["tokens_per_s"] for j in r["torch"] if j["impl"] == "torch-compile"] or [0])
    ratio = f"{best / max(eager, comp):.2f}×" if max(eager, comp) > 0 else "–"
    acc = "; ".join(f"{d} {p:.4f}, {a:.2%}" for d, (p, a) in sorted(r["acc"].items(), key=lambda x: x[0] != "f16"))
    e2e = []
    for d, e in sorted(r["e2e"].items()):
        s = e["steady"][1:-1] or e["steady"]  # drop the start-up and tail windows
        st = k(statistics.median(s)) if s else "–"
        wh = k(e["whole"]) if e["whole"] else "–"
        e2e.append(f"{d} GPU{'s' if d > 1 else ''}: {st} / {wh}")
    cpu = f"{r['cpu']:.1f} MB/s" if r["cpu"] else "–"
    card = r["card"] + (f" ({r['host']})" if r.get("host") else "")
    cells = [r["date"], card, r["commit"], "; ".join(shapes) or "–", f"{k(eager)} / {k(comp)}" if comp else "–",
             ratio, acc or "–", "; ".join(e2e) or "–", cpu]
    return "| " + " | ".join(cells) + " |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/RESULTS.md")
    a = ap.parse_args()
    r = parse(sys.stdin)
    if not r["model"] and not r["e2e"]:
        sys.exit("gpu_row: no bench model or end-to-end figures in the log")
    line = row(r)
    try:
        with open(a.results, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    headings = [l for l in text.splitlines() if l.startswith("## ")]
    add = ""
    if not headings or headings[-1] != HEADING:
        add = "\n" + HEADING + "\n\n| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    if text and not text.endswith("\n"):
        add = "\n" + add
    with open(a.results, "a", encoding="utf-8") as f:
        f.write(add + line + "\n")
    print(line)


if __name__ == "__main__":
    main()
