"""The section of results.md on server CPU per delivery in the fan-out (bench/report.py
summarizes it per case as `cpu_us_per_delivery`): each run's server CPU over a phase (its
process CPU clock, from the first send until the drain) ÷ the deliveries of that phase. One
send per delivery costs every server about the same in the kernel, so this is where a store or
a slower fan-out shows."""

from report_fmt import fmt, short

# The peer every other is compared with.
BASE = "bun"


def section(summary, peers, cases, label, add):
    """The table (µs, median [min–max]) and each of ours ÷ the base peer; `cases` are
    (receivers, rate) pairs."""
    names = [f"{short(n)} @{rate}/s" for n, rate in cases]
    fan = summary["fanout"]
    shown = [p for p in peers if p in fan]
    if not shown:
        return
    add("### Server CPU per delivery in the fan-out")
    add("")
    add("µs of server CPU per delivery: the server's CPU over the phase (its process CPU clock, "
        "from the first send until the drain) ÷ the deliveries. `*`: deliveries were lost in "
        f"that case (CPU per delivered one). Below the table, ours ÷ {label[BASE]}'s, median by "
        "median (below 1: ours spends less).")
    add("")
    head = "| server | " + " | ".join(names) + " |"
    add(head)
    add("|---|" + "---:|" * len(cases))

    def cell(peer, n, rate):
        c = fan.get(peer, {}).get(str(n), {}).get(str(rate))
        return c, (c or {}).get("cpu_us_per_delivery")

    for p in shown:
        cells = []
        for n, rate in cases:
            c, v = cell(p, n, rate)
            lost = c and c["lost_ratio"] and c["lost_ratio"]["median"]
            cells.append(fmt(v, digits=2) + ("*" if v and lost else ""))
        add(f"| {label[p]} | " + " | ".join(cells) + " |")
    add("")
    if BASE not in fan:
        return
    for p in shown:
        if not p.startswith("ours"):
            continue
        ratios = []
        for (n, rate), name in zip(cases, names):
            _, o = cell(p, n, rate)
            _, b = cell(BASE, n, rate)
            r = o["median"] / b["median"] if o and b and b["median"] else None
            ratios.append(f"{name} {r:.2f}" if r is not None else f"{name} –")
        add(f"- {label[p]} ÷ {label[BASE]}: " + ", ".join(ratios))
    add("")

