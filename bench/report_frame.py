"""The parts of results.md around the scenarios (bench/report.py): the opening, on the machine,
the method and the peers that ran, and the closing, on the failed cases and what to make of
noisy or saturated runs."""

import os
import platform
import time


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def header(mode, add):
    """The title, and how and where the runs were made."""
    add("# Chat benchmark results")
    add("")
    add(f"- Mode **{mode[0]}**, {mode[1]} run(s); {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"{os.cpu_count()} cores ({cpu_model()}), Linux {platform.release()}; "
        f"load average at start {mode[2].strip()}.")
    add("- Each server pinned to CPU 0 (`taskset -c 0`), the load generator to CPU 1; a fresh server "
        "per scenario and run. Figures: median over runs, [min–max] when runs differ.")
    add("- Latency is send-to-arrival for every expected delivery (arrival: the kernel's receive "
        "timestamp on the receiver's socket, so the load generator's own backlog is not counted); "
        "a delivery that never arrived "
        "counts as the time from the last send to the cut-off, so with losses the figure is a "
        "lower bound (marked ≥).")
    add("")


def peers(shown, status, recs, label, what, add):
    """Each peer, what it is, and whether it ran (and how many of its cases failed)."""
    add("## Peers")
    add("")
    add("| server | what | status |")
    add("|---|---|---|")
    failed_runs = {}
    for r in recs:
        if not r.get("ok"):
            failed_runs.setdefault(r.get("peer"), []).append(r)
    for p in shown:
        st = status.get(p, {"state": "not run", "detail": ""})
        s = st["state"] if not st["detail"] else f"{st['state']}: {st['detail']}"
        if st["state"] == "ready":
            nfail = len(failed_runs.get(p, []))
            s = "ran" + (f"; {nfail} case(s) failed (see below)" if nfail else "")
        add(f"| {label[p]} | {what[p]} | {s} |")
    add("")


def failed_cases(recs, label, add):
    failed = [r for r in recs if not r.get("ok")]
    if not failed:
        return
    add("## Failed cases")
    add("")
    for r in failed:
        err = " ".join(str(r.get("error", "")).split())[:300]
        add(f"- run {r.get('run')} {label.get(r.get('peer'), r.get('peer'))} {r.get('case')}: {err}")
    add("")


def footer(recs, noisy, saturated, label, add):
    """The failed cases, a note where other load or a busy load generator blurs the fan-out
    (`noisy`, `saturated`), and where the raw data is."""
    failed_cases(recs, label, add)
    if noisy:
        add("Note: ⚠ in the last column: over 10% of the server's or the load generator's core "
            "went to other processes during the measurement (a build, say); those figures are noisy.")
        add("")
    if saturated:
        add("Note: in some fan-out cases the load generator used over 90% of its core; those "
            "latencies include its own queueing and are an upper bound for the fastest servers.")
        add("")
    add("Raw data: `results.json` (summary and every run), `raw/`; charts: `latency.png` (fan-out), "
        "`rooms.png` (many rooms).")
