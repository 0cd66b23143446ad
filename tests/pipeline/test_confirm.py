"""Temporal confirmation: N of M, median score, end after absence, cool-down, per ROI."""

from __future__ import annotations

import itertools
import json

import pytest

from kvs_pool.pipeline.confirm import Confirmer, ConfirmParams
from kvs_pool.pipeline.detection import Detection

PERSON = Detection((10, 10, 20, 40), 0.8, "person")


def confirmer(**kw: object) -> Confirmer:
    ids = (f"id{n}" for n in itertools.count())
    return Confirmer(ConfirmParams(**kw), new_id=lambda: next(ids))


def run(conf: Confirmer, pattern: str, start_ts: float = 0.0, dt: float = 1.0,
        det: Detection = PERSON) -> list[tuple[int, str]]:
    """Feed one frame per character ('x' = seen, '.' = not); (frame index, kind) of transitions."""
    out = []
    for i, c in enumerate(pattern):
        for tr in conf.update([det] if c == "x" else [], start_ts + i * dt):
            out.append((i, tr.kind))
    return out


def test_three_hits_in_five_frames_confirm_once() -> None:
    conf = confirmer(hits=3, window=5, end_after_s=2.0)
    assert run(conf, "x.x.x" + "xxxxx") == [(4, "start")]


def test_hits_spread_wider_than_the_window_never_confirm() -> None:
    assert run(confirmer(hits=3, window=5), "x...x...x...x...x") == []


def test_absence_ends_after_window_and_end_after_s() -> None:
    conf = confirmer(hits=2, window=3, end_after_s=5.0)
    # seen on frames 0-1, then gone: window empty at frame 4, but 5 s since the last hit at 6
    assert run(conf, "xx" + "." * 8) == [(1, "start"), (6, "end")]


def test_flicker_shorter_than_end_after_is_one_presence() -> None:
    conf = confirmer(hits=2, window=3, end_after_s=10.0)
    assert run(conf, "xx...x....x" + "." * 12) == [(1, "start"), (20, "end")]


def test_start_and_end_share_a_presence_and_carry_detections() -> None:
    conf = confirmer(hits=1, window=1, end_after_s=0.0)
    start = conf.update([PERSON, Detection((0, 0, 5, 5), 0.3, "person")], 1.0)
    end = conf.update([], 2.0)
    assert [t.kind for t in start + end] == ["start", "end"]
    assert start[0].detection == PERSON and end[0].detection == PERSON
    assert start[0].presence_id == end[0].presence_id == "id0"
    assert (end[0].started_ts, end[0].last_hit_ts) == (1.0, 1.0)


def test_cooldown_silences_a_quick_second_presence_and_its_end() -> None:
    conf = confirmer(hits=1, window=1, end_after_s=0.0, cooldown_s=10.0)
    assert run(conf, "x.x.", dt=1.0) == [(0, "start"), (1, "end")]
    assert conf.suppressed == 1
    assert run(conf, "x.", start_ts=20.0) == [(0, "start"), (1, "end")]


def test_median_mode_needs_half_the_window_above_threshold() -> None:
    weak = Detection(PERSON.box, 0.3, "person")
    assert run(confirmer(mode="median", score_threshold=0.5, window=5), "xxxxx", det=weak) == []
    assert run(confirmer(mode="median", score_threshold=0.5, window=5), "xx.xx") == [(3, "start")]


def test_classes_are_confirmed_independently() -> None:
    conf = confirmer(hits=2, window=2)
    car = Detection((50, 50, 90, 80), 0.7, "car")
    assert [t.label for t in conf.update([PERSON, car], 0)] == []
    assert sorted(t.label for t in conf.update([PERSON, car], 1)) == ["car", "person"]


def test_per_roi_keys_split_one_class() -> None:
    a, b = PERSON.in_roi("a"), PERSON.in_roi("b")
    shared = confirmer(hits=2, window=2)
    assert len(shared.update([a], 0) + shared.update([b], 1)) == 1
    split = confirmer(hits=2, window=2, per_roi=True)
    assert split.update([a], 0) + split.update([b], 1) == []
    assert [t.roi for t in split.update([a, b], 2)] == ["b"]     # a: hit at 0 left the window
    assert [t.roi for t in split.update([a, b], 3)] == ["a"]


def test_forgotten_keys_do_not_accumulate() -> None:
    conf = confirmer(hits=3, window=3)
    for i in range(50):
        conf.update([Detection((0, 0, 1, 1), 0.9, f"class{i}")], float(i))
    assert len(conf.tracks) <= 3


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="hits"):
        ConfirmParams(hits=6, window=5)
    with pytest.raises(ValueError, match="mode"):
        ConfirmParams(mode="vote")


def test_hold_keeps_a_still_presence_and_ends_a_departed_one() -> None:
    conf = confirmer(hits=2, window=3, end_after_s=2.0)
    assert [t.kind for t in conf.update([PERSON], 0) + conf.update([PERSON], 1)] == ["start"]
    assert all(conf.hold(float(ts)) == [] for ts in range(2, 30))       # standing still
    assert conf.update([], 30) == []                                     # walked off (motion)
    kinds = [(ts, t.kind) for ts in range(31, 40) for t in conf.hold(float(ts))]
    assert kinds == [(32, "end")]             # window empty at 32, 2 s after the hit at 29


def test_hold_never_confirms() -> None:
    conf = confirmer(hits=2, window=3)
    assert conf.update([PERSON], 0) == []
    assert all(conf.hold(float(ts)) == [] for ts in range(1, 10))
    assert conf.tracks == {}                                  # the lone hit left the window


def restarted(conf: Confirmer, now: float, **kw: object) -> Confirmer:
    """A new confirmer (a restarted worker) given ``conf``'s snapshot through JSON."""
    fresh = confirmer(**kw)
    fresh.new_id = lambda: "after-restart"
    fresh.restore(json.loads(json.dumps(conf.snapshot())), now)
    return fresh


def test_a_restored_presence_seen_again_is_not_started_twice() -> None:
    conf = confirmer(hits=2, window=3, end_after_s=5.0)
    assert run(conf, "xxx", start_ts=100.0) == [(1, "start")]
    again = restarted(conf, 104.0, hits=2, window=3, end_after_s=5.0)
    transitions = [t for ts in range(104, 110) for t in again.update([PERSON], float(ts))]
    transitions += [t for ts in range(110, 120) for t in again.update([], float(ts))]
    assert [(t.kind, t.presence_id) for t in transitions] == [("end", "id0")]
    assert (transitions[0].started_ts, transitions[0].last_hit_ts) == (101.0, 109.0)


def test_a_restored_presence_gone_ends_once_after_end_after_s_from_its_last_hit() -> None:
    conf = confirmer(hits=2, window=3, end_after_s=5.0)
    run(conf, "xx", start_ts=100.0)                             # last hit at 101
    again = restarted(conf, 103.0, hits=2, window=3, end_after_s=5.0)
    ends = [(ts, t.kind, t.presence_id, t.detection) for ts in range(103, 115)
            for t in again.update([], float(ts))]
    assert ends == [(106, "end", "id0", PERSON)]
    assert again.snapshot()["open"] == []


def test_a_restored_presence_ends_through_holds_too() -> None:
    conf = confirmer(hits=1, window=1, end_after_s=2.0)
    run(conf, "x", start_ts=50.0)
    again = restarted(conf, 51.0, hits=1, window=1, end_after_s=2.0)
    assert [(ts, t.kind) for ts in range(51, 56) for t in again.hold(float(ts))] == [(52, "end")]


def test_restored_cooldown_still_silences_and_expired_entries_are_dropped() -> None:
    conf = confirmer(hits=1, window=1, end_after_s=0.0, cooldown_s=10.0)
    assert run(conf, "x.", start_ts=0.0) == [(0, "start"), (1, "end")]
    assert run(conf, "x", start_ts=2.0) == []                  # silent: inside the cool-down
    state = conf.snapshot()
    assert len(state["open"]) == 1 and len(state["last_start"]) == 1
    within = restarted(conf, 3.0, hits=1, window=1, end_after_s=0.0, cooldown_s=10.0)
    assert within.update([], 4.0) == []                         # the silent one ends silently
    assert within.update([PERSON], 5.0) == []                   # still inside the cool-down
    late = restarted(conf, 30.0, hits=1, window=1, end_after_s=0.0, cooldown_s=10.0)
    assert late.tracks == {} and late.last_start == {}          # nothing a rule can still use
    assert [t.kind for t in late.update([PERSON], 30.0)] == ["start"]


def test_restore_drops_keys_the_config_no_longer_has_and_bad_entries() -> None:
    conf = confirmer(hits=1, window=1, per_roi=True)
    car = Detection((50, 50, 90, 80), 0.7, "car")
    assert len(conf.update([PERSON.in_roi("porch"), car], 10.0)) == 2
    state = json.loads(json.dumps(conf.snapshot()))
    no_cars = confirmer(hits=1, window=1, per_roi=True)
    assert no_cars.restore(state, 11.0, keep=lambda label, roi: label != "car") == 1
    assert list(no_cars.tracks) == [("person", "porch")]
    shared = confirmer(hits=1, window=1)                         # per_roi turned off
    assert shared.restore(state, 11.0) == 1 and list(shared.tracks) == [("car", None)]
    state["open"][0]["box"] = "broken"
    assert confirmer(hits=1, window=1, per_roi=True).restore(state, 11.0) == 1
    assert confirmer().restore({"version": 99, "open": state["open"]}, 11.0) == 0


def test_revision_moves_only_when_a_presence_opens_or_closes() -> None:
    conf = confirmer(hits=1, window=1, end_after_s=1.0)
    conf.update([PERSON], 0.0)
    opened = conf.revision
    for ts in range(1, 10):
        conf.update([PERSON], float(ts))
    assert conf.revision == opened
    conf.update([], 20.0)
    assert conf.revision == opened + 1
