"""Fields of value types (no key) that only another subgraph resolves.

`Category.details` may live in a subgraph where Category has no key; that subgraph can still
return `product { category { details } }` when asked for the Product, the nearest ancestor
entity. Without any ancestor entity, a shareable root field lets each subgraph be asked for
its part from the root.
"""

from __future__ import annotations

from graphql import FieldNode

from crm_gateway.planning.errors import PlanningError
from crm_gateway.planning.groups import Frame, Group, Position, extend_path, find_target
from crm_gateway.planning.walk import FieldWalk
from crm_gateway.selection import SelTree


class Ancestors:
    def __init__(self, walk: FieldWalk) -> None:
        self.walk = walk
        self.sg = walk.sg
        self.sources = walk.sources

    def plan_via_ancestor(
        self, type_name: str, key: str, nodes: list[FieldNode], chain: tuple[Frame, ...]
    ) -> bool:
        """Plans the field through an ancestor; False when no ancestor can serve it."""
        fname = nodes[0].name.value
        for depth in range(len(chain) - 1, -1, -1):
            frame = chain[depth]
            steps = chain[depth:]
            for g in self.sg.field_graphs(type_name, fname):
                if not self._resolves_path(g, steps):
                    continue
                source = self._key_source(frame, g)
                if source is None:
                    continue
                src_group, src_target = source
                src_at = Position(src_group, frame.path, src_target, chain)
                there = self.walk.jumps.jump(src_at, frame.type_name, g, frame.type_name, None)
                sub = _replay(steps, there.target)
                end = Position(there.group, self._end_path(chain), sub, chain)
                self.walk.plan_field(end, type_name, key, nodes, None)
                return True
        return self._from_root(type_name, key, nodes, chain)

    def _from_root(
        self, type_name: str, key: str, nodes: list[FieldNode], chain: tuple[Frame, ...]
    ) -> bool:
        """A shareable root field whose subtree is split over subgraphs without keys: ask
        each subgraph for its part from the root."""
        root = chain[0] if chain else None
        keyless = not any(t.keys for t in self.sg.types[type_name].graphs.values())
        if root is None or root.group.root_kind != "query" or not keyless:
            return False
        for g in self.sg.field_graphs(type_name, nodes[0].name.value):
            if not self._resolves_path(g, chain):
                continue
            rg = self.walk.groups.root_group(g, root.group.step)
            end = Position(rg, self._end_path(chain), _replay(chain, rg.sel), chain)
            self.walk.plan_field(end, type_name, key, nodes, None)
            return True
        return False

    def _end_path(self, chain: tuple[Frame, ...]) -> tuple[str, ...]:
        """The response path below the last frame of the chain."""
        last = chain[-1]
        fdef = self.sg.types[last.type_name].fields[last.field_name]
        return extend_path(last.path, last.key, fdef.type_node)

    def _resolves_path(self, graph: str, steps: tuple[Frame, ...]) -> bool:
        return all(self.sources.local(graph, f.type_name, f.field_name, None) for f in steps)

    def _key_source(self, frame: Frame, graph: str) -> tuple[Group, SelTree] | None:
        """A fetch at the ancestor's position that can supply its key for `graph`.

        The ancestor may have been reached through an entity fetch that cannot return the key
        (it is `@external` there); the fetch it depends on, which produced the object, may.
        """
        t = frame.type_name
        if self.sources.entity_key(graph, t, frame.group.graph, t) is not None:
            return frame.group, frame.target
        for dep in sorted(frame.group.deps, key=lambda d: d.id):
            target = find_target(dep, frame.path)
            if target is not None and self.sources.entity_key(graph, t, dep.graph, t, False):
                return dep, target
        return None


def _replay(steps: tuple[Frame, ...], sel: SelTree) -> SelTree:
    """Selects the path of `steps` again inside `sel`; returns the innermost selection."""
    for f in steps:
        fs = sel.add_field(f.key, f.field_name, f.args_text, f.variables, True)
        if fs is None or fs.sub is None:
            raise PlanningError(f"conflicting selections for {f.key}")
        sel = fs.sub
    return sel
