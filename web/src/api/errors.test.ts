import { describe, expect, it } from "vitest";
import { ApiError, toErrorInfo } from "./errors";

describe("GraphQL errors for the screens", () => {
  const error = new ApiError([
    toErrorInfo({ message: "must not be empty", extensions: { code: "BAD_USER_INPUT", field: "input.title" } }),
    toErrorInfo({
      message: "the exit criteria of 'Prospecting' are not met",
      extensions: { code: "PRECONDITION_FAILED", unmet: [{ criterion: "field:company", detail: "requires a company" }] },
    }),
  ]);

  it("finds the message of a field and leaves the rest for the form's top", () => {
    expect(error.forField("input.title")).toBe("must not be empty");
    expect(error.forField("input.amount")).toBeUndefined();
    expect(error.general("input.title")).toBe("the exit criteria of 'Prospecting' are not met");
  });

  it("collects the unmet exit criteria", () => {
    expect(error.unmet).toEqual([{ criterion: "field:company", detail: "requires a company" }]);
    expect(error.code).toBe("BAD_USER_INPUT");
  });
});
