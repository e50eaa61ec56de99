"""The small lineage graph of a version: the run that logged it on the left, the version
in the middle, the runs that used it on the right. Laid out here, drawn as SVG by the
template (all labels go through its autoescaping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..store.records import RunRecord

__all__ = ["Node", "Edge", "Graph", "lineage_graph"]

SHOWN = 8  # runs drawn per side; the page lists the rest
ROW = 44
WIDTH = 640
BOX_W, BOX_H = 170, 30


@dataclass(frozen=True)
class Node:
    """A box: label, link (may be empty), top-left corner, and whether it is the version."""

    label: str
    href: str
    x: int
    y: int
    current: bool = False


@dataclass(frozen=True)
class Edge:
    """An arrow from (x1, y1) to (x2, y2)."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    hidden: int  # used-by runs not drawn


def _run_label(run: RunRecord) -> str:
    name = run.name or run.run_id
    return name if len(name) <= 22 else name[:21] + "…"


def lineage_graph(
    version_label: str, logged_by: Optional[RunRecord], used_by: list[RunRecord], run_href
) -> Graph:
    """Boxes and arrows for `logged_by -> version -> used_by` (`run_href(run)` links a run)."""
    drawn = used_by[:SHOWN]
    rows = max(1, len(drawn))
    height = rows * ROW + 10
    mid_y = height // 2 - BOX_H // 2
    left_x, mid_x, right_x = 5, WIDTH // 2 - BOX_W // 2, WIDTH - BOX_W - 5
    label = version_label if len(version_label) <= 24 else version_label[:23] + "…"
    nodes = [Node(label, "", mid_x, mid_y, current=True)]
    edges = []
    if logged_by is not None:
        nodes.append(Node(_run_label(logged_by), run_href(logged_by), left_x, mid_y))
        edges.append(Edge(left_x + BOX_W, mid_y + BOX_H // 2, mid_x, mid_y + BOX_H // 2))
    for i, run in enumerate(drawn):
        y = 5 + i * ROW + (ROW - BOX_H) // 2 if len(drawn) > 1 else mid_y
        nodes.append(Node(_run_label(run), run_href(run), right_x, y))
        edges.append(Edge(mid_x + BOX_W, mid_y + BOX_H // 2, right_x, y + BOX_H // 2))
    return Graph(nodes, edges, WIDTH, height, len(used_by) - len(drawn))
