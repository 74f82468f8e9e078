"""Static cost of an operation before any subgraph is called: demand control.

The model follows the IBM GraphQL Cost Directive conventions (as Apollo's demand control
does): an object (or interface, union) costs 1, a scalar or enum 0, a root mutation field
10; `@cost(weight:)` on a field or type replaces those; a list multiplies what it holds by
its size. The size of a list is, in order:

- `@listSize(slicingArguments:)` on the field, or by convention its `first` / `last`
  argument: the value asked for (`first: 1000000` costs a million), or the default page
  size (GATEWAY_DEFAULT_PAGE_SIZE, 20, what the services return) when it is left out;
- `@listSize(assumedSize:)`;
- for the `edges` / `nodes` of a connection (`@listSize(sizedFields:)`, or by convention any
  field with `first` / `last` that returns an object), the connection's own size;
- otherwise GATEWAY_DEFAULT_LIST_SIZE (10).

Fragments are costed once per request and reused at every spread (linear in the document):
a fragment's cost is kept as a fixed part plus, per list field a parent may size, the cost
of one element, so the same fragment under `first: 5` and `first: 50` needs no second walk.
Introspection (`__schema`, `__type`, `__typename`) is free: the gateway answers it from
the schema it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationDefinitionNode,
    SelectionNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    parse,
)

__all__ = ["CostModel", "ListSize", "size_input"]

CAP = 1 << 50
SLICING_CONVENTION = ("first", "last")
SIZED_CONVENTION = ("edges", "nodes")
MUTATION_WEIGHT = 10


def _cap(value: int) -> int:
    return min(value, CAP)


def size_input(value: Any) -> int | None:
    """What the model reads of a variable given to a slicing argument: an int, or nothing
    (the default size applies). Two requests whose variables read the same cost the same."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ListSize:
    """`@listSize` of one field (or what the conventions imply for it)."""

    assumed_size: int | None = None
    slicing_arguments: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()


@dataclass
class _Cost:
    fixed: int = 0
    # Cost of one element of each list field a parent may size, by field name.
    per_element: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Cost) -> None:
        self.fixed = _cap(self.fixed + other.fixed)
        for name, cost in other.per_element.items():
            self.per_element[name] = _cap(self.per_element.get(name, 0) + cost)

    def total(self, sized: Iterable[str], size: int, default_size: int) -> int:
        sized = set(sized)
        out = self.fixed
        for name, cost in self.per_element.items():
            out = _cap(out + cost * (size if name in sized else default_size))
        return out


def _directive_name(node: DirectiveNode) -> str:
    # Imported under a namespace in some supergraphs (`@federation__cost`, `@cost__listSize`).
    return node.name.value.rsplit("__", 1)[-1]


def _argument(node: DirectiveNode, name: str) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            v = arg.value
            if isinstance(v, IntValueNode):
                return int(v.value)
            if isinstance(v, BooleanValueNode):
                return v.value
            if isinstance(v, ListValueNode):
                return tuple(x.value for x in v.values if isinstance(x, StringValueNode))
            if isinstance(v, StringValueNode):
                return v.value
    return None


class CostModel:
    def __init__(
        self,
        schema: GraphQLSchema,
        supergraph_sdl: str,
        *,
        default_list_size: int = 10,
        default_page_size: int = 20,
    ) -> None:
        self.schema = schema
        self.default_list_size = default_list_size
        self.default_page_size = default_page_size
        self.field_weights: dict[tuple[str, str], int] = {}
        self.type_weights: dict[str, int] = {}
        self.list_sizes: dict[tuple[str, str], ListSize] = {}
        self._read_directives(supergraph_sdl)

    def _read_directives(self, sdl: str) -> None:
        for definition in parse(sdl, no_location=True).definitions:
            directives = getattr(definition, "directives", None) or ()
            name = getattr(getattr(definition, "name", None), "value", None)
            for d in directives:
                if _directive_name(d) == "cost" and name is not None:
                    self.type_weights[name] = int(_argument(d, "weight") or 0)
            if not isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
                continue
            for f in definition.fields or ():
                self._read_field(definition.name.value, f)

    def _read_field(self, type_name: str, f: FieldDefinitionNode) -> None:
        for d in f.directives or ():
            kind = _directive_name(d)
            if kind == "cost":
                self.field_weights[(type_name, f.name.value)] = int(_argument(d, "weight") or 0)
            elif kind == "listSize":
                self.list_sizes[(type_name, f.name.value)] = ListSize(
                    assumed_size=_argument(d, "assumedSize"),
                    slicing_arguments=_argument(d, "slicingArguments") or (),
                    sized_fields=_argument(d, "sizedFields") or (),
                )

    # --- estimating ------------------------------------------------------------------

    def estimate(
        self,
        op: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """(cost, whether it depends on the variables' values)."""
        cost, inputs = self.estimate_inputs(op, fragments, variables)
        return cost, bool(inputs)

    def estimate_inputs(
        self,
        op: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> tuple[int, tuple[str, ...]]:
        """(cost, the variables it read, sorted). The names depend on the document alone
        (every selection is walked, whatever the values), and the cost on the document
        and `size_input` of those variables' values: a caller may keep the cost by them."""
        root = self.schema.get_root_type(op.operation)
        walk = _Walk(self, fragments, variables)
        if root is None:
            return 0, ()
        cost = walk.selections(root, op.selection_set.selections)
        return cost.total((), 0, self.default_list_size), tuple(sorted(walk.read))


class _Walk:
    def __init__(
        self,
        model: CostModel,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.model = model
        self.fragments = fragments
        self.variables = variables
        self.memo: dict[str, _Cost] = {}
        self.active: set[str] = set()
        self.read: set[str] = set()  # the variables whose values sized a list

    def selections(self, parent: Any, selections: Iterable[SelectionNode]) -> _Cost:
        out = _Cost()
        for s in selections:
            if isinstance(s, FieldNode):
                out.add(self._field(parent, s))
            elif isinstance(s, InlineFragmentNode):
                tc = s.type_condition
                target = self.model.schema.get_type(tc.name.value) if tc else parent
                out.add(self.selections(target or parent, s.selection_set.selections))
            elif isinstance(s, FragmentSpreadNode):
                out.add(self._fragment(parent, s.name.value))
        return out

    def _fragment(self, parent: Any, name: str) -> _Cost:
        known = self.memo.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return _Cost()  # unknown or cyclic: validation refuses the document anyway
        self.active.add(name)
        target = self.model.schema.get_type(definition.type_condition.name.value) or parent
        cost = self.selections(target, definition.selection_set.selections)
        self.active.discard(name)
        self.memo[name] = cost
        return cost

    def _field(self, parent: Any, node: FieldNode) -> _Cost:
        name = node.name.value
        fields: dict[str, GraphQLField] = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if name.startswith("__") or definition is None:
            return _Cost()
        model = self.model
        named = get_named_type(definition.type)
        key = (parent.name, name)
        weight = model.field_weights.get(key)
        if weight is None:
            weight = model.type_weights.get(named.name, 0 if is_leaf_type(named) else 1)
            if parent is model.schema.mutation_type:
                weight = MUTATION_WEIGHT
        declared = model.list_sizes.get(key) or self._convention(definition)
        size = self._size(node, declared)
        children = _Cost()
        if node.selection_set is not None:
            children = self.selections(named, node.selection_set.selections)
        inner = children.total(declared.sized_fields, size, model.default_list_size)
        one = _cap(weight + inner)
        if not _is_list(definition.type):
            return _Cost(fixed=one)
        if declared.slicing_arguments or declared.assumed_size is not None:
            return _Cost(fixed=_cap(one * size))
        # A list without a size of its own: its parent (a connection) may size it.
        return _Cost(per_element={name: one})

    @staticmethod
    def _convention(definition: GraphQLField) -> ListSize:
        slicing = tuple(a for a in SLICING_CONVENTION if a in definition.args)
        if not slicing:
            return ListSize()
        if _is_list(definition.type):
            return ListSize(slicing_arguments=slicing)
        return ListSize(slicing_arguments=slicing, sized_fields=SIZED_CONVENTION)

    def _size(self, node: FieldNode, declared: ListSize) -> int:
        if declared.slicing_arguments:
            asked = [self._int_argument(node, a) for a in declared.slicing_arguments]
            given = [g for g in asked if g is not None]
            if given:
                return max(0, *given)
            return (
                declared.assumed_size
                if declared.assumed_size is not None
                else self.model.default_page_size
            )
        if declared.assumed_size is not None:
            return declared.assumed_size
        return self.model.default_list_size

    def _int_argument(self, node: FieldNode, name: str) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value != name:
                continue
            v = arg.value
            if isinstance(v, IntValueNode):
                return int(v.value)
            if isinstance(v, VariableNode):
                self.read.add(v.name.value)
                return size_input(self.variables.get(v.name.value))
        return None


def _is_list(t: Any) -> bool:
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return isinstance(t, GraphQLList)
