import { graphql } from "../../gql";

export const CONTACTS_LIST = graphql(`
  query ContactsList($filter: ContactFilter, $orderBy: ContactOrder, $first: Int, $after: String) {
    contacts(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      totalCount
      edges {
        node {
          id
          name
          email
          title
          lifecycleStage
          ownerId
          createdAt
          updatedAt
          company {
            id
            name
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const COMPANIES_LIST = graphql(`
  query CompaniesList($filter: CompanyFilter, $orderBy: CompanyOrder, $first: Int, $after: String) {
    companies(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      totalCount
      edges {
        node {
          id
          name
          domain
          industry
          size
          createdAt
          updatedAt
          address {
            country
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

// What a contact's and a company's page show and edit: the page's query and the update
// both ask for it, so a save refreshes the form at once.
export const CONTACT_DETAILS = graphql(`
  fragment ContactDetails on Contact {
    id
    firstName
    lastName
    name
    email
    emails
    phones
    title
    lifecycleStage
    ownerId
    tags
    source
    updatedAt
    company {
      id
      name
    }
  }
`);

export const COMPANY_DETAILS = graphql(`
  fragment CompanyDetails on Company {
    id
    name
    domain
    industry
    size
    website
    ownerId
    tags
    updatedAt
    address {
      street
      city
      region
      postalCode
      country
    }
  }
`);

export const CONTACT_PAGE = graphql(`
  query ContactPage($id: ID!) {
    contact(id: $id) {
      ...ContactDetails
      createdAt
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
      deals(first: 20) {
        totalCount
        edges {
          node {
            id
            title
            amount
            currency
            status
            stage {
              name
            }
          }
        }
      }
      tasks {
        ...TaskRow
      }
    }
  }
`);

export const COMPANY_PAGE = graphql(`
  query CompanyPage($id: ID!) {
    company(id: $id) {
      ...CompanyDetails
      createdAt
      contacts(first: 20) {
        totalCount
        edges {
          node {
            id
            name
            email
            title
            tasks(status: OPEN) {
              ...TaskRow
            }
          }
        }
      }
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
      deals(first: 20) {
        totalCount
        edges {
          node {
            id
            title
            amount
            currency
            status
            ownerId
            stage {
              name
            }
            tasks(status: OPEN) {
              ...TaskRow
            }
          }
        }
      }
    }
  }
`);

export const FIND_DUPLICATES = graphql(`
  query FindDuplicates($id: ID!) {
    findDuplicates(contactId: $id) {
      reasons
      contact {
        id
        name
        email
        phones
        company {
          name
        }
        createdAt
      }
    }
  }
`);

export const MERGE_CONTACTS = graphql(`
  mutation MergeContacts($survivorId: ID!, $duplicateId: ID!, $dryRun: Boolean!) {
    mergeContacts(survivorId: $survivorId, duplicateId: $duplicateId, dryRun: $dryRun) {
      dryRun
      mergedId
      movedInteractions
      alreadyMerged
      changes {
        field
        before
        after
      }
      survivor {
        id
        name
      }
    }
  }
`);

export const CREATE_CONTACT = graphql(`
  mutation CreateContact($input: CreateContactInput!) {
    createContact(input: $input) {
      id
    }
  }
`);

export const CREATE_COMPANY = graphql(`
  mutation CreateCompany($input: CreateCompanyInput!) {
    createCompany(input: $input) {
      id
    }
  }
`);

export const UPDATE_CONTACT = graphql(`
  mutation UpdateContact($id: ID!, $input: UpdateContactInput!) {
    updateContact(id: $id, input: $input) {
      ...ContactDetails
    }
  }
`);

export const DELETE_CONTACT = graphql(`
  mutation DeleteContact($id: ID!) {
    deleteContact(id: $id) {
      id
    }
  }
`);

export const UPDATE_COMPANY = graphql(`
  mutation UpdateCompany($id: ID!, $input: UpdateCompanyInput!) {
    updateCompany(id: $id, input: $input) {
      ...CompanyDetails
    }
  }
`);

export const DELETE_COMPANY = graphql(`
  mutation DeleteCompany($id: ID!) {
    deleteCompany(id: $id) {
      id
    }
  }
`);
