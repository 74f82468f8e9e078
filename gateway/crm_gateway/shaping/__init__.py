"""Shaping the merged subgraph data into the client's response (`crm_gateway.shaper`).

- `collect`: which of the client's fields apply to an object of a given type.
- `codegen`: one Python function per selection and object type, generated lazily.
- `run`: per-request state (errors, paths) shared by the generated functions.
"""
