"""LeaseAssignment against a real DynamoDB (moto's server behind the emulator), with a clock
passed in: joins steal towards the fair share, a stolen lease is dropped at the next renewal,
an instance that cannot reach the table fences itself, close() releases everything."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from instances import ENV, emulator

from kvs_pool.pool.leases import LeaseTable, LeaseTableError, create_table
from kvs_pool.pool.leasing import LeaseAssignment

LEASE_S = 3.0
CAMERAS = tuple(f"c{i}" for i in range(6))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint(monkeypatch: Any) -> Iterator[str]:
    """The emulator's URL; its moto backend lives as long as the test process, so each test
    gets its own table (``TABLE`` is rebound)."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with emulator(1, moto=True) as emu:
        _new_table(emu.base_url)
        yield emu.base_url


TABLE = ""


def _new_table(endpoint: str) -> None:
    global TABLE
    TABLE = f"leases-{uuid.uuid4().hex[:8]}"
    create_table(TABLE, "us-east-1", endpoint)


def member(endpoint: str, name: str, clock: Clock) -> LeaseAssignment:
    table = LeaseTable(TABLE, "site", "us-east-1", endpoint)
    table.check()
    table.heartbeat(name)
    assignment = LeaseAssignment(table, name, LEASE_S, clock)
    assignment.cameras = CAMERAS
    return assignment


def rounds(clock: Clock, members: list[LeaseAssignment], count: int) -> None:
    for _ in range(count):
        clock.now += LEASE_S / 3 + 0.01
        for one in members:
            one.poll()


def test_join_steals_towards_the_fair_share_and_the_victim_lets_go(endpoint: str) -> None:
    clock = Clock()
    a = member(endpoint, "a", clock)
    rounds(clock, [a], 2)
    assert set(a.held) == set(CAMERAS)             # alone: every camera
    b = member(endpoint, "b", clock)
    rounds(clock, [a, b], 8)
    assert len(a.held) == len(b.held) == 3 and not set(a.held) & set(b.held)


def test_a_dead_instance_is_taken_over_after_lease_s(endpoint: str) -> None:
    clock = Clock()
    a, b = member(endpoint, "a", clock), member(endpoint, "b", clock)
    rounds(clock, [a, b], 8)
    assert len(a.held) == len(b.held) == 3
    rounds(clock, [b], 2)                           # a stopped 2.02 s ago: not yet expired
    assert len(b.held) == 3
    rounds(clock, [b], 2)                           # > lease_s unchanged: b takes them
    assert set(b.held) == set(CAMERAS)


def test_unreachable_table_fences_before_anyone_may_take_over(monkeypatch: Any) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    clock = Clock()
    with emulator(1, moto=True) as emu:
        _new_table(emu.base_url)
        a = member(emu.base_url, "a", clock)
        rounds(clock, [a], 2)
        assert set(a.held) == set(CAMERAS)
    clock.now += LEASE_S / 3 + 0.01
    assert not a.poll() and a.held                  # one failed round: still within bounds
    clock.now += LEASE_S / 3 + 0.01
    assert a.poll() and not a.held                  # 2/3 of a lease without renewal: stop


def test_close_releases_leases_for_immediate_takeover(endpoint: str) -> None:
    clock = Clock()
    a, b = member(endpoint, "a", clock), member(endpoint, "b", clock)
    rounds(clock, [a, b], 8)
    a.close()
    rounds(clock, [b], 1)
    assert set(b.held) == set(CAMERAS)


def test_missing_table_names_table_and_actions(endpoint: str) -> None:
    with pytest.raises(LeaseTableError) as err:
        LeaseTable("nope", "site", "us-east-1", endpoint).check()
    message = str(err.value)
    assert "lease table nope" in message and "dynamodb:UpdateItem" in message


def test_denied_access_names_table_and_actions() -> None:
    from botocore.exceptions import ClientError
    table = LeaseTable("t1", "site", "eu-west-1", "http://127.0.0.1:9")
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                         "DescribeTable")
    message = str(table.problem(denied))
    assert message.startswith("lease table t1 (eu-west-1, http://127.0.0.1:9) is not accessible")
    assert all(action in message for action in
               ("dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:UpdateItem"))
