// The deal's win probability and where it comes from: the outcome, a manual override, the
// learned model (its stage's win rate from closed deals, adjusted by time in the stage), or
// the stage's default.

import { useQuery } from "../../api/hooks";
import { daysSince, percent } from "../../format";
import type { DealPageQuery } from "../../gql/graphql";
import { WIN_MODEL } from "./queries";

type Deal = NonNullable<DealPageQuery["deal"]>;

export function WinProbability({ deal }: { deal: Deal }) {
  const model = useQuery(WIN_MODEL, { pipelineId: deal.pipeline?.id ?? null }, { topics: ["analytics"] });
  const stage = model.data?.winModel?.stages.find((s) => s.key === deal.stage.key);
  const days = daysSince(deal.stageEnteredAt);
  const bucket = stage?.ageBuckets.find((b) => days !== null && days >= b.minDays && (b.maxDays === null || b.maxDays === undefined || days < b.maxDays));

  let source: string;
  if (deal.status !== "OPEN") source = `The deal is ${deal.status.toLowerCase()}.`;
  else if (deal.probabilityOverride !== null && deal.probabilityOverride !== undefined)
    source = `Set by hand (the model says ${deal.modelProbability ?? "—"}%, the stage ${deal.stageProbability}%).`;
  else if (deal.modelProbability !== null && deal.modelProbability !== undefined) source = "Learned from this pipeline's closed deals.";
  else source = `The stage's default (${deal.stageProbability}%): the model has not scored this deal yet.`;

  return (
    <section className="panel" aria-labelledby="win-heading" data-testid="win-probability">
      <h2 id="win-heading">Win probability</h2>
      <p className="big-number">
        <strong>{deal.probability}%</strong> <span className="muted">· forecast category {deal.forecastCategory.toLowerCase().replace("_", " ")}</span>
      </p>
      <p>{source}</p>
      {deal.status === "OPEN" && stage && (
        <ul className="explain">
          {stage.samples === 0 ? (
            <li>No closed deal has been through {stage.name} yet, so the stage default ({stage.defaultProbability}%) stands.</li>
          ) : (
            <li>
              In {stage.name}, {stage.wins} of {stage.samples} closed deals were won: a smoothed win rate of{" "}
              {percent(stage.winRate)} (stage default {stage.defaultProbability}%, prior weight {model.data?.winModel?.priorWeight}).
            </li>
          )}
          {bucket && bucket.samples > 0 && days !== null && (
            <li>
              This deal has been in the stage {days} days; deals still there after {bucket.minDays}
              {bucket.maxDays !== null && bucket.maxDays !== undefined ? `–${bucket.maxDays}` : "+"} days won {bucket.wins} of{" "}
              {bucket.samples}: estimate {bucket.estimate}%.
            </li>
          )}
          <li className="muted">
            Model trained on {model.data?.winModel?.trainingDeals} closed deals
            {model.data?.winModel?.trainedAt ? ` on ${new Date(model.data.winModel.trainedAt).toLocaleDateString()}` : ""}.
          </li>
        </ul>
      )}
      {deal.status === "OPEN" && model.data && !model.data.winModel && <p className="muted">No win model has been trained for this pipeline yet.</p>}
    </section>
  );
}
