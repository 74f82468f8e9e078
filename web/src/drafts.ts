// Form drafts survive a sign-in: every change of an open form is kept in sessionStorage
// under the form's key, restored when the form comes back, and dropped once it is saved.

import { useCallback, useState } from "react";

const PREFIX = "crm.draft.";

export function useDraft<T extends object>(key: string, initial: T): [T, (next: T) => void, () => void] {
  const storageKey = PREFIX + key;
  const [value, setValue] = useState<T>(() => {
    const saved = sessionStorage.getItem(storageKey);
    if (!saved) return initial;
    try {
      return { ...initial, ...(JSON.parse(saved) as Partial<T>) };
    } catch {
      return initial;
    }
  });
  const update = useCallback(
    (next: T) => {
      setValue(next);
      sessionStorage.setItem(storageKey, JSON.stringify(next));
    },
    [storageKey],
  );
  const clear = useCallback(() => {
    sessionStorage.removeItem(storageKey);
  }, [storageKey]);
  return [value, update, clear];
}
