"""The GraphQL subgraph: types, inputs, loaders, resolvers, schema."""
