"""Each conflict strategy's decision where ``test_merge.py`` leaves it open: which side
last-write-wins picks (ERP newer, ties, missing timestamps), merge_non_empty with two
values, manual_if_different's configurable threshold, and read-only (one-way) entities."""

from datetime import UTC, datetime

import pytest

from crmhub.conflicts import ConflictPolicy, merge_three_way
from crmhub.conflicts.merge import similarity
from crmhub.models.connection import EntitySettings
from crmhub.sync.reconcile import effective_policy

EARLY = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
LATE = datetime(2026, 11, 23, 10, 35, tzinfo=UTC)
BASE, ERP, CRM = {"name": "João Silva"}, {"name": "João Silva Santos"}, {"name": "J. Silva"}


def merge(policy: ConflictPolicy, erp_at=EARLY, crm_at=LATE, base=BASE, erp=ERP, crm=CRM):
    return merge_three_way(base, erp, crm, policy, erp_updated_at=erp_at, crm_updated_at=crm_at)


# ------------------------------------------------------------------ last_write_wins


def test_last_write_wins_takes_the_erp_when_the_erp_wrote_last():
    # Given both sides renamed, the ERP later
    result = merge(ConflictPolicy(), erp_at=LATE, crm_at=EARLY)
    # Then the ERP's name goes to the CRM, and the CRM's is kept on record
    assert result.erp["name"] == result.crm["name"] == result.snapshot["name"] == "João Silva Santos"
    assert result.crm_changes == {"name": "João Silva Santos"} and result.erp_changes == {}
    assert result.decisions["name"] == "last_write_wins"
    assert result.both_changed["name"].crm == "J. Silva"


@pytest.mark.parametrize(
    ("erp_at", "crm_at", "winner"),
    [
        (EARLY, EARLY, "João Silva Santos"),  # a tie keeps the ERP (the system of record)
        (None, None, "João Silva Santos"),
        (None, EARLY, "J. Silva"),  # only the CRM's time is known
        (EARLY, None, "João Silva Santos"),
    ],
)
def test_last_write_wins_ties_and_unknown_times(erp_at, crm_at, winner):
    result = merge(ConflictPolicy(), erp_at=erp_at, crm_at=crm_at)
    assert result.erp["name"] == result.crm["name"] == winner


# ------------------------------------------------------------------ owner system wins


@pytest.mark.parametrize(("strategy", "winner"), [("erp_wins", "João Silva Santos"), ("crm_wins", "J. Silva")])
def test_owner_system_wins_whatever_the_times(strategy, winner):
    for erp_at, crm_at in ((EARLY, LATE), (LATE, EARLY)):
        result = merge(ConflictPolicy(default=strategy), erp_at=erp_at, crm_at=crm_at)
        assert result.erp["name"] == result.crm["name"] == winner
        assert result.decisions["name"] == strategy and not result.conflicts


# ------------------------------------------------------------------ merge_non_empty


def test_merge_non_empty_with_two_values_falls_back_to_the_later_write():
    policy = ConflictPolicy(default="merge_non_empty")
    newer_crm = merge(policy, erp_at=EARLY, crm_at=LATE)
    newer_erp = merge(policy, erp_at=LATE, crm_at=EARLY)
    assert newer_crm.erp["name"] == "J. Silva" and newer_erp.crm["name"] == "João Silva Santos"
    assert newer_crm.decisions["name"] == "merge_non_empty→last_write_wins"


def test_merge_non_empty_never_lets_a_blank_win_even_when_newer():
    policy = ConflictPolicy(default="merge_non_empty")
    base, erp, crm = {"email": "a@x.com"}, {"email": "b@x.com"}, {"email": ""}
    result = merge(policy, erp_at=EARLY, crm_at=LATE, base=base, erp=erp, crm=crm)
    assert result.erp["email"] == result.crm["email"] == "b@x.com"


# ------------------------------------------------------------------ manual


def test_manual_changes_nothing_on_either_side():
    result = merge(ConflictPolicy(default="manual"))
    assert result.erp_changes == {} and result.crm_changes == {}
    assert result.both_changed == {} and result.decisions["name"] == "manual"


def test_manual_for_one_field_lets_the_others_merge():
    policy = ConflictPolicy(fields={"name": "manual"})
    base = {"name": "A", "email": "a@x.com", "notes": "n"}
    erp = {"name": "B", "email": "b@x.com", "notes": "n"}
    crm = {"name": "C", "email": "a@x.com", "notes": "m"}
    result = merge(policy, base=base, erp=erp, crm=crm)
    assert [c.field for c in result.conflicts] == ["name"]
    assert result.crm_changes == {"email": "b@x.com"} and result.erp_changes == {"notes": "m"}
    assert result.snapshot == {"name": "A", "email": "b@x.com", "notes": "m"}


# ------------------------------------------------------------------ manual_if_different


@pytest.mark.parametrize(
    ("threshold", "manual"),
    [(0.0, False), (0.5, False), (0.97, True), (1.0, True)],
)
def test_manual_if_different_follows_its_threshold(threshold, manual):
    erp, crm = {"name": "Maria Aparecida Souza"}, {"name": "Maria Aparecida Sousa"}
    score = similarity(erp["name"], crm["name"])
    assert 0.5 < score < 0.97  # the pair sits between the thresholds tried
    policy = ConflictPolicy(default="manual_if_different", similarity_threshold=threshold)
    result = merge(policy, base={"name": "Maria A. Souza"}, erp=erp, crm=crm)
    assert bool(result.conflicts) is manual
    if not manual:
        assert result.erp["name"] == result.crm["name"] == "Maria Aparecida Sousa"  # the later write
        assert result.decisions["name"] == "similar→last_write_wins"


def test_manual_if_different_treats_accent_and_case_only_differences_as_equal():
    policy = ConflictPolicy(default="manual_if_different", similarity_threshold=1.0)
    result = merge(policy, base={"name": "joao"}, erp={"name": "João Silva"}, crm={"name": "JOAO SILVA"})
    assert not result.conflicts and result.erp["name"] == result.crm["name"]


# ------------------------------------------------------------------ read-only entities


def test_a_read_only_entity_never_lets_the_erp_win():
    # products flow CRM → ERP only: even a configured manual/erp_wins policy yields to the CRM
    settings = EntitySettings(direction="crm_to_erp", conflict=ConflictPolicy(default="erp_wins"))
    policy = effective_policy(settings, erp_available=True)
    result = merge(policy, erp_at=LATE, crm_at=EARLY)
    assert result.erp["name"] == "J. Silva" and result.crm_changes == {}


def test_an_erp_owned_entity_never_lets_the_crm_win():
    settings = EntitySettings(direction="erp_to_crm", conflict=ConflictPolicy(default="manual"))
    result = merge(effective_policy(settings, erp_available=True))
    assert result.crm["name"] == "João Silva Santos" and result.erp_changes == {} and not result.conflicts


def test_without_an_erp_api_the_erp_side_wins():
    settings = EntitySettings(conflict=ConflictPolicy(default="crm_wins"))
    assert effective_policy(settings, erp_available=False).default == "erp_wins"


def test_two_way_entities_keep_their_configured_policy():
    configured = ConflictPolicy(default="manual_if_different", fields={"email": "crm_wins"}, similarity_threshold=0.7)
    assert effective_policy(EntitySettings(conflict=configured), erp_available=True) == configured
