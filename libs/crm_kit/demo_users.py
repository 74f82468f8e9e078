"""The people of the demo workspace: who can sign in in development, and whom the demo data
and the default playbooks name.

Ids follow the demo dataset's convention (the slug of the person's name, as the deal and
team importers make them), so the sales people here own imported deals and belong to the
imported teams. The default pipeline's playbooks name `legal-counsel` and the teams
`solutions-engineering` and `deal-desk`; the tasks demo creates those teams with the
members listed here. A development convenience only: production identities come from the
organisation's identity provider.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoUser:
    id: str
    name: str
    roles: tuple[str, ...]
    title: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Avery Quinn", ("admin",), "Workspace administrator"),
    DemoUser("melvin-marxen", "Melvin Marxen", ("manager",), "Sales manager, Central"),
    DemoUser("darcel-schlecht", "Darcel Schlecht", ("rep",), "Account executive, Central"),
    DemoUser("gladys-colclough", "Gladys Colclough", ("rep",), "Account executive, Central"),
    DemoUser("viewer", "Val Rivera", ("viewer",), "Finance (read only)"),
    DemoUser("legal-counsel", "Lena Ortiz", ("rep",), "Legal counsel"),
    DemoUser("priya-raman", "Priya Raman", ("rep",), "Solutions engineer"),
    DemoUser("tom-okafor", "Tom Okafor", ("rep",), "Solutions engineer"),
    DemoUser("dana-whitfield", "Dana Whitfield", ("rep",), "Deal desk"),
)

# Teams the default playbooks assign to, by id: (id, name, member ids, manager id).
DEMO_SUPPORT_TEAMS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("solutions-engineering", "Solutions engineering", ("priya-raman", "tom-okafor"), "admin"),
    ("deal-desk", "Deal desk", ("dana-whitfield",), "admin"),
)


def demo_user(user_id: str) -> DemoUser | None:
    return next((user for user in DEMO_USERS if user.id == user_id), None)
