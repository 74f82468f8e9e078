"""A service's inbound events, registered by type: contract payload model -> handler.

A `Subscription` is one durable consumer. Its handlers are registered with the payload
model they take; the subjects come from the event catalogue (`crm_contracts.catalogue`:
every subject whose payload is that model, or the `subjects` named), and so does the
stream (the subjects' owner's). A handler gets a `Delivery[Model]`: the payload already
validated against the model, and the envelope. Nothing is looked up by a name a typo
could break: an unknown model or a subject of another payload fails at registration.

    async def merged(delivery: Delivery[contacts.ContactMerged]) -> None: ...

    inbound = Subscription("deals-contacts-sync")
    inbound.on(contacts.ContactMerged, merged)
    inbound.on(deals.DealClosed, won, subjects=[deals.DEAL_WON])
    await inbound.start(runtime)

An event without a workspace, or whose payload does not validate, can never be handled:
it is dead-lettered at once (`PermanentFailure`) with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import ValidationError

from crm_contracts.base import Payload
from crm_contracts.catalogue import CATALOGUE
from crm_contracts.envelope import CloudEvent, service_of
from crm_contracts.streams import StreamSpec, stream_for

from .consumer import PermanentFailure
from .gathering import Gathering

M = TypeVar("M", bound=Payload)


@dataclass(frozen=True)
class Delivery(Generic[M]):
    payload: M
    event: CloudEvent

    @property
    def workspace(self) -> str:
        return self.event.workspace


@dataclass(frozen=True)
class _Route:
    model: type[Payload]
    handler: Callable[[Delivery[Any]], Awaitable[None]]


def subjects_of(model: type[Payload]) -> list[str]:
    """Every catalogued subject whose payload is `model`."""
    return sorted(subject for subject, payload in CATALOGUE.items() if payload is model)


class ConsumerRuntime(Protocol):
    """What `Subscription.start` needs of the runtime (`crm_kit.runtime.ServiceRuntime`)."""

    async def consume(
        self,
        *,
        durable: str,
        source: StreamSpec,
        subjects: Iterable[str],
        handler: Callable[[CloudEvent], Awaitable[None]],
        record_processed: bool = True,
        batch_handler: Callable[[list[CloudEvent]], Awaitable[None]] | None = None,
        fetch: int | None = None,
        gather: int = 1,
        gathering: Gathering | None = None,
    ) -> Any: ...


@dataclass
class Subscription:
    """One durable consumer and its typed handlers. `record_processed=False` only when
    every handler is idempotent on natural keys alone (see `crm_kit.consumer`); `workers`
    pullers per process share the durable (the kit handles one message at a time per
    puller, so several are several in-process replicas of the consumer). Several pullers
    fetch one event at a time: each holds only what it is working on, so a backlog (after
    a restart) is shared among them; a puller that fetched the usual 32 handled them one
    after another while the others idled (the chaos suite saw playbook tasks 10 s late)."""

    durable: str
    record_processed: bool = True
    workers: int = 1
    # The typed deliveries of one fetch at once (one bulk write for a burst, e.g. an
    # import's thousands of `company.created`); each is handled alone by its handler if
    # this fails. Only with `record_processed=False` (idempotent on natural keys).
    batch: Callable[[list[Delivery[Any]]], Awaitable[None]] | None = None
    # With `batch` and several pullers: each puller takes what is waiting, up to `gather`
    # events, in one pull (at least one: the pull ends as soon as there is any), and hands
    # them to `batch` together (a puller still holds only what it works on; a burst is
    # written a few at a time).
    gather: int = 1
    # With `batch`: seconds a puller whose turn it is to pull keeps gathering after its
    # first event (0: none; `crm_kit.gathering`). The process's pullers of the durable then
    # pull in turns, so that a steady trickle makes batches of a few events, not of one.
    gather_window: float = 0.0
    # With `batch` and one puller: events taken per fetch (None: the kit's 32). A burst
    # (an import's thousand `company.created` a batch) then costs one bulk write and one
    # read of what the handler needs per `fetch` events, not per 32.
    fetch: int | None = None
    _routes: dict[str, _Route] = field(default_factory=dict, init=False)

    def on(
        self,
        model: type[M],
        handler: Callable[[Delivery[M]], Awaitable[None]],
        *,
        subjects: Sequence[str] | None = None,
    ) -> Subscription:
        chosen = list(subjects) if subjects is not None else subjects_of(model)
        if not chosen:
            raise ValueError(f"no catalogued subject carries {model.__name__}")
        for subject in chosen:
            if CATALOGUE.get(subject) is not model:
                raise ValueError(f"{subject} does not carry {model.__name__}")
            if subject in self._routes:
                raise ValueError(f"{subject} has a handler in {self.durable} already")
        owners = {service_of(subject) for subject in [*self._routes, *chosen]}
        if len(owners) > 1:
            raise ValueError(f"{self.durable}: one consumer reads one stream, not {owners}")
        for subject in chosen:
            self._routes[subject] = _Route(model, handler)
        return self

    @property
    def subjects(self) -> list[str]:
        return sorted(self._routes)

    @property
    def source(self) -> StreamSpec:
        if not self._routes:
            raise ValueError(f"{self.durable} has no handler")
        return stream_for(service_of(next(iter(self._routes))))

    async def handle(self, event: CloudEvent) -> None:
        """The consumer's handler: route by the event's type to the typed handler."""
        route = self._routes.get(event.type)
        if route is None:
            return  # not ours (the consumer's filter delivers only our subjects)
        if not event.workspace:
            raise PermanentFailure(f"{event.type}: event has no workspace")
        try:
            payload = route.model.model_validate(event.data)
        except ValidationError as error:
            raise PermanentFailure(f"{event.type}: invalid payload: {error}") from error
        await route.handler(Delivery(payload, event))

    async def handle_batch(self, events: list[CloudEvent]) -> None:
        """The batch handler's deliveries (an invalid event fails the batch: each event is
        then handled alone, and that one dead-lettered)."""
        assert self.batch is not None
        deliveries = []
        for event in events:
            route = self._routes.get(event.type)
            if route is None:
                continue
            if not event.workspace:
                raise PermanentFailure(f"{event.type}: event has no workspace")
            deliveries.append(Delivery(route.model.model_validate(event.data), event))
        await self.batch(deliveries)

    async def start(self, runtime: ConsumerRuntime) -> None:
        together: dict[str, Any] = {}
        if self.batch is not None:
            together["batch_handler"] = self.handle_batch
        if self.workers > 1:
            together["fetch"] = 1
            if self.batch is not None and self.gather > 1:
                together["gather"] = self.gather
        elif self.batch is not None and self.fetch is not None:
            together["fetch"] = self.fetch
        if self.batch is not None and self.gather_window > 0:
            # One for all the pullers started here: their turn to pull.
            together["gathering"] = Gathering(self.gather_window)
        for _ in range(max(1, self.workers)):
            await runtime.consume(
                durable=self.durable,
                source=self.source,
                subjects=self.subjects,
                handler=self.handle,
                record_processed=self.record_processed,
                **together,
            )
