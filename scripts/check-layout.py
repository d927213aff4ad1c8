#!/usr/bin/env python3
"""Checks the code's layout against rules that review keeps having to enforce by hand.

1. ARCHITECTURE.md has a table `| step | file | function |` (the path of one message) of at
   least 10 rows; each row's file (a path in backticks, from the repository root) exists and
   defines each function named in backticks (`Hub::begin_publish` is looked up as
   `begin_publish`).
2. No Rust source file in shared/src, server/src, client-wasm/src, bench/*/src and
   bench/peers/*/src is over 500 lines, not counting `#[cfg(test)]` modules (files named
   tests.rs or under a tests/ directory are exempt).
3. No import circle between the top-level modules of a crate (shared, server, client-wasm):
   module A depends on B when a file of A names `crate::B` (or reaches it through `super::`),
   outside comments, strings and `#[cfg(test)]` items. `crate::Name` re-exported by the crate
   root (`pub use b::Name`) counts as `crate::b`.

Usage: check-layout.py [--root DIR] [--list] [--self-test]
  --list       print each crate's module dependency graph (then run the checks)
  --self-test  check the checker on a fake tree that breaks every rule, and on a clean one
Exits 1 with one message per failure. Python 3 standard library only.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MAX_LINES = 500
MIN_ROWS = 10
TABLE_HEADER = ["step", "file", "function"]
SIZE_DIRS = ["shared/src", "server/src", "client-wasm/src", "bench/*/src", "bench/peers/*/src"]
CRATE_DIRS = ["shared/src", "server/src", "client-wasm/src"]
JS_SUFFIXES = {".js", ".mjs", ".cjs", ".ts"}


# ---------------------------------------------------------------- Rust source, lightly lexed


def strip_rust(text):
    """Blanks out comments, string and char literals, keeping every newline (so line numbers
    still hold) and everything else in place."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif c == "r" or c == "b":
            m = re.compile(r'b?r(#*)"').match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                end = text.find('"' + m.group(1), m.end())
                end = n if end < 0 else end + 1 + len(m.group(1))
                out.append(blank(text[i:end]))
                i = end
            else:
                out.append(c)
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif c == "'":
            m = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^'\\\n])'").match(text, i)
            if m:
                out.append(blank(m.group(0)))
                i = m.end()
            else:  # a lifetime or a label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
ATTR = re.compile(r"\s*#\s*\[")
VIS = r"(?:pub(?:\s*\([^)]*\))?\s+)?"
MOD_DECL = re.compile(r"\s*" + VIS + r"mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*([;{])")


def _skip_attrs(code, i):
    """Index after any attributes starting at i (whitespace included)."""
    while True:
        m = ATTR.match(code, i)
        if not m:
            return i
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"[": 1, "]": -1}.get(code[j], 0)
            j += 1
        i = j


def _match_brace(code, i):
    """Given code[i] == '{', the index just after its matching '}'."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def cfg_test_items(code):
    """Spans (start, end, is_module, module name or None, inline) of the items under
    `#[cfg(test)]` in stripped code."""
    spans = []
    for m in CFG_TEST.finditer(code):
        start = m.start()
        if spans and start < spans[-1][1]:
            continue  # inside an item already skipped
        i = _skip_attrs(code, m.end())
        mod = MOD_DECL.match(code, i)
        if mod:
            end = _match_brace(code, mod.end() - 1) if mod.group(2) == "{" else mod.end()
            spans.append((start, end, True, mod.group(1), mod.group(2) == "{"))
            continue
        rest = re.compile(r"\s*" + VIS + r"use\b").match(code, i)
        if rest:
            semi = code.find(";", i)
            spans.append((start, len(code) if semi < 0 else semi + 1, False, None, False))
            continue
        j, depth = i, 0
        while j < len(code):
            ch = code[j]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif depth == 0 and ch == ";":
                j += 1
                break
            elif depth == 0 and ch == "{":
                j = _match_brace(code, j)
                break
            j += 1
        spans.append((start, j, False, None, False))
    return spans


def blank_spans(code, spans):
    parts, last = [], 0
    for start, end, *_ in spans:
        parts.append(code[last:start])
        parts.append("".join(c if c == "\n" else " " for c in code[start:end]))
        last = end
    parts.append(code[last:])
    return "".join(parts)


def line_of(code, index):
    return code.count("\n", 0, index) + 1


def read(path):
    return Path(path).read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------- 1. the path table


def md_cells(line):
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return None
    # Split on pipes outside backticks.
    cells, cur, tick = [], [], False
    for ch in line[1:-1]:
        if ch == "`":
            tick = not tick
        if ch == "|" and not tick:
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur).strip())
    return cells


def defines(path, name):
    text = read(path)
    n = re.escape(name)
    if path.suffix in JS_SUFFIXES:
        pats = [r"\bfunction\s*\*?\s*" + n + r"\b", r"(?<![\w$.])" + n + r"\s*\(", r"(?<![\w$])" + n + r"\s*="]
    else:
        text = strip_rust(text)
        quals = r"(?:(?:const|async|unsafe|default|extern(?:\s+\"[^\"]*\")?)\s+)*"
        pats = [r"(?m)^\s*" + VIS + quals + r"fn\s+" + n + r"\b"]
    return any(re.search(p, text) for p in pats)


def check_table(root):
    doc = root / "ARCHITECTURE.md"
    if not doc.is_file():
        return ["table: ARCHITECTURE.md does not exist"]
    lines = read(doc).splitlines()
    header = "| " + " | ".join(TABLE_HEADER) + " |"
    start = None
    for i, line in enumerate(lines):
        cells = md_cells(line)
        if cells and [c.lower() for c in cells] == TABLE_HEADER:
            start = i
            break
    if start is None:
        return [f"table: ARCHITECTURE.md has no table with the header `{header}` (the path of one message)"]
    failures, rows = [], 0
    for k in range(start + 2, len(lines)):
        cells = md_cells(lines[k])
        if cells is None:
            break
        rows += 1
        where = f"table: ARCHITECTURE.md:{k + 1}"
        if len(cells) != 3:
            failures.append(f"{where}: expected 3 cells, found {len(cells)}")
            continue
        step, file_cell, fn_cell = cells
        paths = re.findall(r"`([^`]+)`", file_cell)
        if len(paths) != 1:
            failures.append(f"{where} (step {step}): the file cell needs exactly one path in backticks, found {file_cell!r}")
            continue
        rel = paths[0].strip()
        path = (root / rel).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            failures.append(f"{where} (step {step}): file `{rel}` does not exist")
            continue
        names = re.findall(r"`([^`]+)`", fn_cell)
        if not names:
            failures.append(f"{where} (step {step}): the function cell names no function in backticks")
        for full in names:
            name = re.sub(r"\(.*\)$", "", full.strip()).split("::")[-1].split(".")[-1].strip()
            if not re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", name):
                failures.append(f"{where} (step {step}): `{full}` is not a function name")
            elif not defines(path, name):
                failures.append(f"{where} (step {step}): `{rel}` does not define `{name}` (from `{full}`)")
    if rows < MIN_ROWS:
        failures.append(f"table: ARCHITECTURE.md:{start + 1}: the path table has {rows} rows, at least {MIN_ROWS} needed")
    return failures


# ---------------------------------------------------------------- 2. file sizes


def is_test_file(rel):
    return rel.name == "tests.rs" or "tests" in rel.parts[:-1]


def counted_lines(text):
    """Lines of a file outside its `#[cfg(test)]` modules."""
    code = strip_rust(text)
    total = len(text.splitlines())
    for start, end, is_mod, _, inline in cfg_test_items(code):
        if is_mod and inline:
            first, last = line_of(code, start), line_of(code, end - 1)
            total -= last - first + 1
    return total


def check_sizes(root):
    failures = []
    for pattern in SIZE_DIRS:
        for src in sorted(root.glob(pattern)):
            for path in sorted(src.rglob("*.rs")):
                rel = path.relative_to(root)
                if is_test_file(path.relative_to(src)):
                    continue
                n = counted_lines(read(path))
                if n > MAX_LINES:
                    failures.append(f"size: {rel}: {n} lines outside #[cfg(test)] modules (max {MAX_LINES})")
    return failures


# ---------------------------------------------------------------- 3. import circles


def module_path(src, path):
    """Module path of a file under a crate's src (lib.rs: [], hub.rs and hub/mod.rs: [hub])."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
        parts = parts[:-1]
    return parts


def child_files(src, path, name):
    """Where `mod name;` declared in `path` lives: its file and its folder."""
    if path.name in ("mod.rs", "lib.rs", "main.rs"):
        base = path.parent
    else:
        base = path.parent / path.stem
    return [base / f"{name}.rs", base / name]


def root_info(src, root_file):
    """Top-level modules declared in a crate root and the names it re-exports from them."""
    code = strip_rust(read(root_file))
    code = blank_spans(code, [s for s in cfg_test_items(code)])
    mods = [m.group(1) for m in re.finditer(r"(?m)^\s*" + VIS + r"mod\s+([A-Za-z_]\w*)\s*;", code)]
    reexports = {}
    for m in re.finditer(r"(?m)^\s*" + VIS + r"use\s+(?:crate::|self::)?([^;]+);", code):
        for target, alias in flatten_use(m.group(1)):
            if len(target) >= 2 and target[0] in mods:
                reexports[alias] = target[0]
    return mods, reexports


def flatten_use(tree):
    """`a::{b, c::d as e}` -> [([a, b], b), ([a, c, d], e)]."""
    tree = re.sub(r"\s+", " ", tree).strip()

    def split_top(s):
        parts, depth, cur = [], 0, []
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
        parts.append("".join(cur))
        return [p.strip() for p in parts if p.strip()]

    def walk(prefix, s):
        s = s.strip()
        brace = s.find("{")
        if brace >= 0 and s.endswith("}"):
            head = [p for p in s[:brace].split("::") if p.strip()]
            for part in split_top(s[brace + 1 : -1]):
                yield from walk(prefix + [h.strip() for h in head], part)
            return
        alias = None
        if " as " in s:
            s, alias = [x.strip() for x in s.split(" as ", 1)]
        segs = prefix + [p.strip() for p in s.split("::") if p.strip()]
        if segs and segs[-1] != "*" and segs[-1] != "self":
            yield segs, alias or segs[-1]
        elif segs and segs[-1] == "self" and len(segs) > 1:
            yield segs[:-1], alias or segs[-2]

    return list(walk([], tree))


CRATE_REF = re.compile(r"(?<![\w$])crate\s*::\s*(\{|[A-Za-z_]\w*)")
SUPER_REF = re.compile(r"(?<![\w$:])((?:super\s*::\s*)+)(\{|[A-Za-z_]\w*)")


def group_heads(code, brace):
    """First segments of the paths in the `{...}` group opening at code[brace]."""
    end = _match_brace(code, brace)
    inner = code[brace + 1 : end - 1]
    heads = []
    for segs, _ in flatten_use(inner):
        if segs:
            heads.append(segs[0])
    # `crate::{self, a}`: `self` alone says nothing about modules.
    return [h for h in heads if h != "self"]


def crate_graph(root, src):
    """For one crate: (root file, modules, {(a, b): [(file, line)]}) or None if no root."""
    roots = [src / f for f in ("lib.rs", "main.rs") if (src / f).is_file()]
    graphs = []
    for root_file in roots:
        mods, reexports = root_info(src, root_file)
        if not mods:
            continue
        edges = {}
        for mod in mods:
            files = []
            if (src / f"{mod}.rs").is_file():
                files.append(src / f"{mod}.rs")
            if (src / mod).is_dir():
                files.extend(sorted((src / mod).rglob("*.rs")))
            excluded = set()
            for path in files:
                if any(path == e or e in path.parents for e in excluded):
                    continue
                code = strip_rust(read(path))
                spans = cfg_test_items(code)
                for _, _, is_mod, name, inline in spans:
                    if is_mod and not inline:
                        excluded.update(child_files(src, path, name))
                code = blank_spans(code, spans)
                depth = len(module_path(src, path))

                def add(target, index):
                    target = target if target in mods else reexports.get(target)
                    if target and target != mod:
                        edges.setdefault((mod, target), []).append((path.relative_to(root), line_of(code, index)))

                for m in CRATE_REF.finditer(code):
                    if m.group(1) == "{":
                        for head in group_heads(code, m.start(1)):
                            add(head, m.start())
                    else:
                        add(m.group(1), m.start())
                for m in SUPER_REF.finditer(code):
                    ups = m.group(1).count("super")
                    if ups < depth:
                        continue  # stays inside this top-level module
                    if ups > depth:
                        continue  # not valid Rust; leave it to the compiler
                    if m.group(2) == "{":
                        for head in group_heads(code, m.start(2)):
                            add(head, m.start())
                    else:
                        add(m.group(2), m.start())
        graphs.append((root_file.relative_to(root), mods, edges))
    return graphs


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    succ = {n: sorted({b for (a, b) in edges if a == n}) for n in nodes}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def where(refs):
    by_file = {}
    for path, line in refs:
        by_file.setdefault(str(path), []).append(line)
    return "; ".join(f"{f}:{','.join(str(n) for n in sorted(set(ls)))}" for f, ls in by_file.items())


def check_cycles(root, listing=False):
    failures = []
    for crate in CRATE_DIRS:
        src = root / crate
        if not src.is_dir():
            continue
        for root_file, mods, edges in crate_graph(root, src):
            if listing:
                print(f"{root_file}: {len(mods)} top-level modules")
                for mod in mods:
                    deps = sorted(b for (a, b) in edges if a == mod)
                    shown = ", ".join(f"{b} ({len(edges[(mod, b)])})" for b in deps)
                    print(f"  {mod} -> {shown or '(none)'}")
            for comp in sccs(mods, edges):
                if len(comp) < 2:
                    continue
                inside = sorted(e for e in edges if e[0] in comp and e[1] in comp)
                lines = [f"cycle: {root_file}: modules {', '.join(comp)} depend on each other:"]
                for a, b in inside:
                    refs = edges[(a, b)]
                    lines.append(f"    {a} -> {b} ({len(refs)}): {where(refs)}")
                failures.append("\n".join(lines))
    return failures


# ---------------------------------------------------------------- main and self-test


def run_checks(root, listing=False):
    return check_table(root) + check_sizes(root) + check_cycles(root, listing)


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def fake_tree(root, broken):
    table = ["# Architecture", "", "| step | file | function |", "|---|---|---|"]
    for k in range(10):
        table.append(f"| {k + 1} | `server/src/hub/publish.rs` | `Hub::begin_publish`, `fan_out` |")
    table.append("| 11 | `client-wasm/app.js` | `send` |")
    if broken:
        table.append("| 12 | `server/src/hub/publish.rs` | `Hub::no_such_fn` |")
        table.append("| 13 | `server/src/nowhere.rs` | `run` |")
    write(root, "ARCHITECTURE.md", "\n".join(table) + "\n")
    write(root, "client-wasm/app.js", "export async function send(ws, m) { ws.send(m); }\n")
    write(root, "client-wasm/src/lib.rs", "pub mod app;\n")
    write(root, "client-wasm/src/app.rs", "pub fn app() {}\n")
    write(root, "server/src/lib.rs", "mod hub;\nmod store;\nmod util;\npub use store::Store;\n")
    write(
        root,
        "server/src/hub/mod.rs",
        "mod publish;\nuse crate::util::now; // crate::store in a comment is no edge\n"
        'const S: &str = "crate::store";\npub struct Hub(crate::Store);\n',
    )
    write(
        root,
        "server/src/hub/publish.rs",
        "impl Hub {\n    pub(crate) async fn begin_publish(&self) {}\n}\nfn fan_out() {}\n"
        + "fn filler() {}\n" * 480
        + "#[cfg(test)]\nmod tests {\n    use crate::store::Store;\n"
        + "    fn t() {}\n" * 100
        + "}\n",
    )
    store = "use crate::{util::now, Store as _};\npub struct Store;\n"
    if broken:
        store += "fn f() -> crate::hub::Hub { todo!() }\n" + "fn g() {}\n" * 498
    write(root, "server/src/store.rs", store)
    util = "pub fn now() {}\n#[cfg(test)]\nuse crate::hub::Hub;\n#[cfg(test)]\nmod tests;\n"
    write(root, "server/src/util.rs", util)
    write(root, "server/src/util/tests.rs", "use crate::hub;\n" + "fn t() {}\n" * 600)
    write(root, "shared/src/lib.rs", "pub mod protocol;\npub mod types;\n")
    write(root, "shared/src/protocol.rs", "use crate::types::Name;\n")
    if broken:
        write(root, "shared/src/types.rs", "pub struct Name;\nfn f() { super::super::protocol::x(); }\nuse super::{protocol};\n")
    else:
        write(root, "shared/src/types.rs", "pub struct Name;\n")


def self_test():
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for broken in (False, True):
            root = Path(tmp) / ("broken" if broken else "clean")
            fake_tree(root, broken)
            run = subprocess.run(
                [sys.executable, __file__, "--root", str(root), "--list"],
                capture_output=True,
                text=True,
            )
            out = run.stdout + run.stderr
            if not broken:
                expect_code, expect = 0, ["hub -> store (1), util (1)", "store -> util (1)", "util -> (none)"]
                forbid = ["cycle:", "size:", "table:"]
            else:
                expect_code = 1
                expect = [
                    "does not define `no_such_fn` (from `Hub::no_such_fn`)",
                    "file `server/src/nowhere.rs` does not exist",
                    "size: server/src/store.rs: 501 lines",
                    "cycle: server/src/lib.rs: modules hub, store depend on each other:",
                    "hub -> store (1): server/src/hub/mod.rs:4",  # via the lib.rs re-export
                    "store -> hub (1): server/src/store.rs:3",
                    "cycle: shared/src/lib.rs: modules protocol, types",
                    "types -> protocol (1): shared/src/types.rs:3",
                ]
                forbid = ["size: server/src/hub/publish.rs", "util/tests.rs", "util -> hub", "begin_publish`", "`fan_out`", "app.js"]
            if run.returncode != expect_code:
                print(f"self-test: the {root.name} tree exited {run.returncode}, expected {expect_code}")
                ok = False
            for s in expect:
                if s not in out:
                    print(f"self-test: the {root.name} tree's report lacks: {s}")
                    ok = False
            for s in forbid:
                if s in out:
                    print(f"self-test: the {root.name} tree's report wrongly has: {s}")
                    ok = False
            if not ok:
                print(f"---- its report:\n{out}")
                break
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--list", action="store_true", help="print each crate's module graph")
    ap.add_argument("--self-test", action="store_true", help="check the checker on fake trees")
    args = ap.parse_args()
    if args.self_test:
        if self_test():
            print("check-layout self-test: ok (missing function and file, 501-line file, cycles all reported; a clean tree passes)")
            return 0
        return 1
    failures = run_checks(args.root, args.list)
    sys.stdout.flush()
    for f in failures:
        print(f, file=sys.stderr)
    if failures:
        print(f"check-layout: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("check-layout: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
