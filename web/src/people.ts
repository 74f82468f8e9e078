// Display names for user ids. The platform keys people by id (token subject, deal owner,
// task assignee); names come from the sign-in roster in development, and otherwise from
// the id itself (`darcel-schlecht` -> "Darcel Schlecht", as the demo's ids are made).

const KEY = "crm.people";

export type Person = { id: string; name: string; roles?: string[]; title?: string };

function known(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

export function rememberPeople(people: Person[]): void {
  const names = known();
  for (const person of people) names[person.id] = person.name;
  localStorage.setItem(KEY, JSON.stringify(names));
}

export function personName(id: string | null | undefined): string {
  if (!id) return "Unassigned";
  const name = known()[id];
  if (name) return name;
  return id
    .split(/[-_.]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join(" ");
}

export function initials(id: string | null | undefined): string {
  return personName(id)
    .split(" ")
    .map((part) => part.charAt(0))
    .slice(0, 2)
    .join("");
}
