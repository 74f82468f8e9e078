import { graphql } from "../../gql";

export const BOARD_CARD = graphql(`
  fragment BoardCard on Deal {
    id
    title
    amount
    currency
    ownerId
    stale
    stageEnteredAt
    createdAt
    company {
      id
      name
    }
    tasks(status: OPEN) {
      id
    }
  }
`);

export const BOARD = graphql(`
  query Board($pipelineId: ID, $ownerId: String, $text: String, $first: Int) {
    pipelineBoard(pipelineId: $pipelineId, ownerId: $ownerId, text: $text) {
      currency
      pipeline {
        id
        name
      }
      columns {
        stage {
          key
          name
          probability
          terminal
          rottingDays
        }
        count
        totalAmount
        weightedAmount
        deals(first: $first) {
          edges {
            node {
              ...BoardCard
            }
          }
          pageInfo {
            hasNextPage
            endCursor
          }
        }
      }
    }
  }
`);

export const BOARD_COLUMN_PAGE = graphql(`
  query BoardColumnPage($filter: DealFilter!, $after: String, $first: Int) {
    deals(filter: $filter, orderBy: { field: AMOUNT, direction: DESC }, first: $first, after: $after) {
      edges {
        node {
          ...BoardCard
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const BOARD_OPTIONS = graphql(`
  query BoardOptions($pipelineId: ID) {
    pipelines {
      id
      name
      isDefault
    }
    ownerScorecards(pipelineId: $pipelineId) {
      ownerId
      openCount
    }
  }
`);

export const MOVE_DEAL = graphql(`
  mutation MoveDeal($id: ID!, $stageKey: String!) {
    moveDeal(id: $id, stageKey: $stageKey) {
      id
      stage {
        key
      }
    }
  }
`);

export const CLOSE_WON = graphql(`
  mutation CloseDealWon($id: ID!) {
    closeDealWon(id: $id) {
      id
      status
    }
  }
`);

export const CLOSE_LOST = graphql(`
  mutation CloseDealLost($id: ID!, $reason: String) {
    closeDealLost(id: $id, reason: $reason) {
      id
      status
      lostReason
    }
  }
`);

export const DEAL_FIX_CONTEXT = graphql(`
  query DealFixContext($id: ID!) {
    deal(id: $id) {
      id
      title
      amount
      currency
      expectedCloseDate
      nextStep
      nextStepDate
      source
      product
      ownerId
      completedPlaybookKeys
      company {
        id
        name
      }
      primaryContact {
        id
        name
      }
      tasks {
        id
        title
        status
        assigneeId
        sourceDetail {
          templateKey
        }
      }
    }
  }
`);

export const UPDATE_DEAL_FIELDS = graphql(`
  mutation UpdateDealFields($id: ID!, $input: UpdateDealInput!) {
    updateDeal(id: $id, input: $input) {
      id
    }
  }
`);

export const COMPLETE_TASK = graphql(`
  mutation CompleteTask($id: ID!, $outcome: String) {
    completeTask(id: $id, outcome: $outcome) {
      id
      status
    }
  }
`);

export const SEARCH_COMPANIES = graphql(`
  query SearchCompanies($text: String) {
    companies(filter: { text: $text }, orderBy: { field: NAME, direction: ASC }, first: 8) {
      edges {
        node {
          id
          name
          domain
        }
      }
    }
  }
`);

export const SEARCH_CONTACTS = graphql(`
  query SearchContacts($text: String, $companyId: ID) {
    contacts(filter: { text: $text, companyId: $companyId }, orderBy: { field: LAST_NAME, direction: ASC }, first: 8) {
      edges {
        node {
          id
          name
          email
          company {
            name
          }
        }
      }
    }
  }
`);
