// Editing a pipeline: its open stages in order (name, key, probability, forecast category,
// rotting days), each stage's exit criteria and playbook. Saving makes a new version; deals
// keep the version they are on. Errors name the stage and field they belong to.

import { useState } from "react";
import { useMutation } from "../../api/hooks";
import { useDraft } from "../../drafts";
import { label } from "../../format";
import type { AssigneeRuleKind, ForecastCategory, SettingsPipelinesQuery, TaskType } from "../../gql/graphql";
import { ErrorNotice, FieldError } from "../../ui/states";
import { UPDATE_PIPELINE } from "./queries";

type Pipeline = SettingsPipelinesQuery["pipelines"][number];

type TemplateForm = { key: string; title: string; type: TaskType; dueOffsetDays: string; rule: AssigneeRuleKind; teamId: string; userId: string };
type StageForm = {
  key: string;
  name: string;
  probability: string;
  forecastCategory: ForecastCategory;
  rottingDays: string;
  requiredFields: string[];
  playbookKeys: string;
  primaryContactRequired: boolean;
  playbook: TemplateForm[];
};

const REQUIRED_FIELDS = ["amount", "expectedCloseDate", "company", "nextStep", "nextStepDate", "source", "owner", "product"];
// What each requirable field is called on the deal page's form (the key is what the API takes).
const FIELD_LABELS: Record<string, string> = {
  amount: "Amount",
  expectedCloseDate: "Expected close",
  company: "Company",
  nextStep: "Next step",
  nextStepDate: "Next step date",
  source: "Source",
  owner: "Owner",
  product: "Product",
};
const CATEGORIES: ForecastCategory[] = ["PIPELINE", "BEST_CASE", "COMMIT"];
const TYPES: TaskType[] = ["TODO", "CALL", "EMAIL", "MEETING", "FOLLOW_UP"];

function formOf(pipeline: Pipeline): { name: string; stages: StageForm[] } {
  return {
    name: pipeline.name,
    stages: pipeline.stages
      .filter((s) => !s.terminal)
      .map((s) => ({
        key: s.key,
        name: s.name,
        probability: String(s.probability),
        forecastCategory: s.forecastCategory,
        rottingDays: s.rottingDays === null || s.rottingDays === undefined ? "" : String(s.rottingDays),
        requiredFields: [...s.exitCriteria.requiredFields],
        playbookKeys: s.exitCriteria.playbookKeys.join(", "),
        primaryContactRequired: s.exitCriteria.primaryContactRequired,
        playbook: s.playbook.map((t) => ({
          key: t.key,
          title: t.title,
          type: t.type,
          dueOffsetDays: String(t.dueOffsetDays),
          rule: t.assignee.rule,
          teamId: t.assignee.teamId ?? "",
          userId: t.assignee.userId ?? "",
        })),
      })),
  };
}

function toInput(form: { name: string; stages: StageForm[] }) {
  return {
    name: form.name,
    stages: form.stages.map((s) => ({
      key: s.key.trim(),
      name: s.name.trim(),
      probability: Number(s.probability),
      forecastCategory: s.forecastCategory,
      rottingDays: s.rottingDays.trim() ? Number(s.rottingDays) : null,
      exitCriteria: {
        requiredFields: s.requiredFields,
        playbookKeys: s.playbookKeys.split(",").map((k) => k.trim()).filter(Boolean),
        primaryContactRequired: s.primaryContactRequired,
      },
      playbook: s.playbook.map((t) => ({
        key: t.key.trim(),
        title: t.title.trim(),
        type: t.type,
        dueOffsetDays: Number(t.dueOffsetDays || "0"),
        assignee: { rule: t.rule, teamId: t.rule === "TEAM" ? t.teamId.trim() || null : null, userId: t.rule === "USER" ? t.userId.trim() || null : null },
      })),
    })),
  };
}

export function PipelineEditor({ pipeline }: { pipeline: Pipeline }) {
  const [form, setForm, clearDraft] = useDraft(`pipeline:${pipeline.id}:${pipeline.version}`, formOf(pipeline));
  const [save, state] = useMutation(UPDATE_PIPELINE, ["pipelines", "deals"]);
  const [saved, setSaved] = useState(false);
  const err = (path: string) => state.error?.forField(`input.${path}`);
  const setStage = (i: number, patch: Partial<StageForm>) =>
    setForm({ ...form, stages: form.stages.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const setTemplate = (i: number, j: number, patch: Partial<TemplateForm>) =>
    setStage(i, { playbook: form.stages[i].playbook.map((t, k) => (k === j ? { ...t, ...patch } : t)) });
  const moveStage = (i: number, by: number) => {
    const stages = [...form.stages];
    const [stage] = stages.splice(i, 1);
    stages.splice(i + by, 0, stage);
    setForm({ ...form, stages });
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(false);
    try {
      await save({ id: pipeline.id, input: toInput(form) });
      clearDraft();
      setSaved(true);
    } catch {
      /* errors shown by field */
    }
  };
  const known = new Set<string>();
  const mark = (path: string) => {
    known.add(`input.${path}`);
    return err(path);
  };
  const view = (
    <>
      <div className="field">
        <label htmlFor="pipeline-name">Pipeline name</label>
        <input id="pipeline-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        <FieldError message={mark("name")} />
      </div>
      {form.stages.map((stage, i) => (
        <fieldset key={i} className="panel stage-editor" data-testid="stage-editor">
          <legend>
            Stage {i + 1}: {stage.name || "new stage"}
          </legend>
          <div className="form-grid">
            <label>
              Name
              <input value={stage.name} onChange={(e) => setStage(i, { name: e.target.value })} aria-invalid={!!err(`stages.${i}.name`)} />
              <FieldError message={mark(`stages.${i}.name`)} />
            </label>
            <label>
              Key
              <input value={stage.key} onChange={(e) => setStage(i, { key: e.target.value })} aria-invalid={!!err(`stages.${i}.key`)} />
              <FieldError message={mark(`stages.${i}.key`)} />
            </label>
            <label>
              Probability (%)
              <input
                type="number"
                min={0}
                max={100}
                value={stage.probability}
                onChange={(e) => setStage(i, { probability: e.target.value })}
                aria-invalid={!!err(`stages.${i}.probability`)}
              />
              <FieldError message={mark(`stages.${i}.probability`)} />
            </label>
            <label>
              Forecast category
              <select value={stage.forecastCategory} onChange={(e) => setStage(i, { forecastCategory: e.target.value as ForecastCategory })}>
                {CATEGORIES.map((c) => (
                  <option key={c} value={c}>
                    {label(c)}
                  </option>
                ))}
              </select>
              <FieldError message={mark(`stages.${i}.forecastCategory`)} />
            </label>
            <label>
              Stale after (days)
              <input type="number" min={1} value={stage.rottingDays} onChange={(e) => setStage(i, { rottingDays: e.target.value })} />
              <FieldError message={mark(`stages.${i}.rottingDays`)} />
            </label>
          </div>
          <fieldset className="criteria">
            <legend>Exit criteria: required before leaving forward</legend>
            <div className="checks">
              {REQUIRED_FIELDS.map((f) => (
                <label key={f} className="check">
                  <input
                    type="checkbox"
                    checked={stage.requiredFields.includes(f)}
                    onChange={(e) =>
                      setStage(i, { requiredFields: e.target.checked ? [...stage.requiredFields, f] : stage.requiredFields.filter((x) => x !== f) })
                    }
                  />{" "}
                  {FIELD_LABELS[f] ?? f}
                </label>
              ))}
              <label className="check">
                <input type="checkbox" checked={stage.primaryContactRequired} onChange={(e) => setStage(i, { primaryContactRequired: e.target.checked })} /> Primary
                contact
              </label>
            </div>
            <FieldError message={mark(`stages.${i}.exitCriteria.requiredFields`)} />
            <label>
              Completed playbook tasks (keys, comma-separated){" "}
              <input value={stage.playbookKeys} onChange={(e) => setStage(i, { playbookKeys: e.target.value })} />
            </label>
            <FieldError message={mark(`stages.${i}.exitCriteria.playbookKeys`)} />
          </fieldset>
          <fieldset>
            <legend>Playbook: tasks created when a deal enters</legend>
            {stage.playbook.length === 0 && <p className="muted">No playbook tasks.</p>}
            {stage.playbook.map((t, j) => (
              <div key={j} className="form-grid playbook-row">
                <label>
                  Key
                  <input value={t.key} onChange={(e) => setTemplate(i, j, { key: e.target.value })} />
                  <FieldError message={mark(`stages.${i}.playbook.${j}.key`)} />
                </label>
                <label>
                  Title
                  <input value={t.title} onChange={(e) => setTemplate(i, j, { title: e.target.value })} />
                  <FieldError message={mark(`stages.${i}.playbook.${j}.title`)} />
                </label>
                <label>
                  Type
                  <select value={t.type} onChange={(e) => setTemplate(i, j, { type: e.target.value as TaskType })}>
                    {TYPES.map((x) => (
                      <option key={x} value={x}>
                        {label(x)}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Due after (days)
                  <input type="number" min={0} value={t.dueOffsetDays} onChange={(e) => setTemplate(i, j, { dueOffsetDays: e.target.value })} />
                  <FieldError message={mark(`stages.${i}.playbook.${j}.dueOffsetDays`)} />
                </label>
                <label>
                  Assignee
                  <select value={t.rule} onChange={(e) => setTemplate(i, j, { rule: e.target.value as AssigneeRuleKind })}>
                    <option value="OWNER">Deal owner</option>
                    <option value="TEAM">A team</option>
                    <option value="USER">A user</option>
                  </select>
                  <FieldError message={mark(`stages.${i}.playbook.${j}.assignee`)} />
                </label>
                {t.rule === "TEAM" && (
                  <label>
                    Team id
                    <input value={t.teamId} onChange={(e) => setTemplate(i, j, { teamId: e.target.value })} />
                    <FieldError message={mark(`stages.${i}.playbook.${j}.assignee.teamId`)} />
                  </label>
                )}
                {t.rule === "USER" && (
                  <label>
                    User id
                    <input value={t.userId} onChange={(e) => setTemplate(i, j, { userId: e.target.value })} />
                    <FieldError message={mark(`stages.${i}.playbook.${j}.assignee.userId`)} />
                  </label>
                )}
                <button type="button" className="danger" onClick={() => setStage(i, { playbook: stage.playbook.filter((_, k) => k !== j) })}>
                  Remove task
                </button>
              </div>
            ))}
            <button
              type="button"
              onClick={() =>
                setStage(i, { playbook: [...stage.playbook, { key: "", title: "", type: "TODO", dueOffsetDays: "1", rule: "OWNER", teamId: "", userId: "" }] })
              }
            >
              Add playbook task
            </button>
          </fieldset>
          <div className="form-actions">
            <button type="button" onClick={() => moveStage(i, -1)} disabled={i === 0}>
              Move up
            </button>
            <button type="button" onClick={() => moveStage(i, 1)} disabled={i === form.stages.length - 1}>
              Move down
            </button>
            <button type="button" className="danger" onClick={() => setForm({ ...form, stages: form.stages.filter((_, k) => k !== i) })}>
              Remove stage
            </button>
          </div>
        </fieldset>
      ))}
    </>
  );
  const general = state.error?.general(...known);
  return (
    <form onSubmit={(e) => void submit(e)} aria-label={`Edit ${pipeline.name}`} data-testid="pipeline-editor">
      {view}
      <button
        type="button"
        onClick={() =>
          setForm({
            ...form,
            stages: [
              ...form.stages,
              { key: "", name: "", probability: "50", forecastCategory: "PIPELINE", rottingDays: "", requiredFields: [], playbookKeys: "", primaryContactRequired: false, playbook: [] },
            ],
          })
        }
      >
        Add stage
      </button>
      {general && <ErrorNotice error={general} />}
      <div className="form-actions">
        {saved && (
          <span role="status" className="muted">
            Saved as a new version.
          </span>
        )}
        <button type="button" onClick={() => { setForm(formOf(pipeline)); clearDraft(); state.reset(); }}>
          Discard changes
        </button>
        <button type="submit" className="primary" disabled={state.pending}>
          Save pipeline
        </button>
      </div>
    </form>
  );
}
