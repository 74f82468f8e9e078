import { graphql } from "../../gql";

export const DEAL_PAGE = graphql(`
  query DealPage($id: ID!) {
    deal(id: $id) {
      id
      title
      amount
      currency
      weightedAmount
      status
      probability
      stageProbability
      probabilityOverride
      modelProbability
      forecastCategory
      expectedCloseDate
      closeDate
      nextStep
      nextStepDate
      source
      product
      lostReason
      closedAt
      ownerId
      createdAt
      updatedAt
      stageEnteredAt
      stale
      staleAt
      completedPlaybookKeys
      winExplanation {
        probability
        source
        reason
        modelVersion
        horizonDays
        baseProbability
        factors {
          feature
          label
          value
          logOdds
        }
      }
      pipeline {
        id
        name
        stages {
          key
          name
          probability
          terminal
        }
      }
      stage {
        key
        name
        terminal
        exitCriteria {
          requiredFields
          playbookKeys
          primaryContactRequired
        }
      }
      stageHistory {
        id
        fromStage
        toStage
        at
        by
        secondsInFromStage
        kind
      }
      ownerChanges {
        fromOwnerId
        toOwnerId
        at
        by
        note
      }
      company {
        id
        name
        domain
        interactions(first: 10) {
          totalCount
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
      primaryContact {
        id
        name
        email
        interactions(first: 10) {
          totalCount
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
      contacts {
        id
        name
        email
        title
      }
      tasks {
        ...TaskRow
      }
    }
  }
`);

export const WIN_MODEL = graphql(`
  query DealWinModel($pipelineId: ID) {
    winModel(pipelineId: $pipelineId) {
      version
      status
      trainedAt
      horizonDays
      training {
        closedDeals
      }
    }
  }
`);

export const UPDATE_DEAL = graphql(`
  mutation UpdateDeal($id: ID!, $input: UpdateDealInput!) {
    updateDeal(id: $id, input: $input) {
      id
      updatedAt
    }
  }
`);

export const REOPEN_DEAL = graphql(`
  mutation ReopenDeal($id: ID!, $stageKey: String) {
    reopenDeal(id: $id, stageKey: $stageKey) {
      id
      status
    }
  }
`);
