#!/usr/bin/env python3
"""Draws the benchmark chart: `chart.py RESULTS.json OUT.png`.

Run by bench/run in the venv it makes (matplotlib, bench/chart-requirements.txt), fed the JSON
it writes beside the Markdown results. Medians of the rounds with min–max error bars.
"""

import json
import statistics
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

COLORS = {"rampart": "#1f77b4", "bare-axum": "#7f7f7f", "express-eddsa": "#ff7f0e",
          "express-hs256": "#d62728"}


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return 0.0, 0.0, 0.0
    return statistics.median(values), min(values), max(values)


def compact(v):
    """4,846 -> 4.8k; 26.04 -> 26.0; 0.123 -> 0.12."""
    if v == 0:
        return "0"
    if v >= 10000:
        return f"{v / 1000:,.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"


def log_axis(ax):
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def bars(ax, x, runs, color, width, label=None, hatch=None, alpha=1.0, fmt=compact):
    """One bar per entry of `runs` (lists of values): median, min–max error bar, value on top.
    An entry with no value at all (a flooded read's p99 with no read answered) is marked "no
    answer" at the bottom instead."""
    keep = [i for i, values in enumerate(runs) if any(v is not None for v in values)]
    for i in range(len(runs)):
        if i not in keep:
            ax.annotate("no\nanswer", (x[i], 0.02), xycoords=("data", "axes fraction"),
                        ha="center", va="bottom", fontsize=7, color="darkred")
    x, runs = [x[i] for i in keep], [runs[i] for i in keep]
    if not runs:
        return
    meds, lo, hi = [], [], []
    for values in runs:
        m, a, b = spread(values)
        meds.append(m)
        lo.append(m - a)
        hi.append(b - m)
    ax.bar(x, meds, width, color=color, label=label, hatch=hatch, alpha=alpha,
           edgecolor="black", linewidth=0.5, yerr=[lo, hi], capsize=3,
           error_kw={"elinewidth": 0.8})
    for xi, m, h in zip(x, meds, hi):
        ax.annotate(fmt(m), (xi, m + h), textcoords="offset points", xytext=(0, 2),
                    ha="center", va="bottom", fontsize=7)


def empty(ax, title):
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center",
            transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def label(data, name):
    return data["labels"].get(name, name)


def read_panel(ax, data):
    title = "Authenticated read, closed loop"
    read = data["results"].get("read")
    if not read:
        return empty(ax, title)
    names = list(read)
    for i, name in enumerate(names):
        bars(ax, [i], [[r["rps"] for r in read[name]]], COLORS.get(name, "gray"), 0.6)
    ax.set_xticks(range(len(names)), [label(data, n) for n in names], fontsize=8,
                  rotation=15)
    ax.set_ylabel("requests/s")
    ax.set_title(title, fontsize=10)


def crud_panel(ax, data):
    title = "Register, login, list, write (closed loop)"
    crud = data["results"].get("crud")
    if not crud:
        return empty(ax, title)
    ops = list(crud)
    names = []
    for runs in crud.values():
        names += [n for n in runs if n not in names]
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        idx = [i for i, op in enumerate(ops) if name in crud[op]]
        xs = [i + (j - (len(names) - 1) / 2) * width for i in idx]
        bars(ax, xs, [[r["rps"] for r in crud[ops[i]][name]] for i in idx],
             COLORS.get(name, "gray"), width, label=label(data, name))
    log_axis(ax)
    ax.set_xticks(range(len(ops)), ops)
    ax.set_ylabel("requests/s (log scale)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def flood_panel(ax, data, key, ylabel, title, log=False, fmt=compact):
    flood = data["results"].get("flood")
    if not flood:
        return empty(ax, title)
    names = list(flood)
    for i, name in enumerate(names):
        rounds = flood[name]
        color = COLORS.get(name, "gray")
        bars(ax, [i - 0.2], [[r["unflooded"][key] for r in rounds]], color, 0.4, fmt=fmt,
             label="unflooded" if i == 0 else None)
        bars(ax, [i + 0.2], [[r["flooded"][key] for r in rounds]], color, 0.4, hatch="//",
             alpha=0.55, fmt=fmt, label="during the login flood" if i == 0 else None)
    if log:
        log_axis(ax)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xticks(range(len(names)), [label(data, n) for n in names], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def open_panel(ax, data, key, ylabel, title, fmt=compact):
    ol = data["results"].get("open-loop")
    if not ol:
        return empty(ax, title)
    runs = ol["runs"]
    names = list(runs)
    for i, name in enumerate(names):
        bars(ax, [i], [[r[key] for r in runs[name]]], COLORS.get(name, "gray"), 0.6, fmt=fmt)
    ax.set_xticks(range(len(names)), [label(data, n) for n in names], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title} at {ol['rate']:,.0f} req/s", fontsize=10)


def open_latency_panel(ax, data):
    title = "Open loop: read latency"
    ol = data["results"].get("open-loop")
    if not ol:
        return empty(ax, title)
    runs = ol["runs"]
    names = list(runs)
    for i, name in enumerate(names):
        color = COLORS.get(name, "gray")
        bars(ax, [i - 0.2], [[r["p50_ms"] for r in runs[name]]], color, 0.4, alpha=0.55,
             hatch="..", label="p50" if i == 0 else None)
        bars(ax, [i + 0.2], [[r["p99_ms"] for r in runs[name]]], color, 0.4,
             label="p99" if i == 0 else None)
    ax.set_xticks(range(len(names)), [label(data, n) for n in names], fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title(f"{title} at {ol['rate']:,.0f} req/s", fontsize=10)
    ax.legend(fontsize=7)


def targets_panel(ax, data):
    ax.axis("off")
    ax.set_title("Issue 7's targets (medians)", fontsize=10)
    lines = []
    for t in data["targets"]:
        sign = ">=" if t["higher_is_better"] else "<="
        verdict = "met" if t["met"] else "MISSED"
        lines.append((f"{t['what']}: {t['value']:.2f}x ({sign} {t['target']:g}x) {verdict}",
                      "darkgreen" if t["met"] else "darkred"))
    if not lines:
        lines.append(("none measured in this run", "gray"))
    y = 0.97
    for text, color in lines:
        for k, part in enumerate(textwrap.wrap(text, 64)):
            ax.text(0.0, y, ("" if k == 0 else "    ") + part, transform=ax.transAxes,
                    fontsize=8, va="top", color=color, family="monospace")
            y -= 0.055


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        data = json.load(f)
    m = data["machine"]
    fig, axes = plt.subplots(2, 4, figsize=(20, 9.5))
    read_panel(axes[0][0], data)
    crud_panel(axes[0][1], data)
    flood_panel(axes[0][2], data, "rps", "reads, requests/s", "Login flood: read throughput")
    flood_panel(axes[0][3], data, "p99_ms", "reads, p99 ms (log scale)",
                "Login flood: read p99", log=True)
    open_latency_panel(axes[1][0], data)
    open_panel(axes[1][1], data, "cpu_s", "server CPU seconds over the run",
               "Open loop: server CPU")
    open_panel(axes[1][2], data, "peak_rss_mib", "peak RSS, MiB (VmHWM)",
               "Open loop: peak RSS")
    targets_panel(axes[1][3], data)
    for ax in axes.flat:
        ax.grid(axis="y", alpha=0.3)
    s = data["settings"]
    title = (f"Rampart vs bare axum vs Express — {m['cpu']}, {m['nproc']} CPUs, kernel "
             f"{m['kernel']} — commit {m['commit']} — {data['written']}")
    sub = (f"{m['pinning']}; {s['rounds']} round(s); read {s['duration_s']} s × "
           f"{s['connections']} connections; medians, bars = min–max over rounds")
    if data.get("quick") or data.get("debug"):
        sub += ("   SMOKE RUN (" + " ".join(f for f in ("--quick", "--debug") if data.get(f[2:]))
                + "): the numbers mean nothing")
    fig.suptitle(title, fontsize=12)
    fig.text(0.5, 0.935, sub, ha="center", fontsize=9,
             color="darkred" if data.get("quick") or data.get("debug") else "black")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
