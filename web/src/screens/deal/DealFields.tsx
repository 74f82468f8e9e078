// The deal's fields, edited in place: checked here first (required, formats), then by the
// API, whose errors land next to the field they name.

import { useState } from "react";
import { useMutation } from "../../api/hooks";
import { useDraft } from "../../drafts";
import type { DealPageQuery } from "../../gql/graphql";
import { TextField } from "../../ui/Field";
import { EditActions } from "../../ui/EditActions";
import { ErrorNotice } from "../../ui/states";
import { UPDATE_DEAL } from "./queries";

type Deal = NonNullable<DealPageQuery["deal"]>;

const FIELDS = [
  "title",
  "amount",
  "currency",
  "expectedCloseDate",
  "nextStep",
  "nextStepDate",
  "source",
  "product",
  "ownerId",
  "probabilityOverride",
] as const;
type FieldName = (typeof FIELDS)[number];
type Form = Record<FieldName, string>;

function formOf(deal: Deal): Form {
  return {
    title: deal.title,
    amount: deal.amount ?? "",
    currency: deal.currency,
    expectedCloseDate: deal.expectedCloseDate ?? "",
    nextStep: deal.nextStep ?? "",
    nextStepDate: deal.nextStepDate ?? "",
    source: deal.source ?? "",
    product: deal.product ?? "",
    ownerId: deal.ownerId ?? "",
    probabilityOverride: deal.probabilityOverride === null || deal.probabilityOverride === undefined ? "" : String(deal.probabilityOverride),
  };
}

export function validate(form: Form): Partial<Record<FieldName, string>> {
  const errors: Partial<Record<FieldName, string>> = {};
  if (!form.title.trim()) errors.title = "A deal needs a title.";
  if (!/^\d+(\.\d{1,2})?$/.test(form.amount.trim())) errors.amount = "An amount like 1250 or 1250.50.";
  if (!/^[A-Z]{3}$/.test(form.currency.trim())) errors.currency = "A three-letter currency code (USD).";
  if (form.probabilityOverride.trim()) {
    const value = Number(form.probabilityOverride);
    if (!Number.isInteger(value) || value < 0 || value > 100) errors.probabilityOverride = "A whole percentage, 0 to 100.";
  }
  return errors;
}

export function DealFields({ deal, canEdit }: { deal: Deal; canEdit: boolean }) {
  const saved = formOf(deal);
  // Only what the user typed is kept (and survives a sign-in); every other field shows the
  // deal as it is now, so a refresh brings in changes made elsewhere.
  const [edits, setEdits, clearDraft] = useDraft<Partial<Form>>(`deal:${deal.id}`, {});
  const form: Form = { ...saved, ...edits };
  const setForm = (next: Form) =>
    setEdits(Object.fromEntries(FIELDS.filter((n) => next[n] !== saved[n] || n in edits).map((n) => [n, next[n]])));
  const [local, setLocal] = useState<Partial<Record<FieldName, string>>>({});
  const [update, state] = useMutation(UPDATE_DEAL, ["deals", "analytics"]);
  const [done, setDone] = useState(false);
  const changed = FIELDS.filter((name) => form[name] !== saved[name]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(false);
    const errors = validate(form);
    setLocal(errors);
    if (Object.keys(errors).length) return;
    const input: Record<string, unknown> = {};
    for (const name of changed) {
      const value = form[name].trim();
      if (name === "probabilityOverride") input[name] = value === "" ? null : Number(value);
      else input[name] = value === "" ? null : value;
    }
    try {
      await update({ id: deal.id, input });
      setEdits({});
      clearDraft();
      setDone(true);
    } catch {
      /* shown by field */
    }
  };

  const error = (name: FieldName) => local[name] ?? state.error?.forField(`input.${name}`);
  const field = (name: FieldName, labelText: string, type = "text", hint?: string) => (
    <TextField
      label={labelText}
      type={type}
      value={form[name]}
      hint={hint}
      disabled={!canEdit}
      onChange={(e) => setForm({ ...form, [name]: e.target.value })}
      error={error(name)}
    />
  );
  const general = state.error?.general(...FIELDS.map((f) => `input.${f}`));
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Deal fields" data-testid="deal-fields" noValidate>
      <div className="form-grid">
        {field("title", "Title")}
        {field("amount", "Amount")}
        {field("currency", "Currency")}
        {field("expectedCloseDate", "Expected close", "date")}
        {field("nextStep", "Next step")}
        {field("nextStepDate", "Next step date", "date")}
        {field("source", "Source")}
        {field("product", "Product")}
        {field("ownerId", "Owner (user id)")}
        {field("probabilityOverride", "Probability override (%)", "text", "Empty: the model or the stage decides")}
      </div>
      {general && <ErrorNotice error={general} />}
      {canEdit && (
        <EditActions
          saved={done}
          changed={changed.length > 0}
          pending={state.pending}
          onDiscard={() => {
            setEdits({});
            clearDraft();
            setLocal({});
            state.reset();
          }}
        />
      )}
    </form>
  );
}
