// Apollo Gateway over a supergraph file, for side-by-side benchmarking only.
// Usage: node apollo.mjs <supergraph.graphql> <port>   (APOLLO_TELEMETRY_DISABLED=true is set
// by the benchmark; without it the gateway reports usage data to Apollo).
// The client's Authorization header is passed on to every subgraph (the real subgraphs
// require a bearer token; the in-repo fakes ignore it), as our gateway does.
import { readFileSync } from "node:fs";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

class ForwardAuthorization extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set("authorization", context.authorization);
  }
}

const [supergraphPath, port] = process.argv.slice(2);
const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, "utf8"),
  buildService: ({ url }) => new ForwardAuthorization({ url }),
});
const server = new ApolloServer({ gateway, csrfPrevention: false });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(port) },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});
console.error(`apollo gateway ready at ${url}`);
