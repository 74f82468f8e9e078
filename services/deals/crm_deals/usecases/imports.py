"""Imports of deals: the owner's side of an import batch (`crm_contracts.import_batches`,
run by `crm_kit.imports.write_batch`).

Each row becomes a deal as the CLI importer makes it (`deal_rows.RowMapper`: the stage by
key or name, won and lost closing with their history, the amount in minor units, unmet
exit criteria of the stages passed recorded on the history, not refused). What the row
names elsewhere is resolved once per batch: the pipeline (id or name; default: the
workspace's default), and, from the contacts service in ONE request
(`rpc.contacts.import.references`), the company by domain or name and the contact by
email. Identity: the external id (required, as for the CLI).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.import_batches import ImportRow
from crm_kit import custom_fields as custom_field_rule
from crm_kit.errors import BadUserInput, CRMError, NotFound, ServiceUnavailable
from crm_kit.imports import Built, Key, custom_fields, ignored, moment, text, warning

from ..domain.deal import Deal
from ..domain.default_pipeline import default_pipeline, default_pipeline_id
from ..domain.money import parse_amount
from ..domain.pipeline import Pipeline
from ..store.port import ContactsDirectory, ContactsUnavailable, NamedReferences
from .deal_rows import ImportReport, Options, RowMapper
from .pipelines import ensure_default, find_pipeline, list_pipelines
from .scope import Scope

PREFIX = "row"
__all__ = ["ContactsDirectory", "DealSink", "deal_ids_by_external_ids", "undo_import"]
TEXT_FIELDS = ("external_id", "title", "owner", "product", "company", "stage", "source")
KNOWN = {
    *TEXT_FIELDS, "engaged_at", "close_date", "expected_close_date", "amount", "currency",
    "pipeline", "created_at", "company_domain", "contact_email",
}  # fmt: skip
# The mapper's row problems and warnings, by the field they concern.
FIELD_OF_KIND = {
    "missing_id": "external_id",
    "bad_stage": "stage",
    "bad_amount": "amount",
    "no_amount": "amount",
    "no_account": "company",
    "unknown_account": "company",
    "no_owner": "owner",
    "unknown_product": "product",
    "product_normalised": "product",
}


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if type(value) is str:  # the common case, ~15 times a row: no checks to make
        return value.strip()
    return text(values, name, PREFIX) or ""


def _day(values: dict[str, Any], name: str) -> str:
    """An ISO date (a date-time gives its day)."""
    text = _text(values, name)
    return text[:10] if text else ""


def _mapper_values(values: dict[str, Any]) -> dict[str, str]:
    out = {name: _text(values, name) for name in TEXT_FIELDS}
    out["engaged_at"] = _day(values, "engaged_at")
    out["close_date"] = _day(values, "close_date")
    out["amount"] = _text(values, "amount")
    out["currency"] = _text(values, "currency")
    out["company"] = " ".join(out["company"].split())
    return out


def _refusal(report: ImportReport) -> CRMError:
    issue = report.errors[0]
    field = FIELD_OF_KIND.get(issue.kind)
    if field is None:
        lowered = issue.message.lower()
        field = (
            next((f for f in ("currency", "close date", "engaged") if f in lowered), "stage")
            .replace("close date", "close_date")
            .replace("engaged", "engaged_at")
        )
    return BadUserInput(issue.message, field=f"{PREFIX}.{field}")


class DealSink:
    kind = "deal"

    def __init__(
        self,
        scope: Scope,
        job_id: str,
        directory: ContactsDirectory | None,
        *,
        default_currency: str | None,
        dry_run: bool,
    ) -> None:
        self.scope = scope
        self.job_id = job_id
        self.directory = directory
        self.options = Options({}, {}, {}, currency=default_currency or "USD", dry_run=dry_run)
        self.refs = NamedReferences()
        self.mappers: dict[str, RowMapper | CRMError] = {}

    def id_of(self, record: Deal) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        names: set[str] = set()
        domains: set[str] = set()
        emails: set[str] = set()
        for row in rows:
            values = row.values
            for name, bucket in (
                ("company", names),
                ("company_domain", domains),
                ("contact_email", emails),
            ):
                value = values.get(name)
                if isinstance(value, str) and value.strip():
                    bucket.add(" ".join(value.split()))
        if (names or domains or emails) and self.directory is not None:
            try:
                self.refs = await self.directory.references(
                    self.scope.caller, sorted(names), sorted(domains), sorted(emails)
                )
            except ContactsUnavailable as error:
                # Not a row's fault: the batch fails and is sent again (same outcomes).
                raise ServiceUnavailable(str(error)) from None
        for ref in sorted(
            {_text(row.values, "pipeline") for row in rows if "pipeline" in row.values} | {""}
        ):
            self.mappers[ref] = await self._mapper(ref)

    async def _mapper(self, ref: str) -> RowMapper | CRMError:
        try:
            pipeline = await self._pipeline(ref)
        except CRMError as error:
            return error
        return RowMapper(self.options, pipeline, self.scope.workspace_id, self.scope.now())

    async def _pipeline(self, ref: str) -> Pipeline:
        if not ref:
            if self.options.dry_run:
                # A dry run writes nothing, not even the lazily created default pipeline.
                found = await self.scope.store.get_pipeline(
                    default_pipeline_id(self.scope.workspace_id)
                )
                return found or default_pipeline(self.scope.workspace_id, self.scope.now())
            return await ensure_default(self.scope)
        found = await find_pipeline(self.scope, ref)
        if found is None:
            pipelines = (
                await self.scope.store.list_pipelines()
                if self.options.dry_run
                else await list_pipelines(self.scope)
            )
            found = next((p for p in pipelines if p.name.lower() == ref.lower()), None)
        if found is None:
            raise NotFound(f"no pipeline with id or name {ref!r}", field=f"{PREFIX}.pipeline")
        return found

    async def build(self, row: ImportRow, record_id: str) -> Built[Deal]:
        values = row.values
        mapper = self.mappers[_text(values, "pipeline")]
        if isinstance(mapper, CRMError):
            raise mapper
        report = ImportReport()
        strings = _mapper_values(values)
        companies = self.refs.company_names
        domain = " ".join(_text(values, "company_domain").split())
        by_domain = self.refs.company_domains.get(domain) if domain else None
        if by_domain is not None:
            # The domain decides (before the exit criteria are judged on the company).
            strings["company"] = strings["company"] or domain
            companies = {**companies, strings["company"]: by_domain}
        elif domain and not strings["company"]:
            report.warn(row.row, strings["external_id"], "unknown_account", f"no company {domain}")
        if not strings["external_id"].strip():
            # A first file from a spreadsheet rarely has ids: the deal gets the id an API
            # create gives (`crm:<id>`). The record id comes from (job, row), so a re-sent
            # batch still adds nothing; another import of the same file adds the rows again.
            strings["external_id"] = f"crm:{record_id}"
        deal = mapper.map_row(strings, row.row, report, companies, deal_id=record_id)
        if deal is None:
            raise _refusal(report)
        deal.import_job = self.job_id
        deal.created_by = deal.updated_by = self.scope.subject
        issues = [warning(w.kind, w.message, FIELD_OF_KIND.get(w.kind)) for w in report.warnings]
        self._contact(deal, values, issues)
        self._extras(deal, values)
        if report.rows_with_unmet_criteria:
            names = ", ".join(report.unmet_criteria)
            issues.append(
                warning(
                    "unmet_exit_criteria",
                    f"placed past exit criteria it does not meet ({names}): recorded on its "
                    "history",
                    "stage",
                )
            )
        issues.extend(ignored(values, KNOWN, "deals", custom=True))
        return Built(deal, [("external_id", deal.external_id or "")], issues)

    def _contact(self, deal: Deal, values: dict[str, Any], issues: list[Any]) -> None:
        email = " ".join(_text(values, "contact_email").split())
        if not email:
            return
        contact_id = self.refs.emails.get(email)
        if contact_id is None:
            issues.append(warning("unknown_contact", f"no contact has {email}", "contact_email"))
            return
        deal.primary_contact_id = contact_id
        deal.contact_ids = [contact_id]

    def _extras(self, deal: Deal, values: dict[str, Any]) -> None:
        expected = _day(values, "expected_close_date")
        if expected and deal.status == "open":
            deal.expected_close_date = expected
        created = moment(values, "created_at", PREFIX)
        if created is not None:
            deal.created_at = created
        deal.custom_fields.update(custom_fields(values))

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Deal]:
        found = await self.scope.store.deals_by_external_ids([v for _, v in keys])
        return {("external_id", deal.external_id or ""): deal for deal in found}

    async def update(self, existing: Deal, built: Deal, row: ImportRow, *, dry_run: bool) -> bool:
        """The fields the row holds that a deal's edit may change (title, amount, owner,
        product, source, company, contact, expected close, custom fields); the stage
        and its history are not rewritten by an update."""
        given = row.values
        changed: dict[str, Any] = {}
        for name, attribute in (
            ("title", "title"),
            ("owner", "owner_id"),
            ("product", "product"),
            ("source", "source"),
        ):
            if given.get(name) not in (None, ""):
                changed[attribute] = getattr(built, attribute)
        if given.get("amount") not in (None, ""):
            changed["amount_minor"] = parse_amount(
                _text(given, "amount"), existing.currency, f"{PREFIX}.amount"
            )
        if built.company_id and built.company_id != existing.company_id:
            changed["company_id"] = built.company_id
        if built.expected_close_date:
            changed["expected_close_date"] = built.expected_close_date
        if (
            built.custom_fields
            and {**existing.custom_fields, **built.custom_fields} != existing.custom_fields
        ):
            changed["custom_fields"] = custom_field_rule.checked(
                {**existing.custom_fields, **built.custom_fields}, f"{PREFIX}.customFields"
            )
        now, by = self.scope.now(), self.scope.subject
        if dry_run:
            return bool(copy.deepcopy(existing).revise(changed, None, at=now, by=by))
        pipeline = await self.scope.store.get_pipeline(existing.pipeline_id)
        stage = pipeline.stage(existing.stage_key) if pipeline else None

        async def change(deal: Deal) -> bool:
            return bool(deal.revise(changed, stage, at=now, by=by))

        before = existing.rev
        saved = await self.scope.store.change_deal(existing.id, change)
        return saved is not None and saved.rev != before

    def prepare_insert(self, records: Sequence[Deal], batch_id: str) -> None:
        self.scope.store.prepare_import(f"{self.scope.workspace_id}:{batch_id}", records)

    async def insert(self, records: Sequence[Deal], batch_id: str) -> list[Deal]:
        return await self.scope.store.import_deals(f"{self.scope.workspace_id}:{batch_id}", records)

    async def get(self, ids: Sequence[str]) -> list[Deal]:
        return await self.scope.store.get_deals(ids)


async def undo_import(scope: Scope, job_id: str, at: datetime | None = None) -> int:
    """Delete the deals import `job_id` created that nobody changed since (their first
    revision), with `deal.deleted` through the outbox; answers how many."""
    scope.require_write()
    now = at or scope.now()
    removed = 0

    async def delete_unchanged(deal: Deal) -> bool:
        nonlocal removed
        if deal.rev != 1 or deal.deleted:
            return False
        deal.delete(now)
        removed += 1
        return True

    for deal_id in await scope.store.imported_deal_ids(job_id):
        await scope.store.change_deal(deal_id, delete_unchanged)
    return removed


async def deal_ids_by_external_ids(scope: Scope, external_ids: Sequence[str]) -> dict[str, str]:
    """The live deals with these external ids: external id -> deal id."""
    found = await scope.store.deals_by_external_ids(list(dict.fromkeys(external_ids)))
    return {deal.external_id: deal.id for deal in found if deal.external_id}
