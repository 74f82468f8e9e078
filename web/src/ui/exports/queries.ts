import { graphql } from "../../gql";

export const CREATE_EXPORT = graphql(`
  mutation CreateExport($recordType: ImportRecordType!, $format: ExportFormat!, $filter: JSON) {
    createExport(recordType: $recordType, format: $format, filter: $filter) {
      id
      status
      total
    }
  }
`);

export const EXPORT_JOB = graphql(`
  query ExportJob($id: ID!) {
    exportJob(id: $id) {
      id
      status
      rowsWritten
      total
      error
      fileName
      downloadUrl
    }
  }
`);

export const EXPORT_CHANGED = graphql(`
  subscription ExportJobChanged($id: ID!) {
    exportJobChanged(id: $id) {
      id
      status
    }
  }
`);
