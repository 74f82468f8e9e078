import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { errorsAt, splitList } from "./editing";

describe("a list typed as one text", () => {
  it("splits on commas and semicolons, dropping blanks and spaces", () => {
    expect(splitList(" +44 20 7946 0958, +1 415 555 0100 ;; ")).toEqual(["+44 20 7946 0958", "+1 415 555 0100"]);
  });

  it("an empty text clears the list", () => expect(splitList("  ")).toEqual([]));
});

describe("the API's errors placed at a form's fields", () => {
  const error = new ApiError([
    { message: "'12' is not a valid phone number", field: "input.phones[1]" },
    { message: "unknown country", field: "input.address.country" },
    { message: "the contact was merged", field: "id" },
    { message: "try again" },
  ]);
  const at = errorsAt(error, ["phones", "address", "title"]);

  it("names a field by its items and parts", () => {
    expect(at.at("phones")).toBe("'12' is not a valid phone number");
    expect(at.at("address")).toBe("unknown country");
    expect(at.at("title")).toBeUndefined();
  });

  it("keeps the rest for the form's top", () => expect(at.general).toBe("the contact was merged; try again"));

  it("says nothing without an error", () => expect(errorsAt(null, ["title"]).general).toBeUndefined());
});
