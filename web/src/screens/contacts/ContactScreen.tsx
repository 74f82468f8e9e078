// A contact: details, company, the timeline (newest first, paged) and logging an
// interaction, linked deals and tasks, duplicate suggestions and merging.

import { useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { dateTime, label, money } from "../../format";
import { Link } from "../../router";
import { AddTaskForm, TaskTable } from "../../ui/Tasks";
import { LogInteractionForm, Timeline } from "../../ui/Timeline";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { ContactFields } from "./ContactFields";
import { Duplicates } from "./Duplicates";
import { CONTACT_PAGE } from "./queries";

export function DealList({
  deals,
}: {
  deals: { id: string; title: string; amount: string | null; currency: string; status: string; stage: { name: string } }[];
}) {
  if (!deals.length) return <Empty>No deals.</Empty>;
  return (
    <ul className="plain-list">
      {deals.map((d) => (
        <li key={d.id}>
          <Link to={`/deals/${d.id}`}>{d.title}</Link> <span className="muted">· {money(d.amount, d.currency)} · {d.status === "OPEN" ? d.stage.name : label(d.status)}</span>
        </li>
      ))}
    </ul>
  );
}

export default function ContactScreen({ id }: { id: string }) {
  const session = useSession();
  const canEdit = hasRole(session, "admin", "manager", "rep");
  const state = useQuery(CONTACT_PAGE, { id }, { topics: ["contacts", "deals", "tasks"] });
  return (
    <div className="page">
      <QueryView state={state} what="the contact">
        {(data) => {
          const contact = data.contact;
          if (!contact) return <ErrorNotice error="This contact does not exist (or was merged or deleted)." />;
          return (
            <>
              <div className="page-header">
                <div>
                  <p className="muted">
                    <Link to="/contacts">Contacts</Link>
                  </p>
                  <h1 data-testid="contact-name">{contact.name}</h1>
                  <p className="muted">
                    {contact.title ?? ""} {contact.company && <> at <Link to={`/companies/${contact.company.id}`}>{contact.company.name}</Link></>}
                  </p>
                </div>
              </div>
              <div className="grid-2">
                <div>
                  <section className="panel" aria-labelledby="timeline-heading">
                    <h2 id="timeline-heading">Timeline</h2>
                    {canEdit && <LogInteractionForm draftKey={`contact:${contact.id}`} target={{ contactId: contact.id }} />}
                    <Timeline
                      key={contact.interactions.totalCount}
                      owner={{ kind: "contact", id: contact.id }}
                      first={contact.interactions}
                    />
                  </section>
                  <section className="panel" aria-labelledby="tasks-heading">
                    <h2 id="tasks-heading">Tasks</h2>
                    <TaskTable tasks={contact.tasks.filter((t) => t.status === "OPEN" || t.status === "IN_PROGRESS")} canEdit={canEdit} empty="No open tasks." />
                    {canEdit && <AddTaskForm draftKey={`contact:${contact.id}`} link={{ contactId: contact.id }} />}
                  </section>
                </div>
                <div>
                  <section className="panel" aria-labelledby="details-heading">
                    <h2 id="details-heading">Details</h2>
                    <ContactFields key={contact.id} contact={contact} canEdit={canEdit} />
                    <p className="muted">Created {dateTime(contact.createdAt)}</p>
                  </section>
                  <section className="panel" aria-labelledby="deals-heading">
                    <h2 id="deals-heading">Deals ({contact.deals.totalCount})</h2>
                    <DealList deals={contact.deals.edges.map((e) => e.node)} />
                  </section>
                  <Duplicates contact={{ id: contact.id, name: contact.name }} canMerge={hasRole(session, "admin", "manager", "rep")} />
                </div>
              </div>
            </>
          );
        }}
      </QueryView>
    </div>
  );
}
