// Settings for managers and admins: the pipelines (the documented sales process) and teams.

import { useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { date } from "../../format";
import { personName } from "../../people";
import { Link, setSearch, useLocation } from "../../router";
import { ErrorNotice, QueryView } from "../../ui/states";
import { PipelineEditor } from "./PipelineEditor";
import { PIPELINES } from "./queries";
import { Teams } from "./Teams";

function Pipelines() {
  const { search } = useLocation();
  const state = useQuery(PIPELINES, {}, { topics: ["pipelines"] });
  return (
    <QueryView state={state} what="pipelines">
      {(data) => {
        const chosen = data.pipelines.find((p) => p.id === search.get("pipeline")) ?? data.pipelines.find((p) => p.isDefault) ?? data.pipelines[0];
        if (!chosen) return <ErrorNotice error="No pipeline." />;
        return (
          <>
            <div className="toolbar">
              <label>
                Pipeline
                <select value={chosen.id} onChange={(e) => setSearch({ pipeline: e.target.value })}>
                  {data.pipelines.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </label>
              <span className="muted">
                version {chosen.version} · {chosen.currency} · changed {date(chosen.updatedAt)}
                {chosen.updatedBy ? ` by ${personName(chosen.updatedBy)}` : ""}
              </span>
            </div>
            <PipelineEditor key={`${chosen.id}:${chosen.version}`} pipeline={chosen} />
          </>
        );
      }}
    </QueryView>
  );
}

export default function SettingsScreen({ tab }: { tab: string }) {
  const session = useSession();
  if (!hasRole(session, "admin", "manager")) {
    return (
      <div className="page">
        <h1>Settings</h1>
        <ErrorNotice error="Only managers and admins can change the sales process and teams." />
      </div>
    );
  }
  return (
    <div className="page">
      <h1>Settings</h1>
      <nav className="tabs" aria-label="Settings">
        <Link to="/settings/pipelines" aria-current={tab !== "teams" ? "page" : undefined}>
          Pipelines
        </Link>
        <Link to="/settings/teams" aria-current={tab === "teams" ? "page" : undefined}>
          Teams
        </Link>
      </nav>
      {tab === "teams" ? <Teams /> : <Pipelines />}
    </div>
  );
}
