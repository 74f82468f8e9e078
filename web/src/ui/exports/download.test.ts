import { afterEach, describe, expect, it, vi } from "vitest";
import { fetchExport, fileNameOf } from "./download";
import { progressText, setKeys } from "./ExportButton";

vi.mock("../../auth/session", () => ({
  getSession: () => ({ token: "t0ken", userId: "rita" }),
  signOut: vi.fn(),
}));

afterEach(() => vi.unstubAllGlobals());

describe("export downloads", () => {
  it("reads the file name the server gives", () => {
    expect(fileNameOf('attachment; filename="deals-20260302-140500.csv"', "deals.csv")).toBe("deals-20260302-140500.csv");
    expect(fileNameOf(null, "deals.csv")).toBe("deals.csv");
  });

  it("fetches the file with the bearer token", async () => {
    const fetched = vi.fn(async () =>
      new Response("external_id,title\r\n", {
        headers: { "content-type": "text/csv", "content-disposition": 'attachment; filename="deals-1.csv"' },
      }),
    );
    vi.stubGlobal("fetch", fetched);
    const { blob, name } = await fetchExport("/exports/abc/file", "deals.csv");
    expect(name).toBe("deals-1.csv");
    expect(await blob.text()).toBe("external_id,title\r\n");
    expect(fetched).toHaveBeenCalledWith("/exports/abc/file", { headers: { authorization: "Bearer t0ken" } });
  });

  it("says why the server refused", async () => {
    const body = JSON.stringify({ error: { code: "NOT_FOUND", message: "the export's file has expired: export again" } });
    vi.stubGlobal("fetch", vi.fn(async () => new Response(body, { status: 404 })));
    await expect(fetchExport("/exports/abc/file", "x.csv")).rejects.toThrow("expired");
  });
});

describe("the export button", () => {
  it("sends only the filter's set keys", () => {
    expect(setKeys({ pipelineId: "p1", ownerId: null, text: "" })).toEqual({ pipelineId: "p1" });
  });

  it("shows the progress in rows", () => {
    expect(progressText({ status: "QUEUED", rowsWritten: 0, total: 10 })).toBe("Export queued…");
    expect(progressText({ status: "RUNNING", rowsWritten: 200, total: 412 })).toBe("Exporting… 200 of 412 rows");
    expect(progressText({ status: "RUNNING", rowsWritten: 200, total: null })).toBe("Exporting… 200 rows");
  });
});
