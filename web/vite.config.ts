import { resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Two pages: the app (index.html) and GraphiQL (graphiql.html), both served by the gateway
// from dist/, so nothing is loaded from the internet at run time. Hashed assets under
// assets/ are cached for good by the gateway; the HTML is revalidated every time.
export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: {
        app: resolve(import.meta.dirname, "index.html"),
        graphiql: resolve(import.meta.dirname, "graphiql.html"),
      },
    },
  },
  server: {
    // ws: the live updates' WebSocket on /graphql goes through too.
    proxy: { "/graphql": { target: "http://127.0.0.1:4000", ws: true }, "/auth": "http://127.0.0.1:4000" },
  },
  // Unit tests run in Node; a test that needs a DOM asks for jsdom in its first line.
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
