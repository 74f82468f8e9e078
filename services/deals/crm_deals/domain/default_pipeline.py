"""The pipeline every workspace starts with (documented stage by stage in the README).

`prospecting` and `engaging` are the open stages of the shared demo dataset, so imported
deals land on stages that exist. Each exit criterion and playbook task is there because a
B2B hardware sale stalls without it; the README says why for each one.
"""

from __future__ import annotations

from datetime import datetime

from .pipeline import (
    AssigneeRule,
    ExitCriteria,
    Pipeline,
    Stage,
    TaskTemplate,
    build_stages,
)

DEFAULT_NAME = "Sales pipeline"


def default_pipeline_id(workspace_id: str) -> str:
    """Deterministic, so concurrent first accesses insert the same document once."""
    return f"{workspace_id}:default"


def default_open_stages() -> list[Stage]:
    return [
        Stage(
            key="prospecting",
            name="Prospecting",
            probability=10,
            forecast_category="pipeline",
            rotting_days=14,
            description="A possible buyer is identified; nobody has talked to them yet.",
            exit_criteria=ExitCriteria(required_fields=("company",)),
            # No playbook: prospects arrive in bulk (imports, marketing); tasks start once
            # someone decides a prospect is worth qualifying.
        ),
        Stage(
            key="qualification",
            name="Qualification",
            probability=25,
            forecast_category="pipeline",
            rotting_days=21,
            description="First conversation: budget, authority, need and timing (BANT).",
            exit_criteria=ExitCriteria(
                required_fields=("expectedCloseDate",),
                playbook_keys=("discovery_call",),
                primary_contact_required=True,
            ),
            playbook=(
                TaskTemplate(
                    key="discovery_call",
                    title="Discovery call with the buyer",
                    type="call",
                    due_offset_days=3,
                ),
            ),
        ),
        Stage(
            key="engaging",
            name="Engaging",
            probability=40,
            forecast_category="best_case",
            rotting_days=30,
            description="The buyer evaluates the product: demo, technical questions.",
            exit_criteria=ExitCriteria(playbook_keys=("product_demo",)),
            playbook=(
                TaskTemplate(
                    key="product_demo",
                    title="Run the product demo",
                    type="meeting",
                    due_offset_days=5,
                ),
                TaskTemplate(
                    key="technical_review",
                    title="Technical review with a solutions engineer",
                    type="meeting",
                    due_offset_days=7,
                    assignee=AssigneeRule(rule="team", team_id="solutions-engineering"),
                ),
            ),
        ),
        Stage(
            key="proposal",
            name="Proposal",
            probability=60,
            forecast_category="best_case",
            rotting_days=21,
            description="A priced proposal is with the buyer.",
            exit_criteria=ExitCriteria(
                required_fields=("amount", "nextStep"), playbook_keys=("send_proposal",)
            ),
            playbook=(
                TaskTemplate(
                    key="send_proposal",
                    title="Send the proposal and pricing",
                    type="email",
                    due_offset_days=2,
                ),
                TaskTemplate(
                    key="pricing_approval",
                    title="Get discount approval from the deal desk",
                    type="todo",
                    due_offset_days=3,
                    assignee=AssigneeRule(rule="team", team_id="deal-desk"),
                ),
            ),
        ),
        Stage(
            key="negotiation",
            name="Negotiation",
            probability=80,
            forecast_category="commit",
            rotting_days=14,
            description="Terms and contract are being negotiated.",
            exit_criteria=ExitCriteria(
                required_fields=("expectedCloseDate",), primary_contact_required=True
            ),
            playbook=(
                TaskTemplate(
                    key="legal_review",
                    title="Legal review of the contract",
                    type="todo",
                    due_offset_days=5,
                    assignee=AssigneeRule(rule="user", user_id="legal-counsel"),
                ),
            ),
        ),
    ]


def default_pipeline(workspace_id: str, at: datetime) -> Pipeline:
    return Pipeline(
        id=default_pipeline_id(workspace_id),
        workspace_id=workspace_id,
        name=DEFAULT_NAME,
        version=1,
        stages=build_stages(default_open_stages()),
        currency="USD",
        is_default=True,
        created_at=at,
        updated_at=at,
        updated_by="system",
    )
