import { graphql } from "../../gql";

export const PIPELINES = graphql(`
  query SettingsPipelines {
    pipelines {
      id
      name
      version
      currency
      isDefault
      updatedAt
      updatedBy
      stages {
        key
        name
        probability
        forecastCategory
        rottingDays
        terminal
        description
        exitCriteria {
          requiredFields
          playbookKeys
          primaryContactRequired
        }
        playbook {
          key
          title
          type
          dueOffsetDays
          description
          assignee {
            rule
            teamId
            userId
          }
        }
      }
    }
  }
`);

export const UPDATE_PIPELINE = graphql(`
  mutation UpdatePipeline($id: ID!, $input: UpdatePipelineInput!) {
    updatePipeline(id: $id, input: $input) {
      id
      version
    }
  }
`);

export const CREATE_PIPELINE = graphql(`
  mutation CreatePipeline($input: CreatePipelineInput!) {
    createPipeline(input: $input) {
      id
    }
  }
`);

export const TEAMS = graphql(`
  query SettingsTeams {
    teams {
      id
      name
      memberIds
      managerId
      strategy
    }
  }
`);

export const CREATE_TEAM = graphql(`
  mutation CreateTeam($input: CreateTeamInput!) {
    createTeam(input: $input) {
      id
    }
  }
`);

export const UPDATE_TEAM = graphql(`
  mutation UpdateTeam($id: ID!, $input: UpdateTeamInput!) {
    updateTeam(id: $id, input: $input) {
      id
    }
  }
`);
