// A company: details, its people, its deals, the timeline and logging an interaction.

import { useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { Link } from "../../router";
import { TaskTable } from "../../ui/Tasks";
import { LogInteractionForm, Timeline } from "../../ui/Timeline";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { CompanyFields } from "./CompanyFields";
import { DealList } from "./ContactScreen";
import { COMPANY_PAGE } from "./queries";

export default function CompanyScreen({ id }: { id: string }) {
  const session = useSession();
  const canEdit = hasRole(session, "admin", "manager", "rep");
  const state = useQuery(COMPANY_PAGE, { id }, { topics: ["contacts", "deals"] });
  return (
    <div className="page">
      <QueryView state={state} what="the company">
        {(data) => {
          const company = data.company;
          if (!company) return <ErrorNotice error="This company does not exist (or was deleted)." />;
          // The company's open work: the tasks of its deals and of its people, once each.
          const tasks = [
            ...company.deals.edges.flatMap((e) => e.node.tasks),
            ...company.contacts.edges.flatMap((e) => e.node.tasks),
          ].filter((task, index, all) => all.findIndex((t) => t.id === task.id) === index);
          return (
            <>
              <div className="page-header">
                <div>
                  <p className="muted">
                    <Link to="/companies">Companies</Link>
                  </p>
                  <h1>{company.name}</h1>
                  <p className="muted">
                    {[company.domain, company.industry, company.address?.city, company.address?.country].filter(Boolean).join(" · ")}
                  </p>
                </div>
              </div>
              <div className="grid-2">
                <div>
                  <section className="panel" aria-labelledby="timeline-heading">
                    <h2 id="timeline-heading">Timeline</h2>
                    {canEdit && <LogInteractionForm draftKey={`company:${company.id}`} target={{ companyId: company.id }} />}
                    <Timeline key={company.interactions.totalCount} owner={{ kind: "company", id: company.id }} first={company.interactions} />
                  </section>
                  <section className="panel" aria-labelledby="tasks-heading">
                    <h2 id="tasks-heading">Open tasks</h2>
                    <TaskTable tasks={tasks} canEdit={canEdit} empty="No open tasks on this company's deals or people." />
                  </section>
                </div>
                <div>
                  <section className="panel" aria-labelledby="company-details-heading">
                    <h2 id="company-details-heading">Details</h2>
                    <CompanyFields key={company.id} company={company} canEdit={canEdit} />
                  </section>
                  <section className="panel" aria-labelledby="people-heading">
                    <h2 id="people-heading">People ({company.contacts.totalCount})</h2>
                    {company.contacts.edges.length ? (
                      <ul className="plain-list">
                        {company.contacts.edges.map(({ node }) => (
                          <li key={node.id}>
                            <Link to={`/contacts/${node.id}`}>{node.name}</Link> <span className="muted">{node.title ?? node.email ?? ""}</span>
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <Empty>No contacts at this company.</Empty>
                    )}
                  </section>
                  <section className="panel" aria-labelledby="deals-heading">
                    <h2 id="deals-heading">Deals ({company.deals.totalCount})</h2>
                    <DealList deals={company.deals.edges.map((e) => e.node)} />
                  </section>
                </div>
              </div>
            </>
          );
        }}
      </QueryView>
    </div>
  );
}
