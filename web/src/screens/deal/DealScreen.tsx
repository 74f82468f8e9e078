// The deal page: fields, stage (move, won, lost, reopen) with its history and time in each
// stage, win probability with the model's explanation, tasks, people and company, the
// interaction timeline, owner changes.

import { useState } from "react";
import { fire, useMutation, useQuery } from "../../api/hooks";
import { run } from "../../api/client";
import { ApiError, SignedOut, type Unmet } from "../../api/errors";
import { invalidate } from "../../api/live";
import { hasRole, useSession } from "../../auth/session";
import { dateTime, duration, money } from "../../format";
import { personName } from "../../people";
import { Link } from "../../router";
import { LogInteractionForm, Timeline } from "../../ui/Timeline";
import { AddTaskForm, TaskTable } from "../../ui/Tasks";
import { ErrorNotice, FieldError, QueryView } from "../../ui/states";
import { CloseDealDialog, type Closing } from "../board/CloseDialogs";
import { MoveBlockedDialog, type Blocked } from "../board/MoveBlocked";
import { CompanyPicker, ContactPicker } from "../board/Pickers";
import { MOVE_DEAL, UPDATE_DEAL_FIELDS } from "../board/queries";
import type { DealPageQuery } from "../../gql/graphql";
import { DealFields } from "./DealFields";
import { DEAL_PAGE, REOPEN_DEAL } from "./queries";
import { WinProbability } from "./WinProbability";

type Deal = NonNullable<DealPageQuery["deal"]>;

function StageControls({ deal, canEdit }: { deal: Deal; canEdit: boolean }) {
  const stages = deal.pipeline?.stages ?? [];
  const open = stages.filter((s) => !s.terminal);
  const [target, setTarget] = useState("");
  const [blocked, setBlocked] = useState<Blocked | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [closing, setClosing] = useState<Closing | null>(null);
  const [reopen, reopening] = useMutation(REOPEN_DEAL, ["deals", "tasks", "analytics"]);
  const [busy, setBusy] = useState(false);
  const name = (key: string) => stages.find((s) => s.key === key)?.name ?? key;

  const move = async (to: string) => {
    setBusy(true);
    setError(null);
    try {
      await run(MOVE_DEAL, { id: deal.id, stageKey: to });
      setBlocked(null);
      invalidate("deals", "tasks", "analytics");
    } catch (e) {
      if (e instanceof ApiError && e.unmet.length) {
        setBlocked({ dealId: deal.id, title: deal.title, toKey: to, toName: name(to), unmet: e.unmet as Unmet[] });
      } else if (!(e instanceof SignedOut)) setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const currentIndex = open.findIndex((s) => s.key === deal.stage.key);
  return (
    <section className="panel" aria-labelledby="stage-heading">
      <h2 id="stage-heading">Stage</h2>
      <div className="stage-bar" aria-label="Stages">
        {open.map((s, index) => (
          <span
            key={s.key}
            className={s.key === deal.stage.key ? "current" : index < currentIndex ? "done" : undefined}
            aria-current={s.key === deal.stage.key ? "step" : undefined}
          >
            {s.name}
          </span>
        ))}
      </div>
      {canEdit && deal.status === "OPEN" && (
        <div className="inline-form">
          <label>
            Move to{" "}
            <select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="move-select">
              <option value="">Choose a stage</option>
              {open
                .filter((s) => s.key !== deal.stage.key)
                .map((s) => (
                  <option key={s.key} value={s.key}>
                    {s.name}
                  </option>
                ))}
            </select>
          </label>
          <button type="button" onClick={() => void move(target)} disabled={!target || busy}>
            Move
          </button>
          <button type="button" onClick={() => setClosing({ dealId: deal.id, title: deal.title, outcome: "won" })}>
            Mark won
          </button>
          <button type="button" className="danger" onClick={() => setClosing({ dealId: deal.id, title: deal.title, outcome: "lost" })}>
            Mark lost
          </button>
        </div>
      )}
      {canEdit && deal.status !== "OPEN" && (
        <p>
          {deal.status === "WON" ? "Won" : `Lost (${deal.lostReason ?? "no reason"})`} on {dateTime(deal.closedAt)}.{" "}
          <button type="button" onClick={() => fire(reopen({ id: deal.id, stageKey: null }))} disabled={reopening.pending}>
            Reopen
          </button>
          <FieldError message={reopening.error?.message} />
        </p>
      )}
      {error && <ErrorNotice error={error} />}
      {blocked && (
        <MoveBlockedDialog blocked={blocked} onClose={() => setBlocked(null)} onRetry={() => void move(blocked.toKey)} retrying={busy} retryError={null} />
      )}
      {closing && <CloseDealDialog closing={closing} onClose={() => setClosing(null)} />}
    </section>
  );
}

function StageHistory({ deal }: { deal: Deal }) {
  const stages = deal.pipeline?.stages ?? [];
  const name = (key: string | null | undefined) => (key ? (stages.find((s) => s.key === key)?.name ?? key) : "—");
  const history = deal.stageHistory;
  return (
    <section className="panel" aria-labelledby="history-heading">
      <h2 id="history-heading">Stage history</h2>
      <ol className="timeline" data-testid="stage-history">
        {history.map((change, index) => {
          const next = history[index + 1];
          const seconds = next?.secondsInFromStage ?? (index === history.length - 1 && deal.status === "OPEN" ? Math.round((Date.now() - new Date(change.at).getTime()) / 1000) : null);
          return (
            <li key={change.id}>
              <strong>{name(change.toStage)}</strong>
              {change.fromStage && <span className="muted"> from {name(change.fromStage)}</span>}
              <div className="muted">
                {dateTime(change.at)} · {change.kind}
                {change.by && <> · by {personName(change.by)}</>}
                {seconds !== null && <> · {index === history.length - 1 && deal.status === "OPEN" ? "here for" : "stayed"} {duration(seconds)}</>}
              </div>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function People({ deal, canEdit }: { deal: Deal; canEdit: boolean }) {
  const [update, state] = useMutation(UPDATE_DEAL_FIELDS, ["deals"]);
  const [picking, setPicking] = useState<"company" | "contact" | null>(null);
  return (
    <section className="panel" aria-labelledby="people-heading">
      <h2 id="people-heading">Company and contacts</h2>
      <dl className="kv">
        <dt>Company</dt>
        <dd>{deal.company ? <Link to={`/companies/${deal.company.id}`}>{deal.company.name}</Link> : <span className="muted">None</span>}</dd>
        <dt>Primary contact</dt>
        <dd>{deal.primaryContact ? <Link to={`/contacts/${deal.primaryContact.id}`}>{deal.primaryContact.name}</Link> : <span className="muted">None</span>}</dd>
        <dt>Contacts</dt>
        <dd>
          {deal.contacts.length ? (
            deal.contacts.map((c, i) => (
              <span key={c.id}>
                {i > 0 && ", "}
                <Link to={`/contacts/${c.id}`}>{c.name}</Link>
              </span>
            ))
          ) : (
            <span className="muted">None</span>
          )}
        </dd>
      </dl>
      {canEdit && (
        <div className="inline-form">
          <button type="button" onClick={() => setPicking(picking === "company" ? null : "company")}>
            {deal.company ? "Change company" : "Set company"}
          </button>
          <button type="button" onClick={() => setPicking(picking === "contact" ? null : "contact")}>
            {deal.primaryContact ? "Change primary contact" : "Set primary contact"}
          </button>
        </div>
      )}
      {picking === "company" && (
        <CompanyPicker onPick={(c) => update({ id: deal.id, input: { companyId: c.id } }).then(() => setPicking(null), () => undefined)} />
      )}
      {picking === "contact" && (
        <ContactPicker
          companyId={deal.company?.id}
          onPick={(c) => update({ id: deal.id, input: { primaryContactId: c.id } }).then(() => setPicking(null), () => undefined)}
        />
      )}
      <FieldError message={state.error?.message} />
    </section>
  );
}

function OwnerChanges({ deal }: { deal: Deal }) {
  return (
    <section className="panel" aria-labelledby="owners-heading">
      <h2 id="owners-heading">Owner</h2>
      <p>
        <strong>{personName(deal.ownerId)}</strong>
      </p>
      {deal.ownerChanges.length > 0 ? (
        <ol className="timeline">
          {deal.ownerChanges.map((change, index) => (
            <li key={index}>
              {personName(change.fromOwnerId)} → {personName(change.toOwnerId)}
              <div className="muted">
                {dateTime(change.at)}
                {change.by && <> · by {personName(change.by)}</>}
                {change.note && <> · {change.note}</>}
              </div>
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted">No owner changes.</p>
      )}
    </section>
  );
}

export default function DealScreen({ id }: { id: string }) {
  const session = useSession();
  const canEdit = hasRole(session, "admin", "manager", "rep");
  const state = useQuery(DEAL_PAGE, { id }, { topics: ["deals", "tasks", "contacts"] });
  return (
    <div className="page">
      <QueryView state={state} what="the deal">
        {(data) => {
          const deal = data.deal;
          if (!deal) return <ErrorNotice error="This deal does not exist (or was deleted)." />;
          const timelineOwner = deal.company
            ? { kind: "company" as const, id: deal.company.id, page: deal.company.interactions }
            : deal.primaryContact
              ? { kind: "contact" as const, id: deal.primaryContact.id, page: deal.primaryContact.interactions }
              : null;
          const openTasks = deal.tasks.filter((t) => t.status === "OPEN" || t.status === "IN_PROGRESS");
          const doneTasks = deal.tasks.filter((t) => !(t.status === "OPEN" || t.status === "IN_PROGRESS"));
          return (
            <>
              <div className="page-header">
                <div>
                  <p className="muted">
                    <Link to={`/board?pipeline=${encodeURIComponent(deal.pipeline?.id ?? "")}`}>{deal.pipeline?.name ?? "Pipeline"}</Link> ·{" "}
                    {deal.stage.name}
                  </p>
                  <h1 data-testid="deal-title">{deal.title}</h1>
                </div>
                <div>
                  <span className="amount big">{money(deal.amount, deal.currency)}</span>{" "}
                  <span className="muted">weighted {money(deal.weightedAmount, deal.currency)}</span>{" "}
                  <span className={`badge ${deal.status === "WON" ? "ok" : deal.status === "LOST" ? "danger" : "info"}`}>{deal.status.toLowerCase()}</span>
                  {deal.stale && <span className="badge warn">Stale</span>}
                </div>
              </div>
              <div className="grid-2">
                <div>
                  <StageControls deal={deal} canEdit={canEdit} />
                  <section className="panel" aria-labelledby="fields-heading">
                    <h2 id="fields-heading">Details</h2>
                    <DealFields key={deal.id} deal={deal} canEdit={canEdit} />
                  </section>
                  <section className="panel" aria-labelledby="tasks-heading">
                    <h2 id="tasks-heading">Tasks</h2>
                    <TaskTable tasks={openTasks} showDeal={false} canEdit={canEdit} empty="No open tasks on this deal." />
                    {doneTasks.length > 0 && (
                      <details>
                        <summary>{doneTasks.length} done or cancelled</summary>
                        <TaskTable tasks={doneTasks} showDeal={false} canEdit={false} empty="" />
                      </details>
                    )}
                    {canEdit && <AddTaskForm draftKey={`deal:${deal.id}`} link={{ dealId: deal.id }} />}
                  </section>
                  <section className="panel" aria-labelledby="timeline-heading">
                    <h2 id="timeline-heading">
                      Timeline {timelineOwner && <span className="muted">({timelineOwner.kind === "company" ? deal.company?.name : deal.primaryContact?.name})</span>}
                    </h2>
                    {canEdit && (deal.company || deal.primaryContact) && (
                      <LogInteractionForm
                        draftKey={`deal:${deal.id}`}
                        target={{ contactId: deal.primaryContact?.id, companyId: deal.company?.id, dealId: deal.id }}
                      />
                    )}
                    {timelineOwner ? (
                      <Timeline key={`${timelineOwner.id}:${timelineOwner.page.totalCount}`} owner={timelineOwner} first={timelineOwner.page} />
                    ) : (
                      <p className="muted">Set a company or a primary contact to see and log interactions.</p>
                    )}
                  </section>
                </div>
                <div>
                  <WinProbability deal={deal} />
                  <People deal={deal} canEdit={canEdit} />
                  <StageHistory deal={deal} />
                  <OwnerChanges deal={deal} />
                </div>
              </div>
            </>
          );
        }}
      </QueryView>
    </div>
  );
}
