"""Dependency graphs of projects and waves: cycles, layers and critical paths. Pure.

Cycles are found with graphlib; the one order every pass reuses is a plain Kahn sort, which
on large estates costs half of graphlib's. Waves act as barriers: a project of wave A starts
only after every project of each wave A depends on has finished. Rather than adding an edge
from each project of A to each project of B (quadratic), each wave gets one barrier node.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Node:
    name: str
    depends_on: Sequence[str]
    wave: str | None = None
    duration: float = 0.0  # seconds


class Timing(NamedTuple):
    # A tuple, not a frozen dataclass: one is made per node per pass, on large estates
    # hundreds of thousands, and tuples are several times cheaper to create.
    start: float
    finish: float
    via: str | None  # the predecessor that decided the start: the critical one
    # The generation: how many projects must finish, one after another, before this starts.
    layer: int = 0


def find_cycles(edges: Mapping[str, Iterable[str]], limit: int = 10) -> list[list[str]]:
    """Cycles in ``node -> dependencies``, each as a path ``[a, b, a]`` meaning a depends on b
    which depends on a. After each cycle one of its nodes is set aside, so the next is another."""
    graph = {node: set(deps) for node, deps in edges.items()}
    cycles: list[list[str]] = []
    while len(cycles) < limit:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            break
        except graphlib.CycleError as exc:
            # graphlib lists the cycle in "is needed by" order; reverse it to "depends on".
            cycle = list(reversed(exc.args[1]))
            cycles.append(_rotate_to_smallest(cycle))
            graph.pop(cycle[0], None)
            for deps in graph.values():
                deps.discard(cycle[0])
    return cycles


def topological_order(preds: Mapping[str, Iterable[str]]) -> list[str]:
    """Every node after its predecessors (``node -> predecessors``). Raises
    graphlib.CycleError, as graphlib does, if there is no such order."""
    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {}
    for node, before in preds.items():
        count = 0
        for pred in before:
            count += 1
            if pred in dependents:
                dependents[pred].append(node)
            else:
                dependents[pred] = [node]
        waiting[node] = waiting.get(node, 0) + count
        dependents.setdefault(node, [])
    for node in dependents:
        waiting.setdefault(node, 0)  # named only as a predecessor
    order = [node for node, count in waiting.items() if count == 0]
    for node in order:  # the list grows while it is read: each node once its count is 0
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                order.append(dependent)
    if len(order) < len(waiting):
        stuck = [node for node, count in waiting.items() if count]
        raise graphlib.CycleError("nodes are in a cycle", stuck)
    return order


def _rotate_to_smallest(cycle: list[str]) -> list[str]:
    """Start the cycle at its alphabetically first node, so reports are stable."""
    ring = cycle[:-1]
    first = ring.index(min(ring))
    ring = ring[first:] + ring[:first]
    return [*ring, ring[0]]


def wave_order(wave_deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Waves in an order that respects their dependencies (raises graphlib.CycleError)."""
    return list(graphlib.TopologicalSorter(wave_deps).static_order())


def ancestors(graph: Mapping[str, Iterable[str]], start: str) -> set[str]:
    """Everything ``start`` depends on, directly or not."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return seen


def _barrier(wave: str) -> str:
    # NUL cannot appear in a YAML plain name, so barriers never collide with projects.
    return f"\0wave:{wave}"


class DependencyGraph:
    """Projects plus one barrier per wave, sorted once by graphlib; every pass reuses the
    order. Raises graphlib.CycleError if the projects or waves form a cycle."""

    def __init__(self, nodes: Mapping[str, Node], wave_deps: Mapping[str, Iterable[str]]) -> None:
        self.nodes = nodes
        self.wave_deps = {wave: list(deps) for wave, deps in wave_deps.items()}
        self.preds = self._combined()
        self.order = topological_order(self.preds)

    def _combined(self) -> dict[str, list[str]]:
        graph: dict[str, list[str]] = {}
        members: dict[str, list[str]] = {wave: [] for wave in self.wave_deps}
        for node in self.nodes.values():
            preds = [d for d in node.depends_on if d in self.nodes]
            if node.wave is not None:
                preds.extend(_barrier(w) for w in self.wave_deps.get(node.wave, ()))
                members.setdefault(node.wave, []).append(node.name)
            graph[node.name] = preds
        for wave, names in members.items():
            # Through its own prerequisites' barriers, an empty wave still passes the order on.
            graph[_barrier(wave)] = names + [_barrier(w) for w in self.wave_deps.get(wave, ())]
        return graph

    def earliest_times(
        self,
        durations: Mapping[str, float] | None = None,
        release: Mapping[str, float] | None = None,
        within_waves: bool = False,
    ) -> dict[str, Timing]:
        """Earliest start and finish of every project. ``durations`` default to the nodes';
        ``release`` is the earliest start of each wave (its schedule); ``within_waves`` ignores
        every edge that crosses waves, which gives each wave's own length."""
        release = release or {}
        durations = durations or {}
        nodes, preds = self.nodes, self.preds
        timing: dict[str, Timing] = {}
        # The hot loop of planning: locals and plain comparisons, no helper calls.
        for key in self.order:
            node = nodes.get(key)
            if within_waves and node is None:
                continue
            wave = node.wave if node is not None else None
            start = release.get(wave or "", 0.0) if node is not None else 0.0
            via: str | None = None
            best = ""
            layer = 0
            for pred in preds.get(key, ()):
                is_project = pred in nodes
                if within_waves and not (is_project and nodes[pred].wave == wave):
                    continue
                before = timing[pred]
                # Layers count projects, not time: a project adds one, a wave barrier none.
                depth = before.layer + 1 if is_project else before.layer
                if depth > layer:
                    layer = depth
                finish = before.finish
                # Among equal finishes the alphabetically first wins, so runs agree.
                if finish > start or (
                    finish == start and finish > 0 and (via is None or pred < best)
                ):
                    start, best = finish, pred
                    # A barrier's critical predecessor is the project that finished last in it.
                    via = pred if is_project else before.via
            duration = 0.0 if node is None else durations.get(key, node.duration)
            timing[key] = Timing(start, start + duration, via, layer)
        return {k: v for k, v in timing.items() if k in nodes}

    def layers(self, times: Mapping[str, Timing] | None = None) -> list[list[str]]:
        """Topological generations: every project comes after its dependencies and after every
        project of the waves its wave depends on. ``times`` from earliest_times() may be
        passed to reuse that pass."""
        times = times if times is not None else self.earliest_times()
        grouped: dict[int, list[str]] = {}
        for name, timing in times.items():
            grouped.setdefault(timing.layer, []).append(name)
        return [sorted(grouped[index]) for index in sorted(grouped)]


def earliest_times(
    nodes: Mapping[str, Node],
    wave_deps: Mapping[str, Iterable[str]],
    release: Mapping[str, float] | None = None,
) -> dict[str, Timing]:
    return DependencyGraph(nodes, wave_deps).earliest_times(release=release)


def layers(nodes: Mapping[str, Node], wave_deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    return DependencyGraph(nodes, wave_deps).layers()


def critical_path(times: Mapping[str, Timing]) -> list[str]:
    """The chain of projects that decides the finish time, first to last."""
    if not times:
        return []
    last = max(times, key=lambda name: (times[name].finish, name))
    path = [last]
    while (via := times[path[-1]].via) is not None:
        path.append(via)
    return list(reversed(path))
