"""What the rules share: the estate, indexes over it, and how a rule reports a finding."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from functools import cached_property

from promote.diagnostics import YamlPath
from promote.graph import DependencyGraph, Node, ancestors, find_cycles
from promote.model import Estate, Project


@dataclass(frozen=True)
class Finding:
    file: str
    path: YamlPath
    message: str
    at_key: bool = False


class RuleContext:
    """Indexes computed once and shared by every rule."""

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self.spec = estate.spec

    def in_spec(self, path: YamlPath, message: str, at_key: bool = False) -> Finding:
        return Finding(self.estate.spec_file, path, message, at_key)

    @staticmethod
    def in_project(project: Project, path: YamlPath, message: str, at_key: bool = False) -> Finding:
        return Finding(project.origin, path, message, at_key)

    @cached_property
    def projects(self) -> dict[str, Project]:
        """By name; the first of duplicates wins (duplicates are their own finding)."""
        index: dict[str, Project] = {}
        for project in self.estate.projects:
            index.setdefault(project.name, project)
        return index

    @cached_property
    def waves(self) -> set[str]:
        return {wave.name for wave in self.spec.waves}

    @cached_property
    def environments(self) -> list[str]:
        return list(self.spec.environments)

    @cached_property
    def explicit_wave_deps(self) -> dict[str, set[str]]:
        return {w.name: {d for d in w.depends_on if d in self.waves} for w in self.spec.waves}

    @cached_property
    def wave_deps(self) -> dict[str, set[str]]:
        """Declared wave dependencies plus those implied by projects depending across waves."""
        deps = {wave: set(names) for wave, names in self.explicit_wave_deps.items()}
        for project, dependency in self.cross_wave_edges:
            deps[project.wave].add(dependency.wave)
        return deps

    @cached_property
    def acyclic_wave_deps(self) -> dict[str, set[str]]:
        """Wave dependencies that are not part of a cycle: the ones a schedule can honour.
        Edges in cycles are reported by the wave rules; judging schedules by them would only
        repeat that finding."""
        return {
            wave: {d for d in deps if wave not in self.wave_ancestors[d]}
            for wave, deps in self.wave_deps.items()
        }

    @cached_property
    def wave_ancestors(self) -> dict[str, set[str]]:
        """For each wave, every wave it waits for, directly or not (declared or implied)."""
        return {wave: ancestors(self.wave_deps, wave) for wave in self.wave_deps}

    @cached_property
    def declared_wave_ancestors(self) -> dict[str, set[str]]:
        return {wave: ancestors(self.explicit_wave_deps, wave) for wave in self.explicit_wave_deps}

    @cached_property
    def graph(self) -> DependencyGraph | None:
        """The dependency graph with wave barriers, or None while projects or waves form a
        cycle (those are findings of their own)."""
        nodes = {
            p.name: Node(p.name, p.dependency_names, p.wave, p.estimate.total_seconds())
            for p in self.projects.values()
        }
        try:
            return DependencyGraph(nodes, {w: sorted(d) for w, d in self.wave_deps.items()})
        except graphlib.CycleError:
            return None

    @cached_property
    def cross_wave_edges(self) -> list[tuple[Project, Project]]:
        edges = []
        projects, waves = self.projects, self.waves
        for project in projects.values():
            if project.wave not in waves:
                continue
            for name in project.dependency_names:
                dependency = projects.get(name)
                if (
                    dependency is not None
                    and dependency.wave != project.wave
                    and dependency.wave in waves
                ):
                    edges.append((project, dependency))
        return edges

    @cached_property
    def project_cycles(self) -> list[list[str]]:
        if self.graph is not None:
            return []  # it sorted, so there is no cycle to look for
        edges = {
            name: [d for d in p.dependency_names if d in self.projects]
            for name, p in self.projects.items()
        }
        return find_cycles(edges)

    def production(self) -> list[str]:
        return self.estate.production_environments()
