"""Report of bench/signin.sh: fan-out latency without and with sign-ins, sign-in latency, and the
timing of failed sign-ins (wrong password against unknown name), per run and over the runs.

    signin_report.py RAW_DIR OUT_DIR MODE RUNS RATE SIGNIN_SECS LOADAVG

Reads RAW_DIR/run<N>-{alone,with,with-signins,timing}.json (the load generator's JSON; a missing
or unreadable file is a failed case) and writes OUT_DIR/signin.json and OUT_DIR/signin.md.
"""

import json
import os
import statistics
import sys
import time


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def phase(fanout):
    """The measured phase of a fan-out report, or None."""
    try:
        return fanout["report"]["phases"][0]
    except (TypeError, KeyError, IndexError):
        return None


def fanout_row(fanout):
    p = phase(fanout)
    if p is None:
        return None
    rep = fanout["report"]
    return {
        "p50_ms": p["latency"]["p50_us"] / 1000,
        "p99_ms": p["latency"]["p99_us"] / 1000,
        "max_ms": p["latency"]["max_us"] / 1000,
        "lost": p["lost"],
        "expected": p["expected"],
        "connected": rep["connected"],
        # Seconds from the load generator's start to the end of the measured phase (roughly).
        "phase_end_s": rep["connect_s"] + rep["settle_s"]
        + (rep["warmup"]["secs"] if rep.get("warmup") else 0) + p["secs"],
    }


def summary(values):
    """Median and range of the values that exist."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt(s, digits=1):
    if s is None:
        return "–"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}–{s['max']:.{digits}f}]"


def num(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


def main():
    raw, out, mode, runs, rate, signin_secs, loadavg = sys.argv[1:8]
    runs, rate, signin_secs = int(runs), float(rate), float(signin_secs)
    per_run = []
    for n in range(1, runs + 1):
        alone = load(os.path.join(raw, f"run{n}-alone.json"))
        with_ = load(os.path.join(raw, f"run{n}-with.json"))
        signins = load(os.path.join(raw, f"run{n}-with-signins.json"))
        timing = load(os.path.join(raw, f"run{n}-timing.json"))
        a, w = fanout_row(alone), fanout_row(with_)
        rec = {"run": n, "alone": a, "with_signins": w}
        rec["p99_ratio"] = w["p99_ms"] / a["p99_ms"] if a and w and a["p99_ms"] > 0 else None
        rec["p50_ratio"] = w["p50_ms"] / a["p50_ms"] if a and w and a["p50_ms"] > 0 else None
        if signins:
            lat = signins["latency"]
            rec["signins"] = {
                "attempts": signins["attempts"], "ok": signins["ok"], "failed": signins["failed"],
                "first_failure": signins.get("first_failure"),
                "p50_ms": lat["p50_us"] / 1000, "p99_ms": lat["p99_us"] / 1000,
                "max_ms": lat["max_us"] / 1000,
                # From the last sign-in started to the last answered: a queue that kept growing
                # (the server answering fewer than it was asked per second) shows here.
                "tail_s": signins["wall_s"] - signins["sending_s"],
                "covered_phase": w is not None and w["phase_end_s"] <= signin_secs,
            }
        else:
            rec["signins"] = None
        if timing:
            rec["timing"] = {
                "wrong_median_ms": timing["wrong_password"]["median_us"] / 1000,
                "unknown_median_ms": timing["unknown_name"]["median_us"] / 1000,
                "wrong_p10_p90_ms": [timing["wrong_password"]["p10_us"] / 1000,
                                     timing["wrong_password"]["p90_us"] / 1000],
                "unknown_p10_p90_ms": [timing["unknown_name"]["p10_us"] / 1000,
                                       timing["unknown_name"]["p90_us"] / 1000],
                "ratio": timing["ratio_unknown_over_wrong"],
                "within_10pct": timing["within_10pct"],
                "same_code": timing["same_code"], "same_message": timing["same_message"],
                "answers": timing["answers"],
            }
        else:
            rec["timing"] = None
        rec["raw"] = {"alone": alone, "with": with_, "signins": signins, "timing": timing}
        per_run.append(rec)

    def over(get):
        vals = []
        for r in per_run:
            try:
                vals.append(get(r))
            except (TypeError, KeyError):
                vals.append(None)
        return summary(vals)

    s = {
        "alone_p50_ms": over(lambda r: r["alone"]["p50_ms"]),
        "alone_p99_ms": over(lambda r: r["alone"]["p99_ms"]),
        "with_p50_ms": over(lambda r: r["with_signins"]["p50_ms"]),
        "with_p99_ms": over(lambda r: r["with_signins"]["p99_ms"]),
        "p99_ratio": over(lambda r: r["p99_ratio"]),
        "p50_ratio": over(lambda r: r["p50_ratio"]),
        "signin_p50_ms": over(lambda r: r["signins"]["p50_ms"]),
        "signin_p99_ms": over(lambda r: r["signins"]["p99_ms"]),
        "signin_max_ms": over(lambda r: r["signins"]["max_ms"]),
        "signin_tail_s": over(lambda r: r["signins"]["tail_s"]),
        "timing_wrong_ms": over(lambda r: r["timing"]["wrong_median_ms"]),
        "timing_unknown_ms": over(lambda r: r["timing"]["unknown_median_ms"]),
        "timing_ratio": over(lambda r: r["timing"]["ratio"]),
    }
    doc = {"mode": mode, "runs": runs, "rate": rate, "signin_secs": signin_secs,
           "loadavg_at_end": loadavg, "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "summary": s, "per_run": per_run}
    with open(os.path.join(out, "signin.json"), "w") as f:
        json.dump(doc, f, indent=1)

    ratio = s["timing_ratio"]
    verdict = "–" if ratio is None else (
        "yes" if abs(ratio["median"] - 1) <= 0.10 else "NO")
    same = all(r["timing"] and r["timing"]["same_code"] and r["timing"]["same_message"]
               for r in per_run)
    md = [
        "# Sign-ins beside fan-out, and failed sign-in timing",
        "",
        f"`bench/signin.sh` ({mode}; {runs} run(s); load average at the end {loadavg}; "
        f"written {doc['written']}). Median over runs, [min–max] when they differ.",
        "",
        "## Fan-out with and without sign-ins",
        "",
        f"One room, fan-out at 100 msg/s; sign-ins at {rate:g}/s on new connections (Argon2id on "
        "the server's blocking pool), each from its own `X-Forwarded-For` address.",
        "",
        "| case | p50 ms | p99 ms |",
        "|---|---|---|",
        f"| fan-out alone | {fmt(s['alone_p50_ms'], 2)} | {fmt(s['alone_p99_ms'], 2)} |",
        f"| fan-out + {rate:g} sign-ins/s | {fmt(s['with_p50_ms'], 2)} | {fmt(s['with_p99_ms'], 2)} |",
        f"| ratio (with / alone) | {fmt(s['p50_ratio'], 2)} | {fmt(s['p99_ratio'], 2)} |",
        "",
        f"Sign-in latency (connect → `welcome`): p50 {fmt(s['signin_p50_ms'])} ms, "
        f"p99 {fmt(s['signin_p99_ms'])} ms, max {fmt(s['signin_max_ms'])} ms; the last answer "
        f"came {fmt(s['signin_tail_s'], 2)} s after the last sign-in was started.",
        "",
        "## Failed sign-ins: wrong password against unknown name",
        "",
        "Connect → `error`, one at a time, alternating, each from a fresh address.",
        "",
        f"- median, wrong password: {fmt(s['timing_wrong_ms'], 2)} ms",
        f"- median, unknown name: {fmt(s['timing_unknown_ms'], 2)} ms",
        f"- ratio unknown / wrong: {fmt(s['timing_ratio'], 3)} (within 10%: {verdict})",
        f"- same error code (`sign_in_failed`) and message in every run: {'yes' if same else 'NO'}",
        "",
        "## Per run",
        "",
        "| run | alone p50 / p99 ms | with p50 / p99 ms | p99 ratio | lost (alone / with) "
        "| sign-ins ok / tried | sign-in p50 / p99 / max ms | covered | timing wrong / unknown ms "
        "| ratio | same answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in per_run:
        a, w, si, t = r["alone"], r["with_signins"], r["signins"], r["timing"]
        cells = [
            str(r["run"]),
            f"{num(a['p50_ms'], 2)} / {num(a['p99_ms'], 2)}" if a else "failed",
            f"{num(w['p50_ms'], 2)} / {num(w['p99_ms'], 2)}" if w else "failed",
            num(r["p99_ratio"], 2),
            f"{a['lost'] if a else '–'} / {w['lost'] if w else '–'}",
            f"{si['ok']} / {si['attempts']}" if si else "failed",
            f"{num(si['p50_ms'])} / {num(si['p99_ms'])} / {num(si['max_ms'])}" if si else "–",
            ("yes" if si["covered_phase"] else "NO") if si else "–",
            f"{num(t['wrong_median_ms'], 2)} / {num(t['unknown_median_ms'], 2)}" if t else "failed",
            num(t["ratio"], 3) if t else "–",
            ("yes" if t["same_code"] and t["same_message"] else "NO") if t else "–",
        ]
        md.append("| " + " | ".join(cells) + " |")
    md += [
        "",
        "\"covered\": the sign-ins, started together with the fan-out's load generator, were "
        "still being started when its measured phase ended (from the fan-out's connect, settle, "
        "warm-up and phase times). Sign-in failures by code, and every answer seen, are in "
        "`signin.json`.",
        "",
    ]
    with open(os.path.join(out, "signin.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
