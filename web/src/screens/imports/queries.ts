import { graphql } from "../../gql";

export const IMPORT_JOBS = graphql(`
  query ImportJobs {
    importJobs(first: 20) {
      edges {
        node {
          id
          fileName
          recordType
          status
          dryRun
          createdBy
          createdAt
          progress {
            rowsRead
            created
            failed
            fraction
          }
        }
      }
    }
  }
`);

export const IMPORT_JOB = graphql(`
  query ImportJob($id: ID!, $after: String) {
    importJob(id: $id) {
      id
      fileName
      fileSize
      recordType
      status
      dryRun
      error
      mapping
      onExisting
      defaultCurrency
      cancelRequested
      removed
      targetFields {
        name
        type
        description
        required
        identity
      }
      preview {
        format
        encoding
        delimiter
        sheet
        header
        rows {
          row
          values
        }
        columns {
          name
          type
          dateFormats
          ambiguousDates
          examples
        }
        sampledRows
        moreRows
        suggestedMapping
        unmappedColumns
        notes
        issues {
          row
          code
          severity
          message
        }
      }
      progress {
        rowsRead
        created
        updated
        unchanged
        skipped
        failed
        warnings
        fraction
      }
      dryRunResult {
        rowsRead
        created
        updated
        unchanged
        skipped
        failed
        warnings
        fraction
      }
      issues(first: 50, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            row
            column
            field
            value
            code
            severity
            message
          }
        }
      }
      duplicates {
        wholeRows {
          total
          groups {
            rows
          }
        }
        byKey {
          key
          duplicates {
            total
            groups {
              rows
              value
            }
          }
        }
      }
    }
  }
`);

export const IMPORT_CHANGED = graphql(`
  subscription ImportJobChanged($id: ID!) {
    importJobChanged(id: $id) {
      id
      status
    }
  }
`);

export const IMPORT_TEMPLATES = graphql(`
  query ImportTemplates($recordType: ImportRecordType) {
    importTemplates(recordType: $recordType) {
      id
      name
      mapping
    }
  }
`);

export const SET_MAPPING = graphql(`
  mutation SetImportMapping($id: ID!, $mapping: JSON!, $onExisting: ImportOnExisting!, $currency: String) {
    setImportMapping(jobId: $id, mapping: $mapping, onExisting: $onExisting, defaultCurrency: $currency) {
      id
      status
    }
  }
`);

export const START_IMPORT = graphql(`
  mutation StartImport($id: ID!, $dryRun: Boolean!) {
    startImport(jobId: $id, dryRun: $dryRun) {
      id
      status
    }
  }
`);

export const CANCEL_IMPORT = graphql(`
  mutation CancelImport($id: ID!) {
    cancelImport(jobId: $id) {
      id
      status
    }
  }
`);

export const UNDO_IMPORT = graphql(`
  mutation UndoImport($id: ID!) {
    undoImport(jobId: $id) {
      id
      status
      removed
    }
  }
`);

export const SAVE_TEMPLATE = graphql(`
  mutation SaveImportTemplate($name: String!, $recordType: ImportRecordType!, $mapping: JSON!) {
    saveImportTemplate(name: $name, recordType: $recordType, mapping: $mapping) {
      id
      name
    }
  }
`);

/** The create mutation, sent by the GraphQL multipart request spec (upload.ts). */
export const CREATE_IMPORT = `mutation CreateImport($file: Upload!, $recordType: ImportRecordType!) {
  createImport(file: $file, recordType: $recordType) { id status }
}`;
