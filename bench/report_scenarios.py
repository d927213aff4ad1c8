"""The sections of results.md (bench/report.py) with one table per scenario: fan-out latency,
throughput, idle memory per connection, slow consumers and the reconnect storm; a row per peer,
each figure the median over runs with [min–max]."""

from report_fmt import fmt, med, short


def fanout(summary, peers, label, add):
    """One row per peer and room size, the rates side by side. Returns (saturated, noisy): whether
    the load generator was over 90% busy in some case, and whether other processes took over 10%
    of either core."""
    rates = summary["rates"]
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
        for n in summary["sizes"]:
            row = summary["fanout"].get(p, {}).get(str(n))
            if not row:
                add(f"| {label[p]} | {n} |" + " – |" * (4 * len(rates) + 3))
                continue
            busy, noise = fanout_row(row, rates, f"| {label[p]} | {n} | ", add)
            saturated |= busy > 0.9
            noisy |= max(noise) > 0.1
    add("")
    add("Lost: deliveries not received by the end of the drain time after the last send "
        "(the server fell behind or dropped them). Loadgen busy: the load generator's CPU time ÷ "
        "wall time (its core); ⚠ above 90%: the load generator may have been the bottleneck (its "
        "backlog is not in the latency, which is taken at arrival, but it can leave deliveries "
        "unread at the cut-off). "
        "Other load: share of CPU 0 (server) and CPU 1 (load generator) used by other processes.")
    add("")
    return saturated, noisy


def fanout_row(row, rates, start, add):
    """One peer's room size across the rates; returns the load generator's busiest share and the
    most other processes took of CPU 0 and of CPU 1."""
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
    add(start + " | ".join(cells)
        + f" | {fmt(setup, digits=1)} | {b:.0%}{' ⚠' if b > 0.9 else ''} | "
        + f"{noise[0]:.0%} / {noise[1]:.0%}{' ⚠' if max(noise) > 0.1 else ''} |")
    return b, noise


def throughput(summary, peers, label, add):
    add("## 2. Throughput (100 clients in one room, all sending, closed loop)")
    add("")
    add("| server | deliveries/s | server CPU-s per 1M deliveries | p50 ms | p99 ms | lost | loadgen busy |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for p in peers:
        t = summary["throughput"].get(p)
        if not t:
            add(f"| {label[p]} | – | – | – | – | – | – |")
            continue
        b = med(t["loadgen_busy"]) or 0
        add(f"| {label[p]} | {fmt(t['deliveries_per_s'], digits=0)} | {fmt(t['cpu_s_per_million'], digits=2)} | "
            f"{fmt(t['p50_us'], 1e-3)} | {fmt(t['p99_us'], 1e-3)} | {fmt(t['lost'], digits=0)} | "
            f"{b:.0%}{' ⚠' if b > 0.9 else ''} |")
    add("")


def memory(summary, peers, label, add):
    sizes = summary["sizes"]
    big = str(max(sizes)) if sizes else None
    add("## 3. Idle memory per connection")
    add("")
    add("(server RSS with N idle receivers connected − RSS before they connected) ÷ N")
    add("")
    add("| server | " + " | ".join(f"{short(n)} conns: KiB/conn" for n in sizes) + " | RSS at largest N (MiB) |")
    add("|---|" + "---:|" * (len(sizes) + 1))
    for p in peers:
        m = summary["memory"].get(p, {})
        cells = [fmt(m.get(str(n), {}).get("bytes_per_conn"), 1 / 1024, 1) for n in sizes]
        rss = m.get(big, {}).get("rss_idle_kib") if big else None
        add(f"| {label[p]} | " + " | ".join(cells) + f" | {fmt(rss, 1 / 1024, 0)} |")
    add("")


def slow(summary, peers, label, add):
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
    for p in peers:
        s = summary["slow"].get(p)
        if not s:
            add(f"| {label[p]} |" + " – |" * 10)
            continue
        add(f"| {label[p]} | {fmt(s['p99_base_us'], 1e-3)} | {fmt(s['p99_slow_us'], 1e-3)} | "
            f"{fmt(s['ratio'], digits=2) if s['ratio'] else 'n/a (lost)'} | "
            f"{fmt(s['lost_base'], 100, 1)}% / {fmt(s['lost_slow'], 100, 1)}% | "
            f"{fmt(s['rss_start_kib'], 1 / 1024, 0)} → {fmt(s['rss_end_kib'], 1 / 1024, 0)} | "
            f"{fmt(s['rss_growth_kib'], 1 / 1024, 1)} | {fmt(s['sent_stopped'], digits=0)} | "
            f"{' / '.join(s['fates'])} (of {s['slow']}) | {fmt(s['slow_received_each'], digits=0)} | "
            f"{s['others_disconnected']} |")
    add("")


def storm(summary, peers, label, add):
    """Only when the scenario ran."""
    if not summary["storm"]:
        return
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
    for p in peers:
        st = summary["storm"].get(p)
        if not st:
            continue
        add(f"| {label[p]} | {st['clients']:,} | {fmt(st['back'], digits=0)} | {fmt(st['server_up_s'], digits=2)} | "
            f"{fmt(st['all_back_s'], digits=2)} | {fmt(st['server_cpu_s'], digits=2)} | "
            f"{fmt(st['attempts_per_client'], digits=2)} ({st['max_attempts']}) | {storm_resume(st)} |")
    add("")


def storm_resume(st):
    if st["resume_checked"]:
        return (f"acked {fmt(st['acked'], digits=0)}: {st['missing']} missing, "
                f"{st['duplicates']} twice; {fmt(st['from_pages'], digits=0)} ids came in resume pages")
    return "keeps nothing across a restart: reconnection only"
