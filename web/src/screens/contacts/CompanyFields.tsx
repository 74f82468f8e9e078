// A company's details, edited in place as a contact's are (`ui/editing`): only the changed
// fields are sent; the address goes as a whole when any line of it changed (the API
// replaces it), and each API error lands at its field.

import { useState } from "react";
import { useMutation } from "../../api/hooks";
import type { CompanyPageQuery } from "../../gql/graphql";
import { navigate } from "../../router";
import { errorsAt, splitList, useEdits } from "../../ui/editing";
import { TextField } from "../../ui/Field";
import { confirmDelete, EditActions } from "../../ui/EditActions";
import { ErrorNotice } from "../../ui/states";
import { DELETE_COMPANY, UPDATE_COMPANY } from "./queries";

type Company = NonNullable<CompanyPageQuery["company"]>;

const ADDRESS = ["street", "city", "region", "postalCode", "country"] as const;
const FIELDS = ["name", "domain", "industry", "size", "website", "ownerId", "tags", ...ADDRESS] as const;
type FieldName = (typeof FIELDS)[number];
type Form = Record<FieldName, string>;

function formOf(company: Company): Form {
  const address = company.address;
  return {
    name: company.name,
    domain: company.domain ?? "",
    industry: company.industry ?? "",
    size: company.size === null || company.size === undefined ? "" : String(company.size),
    website: company.website ?? "",
    ownerId: company.ownerId ?? "",
    tags: company.tags.join(", "),
    street: address?.street ?? "",
    city: address?.city ?? "",
    region: address?.region ?? "",
    postalCode: address?.postalCode ?? "",
    country: address?.country ?? "",
  };
}

/** The update `form` asks for: its changed fields, the address whole if a line changed. */
export function companyChanges(form: Form, changed: readonly FieldName[]): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  const blankIsNull = (value: string) => (value.trim() === "" ? null : value.trim());
  for (const name of changed) {
    if ((ADDRESS as readonly string[]).includes(name)) continue;
    if (name === "tags") input.tags = splitList(form.tags);
    else if (name === "size") input.size = form.size.trim() === "" ? null : Number(form.size);
    else input[name] = blankIsNull(form[name]);
  }
  if (changed.some((name) => (ADDRESS as readonly string[]).includes(name))) {
    input.address = Object.fromEntries(ADDRESS.map((line) => [line, blankIsNull(form[line])]));
  }
  return input;
}

export function CompanyFields({ company, canEdit }: { company: Company; canEdit: boolean }) {
  const { form, changed, set, discard } = useEdits(`company:${company.id}`, formOf(company), FIELDS);
  const [update, state] = useMutation(UPDATE_COMPANY, ["contacts", "deals"]);
  const [remove, removal] = useMutation(DELETE_COMPANY, ["contacts", "deals"]);
  const [done, setDone] = useState(false);
  const [local, setLocal] = useState<Partial<Record<FieldName, string>>>({});

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(false);
    const errors: Partial<Record<FieldName, string>> = {};
    if (!form.name.trim()) errors.name = "A company needs a name.";
    if (form.size.trim() && !/^\d+$/.test(form.size.trim())) errors.size = "A whole number of employees.";
    setLocal(errors);
    if (Object.keys(errors).length) return;
    try {
      await update({ id: company.id, input: companyChanges(form, changed) });
      discard();
      setDone(true);
    } catch {
      /* shown by field */
    }
  };

  const api = errorsAt(state.error, [...FIELDS, "address"]);
  const error = (name: FieldName) =>
    local[name] ?? api.at(name) ?? ((ADDRESS as readonly string[]).includes(name) ? api.at(`address.${name}`) : undefined);
  const text = (name: FieldName, labelText: string, hint?: string) => (
    <TextField label={labelText} value={form[name]} hint={hint} disabled={!canEdit} onChange={(e) => set({ [name]: e.target.value })} error={error(name)} />
  );
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Company details" data-testid="company-fields" noValidate>
      <div className="form-grid">
        {text("name", "Name")}
        {text("domain", "Domain", "example.com")}
        {text("industry", "Industry")}
        {text("size", "Employees")}
        {text("website", "Website")}
        {text("ownerId", "Owner (user id)", "Empty: no owner")}
        {text("tags", "Tags", "Separated by commas")}
        {text("street", "Street")}
        {text("city", "City")}
        {text("region", "Region")}
        {text("postalCode", "Postal code")}
        {text("country", "Country")}
      </div>
      {api.general && <ErrorNotice error={api.general} />}
      {removal.error && <ErrorNotice error={removal.error.message} />}
      {canEdit && (
        <EditActions
          saved={done}
          changed={changed.length > 0}
          pending={state.pending || removal.pending}
          onDiscard={() => {
            discard();
            setLocal({});
            state.reset();
          }}
          deleteLabel="Delete company"
          onDelete={() =>
            confirmDelete(`Delete ${company.name}? An admin can restore the company.`, () => remove({ id: company.id }), () => {
              discard();
              navigate("/companies");
            })
          }
        />
      )}
    </form>
  );
}
