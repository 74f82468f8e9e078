"""The stored forms of a learned model (records: `crm_kit.records` writes them whole): the
pipeline's current model, which raises `win_model.trained` when a training stores it, and
the copy kept of every version."""

from __future__ import annotations

from dataclasses import dataclass

from crm_kit.entity import Entity

from .win_model import WinModel


@dataclass
class TrainedModel(Entity):
    """The current model of a pipeline (one per workspace and pipeline)."""

    workspace_id: str
    model: WinModel

    @property
    def id(self) -> str:
        return self.model.id

    @classmethod
    def trained(cls, model: WinModel) -> TrainedModel:
        stored = cls(model.workspace_id, model)
        stored.raise_event(WinModelTrained(model))
        return stored


@dataclass
class ModelVersion:
    """A trained model kept by version (`winModelVersions`)."""

    workspace_id: str
    model: WinModel


@dataclass(frozen=True)
class WinModelTrained:
    model: WinModel
