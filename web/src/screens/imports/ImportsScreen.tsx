// Imports (admins and managers): upload a file for a record type, then follow each import
// on its own page (/imports/:id); the workspace's recent imports below.

import { useState } from "react";
import { useQuery } from "../../api/hooks";
import { ApiError, messageOf } from "../../api/errors";
import { label } from "../../format";
import type { ImportRecordType } from "../../gql/graphql";
import { Link, navigate } from "../../router";
import { SelectField } from "../../ui/Field";
import { Empty, ErrorNotice, QueryView } from "../../ui/states";
import { IMPORT_JOBS } from "./queries";
import { uploadImport } from "./upload";

export const RECORD_TYPES: ImportRecordType[] = ["COMPANIES", "CONTACTS", "DEALS", "INTERACTIONS", "TASKS"];

function UploadForm() {
  const [recordType, setRecordType] = useState<ImportRecordType>("COMPANIES");
  const [file, setFile] = useState<File | null>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setPending(true);
    setError(null);
    try {
      navigate(`/imports/${await uploadImport(file, recordType)}`);
    } catch (failed) {
      setError(failed instanceof ApiError ? failed.message : messageOf(failed));
    } finally {
      setPending(false);
    }
  };
  return (
    <form className="panel" aria-label="New import" onSubmit={(e) => void submit(e)}>
      <h2>New import</h2>
      <p className="muted">
        CSV (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe) or XLSX, up to 100 MB. You will see how
        the file was read and a suggested mapping before anything is written.
      </p>
      <div className="form-grid">
        <SelectField label="Records" value={recordType} onChange={(e) => setRecordType(e.target.value as ImportRecordType)}>
          {RECORD_TYPES.map((t) => (
            <option key={t} value={t}>
              {label(t)}
            </option>
          ))}
        </SelectField>
        <div className="field">
          <label htmlFor="import-file">File</label>
          <input
            id="import-file"
            type="file"
            data-testid="import-file"
            accept=".csv,.tsv,.txt,.xlsx,text/csv"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </div>
      </div>
      {error && <ErrorNotice error={error} />}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={!file || pending} data-testid="import-upload">
          {pending ? "Uploading…" : "Upload and preview"}
        </button>
      </div>
    </form>
  );
}

export default function ImportsScreen() {
  const state = useQuery(IMPORT_JOBS, {}, { topics: ["imports"] });
  return (
    <div className="page">
      <h1>Import</h1>
      <UploadForm />
      <h2>Recent imports</h2>
      <QueryView state={state} what="imports">
        {(data) =>
          data.importJobs.edges.length === 0 ? (
            <Empty>No imports yet.</Empty>
          ) : (
            <table className="table" data-testid="import-jobs">
              <thead>
                <tr>
                  <th>File</th>
                  <th>Records</th>
                  <th>Status</th>
                  <th>Rows</th>
                  <th>Created</th>
                  <th>Failed</th>
                </tr>
              </thead>
              <tbody>
                {data.importJobs.edges.map(({ node }) => (
                  <tr key={node.id}>
                    <td>
                      <Link to={`/imports/${node.id}`}>{node.fileName}</Link>
                    </td>
                    <td>{label(node.recordType)}</td>
                    <td>
                      {label(node.status)}
                      {node.dryRun ? " (dry run)" : ""}
                    </td>
                    <td>{node.progress.rowsRead}</td>
                    <td>{node.progress.created}</td>
                    <td>{node.progress.failed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryView>
    </div>
  );
}
