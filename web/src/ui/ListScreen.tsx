// The pieces every searchable, sortable record list shares (contacts, companies): the
// search text and sort order kept in the address (so a list can be linked and survives a
// reload), the header with its search box, export and "new" button, and the pager under
// the table.

import { useEffect, useState } from "react";
import { hasRole, useSession } from "../auth/session";
import { setSearch, useLocation } from "../router";
import type { ImportRecordType } from "../gql/graphql";
import { ExportButton } from "./exports/ExportButton";
import { Pager, useCursorPages } from "./Paging";

export const LIST_PAGE = 25;

export type Direction = "ASC" | "DESC";

/** The list's search text, sort field and direction from the address, and its pages. */
export function useListParams<F extends string>(defaultSort: F, defaultDirection: Direction = "ASC") {
  const { search } = useLocation();
  const text = search.get("q") ?? "";
  const sort = (search.get("sort") ?? defaultSort) as F;
  const direction = (search.get("dir") ?? defaultDirection) as Direction;
  // A new search or order starts again at the first page.
  const pages = useCursorPages(`${text}|${sort}|${direction}`);
  const onSort = (field: string, dir: Direction) => setSearch({ sort: field, dir });
  return { text, sort, direction, pages, onSort };
}

/** A search field that writes the text into the address once typing pauses. */
export function SearchBox({ value, label: text, testId }: { value: string; label: string; testId?: string }) {
  const [typed, setTyped] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => typed !== value && setSearch({ q: typed.trim() || null }), 300);
    return () => clearTimeout(timer);
  }, [typed, value]);
  return (
    <label>
      {text}
      <input type="search" value={typed} onChange={(e) => setTyped(e.target.value)} data-testid={testId} />
    </label>
  );
}

export function ListHeader({
  title,
  text,
  searchLabel,
  searchTestId,
  recordType,
  newLabel,
  onNew,
}: {
  title: string;
  text: string;
  searchLabel: string;
  searchTestId: string;
  recordType: ImportRecordType;
  newLabel: string;
  onNew: () => void;
}) {
  const session = useSession();
  return (
    <div className="page-header">
      <h1>{title}</h1>
      <div className="toolbar">
        <SearchBox value={text} label={searchLabel} testId={searchTestId} />
        <ExportButton recordType={recordType} filter={{ text }} />
        {hasRole(session, "admin", "manager", "rep") && (
          <button type="button" className="primary" onClick={onNew}>
            {newLabel}
          </button>
        )}
      </div>
    </div>
  );
}

interface Connection {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
}

export function ListPager({ pages, connection }: { pages: ReturnType<typeof useCursorPages>; connection: Connection }) {
  return (
    <Pager
      page={pages.page}
      total={connection.totalCount}
      pageSize={LIST_PAGE}
      hasNext={connection.pageInfo.hasNextPage}
      onNext={() => pages.next(connection.pageInfo.endCursor)}
      onPrevious={pages.previous}
    />
  );
}
