// Display formats: money from the API's exact decimal strings, dates, durations, names.

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function money(amount: string | null | undefined, currency = "USD", compact = false): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const key = `${currency}:${compact}`;
  let format = moneyFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat("en-US", {
      style: "currency",
      currency,
      notation: compact ? "compact" : "standard",
      maximumFractionDigits: compact ? 1 : 2,
    });
    moneyFormats.set(key, format);
  }
  return format.format(Number(amount));
}

const dateFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

export function date(value: string | null | undefined): string {
  if (!value) return "—";
  const parsed = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(parsed.getTime()) ? value : dateFormat.format(parsed);
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return "—";
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? value : dateTimeFormat.format(parsed);
}

export function daysSince(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const then = new Date(value).getTime();
  return Number.isNaN(then) ? null : Math.max(0, Math.floor((now - then) / 86_400_000));
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const days = seconds / 86_400;
  if (days >= 1) return `${days.toFixed(days >= 10 ? 0 : 1)} d`;
  const hours = seconds / 3600;
  if (hours >= 1) return `${hours.toFixed(0)} h`;
  return `${Math.max(1, Math.round(seconds / 60))} min`;
}

export function percent(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined) return "—";
  return `${(value * 100).toFixed(digits)}%`;
}

export function label(enumValue: string): string {
  const text = enumValue.toLowerCase().replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Today as YYYY-MM-DD in UTC (what the API's Date scalar expects). */
export function isoDay(offsetDays = 0, from = new Date()): string {
  return new Date(from.getTime() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}
