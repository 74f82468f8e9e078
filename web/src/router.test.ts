import { describe, expect, it } from "vitest";
import { matchPath } from "./router";

describe("matching client routes", () => {
  it("reads parameters and refuses other shapes", () => {
    expect(matchPath("/deals/:id", "/deals/6b14")).toEqual({ id: "6b14" });
    expect(matchPath("/deals/:id", "/deals/a%20b/")).toEqual({ id: "a b" });
    expect(matchPath("/deals/:id", "/deals")).toBeNull();
    expect(matchPath("/contacts", "/companies")).toBeNull();
  });
});
