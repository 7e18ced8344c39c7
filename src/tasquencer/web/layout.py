"""A layered, left-to-right layout of a workflow's graph, for the debugger's pages.

Conditions declared in the definition and tasks are nodes; an implicit condition (`A__to__B`)
is drawn as the edge A -> B, carrying its marking. The edges that close a loop (found by a
depth-first walk from the start condition) are drawn backwards, below the graph; over the
others, each node's layer is the longest path to it from the start, so every forward edge
points right and the end condition comes last. An edge that spans several layers passes through
a waypoint in each layer between, ordered with the nodes, so it goes around them rather than
through them. Nodes and waypoints in a layer are ordered by the mean position of their
neighbours, sweeping right and back a few times.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tasquencer.records import WorkflowStructure

COLUMN = 170  # pixels between layers
ROW = 90  # pixels between nodes of a layer
MARGIN = 60
TASK_HALF_WIDTH = 58.0
CONDITION_RADIUS = 18.0

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str  # "condition" or the task kind
    x: float
    y: float
    label: str
    join: str = ""
    split: str = ""
    is_start: bool = False
    is_end: bool = False

    @property
    def half_width(self) -> float:
        return CONDITION_RADIUS if self.kind == "condition" else TASK_HALF_WIDTH


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    through: str | None = None  # the implicit condition the edge stands for
    backwards: bool = False  # it closes a loop: drawn back to an earlier layer
    points: tuple[Point, ...] = field(default=())  # from the source's side to the target's


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float


def lay_out(structure: WorkflowStructure) -> Layout:
    implicit = {c["name"] for c in structure["conditions"] if c["is_implicit"]}
    edges = _edges(structure, implicit)
    names = [c["name"] for c in structure["conditions"] if c["name"] not in implicit]
    names += [t["name"] for t in structure["tasks"]]
    start = next(c["name"] for c in structure["conditions"] if c["is_start"])
    layer, back = _layers(start, names, edges)
    chains = _chains(edges, layer, back)
    order = _order(names, chains, layer)
    at: dict[str, Point] = {
        name: (MARGIN + layer[name] * COLUMN, MARGIN + order[name] * ROW) for name in layer
    }
    nodes = _nodes(structure, implicit, at)
    placed = {node.id: node for node in nodes}
    height = MARGIN * 2 + max(order.values(), default=0) * ROW
    drawn = [
        _drawn(edge, chain, placed, at, (edge.source, edge.target) in back, height)
        for edge, chain in zip(edges, chains, strict=True)
    ]
    width = MARGIN * 2 + max(layer.values(), default=0) * COLUMN
    loops = any(edge.backwards for edge in drawn)
    return Layout(nodes, drawn, width, height + (40 if loops else 0))


def _edges(structure: WorkflowStructure, implicit: set[str]) -> list[Edge]:
    into = {f["source"]: f["target"] for f in structure["flows"] if f["source"] in implicit}
    edges = []
    for flow in structure["flows"]:
        source, target = flow["source"], flow["target"]
        if source in implicit:
            continue
        if target in implicit:
            edges.append(Edge(source, into[target], through=target))
        else:
            edges.append(Edge(source, target))
    return edges


def _layers(
    start: str, names: list[str], edges: list[Edge]
) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Each node's layer, and the edges that close a loop."""
    successors: dict[str, list[str]] = {name: [] for name in names}
    for edge in edges:
        successors[edge.source].append(edge.target)
    order, back = _walk(start, names, successors)
    layer = dict.fromkeys(names, 0)
    for node in order:  # a topological order of the forward edges
        for successor in successors[node]:
            if (node, successor) not in back:
                layer[successor] = max(layer[successor], layer[node] + 1)
    return layer, back


def _walk(
    start: str, names: list[str], successors: dict[str, list[str]]
) -> tuple[list[str], set[tuple[str, str]]]:
    """Nodes in reverse postorder of a depth-first walk (from the start, then from whatever
    it does not reach), and the edges that close a loop: those into a node still on the walk's
    path."""
    finished: list[str] = []
    back: set[tuple[str, str]] = set()
    state: dict[str, str] = {}
    for root in [start, *names]:
        if root in state:
            continue
        state[root] = "open"
        stack = [(root, iter(successors[root]))]
        while stack:
            node, pending = stack[-1]
            successor = next(pending, None)
            if successor is None:
                stack.pop()
                state[node] = "done"
                finished.append(node)
            elif state.get(successor) == "open":
                back.add((node, successor))
            elif successor not in state:
                state[successor] = "open"
                stack.append((successor, iter(successors[successor])))
    return finished[::-1], back


def _chains(
    edges: list[Edge], layer: dict[str, int], back: set[tuple[str, str]]
) -> list[list[str]]:
    """Each edge as the nodes it passes through: its ends, with a waypoint in every layer a
    forward edge crosses (added to `layer`)."""
    chains = []
    for number, edge in enumerate(edges):
        chain = [edge.source]
        if (edge.source, edge.target) not in back:
            for depth in range(layer[edge.source] + 1, layer[edge.target]):
                waypoint = f"\0{number}.{depth}"  # never a node's name: names are printable
                layer[waypoint] = depth
                chain.append(waypoint)
        chains.append([*chain, edge.target])
    return chains


def _order(names: list[str], chains: list[list[str]], layer: dict[str, int]) -> dict[str, float]:
    by_layer: dict[int, list[str]] = {}
    for name in [*names, *(p for chain in chains for p in chain[1:-1])]:
        by_layer.setdefault(layer[name], []).append(name)
    before: dict[str, list[str]] = {name: [] for name in layer}
    after: dict[str, list[str]] = {name: [] for name in layer}
    for chain in chains:
        for source, target in itertools.pairwise(chain):
            if layer[source] < layer[target]:
                before[target].append(source)
                after[source].append(target)
    order = {name: float(i) for nodes in by_layer.values() for i, name in enumerate(nodes)}
    depths = sorted(by_layer)
    for _ in range(4):  # sweeps to the right by predecessors, back to the left by successors
        for sweep, neighbours in ((depths[1:], before), (depths[-2::-1], after)):
            for depth in sweep:
                nodes = by_layer[depth]
                nodes.sort(key=lambda n: _mean([order[m] for m in neighbours[n]], order[n]))
                for i, name in enumerate(nodes):
                    order[name] = float(i)
    tallest = max((len(nodes) for nodes in by_layer.values()), default=1)
    for nodes in by_layer.values():  # centre each layer against the tallest
        offset = (tallest - len(nodes)) / 2
        for name in nodes:
            order[name] += offset
    return order


def _nodes(structure: WorkflowStructure, implicit: set[str], at: dict[str, Point]) -> list[Node]:
    nodes = []
    for condition in structure["conditions"]:
        name = condition["name"]
        if name not in implicit:
            x, y = at[name]
            start, end = condition["is_start"], condition["is_end"]
            nodes.append(Node(name, "condition", x, y, name, is_start=start, is_end=end))
    for task in structure["tasks"]:
        x, y = at[task["name"]]
        kind, join, split = task["kind"], task["join_type"], task["split_type"]
        nodes.append(Node(task["name"], kind, x, y, task["name"], join, split))
    return nodes


def _drawn(
    edge: Edge,
    chain: list[str],
    placed: dict[str, Node],
    at: dict[str, Point],
    backwards: bool,
    height: float,
) -> Edge:
    source, target = placed[edge.source], placed[edge.target]
    first = (source.x + source.half_width, source.y)
    last = (target.x - target.half_width, target.y)
    points: tuple[Point, ...]
    if backwards:  # below everything, from the source's right back to the target's left
        below = height - MARGIN / 2
        points = (first, (first[0] + 30, below), (last[0] - 30, below), last)
    else:
        points = (first, *(at[waypoint] for waypoint in chain[1:-1]), last)
    return Edge(edge.source, edge.target, edge.through, backwards, points)


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default
