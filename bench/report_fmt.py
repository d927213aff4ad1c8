"""How the report (bench/report.py) summarizes runs and writes its figures: a statistic over runs
(median, min, max, count), written as its median with [min–max], and a count of receivers in
short (10k)."""

import statistics


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


def med(s):
    return None if s is None else s["median"]


def short(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
