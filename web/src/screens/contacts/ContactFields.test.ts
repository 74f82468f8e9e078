import { describe, expect, it } from "vitest";
import { splitList } from "./ContactFields";

describe("a contact's list fields typed as one text", () => {
  it("splits on commas and semicolons, dropping blanks and spaces", () => {
    expect(splitList(" +44 20 7946 0958, +1 415 555 0100 ;; ")).toEqual(["+44 20 7946 0958", "+1 415 555 0100"]);
  });

  it("an empty text clears the list", () => expect(splitList("  ")).toEqual([]));
});
