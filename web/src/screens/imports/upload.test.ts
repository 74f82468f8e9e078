import { describe, expect, it } from "vitest";
import { multipartBody } from "./upload";

describe("multipartBody", () => {
  it("follows the GraphQL multipart request spec", async () => {
    const body = multipartBody(new Blob(["Name\nAcme\n"]), "companies.csv", "COMPANIES");
    const operations = JSON.parse(String(body.get("operations")));
    expect(operations.variables).toEqual({ file: null, recordType: "COMPANIES" });
    expect(operations.query).toContain("createImport(file: $file");
    expect(JSON.parse(String(body.get("map")))).toEqual({ "0": ["variables.file"] });
    const file = body.get("0") as File;
    expect(file.name).toBe("companies.csv");
    expect(await file.text()).toBe("Name\nAcme\n");
    // The parts come in the order the spec asks: operations, map, then the files.
    expect([...body.keys()]).toEqual(["operations", "map", "0"]);
  });
});
