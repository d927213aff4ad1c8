"""The many-rooms scenario in the report (bench/report.py): its summary, its section of
results.md and its chart (rooms.png). U users in R rooms, K rooms each, 1% of the users sending
one message a second each."""

from report_fmt import fmt, stat


def summarize(reps):
    """One peer's runs of the scenario."""
    r0 = reps[0]
    return {
        "users": r0["users"], "rooms": r0["rooms"], "per_user": r0["per_user"],
        "senders": r0["senders"], "members": r0["members"],
        "connected": stat(r["connected"] for r in reps),
        "setup_s": stat(r["connect_s"] + r["settle_s"] for r in reps),
        "sent": stat(r["sent"] for r in reps),
        "expected": stat(r["expected"] for r in reps),
        "lost": stat(r["lost"] for r in reps),
        "p50_us": stat(r["latency"]["p50_us"] for r in reps),
        "p99_us": stat(r["latency"]["p99_us"] for r in reps),
        "max_us": stat(r["latency"]["max_us"] for r in reps),
        "cpu_us_per_delivery": stat(r["server_cpu_us_per_delivery"] for r in reps),
        "loadgen_busy": stat(r["cpu"]["loadgen_busy"] for r in reps),
        "others_cpu0": stat(r["cpu"].get("others_on_server_cpu") for r in reps),
        "others_cpu1": stat(r["cpu"].get("others_on_loadgen_cpu") for r in reps),
        "other_frames": stat(r.get("other_frames") for r in reps),
        "errors": sum(r["error_frames"] for r in reps),
        "stalled": any(r["stalled"] for r in reps),
    }


def section(summary, peers, label, add):
    rooms = summary.get("rooms") or {}
    if not rooms:
        return
    any_ = next(iter(rooms.values()))
    add(f"## 6. Many rooms ({any_['users']:,} users in {any_['rooms']:,} rooms, "
        f"{any_['per_user']} rooms each, {any_['senders']} sending 1 msg/s)")
    add("")
    add("Each user is in the same rooms whatever the server (rooms of "
        f"{any_['members'][0]}–{any_['members'][1]} members); each sender sends to its rooms in "
        "turn. Ours: the typed protocol, a `join` per room. Bun: a topic per room "
        "(`ws.subscribe`), `ws.publish` to one. Socket.IO: `socket.join` per room, "
        "`socket.to(room).emit`. Latency: send to arrival, every delivery of the measured phase. "
        "CPU: the server's, from the phase's first send until its last delivery arrived, ÷ "
        "deliveries. Setup: connecting every user into its rooms, until the server is idle. Other "
        "frames: what the users received besides deliveries, setup included. Ours announces each "
        "join to the members already in the room (presence: m(m−1)/2 frames per room of m, each "
        "a `send` of its own as they go to different users) and acks each send; "
        "Bun's topics and Socket.IO's rooms announce nothing, which is most of the difference in "
        "setup. Other load: the most of CPU 0 (server) and CPU 1 (load generator) that other "
        "processes took in one run; ⚠ above 10%: that run's figures are noisy.")
    add("")
    add("| server | p50 ms | p99 ms | max ms | µs server CPU per delivery | ÷ Bun (CPU) | "
        "p99 ÷ Bun's | lost | setup s | other frames | other load on CPU 0 / 1 |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    bun = rooms.get("bun")

    def ratio(p, key):
        if not bun or not p[key] or not bun[key] or not bun[key]["median"]:
            return "–"
        return f"{p[key]['median'] / bun[key]['median']:.2f}"

    for peer in peers:
        r = rooms.get(peer)
        if not r:
            continue
        add(f"| {label[peer]} | {fmt(r['p50_us'], 1e-3)} | {fmt(r['p99_us'], 1e-3)} | "
            f"{fmt(r['max_us'], 1e-3)} | {fmt(r['cpu_us_per_delivery'], digits=1)} | "
            f"{ratio(r, 'cpu_us_per_delivery')} | {ratio(r, 'p99_us')} | "
            f"{fmt(r['lost'], digits=0)} of {fmt(r['expected'], digits=0)} | "
            f"{fmt(r['setup_s'], digits=1)} | {fmt(r.get('other_frames'), digits=0)} | "
            f"{noise(r)} |")
    add("")


def noise(r):
    worst = [(r[k] or {}).get("max") or 0 for k in ("others_cpu0", "others_cpu1")]
    return f"{worst[0]:.0%} / {worst[1]:.0%}" + (" ⚠" if max(worst) > 0.1 else "")


def chart(summary, peers, label, path):
    """Bars per server: p99 latency and CPU per delivery, median with min–max."""
    rooms = summary.get("rooms") or {}
    shown = [p for p in peers if p in rooms and rooms[p]["p99_us"]]
    if not shown:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, scale, title in (
            (axes[0], "p99_us", 1e-3, "p99 delivery latency, ms"),
            (axes[1], "cpu_us_per_delivery", 1.0, "server CPU per delivery, µs")):
        med = [rooms[p][key]["median"] * scale for p in shown]
        lo = [m - rooms[p][key]["min"] * scale for m, p in zip(med, shown)]
        hi = [rooms[p][key]["max"] * scale - m for m, p in zip(med, shown)]
        ax.bar(range(len(shown)), med, yerr=[lo, hi], capsize=4)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([label[p] for p in shown], fontsize=8, rotation=10)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    any_ = next(iter(rooms.values()))
    fig.suptitle(f"Many rooms: {any_['users']:,} users, {any_['rooms']:,} rooms, "
                 f"{any_['per_user']} each, {any_['senders']} senders at 1 msg/s (median, min–max)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
