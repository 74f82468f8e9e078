// Search-as-you-type pickers for a company or a contact (used by the exit-criteria fixes
// and the deal page).

import { useEffect, useId, useState } from "react";
import { useQuery } from "../../api/hooks";
import { SEARCH_COMPANIES, SEARCH_CONTACTS } from "./queries";

function useDebounced(value: string, ms = 250): string {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

type Option = { id: string; label: string; detail?: string | null };

function Picker({
  label,
  options,
  loading,
  text,
  setText,
  onPick,
}: {
  label: string;
  options: Option[];
  loading: boolean;
  text: string;
  setText: (text: string) => void;
  onPick: (option: Option) => void;
}) {
  const id = useId();
  return (
    <div className="picker">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={text} placeholder="Type to search" onChange={(e) => setText(e.target.value)} />
      <ul className="picker-options" aria-label={`${label} results`}>
        {loading && options.length === 0 && <li className="muted">Searching…</li>}
        {!loading && options.length === 0 && <li className="muted">No matches</li>}
        {options.map((option) => (
          <li key={option.id}>
            <button type="button" className="option" onClick={() => onPick(option)}>
              {option.label}
              {option.detail && <span className="muted"> · {option.detail}</span>}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function CompanyPicker({ onPick }: { onPick: (company: { id: string; name: string }) => void }) {
  const [text, setText] = useState("");
  const search = useDebounced(text);
  const state = useQuery(SEARCH_COMPANIES, { text: search || null }, { topics: ["contacts"] });
  const options = (state.data?.companies.edges ?? []).map(({ node }) => ({
    id: node.id,
    label: node.name,
    detail: node.domain,
  }));
  return (
    <Picker
      label="Company"
      options={options}
      loading={state.loading}
      text={text}
      setText={setText}
      onPick={(o) => onPick({ id: o.id, name: o.label })}
    />
  );
}

export function ContactPicker({
  companyId,
  onPick,
}: {
  companyId?: string | null;
  onPick: (contact: { id: string; name: string }) => void;
}) {
  const [text, setText] = useState("");
  const search = useDebounced(text);
  const state = useQuery(
    SEARCH_CONTACTS,
    { text: search || null, companyId: search ? null : (companyId ?? null) },
    { topics: ["contacts"] },
  );
  const options = (state.data?.contacts.edges ?? []).map(({ node }) => ({
    id: node.id,
    label: node.name,
    detail: node.email ?? node.company?.name,
  }));
  return (
    <Picker
      label="Contact"
      options={options}
      loading={state.loading}
      text={text}
      setText={setText}
      onPick={(o) => onPick({ id: o.id, name: o.label })}
    />
  );
}
