"""A layered, left-to-right layout of a workflow's graph, for the debugger's pages.

Conditions declared in the definition and tasks are nodes; an implicit condition (`A__to__B`)
is drawn as the edge A -> B, carrying its marking. Layers follow the shortest distance from the
start condition (so loops do not stretch the picture), and nodes in a layer are ordered by the
mean position of their neighbours in the previous layer, a few passes over.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tasquencer.records import WorkflowStructure

COLUMN = 170  # pixels between layers
ROW = 90  # pixels between nodes of a layer
MARGIN = 60


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


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    through: str | None = None  # the implicit condition the edge stands for
    backwards: bool = False  # drawn as a curve: it goes back to an earlier layer


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
    layer = _layers(start, names, edges)
    order = _order(names, edges, layer)
    position = {name: (MARGIN + layer[name] * COLUMN, MARGIN + order[name] * ROW) for name in names}
    tasks = {t["name"]: t for t in structure["tasks"]}
    nodes = []
    for condition in structure["conditions"]:
        if condition["name"] in implicit:
            continue
        x, y = position[condition["name"]]
        nodes.append(
            Node(
                condition["name"],
                "condition",
                x,
                y,
                condition["name"],
                is_start=condition["is_start"],
                is_end=condition["is_end"],
            )
        )
    for name, task in tasks.items():
        x, y = position[name]
        nodes.append(Node(name, task["kind"], x, y, name, task["join_type"], task["split_type"]))
    placed = [
        Edge(e.source, e.target, e.through, layer[e.target] <= layer[e.source]) for e in edges
    ]
    width = MARGIN * 2 + max(layer.values(), default=0) * COLUMN
    height = MARGIN * 2 + max(order.values(), default=0) * ROW
    return Layout(nodes, placed, width, height)


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


def _layers(start: str, names: list[str], edges: list[Edge]) -> dict[str, int]:
    successors: dict[str, list[str]] = {name: [] for name in names}
    for edge in edges:
        successors[edge.source].append(edge.target)
    layer = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in successors[node]:
            if successor not in layer:
                layer[successor] = layer[node] + 1
                queue.append(successor)
    deepest = max(layer.values(), default=0)
    for name in names:  # not reachable from the start: drawn after everything else
        layer.setdefault(name, deepest + 1)
    return layer


def _order(names: list[str], edges: list[Edge], layer: dict[str, int]) -> dict[str, float]:
    by_layer: dict[int, list[str]] = {}
    for name in names:
        by_layer.setdefault(layer[name], []).append(name)
    predecessors: dict[str, list[str]] = {name: [] for name in names}
    for edge in edges:
        if layer[edge.source] < layer[edge.target]:
            predecessors[edge.target].append(edge.source)
    order = {name: float(i) for nodes in by_layer.values() for i, name in enumerate(nodes)}
    for _ in range(4):
        for depth in sorted(by_layer)[1:]:
            nodes = by_layer[depth]
            nodes.sort(key=lambda n: _mean([order[p] for p in predecessors[n]], order[n]))
            for i, name in enumerate(nodes):
                order[name] = float(i)
    tallest = max((len(nodes) for nodes in by_layer.values()), default=1)
    for nodes in by_layer.values():  # centre each layer against the tallest
        offset = (tallest - len(nodes)) / 2
        for name in nodes:
            order[name] += offset
    return order


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default
