// Cursor paging for lists: forward with the page's end cursor, back through the cursors seen.

import { useState } from "react";

export function useCursorPages(resetKey: string) {
  const [state, setState] = useState<{ key: string; stack: (string | null)[] }>({ key: resetKey, stack: [null] });
  const stack = state.key === resetKey ? state.stack : [null];
  return {
    after: stack[stack.length - 1],
    page: stack.length,
    next: (cursor: string | null | undefined) => cursor && setState({ key: resetKey, stack: [...stack, cursor] }),
    previous: () => stack.length > 1 && setState({ key: resetKey, stack: stack.slice(0, -1) }),
  };
}

export function Pager({
  page,
  total,
  pageSize,
  hasNext,
  onNext,
  onPrevious,
}: {
  page: number;
  total: number;
  pageSize: number;
  hasNext: boolean;
  onNext: () => void;
  onPrevious: () => void;
}) {
  const from = total ? (page - 1) * pageSize + 1 : 0;
  const to = Math.min(total, page * pageSize);
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={onPrevious} disabled={page <= 1}>
        Previous
      </button>
      <span>
        {from}–{to} of {total}
      </span>
      <button type="button" onClick={onNext} disabled={!hasNext}>
        Next
      </button>
    </nav>
  );
}

export function SortHeader({
  label,
  field,
  sort,
  direction,
  onSort,
}: {
  label: string;
  field: string;
  sort: string;
  direction: "ASC" | "DESC";
  onSort: (field: string, direction: "ASC" | "DESC") => void;
}) {
  const active = sort === field;
  const next = active && direction === "ASC" ? "DESC" : "ASC";
  return (
    <th scope="col" aria-sort={active ? (direction === "ASC" ? "ascending" : "descending") : "none"}>
      <button type="button" className="sort" onClick={() => onSort(field, active ? next : field === "NAME" || field === "LAST_NAME" ? "ASC" : "DESC")}>
        {label} {active ? (direction === "ASC" ? "▲" : "▼") : ""}
      </button>
    </th>
  );
}
