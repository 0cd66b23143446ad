"""Leases mode's pure decisions: expiry on our own clock, fair share, takes before steals."""

from __future__ import annotations

from kvs_pool.pool.balance import Lease, Observer, plan_round


def _leases(owners: dict[str, int]) -> list[Lease]:
    out, index = [], 0
    for owner, count in owners.items():
        for _ in range(count):
            out.append(Lease(f"c{index}", owner, 7))
            index += 1
    return out


def test_observer_expires_only_an_unchanged_counter() -> None:
    seen = Observer(lease_s=10)
    seen.update("a", 1, now=100.0)
    assert not seen.stale("a", 109.0) and seen.stale("a", 110.5)
    seen.update("a", 2, now=110.5)           # renewed: the clock restarts
    assert not seen.stale("a", 115.0)
    assert not seen.stale("never-seen", 1e9)


def test_free_and_expired_leases_are_taken_up_to_the_fair_share() -> None:
    leases = [Lease("new1"), Lease("new2"), *_leases({"dead": 4, "b": 2})]
    decision = plan_round(leases, "a", live={"a", "b"}, expired=set())
    assert decision.target == 4 and len(decision.take) == 4 and decision.steal is None
    assert all(lease.owner in ("", "dead") for lease in decision.take)


def test_expired_counter_frees_a_lease_of_a_live_owner() -> None:
    leases = _leases({"b": 3})
    decision = plan_round(leases, "a", live={"a", "b"}, expired={"c1"})
    assert [lease.camera for lease in decision.take] == ["c1"]


def test_steals_one_from_the_most_loaded_when_nothing_is_free() -> None:
    leases = _leases({"b": 5, "c": 4, "a": 0})
    decision = plan_round(leases, "a", live={"a", "b", "c"}, expired=set())
    assert decision.take == () and decision.steal is not None and decision.steal.owner == "b"


def test_no_steal_within_one_of_balance() -> None:
    leases = _leases({"b": 4, "a": 3})
    assert plan_round(leases, "a", live={"a", "b"}, expired=set()).steal is None
    leases = _leases({"b": 4, "c": 4, "a": 2})
    assert plan_round(leases, "a", live={"a", "b", "c"}, expired=set()).steal is not None


def test_instances_racing_for_free_leases_prefer_different_ones() -> None:
    leases = [Lease(f"c{i}") for i in range(30)]
    first = {lease.camera for lease in plan_round(leases, "a", {"a", "b", "c"}, set()).take}
    second = {lease.camera for lease in plan_round(leases, "b", {"a", "b", "c"}, set()).take}
    assert len(first) == len(second) == 10 and len(first & second) < 8
