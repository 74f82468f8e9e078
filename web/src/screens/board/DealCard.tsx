// One deal on the board: title, company, amount, owner, time in stage (stale badge), open
// tasks. Draggable with the mouse; with the keyboard, Space picks it up (see BoardScreen).

import type { BoardCardFragment } from "../../gql/graphql";
import { daysSince, money } from "../../format";
import { initials, personName } from "../../people";
import { Link } from "../../router";

export function DealCard({
  deal,
  stageKey,
  picked,
  onKeyDown,
  onDragStart,
}: {
  deal: BoardCardFragment;
  stageKey: string;
  picked: boolean;
  onKeyDown: (event: React.KeyboardEvent<HTMLElement>) => void;
  onDragStart: (event: React.DragEvent<HTMLElement>) => void;
}) {
  const age = daysSince(deal.stageEnteredAt ?? deal.createdAt);
  const openTasks = deal.tasks.length;
  return (
    <article
      className={`card${picked ? " picked" : ""}${deal.stale ? " stale" : ""}`}
      data-testid="deal-card"
      data-deal-id={deal.id}
      data-stage={stageKey}
      draggable
      tabIndex={0}
      aria-roledescription="Draggable deal"
      aria-describedby="board-keyboard-help"
      aria-pressed={picked}
      aria-label={`${deal.title}, ${money(deal.amount, deal.currency)}`}
      onKeyDown={onKeyDown}
      onDragStart={onDragStart}
    >
      <Link to={`/deals/${deal.id}`} className="card-title" draggable={false} tabIndex={-1}>
        {deal.title}
      </Link>
      <div className="card-company">{deal.company?.name ?? <span className="muted">No company</span>}</div>
      <div className="card-meta">
        <span className="amount">{money(deal.amount, deal.currency)}</span>
        <span className="owner" title={personName(deal.ownerId)}>
          <span className="avatar small" aria-hidden="true">
            {initials(deal.ownerId)}
          </span>
          <span className="sr-only">Owner {personName(deal.ownerId)}</span>
        </span>
      </div>
      <div className="card-badges">
        {age !== null && <span className="badge">{age} d in stage</span>}
        {deal.stale && <span className="badge warn">Stale</span>}
        {openTasks > 0 && (
          <span className="badge info" title="Open tasks">
            {openTasks} open task{openTasks === 1 ? "" : "s"}
          </span>
        )}
      </div>
    </article>
  );
}
