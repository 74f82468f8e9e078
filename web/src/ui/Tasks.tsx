// Task rows (complete, snooze, reassign) and the form to add a task, shared by My tasks,
// the deal page and the contact page.

import { useState } from "react";
import { useMutation } from "../api/hooks";
import { useDraft } from "../drafts";
import { date, dateTime, isoDay, label } from "../format";
import { graphql } from "../gql";
import type { Priority, TaskRowFragment, TaskType } from "../gql/graphql";
import { personName } from "../people";
import { Link } from "../router";
import { SelectField, TextField } from "./Field";
import { Empty, ErrorNotice, FieldError } from "./states";

export const TASK_ROW = graphql(`
  fragment TaskRow on Task {
    id
    title
    type
    priority
    status
    dueAt
    overdue
    assigneeId
    teamId
    dealId
    contactId
    source
    completedAt
    deal {
      id
      title
    }
  }
`);

const COMPLETE = graphql(`
  mutation CompleteTaskRow($id: ID!) {
    completeTask(id: $id) {
      id
      status
    }
  }
`);

const UPDATE = graphql(`
  mutation UpdateTaskRow($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) {
      id
      dueAt
      assigneeId
    }
  }
`);

const CREATE = graphql(`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) {
      id
    }
  }
`);

function snoozeTo(days: number): string {
  const due = new Date();
  due.setUTCDate(due.getUTCDate() + days);
  due.setUTCHours(9, 0, 0, 0);
  return due.toISOString();
}

function TaskRowView({ task, showDeal, canEdit }: { task: TaskRowFragment; showDeal: boolean; canEdit: boolean }) {
  const [complete, completing] = useMutation(COMPLETE, ["tasks", "deals"]);
  const [update, updating] = useMutation(UPDATE, ["tasks"]);
  const [reassigning, setReassigning] = useState(false);
  const [assignee, setAssignee] = useState(task.assigneeId ?? "");
  const open = task.status === "OPEN" || task.status === "IN_PROGRESS";
  const error = completing.error ?? updating.error;
  return (
    <tr className={`task-row${task.overdue ? " overdue" : ""}`} data-testid="task-row" data-task-id={task.id}>
      <td>
        <span className="task-title">{task.title}</span>
        <div className="muted">
          {label(task.type)} · {label(task.priority)}
          {task.source !== "MANUAL" && <> · {label(task.source)}</>}
        </div>
        <FieldError message={error?.message} />
      </td>
      {showDeal && <td>{task.deal ? <Link to={`/deals/${task.deal.id}`}>{task.deal.title}</Link> : <span className="muted">—</span>}</td>}
      <td className="due">
        {task.dueAt ? dateTime(task.dueAt) : <span className="muted">No due date</span>}
        {task.overdue && <span className="badge danger">Overdue</span>}
      </td>
      <td>
        {reassigning ? (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              update({ id: task.id, input: { assigneeId: assignee.trim() } }).then(() => setReassigning(false), () => undefined);
            }}
          >
            <label className="sr-only" htmlFor={`assignee-${task.id}`}>
              Assignee user id
            </label>
            <input id={`assignee-${task.id}`} value={assignee} onChange={(e) => setAssignee(e.target.value)} size={14} />
            <button type="submit" disabled={updating.pending || !assignee.trim()}>
              Save
            </button>
          </form>
        ) : (
          personName(task.assigneeId)
        )}
      </td>
      <td>
        {open ? (
          canEdit && (
            <div className="row-actions">
              <button type="button" onClick={() => complete({ id: task.id }).catch(() => undefined)} disabled={completing.pending}>
                Complete
              </button>
              <button
                type="button"
                onClick={() => update({ id: task.id, input: { dueAt: snoozeTo(1) } }).catch(() => undefined)}
                disabled={updating.pending}
                title="Due tomorrow 09:00 UTC"
              >
                Snooze 1 day
              </button>
              <button type="button" onClick={() => setReassigning(!reassigning)}>
                Reassign
              </button>
            </div>
          )
        ) : (
          <span className="badge ok">{label(task.status)}{task.completedAt ? ` ${date(task.completedAt)}` : ""}</span>
        )}
      </td>
    </tr>
  );
}

export function TaskTable({
  tasks,
  showDeal = true,
  canEdit = true,
  empty,
}: {
  tasks: TaskRowFragment[];
  showDeal?: boolean;
  canEdit?: boolean;
  empty: string;
}) {
  if (!tasks.length) return <Empty>{empty}</Empty>;
  return (
    <table className="tasks">
      <thead>
        <tr>
          <th scope="col">Task</th>
          {showDeal && <th scope="col">Deal</th>}
          <th scope="col">Due</th>
          <th scope="col">Assignee</th>
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((task) => (
          <TaskRowView key={task.id} task={task} showDeal={showDeal} canEdit={canEdit} />
        ))}
      </tbody>
    </table>
  );
}

const TYPES: TaskType[] = ["TODO", "CALL", "EMAIL", "MEETING", "FOLLOW_UP"];
const PRIORITIES: Priority[] = ["LOW", "NORMAL", "HIGH", "URGENT"];

export function AddTaskForm({ draftKey, link }: { draftKey: string; link: { dealId?: string; contactId?: string; companyId?: string } }) {
  const initial = { title: "", type: "TODO" as TaskType, priority: "NORMAL" as Priority, due: isoDay(1), assigneeId: "" };
  const [form, setForm, clearDraft] = useDraft(`task:${draftKey}`, initial);
  const [create, state] = useMutation(CREATE, ["tasks", "deals"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      await create({
        input: {
          title: form.title,
          type: form.type,
          priority: form.priority,
          dueAt: form.due ? `${form.due}T17:00:00Z` : null,
          assigneeId: form.assigneeId.trim() || null,
          dealId: link.dealId ?? null,
          contactId: link.contactId ?? null,
          companyId: link.companyId ?? null,
        },
      });
      clearDraft();
      setForm(initial);
      clearDraft();
    } catch {
      /* shown below */
    }
  };
  const err = state.error;
  const fields = ["input.title", "input.type", "input.priority", "input.dueAt", "input.assigneeId"];
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Add a task" data-testid="add-task">
      <TextField label="New task" value={form.title} required maxLength={300} onChange={(e) => setForm({ ...form, title: e.target.value })} error={err?.forField("input.title")} />
      <div className="form-grid">
        <SelectField label="Type" value={form.type} onChange={(e) => setForm({ ...form, type: e.target.value as TaskType })}>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {label(t)}
            </option>
          ))}
        </SelectField>
        <SelectField label="Priority" value={form.priority} onChange={(e) => setForm({ ...form, priority: e.target.value as Priority })}>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {label(p)}
            </option>
          ))}
        </SelectField>
        <TextField label="Due" type="date" value={form.due} onChange={(e) => setForm({ ...form, due: e.target.value })} error={err?.forField("input.dueAt")} />
        <TextField label="Assignee (user id)" value={form.assigneeId} placeholder="Me" onChange={(e) => setForm({ ...form, assigneeId: e.target.value })} error={err?.forField("input.assigneeId")} />
      </div>
      {err?.general(...fields) && <ErrorNotice error={err.general(...fields)!} />}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={state.pending || !form.title.trim()}>
          Add task
        </button>
      </div>
    </form>
  );
}
