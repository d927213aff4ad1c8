#!/usr/bin/env python3
"""Turns the raw reports of bench/transports.sh into transports.md, transports.json and
transports.png. Every figure is the median over the runs with [min-max] when they differ.
Usage: transports_report.py SCRATCH_DIR OUT_DIR"""

import glob
import json
import os
import platform
import re
import statistics
import sys
import time

TRANSPORTS = ["ws", "long", "short"]
LABEL = {
    "ws": "WebSocket (`/chat`)",
    "long": "long polling (GET held ≤ 30 s)",
    "short": "short polling (GET every 2 s)",
}
SHORT = {"ws": "WebSocket", "long": "long polling", "short": "short polling"}

# The seeds' own figures: websocket.org, "HTML5 Web Sockets: A Quantum Leap in Scalability for
# the Web" (Lubbers and Greco), as the seeds quote it. Claims, not measurements.
CLAIM_HEADER_BYTES = 871  # HTTP request + response headers of one poll
CLAIM_WS_FRAMING = 2  # bytes of WebSocket framing per message
CLAIM_MBPS = {  # clients -> (polling, WebSocket), each client 1 message per second
    1000: (6.6, 0.015),
    10000: (66, 0.153),
    100000: (665, 1.526),
}


def stat(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(s, scale=1.0, digits=None):
    if s is None:
        return "–"

    def one(v):
        v = v * scale
        d = digits
        if d is None:
            d = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
        return f"{v:,.{d}f}"

    if s["n"] > 1 and one(s["min"]) != one(s["max"]):
        return f"{one(s['median'])} [{one(s['min'])}–{one(s['max'])}]"
    return one(s["median"])


def ratio(a, b):
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


def load(scratch):
    runs = []
    for path in sorted(glob.glob(os.path.join(scratch, "raw", "*.json"))):
        name = os.path.basename(path)[:-5]
        m = re.match(r"run(\d+)-(\w+)-(\d+)$", name)
        if not m:
            continue
        rec = {"run": int(m[1]), "transport": m[2], "receivers": int(m[3]), "name": name}
        try:
            with open(path) as f:
                rec["report"] = json.load(f)["report"]
            rec["ok"] = True
        except (OSError, ValueError, KeyError) as e:
            log = os.path.join(scratch, name + ".loadgen.log")
            tail = open(log, errors="replace").read()[-300:] if os.path.exists(log) else ""
            rec["ok"] = False
            rec["error"] = f"no report ({e}): {tail.strip()}"
        lpath = os.path.join(scratch, "raw", name + ".load")
        if os.path.exists(lpath):
            rec["load_after"] = float(open(lpath).read().split()[0])
        runs.append(rec)
    commit = "?"
    cpath = os.path.join(scratch, "commit.txt")
    if os.path.exists(cpath):
        commit = open(cpath).read().strip() or "?"
    mode = ["?"] * 9
    mpath = os.path.join(scratch, "mode.txt")
    if os.path.exists(mpath):
        mode = open(mpath).read().split() + ["?"] * 9
    return runs, mode, commit


def summarize(runs):
    by = {}
    for r in runs:
        if r["ok"]:
            by.setdefault((r["transport"], r["receivers"]), []).append(r["report"])
    out = {}
    for (t, n), reps in by.items():
        total = [
            (r["bytes_down"] + r["bytes_up"]) / r["deliveries"] if r["deliveries"] else None
            for r in reps
        ]
        overhead = [
            (r["bytes_down"] - r["payload_down"] + r["bytes_up"]) / r["deliveries"]
            if r["deliveries"] else None
            for r in reps
        ]
        out.setdefault(str(n), {})[t] = {
            "deliveries_per_s": stat(r["deliveries"] / r["window_s"] for r in reps),
            "bytes_down": stat(r["bytes_down_per_delivery"] for r in reps),
            "bytes_up": stat(r["bytes_up_per_delivery"] for r in reps),
            "bytes_total": stat(total),
            "payload": stat(r["payload_down"] / r["deliveries"] if r["deliveries"] else None
                            for r in reps),
            "overhead": stat(overhead),
            "requests": stat(r["requests_per_delivery"] for r in reps),
            "mbps": stat((r["bytes_down"] + r["bytes_up"]) * 8 / r["window_s"] / 1e6 for r in reps),
            "cpu_us": stat(r["server_cpu_us_per_delivery"] for r in reps),
            "p50_ms": stat(r["latency"]["p50_us"] / 1000 for r in reps),
            "p99_ms": stat(r["latency"]["p99_us"] / 1000 for r in reps),
            "max_ms": stat(r["latency"]["max_us"] / 1000 for r in reps),
            "lost": stat(r["lost"] for r in reps),
            "duplicates": stat(r["duplicates"] for r in reps),
            "connect_failed": stat(r["connect_failed"] for r in reps),
            "loadgen_busy": stat(r["cpu"]["loadgen_busy"] for r in reps),
            "others_cpu0": stat(r["cpu"].get("others_on_server_cpu") for r in reps),
            "others_cpu1": stat(r["cpu"].get("others_on_loadgen_cpu") for r in reps),
            "ended": sum(sum(r["ended"].values()) for r in reps),
        }
    return out


def ratios(summary):
    out = {}
    for n, row in summary.items():
        ws = row.get("ws")
        if not ws:
            continue
        for t in ("long", "short"):
            x = row.get(t)
            if not x:
                continue
            out.setdefault(n, {})[t] = {
                "bytes": ratio(x["bytes_total"], ws["bytes_total"]),
                "overhead": ratio(x["overhead"], ws["overhead"]),
                "cpu": ratio(x["cpu_us"], ws["cpu_us"]),
                "p50": ratio(x["p50_ms"], ws["p50_ms"]),
                "p99": ratio(x["p99_ms"], ws["p99_ms"]),
            }
    return out


def x(v, d=None):
    if v is None:
        return "–"
    if d is None:
        d = 0 if v >= 10 else 1
    return f"{v:,.{d}f}×"


def markdown(summary, rat, runs, mode, commit):
    m_mode, m_runs, m_secs, m_warm, m_period, m_wait, *load = mode
    sizes = sorted(summary, key=int)
    lines = [
        "# Transports: WebSocket, long polling, short polling",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {platform.node() or '?'} "
        f"({os.cpu_count()} cores): `bench/transports.sh` ({m_mode} mode, {m_runs} run(s)). "
        f"Load average at the start {' '.join(load[:3])}. Our server at `{commit}`, release "
        "build, a fresh "
        "one per case pinned to CPU 0; the load generator on CPU 1. N receivers in room "
        f"`general` on one transport; one WebSocket sender sends 10 msg/s (100-byte texts): "
        f"{m_warm} s warm-up, then {m_secs} s measured. Long polling: the server holds a "
        f"`GET /poll` up to {m_wait} (`--poll-wait`); short polling: each receiver sends a "
        f"`GET /poll` every {m_period} s (evenly spread), answered at once (`--poll-wait 0s`).",
        "",
        "Bytes are the receivers' application bytes, counted at the socket: HTTP request and "
        "response heads and bodies, WebSocket frame headers, masks and payloads, pings and "
        "pongs; TCP/IP excluded. They, the server's CPU time (`/proc/<pid>/stat`) and the "
        "deliveries are counted over the measured window alike, so each per-delivery figure "
        "is a steady-state ratio. Latency: send time (in the text) to the return of the read "
        "that completed the message, for every message of the measured phase; a delivery "
        "still missing after the drain (5 s) counts as the wait until then. Every figure is "
        "the median over the runs, [min–max] when they differ.",
        "",
    ]
    busy = [
        v["median"]
        for row in summary.values()
        for s in row.values()
        for v in (s["others_cpu0"], s["others_cpu1"])
        if v
    ]
    if busy and max(busy) > 0.10:
        lines += [
            f"⚠ Other work shared the two cores during these runs (up to {max(busy):.0%} of a "
            "core, median per case; see Conditions): latencies and, less so, CPU per delivery "
            "are inflated by it. Bytes per delivery hardly depend on it (they move only when "
            "a slower server packs more messages into one poll response).",
            "",
        ]
    lines += [
        "## Per delivered message",
        "",
        "| receivers | transport | deliveries/s | bytes down | bytes up | bytes total | "
        "headers + framing | HTTP requests | server CPU (µs) | p50 (ms) | p99 (ms) | lost |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for t in TRANSPORTS:
            s = summary[n].get(t)
            if not s:
                lines.append(f"| {int(n):,} | {LABEL[t]} | no result | | | | | | | | | |")
                continue
            lines.append(
                f"| {int(n):,} | {LABEL[t]} | {fmt(s['deliveries_per_s'], digits=0)} | "
                f"{fmt(s['bytes_down'], digits=0)} | {fmt(s['bytes_up'], digits=0)} | "
                f"{fmt(s['bytes_total'], digits=0)} | {fmt(s['overhead'], digits=0)} | "
                f"{fmt(s['requests'], digits=2)} | {fmt(s['cpu_us'])} | {fmt(s['p50_ms'])} | "
                f"{fmt(s['p99_ms'])} | {fmt(s['lost'], digits=0)} |"
            )
    lines += [
        "",
        "*Headers + framing* is bytes total minus the message lines themselves (the "
        "`{\"type\":\"message\",...}` JSON, about 200 bytes): what the transport adds. *HTTP "
        "requests* per delivery: a short poll brings the messages of its last 2 s at once, so "
        "its heads are shared by about 20 messages; a long poll is answered as soon as one "
        "message is there, so nearly every message costs a request and a response.",
        "",
        "## Against WebSocket",
        "",
        "| receivers | transport | bytes total | headers + framing | server CPU | p50 | p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for t in ("long", "short"):
            r = rat.get(n, {}).get(t)
            if r:
                lines.append(
                    f"| {int(n):,} | {SHORT[t]} ÷ WebSocket | {x(r['bytes'])} | "
                    f"{x(r['overhead'])} | {x(r['cpu'])} | {x(r['p50'])} | {x(r['p99'])} |"
                )
    lines += [
        "",
        "## The seeds' claims beside the measurement",
        "",
        "The seeds quote websocket.org's comparison (\"HTML5 Web Sockets: A Quantum Leap in "
        "Scalability for the Web\"): 871 bytes of HTTP headers for each poll (request and "
        "response), against 2 bytes of WebSocket framing per message, and from these the "
        "network throughput of N clients each getting 1 message per second. Those are the "
        "seeds' claims, not measured here; the measured column applies the same arithmetic "
        "(headers + framing × clients × 8 bits, 1 message per second each) to the headers and "
        "framing measured per delivery at 1,000 receivers.",
        "",
    ]
    n = "1000" if "1000" in summary else (sizes[-1] if sizes else None)
    row = summary.get(n, {}) if n else {}

    def ov(t):
        return row.get(t, {}).get("overhead") if row.get(t) else None

    lines += [
        "| figure | seeds' claim | measured: long polling | measured: short polling | "
        "measured: WebSocket |",
        "|---|---|---|---|---|",
        f"| headers + framing per message (bytes) | polling {CLAIM_HEADER_BYTES}, WebSocket "
        f"{CLAIM_WS_FRAMING} | {fmt(ov('long'), digits=0)} | {fmt(ov('short'), digits=0)} | "
        f"{fmt(ov('ws'), digits=0)} |",
    ]
    for clients, (poll, ws) in CLAIM_MBPS.items():
        def mbps(t):
            o = ov(t)
            if not o:
                return "–"
            return f"{o['median'] * clients * 8 / 1e6:,.3f}"

        lines.append(
            f"| Mbps, {clients:,} clients × 1 msg/s (headers + framing only) | polling {poll}, "
            f"WebSocket {ws} | {mbps('long')} | {mbps('short')} | {mbps('ws')} |"
        )
    lines += [
        "",
        "Our load generator's requests carry only what the protocol needs (`Host`, "
        "`chat-session`, `chat-ack`); a browser adds its own `User-Agent`, `Accept*`, "
        "`Cookie` and similar headers to every poll (the bulk of the seeds' 871 bytes), so a "
        "browser's polls cost more than these. A short poll's heads are shared by the messages "
        "of its period: at 1 msg/s (2 messages per poll, not 20) its heads would weigh about "
        "10× more per message than measured here at 10 msg/s. The WebSocket framing is 4 bytes here, not 2: a message "
        "frame of 126 bytes or more takes a 16-bit extended length.",
        "",
        "## Conditions",
        "",
        "| case | runs ok | loadgen busy | other load CPU 0 / CPU 1 | connect failures | "
        "ended early | duplicates |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for t in TRANSPORTS:
            s = summary[n].get(t)
            if not s:
                continue
            ok = sum(1 for r in runs if r["ok"] and r["transport"] == t and str(r["receivers"]) == n)
            lines.append(
                f"| {SHORT[t]}, {int(n):,} | {ok} | {fmt(s['loadgen_busy'], 100, 0)}% | "
                f"{fmt(s['others_cpu0'], 100, 0)}% / {fmt(s['others_cpu1'], 100, 0)}% | "
                f"{fmt(s['connect_failed'], digits=0)} | {s['ended']} | "
                f"{fmt(s['duplicates'], digits=0)} |"
            )
    failed = [r for r in runs if not r["ok"]]
    if failed:
        lines += ["", "Failed cases:", ""]
        lines += [f"- {r['name']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def chart(summary, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = sorted(summary, key=int)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    panels = [
        ("bytes_total", "bytes per delivered message\n(both ways, app layer)", False),
        ("cpu_us", "server CPU per delivered message (µs)", False),
        ("p99_ms", "p99 delivery latency (ms, log)", True),
    ]
    colors = {"ws": "#2a7ab0", "long": "#d9822b", "short": "#8e5ea2"}
    width = 0.26
    for ax, (key, title, log) in zip(axes, panels):
        for i, t in enumerate(TRANSPORTS):
            xs, ys, lo, hi = [], [], [], []
            for j, n in enumerate(sizes):
                s = summary[n].get(t, {}).get(key)
                if not s:
                    continue
                xs.append(j + (i - 1) * width)
                ys.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=colors[t], label=SHORT[t])
            # Each label above its bar's error bar.
            for xv, yv, top in zip(xs, ys, (y + h for y, h in zip(ys, hi))):
                ax.annotate(f"{yv:,.0f}" if yv >= 10 else f"{yv:.1f}", (xv, top),
                            ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                            textcoords="offset points")
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{int(n):,} receivers" for n in sizes])
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("One room, 10 msg/s: WebSocket vs long polling (≤ 30 s) vs short polling (2 s); "
                 "median, bars min–max", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    return True


def main():
    scratch, out = sys.argv[1], sys.argv[2]
    runs, mode, commit = load(scratch)
    summary = summarize(runs)
    rat = ratios(summary)
    with open(os.path.join(out, "transports.md"), "w") as f:
        f.write(markdown(summary, rat, runs, mode, commit))
    with open(os.path.join(out, "transports.json"), "w") as f:
        json.dump({"mode": mode, "commit": commit, "summary": summary, "ratios": rat,
                   "claims": {"header_bytes_per_poll": CLAIM_HEADER_BYTES,
                              "ws_framing_bytes": CLAIM_WS_FRAMING,
                              "mbps_1msg_per_s": {str(k): {"polling": v[0], "websocket": v[1]}
                                                  for k, v in CLAIM_MBPS.items()},
                              "source": "websocket.org, 'HTML5 Web Sockets: A Quantum Leap in "
                                        "Scalability for the Web', as quoted by the seeds"},
                   "runs": runs}, f, indent=1)
    if not chart(summary, os.path.join(out, "transports.png")):
        print("matplotlib missing: no transports.png", file=sys.stderr)
    for n, row in sorted(rat.items(), key=lambda kv: int(kv[0])):
        for t, r in row.items():
            print(f"{n} receivers, {t} / ws: bytes {x(r['bytes'])}, cpu {x(r['cpu'])}, "
                  f"p99 {x(r['p99'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
