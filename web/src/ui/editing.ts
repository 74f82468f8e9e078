// What a record's details form edited in place needs (a contact's, a company's): the text
// the user typed kept as a draft over the record as it is now, the fields that differ from
// it (only those are sent, so a colleague's change to another field is never
// overwritten), and the API's errors placed at the field they name.

import type { ApiError, ErrorInfo } from "../api/errors";
import { useDraft } from "../drafts";

export type Edits<F> = {
  form: F;
  changed: (keyof F & string)[];
  set: (patch: Partial<F>) => void;
  discard: () => void;
};

export function useEdits<F extends Record<string, string>>(draftKey: string, saved: F, fields: readonly (keyof F & string)[]): Edits<F> {
  // Only what the user typed is kept (and survives a sign-in); every other field shows the
  // record as it is now, so a refresh brings in changes made elsewhere.
  const [edits, setEdits, clearDraft] = useDraft<Partial<F>>(draftKey, {});
  const form = { ...saved, ...edits } as F;
  return {
    form,
    changed: fields.filter((name) => form[name] !== saved[name]),
    set: (patch) => setEdits({ ...edits, ...patch }),
    discard: () => {
      setEdits({});
      clearDraft();
    },
  };
}

/** Whether `error` names the input field `name` or one of its items or parts
 * (`input.phones[1]`, `input.address.city`). */
function names(error: ErrorInfo, name: string): boolean {
  const field = error.field ?? "";
  const path = `input.${name}`;
  return field === path || field.startsWith(`${path}[`) || field.startsWith(`${path}.`);
}

/** The API's errors of a form: the message at one field, and the rest for the form's top. */
export function errorsAt(error: ApiError | null | undefined, fields: readonly string[]) {
  const all = error?.errors ?? [];
  return {
    at: (name: string) => all.find((e) => names(e, name))?.message,
    general: all.filter((e) => !fields.some((name) => names(e, name))).map((e) => e.message).join("; ") || undefined,
  };
}

/** A list typed as one text: split on commas and semicolons, blanks dropped. */
export function splitList(text: string): string[] {
  return text
    .split(/[,;]/)
    .map((item) => item.trim())
    .filter(Boolean);
}
