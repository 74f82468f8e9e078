"""The demo workspace tells a consistent story: the default playbooks assign to teams and
users the demo creates, and the demo users cover every role the web sign-in offers."""

from __future__ import annotations

from crm_deals.domain.default_pipeline import default_open_stages
from crm_kit.context import ROLES
from crm_kit.demo_users import DEMO_SUPPORT_TEAMS, DEMO_USERS


def test_default_playbooks_name_demo_teams_and_users() -> None:
    teams = {team_id for team_id, *_ in DEMO_SUPPORT_TEAMS}
    people = {user.id for user in DEMO_USERS}
    named = 0
    for stage in default_open_stages():
        for template in stage.playbook:
            rule = template.assignee
            if rule.rule == "team":
                assert rule.team_id in teams, rule.team_id
                named += 1
            elif rule.rule == "user":
                assert rule.user_id in people, rule.user_id
                named += 1
    assert named >= 3
    for _, _, members, manager in DEMO_SUPPORT_TEAMS:
        assert set(members) | {manager} <= people


def test_demo_users_have_names_and_cover_the_roles() -> None:
    roles = [role for user in DEMO_USERS for role in user.roles]
    assert set(roles) == set(ROLES)
    assert roles.count("rep") >= 2
    assert len({user.id for user in DEMO_USERS}) == len(DEMO_USERS)
    assert all(user.name and user.name.lower() != user.id for user in DEMO_USERS)
