// The buttons under a details form edited in place: Saved (once nothing is left to save),
// Delete (where the record can be deleted here), Discard changes, Save.

export function EditActions({
  saved,
  changed,
  pending,
  onDiscard,
  onDelete,
  deleteLabel,
}: {
  saved: boolean;
  changed: boolean;
  pending: boolean;
  onDiscard: () => void;
  onDelete?: () => void;
  deleteLabel?: string;
}) {
  return (
    <div className="form-actions">
      {saved && !changed && (
        <span role="status" className="muted">
          Saved.
        </span>
      )}
      {onDelete && (
        <button type="button" className="danger" onClick={onDelete}>
          {deleteLabel ?? "Delete"}
        </button>
      )}
      {changed && (
        <button type="button" onClick={onDiscard}>
          Discard changes
        </button>
      )}
      <button type="submit" className="primary" disabled={!changed || pending}>
        Save
      </button>
    </div>
  );
}

/** Asks, deletes, then goes to `next`; a refusal stays with the mutation's error. */
export function confirmDelete(question: string, remove: () => Promise<unknown>, done: () => void): void {
  if (!window.confirm(question)) return;
  void remove()
    .then(done)
    .catch(() => undefined);
}
