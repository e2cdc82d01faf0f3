"""Placement: which host should claim each free lane, and what a rebalance
gives back (gatewayctl.runtime.fleet.placement, pure functions)."""

from __future__ import annotations

from collections import Counter

from gatewayctl.runtime.fleet import placement

LANES = ["feishu/work", "matrix/default", "qqbot/default", "telegram/bot_123456", "wecom/alerts", "whatsapp/default"]
DEF = {lane: "d" * 64 for lane in LANES}


def hosts(*names, lanes=None):
    return {h: dict(lanes or DEF) for h in names}


def test_three_hosts_six_free_lanes_two_each_and_every_host_agrees():
    live = hosts("host-a", "host-b", "host-c")
    a = placement.assign_free(LANES, live, {}, {})
    assert sorted(a.preferred) == LANES
    assert sorted(Counter(a.preferred.values()).values()) == [2, 2, 2]
    # Deterministic: the same view gives the same answer, whatever the dict order.
    again = placement.assign_free(list(reversed(LANES)), dict(reversed(list(live.items()))), {}, {})
    assert again.preferred == a.preferred


def test_a_dead_hosts_lanes_spread_over_the_rest_by_load():
    live = hosts("host-a", "host-b")
    holders = {"feishu/work": "host-a", "matrix/default": "host-a", "qqbot/default": "host-b",
               "telegram/bot_123456": "host-b"}
    a = placement.assign_free(LANES, live, holders, {})
    assert sorted(a.preferred) == ["wecom/alerts", "whatsapp/default"]
    assert sorted(a.preferred.values()) == ["host-a", "host-b"]  # one each: 3 and 3
    for lane, host in a.preferred.items():
        assert a.fallback[lane] == [h for h in ("host-a", "host-b") if h != host]


def test_held_lanes_never_move_without_a_rebalance_and_a_rebalance_evens_them_out():
    live = hosts("host-a", "host-b", "host-c")
    # host-c came back after a failover: a and b hold three each.
    holders = {lane: ("host-a" if i < 3 else "host-b") for i, lane in enumerate(LANES)}
    assert placement.assign_free(LANES, live, holders, {}).preferred == {}
    give_a = placement.excess("host-a", live, holders, {})
    give_b = placement.excess("host-b", live, holders, {})
    assert len(give_a) == 1 and len(give_b) == 1
    assert placement.excess("host-c", live, holders, {}) == []
    after = {k: v for k, v in holders.items() if k not in give_a + give_b}
    a = placement.assign_free(LANES, live, after, {})
    assert set(a.preferred.values()) == {"host-c"}
    # Balanced already: nothing to give back.
    balanced = {lane: ("host-a", "host-b", "host-c")[i % 3] for i, lane in enumerate(LANES)}
    assert all(placement.excess(h, live, balanced, {}) == [] for h in live)


def test_a_host_with_another_definition_waits_while_a_host_with_the_fleets_definition_lives():
    old, new = "a" * 64, "b" * 64
    live = {"host-a": {"telegram/bot_123456": old}, "host-b": {"telegram/bot_123456": new}}
    assert placement.eligible_hosts("telegram/bot_123456", live, old) == ["host-a"]
    a = placement.assign_free(["telegram/bot_123456"], live, {}, {"telegram/bot_123456": old})
    assert a.preferred == {"telegram/bot_123456": "host-a"} and a.fallback["telegram/bot_123456"] == []
    # The rollout moved on: no live host has the old definition, any host may serve it.
    only_new = {"host-b": {"telegram/bot_123456": new}}
    assert placement.eligible_hosts("telegram/bot_123456", only_new, old) == ["host-b"]


def test_a_host_asked_to_hand_a_lane_over_is_not_preferred_for_it():
    live = hosts("host-a", "host-b")
    a = placement.assign_free(["feishu/work"], live, {}, {}, {"feishu/work": frozenset({"host-a"})})
    assert a.preferred == {"feishu/work": "host-b"} and a.fallback["feishu/work"] == []


def test_a_lane_no_live_host_has_is_nobodys():
    live = {"host-a": {"feishu/work": "x" * 64}}
    assert placement.assign_free(["matrix/default"], live, {}, {}).preferred == {}


def test_a_host_asked_to_hand_over_still_keeps_hosts_with_another_definition_out():
    old, new = "a" * 64, "b" * 64
    live = {"host-a": {"feishu/work": old}, "host-b": {"feishu/work": new}}
    assert placement.eligible_hosts("feishu/work", live, old, frozenset({"host-a"})) == []
    assert placement.eligible_hosts("feishu/work", live, old) == ["host-a"]
