import { describe, expect, it } from "vitest";
import { companyChanges } from "./CompanyFields";

const form = {
  name: "Initech",
  domain: "",
  industry: "software",
  size: "250",
  website: "",
  ownerId: "",
  tags: "b2b, ; saas",
  street: "1 Main St",
  city: "Austin",
  region: "",
  postalCode: "",
  country: "United States",
};

describe("the update a company's form asks for", () => {
  it("sends only the changed fields, typed as the API takes them", () => {
    expect(companyChanges(form, ["size", "tags", "domain"])).toEqual({ size: 250, tags: ["b2b", "saas"], domain: null });
  });

  it("sends the address whole when one line changed (the API replaces it)", () => {
    expect(companyChanges(form, ["city"])).toEqual({
      address: { street: "1 Main St", city: "Austin", region: null, postalCode: null, country: "United States" },
    });
  });
});
