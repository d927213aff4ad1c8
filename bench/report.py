#!/usr/bin/env python3
"""Turns bench/results/raw/*.json (written by bench/run.sh) into results.md, results.json and
latency.png. Every figure is the median over runs with [min-max]. Usage: report.py RESULTS_DIR"""

import glob
import json
import os
import sys

import report_bound
import report_cpu
import report_frame
import report_rooms
import report_scenarios
import report_targets
from report_fmt import med, short, stat

PEERS = ["ours", "ours-typed", "ours-mem", "bun", "socketio", "tungstenite", "node", "demo", "floor"]
# References that run the fan-out scenario only (see bench/run.sh).
FANOUT_ONLY = {"floor"}
# Runs the throughput scenario only: the other store, beside the default.
THROUGHPUT_ONLY = {"ours-mem"}
LABEL = {
    "ours": "ours (/ws, demo protocol)",
    "ours-typed": "ours (/chat, typed)",
    "ours-mem": "ours (/ws, memory store)",
    "bun": "Bun 1.4.4 pub/sub",
    "tungstenite": "tokio-tungstenite hub",
    "node": "Node ws 8",
    "socketio": "Socket.IO 4.8 rooms",
    "demo": "demo (Flask + gevent)",
    "floor": "floor (one send per delivery)",
}
WHAT = {
    "ours": "`server` crate, `/ws/<nick>`",
    "ours-typed": "`server` crate, `/chat`: hello, join, send; receives `message`",
    "ours-mem": "`server` crate, `/ws/<nick>`, `--store memory` (the default is SQLite): "
                "throughput only",
    "bun": "`Bun.serve`, `ws.subscribe` / `ws.publish` (uWebSockets)",
    "tungstenite": "tokio-tungstenite `examples/server.rs` style: unbounded channel per peer",
    "node": "`ws@8`, `perMessageDeflate: false`, broadcast loop of its README",
    "socketio": "Socket.IO 4.8.4 on Node: `socket.join(room)`, `socket.to(room).emit`; WebSocket "
                "transport only, no deflate, heartbeat past the run",
    "demo": "Flask 1.1.4 + gevent-websocket, dict of sockets",
    "floor": "`floor-hub`: one thread, epoll, each message framed once and `send(2)` to every "
             "socket in turn; no queues, limits or storage. A reference, not a server: fan-out only",
}
# Our server against each peer: the ratio it must reach (issue 5).
TARGET = {"bun": 1.0, "node": 5.0, "demo": 30.0}
MEMORY_TARGET_KIB = 16.0


def load(out):
    recs = []
    for path in sorted(glob.glob(os.path.join(out, "raw", "*.json"))):
        try:
            with open(path) as f:
                recs.append(json.load(f))
        except (OSError, ValueError) as e:
            recs.append({"ok": False, "peer": "?", "case": os.path.basename(path), "run": 0,
                         "error": f"unreadable: {e}"})
    status = {}
    spath = os.path.join(out, "logs", "status.tsv")
    if os.path.exists(spath):
        for line in open(spath):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                status[parts[0]] = {"state": parts[1], "detail": parts[2] if len(parts) > 2 else ""}
    mode = ["?", "?", "?"]
    mpath = os.path.join(out, "logs", "mode.txt")
    if os.path.exists(mpath):
        mode = open(mpath).read().split(maxsplit=2) + ["?"] * 3
    return recs, status, mode


def summarize(recs):
    ok = [r for r in recs if r.get("ok")]
    by = {}
    for r in ok:
        by.setdefault((r["peer"], r["case"]), []).append(r["result"]["report"])
    sizes = sorted({int(c.split("-")[1]) for (_, c) in by if c.startswith("fanout-")})
    rates = sorted({p["rate"] for (p_, c), reps in by.items() if c.startswith("fanout-")
                    for rep in reps for p in rep["phases"]})
    summary = {"fanout": {}, "throughput": {}, "memory": {}, "slow": {}, "storm": {}, "rooms": {}, "sizes": sizes,
               "rates": rates}
    for (peer, case), reps in by.items():
        if case.startswith("fanout-"):
            n = int(case.split("-")[1])
            for rate in rates:
                ph = [p for rep in reps for p in rep["phases"] if p["rate"] == rate]
                if not ph:
                    continue
                summary["fanout"].setdefault(peer, {}).setdefault(str(n), {})[str(rate)] = {
                    "p50_us": stat(p["latency"]["p50_us"] for p in ph),
                    "p99_us": stat(p["latency"]["p99_us"] for p in ph),
                    "max_us": stat(p["latency"]["max_us"] for p in ph),
                    "lost_ratio": stat(p["lost_ratio"] for p in ph),
                    "deliveries_per_s": stat(p["deliveries_per_s"] for p in ph),
                    "server_cpu_s": stat(p["cpu"]["server_cpu_s"] for p in ph),
                    "cpu_us_per_delivery": stat(p["cpu"]["server_cpu_s"] / p["delivered"] * 1e6
                                                for p in ph
                                                if p["cpu"]["server_cpu_s"] is not None and p["delivered"]),
                    "loadgen_busy": stat(p["cpu"]["loadgen_busy"] for p in ph),
                    "others_cpu0": stat(p["cpu"].get("others_on_server_cpu") for p in ph),
                    "others_cpu1": stat(p["cpu"].get("others_on_loadgen_cpu") for p in ph),
                    "send_stalled": any(p["send_stalled"] for p in ph),
                    "connect_failed": stat(rep["connect_failed"] for rep in reps),
                    "setup_s": stat(rep["connect_s"] + rep["settle_s"] for rep in reps),
                }
            summary["memory"].setdefault(peer, {})[str(n)] = {
                "bytes_per_conn": stat(rep["idle_bytes_per_conn"] for rep in reps),
                "rss_idle_kib": stat(rep["rss_idle_kib"] for rep in reps),
                "connected": stat(rep["connected"] for rep in reps),
            }
        elif case == "throughput":
            summary["throughput"][peer] = {
                "deliveries_per_s": stat(r["deliveries_per_s"] for r in reps),
                "cpu_s_per_million": stat(r["server_cpu_s_per_million"] for r in reps),
                "p50_us": stat(r["latency"]["p50_us"] for r in reps),
                "p99_us": stat(r["latency"]["p99_us"] for r in reps),
                "loadgen_busy": stat(r["cpu"]["loadgen_busy"] for r in reps),
                "lost": stat(r["lost"] for r in reps),
                "deliveries_per_send": stat(r["deliveries_per_s"] / r["sends_per_s"] for r in reps
                                            if r.get("sends_per_s")),
                "disconnects": sum(sum(r["disconnects"].values()) for r in reps),
            }
        elif case == "store-floor":
            summary["store_floor"] = report_bound.summarize(reps)
        elif case == "storm":
            resumed = [r["resume"] for r in reps if r.get("resume")]
            summary["storm"][peer] = {
                "clients": reps[0]["clients"],
                "back": stat(r["back"] for r in reps),
                "server_up_s": stat(r["server_up_s"] for r in reps),
                "all_back_s": stat(r["all_back_s"] for r in reps),
                "server_cpu_s": stat(r["server_cpu_s"] for r in reps),
                "attempts_per_client": stat(r["attempts"] / r["clients"] for r in reps),
                "max_attempts": max(r["max_attempts_one_client"] for r in reps),
                "resume_checked": bool(resumed),
                "acked": stat(x["acked"] for x in resumed),
                "missing": sum(x["missing_total"] for x in resumed),
                "duplicates": sum(x["duplicates_total"] for x in resumed),
                "from_pages": stat(x["ids_from_resume_pages"] for x in resumed),
            }
        elif case == "rooms":
            summary["rooms"][peer] = report_rooms.summarize(reps)
        elif case == "slow":
            rows = []
            for rep in reps:
                base, slow = rep["phases"][0], rep["phases"][1]
                b_start = base["cpu"]["wall_s"]
                b_end = b_start + slow["cpu"]["wall_s"]
                samples = rep["rss_samples"]
                inb = [kib for t, kib in samples if b_start <= t <= b_end]
                before = [kib for t, kib in samples if t <= b_start]
                start = before[-1] if before else (inb[0] if inb else None)
                rows.append({
                    "p99_base_us": base["latency"]["p99_us"],
                    "p99_slow_us": slow["latency"]["p99_us"],
                    "lost_base": base["lost_ratio"],
                    "lost_slow": slow["lost_ratio"],
                    "rss_start_kib": start,
                    "rss_end_kib": inb[-1] if inb else None,
                    "rss_max_kib": max(inb) if inb else None,
                    "fate": ", ".join(f"{v}× {k}" for k, v in sorted(rep["slow_fate"].items())) or "–",
                    "slow": rep["slow"],
                    "sent_stopped": slow["sent"],
                    "slow_received": rep["slow_received"],
                    "others_disconnected": sum(rep["disconnects"].values()),
                    "loadgen_busy": max(base["cpu"]["loadgen_busy"], slow["cpu"]["loadgen_busy"]),
                })
            summary["slow"][peer] = {
                "p99_base_us": stat(r["p99_base_us"] for r in rows),
                "p99_slow_us": stat(r["p99_slow_us"] for r in rows),
                # With deliveries lost the p99s are cut-offs, not latencies: no ratio then.
                "ratio": stat(r["p99_slow_us"] / r["p99_base_us"] for r in rows
                              if r["p99_base_us"] and r["lost_base"] < 0.01 and r["lost_slow"] < 0.01),
                "overloaded_runs": sum(1 for r in rows if r["lost_base"] >= 0.01 or r["lost_slow"] >= 0.01),
                "lost_base": stat(r["lost_base"] for r in rows),
                "lost_slow": stat(r["lost_slow"] for r in rows),
                "rss_start_kib": stat(r["rss_start_kib"] for r in rows),
                "rss_end_kib": stat(r["rss_end_kib"] for r in rows),
                "rss_growth_kib": stat((r["rss_end_kib"] - r["rss_start_kib"]) for r in rows
                                       if r["rss_end_kib"] is not None and r["rss_start_kib"] is not None),
                "fates": sorted({r["fate"] for r in rows}),
                "slow": rows[0]["slow"],
                "sent_stopped": stat(r["sent_stopped"] for r in rows),
                "slow_received_each": stat(r["slow_received"] / r["slow"] for r in rows if r["slow"]),
                "others_disconnected": sum(r["others_disconnected"] for r in rows),
                "loadgen_busy": stat(r["loadgen_busy"] for r in rows),
            }
    return summary


def markdown(summary, status, mode, recs):
    """results.md: its sections in order."""
    peers = [p for p in PEERS if p in status] or PEERS
    full = [p for p in peers if p not in FANOUT_ONLY]
    # Every scenario but the fan-out and throughput.
    servers = [p for p in full if p not in THROUGHPUT_ONLY]
    # The fan-out's and its CPU per delivery's.
    fan_peers = [p for p in peers if p not in THROUGHPUT_ONLY]
    cases = [(n, rate) for rate in summary["rates"] for n in summary["sizes"]]
    lines = []
    add = lines.append
    report_frame.header(mode, add)
    report_frame.peers(peers, status, recs, LABEL, WHAT, add)
    report_targets.section(summary, peers, cases, LABEL, TARGET, MEMORY_TARGET_KIB, add)
    saturated, noisy = report_scenarios.fanout(summary, fan_peers, LABEL, add)
    report_cpu.section(summary, fan_peers, cases, LABEL, add)
    report_scenarios.throughput(summary, full, LABEL, add)
    report_bound.section(summary, LABEL, add)
    report_scenarios.memory(summary, servers, LABEL, add)
    report_scenarios.slow(summary, servers, LABEL, add)
    report_scenarios.storm(summary, full, LABEL, add)
    report_rooms.section(summary, servers, LABEL, add)
    report_frame.footer(recs, noisy, saturated, LABEL, add)
    return "\n".join(lines) + "\n"


def chart(summary, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    rates, sizes = summary["rates"], summary["sizes"]
    if not rates or not sizes:
        return False
    fig, axes = plt.subplots(1, len(rates), figsize=(6 * len(rates), 4.5), squeeze=False)
    for ax, rate in zip(axes[0], rates):
        for p in PEERS:
            rows = summary["fanout"].get(p, {})
            xs, ys, lo, hi, p50, lossy = [], [], [], [], [], []
            for n in sizes:
                c = rows.get(str(n), {}).get(str(rate))
                if not c or not c["p99_us"]:
                    continue
                xs.append(n)
                ys.append(c["p99_us"]["median"] / 1000)
                lo.append(ys[-1] - c["p99_us"]["min"] / 1000)
                hi.append(c["p99_us"]["max"] / 1000 - ys[-1])
                p50.append(c["p50_us"]["median"] / 1000)
                lossy.append(bool(med(c["lost_ratio"])))
            if not xs:
                continue
            style = {"color": "black", "linestyle": "--"} if p == "floor" else {}
            line = ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=f"{LABEL[p]} p99",
                               **style)
            color = line[0].get_color()
            ax.plot(xs, p50, linestyle=":", marker=".", color=color, alpha=0.7)
            lx = [x for x, bad in zip(xs, lossy) if bad]
            ly = [y for y, bad in zip(ys, lossy) if bad]
            if lx:
                ax.scatter(lx, ly, s=90, facecolors="white", edgecolors=color, linewidths=2, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([short(n) for n in sizes])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("receivers in the room")
        ax.set_ylabel("delivery latency, ms (solid p99 [min–max], dotted p50)")
        ax.set_title(f"Fan-out, one sender at {rate} msg/s\n(open circle: deliveries lost, p99 is a lower bound)",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    recs, status, mode = load(out)
    summary = summarize(recs)
    md = markdown(summary, status, mode, recs)
    if not chart(summary, os.path.join(out, "latency.png")):
        md += "\n(No chart: matplotlib is not installed.)\n"
    elif summary["rooms"]:
        report_rooms.chart(summary, PEERS, LABEL, os.path.join(out, "rooms.png"))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"mode": mode, "status": status, "summary": summary, "runs": recs}, f, indent=1)
    print(md)


if __name__ == "__main__":
    main()
