// The pipeline board: a column per open stage (count, total, weighted), cards paged as a
// column scrolls, filters by pipeline, owner and text. A card moves by drag and drop or by
// keyboard (Space to pick up, arrows to choose, Enter to drop, Escape to cancel); won and
// lost are drop zones too. A move the exit criteria refuse returns the card and lists what
// is missing, each with its fix.

import { useCallback, useEffect, useMemo, useState } from "react";
import { run } from "../../api/client";
import { ApiError, SignedOut } from "../../api/errors";
import { useQuery } from "../../api/hooks";
import { invalidate } from "../../api/live";
import type { BoardCardFragment, BoardQuery } from "../../gql/graphql";
import { money } from "../../format";
import { personName } from "../../people";
import { navigate, setSearch, useLocation } from "../../router";
import { hasRole, useSession } from "../../auth/session";
import { Empty, ErrorNotice, Loading, PartialNotice } from "../../ui/states";
import { CloseDealDialog, type Closing } from "./CloseDialogs";
import { Column, type ColumnModel } from "./Column";
import { MoveBlockedDialog, type Blocked } from "./MoveBlocked";
import { NewDealDialog } from "./NewDeal";
import { BOARD, BOARD_COLUMN_PAGE, BOARD_OPTIONS, MOVE_DEAL } from "./queries";
import { ExportButton } from "../../ui/exports/ExportButton";

// The first page fills the screen (about five cards show per column) and leaves room to
// scroll; later pages are larger.
const FIRST_PAGE = 10;
const PAGE = 20;

type Extra = { deals: BoardCardFragment[]; endCursor: string | null; hasNext: boolean; loading: boolean; error: string | null };
type Pending = { deal: BoardCardFragment; from: string; to: string; settled: boolean };
type Picked = { deal: BoardCardFragment; from: string; target: number };

function Filters({
  pipelineId,
  ownerId,
  text,
  ready,
}: {
  pipelineId: string | null;
  ownerId: string | null;
  text: string;
  ready: boolean;
}) {
  // Asked once the board is shown: the first paint waits for the board's request alone.
  const options = useQuery(BOARD_OPTIONS, { pipelineId }, { topics: ["pipelines", "deals"], skip: !ready });
  const [typed, setTyped] = useState(text);
  useEffect(() => {
    const timer = setTimeout(() => typed !== text && setSearch({ q: typed.trim() || null }), 300);
    return () => clearTimeout(timer);
  }, [typed, text]);
  const owners = [...(options.data?.ownerScorecards ?? [])]
    .filter((o) => o.ownerId)
    .sort((a, b) => personName(a.ownerId).localeCompare(personName(b.ownerId)));
  return (
    <div className="filters" role="search">
      <label>
        Pipeline
        <select
          value={pipelineId ?? options.data?.pipelines.find((p) => p.isDefault)?.id ?? ""}
          onChange={(e) => setSearch({ pipeline: e.target.value || null })}
        >
          {!options.data && <option value="">Default pipeline</option>}
          {(options.data?.pipelines ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
              {p.isDefault ? " (default)" : ""}
            </option>
          ))}
        </select>
      </label>
      <label>
        Owner
        <select value={ownerId ?? ""} onChange={(e) => setSearch({ owner: e.target.value || null })} data-testid="owner-filter">
          <option value="">Everyone</option>
          {ownerId && !owners.some((o) => o.ownerId === ownerId) && <option value={ownerId}>{personName(ownerId)}</option>}
          {owners.map((o) => (
            <option key={o.ownerId} value={o.ownerId!}>
              {personName(o.ownerId)} ({o.openCount})
            </option>
          ))}
        </select>
      </label>
      <label>
        Search
        <input type="search" value={typed} placeholder="Deal title" onChange={(e) => setTyped(e.target.value)} data-testid="board-search" />
      </label>
    </div>
  );
}

export function BoardScreen() {
  const { search } = useLocation();
  const pipelineId = search.get("pipeline");
  const ownerId = search.get("owner");
  const text = search.get("q") ?? "";
  const variables = { pipelineId, ownerId, text: text || null, first: FIRST_PAGE };
  const board = useQuery(BOARD, variables, { topics: ["deals", "tasks", "pipelines"] });

  const [extra, setExtra] = useState<Record<string, Extra>>({});
  const [pending, setPending] = useState<Record<string, Pending>>({});
  const [picked, setPicked] = useState<Picked | null>(null);
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const [blocked, setBlocked] = useState<Blocked | null>(null);
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string | null>(null);
  const [closing, setClosing] = useState<Closing | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [creating, setCreating] = useState(false);
  const canEdit = hasRole(useSession(), "admin", "manager", "rep");

  // A fresh board replaces the pages loaded since and the moves it now shows.
  useEffect(() => {
    setExtra({});
    setPending((prev) => Object.fromEntries(Object.entries(prev).filter(([, p]) => !p.settled)));
  }, [board.data]);

  const data: BoardQuery | null = board.data;
  const columnsByKey = useMemo(
    () => new Map((data?.pipelineBoard.columns ?? []).map((c) => [c.stage.key, c])),
    [data],
  );
  const openColumns = (data?.pipelineBoard.columns ?? []).filter((c) => !c.stage.terminal);
  const terminal = (data?.pipelineBoard.columns ?? []).filter((c) => c.stage.terminal);
  const targets = [...openColumns, ...terminal].map((c) => c.stage);

  const loadMore = useCallback(
    async (stageKey: string) => {
      const column = columnsByKey.get(stageKey);
      if (!column || !data) return;
      const current = extra[stageKey];
      if (current?.loading) return;
      const after = current ? current.endCursor : column.deals.pageInfo.endCursor;
      setExtra((prev) => ({
        ...prev,
        [stageKey]: { ...(prev[stageKey] ?? { deals: [], endCursor: after, hasNext: true }), loading: true, error: null },
      }));
      try {
        const page = await run(BOARD_COLUMN_PAGE, {
          filter: { pipelineId: data.pipelineBoard.pipeline.id, stageKey, ownerId, text: text || null },
          after,
          first: PAGE,
        });
        setExtra((prev) => ({
          ...prev,
          [stageKey]: {
            deals: [...(prev[stageKey]?.deals ?? []), ...page.deals.edges.map((e) => e.node)],
            endCursor: page.deals.pageInfo.endCursor ?? null,
            hasNext: page.deals.pageInfo.hasNextPage,
            loading: false,
            error: null,
          },
        }));
      } catch (error) {
        if (error instanceof SignedOut) return;
        setExtra((prev) => ({
          ...prev,
          [stageKey]: { ...prev[stageKey], loading: false, error: (error as Error).message },
        }));
      }
    },
    [columnsByKey, data, extra, ownerId, text],
  );

  const stageName = (key: string) => columnsByKey.get(key)?.stage.name ?? key;

  const move = useCallback(
    async (deal: BoardCardFragment, from: string, to: string) => {
      if (from === to) return;
      const target = columnsByKey.get(to);
      if (target?.stage.terminal) {
        setClosing({ dealId: deal.id, title: deal.title, outcome: to === "won" ? "won" : "lost" });
        return;
      }
      setNotice(null);
      setPending((prev) => ({ ...prev, [deal.id]: { deal, from, to, settled: false } }));
      try {
        await run(MOVE_DEAL, { id: deal.id, stageKey: to });
        setPending((prev) => (prev[deal.id] ? { ...prev, [deal.id]: { ...prev[deal.id], settled: true } } : prev));
        setAnnouncement(`${deal.title} moved to ${stageName(to)}.`);
        invalidate("deals", "tasks", "analytics");
      } catch (error) {
        setPending((prev) => {
          const next = { ...prev };
          delete next[deal.id];
          return next;
        });
        if (error instanceof SignedOut) return;
        if (error instanceof ApiError && error.unmet.length) {
          setAnnouncement(`${deal.title} cannot move to ${stageName(to)}: exit criteria not met.`);
          setRetryError(null);
          setBlocked({ dealId: deal.id, title: deal.title, toKey: to, toName: stageName(to), unmet: error.unmet });
        } else {
          setNotice(`${deal.title} could not move: ${(error as Error).message}`);
        }
      }
    },
    [columnsByKey],
  );

  const retryBlocked = async () => {
    if (!blocked) return;
    setRetrying(true);
    setRetryError(null);
    try {
      await run(MOVE_DEAL, { id: blocked.dealId, stageKey: blocked.toKey });
      setAnnouncement(`${blocked.title} moved to ${blocked.toName}.`);
      setBlocked(null);
      invalidate("deals", "tasks", "analytics");
    } catch (error) {
      if (error instanceof ApiError && error.unmet.length) {
        setBlocked({ ...blocked, unmet: error.unmet });
        setRetryError("Still not met: " + error.unmet.map((u) => u.detail).join("; "));
      } else if (!(error instanceof SignedOut)) {
        setRetryError((error as Error).message);
      }
    } finally {
      setRetrying(false);
    }
  };

  const onCardKeyDown = (deal: BoardCardFragment, from: string, event: React.KeyboardEvent<HTMLElement>) => {
    if (event.target !== event.currentTarget) return;
    const mine = picked?.deal.id === deal.id;
    if (!mine) {
      if (event.key === " " && canEdit) {
        event.preventDefault();
        const index = targets.findIndex((s) => s.key === from);
        setPicked({ deal, from, target: index });
        setAnnouncement(
          `Picked up ${deal.title} in ${stageName(from)}. Left and right arrows choose a stage, Enter drops, Escape cancels.`,
        );
      } else if (event.key === "Enter") {
        navigate(`/deals/${deal.id}`);
      }
      return;
    }
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      const index = Math.min(targets.length - 1, Math.max(0, picked.target + step));
      setPicked({ ...picked, target: index });
      setAnnouncement(`Over ${targets[index].name}.`);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const to = targets[picked.target].key;
      setPicked(null);
      void move(deal, from, to);
    } else if (event.key === "Escape") {
      event.preventDefault();
      setPicked(null);
      setAnnouncement(`Move of ${deal.title} cancelled.`);
    }
  };

  const onDragStart = (deal: BoardCardFragment, from: string, event: React.DragEvent<HTMLElement>) => {
    if (!canEdit) {
      event.preventDefault(); // viewers look, they do not move
      return;
    }
    event.dataTransfer.setData("application/x-crm-deal", JSON.stringify({ id: deal.id, from }));
    event.dataTransfer.effectAllowed = "move";
  };
  const dragOver = (key: string) => (event: React.DragEvent<HTMLElement>) => {
    if (!event.dataTransfer.types.includes("application/x-crm-deal")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (dropTarget !== key) setDropTarget(key);
  };
  const drop = (key: string) => (event: React.DragEvent<HTMLElement>) => {
    event.preventDefault();
    setDropTarget(null);
    const raw = event.dataTransfer.getData("application/x-crm-deal");
    if (!raw) return;
    const { id, from } = JSON.parse(raw) as { id: string; from: string };
    const deal = findDeal(id);
    if (deal) void move(deal, from, key);
  };

  function columnDeals(key: string): BoardCardFragment[] {
    const column = columnsByKey.get(key);
    const loaded = [...(column?.deals.edges.map((e) => e.node) ?? []), ...(extra[key]?.deals ?? [])];
    const away = new Set(Object.values(pending).filter((p) => p.from === key).map((p) => p.deal.id));
    const arriving = Object.values(pending).filter((p) => p.to === key).map((p) => p.deal);
    const seen = new Set<string>();
    return [...arriving, ...loaded].filter((d) => !away.has(d.id) && !seen.has(d.id) && seen.add(d.id));
  }

  function findDeal(id: string): BoardCardFragment | undefined {
    for (const key of columnsByKey.keys()) {
      const found = columnDeals(key).find((d) => d.id === id);
      if (found) return found;
    }
    return undefined;
  }

  const pickedTarget = picked ? targets[picked.target]?.key : null;
  const currency = data?.pipelineBoard.currency ?? "USD";

  return (
    <div className="board-page">
      <div className="page-header">
        <h1>{data?.pipelineBoard.pipeline.name ?? "Pipeline"}</h1>
        <div className="toolbar">
          <Filters pipelineId={pipelineId} ownerId={ownerId} text={text} ready={!!data} />
          {data && (
            <ExportButton
              recordType="DEALS"
              label="Export deals"
              filter={{ pipelineId: data.pipelineBoard.pipeline.id, ownerId, text }}
            />
          )}
          {canEdit && data && (
            <button type="button" className="primary" onClick={() => setCreating(true)}>
              New deal
            </button>
          )}
        </div>
      </div>
      <p id="board-keyboard-help" className="sr-only">
        Press Space to pick up a deal, the left and right arrows to choose a stage, Enter to drop it there, Escape to
        cancel. Enter on a deal opens it.
      </p>
      <div className="sr-only" aria-live="assertive" data-testid="board-announcement">
        {announcement}
      </div>
      {notice && <ErrorNotice error={notice} />}
      {board.error && !data && <ErrorNotice error={board.error} retry={board.refetch} />}
      {!data && !board.error && <Loading what="Loading the pipeline" />}
      {data && (
        <>
          <PartialNotice errors={board.partial} />
          {openColumns.every((c) => c.count === 0) && (
            <Empty>
              {ownerId || text
                ? "No open deals match these filters."
                : "No open deals in this pipeline yet: create one, or import deals with `crm import deals`."}
            </Empty>
          )}
          <div className="board" aria-busy={board.loading}>
            {openColumns.map((c) => {
              const model: ColumnModel = {
                key: c.stage.key,
                name: c.stage.name,
                probability: c.stage.probability,
                count: c.count,
                totalAmount: c.totalAmount,
                weightedAmount: c.weightedAmount,
                deals: columnDeals(c.stage.key),
                hasNext: extra[c.stage.key] ? extra[c.stage.key].hasNext : c.deals.pageInfo.hasNextPage,
                loadingMore: !!extra[c.stage.key]?.loading,
                loadError: extra[c.stage.key]?.error ?? null,
              };
              return (
                <Column
                  key={c.stage.key}
                  column={model}
                  currency={currency}
                  pickedId={picked?.deal.id ?? null}
                  isDropTarget={dropTarget === c.stage.key || pickedTarget === c.stage.key}
                  onLoadMore={() => void loadMore(c.stage.key)}
                  onCardKeyDown={(deal, event) => onCardKeyDown(deal, c.stage.key, event)}
                  onCardDragStart={(deal, event) => onDragStart(deal, c.stage.key, event)}
                  onDragOver={dragOver(c.stage.key)}
                  onDrop={drop(c.stage.key)}
                />
              );
            })}
          </div>
          <div className="close-zones">
            {terminal.map((c) => (
              <div
                key={c.stage.key}
                className={`close-zone ${c.stage.key}${dropTarget === c.stage.key || pickedTarget === c.stage.key ? " drop-target" : ""}`}
                data-testid={`drop-${c.stage.key}`}
                onDragOver={dragOver(c.stage.key)}
                onDragLeave={() => setDropTarget(null)}
                onDrop={drop(c.stage.key)}
              >
                <strong>{c.stage.name}</strong> · {c.count} deal{c.count === 1 ? "" : "s"} · {money(c.totalAmount, currency, true)}
                <span className="muted"> — drop a deal here to mark it {c.stage.key}</span>
              </div>
            ))}
          </div>
        </>
      )}
      {blocked && (
        <MoveBlockedDialog
          blocked={blocked}
          onClose={() => setBlocked(null)}
          onRetry={() => void retryBlocked()}
          retrying={retrying}
          retryError={retryError}
        />
      )}
      {creating && data && (
        <NewDealDialog
          pipelineId={data.pipelineBoard.pipeline.id}
          stages={openColumns.map((c) => c.stage)}
          onClose={() => setCreating(false)}
        />
      )}
      {closing && (
        <CloseDealDialog
          closing={closing}
          onClose={(closed) => {
            if (closed) setAnnouncement(`${closing.title} marked ${closing.outcome}.`);
            setClosing(null);
          }}
        />
      )}
    </div>
  );
}
