import { graphql } from "../../gql";

export const FUNNEL = graphql(`
  query Funnel($pipelineId: ID, $from: DateTime, $to: DateTime, $ownerId: String) {
    pipelineAnalytics(pipelineId: $pipelineId, from: $from, to: $to, ownerId: $ownerId) {
      currency
      created
      won
      lost
      winRate
      medianSalesCycleDays
      averageWonAmount
      stages {
        key
        name
        entered
        advanced
        lost
        movedBack
        stillThere
        conversionRate
        won
        winRate
        medianDaysInStage
        p75DaysInStage
      }
    }
  }
`);

export const FORECAST = graphql(`
  query Forecast($pipelineId: ID, $from: Date!, $to: Date!, $ownerId: String) {
    forecast(pipelineId: $pipelineId, from: $from, to: $to, ownerId: $ownerId) {
      currency
      months {
        month
        closed
        commitForecast
        bestCaseForecast
        weightedForecast
        openPipeline
        categories {
          category
          count
          amount
        }
      }
      undated {
        openPipeline
        weightedForecast
      }
    }
    forecastAccuracy(pipelineId: $pipelineId, months: 6) {
      month
      currency
      actual
      actualCount
      horizons {
        daysBefore
        asOf
        snapshotDay
        commit {
          forecast
          error
          relativeError
        }
        bestCase {
          forecast
          error
          relativeError
        }
        weighted {
          forecast
          error
          relativeError
        }
      }
    }
  }
`);

export const WIN_MODEL_QUALITY = graphql(`
  query WinModelQuality($pipelineId: ID) {
    winModel(pipelineId: $pipelineId) {
      version
      status
      trainedAt
      horizonDays
      reasons {
        code
        message
      }
      warnings {
        code
        message
      }
      training {
        closedDeals
        rows
        baseRate
      }
      stages {
        key
        name
        defaultProbability
        trainingRows
        wonShare
      }
      featureImportances {
        feature
        label
        share
      }
      evaluation {
        model {
          predictions
          brierScore
          logLoss
          auc
          expectedCalibrationError
          reliability {
            lower
            upper
            count
            meanPredicted
            wonShare
          }
        }
        stageDefaults {
          brierScore
          logLoss
        }
        constantRate {
          brierScore
        }
      }
    }
  }
`);

export const SCORECARDS = graphql(`
  query Scorecards($pipelineId: ID, $from: DateTime, $to: DateTime) {
    ownerScorecards(pipelineId: $pipelineId, from: $from, to: $to) {
      ownerId
      currency
      openCount
      openAmount
      weightedOpenAmount
      staleOpen
      openWithoutNextStep
      wonCount
      wonAmount
      lostCount
      winRate
      averageWonAmount
      medianSalesCycleDays
    }
  }
`);

export const TRAIN_WIN_MODEL = graphql(`
  mutation TrainWinModel($pipelineId: ID) {
    trainWinModel(pipelineId: $pipelineId) {
      id
      status
    }
  }
`);
