// Companies: search (name, domain), sort, cursor paging, and a new company.

import { useState } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { useDraft } from "../../drafts";
import { date } from "../../format";
import type { CompanyOrderField } from "../../gql/graphql";
import { Link, navigate } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { TextField } from "../../ui/Field";
import { ListHeader, ListPager, LIST_PAGE, useListParams } from "../../ui/ListScreen";
import { SortHeader } from "../../ui/Paging";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { COMPANIES_LIST, CREATE_COMPANY } from "./queries";

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
  const { text, sort, direction, pages, onSort } = useListParams<CompanyOrderField>("NAME");
  const [creating, setCreating] = useState(false);
  const state = useQuery(
    COMPANIES_LIST,
    { filter: { text: text || null }, orderBy: { field: sort, direction }, first: LIST_PAGE, after: pages.after },
    { topics: ["contacts"] },
  );
  return (
    <div className="page">
      <ListHeader
        title="Companies"
        text={text}
        searchLabel="Search name or domain"
        searchTestId="companies-search"
        recordType="COMPANIES"
        newLabel="New company"
        onNew={() => setCreating(true)}
      />
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
              <ListPager pages={pages} connection={data.companies} />
            </>
          )
        }
      </QueryView>
      {creating && <NewCompany onClose={() => setCreating(false)} />}
    </div>
  );
}
