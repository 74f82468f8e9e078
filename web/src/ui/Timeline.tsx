// An interaction timeline (newest first, paged) and the form to log an interaction. Used
// by the contact, company and deal pages.

import { useState } from "react";
import { run } from "../api/client";
import { useMutation } from "../api/hooks";
import { SignedOut } from "../api/errors";
import { useDraft } from "../drafts";
import { dateTime, label } from "../format";
import { graphql } from "../gql";
import type { InteractionItemFragment, InteractionKind } from "../gql/graphql";
import { personName } from "../people";
import { SelectField, TextArea, TextField } from "./Field";
import { Empty, ErrorNotice } from "./states";

export const INTERACTION_ITEM = graphql(`
  fragment InteractionItem on Interaction {
    id
    kind
    occurredAt
    direction
    subject
    summary
    loggedBy
    durationSeconds
    dealId
    contacts {
      id
      name
    }
  }
`);

const CONTACT_TIMELINE_PAGE = graphql(`
  query ContactTimelinePage($id: ID!, $after: String) {
    contact(id: $id) {
      id
      interactions(first: 10, after: $after) {
        edges {
          node {
            ...InteractionItem
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

const COMPANY_TIMELINE_PAGE = graphql(`
  query CompanyTimelinePage($id: ID!, $after: String) {
    company(id: $id) {
      id
      interactions(first: 10, after: $after) {
        edges {
          node {
            ...InteractionItem
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

const LOG_INTERACTION = graphql(`
  mutation LogInteraction($input: LogInteractionInput!) {
    logInteraction(input: $input) {
      id
    }
  }
`);

export type TimelinePage = {
  edges: { node: InteractionItemFragment }[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  totalCount?: number;
};

export function Timeline({ owner, first }: { owner: { kind: "contact" | "company"; id: string }; first: TimelinePage }) {
  const [more, setMore] = useState<{ items: InteractionItemFragment[]; after: string | null; hasNext: boolean } | null>(
    null,
  );
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const items = [...first.edges.map((e) => e.node), ...(more?.items ?? [])];
  const hasNext = more ? more.hasNext : first.pageInfo.hasNextPage;
  const loadMore = async () => {
    setLoading(true);
    setError(null);
    try {
      const after = more ? more.after : (first.pageInfo.endCursor ?? null);
      const page =
        owner.kind === "contact"
          ? (await run(CONTACT_TIMELINE_PAGE, { id: owner.id, after })).contact?.interactions
          : (await run(COMPANY_TIMELINE_PAGE, { id: owner.id, after })).company?.interactions;
      if (!page) return;
      setMore({
        items: [...(more?.items ?? []), ...page.edges.map((e) => e.node)],
        after: page.pageInfo.endCursor ?? null,
        hasNext: page.pageInfo.hasNextPage,
      });
    } catch (e) {
      if (!(e instanceof SignedOut)) setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };
  if (!items.length) return <Empty>No interactions yet. Log the first one.</Empty>;
  return (
    <>
      <ol className="timeline" data-testid="timeline">
        {items.map((item) => (
          <li key={item.id} data-testid="timeline-item">
            <div>
              <strong>{label(item.kind)}</strong>
              {item.direction && <span className="muted"> · {label(item.direction)}</span>}
              {item.subject && <> — {item.subject}</>}
            </div>
            {item.summary && <div>{item.summary}</div>}
            <div className="muted">
              {dateTime(item.occurredAt)}
              {item.contacts.length > 0 && <> · with {item.contacts.map((c) => c.name).join(", ")}</>}
              {item.loggedBy && <> · logged by {personName(item.loggedBy)}</>}
            </div>
          </li>
        ))}
      </ol>
      {error && <ErrorNotice error={error} />}
      {hasNext && (
        <button type="button" onClick={() => void loadMore()} disabled={loading}>
          {loading ? "Loading…" : "Older interactions"}
        </button>
      )}
    </>
  );
}

const KINDS: InteractionKind[] = ["CALL", "EMAIL", "MEETING", "NOTE", "WEB_VISIT"];

function nowLocal(): string {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function LogInteractionForm({
  draftKey,
  target,
}: {
  draftKey: string;
  target: { contactId?: string | null; companyId?: string | null; dealId?: string | null };
}) {
  const initial = { kind: "CALL" as InteractionKind, subject: "", summary: "", occurredAt: "", direction: "" };
  const [form, setForm, clearDraft] = useDraft(`log:${draftKey}`, initial);
  const [log, state] = useMutation(LOG_INTERACTION, ["contacts", "deals"]);
  const [saved, setSaved] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(false);
    try {
      await log({
        input: {
          kind: form.kind,
          subject: form.subject || null,
          summary: form.summary || null,
          occurredAt: form.occurredAt ? new Date(form.occurredAt).toISOString() : null,
          direction: form.direction ? (form.direction as "INBOUND" | "OUTBOUND") : null,
          contactId: target.contactId ?? null,
          companyId: target.contactId ? null : (target.companyId ?? null),
          dealId: target.dealId ?? null,
        },
      });
      clearDraft();
      setForm(initial);
      clearDraft();
      setSaved(true);
    } catch {
      /* shown from state.error */
    }
  };
  const err = state.error;
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Log an interaction" data-testid="log-interaction">
      <div className="form-grid">
        <SelectField label="Kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value as InteractionKind })} error={err?.forField("input.kind")}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {label(k)}
            </option>
          ))}
        </SelectField>
        <SelectField label="Direction" value={form.direction} onChange={(e) => setForm({ ...form, direction: e.target.value })} error={err?.forField("input.direction")}>
          <option value="">—</option>
          <option value="INBOUND">Inbound</option>
          <option value="OUTBOUND">Outbound</option>
        </SelectField>
        <TextField
          label="When"
          type="datetime-local"
          value={form.occurredAt}
          max={nowLocal()}
          onChange={(e) => setForm({ ...form, occurredAt: e.target.value })}
          error={err?.forField("input.occurredAt")}
          hint="Empty: now"
        />
      </div>
      <TextField label="Subject" value={form.subject} maxLength={300} onChange={(e) => setForm({ ...form, subject: e.target.value })} error={err?.forField("input.subject")} />
      <TextArea label="Summary" value={form.summary} maxLength={5000} onChange={(e) => setForm({ ...form, summary: e.target.value })} error={err?.forField("input.summary")} />
      {err?.general("input.kind", "input.direction", "input.occurredAt", "input.subject", "input.summary") && (
        <ErrorNotice error={err.general("input.kind", "input.direction", "input.occurredAt", "input.subject", "input.summary")!} />
      )}
      <div className="form-actions">
        {saved && <span role="status" className="muted">Logged.</span>}
        <button type="submit" className="primary" disabled={state.pending}>
          Log interaction
        </button>
      </div>
    </form>
  );
}
