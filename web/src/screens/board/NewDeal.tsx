// A new deal from the board: title, amount, the stage it starts in, company, close date.

import { useMutation } from "../../api/hooks";
import { useDraft } from "../../drafts";
import { graphql } from "../../gql";
import { navigate } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { SelectField, TextField } from "../../ui/Field";
import { ErrorNotice } from "../../ui/states";
import { CompanyPicker } from "./Pickers";

const CREATE_DEAL = graphql(`
  mutation CreateDealFromBoard($input: CreateDealInput!) {
    createDeal(input: $input) {
      id
    }
  }
`);

const FIELDS = ["input.title", "input.amount", "input.stageKey", "input.companyId", "input.expectedCloseDate"];

export function NewDealDialog({
  pipelineId,
  stages,
  onClose,
}: {
  pipelineId: string;
  stages: { key: string; name: string }[];
  onClose: () => void;
}) {
  const initial = { title: "", amount: "", stageKey: stages[0]?.key ?? "", companyId: "", companyName: "", expectedCloseDate: "" };
  const [form, setForm, clearDraft] = useDraft(`new-deal:${pipelineId}`, initial);
  const [create, state] = useMutation(CREATE_DEAL, ["deals", "tasks", "analytics"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const { createDeal } = await create({
        input: {
          title: form.title,
          amount: form.amount.trim(),
          pipelineId,
          stageKey: form.stageKey || null,
          companyId: form.companyId || null,
          expectedCloseDate: form.expectedCloseDate || null,
        },
      });
      clearDraft();
      navigate(`/deals/${createDeal.id}`);
    } catch {
      /* shown by field */
    }
  };
  const err = state.error;
  return (
    <Dialog title="New deal" open onClose={onClose} testId="new-deal">
      <form onSubmit={(e) => void submit(e)}>
        <TextField label="Title" value={form.title} required onChange={(e) => setForm({ ...form, title: e.target.value })} error={err?.forField("input.title")} />
        <TextField
          label="Amount"
          value={form.amount}
          inputMode="decimal"
          placeholder="1250.00"
          required
          onChange={(e) => setForm({ ...form, amount: e.target.value })}
          error={err?.forField("input.amount")}
        />
        <SelectField label="Stage" value={form.stageKey} onChange={(e) => setForm({ ...form, stageKey: e.target.value })} error={err?.forField("input.stageKey")}>
          {stages.map((s) => (
            <option key={s.key} value={s.key}>
              {s.name}
            </option>
          ))}
        </SelectField>
        <TextField
          label="Expected close"
          type="date"
          value={form.expectedCloseDate}
          onChange={(e) => setForm({ ...form, expectedCloseDate: e.target.value })}
          error={err?.forField("input.expectedCloseDate")}
        />
        {form.companyId ? (
          <p>
            Company: <strong>{form.companyName}</strong>{" "}
            <button type="button" className="link" onClick={() => setForm({ ...form, companyId: "", companyName: "" })}>
              change
            </button>
          </p>
        ) : (
          <CompanyPicker onPick={(c) => setForm({ ...form, companyId: c.id, companyName: c.name })} />
        )}
        {err?.general(...FIELDS) && <ErrorNotice error={err.general(...FIELDS)!} />}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={state.pending || !form.title.trim() || !form.amount.trim()}>
            Create deal
          </button>
        </div>
      </form>
    </Dialog>
  );
}
