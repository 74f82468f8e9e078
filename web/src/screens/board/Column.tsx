// One stage of the board: its totals, its cards, and the next page when scrolled to the end.

import { useEffect, useRef } from "react";
import type { BoardCardFragment } from "../../gql/graphql";
import { money } from "../../format";
import { DealCard } from "./DealCard";

export type ColumnModel = {
  key: string;
  name: string;
  probability: number;
  count: number;
  totalAmount: string | null;
  weightedAmount: string | null;
  deals: BoardCardFragment[];
  hasNext: boolean;
  loadingMore: boolean;
  loadError: string | null;
};

export function Column({
  column,
  currency,
  pickedId,
  isDropTarget,
  onLoadMore,
  onCardKeyDown,
  onCardDragStart,
  onDragOver,
  onDrop,
}: {
  column: ColumnModel;
  currency: string;
  pickedId: string | null;
  isDropTarget: boolean;
  onLoadMore: () => void;
  onCardKeyDown: (deal: BoardCardFragment, event: React.KeyboardEvent<HTMLElement>) => void;
  onCardDragStart: (deal: BoardCardFragment, event: React.DragEvent<HTMLElement>) => void;
  onDragOver: (event: React.DragEvent<HTMLElement>) => void;
  onDrop: (event: React.DragEvent<HTMLElement>) => void;
}) {
  const sentinel = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const { hasNext, loadingMore } = column;

  // Pages come as the column scrolls: the sentinel after the last card asks for the next one.
  useEffect(() => {
    const target = sentinel.current;
    if (!target || !hasNext || loadingMore) return;
    const observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && onLoadMore(),
      { root: list.current, rootMargin: "200px" },
    );
    observer.observe(target);
    return () => observer.disconnect();
  }, [hasNext, loadingMore, onLoadMore]);

  const headingId = `column-${column.key}`;
  return (
    <section
      className={`column${isDropTarget ? " drop-target" : ""}`}
      data-testid="board-column"
      data-stage={column.key}
      aria-labelledby={headingId}
      onDragOver={onDragOver}
      onDrop={onDrop}
    >
      <header className="column-header">
        <h2 id={headingId}>
          {column.name} <span className="count" data-testid="column-count">{column.count}</span>
        </h2>
        <div className="column-totals">
          <span title="Total amount">{money(column.totalAmount, currency, true)}</span>
          <span className="muted" title={`Weighted (${column.probability}% stage probability)`}>
            {money(column.weightedAmount, currency, true)} weighted
          </span>
        </div>
      </header>
      <div className="column-cards" ref={list}>
        {column.deals.length === 0 && <p className="muted empty-column">No deals</p>}
        {column.deals.map((deal) => (
          <DealCard
            key={deal.id}
            deal={deal}
            stageKey={column.key}
            picked={pickedId === deal.id}
            onKeyDown={(event) => onCardKeyDown(deal, event)}
            onDragStart={(event) => onCardDragStart(deal, event)}
          />
        ))}
        {column.loadError && (
          <p className="field-error" role="alert">
            {column.loadError}
          </p>
        )}
        {hasNext && (
          <div ref={sentinel} className="column-more">
            <button type="button" className="link" onClick={onLoadMore} disabled={loadingMore}>
              {loadingMore ? "Loading…" : `Show more (${column.count - column.deals.length} left)`}
            </button>
          </div>
        )}
      </div>
    </section>
  );
}
