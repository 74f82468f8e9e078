"""The GraphQL subgraph: types, inputs, loaders, resolvers and the federation schema."""
