// Teams: who shares work, who manages them, and how a team's tasks are shared out.

import { useState } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { label } from "../../format";
import type { AssignmentStrategy, SettingsTeamsQuery } from "../../gql/graphql";
import { personName } from "../../people";
import { SelectField, TextField } from "../../ui/Field";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { CREATE_TEAM, TEAMS, UPDATE_TEAM } from "./queries";

type Team = SettingsTeamsQuery["teams"][number];
type Form = { name: string; members: string; managerId: string; strategy: AssignmentStrategy };
const STRATEGIES: AssignmentStrategy[] = ["ROUND_ROBIN", "FEWEST_OPEN"];
const FIELDS = ["input.name", "input.memberIds", "input.managerId", "input.strategy"];

function TeamForm({ team, onDone }: { team?: Team; onDone: () => void }) {
  const [form, setForm] = useState<Form>({
    name: team?.name ?? "",
    members: team?.memberIds.join(", ") ?? "",
    managerId: team?.managerId ?? "",
    strategy: team?.strategy ?? "ROUND_ROBIN",
  });
  const [create, creating] = useMutation(CREATE_TEAM, ["teams"]);
  const [update, updating] = useMutation(UPDATE_TEAM, ["teams"]);
  const state = team ? updating : creating;
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const input = {
      name: form.name,
      memberIds: form.members.split(",").map((m) => m.trim()).filter(Boolean),
      managerId: form.managerId.trim() || null,
      strategy: form.strategy,
    };
    try {
      if (team) await update({ id: team.id, input });
      else await create({ input });
      onDone();
    } catch {
      /* shown by field */
    }
  };
  const err = state.error;
  return (
    <form onSubmit={(e) => void submit(e)} className="panel" aria-label={team ? `Edit ${team.name}` : "New team"}>
      <div className="form-grid">
        <TextField label="Name" value={form.name} required onChange={(e) => setForm({ ...form, name: e.target.value })} error={err?.forField("input.name")} />
        <TextField
          label="Members (user ids, comma-separated)"
          value={form.members}
          onChange={(e) => setForm({ ...form, members: e.target.value })}
          error={err?.forField("input.memberIds")}
        />
        <TextField label="Manager (user id)" value={form.managerId} onChange={(e) => setForm({ ...form, managerId: e.target.value })} error={err?.forField("input.managerId")} />
        <SelectField label="Shares tasks by" value={form.strategy} onChange={(e) => setForm({ ...form, strategy: e.target.value as AssignmentStrategy })}>
          {STRATEGIES.map((s) => (
            <option key={s} value={s}>
              {label(s)}
            </option>
          ))}
        </SelectField>
      </div>
      {err?.general(...FIELDS) && <ErrorNotice error={err.general(...FIELDS)!} />}
      <div className="form-actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={state.pending}>
          {team ? "Save team" : "Create team"}
        </button>
      </div>
    </form>
  );
}

export function Teams() {
  const state = useQuery(TEAMS, {}, { topics: ["teams"] });
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          New team
        </button>
      </div>
      {editing === "new" && <TeamForm onDone={() => setEditing(null)} />}
      <QueryView state={state} what="teams">
        {(data) =>
          data.teams.length === 0 ? (
            <Empty>No teams yet.</Empty>
          ) : (
            <table data-testid="teams-table">
              <thead>
                <tr>
                  <th scope="col">Team</th>
                  <th scope="col">Id</th>
                  <th scope="col">Members</th>
                  <th scope="col">Manager</th>
                  <th scope="col">Shares tasks by</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.teams.map((team) =>
                  editing === team.id ? (
                    <tr key={team.id}>
                      <td colSpan={6}>
                        <TeamForm team={team} onDone={() => setEditing(null)} />
                      </td>
                    </tr>
                  ) : (
                    <tr key={team.id}>
                      <th scope="row">{team.name}</th>
                      <td>
                        <code>{team.id}</code>
                      </td>
                      <td>{team.memberIds.map(personName).join(", ") || "—"}</td>
                      <td>{team.managerId ? personName(team.managerId) : "—"}</td>
                      <td>{label(team.strategy)}</td>
                      <td>
                        <button type="button" onClick={() => setEditing(team.id)}>
                          Edit
                        </button>
                      </td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
          )
        }
      </QueryView>
    </>
  );
}
