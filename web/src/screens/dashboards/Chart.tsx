// Charts with Chart.js (only the parts used are registered, so the bundle stays small),
// always paired with the same numbers as a table: a toggle shows one or the other, and the
// table stays readable by screen readers while the chart is shown.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef, useState, type ReactNode } from "react";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.color = "#374151";
Chart.defaults.animation = false;

export const PALETTE = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490"];

function ChartCanvas({ config, label }: { config: ChartConfiguration; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, ...config.options },
    });
    return () => chart.destroy();
  }, [config]);
  return (
    <div className="chart-box">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

export function ChartCard({
  title,
  config,
  table,
  summary,
  testId,
}: {
  title: string;
  config: ChartConfiguration;
  table: ReactNode;
  summary: string;
  testId?: string;
}) {
  const [view, setView] = useState<"chart" | "table">("chart");
  return (
    <section className="panel" aria-label={title} data-testid={testId}>
      <div className="page-header">
        <h2>{title}</h2>
        <div className="chart-switch" role="group" aria-label={`${title}: view`}>
          <button type="button" aria-pressed={view === "chart"} onClick={() => setView("chart")}>
            Chart
          </button>
          <button type="button" aria-pressed={view === "table"} onClick={() => setView("table")}>
            Table
          </button>
        </div>
      </div>
      {view === "chart" && <ChartCanvas config={config} label={`${title}. ${summary}`} />}
      <div className={view === "chart" ? "sr-only" : undefined}>{table}</div>
    </section>
  );
}
