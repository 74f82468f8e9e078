// Typed GraphQL documents from the gateway's API schema (schema.graphql, exported by
// `make api-schema` and checked current by tests/contract). Codegen validates every
// document against it, so a breaking schema change fails `npm run build`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**"],
  ignoreNoDocuments: false,
  errorsOnly: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        // Documents travel as strings: no GraphQL parser in the bundle.
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { Date: "string", DateTime: "string", JSON: "unknown", Upload: "string" },
        avoidOptionals: false,
      },
    },
  },
};

export default config;
