// A contact's details, edited in place (as a deal's are): only the fields the user changed
// are sent, so a colleague's change to another field is never overwritten; the API's
// errors land next to the field they name (a list's item too: `input.phones[1]`). "Other
// emails" are the further addresses, which the API replaces as a whole; the primary one is
// its own field.

import { useState } from "react";
import { useMutation } from "../../api/hooks";
import type { ContactPageQuery, LifecycleStage } from "../../gql/graphql";
import { label } from "../../format";
import { navigate } from "../../router";
import { errorsAt, splitList, useEdits } from "../../ui/editing";
import { SelectField, TextField } from "../../ui/Field";
import { confirmDelete, EditActions } from "../../ui/EditActions";
import { ErrorNotice } from "../../ui/states";
import { CompanyPicker } from "../board/Pickers";
import { DELETE_CONTACT, UPDATE_CONTACT } from "./queries";

type Contact = NonNullable<ContactPageQuery["contact"]>;

const FIELDS = ["firstName", "lastName", "title", "email", "emails", "phones", "lifecycleStage", "ownerId", "tags", "source", "companyId"] as const;
type FieldName = (typeof FIELDS)[number];
type Form = Record<FieldName | "companyName", string>;
// Typed as one text, sent as a list.
const LISTS: ReadonlySet<FieldName> = new Set(["emails", "phones", "tags"]);
const STAGES = ["LEAD", "PROSPECT", "CUSTOMER", "CHURNED"] as LifecycleStage[];

function formOf(contact: Contact): Form {
  const primary = contact.email ?? "";
  return {
    firstName: contact.firstName ?? "",
    lastName: contact.lastName ?? "",
    title: contact.title ?? "",
    email: primary,
    emails: (contact.emails ?? []).filter((address) => address !== primary).join(", "),
    phones: (contact.phones ?? []).join(", "),
    lifecycleStage: contact.lifecycleStage,
    ownerId: contact.ownerId ?? "",
    tags: contact.tags.join(", "),
    source: contact.source ?? "",
    companyId: contact.company?.id ?? "",
    companyName: contact.company?.name ?? "",
  };
}

export function ContactFields({ contact, canEdit }: { contact: Contact; canEdit: boolean }) {
  const { form, changed, set, discard } = useEdits(`contact:${contact.id}`, formOf(contact), FIELDS);
  const [pickingCompany, setPickingCompany] = useState(false);
  const [update, state] = useMutation(UPDATE_CONTACT, ["contacts", "deals"]);
  const [remove, removal] = useMutation(DELETE_CONTACT, ["contacts", "deals"]);
  const [done, setDone] = useState(false);
  const [local, setLocal] = useState<Partial<Record<FieldName, string>>>({});

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(false);
    const errors: Partial<Record<FieldName, string>> = {};
    if (!form.firstName.trim() && !form.lastName.trim()) errors.firstName = "A contact needs a name.";
    setLocal(errors);
    if (Object.keys(errors).length) return;
    const input: Record<string, unknown> = {};
    for (const name of changed) {
      const value = form[name].trim();
      input[name] = LISTS.has(name as FieldName) ? splitList(value) : value === "" ? null : value;
    }
    try {
      await update({ id: contact.id, input });
      discard();
      setPickingCompany(false);
      setDone(true);
    } catch {
      /* shown by field */
    }
  };

  const api = errorsAt(state.error, FIELDS);
  const error = (name: FieldName) => local[name] ?? api.at(name);
  const general = api.general;
  const text = (name: FieldName, labelText: string, hint?: string, type = "text") => (
    <TextField
      label={labelText}
      type={type}
      value={form[name]}
      hint={hint}
      disabled={!canEdit}
      onChange={(e) => set({ [name]: e.target.value })}
      error={error(name)}
    />
  );
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Contact details" data-testid="contact-fields" noValidate>
      <div className="form-grid">
        {text("firstName", "First name")}
        {text("lastName", "Last name")}
        {text("title", "Job title")}
        {text("email", "Email", undefined, "email")}
        {text("emails", "Other emails", "Separated by commas")}
        {text("phones", "Phones", "Separated by commas; with the country code (+44 20 …)")}
        <SelectField
          label="Stage"
          value={form.lifecycleStage}
          disabled={!canEdit}
          onChange={(e) => set({ lifecycleStage: e.target.value })}
          error={error("lifecycleStage")}
        >
          {STAGES.map((stage) => (
            <option key={stage} value={stage}>
              {label(stage)}
            </option>
          ))}
        </SelectField>
        {text("ownerId", "Owner (user id)", "Empty: no owner")}
        {text("tags", "Tags", "Separated by commas")}
        {text("source", "Source")}
      </div>
      <div className="field">
        <span className="field-label">Company</span>
        {pickingCompany ? (
          <CompanyPicker
            onPick={(c) => {
              set({ companyId: c.id, companyName: c.name });
              setPickingCompany(false);
            }}
          />
        ) : (
          <p>
            <strong>{form.companyName || "No company"}</strong>{" "}
            {canEdit && (
              <>
                <button type="button" className="link" onClick={() => setPickingCompany(true)}>
                  Change company
                </button>
                {form.companyId && (
                  <button type="button" className="link" onClick={() => set({ companyId: "", companyName: "" })}>
                    Remove company
                  </button>
                )}
              </>
            )}
          </p>
        )}
        {error("companyId") && <ErrorNotice error={error("companyId")!} />}
      </div>
      {general && <ErrorNotice error={general} />}
      {removal.error && <ErrorNotice error={removal.error.message} />}
      {canEdit && (
        <EditActions
          saved={done}
          changed={changed.length > 0}
          pending={state.pending || removal.pending}
          onDiscard={() => {
            discard();
            setLocal({});
            setPickingCompany(false);
            state.reset();
          }}
          deleteLabel="Delete contact"
          onDelete={() =>
            confirmDelete(`Delete ${contact.name}? An admin can restore the contact.`, () => remove({ id: contact.id }), () => {
              discard();
              navigate("/contacts");
            })
          }
        />
      )}
    </form>
  );
}
