// GraphQL errors as the screens use them: a code, the input field a user can fix, and for
// moveDeal the list of unmet exit criteria.

export type Unmet = { criterion: string; detail: string };

export type ErrorInfo = {
  message: string;
  code?: string;
  field?: string;
  unmet?: Unmet[];
  path?: ReadonlyArray<string | number>;
  /** The server says repeating the request is safe (with the same Idempotency-Key). */
  retryable?: boolean;
};

export class ApiError extends Error {
  readonly errors: ErrorInfo[];

  constructor(errors: ErrorInfo[]) {
    super(errors.map((e) => e.message).join("; ") || "Request failed");
    this.name = "ApiError";
    this.errors = errors;
  }

  get code(): string | undefined {
    return this.errors[0]?.code;
  }

  /** The message for one input field (`input.title`), or undefined. */
  forField(...fields: string[]): string | undefined {
    return this.errors.find((e) => e.field && fields.includes(e.field))?.message;
  }

  /** Errors not tied to any of the given fields: shown at the form's top. */
  general(...fields: string[]): string | undefined {
    const rest = this.errors.filter((e) => !e.field || !fields.includes(e.field));
    return rest.length ? rest.map((e) => e.message).join("; ") : undefined;
  }

  get unmet(): Unmet[] {
    return this.errors.flatMap((e) => e.unmet ?? []);
  }
}

/** The session ended (expired or revoked token): the app goes to sign-in. */
export class SignedOut extends Error {
  constructor() {
    super("Signed out");
    this.name = "SignedOut";
  }
}

export function toErrorInfo(raw: unknown): ErrorInfo {
  const e = (raw ?? {}) as {
    message?: unknown;
    path?: ReadonlyArray<string | number>;
    extensions?: Record<string, unknown>;
  };
  const ext = e.extensions ?? {};
  return {
    message: typeof e.message === "string" ? e.message : "Unknown error",
    code: typeof ext.code === "string" ? ext.code : undefined,
    field: typeof ext.field === "string" ? ext.field : undefined,
    unmet: Array.isArray(ext.unmet) ? (ext.unmet as Unmet[]) : undefined,
    path: e.path,
    retryable: typeof ext.retryable === "boolean" ? ext.retryable : undefined,
  };
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
