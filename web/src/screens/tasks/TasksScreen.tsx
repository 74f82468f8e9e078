// My tasks: the signed-in user's open tasks, overdue first (as `myTasks` orders them), with
// complete / snooze / reassign; managers (and admins) also see their teams' queues.

import { useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { graphql } from "../../gql";
import { personName } from "../../people";
import { setSearch, useLocation } from "../../router";
import { TaskTable } from "../../ui/Tasks";
import { Empty, QueryView } from "../../ui/states";
import { ExportButton } from "../../ui/exports/ExportButton";

const MY_TASKS = graphql(`
  query MyTasks {
    myTasks {
      ...TaskRow
    }
  }
`);

const TEAMS = graphql(`
  query TaskTeams {
    teams {
      id
      name
      memberIds
      managerId
    }
  }
`);

const QUEUE = graphql(`
  query TaskQueue($filter: TaskFilterInput!) {
    tasks(filter: $filter, orderBy: { field: DUE_AT, direction: ASC }, first: 25) {
      totalCount
      edges {
        node {
          ...TaskRow
        }
      }
    }
  }
`);

function Queue({ title, filter }: { title: string; filter: { assigneeId?: string; teamId?: string } }) {
  const state = useQuery(QUEUE, { filter: { ...filter, statusIn: ["OPEN", "IN_PROGRESS"] } }, { topics: ["tasks"] });
  return (
    <section className="panel" aria-label={title}>
      <h3>
        {title} {state.data && <span className="muted">({state.data.tasks.totalCount} open)</span>}
      </h3>
      <QueryView state={state} what="tasks">
        {(data) => <TaskTable tasks={data.tasks.edges.map((e) => e.node)} empty="Nothing open." />}
      </QueryView>
    </section>
  );
}

function TeamQueues({ userId, admin }: { userId: string; admin: boolean }) {
  const { search } = useLocation();
  const teams = useQuery(TEAMS, {}, { topics: ["teams"] });
  return (
    <QueryView state={teams} what="teams">
      {(data) => {
        const mine = data.teams.filter((t) => admin || t.managerId === userId);
        if (!mine.length) return <Empty>You manage no team.</Empty>;
        const chosen = mine.find((t) => t.id === search.get("team")) ?? mine[0];
        return (
          <>
            <label className="toolbar">
              Team
              <select value={chosen.id} onChange={(e) => setSearch({ team: e.target.value })} data-testid="team-select">
                {mine.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
            <Queue title={`Assigned to ${chosen.name}`} filter={{ teamId: chosen.id }} />
            {chosen.memberIds.map((member) => (
              <Queue key={member} title={personName(member)} filter={{ assigneeId: member }} />
            ))}
          </>
        );
      }}
    </QueryView>
  );
}

export default function TasksScreen() {
  const session = useSession();
  const state = useQuery(MY_TASKS, {}, { topics: ["tasks"] });
  const manager = hasRole(session, "admin", "manager");
  return (
    <div className="page">
      <div className="page-header">
        <h1>My tasks</h1>
        {session && (
          <div className="toolbar">
            <ExportButton
              recordType="TASKS"
              label="Export my tasks"
              filter={{ assigneeId: session.userId, statusIn: ["OPEN", "IN_PROGRESS"] }}
            />
          </div>
        )}
      </div>
      <QueryView state={state} what="your tasks">
        {(data) => {
          const overdue = data.myTasks.filter((t) => t.overdue).length;
          return (
            <>
              <p className="muted" data-testid="my-tasks-summary">
                {data.myTasks.length} open · {overdue} overdue
              </p>
              <TaskTable tasks={data.myTasks} canEdit={hasRole(session, "admin", "manager", "rep")} empty="Nothing to do. New tasks appear here as deals move and rules fire." />
            </>
          );
        }}
      </QueryView>
      {manager && session && (
        <section aria-labelledby="queues-heading">
          <h2 id="queues-heading">Team queues</h2>
          <TeamQueues userId={session.userId} admin={hasRole(session, "admin")} />
        </section>
      )}
    </div>
  );
}
