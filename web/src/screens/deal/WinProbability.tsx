// The deal's win probability and where it comes from: the outcome, a manual override, the
// learned model (a base rate and the factors that raise or lower it for this deal), or the
// stage's default with the reason the model does not score it.

import { useQuery } from "../../api/hooks";
import { percent } from "../../format";
import type { DealPageQuery } from "../../gql/graphql";
import { WIN_MODEL } from "./queries";

type Deal = NonNullable<DealPageQuery["deal"]>;

export function WinProbability({ deal }: { deal: Deal }) {
  const model = useQuery(WIN_MODEL, { pipelineId: deal.pipeline?.id ?? null }, { topics: ["analytics"] });
  const explanation = deal.winExplanation;
  const factors = [...(explanation?.factors ?? [])].sort((a, b) => Math.abs(b.logOdds) - Math.abs(a.logOdds)).slice(0, 6);
  const trained = model.data?.winModel;

  let source: string;
  if (deal.status !== "OPEN") source = `The deal is ${deal.status.toLowerCase()}.`;
  else if (deal.probabilityOverride !== null && deal.probabilityOverride !== undefined)
    source = `Set by hand (the model says ${explanation?.probability ?? deal.modelProbability ?? "—"}%, the stage ${deal.stageProbability}%).`;
  else if (explanation?.source === "MODEL")
    source = `Learned from this pipeline's closed deals: the chance of a win within ${explanation.horizonDays ?? "the"} days.`;
  else source = `The stage's default (${deal.stageProbability}%)${explanation?.reason ? `: ${explanation.reason}` : "."}`;

  return (
    <section className="panel" aria-labelledby="win-heading" data-testid="win-probability">
      <h2 id="win-heading">Win probability</h2>
      <p className="big-number">
        <strong>{deal.probability}%</strong> <span className="muted">· forecast category {deal.forecastCategory.toLowerCase().replace("_", " ")}</span>
      </p>
      <p>{source}</p>
      {deal.status === "OPEN" && explanation?.source === "MODEL" && (
        <ul className="explain" aria-label="What moves it">
          {explanation.baseProbability !== null && explanation.baseProbability !== undefined && (
            <li>A deal at the training average: {percent(explanation.baseProbability)}.</li>
          )}
          {factors.map((factor) => (
            <li key={factor.feature}>
              {factor.logOdds >= 0 ? "▲" : "▼"} {factor.label}
              {factor.value ? ` (${factor.value})` : ""} {factor.logOdds >= 0 ? "raises" : "lowers"} it
            </li>
          ))}
        </ul>
      )}
      {trained && (
        <p className="muted">
          Model version {trained.version}, trained {new Date(trained.trainedAt).toLocaleDateString()} on {trained.training.closedDeals} closed deals.
        </p>
      )}
      {model.data && !trained && <p className="muted">No win model has been trained for this pipeline yet.</p>}
    </section>
  );
}
