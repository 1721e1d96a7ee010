from __future__ import annotations

import graphlib
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promote.graph import (
    Node,
    critical_path,
    earliest_times,
    find_cycles,
    layers,
    topological_order,
)


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, Node], dict[str, list[str]]]:
    """Random DAGs: each node may depend only on nodes before it; waves likewise ordered."""
    size = draw(st.integers(min_value=1, max_value=40))
    wave_count = draw(st.integers(min_value=1, max_value=4))
    waves = [f"w{i}" for i in range(wave_count)]
    # wave i depends on a random subset of earlier waves
    wave_deps = {w: [v for v in waves[:i] if draw(st.booleans())] for i, w in enumerate(waves)}
    assigned = sorted(draw(st.lists(st.integers(0, wave_count - 1), min_size=size, max_size=size)))
    nodes: dict[str, Node] = {}
    for i in range(size):
        deps = [f"n{j}" for j in range(i) if draw(st.integers(0, 3)) == 0]
        nodes[f"n{i}"] = Node(f"n{i}", deps, waves[assigned[i]], draw(st.integers(1, 100)))
    return nodes, wave_deps


def _all_wave_prereqs(wave_deps: dict[str, list[str]], wave: str) -> set[str]:
    seen: set[str] = set()
    stack = list(wave_deps[wave])
    while stack:
        w = stack.pop()
        if w not in seen:
            seen.add(w)
            stack.extend(wave_deps[w])
    return seen


@settings(max_examples=200, deadline=None)
@given(dags())
def test_every_edge_goes_forward_across_layers(
    case: tuple[dict[str, Node], dict[str, list[str]]],
) -> None:
    nodes, wave_deps = case
    generations = layers(nodes, wave_deps)
    layer_of = {name: i for i, names in enumerate(generations) for name in names}
    assert sorted(layer_of) == sorted(nodes)  # every node exactly once
    for node in nodes.values():
        for dep in node.depends_on:
            assert layer_of[dep] < layer_of[node.name]
        for other in nodes.values():  # wave barriers hold too
            if other.wave in _all_wave_prereqs(wave_deps, node.wave or ""):
                assert layer_of[other.name] < layer_of[node.name]
    # generations are tight: a node not in layer 0 has a reason to wait
    for name, index in layer_of.items():
        if index > 0:
            node = nodes[name]
            blockers = [layer_of[d] for d in node.depends_on] + [
                layer_of[o.name]
                for o in nodes.values()
                if o.wave in _all_wave_prereqs(wave_deps, node.wave or "")
            ]
            assert max(blockers) == index - 1


@settings(max_examples=200, deadline=None)
@given(dags())
def test_critical_path_is_a_chain_that_decides_the_finish(
    case: tuple[dict[str, Node], dict[str, list[str]]],
) -> None:
    nodes, wave_deps = case
    times = earliest_times(nodes, wave_deps)
    path = critical_path(times)
    assert times[path[0]].start == 0
    assert times[path[-1]].finish == max(t.finish for t in times.values())
    for before, after in pairwise(path):
        assert times[after].start == times[before].finish
    assert sum(nodes[n].duration for n in path) == times[path[-1]].finish


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=25))
    names = [f"p{i}" for i in range(size)]
    graph = {n: draw(st.lists(st.sampled_from(names), max_size=4, unique=True)) for n in names}
    # plant a cycle so there is always at least one
    ring = draw(st.lists(st.sampled_from(names), min_size=1, max_size=size, unique=True))
    for a, b in zip(ring, [*ring[1:], ring[0]], strict=False):
        if b not in graph[a]:
            graph[a].append(b)
    return graph


@settings(max_examples=300, deadline=None)
@given(cyclic_graphs())
def test_reported_cycles_really_are_cycles(graph: dict[str, list[str]]) -> None:
    cycles = find_cycles(graph)
    assert cycles, "a graph with a planted cycle must report one"
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1  # simple: no node twice
        for node, dependency in pairwise(cycle):
            assert dependency in graph[node], f"{node} -> {dependency} is not an edge"


@settings(max_examples=100, deadline=None)
@given(dags())
def test_acyclic_graphs_report_no_cycle(case: tuple[dict[str, Node], dict[str, list[str]]]) -> None:
    nodes, _ = case
    assert find_cycles({n.name: list(n.depends_on) for n in nodes.values()}) == []


def test_cycle_path_reads_as_depends_on() -> None:
    assert find_cycles({"a": ["b"], "b": ["a"]}) == [["a", "b", "a"]]


def test_schedule_release_delays_a_wave() -> None:
    nodes = {"t": Node("t", [], "infra", 600), "api": Node("api", ["t"], "apps", 1800)}
    times = earliest_times(nodes, {"infra": [], "apps": ["infra"]}, release={"apps": 3600})
    assert (times["api"].start, times["api"].finish) == (3600, 5400)
    assert times["api"].via is None  # the schedule decided, not the dependency


def test_layers_refuse_cycles() -> None:
    with pytest.raises(graphlib.CycleError):
        layers({"a": Node("a", ["b"]), "b": Node("b", ["a"])}, {})


@st.composite
def any_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """Graphs with or without cycles, some nodes named only as predecessors."""
    names = [f"n{i}" for i in range(draw(st.integers(1, 12)))]
    keys = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    return {k: draw(st.lists(st.sampled_from(names), max_size=4)) for k in keys}


@settings(max_examples=300, deadline=None)
@given(any_graphs())
def test_topological_order_agrees_with_graphlib(graph: dict[str, list[str]]) -> None:
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        with pytest.raises(graphlib.CycleError):
            topological_order(graph)
        return
    order = topological_order(graph)
    every = set(graph) | {p for preds in graph.values() for p in preds}
    assert sorted(order) == sorted(every)  # each node exactly once
    position = {node: index for index, node in enumerate(order)}
    for node, preds in graph.items():
        assert all(position[p] < position[node] for p in preds)
