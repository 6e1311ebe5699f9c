#!/usr/bin/env python3
"""Import cycles between the module files of each crate in the workspace.

    scripts/import-cycles.py [-v] [--through-reexports] [CRATE_DIR...]
                                                     (default: every crate under the repository)

A crate is a folder with a Cargo.toml and a src/ folder; each of its roots (src/lib.rs,
src/main.rs, src/bin/*) is its own module tree. Every module FILE is a node (a module and its
child files are separate nodes; inline modules such as `mod tests { .. }` belong to their file).

Edges are imports only: `use` items and paths in code that start with `crate::`, `super::`,
`self::`, a child module's name or a name a `use` of the same file brought in. An edge goes to
the file of the module the path names: `crate::config::Limits` is an import of config's file,
even if config re-exports `Limits` from a child (the same reading as `farm-studio look`). With
--through-reexports, paths are followed through re-exports (`pub use a::B`, `pub use a::*`) to
the file that defines the name, which also shows ties a facade hides. Not edges:
  - `mod` declarations: a parent owns its children, it does not import them;
  - a module using a name defined in its own parent or another ancestor (`use super::Shared`):
    a child leaning on what its parent provides is the normal shape of a module tree.
A cycle is a strongly connected component of more than one file. Each is printed with the
edges that tie it (file -> file: names, first line). Exits 1 when there is any cycle.

Python 3 standard library only. Macro bodies (`macro_rules!`) are not read, and paths a macro
builds at expansion time are not seen.
"""

import os
import re
import sys
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {"target", ".git", "node_modules", "dist", "pkg", "output"}
ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union"}
KEYWORDS = {
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
    "type", "unsafe", "use", "where", "while", "union",
}

TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<raw_str>b?r(?P<hashes>\#*)")
  | (?P<str>b?"(?:\\.|[^"\\])*")
  | (?P<char>b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^'\\\n])')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>r\#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>[0-9][0-9A-Za-z_.]*)
  | (?P<path_sep>::)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text):
    """(kind, value, line) tokens; comments dropped, strings kept as one 'str' token."""
    out = []
    i, line, n = 0, 1, len(text)
    while i < n:
        m = TOKEN_RE.match(text, i)
        kind = m.lastgroup if m.lastgroup != "hashes" else "raw_str"
        if m.group("block_comment"):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            line += text.count("\n", i, j)
            i = j
            continue
        if m.group("raw_str"):
            close = '"' + m.group("hashes")
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append(("str", text[m.end():j - len(close)], line))
            line += text.count("\n", i, j)
            i = j
            continue
        value = m.group(0)
        if kind == "str":
            out.append(("str", value[value.index('"') + 1:-1], line))
        elif kind == "ident":
            out.append(("ident", value[2:] if value.startswith("r#") else value, line))
        elif kind in ("path_sep", "punct", "char", "lifetime", "num"):
            out.append((kind, value, line))
        line += value.count("\n")
        i = m.end()
    return out


class Module:
    """A module: a file, or an inline `mod x { .. }` inside one (same node as its file)."""

    def __init__(self, path, file, parent, dir_for_children):
        self.path = path            # ("crate", "a", "b")
        self.file = file            # node: the file this module's code is in
        self.parent = parent
        self.children = {}          # name -> Module
        self.defs = set()           # names of items defined here
        self.uses = {}              # local name -> absolute path (tuple) it stands for
        self.globs = []             # absolute paths of `use x::*`
        self.dir = dir_for_children
        self.refs = []              # (path as written, line, from a `use` item)


class Crate:
    def __init__(self, root_file, through_reexports=False):
        self.root_file = root_file
        self.through_reexports = through_reexports
        self.modules = {}           # file -> Module (the file's own module)
        self.all_modules = []
        self.errors = []
        src_dir = os.path.dirname(root_file)
        self.root = self.load(root_file, ("crate",), None, src_dir)

    # --- parsing ---------------------------------------------------------------------------
    def load(self, file, path, parent, child_dir):
        mod = Module(path, file, parent, child_dir)
        self.modules[file] = mod
        self.all_modules.append(mod)
        try:
            with open(file, encoding="utf-8") as f:
                toks = tokenize(f.read())
        except OSError as e:
            self.errors.append(f"{file}: {e}")
            return mod
        self.parse(toks, mod)
        return mod

    def parse(self, toks, top):
        stack = [(top, 0)]          # (module, brace depth of its body)
        depth = 0
        pending_path_attr = None
        i, n = 0, len(toks)
        while i < n:
            kind, val, line = toks[i]
            mod, mod_depth = stack[-1]
            at_item_level = depth == mod_depth
            if val == "{":
                depth += 1
            elif val == "}":
                if depth == mod_depth and len(stack) > 1:
                    stack.pop()
                depth -= 1
            elif val == "#" and i + 1 < n and toks[i + 1][1] in ("[", "!"):
                # Attributes: remember #[path = ".."], skip the rest.
                j = i + 1 + (toks[i + 1][1] == "!")
                end = self.matching(toks, j)
                attr = toks[j + 1:end]
                if len(attr) >= 3 and attr[0][1] == "path" and attr[1][1] == "=" and attr[2][0] == "str":
                    pending_path_attr = attr[2][1]
                i = end + 1
                continue
            elif kind == "ident" and val == "macro_rules" and i + 2 < n and toks[i + 1][1] == "!":
                if at_item_level:
                    mod.defs.add(toks[i + 2][1])
                j = i + 3
                while j < n and toks[j][1] not in ("{", "(", "["):
                    j += 1
                i = self.matching(toks, j) + 1
                continue
            elif kind == "ident" and val == "mod" and i + 2 < n and toks[i + 1][0] == "ident":
                name = toks[i + 1][1]
                after = toks[i + 2][1]
                if after == ";":
                    self.file_module(mod, name, pending_path_attr)
                    pending_path_attr = None
                    i += 3
                    continue
                if after == "{":
                    child = Module(mod.path + (name,), mod.file, mod,
                                   os.path.join(mod.dir, name))
                    mod.children[name] = child
                    self.all_modules.append(child)
                    depth += 1
                    stack.append((child, depth))
                    pending_path_attr = None
                    i += 3
                    continue
            elif kind == "ident" and val == "use" and (i == 0 or toks[i - 1][1] != "::"):
                j = i + 1
                while j < n and toks[j][1] != ";":
                    j += 1
                self.parse_use(toks[i + 1:j], mod, line)
                i = j + 1
                continue
            elif kind == "ident" and val in ITEM_KEYWORDS and at_item_level:
                if i + 1 < n and toks[i + 1][0] == "ident" and toks[i + 1][1] not in KEYWORDS:
                    mod.defs.add(toks[i + 1][1])
            elif kind == "ident" and (i == 0 or toks[i - 1][1] != "::") and i + 1 < n \
                    and toks[i + 1][0] == "path_sep":
                # A path in code: a::b::c (stops at `::<`, `::{` or a non-identifier).
                prev2 = [t[1] for t in toks[max(0, i - 3):i]]
                if prev2[-2:] == ["(", "in"] and "pub" in prev2:
                    i += 1
                    continue            # pub(in crate::x): a visibility, not an import
                segs = [val]
                j = i + 1
                while j + 1 < n and toks[j][0] == "path_sep" and toks[j + 1][0] == "ident":
                    segs.append(toks[j + 1][1])
                    j += 2
                mod.refs.append((tuple(segs), line, False))
                i = j
                continue
            i += 1

    @staticmethod
    def matching(toks, j):
        """Index of the bracket closing the one at toks[j]."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        open_, close, depth = toks[j][1], pairs.get(toks[j][1]), 0
        if close is None:
            return j
        for k in range(j, len(toks)):
            if toks[k][1] == open_:
                depth += 1
            elif toks[k][1] == close:
                depth -= 1
                if depth == 0:
                    return k
        return len(toks) - 1

    def file_module(self, mod, name, path_attr):
        if path_attr:
            candidates = [os.path.normpath(os.path.join(os.path.dirname(mod.file), path_attr))]
        else:
            candidates = [os.path.join(mod.dir, name + ".rs"), os.path.join(mod.dir, name, "mod.rs")]
        for c in candidates:
            if os.path.isfile(c):
                child_dir = os.path.dirname(c) if os.path.basename(c) == "mod.rs" \
                    else os.path.join(os.path.dirname(c), name)
                if path_attr and os.path.basename(c) != "mod.rs":
                    child_dir = os.path.join(os.path.dirname(c), os.path.splitext(os.path.basename(c))[0])
                mod.children[name] = self.load(c, mod.path + (name,), mod, child_dir)
                return
        self.errors.append(f"{mod.file}: mod {name}: no file ({', '.join(candidates)})")

    def parse_use(self, toks, mod, line):
        """Adds each name a `use` tree brings in to mod.uses (or mod.globs)."""
        toks = [t for t in toks if t[1] != "pub"]
        if toks and toks[0][1] == "(":          # pub(crate) use ..
            toks = toks[self.matching(toks, 0) + 1:]
        if toks and toks[0][1] == "::":
            toks = toks[1:]
        items = []
        self.use_tree(toks, 0, (), items)
        for prefix, alias, glob in items:
            absolute = self.absolute(prefix, mod)
            if absolute is None:
                continue
            if glob:
                mod.globs.append(absolute)
                mod.refs.append((absolute + ("*",), line, True))
            else:
                mod.uses[alias] = absolute
                mod.refs.append((absolute, line, True))

    def use_tree(self, toks, i, prefix, items):
        """Parses one use tree at toks[i]; returns the index after it."""
        segs = list(prefix)
        n = len(toks)
        while i < n:
            v = toks[i][1]
            if v == "{":
                i += 1
                while i < n and toks[i][1] != "}":
                    i = self.use_tree(toks, i, tuple(segs), items)
                    if i < n and toks[i][1] == ",":
                        i += 1
                return i + 1
            if v == "*":
                items.append((tuple(segs), None, True))
                return i + 1
            if toks[i][0] == "ident":
                segs.append(v)
                i += 1
                if i < n and toks[i][0] == "path_sep":
                    i += 1
                    continue
                alias = segs[-1]
                if i + 1 < n and toks[i][1] == "as":
                    alias = toks[i + 1][1]
                    i += 2
                if segs[-1] == "self":
                    segs.pop()
                    if alias == "self":
                        alias = segs[-1] if segs else None
                if alias and alias != "_":
                    items.append((tuple(segs), alias, False))
                elif alias == "_":
                    items.append((tuple(segs), "_" + "::".join(segs), False))
                return i
            i += 1
        return i

    # --- resolution --------------------------------------------------------------------------
    def absolute(self, segs, mod):
        """The path `segs`, written in `mod`, from the crate root; None if it leaves the crate."""
        if not segs:
            return None
        head = segs[0]
        if head == "crate":
            return segs
        if head in ("super", "self"):
            m, k = mod, 0
            while k < len(segs) and segs[k] in ("super", "self"):
                if segs[k] == "super":
                    if m.parent is None:
                        return None
                    m = m.parent
                k += 1
            return m.path + tuple(segs[k:])
        # A name in scope: a child module, an item defined here, or one a `use` brought in.
        # (Names of enclosing modules are not in scope in Rust: only `mod`'s own.)
        if head in mod.children or head in mod.defs:
            return mod.path + tuple(segs)
        if head in mod.uses:
            return mod.uses[head] + tuple(segs[1:])
        return None

    def module_at(self, path):
        m = self.root
        for seg in path[1:]:
            m = m.children.get(seg)
            if m is None:
                return None
        return m

    def target(self, path, seen=None):
        """The module whose file defines what `path` (absolute) names."""
        seen = seen or set()
        if path in seen:
            return None
        seen.add(path)
        m = self.root
        rest = list(path[1:])
        while rest:
            seg = rest[0]
            if seg == "*":
                return m
            if seg in m.children:
                m = m.children[seg]
                rest.pop(0)
                continue
            if seg in m.defs or not self.through_reexports:
                return m
            if seg in m.uses:
                via = m.uses[seg]
                if via[:1] == ("crate",):
                    t = self.target(via + tuple(rest[1:]), seen)
                    return t if t is not None else m
                return m
            for g in m.globs:
                g_mod = self.module_at(g)
                if g_mod is not None and (seg in g_mod.defs or seg in g_mod.children or seg in g_mod.uses):
                    t = self.target(g + tuple(rest), seen)
                    if t is not None:
                        return t
            return m
        return m

    def edges(self):
        """{(from_file, to_file): {name: first line}} for every import between files."""
        out = defaultdict(dict)
        for mod in self.all_modules:
            for segs, line, from_use in mod.refs:
                absolute = segs if segs[:1] == ("crate",) else self.absolute(segs, mod)
                if absolute is None:
                    continue
                if from_use and self.module_at(absolute) is not None:
                    continue        # `use crate::a;`: the paths through `a` are the imports
                t = self.target(absolute)
                if t is None or t.file == mod.file:
                    continue
                if self.is_ancestor(t.file, mod):
                    continue
                # The name taken from the module (`Stack` of `crate::Stack::start`).
                taken = absolute[len(t.path):len(t.path) + 1] if absolute[:len(t.path)] == t.path else ()
                name = taken[0] if taken and taken[0] != "*" else "::".join(absolute[1:])
                out[(mod.file, t.file)].setdefault(name, line)
        return out

    @staticmethod
    def is_ancestor(file, m):
        """Whether `file` holds a module that encloses `m`."""
        p = m.parent
        while p is not None:
            if p.file == file:
                return True
            p = p.parent
        return False


def sccs(nodes, adj):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        work = [(v, iter(sorted(adj.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def crate_dirs():
    found = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if "Cargo.toml" in filenames and os.path.isdir(os.path.join(dirpath, "src")):
            found.append(dirpath)
    return found


def package_name(crate_dir):
    try:
        with open(os.path.join(crate_dir, "Cargo.toml"), encoding="utf-8") as f:
            m = re.search(r'^\[package\][^\[]*?^name\s*=\s*"([^"]+)"', f.read(), re.M | re.S)
            return m.group(1) if m else os.path.basename(crate_dir)
    except OSError:
        return os.path.basename(crate_dir)


def roots(crate_dir):
    src = os.path.join(crate_dir, "src")
    out = [os.path.join(src, f) for f in ("lib.rs", "main.rs") if os.path.isfile(os.path.join(src, f))]
    bin_dir = os.path.join(src, "bin")
    if os.path.isdir(bin_dir):
        for f in sorted(os.listdir(bin_dir)):
            p = os.path.join(bin_dir, f)
            if f.endswith(".rs"):
                out.append(p)
            elif os.path.isfile(os.path.join(p, "main.rs")):
                out.append(os.path.join(p, "main.rs"))
    return out


def main(argv):
    flags = {"-v", "--through-reexports"}
    verbose = "-v" in argv
    through = "--through-reexports" in argv
    dirs = [os.path.abspath(a) for a in argv if a not in flags] or crate_dirs()
    rel = lambda p: os.path.relpath(p, REPO)  # noqa: E731
    total = 0
    for d in dirs:
        cycles = []
        warnings = []
        counts = [0, 0]
        for root in roots(d):
            crate = Crate(root, through)
            warnings += crate.errors
            edges = crate.edges()
            adj = defaultdict(set)
            for (a, b) in edges:
                adj[a].add(b)
            nodes = set(crate.modules)
            counts[0] += len(nodes)
            counts[1] += len(edges)
            for comp in sccs(nodes, adj):
                if len(comp) > 1:
                    ties = [(a, b, edges[(a, b)]) for a in comp for b in comp if (a, b) in edges]
                    cycles.append((comp, ties))
        total += len(cycles)
        print(f"{rel(d)} ({package_name(d)}): {len(cycles)} cycle{'s' if len(cycles) != 1 else ''}")
        if verbose:
            print(f"  {counts[0]} module files, {counts[1]} imports between them")
        for w in warnings if verbose else ():
            print(f"  warning: {rel(w.split(': ')[0])}: {w.split(': ', 1)[1]}")
        for k, (comp, ties) in enumerate(cycles, 1):
            print(f"  cycle {k}: {len(comp)} files: {', '.join(rel(c) for c in comp)}")
            for a, b, names in ties:
                shown = sorted(names.items(), key=lambda kv: kv[1])
                listed = ", ".join(f"{name} (line {line})" for name, line in shown[:6])
                more = f", and {len(shown) - 6} more" if len(shown) > 6 else ""
                print(f"    {rel(a)} -> {rel(b)}: {listed}{more}")
    print(f"import cycles: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
