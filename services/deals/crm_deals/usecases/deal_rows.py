"""Deals from mapped import rows: one row -> one deal with its history, as the source says
it happened (the CLI importer and the import batch endpoint share it).

Exit criteria: an import is a history record (the source says where each deal was), so a
row is never refused for them. The criteria of every open stage a deal has passed (the
stages before its own; every open stage for a closed deal) are checked, and the unmet ones
are recorded on its `import` history entry as `overridden` and counted in the report
(`rowsWithUnmetCriteria`, `unmetCriteria` by criterion).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from crm_kit.errors import CRMError
from crm_kit.ids import new_id

from ..domain.deal import (
    FIELD_CHECKS,
    OPEN,
    Deal,
    StageChange,
    criteria_names,
    seconds_between,
    unmet_before,
)
from ..domain.money import parse_amount, validate_currency
from ..domain.pipeline import LOST, WON, Pipeline, Stage

DEFAULT_STAGE_MAP = {"won": WON, "lost": LOST, "closed won": WON, "closed lost": LOST}
LOST_REASON = "not recorded in the imported source"
BATCH = 500


# A file's owners and products repeat from row to row: each text's answer remembered.
@lru_cache(maxsize=4096)
def slug(name: str) -> str:
    """`Darcel Schlecht` -> `darcel-schlecht` (owners are user ids)."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


@lru_cache(maxsize=4096)
def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass
class Issue:
    row: int  # 1-based data row (the header is row 0)
    external_id: str | None
    message: str
    kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "externalId": self.external_id,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    inserted: int = 0
    skipped_existing: int = 0
    duplicate_rows: int = 0
    duplicate_groups: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    # Valid rows placed past exit criteria they do not meet (recorded on their history).
    rows_with_unmet_criteria: int = 0
    unmet_criteria: dict[str, int] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    dry_run: bool = False

    def warn(self, row: int, ext: str | None, kind: str, message: str) -> None:
        self.warnings.append(Issue(row, ext, message, kind))

    def as_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for w in self.warnings:
            kinds[w.kind] = kinds.get(w.kind, 0) + 1
        return {
            "rows": self.rows,
            "valid": self.valid,
            "inserted": self.inserted,
            "skippedExisting": self.skipped_existing,
            "duplicateRows": self.duplicate_rows,
            "duplicateGroups": self.duplicate_groups,
            "byStage": self.by_stage,
            "rowsWithUnmetCriteria": self.rows_with_unmet_criteria,
            "unmetCriteria": self.unmet_criteria,
            "warningsByKind": kinds,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "dryRun": self.dry_run,
        }


@dataclass
class Options:
    column_map: dict[str, str]
    stage_map: dict[str, str]
    prices: dict[str, str]  # canonical product name -> list price (decimal string)
    currency: str = "USD"
    pipeline_id: str | None = None
    source_name: str = "import"
    dry_run: bool = False
    batch: int = BATCH
    spread_expected_close_months: int = 0
    date_shift_days: int = 0


def spread_close_date(external_id: str, now: datetime, months: int) -> str:
    """A date in the `months` months after `now`'s month, fixed by the external id (a hash,
    so re-runs and replicas agree): 1..months months ahead, any day of that month."""
    digest = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big")
    ahead = 1 + digest % months
    year, month = divmod(now.month - 1 + ahead, 12)
    year, month = now.year + year, month + 1
    day = 1 + (digest // months) % calendar.monthrange(year, month)[1]
    return date(year, month, day).isoformat()


def _parse_date(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    return _midnight(text)


@lru_cache(maxsize=4096)
def _midnight(text: str) -> datetime:
    # A file's dates repeat from row to row (a datetime is immutable: shared safely).
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


class RowRefused(Exception):
    """A row that cannot become a deal: reported as a row error of `kind`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Row:
    """One CSV row being mapped: its values (by field), number and external id."""

    values: dict[str, str]
    number: int
    external_id: str
    report: ImportReport

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def warn(self, kind: str, message: str) -> None:
        self.report.warn(self.number, self.external_id, kind, message)


@dataclass(frozen=True)
class Dates:
    engaged_at: datetime | None
    closed_at: datetime | None


class RowMapper:
    """Turns CSV rows into deals, one small step per concern; every problem becomes a row
    error (`RowRefused`) or a warning."""

    def __init__(self, options: Options, pipeline: Pipeline, workspace: str, now: datetime) -> None:
        self.o = options
        self.pipeline = pipeline
        self.workspace = workspace
        self.now = now
        self.products = {_squash(name): name for name in options.prices}
        self.stages: dict[str, str] = {}
        for stage in pipeline.stages:
            self.stages[stage.key.lower()] = stage.key
            self.stages[stage.name.lower()] = stage.key
        self.stages.update({k.lower(): v for k, v in DEFAULT_STAGE_MAP.items()})
        self.stages.update({k.lower(): v for k, v in options.stage_map.items()})
        # The unmet criteria's names by what they follow from (`_unmet_names`).
        self._unmet: dict[tuple[Any, ...], list[str]] = {}

    def map_row(
        self,
        values: dict[str, str],
        row: int,
        report: ImportReport,
        companies: dict[str, str],
        *,
        deal_id: str | None = None,
    ) -> Deal | None:
        """The deal of one row (None: refused, the reason in `report`); `deal_id`: its id
        (an import job's is derived from the job and row), else a new one."""
        ext = values.get("external_id", "").strip()
        if not ext:
            report.errors.append(Issue(row, None, "missing external id", "missing_id"))
            return None
        mapped = Row(values, row, ext, report)
        try:
            return self._deal(mapped, companies, deal_id or new_id())
        except RowRefused as refused:
            report.errors.append(Issue(row, ext, refused.message, refused.kind))
            return None

    def _deal(self, row: Row, companies: dict[str, str], deal_id: str) -> Deal:
        stage = self._stage(row)
        currency, dates = self._currency_and_dates(row)
        status = stage.key if stage.terminal else OPEN
        if status != OPEN and dates.closed_at is None:
            raise RowRefused("bad_value", f"{row.get('stage')} deal without a close date")
        product = self.product(row.get("product"), row.report, row.number, row.external_id)
        custom: dict[str, Any] = {}
        amount = self._amount(row, status, currency, product, custom)
        account = " ".join(row.get("company").split())
        company_id = self._company(row, account, companies)
        owner = self._owner(row)
        title = row.get("title") or " ".join(
            part for part in (product or "Deal", f"for {account}" if account else "") if part
        )
        closed_at = dates.closed_at if status != OPEN else None
        entered = (closed_at or dates.engaged_at) or self.now
        expected_close = None
        if status == OPEN and self.o.spread_expected_close_months > 0:
            expected_close = spread_close_date(
                row.external_id, self.now, self.o.spread_expected_close_months
            )
        deal = Deal(
            id=deal_id,
            workspace_id=self.workspace,
            title=title[:200],
            amount_minor=amount,
            currency=currency,
            pipeline_id=self.pipeline.id,
            pipeline_version=self.pipeline.version,
            stage_key=stage.key,
            stage_probability=stage.probability,
            forecast_category=stage.forecast_category,
            status=status,
            owner_id=owner,
            company_id=company_id,
            product=product,
            source=row.get("source") or self.o.source_name,
            lost_reason=LOST_REASON if status == LOST else None,
            closed_at=closed_at,
            expected_close_date=expected_close,
            custom_fields=custom,
            stage_entered_at=entered,
            last_activity_at=dates.closed_at or dates.engaged_at,
            external_id=row.external_id,
            created_at=dates.engaged_at or self.now,
            created_by="import",
            updated_at=self.now,
            updated_by="import",
        )
        deal.stage_history = self._history(deal, dates.engaged_at, dates.closed_at)
        self._audit_criteria(deal, stage, row.report)
        return deal.imported(stage)

    def _audit_criteria(self, deal: Deal, stage: Stage, report: ImportReport) -> None:
        """History is imported as it happened: criteria it skipped are recorded, not
        enforced (see the module's docstring)."""
        overridden = self._unmet_names(deal, stage)
        if not overridden:
            return
        deal.stage_history[-1].overridden = overridden
        report.rows_with_unmet_criteria += 1
        for name in overridden:
            report.unmet_criteria[name] = report.unmet_criteria.get(name, 0) + 1

    def _unmet_names(self, deal: Deal, stage: Stage) -> list[str]:
        """`criteria_names(unmet_before(deal, self.pipeline, stage))`, remembered by all it
        follows from: the stage, the deal's pipeline version, which field checks it meets
        (`FIELD_CHECKS`), whether it has a primary contact, its completed playbook tasks.
        A file's rows repeat a few of these; judging each row against every stage it
        passed was ~10 % of building it (tested: the same names as judged afresh)."""
        key = (
            stage.key,
            deal.pipeline_version,
            tuple(check(deal) for _, check in FIELD_CHECKS.values()),
            bool(deal.primary_contact_id)
            and deal.primary_contact_id not in deal.deleted_contact_ids,
            tuple(deal.completed_playbook_keys),
        )
        names = self._unmet.get(key)
        if names is None:
            names = self._unmet[key] = criteria_names(unmet_before(deal, self.pipeline, stage))
        return list(names)

    def _stage(self, row: Row) -> Stage:
        raw = row.get("stage")
        key = self.stages.get(raw.lower())
        stage = self.pipeline.stage(key) if key else None
        if stage is None:
            raise RowRefused("bad_stage", f"unknown stage {raw!r} (use --stage-map)")
        return stage

    def _date(self, text: str) -> datetime | None:
        parsed = _parse_date(text)
        if parsed is None or not self.o.date_shift_days:
            return parsed
        return parsed + timedelta(days=self.o.date_shift_days)

    def _currency_and_dates(self, row: Row) -> tuple[str, Dates]:
        try:
            currency = validate_currency(row.get("currency") or self.o.currency, "currency")
            dates = Dates(self._date(row.get("engaged_at")), self._date(row.get("close_date")))
        except (ValueError, CRMError) as error:
            raise RowRefused("bad_value", str(error)) from None
        return currency, dates

    def _amount(
        self, row: Row, status: str, currency: str, product: str | None, custom: dict[str, Any]
    ) -> int:
        raw = row.get("amount")
        price = self.o.prices.get(product or "", "")
        try:
            if status == LOST and raw in ("0", "0.00", ""):
                # The source writes 0 for lost deals: the value at stake is the list price.
                custom["closeValue"] = raw or None
                return parse_amount(price or "0", currency, "amount")
            if raw and (status != OPEN or raw != "0"):
                return parse_amount(raw, currency, "amount")
            if price:
                return parse_amount(price, currency, "amount")
        except CRMError as error:
            raise RowRefused("bad_amount", error.message) from None
        row.warn("no_amount", "no amount and no list price: amount 0")
        return 0

    def _company(self, row: Row, account: str, companies: dict[str, str]) -> str | None:
        company_id = companies.get(account) if account else None
        if not account:
            row.warn("no_account", "no account: imported without a company")
        elif company_id is None:
            row.warn("unknown_account", f"account {account!r} not found in contacts")
        return company_id

    def _owner(self, row: Row) -> str | None:
        owner = slug(row.get("owner")) or None
        if owner is None:
            row.warn("no_owner", "no sales agent: imported without an owner")
        return owner

    def product(self, raw: str, report: ImportReport, row: int, ext: str) -> str | None:
        text = " ".join(raw.split())
        if not text:
            return None
        canonical = self.products.get(_squash(text))
        if canonical is None:
            if self.products:
                report.warn(row, ext, "unknown_product", f"product {text!r} not in the price list")
            return text
        if canonical != text:
            report.warn(row, ext, "product_normalised", f"product {text!r} -> {canonical!r}")
        return canonical

    def _history(
        self, deal: Deal, engaged_at: datetime | None, close_date: datetime | None
    ) -> list[StageChange]:
        def change(src: str | None, dst: str, at: datetime, seconds: int | None) -> StageChange:
            return StageChange(
                id=new_id(),
                from_stage=src,
                to_stage=dst,
                at=at,
                by="import",
                seconds_in_from_stage=seconds,
                pipeline_id=self.pipeline.id,
                pipeline_version=self.pipeline.version,
                kind="import",
            )

        if deal.status == OPEN:
            return [change(None, deal.stage_key, engaged_at or self.now, None)]
        # Closed deals in the source were engaged, then closed: keep both steps and dates.
        history = []
        if engaged_at is not None:
            history.append(change(None, "engaging", engaged_at, None))
        assert close_date is not None
        history.append(
            change(
                "engaging" if engaged_at else None,
                deal.stage_key,
                close_date,
                seconds_between(engaged_at, close_date),
            )
        )
        return history
