"""Dependency graphs of projects and waves: cycles, layers and critical paths. Pure.

Sorting is graphlib's. Waves act as barriers: a project of wave A starts only after every
project of each wave A depends on has finished. Rather than adding an edge from each project
of A to each project of B (quadratic), each wave gets one barrier node.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    name: str
    depends_on: Sequence[str]
    wave: str | None = None
    duration: float = 0.0  # seconds


@dataclass(frozen=True)
class Timing:
    start: float
    finish: float
    via: str | None  # the predecessor that decided the start: the critical one


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


def _barrier(wave: str) -> tuple[str, str]:
    return ("wave", wave)


def _combined(
    nodes: Mapping[str, Node], wave_deps: Mapping[str, Iterable[str]]
) -> dict[object, set[object]]:
    graph: dict[object, set[object]] = {}
    members: dict[str, set[object]] = {wave: set() for wave in wave_deps}
    for node in nodes.values():
        preds: set[object] = {d for d in node.depends_on if d in nodes}
        if node.wave is not None:
            preds.update(_barrier(w) for w in wave_deps.get(node.wave, ()))
            members.setdefault(node.wave, set()).add(node.name)
        graph[node.name] = preds
    for wave, names in members.items():
        # Through its own prerequisites' barriers, an empty wave still passes the order on.
        graph[_barrier(wave)] = names | {_barrier(w) for w in wave_deps.get(wave, ())}
    return graph


def earliest_times(
    nodes: Mapping[str, Node],
    wave_deps: Mapping[str, Iterable[str]],
    release: Mapping[str, float] | None = None,
) -> dict[str, Timing]:
    """Earliest start and finish of every project, given durations, dependencies, wave
    barriers and, optionally, the earliest time each wave may start (its schedule)."""
    release = release or {}
    graph = _combined(nodes, wave_deps)
    timing: dict[object, Timing] = {}
    for key in graphlib.TopologicalSorter(graph).static_order():
        start, via = 0.0, None
        if isinstance(key, str):
            start = release.get(nodes[key].wave or "", 0.0)
        # Sorted, so that among equal finishes the same predecessor is chosen on every run.
        for pred in sorted(graph[key], key=str):
            finish = timing[pred].finish
            if finish > start or (finish == start and via is None and finish > 0):
                start = finish
                # A barrier's critical predecessor is the project that finished last in it.
                via = pred if isinstance(pred, str) else timing[pred].via
        duration = nodes[key].duration if isinstance(key, str) else 0.0
        timing[key] = Timing(start, start + duration, via)
    return {k: v for k, v in timing.items() if isinstance(k, str)}


def layers(nodes: Mapping[str, Node], wave_deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Topological generations: every project comes after its dependencies and after every
    project of the waves its wave depends on. Computed as earliest times with unit durations."""
    unit = {name: Node(n.name, n.depends_on, n.wave, 1.0) for name, n in nodes.items()}
    times = earliest_times(unit, wave_deps)
    grouped: dict[int, list[str]] = {}
    for name, timing in times.items():
        grouped.setdefault(int(timing.start), []).append(name)
    return [sorted(grouped[index]) for index in sorted(grouped)]


def critical_path(times: Mapping[str, Timing]) -> list[str]:
    """The chain of projects that decides the finish time, first to last."""
    if not times:
        return []
    last = max(times, key=lambda name: (times[name].finish, name))
    path = [last]
    while (via := times[path[-1]].via) is not None:
        path.append(via)
    return list(reversed(path))
