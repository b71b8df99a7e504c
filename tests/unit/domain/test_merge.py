"""Three-way merge: one-sided changes always survive; both-sided ones follow the policy."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmhub.conflicts import ConflictPolicy, merge_three_way
from crmhub.conflicts.merge import flatten, similarity, unflatten

T1030 = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
T1035 = datetime(2026, 11, 23, 10, 35, tzinfo=UTC)


def merge(base, erp, crm, policy="last_write_wins", erp_at=T1030, crm_at=T1035, **fields):
    return merge_three_way(
        base, erp, crm, ConflictPolicy(default=policy, fields=fields), erp_updated_at=erp_at, crm_updated_at=crm_at
    )


def test_each_side_keeps_its_own_change_no_data_loss():
    # ERP changed the e-mail, the CRM changed the name: both survive on both sides
    result = merge({"name": "A", "email": "a@x"}, {"name": "A", "email": "b@x"}, {"name": "B", "email": "a@x"})
    assert result.erp == result.crm == result.snapshot == {"name": "B", "email": "b@x"}
    assert result.erp_changes == {"name": "B"} and result.crm_changes == {"email": "b@x"}
    assert not result.conflicts and not result.both_changed


def test_seed_scenario_last_write_wins_keeps_the_loser_on_record():
    # ERP renames at 10:30, CRM renames at 10:35, import at 10:40
    result = merge({"name": "João Silva"}, {"name": "João Silva Santos"}, {"name": "J. Silva"})
    assert result.erp["name"] == result.crm["name"] == "J. Silva"
    lost = result.both_changed["name"]
    assert (lost.base, lost.erp, lost.crm) == ("João Silva", "João Silva Santos", "J. Silva")


@pytest.mark.parametrize(("policy", "expected"), [("erp_wins", "João Silva Santos"), ("crm_wins", "J. Silva")])
def test_owner_system_wins(policy, expected):
    result = merge({"name": "João Silva"}, {"name": "João Silva Santos"}, {"name": "J. Silva"}, policy)
    assert result.erp["name"] == result.crm["name"] == expected


def test_manual_keeps_both_values_in_place_and_reports_the_conflict():
    result = merge({"name": "João Silva"}, {"name": "João Silva Santos"}, {"name": "J. Silva"}, "manual")
    assert result.erp["name"] == "João Silva Santos" and result.crm["name"] == "J. Silva"
    assert result.snapshot["name"] == "João Silva"  # still the base: the conflict stays visible
    [conflict] = result.conflicts
    assert (conflict.field, conflict.base, conflict.erp, conflict.crm) == (
        "name",
        "João Silva",
        "João Silva Santos",
        "J. Silva",
    )


def test_manual_if_different_uses_similarity():
    similar = merge({"name": "Jose Silva"}, {"name": "José Silva"}, {"name": "JOSE SILVA "}, "manual_if_different")
    assert not similar.conflicts and similar.erp["name"] == similar.crm["name"]
    different = merge(
        {"name": "João Silva"}, {"name": "João Silva Santos"}, {"name": "J. Silva"}, "manual_if_different"
    )
    assert [c.field for c in different.conflicts] == ["name"]


def test_merge_non_empty_prefers_a_value_over_a_blank():
    result = merge({"phone": "1"}, {"phone": ""}, {"phone": "2"}, "merge_non_empty")
    assert result.erp["phone"] == "2"
    result = merge({"phone": "1"}, {"phone": "3"}, {"phone": None}, "merge_non_empty")
    assert result.crm["phone"] == "3"


def test_per_field_override_and_nested_fields():
    base = flatten({"name": "A", "address": {"city": "X", "zip": "1"}})
    erp = flatten({"name": "B", "address": {"city": "Y", "zip": "1"}})
    crm = flatten({"name": "C", "address": {"city": "Z", "zip": "2"}})
    result = merge(base, erp, crm, "crm_wins", name="erp_wins")
    assert unflatten(result.snapshot) == {"name": "B", "address": {"city": "Z", "zip": "2"}}


def test_first_link_without_a_base_treats_differences_as_both_sided():
    result = merge(None, {"name": "A"}, {"name": "B"}, "manual")
    assert [c.field for c in result.conflicts] == ["name"]


def test_open_conflicts_are_left_alone():
    result = merge_three_way(
        {"name": "A"},
        {"name": "B"},
        {"name": "C"},
        ConflictPolicy(),
        erp_updated_at=T1030,
        crm_updated_at=T1035,
        keep_open={"name"},
    )
    assert result.erp["name"] == "B" and result.crm["name"] == "C" and not result.conflicts


def test_similarity_is_accent_and_case_insensitive():
    assert similarity("JOÃO", "joao") == 1.0 and similarity("abc", "xyz") < 0.5


values = st.one_of(st.none(), st.text(max_size=3))
records = st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=200)
@given(records, records, records, st.sampled_from(["last_write_wins", "crm_wins", "erp_wins", "merge_non_empty"]))
def test_automatic_policies_always_converge(base, erp, crm, policy):
    result = merge(base, erp, crm, policy)
    assert result.conflicts == []
    for field in set(erp) | set(crm):
        assert (
            (result.erp.get(field) or None) == (result.crm.get(field) or None) == (result.snapshot.get(field) or None)
        )


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=200)
@given(records, records)
def test_a_one_sided_change_is_never_lost(base, erp):
    result = merge(base, erp, dict(base), "crm_wins")
    for field, value in erp.items():
        assert (result.crm.get(field) or None) == (value or None)
