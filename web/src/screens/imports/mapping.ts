// The column-by-column view of a mapping (crm_tabular's JSON): which field each column of
// the file feeds. Rules that are no plain column (constants, templates) are left as they
// are: the JSON beside the table edits those.

export type Rule = { column?: string; [option: string]: unknown };
export type Mapping = { target: string; fields: Record<string, Rule>; [option: string]: unknown };

/** The field a column feeds on its own (a template naming it does not count), or "". */
export function fieldOfColumn(mapping: Mapping, column: string): string {
  for (const [name, rule] of Object.entries(mapping.fields ?? {})) {
    if (rule.column === column) return name;
  }
  return "";
}

/** The mapping with `column` feeding `field` ("" = no field): the field's previous column
 * is let go, and the column's previous field is dropped. A rule keeps its options (value
 * maps, date formats) only while it stays on the same field: another field reads the text
 * differently. */
export function assignColumn(mapping: Mapping, column: string, field: string): Mapping {
  const fields: Record<string, Rule> = {};
  for (const [name, rule] of Object.entries(mapping.fields ?? {})) {
    if (rule.column === column && name !== field) continue;
    fields[name] = rule;
  }
  if (field && fields[field]?.column !== column) fields[field] = { column };
  return { ...mapping, fields };
}

/** The custom field name a column would get: `custom.<key>` with the key as the import
 * accepts it (letters, digits and `_`, not starting with a digit, up to 64). */
export function customFieldFor(column: string): string {
  let key = column
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!key || /^[0-9]/.test(key)) key = `f_${key}`;
  return `custom.${key.slice(0, 64)}`;
}

/** The required fields nothing feeds yet. */
export function missingRequired(mapping: Mapping, required: string[]): string[] {
  return required.filter((name) => !(name in (mapping.fields ?? {})));
}
