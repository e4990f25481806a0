"""Employee and Team, given-when-then: given past events, when a command, then new events or an error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    EmployeeHired,
    EmployeeManagerChanged,
    EmployeeOffboarded,
    EmployeeOffboardingReasonRecorded,
    EmployeeTeamChanged,
    EmployeeTitleChanged,
    TeamCreated,
    TeamLeadAssigned,
    TeamMoved,
    TeamRenamed,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.onboarding.domain.employee import Employee, ManagerCycle
from trellis.onboarding.domain.org import Offboarded
from trellis.onboarding.domain.team import Team, TeamCycle

TENANT = "acme"
START = dt.date(2026, 3, 2)


def hired(who: str, manager: str | None = None, team: str | None = None) -> EmployeeHired:
    return EmployeeHired(
        employee_id=who,
        name=who.title(),
        email=f"{who}@acme.test",
        start_date=START,
        manager_id=manager,
        team_id=team,
    )


def employee(who: str, *events: DomainEvent, tenant: str = TENANT) -> Employee:
    return Employee.rehydrate(f"stream-{who}", tenant, [hired(who), *events])


def team(team_id: str, *events: DomainEvent, tenant: str = TENANT, parent: str | None = None) -> Team:
    return Team.rehydrate(
        team_id, tenant, [TeamCreated(team_id=team_id, name=team_id.title(), parent_team_id=parent), *events]
    )


def then(agg: Any, when: Callable[[Any], None], *expected: DomainEvent) -> None:
    when(agg)
    assert agg.pending == list(expected)


def then_raises(
    agg: Any, when: Callable[[Any], None], error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        when(agg)
    assert agg.pending == []


LEFT = EmployeeOffboarded(employee_id="olga", last_day=dt.date(2026, 6, 30))


# ---- hiring -----------------------------------------------------------------------------


def test_hiring_into_a_team_under_a_manager_records_who_where_and_for_whom() -> None:
    then(
        Employee("stream-emil", TENANT),
        lambda e: e.hire(
            employee_id="emil",
            name=" Emil ",
            email=" Emil@ACME.test ",
            title="Engineer",
            start_date=START,
            team=team("platform"),
            manager=employee("mia"),
        ),
        EmployeeHired(
            employee_id="emil",
            name="Emil",
            email="emil@acme.test",
            title="Engineer",
            start_date=START,
            team_id="platform",
            manager_id="mia",
        ),
    )


@pytest.mark.parametrize(
    "fields, error, match",
    [
        ({"name": " "}, InvalidInput, "name"),
        ({"email": "not-an-address"}, InvalidInput, "e-mail"),
        ({"manager": employee("olga", LEFT)}, Offboarded, "offboarded"),
        ({"manager": employee("mia", tenant="globex")}, NotFound, "not found"),
        ({"team": team("platform", tenant="globex")}, NotFound, "not found"),
        ({"manager": employee("emil")}, ManagerCycle, "themself"),
    ],
)
def test_hiring_is_refused_when(fields: dict[str, Any], error: type[Exception], match: str) -> None:
    values: dict[str, Any] = {
        "employee_id": "emil",
        "name": "Emil",
        "email": "emil@acme.test",
        "start_date": START,
    }
    then_raises(Employee("stream-emil", TENANT), lambda e: e.hire(**{**values, **fields}), error, match)


def test_hiring_someone_twice_is_refused() -> None:
    then_raises(
        employee("emil"),
        lambda e: e.hire(employee_id="emil", name="E", email="e@acme.test", start_date=START),
        RuleViolation,
        "exists",
    )


# ---- reporting lines --------------------------------------------------------------------


def test_changing_the_manager_records_the_previous_one() -> None:
    emil = employee("emil", EmployeeManagerChanged(employee_id="emil", manager_id="mia"))
    then(
        emil,
        lambda e: e.change_manager(employee("olga"), []),
        EmployeeManagerChanged(employee_id="emil", manager_id="olga", previous_manager_id="mia"),
    )


def test_the_same_manager_again_records_nothing() -> None:
    emil = employee("emil", EmployeeManagerChanged(employee_id="emil", manager_id="mia"))
    then(emil, lambda e: e.change_manager(employee("mia"), []))


def test_reporting_to_nobody() -> None:
    emil = employee("emil", EmployeeManagerChanged(employee_id="emil", manager_id="mia"))
    then(
        emil,
        lambda e: e.change_manager(None, []),
        EmployeeManagerChanged(employee_id="emil", manager_id=None, previous_manager_id="mia"),
    )


def test_a_manager_cycle_is_refused_at_any_depth() -> None:
    # mia reports to noah, who reports to emil: emil cannot report to mia
    then_raises(employee("emil"), lambda e: e.change_manager(employee("mia"), ["noah", "emil"]), ManagerCycle)
    # nor to themself
    then_raises(employee("emil"), lambda e: e.change_manager(employee("emil"), []), ManagerCycle)


def test_an_offboarded_manager_is_refused() -> None:
    then_raises(employee("emil"), lambda e: e.change_manager(employee("olga", LEFT), []), Offboarded)


# ---- teams, titles, offboarding ---------------------------------------------------------


def test_team_and_title_changes() -> None:
    then(
        employee("emil"),
        lambda e: e.change_team(team("platform")),
        EmployeeTeamChanged(employee_id="emil", team_id="platform", previous_team_id=None),
    )
    then(
        employee("emil"),
        lambda e: e.change_title(" Staff Engineer "),
        EmployeeTitleChanged(employee_id="emil", title="Staff Engineer", previous_title=""),
    )
    then(employee("emil"), lambda e: e.change_title(""))  # same as before: nothing


def test_nothing_about_an_offboarded_employee_changes() -> None:
    olga = employee("olga", LEFT)
    then_raises(olga, lambda e: e.change_manager(employee("mia"), []), Offboarded)
    then_raises(olga, lambda e: e.change_team(team("platform")), Offboarded)
    then_raises(olga, lambda e: e.change_title("CEO"), Offboarded)
    then_raises(olga, lambda e: e.offboard(dt.date(2026, 7, 1), "", []), Offboarded)


def test_offboarding_is_refused_while_anyone_reports_to_them() -> None:
    with pytest.raises(RuleViolation) as refused:
        employee("mia").offboard(dt.date(2026, 6, 30), "", ["emil", "ada"])
    assert refused.value.details == {"reports": ["ada", "emil"]}
    then(
        employee("mia"),
        lambda e: e.offboard(dt.date(2026, 6, 30), " moved on ", []),
        EmployeeOffboarded(employee_id="mia", last_day=dt.date(2026, 6, 30)),
        EmployeeOffboardingReasonRecorded(employee_id="mia", reason="moved on"),  # private
    )
    then(
        employee("mia"),
        lambda e: e.offboard(dt.date(2026, 6, 30), "  ", []),
        EmployeeOffboarded(employee_id="mia", last_day=dt.date(2026, 6, 30)),
    )
    then_raises(employee("mia"), lambda e: e.offboard(dt.date(2026, 1, 1), "", []), InvalidInput, "before")


# ---- teams ------------------------------------------------------------------------------


def test_creating_a_team_under_a_parent_with_a_lead() -> None:
    then(
        Team("t-api", TENANT),
        lambda t: t.create(name=" API ", parent=team("platform"), lead=employee("mia")),
        TeamCreated(team_id="t-api", name="API", parent_team_id="platform", lead_id="mia"),
    )
    then_raises(Team("t", TENANT), lambda t: t.create(name=""), InvalidInput)
    then_raises(Team("t", TENANT), lambda t: t.create(name="x", parent=team("p", tenant="globex")), NotFound)
    then_raises(Team("t", TENANT), lambda t: t.create(name="x", lead=employee("olga", LEFT)), Offboarded)


def test_renaming_moving_and_leading_a_team() -> None:
    then(
        team("api"),
        lambda t: t.rename("Public API"),
        TeamRenamed(team_id="api", name="Public API", previous_name="Api"),
    )
    then(team("api"), lambda t: t.rename("Api"))
    then(
        team("api", parent="platform"),
        lambda t: t.move(team("product"), []),
        TeamMoved(team_id="api", parent_team_id="product", previous_parent_team_id="platform"),
    )
    then(
        team("api", parent="platform"),
        lambda t: t.move(None, []),
        TeamMoved(team_id="api", parent_team_id=None, previous_parent_team_id="platform"),
    )
    then(
        team("api"), lambda t: t.assign_lead(employee("mia")), TeamLeadAssigned(team_id="api", lead_id="mia")
    )
    then(
        team("api", TeamLeadAssigned(team_id="api", lead_id="mia")),
        lambda t: t.assign_lead(None),
        TeamLeadAssigned(team_id="api", lead_id=None, previous_lead_id="mia"),
    )


def test_moving_a_team_inside_itself_is_refused() -> None:
    platform = team("platform")
    then_raises(platform, lambda t: t.move(platform, []), TeamCycle)
    # api sits under platform: platform cannot move under api
    then_raises(team("platform"), lambda t: t.move(team("api", parent="platform"), ["platform"]), TeamCycle)
