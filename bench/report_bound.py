"""The throughput scenario's durable bound (results.md, under the throughput table): the most the
durable default can reach against Bun when its fan-out costs what ours with the memory store
spends per delivery in the same run, and its store adds the least it can per message
(`store-floor`, bench/run.sh): one full core divided by the two together."""

from report_fmt import fmt, med, stat

# Ours (the durable default) against Bun's deliveries/s (issue 27).
TARGET_VS_BUN = 2.5


def summarize(reps):
    return {
        "group": reps[0]["group"],
        "ours_groups": stat(r["ours_groups"] for r in reps),
        "messages": reps[0]["messages"],
        "ours_us": stat(r["ours_cpu_us_per_message"] for r in reps),
        "bare_us": stat(r["bare_cpu_us_per_message"] for r in reps),
    }


def bound(summary):
    """The figures of the bound (None without ours-mem, Bun or the store floor): CPU per message
    (µs) of each part and the deliveries/s one core reaches with them."""
    f, mem = summary.get("store_floor"), summary["throughput"].get("ours-mem")
    bun, ours = summary["throughput"].get("bun"), summary["throughput"].get("ours")
    if not f or not mem or not bun or not med(mem["cpu_s_per_million"]):
        return None
    n = med(mem["deliveries_per_send"])
    fanout_us = med(mem["cpu_s_per_million"]) * n
    bun_d = med(bun["deliveries_per_s"])
    rows = [("fan-out alone: ours with the memory store", fanout_us, None)]
    for key, what in (("ours_us", f"+ our SQLite store, groups of {f['group']}"),
                      ("bare_us", f"+ a bare SQLite table (one column), groups of {f['group']}")):
        rows.append((what, fanout_us + med(f[key]), f[key]))
    out = [(what, us, part, 1e6 * n / us, 1e6 * n / us / bun_d) for what, us, part in rows]
    measured = None
    if ours and med(ours["cpu_s_per_million"]):
        measured = (med(ours["cpu_s_per_million"]) * n, med(ours["deliveries_per_s"]),
                    med(ours["deliveries_per_s"]) / bun_d)
    # The CPU per message that reaches the target: one core's deliveries at the target ÷ N.
    needed_us = 1e6 * n / (TARGET_VS_BUN * bun_d)
    return {"n": n, "rows": out, "measured": measured, "needed_us": needed_us,
            "store_budget_us": needed_us - fanout_us, "floor": f}


def section(summary, label, add):
    b = bound(summary)
    if b is None:
        return
    f = b["floor"]
    add("### Durable bound: what the durable default can reach")
    add("")
    add(f"Each message costs the server its fan-out ({b['n']:.0f} deliveries) and its store's part. "
        "The fan-out's CPU is ours with the memory store, measured in its throughput runs (server "
        "CPU per delivery × deliveries per message). The store's part is the least it adds: the "
        f"throughput scenario has at most {f['group']} messages in flight, so no server can commit "
        f"more in one group, and `store-floor` (server/examples) measures the CPU per message at "
        f"that size alone on CPU 0 ({f['messages']:,} messages): our SQLite store's writer thread "
        f"(its commits, fsyncs and answers; {fmt(f['ours_groups'], digits=0)} groups; the hub's "
        "side of an append is left out, so this is a least cost), and a bare table of one column "
        "with the WAL fsynced per group, the least any store that writes each message to SQLite "
        "costs. One full core ÷ their sum is the most reachable.")
    add("")
    add("| | µs of CPU per message | most reachable deliveries/s | ÷ Bun |")
    add("|---|---:|---:|---:|")
    for what, us, part, d, r in b["rows"]:
        cell = f"{us:.2f}" + (f" (store {fmt(part)})" if part else "")
        add(f"| {what} | {cell} | {d:,.0f} | {r:.2f} |")
    if b["measured"]:
        us, d, r = b["measured"]
        add(f"| measured: {label['ours']} | {us:.2f} | {d:,.0f} | {r:.2f} |")
    add("")
    head = (f"{TARGET_VS_BUN:g}× Bun's deliveries/s needs at most {b['needed_us']:.2f} µs of CPU "
            "per message: ")
    if b["store_budget_us"] >= 0:
        add(head + f"with this fan-out, {b['store_budget_us']:.2f} µs for the store.")
    else:
        # Bun's fan-out is that efficient on this machine: no store, however cheap, gets there.
        add(head + f"the fan-out alone takes {b['needed_us'] - b['store_budget_us']:.2f}, so on "
            "this machine no server with this fan-out reaches it, even with no store at all.")
    add("")
