import { describe, expect, it } from "vitest";
import { validate } from "./DealFields";

const valid = {
  title: "Rack upgrade",
  amount: "1250.50",
  currency: "USD",
  expectedCloseDate: "",
  nextStep: "",
  nextStepDate: "",
  source: "",
  product: "",
  ownerId: "",
  probabilityOverride: "",
};

describe("deal field validation (before the API checks again)", () => {
  it("accepts a valid form", () => expect(validate(valid)).toEqual({}));

  it("names each field that is wrong", () => {
    expect(validate({ ...valid, title: " ", amount: "12,50", currency: "usd", probabilityOverride: "101" })).toEqual({
      title: expect.any(String),
      amount: expect.any(String),
      currency: expect.any(String),
      probabilityOverride: expect.any(String),
    });
    expect(validate({ ...valid, probabilityOverride: "2.5" }).probabilityOverride).toBeDefined();
    expect(validate({ ...valid, amount: "10.123" }).amount).toBeDefined();
  });
});
