// Dashboards: funnel conversion and stage velocity; forecast by month and category with the
// forecast accuracy history; win-model calibration; owner scorecards. Every chart can be
// read as a table.

import type { ChartConfiguration } from "chart.js";
import { useMemo } from "react";
import { useMutation, useQuery } from "../../api/hooks";
import { hasRole, useSession } from "../../auth/session";
import { money, percent } from "../../format";
import { personName } from "../../people";
import { Link, setSearch, useLocation } from "../../router";
import { Empty, FieldError, QueryView } from "../../ui/states";
import { ChartCard, PALETTE } from "./Chart";
import { FORECAST, FUNNEL, SCORECARDS, TRAIN_WIN_MODEL, WIN_MODEL_QUALITY } from "./queries";

const TABS = [
  { key: "funnel", label: "Funnel & velocity" },
  { key: "forecast", label: "Forecast" },
  { key: "win-model", label: "Win model" },
  { key: "scorecards", label: "Owner scorecards" },
];

const PERIODS: Record<string, { label: string; from: () => string | null; to: () => string | null }> = {
  all: { label: "All time", from: () => null, to: () => null },
  "365": { label: "Last 12 months", from: () => new Date(Date.now() - 365 * 86_400_000).toISOString(), to: () => null },
  "90": { label: "Last 90 days", from: () => new Date(Date.now() - 90 * 86_400_000).toISOString(), to: () => null },
};

function PeriodPicker({ value }: { value: string }) {
  return (
    <label>
      Period{" "}
      <select value={value} onChange={(e) => setSearch({ period: e.target.value })} data-testid="period">
        {Object.entries(PERIODS).map(([key, p]) => (
          <option key={key} value={key}>
            {p.label}
          </option>
        ))}
      </select>
    </label>
  );
}

function Funnel({ period }: { period: string }) {
  const window = PERIODS[period] ?? PERIODS.all;
  const variables = useMemo(() => ({ pipelineId: null, from: window.from(), to: window.to(), ownerId: null }), [window]);
  const state = useQuery(FUNNEL, variables, { topics: ["analytics", "deals"] });
  return (
    <QueryView state={state} what="the funnel">
      {(data) => {
        const a = data.pipelineAnalytics;
        if (!a.stages.some((s) => s.entered)) return <Empty>No deal entered a stage in this period.</Empty>;
        const labels = a.stages.map((s) => s.name);
        const conversion: ChartConfiguration = {
          type: "bar",
          data: {
            labels,
            datasets: [
              { label: "Entered", data: a.stages.map((s) => s.entered), backgroundColor: PALETTE[0] },
              { label: "Advanced", data: a.stages.map((s) => s.advanced), backgroundColor: PALETTE[2] },
              { label: "Lost", data: a.stages.map((s) => s.lost), backgroundColor: PALETTE[4] },
            ],
          },
        };
        const velocity: ChartConfiguration = {
          type: "bar",
          data: {
            labels,
            datasets: [
              { label: "Median days in stage", data: a.stages.map((s) => s.medianDaysInStage ?? 0), backgroundColor: PALETTE[0] },
              { label: "75th percentile", data: a.stages.map((s) => s.p75DaysInStage ?? 0), backgroundColor: PALETTE[1] },
            ],
          },
        };
        return (
          <>
            <p data-testid="funnel-summary">
              {a.created} deals created · {a.won} won · {a.lost} lost · win rate {percent(a.winRate)} · median sales cycle{" "}
              {a.medianSalesCycleDays?.toFixed(0) ?? "—"} days · average won {money(a.averageWonAmount, a.currency)}
            </p>
            <ChartCard
              title="Funnel conversion"
              testId="funnel-chart"
              config={conversion}
              summary={a.stages.map((s) => `${s.name}: ${s.entered} entered, ${percent(s.conversionRate)} advanced`).join("; ")}
              table={
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Stage</th>
                      <th className="num" scope="col">Entered</th>
                      <th className="num" scope="col">Advanced</th>
                      <th className="num" scope="col">Conversion</th>
                      <th className="num" scope="col">Lost</th>
                      <th className="num" scope="col">Moved back</th>
                      <th className="num" scope="col">Still there</th>
                      <th className="num" scope="col">Won since</th>
                    </tr>
                  </thead>
                  <tbody>
                    {a.stages.map((s) => (
                      <tr key={s.key}>
                        <th scope="row">{s.name}</th>
                        <td className="num">{s.entered}</td>
                        <td className="num">{s.advanced}</td>
                        <td className="num">{percent(s.conversionRate)}</td>
                        <td className="num">{s.lost}</td>
                        <td className="num">{s.movedBack}</td>
                        <td className="num">{s.stillThere}</td>
                        <td className="num">{percent(s.winRate)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              }
            />
            <ChartCard
              title="Stage velocity"
              testId="velocity-chart"
              config={velocity}
              summary={a.stages.map((s) => `${s.name}: median ${s.medianDaysInStage ?? "no"} days`).join("; ")}
              table={
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Stage</th>
                      <th className="num" scope="col">Median days</th>
                      <th className="num" scope="col">75th percentile days</th>
                    </tr>
                  </thead>
                  <tbody>
                    {a.stages.map((s) => (
                      <tr key={s.key}>
                        <th scope="row">{s.name}</th>
                        <td className="num">{s.medianDaysInStage?.toFixed(1) ?? "—"}</td>
                        <td className="num">{s.p75DaysInStage?.toFixed(1) ?? "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              }
            />
          </>
        );
      }}
    </QueryView>
  );
}

function monthStart(offset: number): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1)).toISOString().slice(0, 10);
}

function Forecast() {
  const { search } = useLocation();
  const back = Number(search.get("back") ?? "2");
  const variables = useMemo(() => ({ pipelineId: null, from: monthStart(-back), to: monthStart(10 - back), ownerId: null }), [back]);
  const state = useQuery(FORECAST, variables, { topics: ["analytics", "deals"] });
  return (
    <>
      <label className="toolbar">
        Window{" "}
        <select value={String(back)} onChange={(e) => setSearch({ back: e.target.value })}>
          <option value="2">2 months back, 8 ahead</option>
          <option value="0">This month and 9 ahead</option>
          <option value="6">6 months back, 4 ahead</option>
        </select>
      </label>
      <QueryView state={state} what="the forecast">
        {(data) => {
          const f = data.forecast;
          const months = f.months.map((m) => m.month ?? "");
          const n = (value: string) => Number(value);
          const config: ChartConfiguration = {
            type: "bar",
            data: {
              labels: months,
              datasets: [
                { type: "bar", label: "Closed (won)", data: f.months.map((m) => n(m.closed)), backgroundColor: PALETTE[2] },
                { type: "line", label: "Commit", data: f.months.map((m) => n(m.commitForecast)), borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
                { type: "line", label: "Best case", data: f.months.map((m) => n(m.bestCaseForecast)), borderColor: PALETTE[1], backgroundColor: PALETTE[1] },
                { type: "line", label: "Weighted", data: f.months.map((m) => n(m.weightedForecast)), borderColor: PALETTE[3], backgroundColor: PALETTE[3] },
              ],
            },
          };
          return (
            <>
              <ChartCard
                title="Forecast by month"
                testId="forecast-chart"
                config={config}
                summary={f.months.map((m) => `${m.month}: commit ${m.commitForecast}, best case ${m.bestCaseForecast}, weighted ${m.weightedForecast}`).join("; ")}
                table={
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Month</th>
                        <th className="num" scope="col">Closed</th>
                        <th className="num" scope="col">Commit</th>
                        <th className="num" scope="col">Best case</th>
                        <th className="num" scope="col">Weighted</th>
                        <th className="num" scope="col">Open pipeline</th>
                      </tr>
                    </thead>
                    <tbody>
                      {f.months.map((m) => (
                        <tr key={m.month}>
                          <th scope="row">{m.month}</th>
                          <td className="num">{money(m.closed, f.currency)}</td>
                          <td className="num">{money(m.commitForecast, f.currency)}</td>
                          <td className="num">{money(m.bestCaseForecast, f.currency)}</td>
                          <td className="num">{money(m.weightedForecast, f.currency)}</td>
                          <td className="num">{money(m.openPipeline, f.currency)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                }
              />
              <p className="muted">
                Open deals without an expected close date: {money(f.undated.openPipeline, f.currency)} (weighted {money(f.undated.weightedForecast, f.currency)}).
              </p>
              <section className="panel" aria-labelledby="accuracy-heading" data-testid="forecast-accuracy">
                <h2 id="accuracy-heading">Forecast accuracy</h2>
                {data.forecastAccuracy.length === 0 ? (
                  <Empty>
                    No finished month has forecast snapshots yet. The forecast is snapshotted daily; each month's accuracy appears once it
                    ends.
                  </Empty>
                ) : (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Month</th>
                        <th className="num" scope="col">Won</th>
                        <th scope="col">Days before month end</th>
                        <th className="num" scope="col">Commit (error)</th>
                        <th className="num" scope="col">Best case (error)</th>
                        <th className="num" scope="col">Weighted (error)</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.forecastAccuracy.flatMap((m) =>
                        m.horizons.map((h) => (
                          <tr key={`${m.month}-${h.daysBefore}`}>
                            <th scope="row">{m.month}</th>
                            <td className="num">{money(m.actual, m.currency)}</td>
                            <td>{h.daysBefore}</td>
                            {[h.commit, h.bestCase, h.weighted].map((e, i) => (
                              <td className="num" key={i}>
                                {e ? `${money(e.forecast, m.currency)} (${percent(e.relativeError)})` : "no snapshot"}
                              </td>
                            ))}
                          </tr>
                        )),
                      )}
                    </tbody>
                  </table>
                )}
              </section>
            </>
          );
        }}
      </QueryView>
    </>
  );
}

function WinModel() {
  const session = useSession();
  const state = useQuery(WIN_MODEL_QUALITY, { pipelineId: null }, { topics: ["analytics"] });
  const [train, training] = useMutation(TRAIN_WIN_MODEL, ["analytics", "deals"]);
  const canTrain = hasRole(session, "admin", "manager");
  return (
    <QueryView state={state} what="the win model">
      {(data) => {
        const model = data.winModel;
        const trainButton = canTrain && (
          <>
            <button type="button" onClick={() => train({ pipelineId: null }).catch(() => undefined)} disabled={training.pending}>
              {training.pending ? "Starting…" : "Retrain now"}
            </button>
            {training.error ? <FieldError message={training.error.message} /> : null}
          </>
        );
        if (!model) return <Empty>No win model yet: it learns from closed deals. {trainButton}</Empty>;
        const scores = model.evaluation?.model;
        const bins = scores?.reliability ?? [];
        const config: ChartConfiguration = {
          type: "scatter",
          data: {
            datasets: [
              {
                label: "Won share by predicted probability",
                data: bins.map((b) => ({ x: b.meanPredicted * 100, y: b.wonShare * 100 })),
                backgroundColor: PALETTE[0],
                pointRadius: 5,
              },
              {
                type: "line",
                label: "Perfect calibration",
                data: [
                  { x: 0, y: 0 },
                  { x: 100, y: 100 },
                ],
                borderColor: "#6b7280",
                borderDash: [4, 4],
                pointRadius: 0,
              },
            ],
          },
          options: {
            scales: {
              x: { type: "linear", min: 0, max: 100, title: { display: true, text: "Predicted (%)" } },
              y: { min: 0, max: 100, title: { display: true, text: "Actually won (%)" } },
            },
          },
        };
        return (
          <>
            <p data-testid="win-model-summary">
              Version {model.version}, trained {new Date(model.trainedAt).toLocaleString()} on {model.training.closedDeals} closed deals
              ({model.training.rows} snapshots); probability of a win within {model.horizonDays} days. {trainButton}
            </p>
            {[...model.reasons, ...model.warnings].map((note) => (
              <p key={note.code} className="notice" data-testid="win-model-note">
                {note.message}
              </p>
            ))}
            {scores ? (
              <>
                <p data-testid="win-model-scores">
                  Back-test ({scores.predictions} predictions of deals open at each cut-off): Brier score {scores.brierScore.toFixed(3)} against{" "}
                  {model.evaluation!.stageDefaults.brierScore.toFixed(3)} for the stage defaults and {model.evaluation!.constantRate.brierScore.toFixed(3)}{" "}
                  for one rate for all (lower is better); log loss {scores.logLoss.toFixed(3)}
                  {scores.auc !== null && scores.auc !== undefined ? `, AUC ${scores.auc.toFixed(2)}` : ""}; expected calibration error{" "}
                  {percent(scores.expectedCalibrationError, 1)}.
                </p>
                <ChartCard
                  title="Calibration: predicted against actual"
                  testId="calibration-chart"
                  config={config}
                  summary={bins.map((b) => `${percent(b.meanPredicted)} predicted, ${percent(b.wonShare)} won (${b.count})`).join("; ")}
                  table={
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Predicted range</th>
                          <th className="num" scope="col">Mean predicted</th>
                          <th className="num" scope="col">Actually won</th>
                          <th className="num" scope="col">Predictions</th>
                        </tr>
                      </thead>
                      <tbody>
                        {bins.map((b) => (
                          <tr key={b.lower}>
                            <th scope="row">
                              {percent(b.lower)}–{percent(b.upper)}
                            </th>
                            <td className="num">{percent(b.meanPredicted, 1)}</td>
                            <td className="num">{percent(b.wonShare, 1)}</td>
                            <td className="num">{b.count}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  }
                />
              </>
            ) : (
              <Empty>No back-test for this model (see the notes above).</Empty>
            )}
            {model.featureImportances.length > 0 && (
              <section className="panel" aria-label="What the model weighs">
                <h2>What the model weighs</h2>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Factor</th>
                      <th className="num" scope="col">Share of the model's weight</th>
                    </tr>
                  </thead>
                  <tbody>
                    {model.featureImportances.map((f) => (
                      <tr key={f.feature}>
                        <th scope="row">{f.label}</th>
                        <td className="num">{percent(f.share)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
            )}
            <section className="panel" aria-label="Stages">
              <h2>Stages</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Stage</th>
                    <th className="num" scope="col">Training snapshots</th>
                    <th className="num" scope="col">Won within the horizon</th>
                    <th className="num" scope="col">Stage default</th>
                  </tr>
                </thead>
                <tbody>
                  {model.stages.map((st) => (
                    <tr key={st.key}>
                      <th scope="row">{st.name}</th>
                      <td className="num">{st.trainingRows}</td>
                      <td className="num">{percent(st.wonShare)}</td>
                      <td className="num">{st.defaultProbability}%</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </>
        );
      }}
    </QueryView>
  );
}

function Scorecards({ period }: { period: string }) {
  const window = PERIODS[period] ?? PERIODS.all;
  const variables = useMemo(() => ({ pipelineId: null, from: window.from(), to: window.to() }), [window]);
  const state = useQuery(SCORECARDS, variables, { topics: ["analytics", "deals"] });
  return (
    <QueryView state={state} what="scorecards">
      {(data) => {
        const cards = [...data.ownerScorecards].sort((a, b) => Number(b.wonAmount) - Number(a.wonAmount));
        if (!cards.length) return <Empty>No owners with deals.</Empty>;
        const top = cards.slice(0, 12);
        const config: ChartConfiguration = {
          type: "bar",
          data: {
            labels: top.map((c) => personName(c.ownerId)),
            datasets: [
              { label: "Won", data: top.map((c) => Number(c.wonAmount)), backgroundColor: PALETTE[2] },
              { label: "Open (weighted)", data: top.map((c) => Number(c.weightedOpenAmount)), backgroundColor: PALETTE[0] },
            ],
          },
          options: { indexAxis: "y" },
        };
        return (
          <>
            <ChartCard
              title="Won and weighted open amount by owner (top 12)"
              testId="scorecards-chart"
              config={config}
              summary={top.map((c) => `${personName(c.ownerId)}: won ${c.wonAmount}`).join("; ")}
              table={<p className="muted">The full table is below.</p>}
            />
            <section className="panel" aria-label="Owner scorecards">
              <table data-testid="scorecards-table">
                <thead>
                  <tr>
                    <th scope="col">Owner</th>
                    <th className="num" scope="col">Open</th>
                    <th className="num" scope="col">Open amount</th>
                    <th className="num" scope="col">Weighted</th>
                    <th className="num" scope="col">Stale</th>
                    <th className="num" scope="col">No next step</th>
                    <th className="num" scope="col">Won</th>
                    <th className="num" scope="col">Won amount</th>
                    <th className="num" scope="col">Lost</th>
                    <th className="num" scope="col">Win rate</th>
                    <th className="num" scope="col">Median cycle (d)</th>
                  </tr>
                </thead>
                <tbody>
                  {cards.map((c) => (
                    <tr key={c.ownerId ?? "none"}>
                      <th scope="row">
                        {c.ownerId ? <Link to={`/board?owner=${encodeURIComponent(c.ownerId)}`}>{personName(c.ownerId)}</Link> : "No owner"}
                      </th>
                      <td className="num">{c.openCount}</td>
                      <td className="num">{money(c.openAmount, c.currency, true)}</td>
                      <td className="num">{money(c.weightedOpenAmount, c.currency, true)}</td>
                      <td className="num">{c.staleOpen}</td>
                      <td className="num">{c.openWithoutNextStep}</td>
                      <td className="num">{c.wonCount}</td>
                      <td className="num">{money(c.wonAmount, c.currency, true)}</td>
                      <td className="num">{c.lostCount}</td>
                      <td className="num">{percent(c.winRate)}</td>
                      <td className="num">{c.medianSalesCycleDays?.toFixed(0) ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </>
        );
      }}
    </QueryView>
  );
}

export default function DashboardsScreen({ tab }: { tab: string }) {
  const { search } = useLocation();
  const period = search.get("period") ?? "all";
  const current = TABS.find((t) => t.key === tab) ?? TABS[0];
  return (
    <div className="page">
      <div className="page-header">
        <h1>Dashboards</h1>
        {(current.key === "funnel" || current.key === "scorecards") && <PeriodPicker value={period} />}
      </div>
      <nav className="tabs" aria-label="Dashboards">
        {TABS.map((t) => (
          <Link key={t.key} to={`/dashboards/${t.key}`} aria-current={t.key === current.key ? "page" : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      {current.key === "funnel" && <Funnel period={period} />}
      {current.key === "forecast" && <Forecast />}
      {current.key === "win-model" && <WinModel />}
      {current.key === "scorecards" && <Scorecards period={period} />}
    </div>
  );
}
