// One import: how the file was read (encoding, delimiter, columns, first rows), the mapping
// (the suggestion to start from, or a saved template; each problem shown where it is), a
// dry run, the run with live progress (the importJobChanged subscription), the rows'
// issues, the duplicates found, cancel and undo.

import { useEffect, useState } from "react";
import { getSession } from "../../auth/session";
import { useMutation, useQuery } from "../../api/hooks";
import { invalidate } from "../../api/live";
import { LiveClient, liveUrl } from "../../api/subscriptions";
import { label } from "../../format";
import type { ImportJobQuery, ImportOnExisting } from "../../gql/graphql";
import { Link } from "../../router";
import { SelectField, TextArea, TextField } from "../../ui/Field";
import { assignColumn, customFieldFor, fieldOfColumn, missingRequired, type Mapping } from "./mapping";
import { ErrorNotice, QueryView } from "../../ui/states";
import {
  CANCEL_IMPORT,
  IMPORT_CHANGED,
  IMPORT_JOB,
  IMPORT_TEMPLATES,
  SAVE_TEMPLATE,
  SET_MAPPING,
  START_IMPORT,
  UNDO_IMPORT,
} from "./queries";

type Job = NonNullable<ImportJobQuery["importJob"]>;
type Progress = Job["progress"];
const ACTIVE = ["QUEUED", "RUNNING"];

/** Re-reads the job on each of its events while it runs (one socket for this page). */
function useLiveJob(id: string, active: boolean) {
  useEffect(() => {
    if (!active) return;
    const token = getSession()?.token;
    if (!token) return;
    const client = new LiveClient({ url: liveUrl(window.location), token: () => token });
    const end = client.subscribe(IMPORT_CHANGED.toString(), { id }, () => invalidate("imports"));
    return () => {
      end();
      client.close();
    };
  }, [id, active]);
}

function Counts({ progress, title }: { progress: Progress; title: string }) {
  const items: [string, number][] = [
    ["Rows read", progress.rowsRead],
    ["Created", progress.created],
    ["Updated", progress.updated],
    ["Unchanged", progress.unchanged],
    ["Skipped", progress.skipped],
    ["Failed", progress.failed],
    ["With warnings", progress.warnings],
  ];
  return (
    <section aria-label={title} data-testid="import-progress">
      <h3>{title}</h3>
      <progress max={1} value={progress.fraction} aria-label={`${Math.round(progress.fraction * 100)} %`} />
      <dl className="facts">
        {items.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd data-testid={`count-${name.toLowerCase().replace(/ /g, "-")}`}>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function Preview({ job }: { job: Job }) {
  const p = job.preview;
  return (
    <section className="panel" aria-label="Preview" data-testid="import-preview">
      <h2>How the file was read</h2>
      <p>
        {p.format.toUpperCase()}
        {p.encoding && <> · encoding {p.encoding}</>}
        {p.delimiter && <> · delimiter {p.delimiter === "\t" ? "tab" : `“${p.delimiter}”`}</>}
        {p.sheet && <> · sheet {p.sheet}</>} · {p.sampledRows}
        {p.moreRows ? "+" : ""} rows sampled
      </p>
      {p.notes.map((note) => (
        <p key={note} className="notice">
          {note}
        </p>
      ))}
      {p.issues.length > 0 && (
        <ul className="issues">
          {p.issues.slice(0, 10).map((i) => (
            <li key={`${i.row}-${i.code}-${i.message}`}>
              Row {i.row}: {i.message}
            </li>
          ))}
        </ul>
      )}
      <div className="table-scroll">
        <table className="table">
          <thead>
            <tr>
              <th>Row</th>
              {p.columns.map((c) => (
                <th key={c.name} title={c.dateFormats.join(", ")}>
                  {c.name}
                  <span className="muted"> · {c.type}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.rows.slice(0, 5).map((r) => (
              <tr key={r.row}>
                <td>{r.row}</td>
                {r.values.map((v, n) => (
                  <td key={n}>{v}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** One row per column of the file: the field it feeds, chosen from the record type's
 * fields (a custom field named after the column, or none). */
function ColumnTable({ job, mapping, onChange }: { job: Job; mapping: Mapping; onChange: (next: Mapping) => void }) {
  const fields = job.targetFields;
  const missing = missingRequired(
    mapping,
    fields.filter((f) => f.required).map((f) => f.name),
  );
  return (
    <>
      <div className="table-scroll">
        <table className="table" data-testid="import-columns">
          <thead>
            <tr>
              <th>Column in the file</th>
              <th>Examples</th>
              <th>Imported as</th>
            </tr>
          </thead>
          <tbody>
            {job.preview.columns.map((column) => {
              const current = fieldOfColumn(mapping, column.name);
              const custom = customFieldFor(column.name);
              const known = fields.some((f) => f.name === current) || current === "" || current === custom;
              return (
                <tr key={column.name}>
                  <td>{column.name}</td>
                  <td className="muted">{column.examples.slice(0, 2).join(" · ")}</td>
                  <td>
                    <select
                      aria-label={`Field for column ${column.name}`}
                      data-testid={`import-column-${column.name}`}
                      value={current}
                      onChange={(e) => onChange(assignColumn(mapping, column.name, e.target.value))}
                    >
                      <option value="">Don’t import</option>
                      {fields.map((f) => (
                        <option key={f.name} value={f.name} title={f.description}>
                          {label(f.name)}
                          {f.required ? " (required)" : ""}
                          {f.identity ? " · identifies the record" : ""}
                        </option>
                      ))}
                      <option value={custom}>Custom field “{custom.slice("custom.".length)}”</option>
                      {!known && <option value={current}>{current}</option>}
                    </select>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {missing.length > 0 && (
        <p className="notice" data-testid="import-missing-required">
          Required and not mapped yet: {missing.map((name) => label(name)).join(", ")}.
        </p>
      )}
    </>
  );
}

function MappingForm({ job }: { job: Job }) {
  const initial = (job.mapping ?? job.preview.suggestedMapping ?? {
    target: job.recordType.toLowerCase(),
    fields: {},
  }) as Mapping;
  const [current, setCurrent] = useState<Mapping>(initial);
  const [text, setText] = useState(JSON.stringify(initial, null, 2));
  const fromTable = (next: Mapping) => {
    setCurrent(next);
    setText(JSON.stringify(next, null, 2));
  };
  const fromText = (next: string) => {
    setText(next);
    try {
      const value: unknown = JSON.parse(next);
      if (value && typeof value === "object" && "fields" in value) setCurrent(value as Mapping);
    } catch {
      /* the table keeps the last valid mapping; submitting says what is wrong */
    }
  };
  const [onExisting, setOnExisting] = useState<ImportOnExisting>(job.onExisting);
  const [currency, setCurrency] = useState(job.defaultCurrency ?? "");
  const [templateName, setTemplateName] = useState("");
  const [parseError, setParseError] = useState<string | null>(null);
  const templates = useQuery(IMPORT_TEMPLATES, { recordType: job.recordType }, { topics: ["imports"] });
  const [setMapping, mapping] = useMutation(SET_MAPPING, ["imports"]);
  const [saveTemplate, saving] = useMutation(SAVE_TEMPLATE, ["imports"]);
  const parsed = (): unknown => {
    try {
      setParseError(null);
      return JSON.parse(text);
    } catch {
      setParseError("The mapping is not valid JSON.");
      return null;
    }
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const value = parsed();
    if (value === null) return;
    try {
      await setMapping({ id: job.id, mapping: value, onExisting, currency: currency.trim() || null });
    } catch {
      /* shown below */
    }
  };
  const save = async () => {
    const value = parsed();
    if (value === null || !templateName.trim()) return;
    try {
      await saveTemplate({ name: templateName, recordType: job.recordType, mapping: value });
    } catch {
      /* shown below */
    }
  };
  const error = mapping.error ?? saving.error;
  return (
    <form className="panel" aria-label="Mapping" onSubmit={(e) => void submit(e)}>
      <h2>Mapping</h2>
      <p className="muted">
        Choose the field each column feeds. In the JSON below a field may also take a constant or a template
        ({"{Column}"}), with value maps, date formats and time zones.
      </p>
      {templates.data && templates.data.importTemplates.length > 0 && (
        <SelectField
          label="Start from a saved template"
          value=""
          onChange={(e) => {
            const found = templates.data?.importTemplates.find((t) => t.id === e.target.value);
            if (found) fromTable(found.mapping as Mapping);
          }}
        >
          <option value="">Choose…</option>
          {templates.data.importTemplates.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </SelectField>
      )}
      <ColumnTable job={job} mapping={current} onChange={fromTable} />
      <TextArea
        label="Mapping (JSON): constants, templates, value maps, date formats"
        data-testid="import-mapping"
        rows={10}
        value={text}
        onChange={(e) => fromText(e.target.value)}
        error={parseError ?? error?.errors.find((e) => e.field?.startsWith("mapping"))?.message}
      />
      {error?.errors.some((e) => e.field?.startsWith("mapping")) && (
        <p className="field-error" data-testid="mapping-error-field">
          {error.errors.find((e) => e.field?.startsWith("mapping"))?.field}
        </p>
      )}
      <div className="form-grid">
        <SelectField
          label="Records that exist already"
          value={onExisting}
          onChange={(e) => setOnExisting(e.target.value as ImportOnExisting)}
        >
          <option value="SKIP">Leave them</option>
          <option value="UPDATE">Update them</option>
        </SelectField>
        <TextField
          label="Default currency"
          value={currency}
          maxLength={3}
          onChange={(e) => setCurrency(e.target.value)}
          error={error?.forField("defaultCurrency")}
        />
        <TextField label="Save as template" value={templateName} onChange={(e) => setTemplateName(e.target.value)} />
      </div>
      {error?.general("defaultCurrency") && !error.errors.some((e) => e.field?.startsWith("mapping")) && (
        <ErrorNotice error={error.general("defaultCurrency")!} />
      )}
      <div className="form-actions">
        <button type="button" onClick={() => void save()} disabled={!templateName.trim() || saving.pending}>
          Save template
        </button>
        <button type="submit" className="primary" disabled={mapping.pending} data-testid="import-set-mapping">
          Use this mapping
        </button>
      </div>
    </form>
  );
}

function Issues({ job }: { job: Job }) {
  const issues = job.issues;
  if (issues.totalCount === 0) return null;
  return (
    <section className="panel" aria-label="Row issues">
      <h2>Row issues ({issues.totalCount})</h2>
      <table className="table" data-testid="import-issues">
        <thead>
          <tr>
            <th>Row</th>
            <th>Column</th>
            <th>Value</th>
            <th>Problem</th>
          </tr>
        </thead>
        <tbody>
          {issues.edges.map(({ node }, n) => (
            <tr key={n} className={node.severity === "error" ? "has-error" : undefined}>
              <td>{node.row}</td>
              <td>{node.column ?? node.field ?? ""}</td>
              <td>{node.value ?? ""}</td>
              <td>
                {node.severity === "warning" ? "Warning: " : ""}
                {node.message}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {issues.pageInfo.hasNextPage && <p className="muted">The first 50 are shown.</p>}
    </section>
  );
}

function Duplicates({ job }: { job: Job }) {
  const d = job.duplicates;
  if (!d) return null;
  const keyed = d.byKey.filter((k) => k.duplicates.total > 0);
  if (d.wholeRows.total === 0 && keyed.length === 0) return null;
  return (
    <section className="panel" aria-label="Duplicates">
      <h2>Duplicates in the file</h2>
      <p>
        Identical rows: {d.wholeRows.total} group(s)
        {d.wholeRows.groups.slice(0, 5).map((g) => ` · rows ${g.rows.join(", ")}`)}
      </p>
      {keyed.map((k) => (
        <p key={k.key}>
          Same {label(k.key)}: {k.duplicates.total} group(s)
          {k.duplicates.groups.slice(0, 5).map((g) => ` · ${g.value}: rows ${g.rows.join(", ")}`)}
        </p>
      ))}
    </section>
  );
}

function Actions({ job }: { job: Job }) {
  const [start, starting] = useMutation(START_IMPORT, ["imports"]);
  const [cancel, cancelling] = useMutation(CANCEL_IMPORT, ["imports"]);
  const [undo, undoing] = useMutation(UNDO_IMPORT, ["imports"]);
  const active = ACTIVE.includes(job.status);
  const imported = !job.dryRun && ["COMPLETED", "FAILED", "CANCELLED"].includes(job.status);
  const startable = ["READY", "COMPLETED", "FAILED", "CANCELLED"].includes(job.status) && !(job.status === "COMPLETED" && !job.dryRun);
  const error = starting.error ?? cancelling.error ?? undoing.error;
  const act = (promise: Promise<unknown>) => void promise.catch(() => undefined);
  return (
    <div className="form-actions">
      {error && <ErrorNotice error={error} />}
      <button type="button" disabled={!startable || starting.pending} onClick={() => act(start({ id: job.id, dryRun: true }))} data-testid="import-dry-run">
        Dry run
      </button>
      <button
        type="button"
        className="primary"
        disabled={!startable || starting.pending}
        onClick={() => act(start({ id: job.id, dryRun: false }))}
        data-testid="import-run"
      >
        Import
      </button>
      {active && (
        <button type="button" disabled={job.cancelRequested || cancelling.pending} onClick={() => act(cancel({ id: job.id }))}>
          Cancel
        </button>
      )}
      {imported && (
        <button
          type="button"
          disabled={undoing.pending}
          onClick={() => {
            if (window.confirm("Remove the records this import created?")) act(undo({ id: job.id }));
          }}
          data-testid="import-undo"
        >
          Undo import
        </button>
      )}
    </div>
  );
}

export default function ImportJobScreen({ id }: { id: string }) {
  const state = useQuery(IMPORT_JOB, { id, after: null }, { topics: ["imports"] });
  const job = state.data?.importJob;
  useLiveJob(id, !!job && ACTIVE.includes(job.status));
  return (
    <div className="page">
      <p>
        <Link to="/imports">← Imports</Link>
      </p>
      <QueryView state={state} what="the import">
        {(data) => {
          const found = data.importJob;
          return (
            <>
              <h1>
                {found.fileName} <span className="muted">· {label(found.recordType)}</span>
              </h1>
              <p data-testid="import-status" data-status={found.status}>
                {label(found.status)}
                {found.dryRun ? " (dry run)" : ""}
                {found.removed ? ` · ${found.removed} records removed` : ""}
              </p>
              {found.error && <ErrorNotice error={found.error} />}
              <Preview job={found} />
              {!ACTIVE.includes(found.status) && found.status !== "UNDONE" && <MappingForm job={found} />}
              <Actions job={found} />
              {found.status !== "DRAFT" && found.status !== "READY" && (
                <Counts progress={found.progress} title={found.dryRun ? "Dry run" : "Import"} />
              )}
              {found.dryRunResult && !found.dryRun && <Counts progress={found.dryRunResult} title="Last dry run" />}
              <Issues job={found} />
              <Duplicates job={found} />
            </>
          );
        }}
      </QueryView>
    </div>
  );
}
