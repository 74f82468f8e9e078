// "Export" on a list: writes what the list shows (its current filter) to a CSV or XLSX file
// in the background, shows the progress live (the exportJobChanged subscription, with a
// poll as a safety net) and, when the file is ready, a button that downloads it.

import { useEffect, useState } from "react";
import { run } from "../../api/client";
import { ApiError } from "../../api/errors";
import { LiveClient, liveUrl } from "../../api/subscriptions";
import { getSession } from "../../auth/session";
import type { ExportFormat, ExportJobQuery, ImportRecordType } from "../../gql/graphql";
import { ErrorNotice } from "../states";
import { downloadExport } from "./download";
import { CREATE_EXPORT, EXPORT_CHANGED, EXPORT_JOB } from "./queries";

type Job = ExportJobQuery["exportJob"];
const POLL_MS = 2000;

/** Re-reads the export on each of its events, and every POLL_MS, until it ends. */
function useFollow(id: string | null, onJob: (job: Job) => void, onError: (error: ApiError) => void) {
  useEffect(() => {
    if (!id) return;
    let ended = false;
    const refresh = async () => {
      try {
        const { exportJob } = await run(EXPORT_JOB, { id });
        if (ended) return;
        onJob(exportJob);
        if (exportJob.status !== "QUEUED" && exportJob.status !== "RUNNING") stop();
      } catch (error) {
        if (!ended && error instanceof ApiError) onError(error);
      }
    };
    const token = getSession()?.token;
    const client = token ? new LiveClient({ url: liveUrl(window.location), token: () => token }) : null;
    const end = client?.subscribe(EXPORT_CHANGED.toString(), { id }, () => void refresh());
    const timer = setInterval(() => void refresh(), POLL_MS);
    function stop() {
      ended = true;
      clearInterval(timer);
      end?.();
      client?.close();
    }
    void refresh();
    return stop;
  }, [id]);
}

/** The list's filter without its unset keys (what the list query receives as null). */
export function setKeys(filter: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value != null && value !== ""));
}

export function progressText(job: Pick<Job, "status" | "rowsWritten" | "total">): string {
  if (job.status === "QUEUED") return "Export queued…";
  const of = job.total != null ? ` of ${job.total}` : "";
  return `Exporting… ${job.rowsWritten}${of} rows`;
}

export function ExportButton({
  recordType,
  filter,
  label = "Export",
}: {
  recordType: ImportRecordType;
  filter: Record<string, unknown>;
  label?: string;
}) {
  const [format, setFormat] = useState<ExportFormat>("CSV");
  const [jobId, setJobId] = useState<string | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  useFollow(jobId, setJob, setError);
  const start = async () => {
    setBusy(true);
    setError(null);
    setJob(null);
    try {
      const { createExport } = await run(CREATE_EXPORT, { recordType, format, filter: setKeys(filter) });
      setJobId(createExport.id);
    } catch (caught) {
      if (caught instanceof ApiError) setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const save = async (done: Job) => {
    setError(null);
    try {
      await downloadExport(done.downloadUrl!, done.fileName ?? `${recordType.toLowerCase()}.${format.toLowerCase()}`);
    } catch (caught) {
      if (caught instanceof ApiError) setError(caught);
    }
  };
  const running = job != null && (job.status === "QUEUED" || job.status === "RUNNING");
  return (
    <span className="export" data-testid="export">
      <select aria-label="Export format" value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)} disabled={busy || running}>
        <option value="CSV">CSV</option>
        <option value="XLSX">Excel (XLSX)</option>
      </select>
      <button type="button" onClick={() => void start()} disabled={busy || running} data-testid="export-start">
        {label}
      </button>
      <span role="status" aria-live="polite" className="muted">
        {job && running && progressText(job)}
        {job?.status === "FAILED" && `Export failed: ${job.error ?? "unknown reason"}`}
        {job?.status === "CANCELLED" && "Export cancelled."}
      </span>
      {job?.status === "COMPLETED" && job.downloadUrl && (
        <button type="button" className="primary" onClick={() => void save(job)} data-testid="export-download">
          Download {job.fileName} ({job.rowsWritten} {job.rowsWritten === 1 ? "row" : "rows"})
        </button>
      )}
      {error && <ErrorNotice error={error} />}
    </span>
  );
}
