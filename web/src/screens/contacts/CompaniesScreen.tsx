// Companies: search (name, domain), sort, cursor paging, and a new company.

import { useState } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { useDraft } from "../../drafts";
import { date } from "../../format";
import type { CompanyOrderField } from "../../gql/graphql";
import { Link, navigate, setSearch, useLocation } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { TextField } from "../../ui/Field";
import { Pager, SortHeader, useCursorPages } from "../../ui/Paging";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { SearchBox } from "./ContactsScreen";
import { COMPANIES_LIST, CREATE_COMPANY } from "./queries";
import { ExportButton } from "../../ui/exports/ExportButton";

const PAGE = 25;

function NewCompany({ onClose }: { onClose: () => void }) {
  const initial = { name: "", domain: "", industry: "" };
  const [form, setForm, clearDraft] = useDraft("new-company", initial);
  const [create, state] = useMutation(CREATE_COMPANY, ["contacts"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const { createCompany } = await create({
        input: { name: form.name, domain: form.domain || null, industry: form.industry || null },
      });
      clearDraft();
      navigate(`/companies/${createCompany.id}`);
    } catch {
      /* shown by field */
    }
  };
  const err = state.error;
  const known = ["input.name", "input.domain", "input.industry"];
  return (
    <Dialog title="New company" open onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <TextField label="Name" value={form.name} required onChange={(e) => setForm({ ...form, name: e.target.value })} error={err?.forField("input.name")} />
        <TextField label="Domain" value={form.domain} placeholder="example.com" onChange={(e) => setForm({ ...form, domain: e.target.value })} error={err?.forField("input.domain")} />
        <TextField label="Industry" value={form.industry} onChange={(e) => setForm({ ...form, industry: e.target.value })} error={err?.forField("input.industry")} />
        {err?.general(...known) && <ErrorNotice error={err.general(...known)!} />}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={state.pending || !form.name.trim()}>
            Create company
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export default function CompaniesScreen() {
  const session = useSession();
  const { search } = useLocation();
  const text = search.get("q") ?? "";
  const sort = (search.get("sort") ?? "NAME") as CompanyOrderField;
  const direction = (search.get("dir") ?? "ASC") as "ASC" | "DESC";
  const pages = useCursorPages(`${text}|${sort}|${direction}`);
  const [creating, setCreating] = useState(false);
  const state = useQuery(
    COMPANIES_LIST,
    { filter: { text: text || null }, orderBy: { field: sort, direction }, first: PAGE, after: pages.after },
    { topics: ["contacts"] },
  );
  const onSort = (field: string, dir: "ASC" | "DESC") => setSearch({ sort: field, dir });
  return (
    <div className="page">
      <div className="page-header">
        <h1>Companies</h1>
        <div className="toolbar">
          <SearchBox value={text} label="Search name or domain" testId="companies-search" />
          <ExportButton recordType="COMPANIES" filter={{ text }} />
          {hasRole(session, "admin", "manager", "rep") && (
            <button type="button" className="primary" onClick={() => setCreating(true)}>
              New company
            </button>
          )}
        </div>
      </div>
      <QueryView state={state} what="companies">
        {(data) =>
          data.companies.edges.length === 0 ? (
            <Empty>{text ? `No companies match “${text}”.` : "No companies yet."}</Empty>
          ) : (
            <>
              <table data-testid="companies-table">
                <thead>
                  <tr>
                    <SortHeader label="Name" field="NAME" sort={sort} direction={direction} onSort={onSort} />
                    <th scope="col">Domain</th>
                    <th scope="col">Industry</th>
                    <th scope="col" className="num">
                      Employees
                    </th>
                    <th scope="col">Country</th>
                    <SortHeader label="Created" field="CREATED_AT" sort={sort} direction={direction} onSort={onSort} />
                    <SortHeader label="Updated" field="UPDATED_AT" sort={sort} direction={direction} onSort={onSort} />
                  </tr>
                </thead>
                <tbody>
                  {data.companies.edges.map(({ node }) => (
                    <tr key={node.id}>
                      <td>
                        <Link to={`/companies/${node.id}`}>{node.name}</Link>
                      </td>
                      <td>{node.domain ?? <span className="muted">—</span>}</td>
                      <td>{node.industry ?? <span className="muted">—</span>}</td>
                      <td className="num">{node.size ?? "—"}</td>
                      <td>{node.address?.country ?? <span className="muted">—</span>}</td>
                      <td>{date(node.createdAt)}</td>
                      <td>{date(node.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager
                page={pages.page}
                total={data.companies.totalCount}
                pageSize={PAGE}
                hasNext={data.companies.pageInfo.hasNextPage}
                onNext={() => pages.next(data.companies.pageInfo.endCursor)}
                onPrevious={pages.previous}
              />
            </>
          )
        }
      </QueryView>
      {creating && <NewCompany onClose={() => setCreating(false)} />}
    </div>
  );
}
