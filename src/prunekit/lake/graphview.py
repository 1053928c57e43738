"""Pictures of the containment graph: its transitive reduction as a PNG, and an HTML page.

Duplicate groups are collapsed into one node first (their members contain each other, so any
picture of them is a cycle), then only the edges not implied by a longer path are drawn (the
transitive reduction of the resulting DAG). Layout: parents above children, each node on the
layer of its longest path from a root; nodes of a layer spread evenly. matplotlib only (Agg), no
network resources: the HTML embeds the PNG as base64.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from pathlib import Path

from prunekit.io.atomic import atomic_path
from prunekit.lake.model import ScanResult


def _node_of(result: ScanResult) -> dict[str, str]:
    node = {}
    for g in result.duplicate_groups:
        label = g[0] + (f" (+{len(g) - 1} dup)" if len(g) > 1 else "")
        for x in g:
            node[x] = label
    return node


def reduced_edges(result: ScanResult) -> list[tuple[str, str]]:
    """``(parent, child)`` node pairs of the transitive reduction (duplicate groups collapsed).

    Mutual containments that are not duplicate groups (possible under set semantics) are
    collapsed too, by strongly connected components.
    """
    node = _node_of(result)
    pairs = {(node.get(e.parent, e.parent), node.get(e.child, e.child)) for e in result.edges}
    pairs = {(p, c) for p, c in pairs if p != c}
    # Collapse any remaining cycles (set semantics) so the reduction is well defined.
    succ = defaultdict(set)
    for p, c in pairs:
        succ[p].add(c)
    comp = _scc(succ, {x for pc in pairs for x in pc})
    label = {}
    for members in comp:
        ms = sorted(members)
        name = ms[0] if len(ms) == 1 else f"{ms[0]} (+{len(ms) - 1} mutual)"
        for m in ms:
            label[m] = name
    dag = {(label[p], label[c]) for p, c in pairs if label[p] != label[c]}
    down = defaultdict(set)
    for p, c in dag:
        down[p].add(c)
    reach: dict[str, set[str]] = {}

    def reachable(x: str) -> set[str]:
        if x not in reach:
            reach[x] = set()
            out = set()
            for y in down[x]:
                out.add(y)
                out |= reachable(y)
            reach[x] = out
        return reach[x]

    keep = []
    for p, c in sorted(dag):
        if not any(c in reachable(m) for m in down[p] if m != c):
            keep.append((p, c))
    return keep


def _scc(succ: dict[str, set[str]], nodes: set[str]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(succ.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(succ.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def _layers(edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer of every node: the length of its longest path from a root (parents on top)."""
    parents = defaultdict(set)
    nodes = set()
    for p, c in edges:
        parents[c].add(p)
        nodes |= {p, c}
    layer: dict[str, int] = {}

    def depth(x: str) -> int:
        if x not in layer:
            layer[x] = 0   # guards recursion; the input is a DAG
            layer[x] = max((depth(p) + 1 for p in parents[x]), default=0)
        return layer[x]

    for x in nodes:
        depth(x)
    return layer


def _components(edges: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Edges grouped by weakly connected component, biggest component first."""
    adj = defaultdict(set)
    for p, c in edges:
        adj[p].add(c)
        adj[c].add(p)
    seen, comps = set(), []
    for s in sorted(adj):
        if s in seen:
            continue
        comp, stack = set(), [s]
        while stack:
            x = stack.pop()
            if x not in comp:
                comp.add(x)
                stack.extend(adj[x])
        seen |= comp
        comps.append(comp)
    comps.sort(key=lambda c: (-len(c), min(c)))
    return [[(p, c) for p, c in edges if p in comp] for comp in comps]


def layout(edges: list[tuple[str, str]], shelf_slots: int = 12) -> dict[str, tuple[float, float]]:
    """Node → (x, y) in slot units (y grows downwards): every connected component gets its own
    layered layout (parents above children), components are packed left to right on shelves of
    at most ``shelf_slots`` slots, so unrelated pairs do not cross each other."""
    pos: dict[str, tuple[float, float]] = {}
    x0, y0, shelf_h = 0, 0, 0
    for comp in _components(edges):
        layer = _layers(comp)
        by_layer = defaultdict(list)
        for node, ly in layer.items():
            by_layer[ly].append(node)
        w = max(len(v) for v in by_layer.values())
        h = max(by_layer) + 1
        if x0 > 0 and x0 + w > shelf_slots:
            x0, y0, shelf_h = 0, y0 + shelf_h + 1, 0   # new shelf, one empty row between
        for ly, nodes in by_layer.items():
            nodes.sort()
            off = (w - len(nodes)) / 2
            for i, node in enumerate(nodes):
                pos[node] = (x0 + off + i, y0 + ly)
        x0 += w
        shelf_h = max(shelf_h, h)
    return pos


def render_png(result: ScanResult, path: str | Path, *, max_nodes: int = 400) -> Path:
    """Draw the reduced graph to ``path`` (PNG); an empty graph gives a small 'no containment' image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = reduced_edges(result)
    nodes = {x for pc in edges for x in pc}
    if len(nodes) > max_nodes:   # keep the picture legible: the biggest connected parts first
        edges = _largest_components(edges, max_nodes)
    pos = layout(edges)
    width = max((x for x, _ in pos.values()), default=0) + 1
    height = max((y for _, y in pos.values()), default=0) + 1
    fig, ax = plt.subplots(figsize=(min(40.0, max(6.0, 2.3 * width)), min(60.0, max(3.0, 0.9 * height + 1))))
    for p, c in edges:
        (x0, y0), (x1, y1) = pos[p], pos[c]
        ax.annotate("", xy=(x1, -y1), xytext=(x0, -y0),
                    arrowprops=dict(arrowstyle="->", color="#777777", lw=0.8, shrinkA=7, shrinkB=7))
    for node, (x, y) in pos.items():
        label = node if len(node) <= 30 else node[:28] + "…"
        ax.text(x, -y, label, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.25", fc="#eef3fb", ec="#4a6fa5", lw=0.6))
    if not pos:
        ax.text(0.5, 0.5, "no containment found", ha="center", va="center")
    else:
        ax.set_xlim(-0.7, width - 0.3)
        ax.set_ylim(-height + 0.5, 0.5)
    ax.axis("off")
    ax.set_title(f"containment: child below parent (transitive reduction, {len(edges)} edges; "
                 f"duplicate groups as one node)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)


def _largest_components(edges: list[tuple[str, str]], max_nodes: int) -> list[tuple[str, str]]:
    keep: list[tuple[str, str]] = []
    n = 0
    for comp in _components(edges):
        size = len({x for pc in comp for x in pc})
        if keep and n + size > max_nodes:
            break
        keep.extend(comp)
        n += size
    return keep


def render_html(result: ScanResult, png_path: str | Path, path: str | Path) -> Path:
    """An HTML page: the PNG (embedded as base64), the reduced edges, duplicate groups, all edges."""
    img = base64.b64encode(Path(png_path).read_bytes()).decode()
    esc = html.escape
    reduced = reduced_edges(result)
    rows = "\n".join(f"<tr><td>{esc(c)}</td><td>&sube;</td><td>{esc(p)}</td></tr>" for p, c in reduced)
    groups = "\n".join(f"<li>{esc(', '.join(g))}</li>" for g in result.duplicate_groups) or "<li>none</li>"
    prof = result.profiles
    all_rows = "\n".join(
        f"<tr><td>{esc(e.child)}</td><td>{prof[e.child].rows if e.child in prof else ''}</td>"
        f"<td>{esc(e.parent)}</td><td>{prof[e.parent].rows if e.parent in prof else ''}</td>"
        f"<td>{'derived' if e.derived else 'verified' if e.verified else ''}</td>"
        f"<td>{'yes' if e.duplicate else ''}</td><td>{esc(', '.join(e.columns))}</td></tr>"
        for e in result.edges)
    stages = "\n".join(f"<tr><td>{esc(s.stage)}</td><td>{s.pairs_in}</td><td>{s.pairs_out}</td>"
                       f"<td>{s.seconds:.3f}</td></tr>" for s in result.stages)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>prunekit lake scan: {esc(result.root)}</title>
<style>body{{font-family:sans-serif;margin:2em;}} table{{border-collapse:collapse;margin:1em 0;}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px;}} img{{max-width:100%;}}</style></head>
<body><h1>Containment in {esc(result.root)}</h1>
<p>{len(result.profiles)} tables, {len(result.edges)} edges (child &sube; parent, {esc(result.semantics)}
semantics, engine {esc(result.engine)}), {len(result.duplicate_groups)} duplicate groups,
{len(result.skipped)} files skipped.</p>
<h2>Stages</h2><table><tr><th>stage</th><th>in</th><th>out</th><th>seconds</th></tr>{stages}</table>
<h2>Graph (transitive reduction)</h2><img alt="containment graph" src="data:image/png;base64,{img}">
<table><tr><th>child</th><th></th><th>parent</th></tr>{rows}</table>
<h2>Duplicate groups</h2><ul>{groups}</ul>
<h2>All edges</h2><table><tr><th>child</th><th>rows</th><th>parent</th><th>rows</th><th>how</th>
<th>duplicate</th><th>columns</th></tr>{all_rows}</table>
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
