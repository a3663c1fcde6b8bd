#!/usr/bin/env python3
"""Turn the raw output of bench/guest.sh into results.json, results.md and PNG plots.

usage: report.py RAW-DIR OUT-DIR

RAW-DIR is the bench VM's results directory (build/vm-logs/bench): guest-meta.json,
host-meta.json, reg-*.jsonl (bench/regbench.c) and perftest/ (runs.txt and one
client/server log per run).  Writes OUT-DIR/results.json, OUT-DIR/results.md
(also printed) and OUT-DIR/*.png (gnuplot, pngcairo).  Every figure has a second
panel with the ratio against host memory measured in the same run.  Targets are
reported as met/missed, never asserted: the exit status is 0 whenever the report
could be written.
"""
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

MEMS = ("host", "ivshmem", "nvme")
MEM_LABEL = {"host": "host", "ivshmem": "ivshmem P2P", "nvme": "NVMe CMB P2P"}
BW_TESTS = ("ib_write_bw", "ib_read_bw", "ib_send_bw")
FLAT = 1.5  # "flat": the least-squares fit rises by at most this factor over the range


def fitted_ratio(xs, ys):
    """Least-squares line through (xs, ys); its value at the last x over its value at the first."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    first, last = my + slope * (xs[0] - mx), my + slope * (xs[-1] - mx)
    return last / first if first > 0 else None


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def load_jsonl(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    except OSError:
        pass
    return rows


def human(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def dat_row(x, vals):
    """One line of a gnuplot data file: x, then vals (None as NaN)."""
    return f"{x} " + " ".join("NaN" if v is None else f"{v:.6g}" for v in vals) + "\n"


def parse_perftest(raw):
    """One record per run: bw average MiB/s or latency typical/avg usec."""
    runs = []
    path = os.path.join(raw, "perftest", "runs.txt")
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        return runs
    for line in lines:
        parts = line.split()
        if len(parts) < 7:
            continue
        test, mem, size, rep, iters, status, secs = parts[:7]
        rec = {"test": test, "mem": mem, "size": int(size), "rep": int(rep),
               "iters": int(iters), "status": int(status), "seconds": float(secs)}
        name = f"{test}-{mem}-{size}-{rep}"
        try:
            text = open(os.path.join(raw, "perftest", name + "-client.log")).read()
        except OSError:
            text = ""
        for l in text.splitlines():
            f = l.split()
            if l.startswith(" P2P provider"):
                rec["p2p_provider"] = l.split(":", 1)[1].strip()
            elif l.startswith(" P2P path class"):
                rec["p2p_path"] = " ".join(l.split())
            if len(f) >= 5 and f[0] == size and f[1] == iters:
                try:
                    if test.endswith("_bw"):
                        rec["bw_peak_MiBps"] = float(f[2])
                        rec["bw_avg_MiBps"] = float(f[3])
                        rec["msg_rate_Mpps"] = float(f[4])
                    elif len(f) >= 9:
                        rec["lat_min_us"] = float(f[2])
                        rec["lat_max_us"] = float(f[3])
                        rec["lat_typical_us"] = float(f[4])
                        rec["lat_avg_us"] = float(f[5])
                        rec["lat_stdev_us"] = float(f[6])
                        rec["lat_p99_us"] = float(f[7])
                        rec["lat_p999_us"] = float(f[8])
                except ValueError:
                    pass
        # perftest sometimes prints 0.00 for a run that completed (seen with
        # long runs under TCG): a completed transfer cannot have 0 bandwidth
        # ... and under TCG ib_write_lat sometimes prints "inf" for every
        # latency (its cycle counter calibration failed): not a measurement
        rec["ok"] = rec["status"] == 0 and (rec.get("bw_avg_MiBps", 0) > 0 or
                                            math.isfinite(rec.get("lat_typical_us", math.inf)))
        runs.append(rec)
    return runs


def summarise_perftest(runs):
    """{test: {size: {mem: median value over repetitions}}}; bw: MiB/s, lat: typical usec."""
    out = {}
    for r in runs:
        if not r["ok"]:
            continue
        key = "bw_avg_MiBps" if r["test"].endswith("_bw") else "lat_typical_us"
        out.setdefault(r["test"], {}).setdefault(r["size"], {}).setdefault(r["mem"], []).append(r[key])
    return {t: {s: {m: statistics.median(v) for m, v in ms.items()} for s, ms in sizes.items()}
            for t, sizes in out.items()}


def load_hostreg(hdir):
    """The kernel comparison's boots, in order: {round, kernel, name, load_before, load_after, rows}."""
    boots = []
    try:
        lines = open(os.path.join(hdir, "runs.txt")).read().splitlines()[1:]
    except OSError:
        return boots
    for line in lines:
        f = line.split()
        if len(f) < 6 or f[5] != "0":  # a boot that failed measured nothing to compare
            continue
        boots.append({"round": int(f[0]), "kernel": f[1], "name": f[2], "load_before": f[3],
                      "load_after": f[4], "guest": load_json(os.path.join(hdir, f[2], "guest-meta.json"), {}),
                      "rows": load_jsonl(os.path.join(hdir, f[2], "hostreg.jsonl"))})
    return boots


def hostreg_medians(boots, kernel, bench, size):
    """The per-boot medians of BENCH at SIZE on the boots of KERNEL, in boot order."""
    return [r["median_us"] for b in boots if b["kernel"] == kernel
            for r in b["rows"] if r["bench"] == bench and r["size"] == size]




def reg_table(rows, bench, mem):
    return {r["size"]: r for r in rows if r["bench"] == bench and r["mem"] == mem}


def main():
    raw, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    meta = {"host": load_json(os.path.join(raw, "host-meta.json"), {}),
            "guest": load_json(os.path.join(raw, "guest-meta.json"), {})}
    runs = parse_perftest(raw)
    perf = summarise_perftest(runs)
    reg_iv = load_jsonl(os.path.join(raw, "reg-ivshmem.jsonl"))
    reg_nv = load_jsonl(os.path.join(raw, "reg-nvme.jsonl"))
    prov = load_jsonl(os.path.join(raw, "reg-providers.jsonl"))
    lib = load_jsonl(os.path.join(raw, "reg-library.jsonl"))
    allocs = {mem: load_jsonl(os.path.join(raw, f"alloc-{mem}.jsonl")) for mem in ("ivshmem", "nvme")}
    deregs = load_jsonl(os.path.join(raw, "dereg.jsonl"))
    hostreg_boots = load_hostreg(os.path.join(raw, "hostreg"))

    host_reg = reg_table(reg_iv, "reg", "host")
    host_dereg = reg_table(reg_iv, "dereg", "host")
    iv_reg = reg_table(reg_iv, "reg", "p2p")
    iv_dereg = reg_table(reg_iv, "dereg", "p2p")
    iv_alloc = reg_table(reg_iv, "p2p_alloc", "p2p")
    nv_reg = reg_table(reg_nv, "reg", "p2p")
    nv_alloc = reg_table(reg_nv, "p2p_alloc", "p2p")
    host_reg_nvrun = reg_table(reg_nv, "reg", "host")

    def med(t, s):
        return t[s]["median_us"] if s in t else None

    # ---- targets ----------------------------------------------------------
    targets = []

    def target(name, value, op, threshold, detail, na_reason="not measured"):
        if value is None:
            targets.append({"target": name, "value": None, "op": op, "threshold": threshold,
                            "met": None, "detail": na_reason})
            return
        met = value >= threshold if op == ">=" else value <= threshold if op == "<=" else value < threshold
        targets.append({"target": name, "value": round(value, 4), "op": op, "threshold": threshold,
                        "met": met, "detail": detail})

    wb = perf.get("ib_write_bw", {}).get(65536, {})
    target("ib_write_bw 64 KiB, ivshmem P2P / host", ratio(wb.get("ivshmem"), wb.get("host")), ">=", 0.95,
           f"{fmt(wb.get('ivshmem'))} / {fmt(wb.get('host'))} MiB/s")
    for size, ms in sorted(perf.get("ib_write_lat", {}).items()):
        target(f"ib_write_lat {human(size)}, ivshmem P2P / host (t_typical)",
               ratio(ms.get("ivshmem"), ms.get("host")), "<=", 1.05,
               f"{fmt(ms.get('ivshmem'), 2)} / {fmt(ms.get('host'), 2)} us")
    sizes = sorted(iv_reg)
    if sizes:
        lo, hi = sizes[0], sizes[-1]
        target(f"P2P (ivshmem) registration {human(hi)} / {human(lo)}", ratio(med(iv_reg, hi), med(iv_reg, lo)),
               "<=", 2.0, f"{fmt(med(iv_reg, hi))} / {fmt(med(iv_reg, lo))} us")
        target(f"P2P / host registration at {human(hi)}", ratio(med(iv_reg, hi), med(host_reg, hi)), "<", 1.0,
               f"{fmt(med(iv_reg, hi))} / {fmt(med(host_reg, hi))} us")
        vals = [med(iv_reg, s) for s in sizes]
        xs = [s.bit_length() - 1 for s in sizes]  # log2(size)
        hvals = [med(host_reg, s) for s in sizes]
        target(f"map (ivshmem ibv_reg_dmabuf_mr) flat in size: least-squares fit over log2(size), "
               f"fit({human(hi)}) / fit({human(lo)})", fitted_ratio(xs, vals), "<=", FLAT,
               f"medians {fmt(min(vals))}..{fmt(max(vals))} us (max/min {max(vals) / min(vals):.2f}); "
               f"host ibv_reg_mr fit ratio {fmt(fitted_ratio(xs, hvals), 1)}")
    alone = [r for r in prov if r["bench"] == "prov_reg"]
    live = [r for r in prov if r["bench"] == "prov_reg_live"]
    queries = [r for r in prov if r["bench"] == "prov_query"]
    if alone:
        vals = [r["median_us"] for r in alone]
        target(f"map flat in number of providers, each alone: least-squares fit over k, "
               f"fit(k={len(alone)}) / fit(k=1)", fitted_ratio([r["index"] for r in alone], vals), "<=", FLAT,
               f"medians {fmt(min(vals))}..{fmt(max(vals))} us (max/min {max(vals) / min(vals):.2f}); "
               f"provider {len(alone)} / provider 1 = {fmt(ratio(vals[-1], vals[0]), 2)}")
    if live:
        vals = [r["median_us"] for r in live]
        target(f"map flat with k-1 other providers' buffers registered: fit(k={len(live)}) / fit(k=1)",
               fitted_ratio([r["index"] for r in live], vals), "<=", FLAT,
               f"medians {fmt(min(vals))}..{fmt(max(vals))} us (max/min {max(vals) / min(vals):.2f}); "
               f"provider {len(live)} / provider 1 = {fmt(ratio(vals[-1], vals[0]), 2)}")
    if queries:
        vals = [r["median_us"] for r in queries]
        target(f"P2PMEM_IOC_MAP_QUERY flat in number of providers: fit(k={len(queries)}) / fit(k=1)",
               fitted_ratio([r["index"] for r in queries], vals), "<=", FLAT,
               f"medians {fmt(min(vals), 2)}..{fmt(max(vals), 2)} us")

    # libp2pverbs over the verbs it calls (interleaved samples, same buffer)
    lib_reg = {(r["mem"], r["api"], r["size"]): r["median_us"] for r in lib if r["bench"] == "lib_reg"}
    for (mem, api, size), us in sorted(lib_reg.items()):
        raw_us = lib_reg.get((mem, "raw", size))
        if api in ("raw", "raw_mapping"):
            continue
        call = "ibv_reg_dmabuf_mr" if mem == "p2p" else "ibv_reg_mr"
        target(f"{api} / raw {call}, {mem} memory {human(size)}", ratio(us, raw_us), "<=",
               1.10 if mem == "p2p" else 1.02, f"{fmt(us)} / {fmt(raw_us)} us")
    choose = [r for r in lib if r["bench"] == "choose"]
    first = [r for r in lib if r["bench"] == "choose_first"]
    if choose:
        target(f"p2pv_choose_provider among {choose[0].get('providers')} providers after the first call, usec",
               choose[0]["median_us"], "<=", 100.0,
               f"first call {fmt(first[0]['median_us']) if first else '–'} us, chose {choose[0].get('chosen')}")

    # issue 17: allocation from an idle pool, host registration without the
    # uverbs dma-buf lookup, deregistration of P2P against host MRs
    alloc_med = {(mem, r["call"], r["bench"], r["size"]): r for mem, rows in allocs.items() for r in rows}
    for mem in ("ivshmem", "nvme"):
        big, small = alloc_med.get((mem, "ALLOC", "p2p_alloc_idle", 32 << 20)), \
            alloc_med.get((mem, "ALLOC", "p2p_alloc_idle", 4096))
        if big and small:
            busy = big.get("not_idle", 0)
            target(f"issue 17: P2PMEM_IOC_ALLOC from an idle pool, {MEM_LABEL[mem]}, 32 MiB / 4 KiB",
                   ratio(big["median_us"], small["median_us"]), "<=", 2.0,
                   f"{fmt(big['median_us'])} / {fmt(small['median_us'])} us, median of {big['samples']}"
                   + (f"; {busy} samples taken without an idle second first" if busy else ""))
    for size in (1 << 20, 16 << 20):
        ser, base = hostreg_medians(hostreg_boots, "series", "hostreg", size), \
            hostreg_medians(hostreg_boots, "base", "hostreg", size)
        if ser and base:
            target(f"issue 17: host ibv_reg_mr {human(size)}, full series / base kernel (median of per-boot medians)",
                   ratio(statistics.median(ser), statistics.median(base)), "<=", 1.02,
                   f"{fmt(statistics.median(ser))} / {fmt(statistics.median(base))} us; "
                   f"boots: series {', '.join(fmt(v) for v in ser)}, "
                   f"base {', '.join(fmt(v) for v in base)}")
    dereg_med = {(r["mem"], r["size"]): r for r in deregs if r["bench"] == "dereg_pair"}
    for size in sorted({sz for _, sz in dereg_med}):
        p2p, host = dereg_med.get(("p2p", size)), dereg_med.get(("host", size))
        if p2p and host:
            target(f"issue 17: rxe ibv_dereg_mr {human(size)}, P2P (ivshmem) MR / host MR",
                   ratio(p2p["median_us"], host["median_us"]), "<=", 2.0,
                   f"{fmt(p2p['median_us'])} / {fmt(host['median_us'])} us, median of {p2p['samples']} interleaved")

    # ---- results.json -----------------------------------------------------
    results = {
        "meta": meta,
        "targets": targets,
        "perftest": {
            "unit": {"bw": "MiB/s (perftest BW average)", "lat": "usec (perftest t_typical)"},
            "summary": {t: {str(s): {**ms, **{f"{m}/host": ratio(ms.get(m), ms.get("host"))
                                             for m in ("ivshmem", "nvme")}}
                            for s, ms in sorted(sz.items())} for t, sz in perf.items()},
            "runs": runs,
        },
        "library": lib,
        "issue17": {"alloc": allocs, "dereg": deregs, "hostreg_boots": hostreg_boots},
        "registration": {
            "unit": "usec, median of repetitions (CLOCK_MONOTONIC around the call)",
            "sizes_ivshmem_run": reg_iv,
            "sizes_nvme_run": reg_nv,
            "providers_run": prov,
        },
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    # ---- results.md -------------------------------------------------------
    md = []
    h, g = meta["host"], meta["guest"]
    md.append("# p2pverbs benchmark results\n")
    md.append(f"Run {h.get('date', '?')} (git {h.get('git', '?')}), {h.get('qemu', 'QEMU')} TCG on "
              f"{h.get('host_cpus', '?')} host cores ({h.get('host_cpu_model', '?')}), host load "
              f"{h.get('host_loadavg_before', '?')} before / {h.get('host_loadavg_after', '?')} after; "
              f"guest {g.get('guest_cpus', '?')} vCPUs, kernel {g.get('kernel', '?').split()[0]}, "
              f"VM wall time {h.get('vm_seconds', '?')} s.  rxe0 (server) <-> rxe1 (client) over a veth pair.  "
              f"ivshmem P2P = {g.get('ivshmem', '?')} ({human(g.get('ivshmem_p2p_bytes', 0))}), "
              f"NVMe CMB P2P = {g.get('nvme', '?')} ({human(g.get('nvme_p2p_bytes', 0))} published).\n")

    md.append("## Targets (reported, not asserted)\n")
    md.append("| target | value | wanted | result | detail |")
    md.append("| --- | ---: | --- | --- | --- |")
    for t in targets:
        res = "n/a" if t["met"] is None else ("**met**" if t["met"] else "**MISSED**")
        md.append(f"| {t['target']} | {fmt(t['value'], 3) if t['value'] is not None else '–'} | "
                  f"{t['op']} {t['threshold']} | {res} | {t['detail']} |")
    md.append("")

    if alloc_med:
        md.append("## Allocation from an idle pool (issue 17), median usec\n")
        md.append("Each sample after a second in which the guest's CPUs were idle (the zero worker had "
                  "cleared what the sample before freed); 4 KiB and 32 MiB alternate.  call: "
                  "`P2PMEM_IOC_ALLOC`, or the allocating `mmap()` of the node; +free: with the `close()` / "
                  "`munmap()` that frees the buffer.\n")
        md.append("| provider | call | 4 KiB | 32 MiB | 32 MiB / 4 KiB | 4 KiB +free | 32 MiB +free | / |")
        md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for mem in ("ivshmem", "nvme"):
            for call in ("ALLOC", "mmap"):
                v = [alloc_med.get((mem, call, b, sz), {}).get("median_us")
                     for b in ("p2p_alloc_idle", "p2p_alloc_close_idle") for sz in (4096, 32 << 20)]
                if v[0] is None:
                    continue
                md.append(f"| {MEM_LABEL[mem]} | {call} | {fmt(v[0])} | {fmt(v[1])} | {fmt(ratio(v[1], v[0]), 3)} | "
                          f"{fmt(v[2])} | {fmt(v[3])} | {fmt(ratio(v[3], v[2]), 3)} |")
        md.append("")
    if dereg_med:
        md.append("## ibv_dereg_mr, host against P2P MRs (issue 17), median usec\n")
        md.append("rxe0; each round deregisters one host MR (touched anonymous memory) and one ivshmem dma-buf "
                  "MR of the same size, host first in even rounds.\n")
        md.append("| size | host | P2P | P2P / host | host min..max | P2P min..max |")
        md.append("| ---: | ---: | ---: | ---: | --- | --- |")
        for size in sorted({sz for _, sz in dereg_med}):
            hd, pd = dereg_med.get(("host", size)), dereg_med.get(("p2p", size))
            if hd and pd:
                md.append(f"| {human(size)} | {fmt(hd['median_us'])} | {fmt(pd['median_us'])} | "
                          f"{fmt(ratio(pd['median_us'], hd['median_us']), 3)} | "
                          f"{fmt(hd['min_us'])}..{fmt(hd['max_us'])} | {fmt(pd['min_us'])}..{fmt(pd['max_us'])} |")
        md.append("")
    if hostreg_boots:
        md.append(f"## Host ibv_reg_mr: full series against the base kernel (issue 17), median usec per boot\n")
        md.append(f"Base: {h.get('base_kernel', '?')}.  One small VM per boot (rc topology), in this order; "
                  "each runs `regbench hostreg rxe0` (1 MiB and 16 MiB alternating).  Host load: 1-minute "
                  "average before / after the boot.\n")
        md.append("| boot | kernel | reg 1 MiB | reg 16 MiB | dereg 1 MiB | dereg 16 MiB | host load |")
        md.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for b in hostreg_boots:
            m = {(r["bench"], r["size"]): r["median_us"] for r in b["rows"]}
            md.append(f"| {b['name']} | {b['kernel']} | {fmt(m.get(('hostreg', 1 << 20)))} | "
                      f"{fmt(m.get(('hostreg', 16 << 20)))} | {fmt(m.get(('hostreg_dereg', 1 << 20)))} | "
                      f"{fmt(m.get(('hostreg_dereg', 16 << 20)))} | {b['load_before']} / {b['load_after']} |")
        md.append("")

    if lib_reg:
        reps = next((r.get("samples") or r.get("n") for r in lib if r["bench"] == "lib_reg"), None)
        md.append("## libp2pverbs registration against the verbs it calls (rxe0), median usec\n")
        md.append("Interleaved samples on the same buffer"
                  + (f" ({reps} each)" if reps else "") + ".  p2p raw: `ibv_reg_dmabuf_mr` on the buffer's fd; "
                  "raw_mapping: plain `ibv_reg_mr` of the buffer's mapping, which the kernel resolves to the "
                  "dma-buf; p2pv_reg_mr: the library, which hands the address to the kernel; p2pv_reg_buf: the "
                  "library, by the buffer's fd.  host raw: `ibv_reg_mr`.\n")
        md.append("| memory | size | call | median | / raw |")
        md.append("| --- | ---: | --- | ---: | ---: |")
        order = {"raw": 0, "raw_mapping": 1, "p2pv_reg_mr": 2, "p2pv_reg_buf": 3}
        for (mem, api, size), us in sorted(lib_reg.items(), key=lambda kv: (kv[0][0] != "p2p", kv[0][2],
                                                                            order.get(kv[0][1], 9))):
            md.append(f"| {mem} | {human(size)} | {api} | {fmt(us)} | "
                      f"{fmt(ratio(us, lib_reg.get((mem, 'raw', size))), 3)} |")
        md.append("")

    for test in BW_TESTS:
        if test not in perf:
            continue
        md.append(f"## {test}: average bandwidth, MiB/s (perftest BW average)\n")
        md.append("| size | host | ivshmem P2P | ivshmem / host | NVMe CMB P2P | NVMe / host |")
        md.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for s, ms in sorted(perf[test].items()):
            md.append(f"| {human(s)} | {fmt(ms.get('host'))} | {fmt(ms.get('ivshmem'))} | "
                      f"{fmt(ratio(ms.get('ivshmem'), ms.get('host')), 3)} | {fmt(ms.get('nvme'))} | "
                      f"{fmt(ratio(ms.get('nvme'), ms.get('host')), 3)} |")
        md.append("")
    if "ib_write_lat" in perf:
        md.append("## ib_write_lat: typical latency (median), usec\n")
        md.append("| size | host | ivshmem P2P | ivshmem / host | NVMe CMB P2P | NVMe / host |")
        md.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for s, ms in sorted(perf["ib_write_lat"].items()):
            md.append(f"| {human(s)} | {fmt(ms.get('host'), 2)} | {fmt(ms.get('ivshmem'), 2)} | "
                      f"{fmt(ratio(ms.get('ivshmem'), ms.get('host')), 3)} | {fmt(ms.get('nvme'), 2)} | "
                      f"{fmt(ratio(ms.get('nvme'), ms.get('host')), 3)} |")
        md.append("")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        md.append("Runs left out of the medians (non-zero exit, no result row, a 0.00 MiB/s or an inf usec report): " +
                  ", ".join(f"{r['test']} {r['mem']} {human(r['size'])} run {r['rep']} (status {r['status']})"
                            for r in failed) + "\n")

    if sizes:
        md.append("## Memory registration against size (rxe0), median usec\n")
        md.append("host: `ibv_reg_mr` of a touched anonymous mapping; P2P: `ibv_reg_dmabuf_mr` of a "
                  "`/dev/p2pmem` dma-buf (attach + pin + vmap); alloc: `P2PMEM_IOC_ALLOC` "
                  "from an idle pool (memory the exporter's zero worker cleared before; each after a "
                  "second in which the guest's CPUs were idle).\n")
        md.append("| size | host reg | ivshmem reg | ivshmem / host | NVMe CMB reg | NVMe / host | "
                  "host dereg | ivshmem dereg | ivshmem alloc | NVMe alloc |")
        md.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in sorted(set(sizes) | set(nv_reg)):
            hr = med(host_reg, s) if s in host_reg else med(host_reg_nvrun, s)
            md.append(f"| {human(s)} | {fmt(hr)} | {fmt(med(iv_reg, s))} | {fmt(ratio(med(iv_reg, s), hr), 3)} | "
                      f"{fmt(med(nv_reg, s))} | {fmt(ratio(med(nv_reg, s), hr), 3)} | "
                      f"{fmt(med(host_dereg, s))} | {fmt(med(iv_dereg, s))} | {fmt(med(iv_alloc, s))} | "
                      f"{fmt(med(nv_alloc, s))} |")
        md.append("")
    if alone:
        hp = next((r for r in prov if r["bench"] == "prov_host_reg"), None)
        hv = hp["median_us"] if hp else None
        md.append(f"## Registration against the number of providers ({len(alone)} NVMe CMBs of 2 MiB), "
                  f"{human(alone[0]['size'])} buffers, median usec\n")
        md.append(f"host reference (`ibv_reg_mr`, {human(alone[0]['size'])}, same run): {fmt(hv)} us.  "
                  "alone: only this provider's buffer registered; with k-1 live: the buffers of providers "
                  "1..k-1 stay registered.  query: `P2PMEM_IOC_MAP_QUERY` for the edu device.\n")
        md.append("| k | provider | query | reg (alone) | reg / host | reg (k-1 live) | dereg (alone) |")
        md.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        dl = {r["index"]: r for r in prov if r["bench"] == "prov_dereg"}
        lv = {r["index"]: r for r in live}
        qs = {r["index"]: r for r in queries}
        for r in alone:
            k = r["index"]
            md.append(f"| {k} | {r['provider']} | {fmt(qs[k]['median_us'] if k in qs else None, 2)} | "
                      f"{fmt(r['median_us'])} | {fmt(ratio(r['median_us'], hv), 3)} | "
                      f"{fmt(lv[k]['median_us'] if k in lv else None)} | "
                      f"{fmt(dl[k]['median_us'] if k in dl else None)} |")
        md.append("")
    text = "\n".join(md)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    print(text)

    # ---- plots --------------------------------------------------------------
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found, no plots (tests/setup.sh installs gnuplot-nox)", file=sys.stderr)
        return
    datdir = os.path.join(out, "plotdata")
    os.makedirs(datdir, exist_ok=True)
    scripts = []

    def two_panel(png, title, xlabel, ylabel, top, bottom, logx=True, logy=False, rlabel="ratio vs host",
                  extra_ratio_lines=(), rlogy=False):
        s = [f"set terminal pngcairo noenhanced size 900,900 font ',10'", f"set output '{png}'",
             "set multiplot layout 2,1", "set grid", "set key below",
             f"set xlabel '{xlabel}'"]
        if logx:
            s.append("set logscale x 2")
        s += [f"set title '{title}'", f"set ylabel '{ylabel}'", "set logscale y 10" if logy else "unset logscale y",
              "set yrange [0:*]" if not logy else "set yrange [*:*]", "plot " + ", ".join(top),
              f"set title '{title}: ratio against host memory (same run)'", f"set ylabel '{rlabel}'",
              "set logscale y 10" if rlogy else "unset logscale y", "set yrange [*:*]" if rlogy else "set yrange [0:*]",
              "plot " + ", ".join(list(bottom) + ["1 with lines dt 2 lc rgb 'black' title 'host = 1'"] +
                                  [f"{v} with lines dt 3 lc rgb 'red' title '{t}'" for v, t in extra_ratio_lines]),
              "unset multiplot"]
        scripts.append("\n".join(s))

    for test in list(BW_TESTS) + ["ib_write_lat"]:
        if test not in perf:
            continue
        dat = os.path.join(datdir, f"{test}.dat")
        with open(dat, "w") as f:
            f.write("# size host ivshmem nvme ivshmem/host nvme/host\n")
            for s, ms in sorted(perf[test].items()):
                vals = [ms.get(m) for m in MEMS] + [ratio(ms.get("ivshmem"), ms.get("host")),
                                                    ratio(ms.get("nvme"), ms.get("host"))]
                f.write(dat_row(s, vals))
        is_bw = test.endswith("_bw")
        top = [f"'{dat}' using 1:{c} with linespoints lw 2 title '{MEM_LABEL[m]}'" for c, m in zip((2, 3, 4), MEMS)]
        bottom = [f"'{dat}' using 1:5 with linespoints lw 2 lc 2 title 'ivshmem / host'",
                  f"'{dat}' using 1:6 with linespoints lw 2 lc 3 title 'NVMe CMB / host'"]
        two_panel(os.path.join(out, f"{test}.png"), f"{test}, rxe1 -> rxe0 (QEMU TCG)", "message size (bytes)",
                  "average bandwidth (MiB/s)" if is_bw else "typical latency (usec)", top, bottom,
                  extra_ratio_lines=[(0.95, "target 0.95")] if test == "ib_write_bw" else
                  [(1.05, "target 1.05")] if test == "ib_write_lat" else [])

    if sizes:
        dat = os.path.join(datdir, "reg_size.dat")
        with open(dat, "w") as f:
            f.write("# MiB host_reg ivshmem_reg nvme_reg ivshmem/host nvme/host ivshmem_alloc\n")
            for s in sorted(set(sizes) | set(nv_reg)):
                hr = med(host_reg, s) if s in host_reg else med(host_reg_nvrun, s)
                vals = [hr, med(iv_reg, s), med(nv_reg, s), ratio(med(iv_reg, s), hr), ratio(med(nv_reg, s), hr),
                        med(iv_alloc, s)]
                f.write(dat_row(f"{s / (1 << 20):g}", vals))
        top = [f"'{dat}' using 1:2 with linespoints lw 2 title 'host ibv_reg_mr'",
               f"'{dat}' using 1:3 with linespoints lw 2 title 'ivshmem ibv_reg_dmabuf_mr'",
               f"'{dat}' using 1:4 with linespoints lw 2 title 'NVMe CMB ibv_reg_dmabuf_mr'",
               f"'{dat}' using 1:7 with linespoints lw 1 dt 4 title 'ivshmem P2PMEM_IOC_ALLOC (idle pool)'"]
        bottom = [f"'{dat}' using 1:5 with linespoints lw 2 lc 2 title 'ivshmem / host'",
                  f"'{dat}' using 1:6 with linespoints lw 2 lc 3 title 'NVMe CMB / host'"]
        two_panel(os.path.join(out, "reg_size.png"), "MR registration time vs buffer size (rxe0, median)",
                  "buffer size (MiB)", "time (usec, log)", top, bottom, logy=True, rlogy=True,
                  rlabel="P2P / host (log)")

    if alone:
        hp = next((r for r in prov if r["bench"] == "prov_host_reg"), None)
        hv = hp["median_us"] if hp else None
        dat = os.path.join(datdir, "reg_providers.dat")
        lv = {r["index"]: r["median_us"] for r in live}
        qs = {r["index"]: r["median_us"] for r in queries}
        with open(dat, "w") as f:
            f.write("# k reg_alone reg_live query host reg_alone/host reg_live/host\n")
            for r in alone:
                k = r["index"]
                vals = [r["median_us"], lv.get(k), qs.get(k), hv, ratio(r["median_us"], hv), ratio(lv.get(k), hv)]
                f.write(dat_row(k, vals))
        top = [f"'{dat}' using 1:2 with linespoints lw 2 title 'reg on provider k (alone)'",
               f"'{dat}' using 1:3 with linespoints lw 2 title 'reg on provider k (k-1 others live)'",
               f"'{dat}' using 1:4 with linespoints lw 2 title 'P2PMEM_IOC_MAP_QUERY'",
               f"'{dat}' using 1:5 with lines dt 2 lw 2 title 'host ibv_reg_mr (same size)'"]
        bottom = [f"'{dat}' using 1:6 with linespoints lw 2 lc 1 title 'alone / host'",
                  f"'{dat}' using 1:7 with linespoints lw 2 lc 2 title 'k-1 live / host'"]
        two_panel(os.path.join(out, "reg_providers.png"),
                  f"ibv_reg_dmabuf_mr on the k-th of {len(alone)} NVMe CMBs ({human(alone[0]['size'])})",
                  "provider index k", "time (usec)", top, bottom, logx=False)

    for sc in scripts:
        p = subprocess.run(["gnuplot"], input=sc, text=True, capture_output=True)
        if p.returncode:
            print(f"report: gnuplot failed: {p.stderr}", file=sys.stderr)
    pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    print(f"\nreport: {os.path.join(out, 'results.json')}, {os.path.join(out, 'results.md')}, "
          f"plots: {', '.join(pngs)}", file=sys.stderr)


if __name__ == "__main__":
    main()
