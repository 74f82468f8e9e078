import { describe, expect, it } from "vitest";
import { assignColumn, customFieldFor, fieldOfColumn, missingRequired, type Mapping } from "./mapping";

const base: Mapping = {
  target: "deals",
  fields: {
    title: { template: "{Product} for {Account}" },
    stage: { column: "Status", values: { "Closed Won": "won" } },
    engaged_at: { column: "Created", date_format: "%d-%m-%Y" },
  },
  currency: "EUR",
};

describe("column mapping", () => {
  it("finds the field a column feeds on its own", () => {
    expect(fieldOfColumn(base, "Status")).toBe("stage");
    expect(fieldOfColumn(base, "Product")).toBe(""); // only through a template
  });

  it("moves a column to another field, dropping options the new field would misread", () => {
    const moved = assignColumn(base, "Created", "close_date");
    expect(moved.fields.close_date).toEqual({ column: "Created" });
    expect(moved.fields.engaged_at).toBeUndefined();
    expect(moved.fields.title).toEqual(base.fields.title);
    expect(moved.currency).toBe("EUR");
  });

  it("keeps a rule's options when the column stays on its field", () => {
    expect(assignColumn(base, "Status", "stage")).toEqual(base);
  });

  it("lets a field's previous column go when another column takes the field", () => {
    const taken = assignColumn(base, "Outcome", "stage");
    expect(taken.fields.stage).toEqual({ column: "Outcome" });
    expect(fieldOfColumn(taken, "Status")).toBe("");
  });

  it("unmaps a column", () => {
    const dropped = assignColumn(base, "Status", "");
    expect(dropped.fields.stage).toBeUndefined();
    expect(missingRequired(dropped, ["stage", "title"])).toEqual(["stage"]);
  });

  it("names a custom field the import accepts", () => {
    expect(customFieldFor("Région de vente")).toBe("custom.region_de_vente");
    expect(customFieldFor("2024 budget")).toBe("custom.f_2024_budget");
    expect(customFieldFor("!!!")).toBe("custom.f_");
    expect(customFieldFor("x".repeat(100))).toHaveLength("custom.".length + 64);
  });
});
