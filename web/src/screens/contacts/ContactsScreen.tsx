// Contacts: search (name, email, company), sort, cursor paging, and a new contact.

import { useState } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { useDraft } from "../../drafts";
import { date, label } from "../../format";
import type { ContactOrderField } from "../../gql/graphql";
import { Link, navigate } from "../../router";
import { Dialog } from "../../ui/Dialog";
import { TextField } from "../../ui/Field";
import { ListHeader, ListPager, LIST_PAGE, useListParams } from "../../ui/ListScreen";
import { SortHeader } from "../../ui/Paging";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { CompanyPicker } from "../board/Pickers";
import { CONTACTS_LIST, CREATE_CONTACT } from "./queries";

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
  const { text, sort, direction, pages, onSort } = useListParams<ContactOrderField>("LAST_NAME");
  const [creating, setCreating] = useState(false);
  const state = useQuery(
    CONTACTS_LIST,
    { filter: { text: text || null }, orderBy: { field: sort, direction }, first: LIST_PAGE, after: pages.after },
    { topics: ["contacts"] },
  );
  return (
    <div className="page">
      <ListHeader
        title="Contacts"
        text={text}
        searchLabel="Search name, email or company"
        searchTestId="contacts-search"
        recordType="CONTACTS"
        newLabel="New contact"
        onNew={() => setCreating(true)}
      />
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
              <ListPager pages={pages} connection={data.contacts} />
            </>
          )
        }
      </QueryView>
      {creating && <NewContact onClose={() => setCreating(false)} />}
    </div>
  );
}
