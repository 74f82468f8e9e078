"""Reactions to other services' events: activity, completed playbook tasks, references.

Every update here is idempotent on its own terms ($addToSet, $max, setting a flag), so a
duplicate event changes nothing even if the kit's processed-event record is lost. Each
filter carries the deal's stage: a concurrent stage change makes the write miss, and it is
retried on fresh state (the stale threshold depends on the stage).
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..domain.deal import Deal
from ..domain.win_features import INTERACTION, TASK
from ..events import publish
from ..store.protocol import DEALS, DealStore
from .context import Actor
from .pipelines import PipelineService

log = logging.getLogger(__name__)
ATTEMPTS = 5


class ActivityService:
    def __init__(self, store: DealStore, actor: Actor) -> None:
        self.store = store
        self.actor = actor
        self.pipelines = PipelineService(store, actor)

    async def _touch(
        self, deal_id: str, at: datetime | None, playbook_key: str | None, kind: str
    ) -> bool:
        for _ in range(ATTEMPTS):
            doc = await self.store.get_deal(deal_id)
            if doc is None:
                log.info("activity for unknown deal %s ignored", deal_id)
                return False
            deal = Deal.from_doc(doc)
            update: dict[str, dict] = {}
            if playbook_key:
                update["$addToSet"] = {"completed_playbook_keys": playbook_key}
            if at is not None:
                # The win model counts recent activity from this log ($addToSet: a
                # redelivered event adds nothing).
                update.setdefault("$addToSet", {})["activity_log"] = {"at": at, "kind": kind}
                if deal.last_activity_at is None or at > deal.last_activity_at:
                    deal.last_activity_at = at
                pipeline = await self.pipelines.find(deal.pipeline_id)
                stage = (
                    pipeline.stage_at(deal.pipeline_version, deal.stage_key) if pipeline else None
                )
                update["$max"] = {"last_activity_at": at}
                stale_at = deal.compute_stale_at(stage)
                if stale_at is not None:
                    update["$max"]["stale_at"] = stale_at
            if not update:
                return True
            expected = {"stage_key": deal.stage_key, "pipeline_version": deal.pipeline_version}
            if await self.store.update_deal(deal.id, expected, update, []):
                return True
        raise RuntimeError(f"deal {deal_id} kept changing; activity will be retried")

    async def task_completed(self, deal_id: str, template_key: str | None, at: datetime) -> bool:
        """A completed task of the deal: its playbook key (if any) and last activity."""
        return await self._touch(deal_id, at, template_key, TASK)

    async def interaction_logged(
        self, deal_id: str | None, contact_ids: list[str], at: datetime
    ) -> int:
        """An interaction on a deal, or else on any open deal of its contacts."""
        if deal_id:
            return int(await self._touch(deal_id, at, None, INTERACTION))
        if not contact_ids:
            return 0
        docs = await self.store.find_deals(
            {"contact_ids": {"$in": contact_ids}, "status": "open"}, [("_id", 1)], None
        )
        touched = 0
        for doc in docs:
            touched += int(await self._touch(doc["_id"], at, None, INTERACTION))
        return touched

    async def contact_merged(self, merged_id: str, survivor_id: str) -> int:
        """Re-point every reference to the merged contact at the survivor."""
        docs = await self.store.find_deals({"contact_ids": merged_id}, [("_id", 1)], None)
        docs += [
            d
            for d in await self.store.find_deals(
                {"primary_contact_id": merged_id}, [("_id", 1)], None
            )
            if d["_id"] not in {x["_id"] for x in docs}
        ]
        changed = 0
        for doc in docs:
            deal = Deal.from_doc(doc)
            primary = (
                survivor_id if deal.primary_contact_id == merged_id else deal.primary_contact_id
            )
            ids = [survivor_id if i == merged_id else i for i in deal.contact_ids]
            deal.primary_contact_id = primary
            deal.contact_ids = list(dict.fromkeys(ids))
            fields = {"primary_contact_id": primary, "contact_ids": deal.contact_ids}
            event = publish.deal_updated(deal, ["contactIds", "primaryContactId"])
            if await self.store.update_deal(deal.id, {}, {"$set": fields}, [event]):
                changed += 1
                self.actor.notify(DEALS, deal.id)
        return changed

    async def contact_deleted(self, contact_id: str) -> int:
        docs = await self.store.find_deals({"contact_ids": contact_id}, [("_id", 1)], None)
        for doc in docs:
            await self.store.update_deal(
                doc["_id"], {}, {"$addToSet": {"deleted_contact_ids": contact_id}}, []
            )
        return len(docs)

    async def company_deleted(self, company_id: str) -> int:
        docs = await self.store.find_deals({"company_id": company_id}, [("_id", 1)], None)
        for doc in docs:
            await self.store.update_deal(doc["_id"], {}, {"$set": {"company_deleted": True}}, [])
        return len(docs)
