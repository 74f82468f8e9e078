"""Subscriptions through the gateway: WebSocket (graphql-transport-ws) and SSE (graphql-sse
distinct connections) for clients, the subscription's root field streamed from its subgraph
(the subgraphs' live transport) and every event completed by the rest of the query plan."""
