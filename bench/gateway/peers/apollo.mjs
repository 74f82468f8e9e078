// Apollo Gateway over a supergraph file, for side-by-side benchmarking only.
// Usage: node apollo.mjs <supergraph.graphql> <port>   (APOLLO_TELEMETRY_DISABLED=true is set
// by the benchmark; without it the gateway reports usage data to Apollo).
import { readFileSync } from "node:fs";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const [supergraphPath, port] = process.argv.slice(2);
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(supergraphPath, "utf8") });
const server = new ApolloServer({ gateway, csrfPrevention: false });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(port) },
});
console.error(`apollo gateway ready at ${url}`);
