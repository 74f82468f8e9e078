"""Imports of companies, contacts and interactions: the owner's side of an import batch
(`crm_contracts.import_batches`, run by `crm_kit.imports.write_batch`).

A batch's rows are mapped values by crm_tabular's target field names. Each record type is
a sink: it builds the record with the same validation as the GraphQL create (errors name
the mapped field), says its identity keys (external id, domain for a company, email for a
contact) and writes new records together, in one statement per batch.

References are resolved once per batch: a contact's company by domain, else by name; when
none exists the company is created with the contact (as HubSpot does) and the row says so
in a `company_created` warning. A created company's id derives from the job and its
domain or name, so rows of later batches, and a batch sent again, find the same one.
"""

from .companies import CompanyResolver, CompanySink
from .contacts import ContactSink
from .interactions import InteractionSink
from .undo import undo_import

__all__ = ["CompanyResolver", "CompanySink", "ContactSink", "InteractionSink", "undo_import"]
