"""The targets section of results.md (bench/report.py): our server against each peer in the same
run (throughput and fan-out p99 ratios, issue 5), how far each case is from the floor hub, and
the idle memory and slow-consumer targets."""

from report_fmt import fmt, med, short

# The peers measured against the floor hub, in this order.
FLOOR_REFS = ("ours", "ours-typed", "bun", "socketio", "node", "demo")


def ratio_cell(r, target):
    if r is None:
        return "–"
    mark = "" if target is None else (" ✓" if r >= target else " ✗")
    return f"{r:.2f}{mark}"


def section(summary, peers, cases, label, target, memory_target_kib, add):
    """`cases` are the fan-out's (receivers, rate) pairs; `target` the ratio ours must reach
    against each peer, `memory_target_kib` the idle memory per connection it must stay under."""
    add("## Targets: our server against each peer, same run")
    add("")
    add("Deliveries/s: ours ÷ peer. Fan-out p99: peer ÷ ours (above 1 means ours is faster). "
        "Targets: ≥ 1 against Bun, ≥ 5 against Node ws, ≥ 30 against the demo.")
    add("")
    ratio_table(summary, peers, cases, label, target, add)
    add("")
    add("`*`: one side lost deliveries in that case, so its p99 is a lower bound.")
    add("")
    floor_table(summary, cases, label, target, add)
    memory_targets(summary, label, memory_target_kib, add)
    slow_targets(summary, label, add)
    add("")


def ratio_table(summary, peers, cases, label, target, add):
    """Each of ours against each peer: deliveries/s ours ÷ peer, then each case's p99 peer ÷ ours."""
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
            t = target.get(p)
            cells = [throughput_ratio(summary, ours, p, t)]
            cells += [p99_ratio(summary, ours, p, n, rate, t) for n, rate in cases]
            add(f"| {label[ours]} | {label[p]} | {t if t else '–'} | " + " | ".join(cells) + " |")


def throughput_ratio(summary, ours, p, target):
    tp_o = med(summary["throughput"].get(ours, {}).get("deliveries_per_s"))
    tp_p = med(summary["throughput"].get(p, {}).get("deliveries_per_s"))
    return ratio_cell(tp_o / tp_p if tp_o is not None and tp_p else None, target)


def p99_ratio(summary, ours, p, n, rate, target):
    o = summary["fanout"].get(ours, {}).get(str(n), {}).get(str(rate))
    q = summary["fanout"].get(p, {}).get(str(n), {}).get(str(rate))
    r = None
    if o and q and med(o["p99_us"]) and med(q["p99_us"]) is not None:
        r = med(q["p99_us"]) / med(o["p99_us"])
    cell = ratio_cell(r, target)
    if r is not None and (med(o["lost_ratio"]) or med(q["lost_ratio"])):
        cell += "*"
    return cell


def floor_cases(summary, cases):
    """The cases where the floor hub kept up, as (receivers, rate, its figures)."""
    fl = summary["fanout"].get("floor")
    if not fl:
        return []
    rows = []
    for n, rate in cases:
        f = fl.get(str(n), {}).get(str(rate))
        # A floor that lost deliveries or took longer than the gap between messages was queueing
        # (it coalesces nothing): no floor for that case.
        if not f or med(f["lost_ratio"]) or not med(f["p99_us"]) or med(f["p99_us"]) > 1e6 / rate:
            continue
        rows.append((n, rate, f))
    return rows


def floor_table(summary, cases, label, target, add):
    """Each light-load case against the floor hub: how far ours is from it, and the most any server
    that sends once per delivery can reach against each peer (that peer's p99 ÷ the floor's)."""
    rows = floor_cases(summary, cases)
    if not rows:
        return
    refs = [p for p in FLOOR_REFS if p in summary["fanout"]]
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
        f"{label[p]} {'÷ floor' if p.startswith('ours') else '÷ floor (most reachable)'}" for p in refs) + " |")
    add("|---|---:|" + "---:|" * len(refs))
    for n, rate, f in rows:
        cells = [floor_cell(summary, p, n, rate, f, target) for p in refs]
        add(f"| {short(n)} @{rate}/s | {fmt(f['p99_us'], 1e-3)} | " + " | ".join(cells) + " |")
    add("")


def floor_cell(summary, p, n, rate, f, target):
    q = summary["fanout"][p].get(str(n), {}).get(str(rate))
    if not q or not med(q["p99_us"]):
        return "–"
    r = med(q["p99_us"]) / med(f["p99_us"])
    t = None if p.startswith("ours") else target.get(p)
    mark = "" if t is None else (" ✓" if r >= t else f" ✗ (target {t:g})")
    return f"{r:.2f}{mark}" + ("*" if med(q["lost_ratio"]) else "")


def memory_targets(summary, label, memory_target_kib, add):
    """Ours' idle memory per connection at the largest room, against the target."""
    sizes = summary["sizes"]
    big = str(max(sizes)) if sizes else None
    for ours in ("ours", "ours-typed"):
        m = summary["memory"].get(ours, {}).get(big) if big else None
        if m and m["bytes_per_conn"]:
            kib = m["bytes_per_conn"]["median"] / 1024
            ok = "✓" if kib < memory_target_kib else "✗"
            add(f"- {label[ours]}: idle memory {kib:.1f} KiB per connection at {short(int(big))} "
                f"(target < {memory_target_kib:.0f}) {ok}")


def slow_targets(summary, label, add):
    """Ours with slow consumers: the others' p99 against the baseline (≤ 1.5), RSS growth, and
    what the slow ones found."""
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
        add(f"- {label[ours]}: slow consumers: {verdict}; RSS growth "
            f"{fmt(s['rss_growth_kib'], 1 / 1024, 1)} MiB; slow ones: {' | '.join(s['fates'])}")
