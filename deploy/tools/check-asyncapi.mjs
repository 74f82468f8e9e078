// Validates an AsyncAPI document with the AsyncAPI Initiative's parser (schema and semantic
// rules) and prints every diagnostic; exits 1 if any is an error. Run at build/test time only.
//   node deploy/tools/check-asyncapi.mjs docs/asyncapi.yaml
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const diagnostics = await parser.validate(readFileSync(path, "utf8"));
// Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
const names = ["error", "warning", "info", "hint"];
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === 0) errors += 1;
  console.log(`${names[d.severity]} ${d.code} at ${d.path.join(".")}: ${d.message}`);
}
console.log(`${errors} error(s), ${diagnostics.length} diagnostic(s)`);
process.exit(errors ? 1 : 0);
