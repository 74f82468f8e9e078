#!/usr/bin/env node
// Composes subgraph SDL files into a supergraph SDL (join spec v0.3-v0.5) with
// The Guild's MIT composer. A build tool only: the gateway never runs Node.
//
// Usage:
//   node compose.mjs [--out FILE|-] [--subgraph NAME=URL=SDL_PATH ...]
//   node compose.mjs --config subgraphs.json --out FILE   (JSON: [{name, url, sdl}] or {name: {url, sdl}})
// With no --subgraph/--config it takes whichever of the platform's services have a committed
// schema.graphql (services/<name>/schema.graphql), so composition works while services appear,
// and writes gateway/supergraph.graphql unless --out says otherwise ("-" is stdout).
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");

// The platform's subgraphs and their default local URLs (ports fixed by the services).
const DEFAULT_SUBGRAPHS = [
  { name: "contacts", url: "http://127.0.0.1:4001/graphql" },
  { name: "deals", url: "http://127.0.0.1:4002/graphql" },
  { name: "tasks", url: "http://127.0.0.1:4003/graphql" },
  { name: "capture", url: "http://127.0.0.1:4004/graphql" },
  { name: "webhooks", url: "http://127.0.0.1:4005/graphql" },
  { name: "imports", url: "http://127.0.0.1:4006/graphql" },
];

function parseArgs(argv) {
  const opts = { out: null, subgraphs: [], config: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--out") opts.out = argv[++i];
    else if (arg === "--config") opts.config = argv[++i];
    else if (arg === "--subgraph") {
      // NAME=URL=PATH; URL itself never contains "=" in our use.
      const [name, url, ...rest] = argv[++i].split("=");
      opts.subgraphs.push({ name, url, sdl: rest.join("=") });
    } else {
      throw new Error(`unknown argument: ${arg}`);
    }
  }
  return opts;
}

function loadConfig(path) {
  const raw = JSON.parse(readFileSync(path, "utf8"));
  const base = dirname(resolve(path));
  const list = Array.isArray(raw)
    ? raw
    : Object.entries(raw).map(([name, v]) => ({ name, ...v }));
  return list.map((s) => ({ ...s, sdl: resolve(base, s.sdl) }));
}

function defaultSubgraphs() {
  return DEFAULT_SUBGRAPHS.map((s) => ({
    ...s,
    url: process.env[`SUBGRAPH_${s.name.toUpperCase()}_URL`] || s.url,
    sdl: resolve(repoRoot, "services", s.name, "schema.graphql"),
  })).filter((s) => existsSync(s.sdl));
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let subgraphs = opts.config ? loadConfig(opts.config) : opts.subgraphs;
  if (subgraphs.length === 0) {
    subgraphs = defaultSubgraphs();
    if (opts.out === null) opts.out = resolve(repoRoot, "gateway", "supergraph.graphql");
  }
  if (subgraphs.length === 0) {
    console.error("compose: no subgraph SDL found");
    process.exit(2);
  }
  const services = subgraphs.map((s) => ({
    name: s.name,
    url: s.url,
    typeDefs: parse(readFileSync(s.sdl, "utf8")),
  }));
  const result = composeServices(services);
  if (compositionHasErrors(result)) {
    for (const err of result.errors) console.error(`compose: ${err.message}`);
    process.exit(1);
  }
  const sdl = result.supergraphSdl.endsWith("\n") ? result.supergraphSdl : result.supergraphSdl + "\n";
  if (opts.out && opts.out !== "-") {
    writeFileSync(opts.out, sdl);
    console.error(`compose: wrote ${opts.out} from ${services.map((s) => s.name).join(", ")}`);
  } else {
    process.stdout.write(sdl);
  }
}

main();
