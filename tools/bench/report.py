#!/usr/bin/env python3
"""tools/bench/report.py — turn the bench guest's serial logs into the exit-cost report.

Reads the guest's `BENCH {...}` lines (under Kestrel prefixed with `[bench] ` and split into
chunks of Kestrel's guest-console line length, which are joined again here) and Kestrel's
end-of-run `[stats] {...}` lines, and writes to OUT/:

  exit-costs.json   everything: both runs' BENCH records, Kestrel's [stats], the table rows
  exit-costs.csv    one row per operation
  exit-costs.png    bar chart: native round trip, Kestrel round trip, root-mode part (log scale)

and prints the table. With --previous (the last run's exit-costs.json) it compares every
instruction count that came from Bochs and says whether the two runs agree exactly.
docs/measuring.md explains the figures.
"""
import argparse
import csv
import hashlib
import json
import os
import sys


def read_lines(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def parse_log(path, prefixed):
    """BENCH records and [stats] records of one serial log."""
    records, stats = [], []
    pending = None  # a BENCH line being reassembled from console chunks
    for line in read_lines(path):
        if line.startswith("[stats] "):
            try:
                stats.append(json.loads(line[len("[stats] "):]))
            except ValueError:
                pass
            continue
        if prefixed:
            if not line.startswith("[bench] "):
                continue
            chunk = line[len("[bench] "):]
        else:
            chunk = line
        if pending is None:
            if not chunk.startswith("BENCH {"):
                continue
            pending = chunk[len("BENCH "):]
        else:
            pending += chunk
        try:
            records.append(json.loads(pending))
            pending = None
        except ValueError:
            if len(pending) > 8192:  # not JSON after all
                pending = None
    return records, stats


def banner(path):
    for line in read_lines(path):
        if line.startswith("[hv] Kestrel "):
            return line[len("[hv] "):]
    return None


def split_records(records):
    start = next((r for r in records if r.get("bench") == "start"), None)
    end = any(r.get("bench") == "end" for r in records)
    ops = [r for r in records if "op" in r]
    return start, ops, end


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v)}"
    return str(v)


def build_rows(kops, nops):
    native = {r["op"]: r for r in nops}
    rows = []
    for k in kops:
        n = native.get(k["op"])
        row = {
            "op": k["op"],
            "what": k.get("what", ""),
            "supported": k.get("supported", False),
            "why": k.get("why"),
            "iterations": k.get("iterations"),
            "min": k.get("min"),
            "median": k.get("median"),
            "p99": k.get("p99"),
            "mean": k.get("mean"),
            "exit_reason": k.get("exit_reason"),
            "exits_per_op": k.get("exits_per_op"),
            "async_exits": k.get("async_exits"),
            "root_exits_per_op": k.get("root_exits_per_op"),
            "root_min": k.get("root_min"),
            "root_median": k.get("root_median"),
            "root_p99": k.get("root_p99"),
            "root_mean": k.get("root_mean"),
            "native_supported": bool(n and n.get("supported")),
            "native_why": n.get("why") if n else "not run",
            "native_min": n.get("min") if n else None,
            "native_median": n.get("median") if n else None,
            "native_p99": n.get("p99") if n else None,
        }
        rows.append(row)
    # Operations only the native run has (none today) still get a row.
    known = {r["op"] for r in rows}
    for n in nops:
        if n["op"] not in known:
            rows.append({"op": n["op"], "what": n.get("what", ""), "supported": False,
                         "why": "not run under Kestrel", "native_supported": n.get("supported"),
                         "native_min": n.get("min"), "native_median": n.get("median"),
                         "native_p99": n.get("p99")})
    return rows


def print_table(rows, kestrel_label, native_label, unit):
    head = ["operation", "round trip min/median/p99", "root-mode part", "exits/op",
            "native round trip"]
    body = []
    for r in rows:
        if r.get("supported"):
            rt = f"{fmt(r['min'])} / {fmt(r['median'])} / {fmt(r['p99'])}"
            if r.get("root_median") is not None:
                root = f"{fmt(r['root_median'])}"
                if r.get("root_exits_per_op") not in (None, 1, 1.0):
                    root += f" ({fmt(r['root_exits_per_op'])} x {r['exit_reason']})"
                else:
                    root += f" ({r['exit_reason']})"
            else:
                root = "-"
            exits = fmt(r.get("exits_per_op"))
        else:
            rt, root, exits = "unsupported", "-", "-"
        if r.get("native_supported"):
            nat = f"{fmt(r['native_min'])} / {fmt(r['native_median'])} / {fmt(r['native_p99'])}"
        else:
            nat = "unsupported" if r.get("native_why") != "not run" else "-"
        body.append([r["op"], rt, root, exits, nat])
    widths = [max(len(x[i]) for x in body + [head]) for i in range(len(head))]
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(head))
    print(f"Exit costs in {unit}: Kestrel on {kestrel_label}, native on {native_label}")
    if native_label == "QEMU TCG":
        print("(the native column is QEMU TCG's host-time TSC, not instruction counts: compare "
              "shapes, not ticks)")
    print("round trip and native round trip: min / median / p99 per iteration; root-mode part:")
    print("median per iteration of Kestrel's own accounting (exit stub RDTSC to before VMRESUME)")
    print(line)
    print("  ".join("-" * w for w in widths))
    for x in body:
        print("  ".join((x[i].ljust(widths[i]) if i == 0 else x[i].rjust(widths[i]))
                        for i in range(len(head))))
    for r in rows:
        if not r.get("supported") and r.get("why"):
            print(f"  {r['op']}: unsupported under Kestrel: {r['why']}")
        if r.get("supported") and not r.get("native_supported") and r.get("native_why"):
            print(f"  {r['op']}: unsupported natively: {r['native_why']}")


def write_csv(path, rows, kestrel_label, native_label):
    cols = ["op", "what", "supported", "iterations", "min", "median", "p99", "mean",
            "exit_reason", "exits_per_op", "async_exits", "root_exits_per_op", "root_min",
            "root_median", "root_p99", "root_mean", "native_supported", "native_min",
            "native_median", "native_p99"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["kestrel_host", "native_method"])
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols] +
                       [kestrel_label, native_label])


def write_png(path, rows, kestrel_label, native_label, unit):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing (apt-get install python3-matplotlib; run with "
              "Debian's /usr/bin/python3): no chart")
        return False
    shown = [r for r in rows if r.get("supported") or r.get("native_supported")]
    names = [r["op"] for r in shown]
    series = [
        (f"native ({native_label}) round trip", "native_median", "#7f7f7f"),
        (f"Kestrel ({kestrel_label}) round trip", "median", "#1f77b4"),
        ("Kestrel root-mode part", "root_median", "#ff7f0e"),
    ]
    fig_h = 1.0 + 0.42 * len(shown)
    fig, ax = plt.subplots(figsize=(11, fig_h), dpi=110)
    height = 0.27
    for i, (label, key, color) in enumerate(series):
        ys, xs = [], []
        for j, r in enumerate(shown):
            v = r.get(key)
            if v is None or (key.startswith("native") and not r.get("native_supported")):
                continue
            ys.append(j + (i - 1) * height)
            xs.append(max(float(v), 0.5))
        ax.barh(ys, xs, height=height, label=label, color=color)
        for y, x in zip(ys, xs):
            ax.text(x * 1.06, y, f"{x:g}", va="center", fontsize=7)
    for j, r in enumerate(shown):
        if not r.get("supported"):
            ax.text(1.1, j, "unsupported under Kestrel", va="center", fontsize=7, style="italic")
        elif not r.get("native_supported"):
            ax.text(1.1, j - height, "unsupported natively", va="center", fontsize=7,
                    style="italic")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"median per iteration, {unit} (log scale)")
    ax.set_title("Kestrel exit costs: round trip seen by the guest vs. native")
    ax.grid(axis="x", which="both", alpha=0.25)
    xmax = max([float(r.get(k) or 0) for r in shown for _, k, _ in series] + [10])
    ax.set_xlim(1, xmax * 4)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def exact_figures(doc):
    """The figures that are instruction counts (Bochs), keyed for comparison."""
    out = {}
    if doc.get("kestrel", {}).get("host") == "bochs":
        for r in doc["kestrel"].get("ops", []):
            for k in ("min", "median", "p99", "max", "mean", "exits_per_op", "root_min",
                      "root_median", "root_p99", "root_max", "root_mean"):
                if k in r:
                    out[f"kestrel.{r['op']}.{k}"] = r[k]
        for s in doc["kestrel"].get("stats", []):
            for k in ("count", "cycles_total", "cycles_min", "cycles_max"):
                out[f"stats.{s.get('reason')}.{k}"] = s.get(k)
    if doc.get("native", {}).get("method") == "bochs":
        for r in doc["native"].get("ops", []):
            for k in ("min", "median", "p99", "max", "mean"):
                if k in r:
                    out[f"native.{r['op']}.{k}"] = r[k]
    return out


def sha256(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def compare(prev_path, doc):
    """None: nothing to compare with; else compared/differences, or not_compared and why."""
    try:
        with open(prev_path) as f:
            prev = json.load(f)
    except (OSError, ValueError):
        return None
    if prev.get("builds") != doc.get("builds"):
        return {"not_compared": "kestrel.efi or bench.elf changed since the previous run",
                "previous_builds": prev.get("builds")}
    a, b = exact_figures(prev), exact_figures(doc)
    if not a or not b:
        return None
    keys = sorted(set(a) & set(b))
    diffs = [(k, a[k], b[k]) for k in keys if a[k] != b[k]]
    return {"compared": len(keys), "differences": [
        {"figure": k, "previous": x, "now": y} for k, x, y in diffs]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kestrel-log", required=True)
    ap.add_argument("--kestrel-host", default="bochs")
    ap.add_argument("--native-log", default="")
    ap.add_argument("--native-method", default="none")
    ap.add_argument("--previous", default="")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--kestrel-efi", default="build/kestrel.efi")
    ap.add_argument("--guest-elf", default="build/guest/bench.elf")
    a = ap.parse_args()

    for path in (a.kestrel_log, a.native_log):
        if path and not os.path.isfile(path):
            print(f"report: no such log: {path}", file=sys.stderr)
            return 1
    krec, kstats = parse_log(a.kestrel_log, prefixed=True)
    kstart, kops, kend = split_records(krec)
    if not kops or not kend:
        print(f"report: no complete BENCH output in {a.kestrel_log}", file=sys.stderr)
        return 1
    nstart, nops, nend = None, [], False
    if a.native_log:
        nrec, _ = parse_log(a.native_log, prefixed=False)
        nstart, nops, nend = split_records(nrec)
        if not nend:
            print(f"report: the native log {a.native_log} is incomplete", file=sys.stderr)

    klabel = {"bochs": "Bochs", "kvm": "QEMU/KVM (nested)"}.get(a.kestrel_host, a.kestrel_host)
    nlabel = {"bochs": "Bochs via GRUB", "qemu": "QEMU TCG", "none": "none"}.get(
        a.native_method, a.native_method)
    unit = ("TSC ticks = instructions (Bochs)" if a.kestrel_host == "bochs" else "TSC ticks")
    rows = build_rows(kops, nops)
    doc = {
        "about": "Kestrel exit costs; docs/measuring.md explains every field",
        "unit": unit,
        "kestrel": {"host": a.kestrel_host, "start": kstart, "ops": kops, "stats": kstats,
                    "log": a.kestrel_log},
        "native": {"method": a.native_method, "start": nstart, "ops": nops,
                   "log": a.native_log or None},
        "table": rows,
        # What produced the figures: runs are compared only when both are the same.
        "builds": {"kestrel_efi_sha256": sha256(a.kestrel_efi),
                   "bench_elf_sha256": sha256(a.guest_elf),
                   "kestrel_banner": banner(a.kestrel_log)},
    }
    if a.native_method == "qemu":
        doc["native"]["note"] = ("QEMU TCG: host-time TSC, not instruction counts; not "
                                 "comparable tick for tick with the Bochs figures")
    det = compare(a.previous, doc) if a.previous else None
    if det is not None:
        doc["determinism"] = det

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "exit-costs.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    write_csv(os.path.join(a.out, "exit-costs.csv"), rows, a.kestrel_host, a.native_method)
    png = write_png(os.path.join(a.out, "exit-costs.png"), rows, klabel, nlabel, unit)

    print()
    print_table(rows, klabel, nlabel, unit)
    print()
    unexpected = [r["op"] for r in rows if r.get("supported") and r.get("exit_reason") is None
                  and r.get("exits_per_op") not in (None, 0, 0.0)]
    if unexpected:
        print(f"report: WARNING: operations that must not exit did: {', '.join(unexpected)}")
    if det is None:
        print("report: determinism: no previous Bochs run to compare with (run make bench again)")
    elif "not_compared" in det:
        print(f"report: determinism: not compared: {det['not_compared']} "
              "(run make bench again)")
    elif det["differences"]:
        print(f"report: determinism: {len(det['differences'])} of {det['compared']} Bochs "
              "figures differ from the previous run:")
        for d in det["differences"][:20]:
            print(f"  {d['figure']}: {d['previous']} -> {d['now']}")
    else:
        print(f"report: determinism: all {det['compared']} Bochs instruction counts are "
              "identical to the previous run")
    outs = ["exit-costs.json", "exit-costs.csv"] + (["exit-costs.png"] if png else [])
    print("report: wrote " + ", ".join(os.path.join(a.out, o) for o in outs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
