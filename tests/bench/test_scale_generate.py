"""The scale benchmark's generator (bench/scale/generate.py): deterministic, its files
mapped to fields the import knows, and its references consistent (what the benchmark's
import and bulk path rely on). No timing here: the figures are the benchmark's."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from crm_tabular.targets import TARGETS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "scale"))

from generate import COLUMNS, KINDS, STAGES, Workspace, chunks, mapping, write_csv


def test_rows_are_a_function_of_seed_workspace_and_number() -> None:
    one, again = Workspace("w", 1000), Workspace("w", 1000)
    other_seed, other_name = Workspace("w", 1000, seed=15), Workspace("v", 1000)
    for kind in KINDS:
        rows = [one.row_of(kind)(n) for n in range(50)]
        assert rows == [again.row_of(kind)(n) for n in range(50)]
        if kind != "companies":  # a company's columns are mostly its number's
            assert rows != [other_seed.row_of(kind)(n) for n in range(50)]
    assert one.deal(3) != other_name.deal(3)


def test_sizes_follow_the_deals() -> None:
    w = Workspace("w", 10_000)
    assert (w.companies, w.contacts, w.deals, w.interactions, w.tasks) == (
        1_000, 20_000, 10_000, 100_000, 30_000
    )  # fmt: skip
    assert w.total_rows() == 161_000
    assert Workspace("w", 30).companies == 10  # a floor for tiny workspaces


def test_every_column_is_a_field_of_its_import_target() -> None:
    for kind in KINDS:
        target = TARGETS[kind]
        assert mapping(kind)["target"] == kind
        for column in COLUMNS[kind]:
            assert target.field(column) is not None, (kind, column)
        assert set(target.required) <= set(COLUMNS[kind]), kind


def test_references_line_up() -> None:
    w = Workspace("w", 2_000)
    domains = {w.company(c)["domain"] for c in range(w.companies)}
    names = {w.company(c)["name"] for c in range(w.companies)}
    assert len(domains) == len(names) == w.companies  # unique identities
    emails = {w.contact(j)["email"]: j for j in range(w.contacts)}
    assert len(emails) == w.contacts
    for k in range(0, w.deals, 7):
        deal = w.deal(k)
        assert deal["company"] == w.company_name(k % w.companies)
        contact = w.deal_contact(k)
        assert contact < w.contacts and contact % w.companies == k % w.companies
    for t in range(0, w.tasks, 11):
        task = w.task(t)
        k = int(task["deal_external_id"][1:])
        assert k == t % w.deals and task["assignee_id"] == w.deal(k)["owner"]
        assert emails[task["contact_email"]] % w.companies == k % w.companies
    for i in range(0, w.interactions, 13):
        row = w.interaction(i)
        j = emails[row["contact_email"]]
        assert row["company"] == w.company_name(j % w.companies)
        k = w.interaction_deal(i)
        if k is not None:  # the interaction's deal is one of its company's
            assert k < w.deals and k % w.companies == j % w.companies


def test_stages_spread_across_the_pipeline() -> None:
    w = Workspace("w", 5_000)
    deals = [w.deal(k) for k in range(w.deals)]
    seen = Counter(d["stage"] for d in deals)
    assert set(seen) == {stage for stage, _ in STAGES}
    for stage, share in STAGES:  # within a few points of the stated share
        assert abs(seen[stage] / w.deals * 100 - share) < 3, stage
    for deal in deals:
        closed = deal["stage"] in ("won", "lost")
        assert bool(deal["close_date"]) == closed
        assert bool(deal["expected_close_date"]) != closed
        assert deal["engaged_at"] < w.anchor.isoformat()


def test_files_are_streamed_in_chunks(tmp_path: Path) -> None:
    w = Workspace("w", 100)
    parts = list(chunks(w.interactions, 300))
    assert [len(p) for p in parts] == [300, 300, 300, 100]
    path = write_csv(w, "tasks", range(10, 20), tmp_path / "tasks.csv")
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert list(rows[0]) == list(COLUMNS["tasks"])
    assert [r["external_id"] for r in rows] == [f"T{t:08d}" for t in range(10, 20)]
