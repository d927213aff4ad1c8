#!/usr/bin/env python3
"""Turns bench/results/raw/*.json (written by bench/run.sh) into results.md, results.json and
latency.png. Every figure is the median over runs with [min-max]. Usage: report.py RESULTS_DIR"""

import glob
import json
import os
import platform
import statistics
import sys
import time

import report_cpu
import report_rooms

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


def stat(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(s, scale=1.0, digits=None, prefix=""):
    if s is None:
        return "–"

    def one(v):
        v = v * scale
        d = digits
        if d is None:
            d = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
        return f"{v:,.{d}f}"

    if s["n"] > 1 and s["min"] != s["max"]:
        return f"{prefix}{one(s['median'])} [{one(s['min'])}–{one(s['max'])}]"
    return prefix + one(s["median"])


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
                "disconnects": sum(sum(r["disconnects"].values()) for r in reps),
            }
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


def med(s):
    return None if s is None else s["median"]


def ratio_cell(r, target):
    if r is None:
        return "–"
    mark = "" if target is None else (" ✓" if r >= target else " ✗")
    return f"{r:.2f}{mark}"


def floor_table(summary, cases, add):
    """Each light-load case against the floor hub: how far ours is from it, and the most any server
    that sends once per delivery can reach against each peer (that peer's p99 ÷ the floor's)."""
    fl = summary["fanout"].get("floor")
    if not fl:
        return
    rows = []
    for n, rate in cases:
        f = fl.get(str(n), {}).get(str(rate))
        # A floor that lost deliveries or took longer than the gap between messages was queueing
        # (it coalesces nothing): no floor for that case.
        if not f or med(f["lost_ratio"]) or not med(f["p99_us"]) or med(f["p99_us"]) > 1e6 / rate:
            continue
        rows.append((n, rate, f))
    if not rows:
        return
    refs = [p for p in ("ours", "ours-typed", "bun", "socketio", "node", "demo") if p in summary["fanout"]]
    add("### Against the floor: what any server can reach")
    add("")
    add("The floor hub (`bench/peers/floor-hub`) does nothing per delivery but one `send(2)` of a frame "
        "built once, so its p99 is what the kernel alone costs for N loopback sends on one core. "
        "For ours, the column is ours ÷ floor (the distance to it; 1.00 is the floor). For a peer, it "
        "is the peer's p99 ÷ the floor's: the highest ratio any server sending once per delivery can "
        "reach against that peer in that case, marked ✗ where that is below the target. Only the "
        "cases where the floor kept up are listed (no losses, p99 under the gap between messages); "
        "above that it queues without coalescing and is no floor.")
    add("")
    add("| case | floor p99 ms | " + " | ".join(
        f"{LABEL[p]} {'÷ floor' if p.startswith('ours') else '÷ floor (most reachable)'}" for p in refs) + " |")
    add("|---|---:|" + "---:|" * len(refs))
    for n, rate, f in rows:
        cells = []
        for p in refs:
            q = summary["fanout"][p].get(str(n), {}).get(str(rate))
            if not q or not med(q["p99_us"]):
                cells.append("–")
                continue
            r = med(q["p99_us"]) / med(f["p99_us"])
            target = None if p.startswith("ours") else TARGET.get(p)
            mark = "" if target is None else (" ✓" if r >= target else f" ✗ (target {target:g})")
            cells.append(f"{r:.2f}{mark}" + ("*" if med(q["lost_ratio"]) else ""))
        add(f"| {short(n)} @{rate}/s | {fmt(f['p99_us'], 1e-3)} | " + " | ".join(cells) + " |")
    add("")


def short(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def markdown(summary, status, mode, recs):
    sizes, rates = summary["sizes"], summary["rates"]
    peers = [p for p in PEERS if p in status] or PEERS
    full = [p for p in peers if p not in FANOUT_ONLY]
    # Every scenario but the fan-out and throughput.
    servers = [p for p in full if p not in THROUGHPUT_ONLY]
    lines = []
    add = lines.append
    cpu_model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    add("# Chat benchmark results")
    add("")
    add(f"- Mode **{mode[0]}**, {mode[1]} run(s); {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"{os.cpu_count()} cores ({cpu_model}), Linux {platform.release()}; "
        f"load average at start {mode[2].strip()}.")
    add("- Each server pinned to CPU 0 (`taskset -c 0`), the load generator to CPU 1; a fresh server "
        "per scenario and run. Figures: median over runs, [min–max] when runs differ.")
    add("- Latency is send-to-arrival for every expected delivery (arrival: the kernel's receive "
        "timestamp on the receiver's socket, so the load generator's own backlog is not counted); "
        "a delivery that never arrived "
        "counts as the time from the last send to the cut-off, so with losses the figure is a "
        "lower bound (marked ≥).")
    add("")
    add("## Peers")
    add("")
    add("| server | what | status |")
    add("|---|---|---|")
    failed_runs = {}
    for r in recs:
        if not r.get("ok"):
            failed_runs.setdefault(r.get("peer"), []).append(r)
    for p in peers:
        st = status.get(p, {"state": "not run", "detail": ""})
        s = st["state"] if not st["detail"] else f"{st['state']}: {st['detail']}"
        if st["state"] == "ready":
            nfail = len(failed_runs.get(p, []))
            s = "ran" + (f"; {nfail} case(s) failed (see below)" if nfail else "")
        add(f"| {LABEL[p]} | {WHAT[p]} | {s} |")
    add("")

    # ---- targets
    add("## Targets: our server against each peer, same run")
    add("")
    add("Deliveries/s: ours ÷ peer. Fan-out p99: peer ÷ ours (above 1 means ours is faster). "
        "Targets: ≥ 1 against Bun, ≥ 5 against Node ws, ≥ 30 against the demo.")
    add("")
    cases = [(n, rate) for rate in rates for n in sizes]
    head = "| ours | against | target | deliveries/s | " + " | ".join(
        f"p99 {short(n)} @{rate}/s" for n, rate in cases) + " |"
    add(head)
    add("|" + "---|" * (4 + len(cases)))
    for ours in ("ours", "ours-typed", "ours-mem"):
        if ours not in summary["throughput"] and ours not in summary["fanout"]:
            continue
        for p in peers:
            if p.startswith("ours"):
                continue
            target = TARGET.get(p)
            tp_o = med(summary["throughput"].get(ours, {}).get("deliveries_per_s"))
            tp_p = med(summary["throughput"].get(p, {}).get("deliveries_per_s"))
            cells = [ratio_cell(tp_o / tp_p if tp_o is not None and tp_p else None, target)]
            for n, rate in cases:
                o = summary["fanout"].get(ours, {}).get(str(n), {}).get(str(rate))
                q = summary["fanout"].get(p, {}).get(str(n), {}).get(str(rate))
                r = None
                if o and q and med(o["p99_us"]) and med(q["p99_us"]) is not None:
                    r = med(q["p99_us"]) / med(o["p99_us"])
                cell = ratio_cell(r, target)
                if r is not None and (med(o["lost_ratio"]) or med(q["lost_ratio"])):
                    cell += "*"
                cells.append(cell)
            add(f"| {LABEL[ours]} | {LABEL[p]} | {target if target else '–'} | " + " | ".join(cells) + " |")
    add("")
    add("`*`: one side lost deliveries in that case, so its p99 is a lower bound.")
    add("")
    floor_table(summary, cases, add)
    big = str(max(sizes)) if sizes else None
    for ours in ("ours", "ours-typed"):
        m = summary["memory"].get(ours, {}).get(big) if big else None
        if m and m["bytes_per_conn"]:
            kib = m["bytes_per_conn"]["median"] / 1024
            ok = "✓" if kib < MEMORY_TARGET_KIB else "✗"
            add(f"- {LABEL[ours]}: idle memory {kib:.1f} KiB per connection at {short(int(big))} "
                f"(target < {MEMORY_TARGET_KIB:.0f}) {ok}")
    for ours in ("ours", "ours-typed"):
        s = summary["slow"].get(ours)
        if not s:
            continue
        if s["ratio"]:
            r = s["ratio"]["median"]
            verdict = f"others' p99 ×{r:.2f} of the baseline phase (target ≤ 1.5) {'✓' if r <= 1.5 else '✗'}"
        else:
            verdict = ("no valid ratio: the server lost deliveries to the readers in "
                       f"{s['overloaded_runs']} run(s) (overloaded) ✗")
        add(f"- {LABEL[ours]}: slow consumers: {verdict}; RSS growth "
            f"{fmt(s['rss_growth_kib'], 1 / 1024, 1)} MiB; slow ones: {' | '.join(s['fates'])}")
    add("")

    # ---- fan-out
    add("## 1. Fan-out latency (one sender, N receivers, 100-byte text)")
    add("")
    head = "| server | receivers |"
    sep = "|---|---:|"
    for rate in rates:
        head += f" {rate}/s p50 ms | {rate}/s p99 ms | {rate}/s max ms | {rate}/s lost |"
        sep += "---:|---:|---:|---:|"
    head += " connect + settle s | loadgen busy | other load on CPU 0 / 1 |"
    sep += "---:|---:|---:|"
    add(head)
    add(sep)
    saturated = False
    noisy = False
    for p in peers:
        if p in THROUGHPUT_ONLY:
            continue
        for n in sizes:
            row = summary["fanout"].get(p, {}).get(str(n))
            if not row:
                add(f"| {LABEL[p]} | {n} |" + " – |" * (4 * len(rates) + 3))
                continue
            cells = []
            busy = []
            setup = None
            noise = [0.0, 0.0]
            for rate in rates:
                c = row.get(str(rate))
                if not c:
                    cells += ["–"] * 4
                    continue
                lb = "≥" if med(c["lost_ratio"]) else ""
                cells += [fmt(c["p50_us"], 1e-3, prefix=lb), fmt(c["p99_us"], 1e-3, prefix=lb),
                          fmt(c["max_us"], 1e-3, prefix=lb),
                          fmt(c["lost_ratio"], 100, 1) + "%" + (" (send stalled)" if c["send_stalled"] else "")]
                busy.append(med(c["loadgen_busy"]) or 0)
                setup = c["setup_s"]
                noise = [max(noise[0], med(c["others_cpu0"]) or 0), max(noise[1], med(c["others_cpu1"]) or 0)]
            b = max(busy) if busy else 0
            saturated |= b > 0.9
            add(f"| {LABEL[p]} | {n} | " + " | ".join(cells)
                + f" | {fmt(setup, digits=1)} | {b:.0%}{' ⚠' if b > 0.9 else ''} | "
                + f"{noise[0]:.0%} / {noise[1]:.0%}{' ⚠' if max(noise) > 0.1 else ''} |")
            noisy |= max(noise) > 0.1
    add("")
    add("Lost: deliveries not received by the end of the drain time after the last send "
        "(the server fell behind or dropped them). Loadgen busy: the load generator's CPU time ÷ "
        "wall time (its core); ⚠ above 90%: the load generator may have been the bottleneck (its "
        "backlog is not in the latency, which is taken at arrival, but it can leave deliveries "
        "unread at the cut-off). "
        "Other load: share of CPU 0 (server) and CPU 1 (load generator) used by other processes.")
    add("")
    report_cpu.section(summary, [p for p in peers if p not in THROUGHPUT_ONLY], cases,
                       [f"{short(n)} @{rate}/s" for n, rate in cases], LABEL, fmt, add)

    # ---- throughput
    add("## 2. Throughput (100 clients in one room, all sending, closed loop)")
    add("")
    add("| server | deliveries/s | server CPU-s per 1M deliveries | p50 ms | p99 ms | lost | loadgen busy |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for p in full:
        t = summary["throughput"].get(p)
        if not t:
            add(f"| {LABEL[p]} | – | – | – | – | – | – |")
            continue
        b = med(t["loadgen_busy"]) or 0
        add(f"| {LABEL[p]} | {fmt(t['deliveries_per_s'], digits=0)} | {fmt(t['cpu_s_per_million'], digits=2)} | "
            f"{fmt(t['p50_us'], 1e-3)} | {fmt(t['p99_us'], 1e-3)} | {fmt(t['lost'], digits=0)} | "
            f"{b:.0%}{' ⚠' if b > 0.9 else ''} |")
    add("")

    # ---- memory
    add("## 3. Idle memory per connection")
    add("")
    add("(server RSS with N idle receivers connected − RSS before they connected) ÷ N")
    add("")
    add("| server | " + " | ".join(f"{short(n)} conns: KiB/conn" for n in sizes) + " | RSS at largest N (MiB) |")
    add("|---|" + "---:|" * (len(sizes) + 1))
    for p in servers:
        m = summary["memory"].get(p, {})
        cells = [fmt(m.get(str(n), {}).get("bytes_per_conn"), 1 / 1024, 1) for n in sizes]
        rss = m.get(big, {}).get("rss_idle_kib") if big else None
        add(f"| {LABEL[p]} | " + " | ".join(cells) + f" | {fmt(rss, 1 / 1024, 0)} |")
    add("")

    # ---- slow
    add("## 4. Slow consumers (1% of the receivers stop reading)")
    add("")
    add("Baseline phase: everyone reads; then the slow ones stop reading (receive window 8 KiB) for "
        "the second phase, and the others' p99 is compared (only when no delivery was lost: with "
        "losses the server is overloaded and both p99s are cut-offs). RSS: the server's, from the "
        "start to the end of the second phase. Slow ones: what each found when it read again at "
        "the end.")
    add("")
    add("| server | p99 baseline ms | p99 others, slow stopped ms | ratio | lost baseline / slow phase | RSS start → end MiB | growth MiB | msgs sent while stopped | slow ones: end state | msgs each got in all | others disconnected |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for p in servers:
        s = summary["slow"].get(p)
        if not s:
            add(f"| {LABEL[p]} |" + " – |" * 10)
            continue
        add(f"| {LABEL[p]} | {fmt(s['p99_base_us'], 1e-3)} | {fmt(s['p99_slow_us'], 1e-3)} | "
            f"{fmt(s['ratio'], digits=2) if s['ratio'] else 'n/a (lost)'} | "
            f"{fmt(s['lost_base'], 100, 1)}% / {fmt(s['lost_slow'], 100, 1)}% | "
            f"{fmt(s['rss_start_kib'], 1 / 1024, 0)} → {fmt(s['rss_end_kib'], 1 / 1024, 0)} | "
            f"{fmt(s['rss_growth_kib'], 1 / 1024, 1)} | {fmt(s['sent_stopped'], digits=0)} | "
            f"{' / '.join(s['fates'])} (of {s['slow']}) | {fmt(s['slow_received_each'], digits=0)} | "
            f"{s['others_disconnected']} |")
    add("")

    # ---- storm
    if summary["storm"]:
        add("## 5. Reconnect storm (every client connected, then the server restarted)")
        add("")
        add("The server is stopped (SIGTERM) and started again on the same port and data; every "
            "client reconnects with the same policy: exponential backoff from 100 ms with full "
            "jitter, capped at 5 s. Server up: from the stop until the new process listens. All "
            "back: from the stop until the last client has logged in again (and, typed, joined). "
            "CPU: the restarted server's, from its start until then. With the typed protocol a "
            "burst is acked right before the stop, each client rejoins after the last id it saw, "
            "and every client's ids are checked against the acked ones.")
        add("")
        add("| server | clients | back | server up s | all back s | server CPU s | attempts per client (max) | resume |")
        add("|---|---:|---:|---:|---:|---:|---:|---|")
        for p in full:
            st = summary["storm"].get(p)
            if not st:
                continue
            if st["resume_checked"]:
                resume = (f"acked {fmt(st['acked'], digits=0)}: {st['missing']} missing, "
                          f"{st['duplicates']} twice; {fmt(st['from_pages'], digits=0)} ids came in resume pages")
            else:
                resume = "keeps nothing across a restart: reconnection only"
            add(f"| {LABEL[p]} | {st['clients']:,} | {fmt(st['back'], digits=0)} | {fmt(st['server_up_s'], digits=2)} | "
                f"{fmt(st['all_back_s'], digits=2)} | {fmt(st['server_cpu_s'], digits=2)} | "
                f"{fmt(st['attempts_per_client'], digits=2)} ({st['max_attempts']}) | {resume} |")
        add("")

    report_rooms.section(summary, servers, LABEL, fmt, add)

    failed = [r for r in recs if not r.get("ok")]
    if failed:
        add("## Failed cases")
        add("")
        for r in failed:
            err = " ".join(str(r.get("error", "")).split())[:300]
            add(f"- run {r.get('run')} {LABEL.get(r.get('peer'), r.get('peer'))} {r.get('case')}: {err}")
        add("")
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
