// A move the exit criteria refused: every unmet criterion (from `extensions.unmet`) with a
// way to fix it here, then the move again.

import { useState } from "react";
import { run } from "../../api/client";
import { invalidate } from "../../api/live";
import { fire, useMutation, useQuery } from "../../api/hooks";
import type { Unmet } from "../../api/errors";
import { Dialog } from "../../ui/Dialog";
import { TextField } from "../../ui/Field";
import { ErrorNotice, FieldError, Loading } from "../../ui/states";
import { CompanyPicker, ContactPicker } from "./Pickers";
import { COMPLETE_TASK, DEAL_FIX_CONTEXT, UPDATE_DEAL_FIELDS } from "./queries";

export type Blocked = { dealId: string; title: string; toKey: string; toName: string; unmet: Unmet[] };

const FIELD_INPUTS: Record<string, { input: string; label: string; type: string }> = {
  expectedCloseDate: { input: "expectedCloseDate", label: "Expected close date", type: "date" },
  amount: { input: "amount", label: "Amount", type: "text" },
  nextStep: { input: "nextStep", label: "Next step", type: "text" },
  nextStepDate: { input: "nextStepDate", label: "Next step date", type: "date" },
  source: { input: "source", label: "Source", type: "text" },
  product: { input: "product", label: "Product", type: "text" },
  owner: { input: "ownerId", label: "Owner (user id)", type: "text" },
};

function FieldFix({ dealId, name, onFixed }: { dealId: string; name: string; onFixed: () => void }) {
  const [update, state] = useMutation(UPDATE_DEAL_FIELDS, ["deals"]);
  const [value, setValue] = useState("");
  if (name === "company") {
    return (
      <>
        <CompanyPicker
          onPick={(company) => fire(update({ id: dealId, input: { companyId: company.id } }).then(onFixed))}
        />
        <FieldError message={state.error?.message} />
      </>
    );
  }
  const spec = FIELD_INPUTS[name];
  if (!spec) return <p className="muted">Set “{name}” on the deal page.</p>;
  return (
    <form
      className="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        fire(update({ id: dealId, input: { [spec.input]: value } }).then(onFixed));
      }}
    >
      <TextField
        label={spec.label}
        type={spec.type}
        value={value}
        required
        onChange={(e) => setValue(e.target.value)}
        error={state.error?.forField(`input.${spec.input}`) ?? state.error?.message}
      />
      <button type="submit" disabled={state.pending || !value}>
        Save
      </button>
    </form>
  );
}

function PlaybookFix({
  task,
  onFixed,
}: {
  task: { id: string; title: string; status: string } | undefined;
  onFixed: () => void;
}) {
  const [complete, state] = useMutation(COMPLETE_TASK, ["tasks", "deals"]);
  if (!task) return <p className="muted">This deal has no such playbook task; open the deal to add one.</p>;
  if (task.status === "DONE") return <p className="muted">Completed; the deal will see it in a moment.</p>;
  return (
    <>
      <button type="button" onClick={() => fire(complete({ id: task.id, outcome: null }).then(onFixed))} disabled={state.pending}>
        Complete “{task.title}”
      </button>
      <FieldError message={state.error?.message} />
    </>
  );
}

export function MoveBlockedDialog({
  blocked,
  onClose,
  onRetry,
  retrying,
  retryError,
}: {
  blocked: Blocked;
  onClose: () => void;
  onRetry: () => void;
  retrying: boolean;
  retryError: string | null;
}) {
  const context = useQuery(DEAL_FIX_CONTEXT, { id: blocked.dealId }, { topics: ["deals", "tasks"] });
  const [fixed, setFixed] = useState<Set<string>>(new Set());
  const markFixed = (criterion: string) => () => setFixed((prev) => new Set(prev).add(criterion));
  const deal = context.data?.deal;
  return (
    <Dialog title={`“${blocked.title}” cannot move to ${blocked.toName} yet`} open onClose={onClose} testId="move-blocked">
      <p>The exit criteria of its stage are not met:</p>
      {context.error && <ErrorNotice error={context.error} retry={context.refetch} />}
      {!deal && !context.error && <Loading what="Loading the deal" />}
      <ul className="unmet-list" data-testid="unmet-list">
        {blocked.unmet.map((item) => {
          const [kind, name] = item.criterion.includes(":") ? item.criterion.split(":", 2) : [item.criterion, ""];
          const done = fixed.has(item.criterion);
          return (
            <li key={item.criterion} className={done ? "fixed" : undefined} data-criterion={item.criterion}>
              <p>
                {done ? "✓ " : ""}
                {item.detail}
              </p>
              {!done && deal && kind === "field" && (
                <FieldFix dealId={deal.id} name={name} onFixed={markFixed(item.criterion)} />
              )}
              {!done && deal && kind === "playbook" && (
                <PlaybookFix
                  task={deal.tasks.find((t) => t.sourceDetail.templateKey === name && t.status !== "CANCELLED")}
                  onFixed={markFixed(item.criterion)}
                />
              )}
              {!done && deal && kind === "primaryContact" && (
                <ContactPicker
                  companyId={deal.company?.id}
                  onPick={(contact) =>
                    fire(
                      runUpdate(deal.id, { primaryContactId: contact.id }).then(markFixed(item.criterion)),
                    )
                  }
                />
              )}
            </li>
          );
        })}
      </ul>
      {retryError && <ErrorNotice error={retryError} />}
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={onRetry} disabled={retrying} data-testid="retry-move">
          {retrying ? "Moving…" : `Move to ${blocked.toName}`}
        </button>
      </div>
    </Dialog>
  );
}

// The contact fix runs outside a hook's form: the same mutation, invalidating deals.
async function runUpdate(id: string, input: Record<string, string>): Promise<void> {
  await run(UPDATE_DEAL_FIELDS, { id, input });
  invalidate("deals");
}
