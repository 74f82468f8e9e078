// Contacts: search (name, email, company), sort, cursor paging, and a new contact.

import { useEffect, useState } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { useDraft } from "../../drafts";
import { date, label } from "../../format";
import type { ContactOrderField } from "../../gql/graphql";
import { Link, navigate, setSearch, useLocation } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { TextField } from "../../ui/Field";
import { Pager, SortHeader, useCursorPages } from "../../ui/Paging";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { CompanyPicker } from "../board/Pickers";
import { CONTACTS_LIST, CREATE_CONTACT } from "./queries";
import { ExportButton } from "../../ui/exports/ExportButton";

const PAGE = 25;

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

function NewContact({ onClose }: { onClose: () => void }) {
  const initial = { firstName: "", lastName: "", email: "", title: "", companyId: "", companyName: "" };
  const [form, setForm, clearDraft] = useDraft("new-contact", initial);
  const [create, state] = useMutation(CREATE_CONTACT, ["contacts"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const { createContact } = await create({
        input: {
          firstName: form.firstName,
          lastName: form.lastName || null,
          email: form.email || null,
          title: form.title || null,
          companyId: form.companyId || null,
        },
      });
      clearDraft();
      navigate(`/contacts/${createContact.id}`);
    } catch {
      /* shown by field */
    }
  };
  const err = state.error;
  const known = ["input.firstName", "input.lastName", "input.email", "input.title", "input.companyId"];
  return (
    <Dialog title="New contact" open onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <TextField label="First name" value={form.firstName} required onChange={(e) => setForm({ ...form, firstName: e.target.value })} error={err?.forField("input.firstName")} />
        <TextField label="Last name" value={form.lastName} onChange={(e) => setForm({ ...form, lastName: e.target.value })} error={err?.forField("input.lastName")} />
        <TextField label="Email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} error={err?.forField("input.email")} />
        <TextField label="Job title" value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} error={err?.forField("input.title")} />
        {form.companyId ? (
          <p>
            Company: <strong>{form.companyName}</strong>{" "}
            <button type="button" className="link" onClick={() => setForm({ ...form, companyId: "", companyName: "" })}>
              change
            </button>
          </p>
        ) : (
          <CompanyPicker onPick={(c) => setForm({ ...form, companyId: c.id, companyName: c.name })} />
        )}
        {err?.general(...known) && <ErrorNotice error={err.general(...known)!} />}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={state.pending || !form.firstName.trim()}>
            Create contact
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export default function ContactsScreen() {
  const session = useSession();
  const { search } = useLocation();
  const text = search.get("q") ?? "";
  const sort = (search.get("sort") ?? "LAST_NAME") as ContactOrderField;
  const direction = (search.get("dir") ?? "ASC") as "ASC" | "DESC";
  const pages = useCursorPages(`${text}|${sort}|${direction}`);
  const [creating, setCreating] = useState(false);
  const state = useQuery(
    CONTACTS_LIST,
    { filter: { text: text || null }, orderBy: { field: sort, direction }, first: PAGE, after: pages.after },
    { topics: ["contacts"] },
  );
  const onSort = (field: string, dir: "ASC" | "DESC") => setSearch({ sort: field, dir });
  return (
    <div className="page">
      <div className="page-header">
        <h1>Contacts</h1>
        <div className="toolbar">
          <SearchBox value={text} label="Search name, email or company" testId="contacts-search" />
          <ExportButton recordType="CONTACTS" filter={{ text }} />
          {hasRole(session, "admin", "manager", "rep") && (
            <button type="button" className="primary" onClick={() => setCreating(true)}>
              New contact
            </button>
          )}
        </div>
      </div>
      <QueryView state={state} what="contacts">
        {(data) =>
          data.contacts.edges.length === 0 ? (
            <Empty>{text ? `No contacts match “${text}”.` : "No contacts yet."}</Empty>
          ) : (
            <>
              <table data-testid="contacts-table">
                <thead>
                  <tr>
                    <SortHeader label="Name" field="LAST_NAME" sort={sort} direction={direction} onSort={onSort} />
                    <th scope="col">Email</th>
                    <th scope="col">Company</th>
                    <th scope="col">Stage</th>
                    <SortHeader label="Created" field="CREATED_AT" sort={sort} direction={direction} onSort={onSort} />
                    <SortHeader label="Updated" field="UPDATED_AT" sort={sort} direction={direction} onSort={onSort} />
                  </tr>
                </thead>
                <tbody>
                  {data.contacts.edges.map(({ node }) => (
                    <tr key={node.id}>
                      <td>
                        <Link to={`/contacts/${node.id}`}>{node.name}</Link>
                        {node.title && <div className="muted">{node.title}</div>}
                      </td>
                      <td>{node.email ?? <span className="muted">—</span>}</td>
                      <td>{node.company ? <Link to={`/companies/${node.company.id}`}>{node.company.name}</Link> : <span className="muted">—</span>}</td>
                      <td>{label(node.lifecycleStage)}</td>
                      <td>{date(node.createdAt)}</td>
                      <td>{date(node.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager
                page={pages.page}
                total={data.contacts.totalCount}
                pageSize={PAGE}
                hasNext={data.contacts.pageInfo.hasNextPage}
                onNext={() => pages.next(data.contacts.pageInfo.endCursor)}
                onPrevious={pages.previous}
              />
            </>
          )
        }
      </QueryView>
      {creating && <NewContact onClose={() => setCreating(false)} />}
    </div>
  );
}
