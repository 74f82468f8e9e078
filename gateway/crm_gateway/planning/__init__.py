"""The query planner's parts; `crm_gateway.planner.Planner` is the entry point.

- `collect`: which client fields apply at a position (fragments, `@skip`/`@include`).
- `sources`: which subgraphs resolve a field, and which entity key reaches them
  (with what a parent's `@provides` makes local).
- `cost`: an estimate used to choose among subgraphs that can all serve a subtree.
- `groups`: fetch groups (future fetches) and the ancestor frames of the walk.
- `jumps`: entity fetches, with their keys and `@requires` inputs.
- `fields`: the walk over the client selection, field by field.
- `abstract`: interfaces, unions and `@interfaceObject`.
- `ancestors`: fields of value types reached through an ancestor entity.
- `assembly`: from fetch groups to Sequence/Parallel/Flatten plan nodes.
"""
