// Duplicate suggestions for a contact, and merging one into it: a dry run shows what would
// change (fields filled, interactions moved), then the merge does it.

import { useEffect, useState } from "react";
import { run } from "../../api/client";
import { useMutation, useQuery } from "../../api/hooks";
import { date, label } from "../../format";
import type { MergeContactsMutation } from "../../gql/graphql";
import { Link } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { Empty, ErrorNotice, Loading } from "../../ui/states";
import { FIND_DUPLICATES, MERGE_CONTACTS } from "./queries";

function show(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join(", ") || "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function MergeDialog({
  survivor,
  duplicate,
  onClose,
}: {
  survivor: { id: string; name: string };
  duplicate: { id: string; name: string };
  onClose: (merged: boolean) => void;
}) {
  const [merge, state] = useMutation(MERGE_CONTACTS, ["contacts", "deals", "tasks"]);
  const [plan, setPlan] = useState<MergeContactsMutation["mergeContacts"] | null>(null);
  const [planError, setPlanError] = useState<string | null>(null);
  useEffect(() => {
    // The dry run changes nothing, so it invalidates nothing.
    run(MERGE_CONTACTS, { survivorId: survivor.id, duplicateId: duplicate.id, dryRun: true }).then(
      (r) => setPlan(r.mergeContacts),
      (e: Error) => setPlanError(e.message),
    );
  }, [survivor.id, duplicate.id]);
  const confirm = async () => {
    try {
      await merge({ survivorId: survivor.id, duplicateId: duplicate.id, dryRun: false });
      onClose(true);
    } catch {
      /* shown below */
    }
  };
  return (
    <Dialog title={`Merge ${duplicate.name} into ${survivor.name}`} open onClose={() => onClose(false)} testId="merge-dialog">
      {planError && <ErrorNotice error={planError} />}
      {!plan && !planError && <Loading what="Working out what the merge changes" />}
      {plan && (
        <div data-testid="merge-plan">
          <p>
            {duplicate.name} will be deleted (restorable) and {survivor.name} keeps everything:{" "}
            <strong>{plan.movedInteractions}</strong> interaction{plan.movedInteractions === 1 ? "" : "s"} move over.
          </p>
          {plan.changes.length ? (
            <table>
              <caption className="sr-only">Fields of {survivor.name} the merge changes</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Now</th>
                  <th scope="col">After the merge</th>
                </tr>
              </thead>
              <tbody>
                {plan.changes.map((change) => (
                  <tr key={change.field}>
                    <td>{change.field}</td>
                    <td>{show(change.before)}</td>
                    <td>{show(change.after)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">No field of {survivor.name} changes.</p>
          )}
        </div>
      )}
      {state.error && <ErrorNotice error={state.error} />}
      <div className="dialog-actions">
        <button type="button" onClick={() => onClose(false)}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void confirm()} disabled={!plan || state.pending} data-testid="confirm-merge">
          Merge
        </button>
      </div>
    </Dialog>
  );
}

export function Duplicates({ contact, canMerge }: { contact: { id: string; name: string }; canMerge: boolean }) {
  const state = useQuery(FIND_DUPLICATES, { id: contact.id }, { topics: ["contacts"] });
  const [merging, setMerging] = useState<{ id: string; name: string } | null>(null);
  const [merged, setMerged] = useState<string | null>(null);
  return (
    <section className="panel" aria-labelledby="dupes-heading" data-testid="duplicates">
      <h2 id="dupes-heading">Possible duplicates</h2>
      {merged && (
        <p role="status" className="notice">
          Merged {merged} into {contact.name}.
        </p>
      )}
      {state.error && <ErrorNotice error={state.error} retry={state.refetch} />}
      {!state.data && !state.error && <Loading what="Looking for duplicates" />}
      {state.data && state.data.findDuplicates.length === 0 && <Empty>No likely duplicates.</Empty>}
      {state.data && state.data.findDuplicates.length > 0 && (
        <ul className="plain-list">
          {state.data.findDuplicates.map(({ contact: other, reasons }) => (
            <li key={other.id} data-testid="duplicate">
              <Link to={`/contacts/${other.id}`}>{other.name}</Link>{" "}
              <span className="muted">
                {other.email ?? other.phones?.[0] ?? ""} {other.company ? `· ${other.company.name}` : ""} · created {date(other.createdAt)}
              </span>
              <div>
                {reasons.map((r) => (
                  <span key={r} className="badge info">
                    {label(r)}
                  </span>
                ))}{" "}
                {canMerge && (
                  <button type="button" onClick={() => setMerging({ id: other.id, name: other.name })}>
                    Merge into {contact.name}
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      {merging && (
        <MergeDialog
          survivor={contact}
          duplicate={merging}
          onClose={(done) => {
            if (done) setMerged(merging.name);
            setMerging(null);
          }}
        />
      )}
    </section>
  );
}
