// Won and lost: a confirmation for won, a reason (required by the API) for lost.

import { useState } from "react";
import { ApiError } from "../../api/errors";
import { useMutation } from "../../api/hooks";
import { Dialog } from "../../ui/Dialog";
import { SelectField, TextField } from "../../ui/Field";
import { ErrorNotice } from "../../ui/states";
import { CLOSE_LOST, CLOSE_WON } from "./queries";

const REASONS = ["Price", "Chose a competitor", "No budget", "No decision", "Timing", "Product fit"];

export type Closing = { dealId: string; title: string; outcome: "won" | "lost" };

export function CloseDealDialog({ closing, onClose }: { closing: Closing; onClose: (closed: boolean) => void }) {
  const [won, wonState] = useMutation(CLOSE_WON, ["deals", "tasks", "analytics"]);
  const [lost, lostState] = useMutation(CLOSE_LOST, ["deals", "tasks", "analytics"]);
  const [reason, setReason] = useState("");
  const [other, setOther] = useState("");
  const state = closing.outcome === "won" ? wonState : lostState;
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      if (closing.outcome === "won") await won({ id: closing.dealId });
      else await lost({ id: closing.dealId, reason: reason === "Other" ? other : reason || null });
      onClose(true);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
  };
  const reasonError = state.error?.forField("reason");
  return (
    <Dialog
      title={closing.outcome === "won" ? `Mark “${closing.title}” as won` : `Mark “${closing.title}” as lost`}
      open
      onClose={() => onClose(false)}
      testId="close-deal"
    >
      <form onSubmit={(e) => void submit(e)}>
        {closing.outcome === "won" ? (
          <p>The deal closes as won today; its open playbook tasks are cancelled.</p>
        ) : (
          <>
            <SelectField label="Reason" value={reason} onChange={(e) => setReason(e.target.value)} error={reason === "Other" ? undefined : reasonError}>
              <option value="">Choose a reason</option>
              {[...REASONS, "Other"].map((r) => (
                <option key={r}>{r}</option>
              ))}
            </SelectField>
            {reason === "Other" && (
              <TextField label="Other reason" value={other} onChange={(e) => setOther(e.target.value)} error={reasonError} />
            )}
          </>
        )}
        {state.error?.general("reason") && <ErrorNotice error={state.error.general("reason")!} />}
        <div className="dialog-actions">
          <button type="button" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={state.pending}>
            {closing.outcome === "won" ? "Mark as won" : "Mark as lost"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
