"""Where each lane of a fleet should run: pure functions of one fleet view.

Every host computes these from the same etcd view, so they agree without
talking to each other; the claim itself (create-if-absent in one etcd
transaction) is what makes ownership exclusive, these only decide who tries.

- Eligibility: a lane may go to a live host whose plan has it. When the
  fleet recorded a definition for the lane (the digest it was last claimed
  with) and some live host still has exactly that definition, only such
  hosts are eligible: a host that would serve the lane differently waits.
  When no live host has the recorded definition any more (the rollout has
  moved on), every live host with the lane is eligible again.
- Preference among eligible hosts: the least loaded (lanes held plus lanes
  already given out in this pass, lanes taken in name order), ties broken by
  rendezvous hashing (highest sha256 of lane and host), so three hosts and
  six free lanes give two each, and a dead host's lanes spread over the rest.
- Rebalance: a host holding more than its share gives back its excess lanes
  (those it scores lowest on); nothing moves otherwise, so a host coming
  back does not make lanes flap.

Standard library only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def score(lane: str, host: str) -> int:
    """Rendezvous hash of ``lane`` on ``host`` (higher is preferred)."""
    return int.from_bytes(hashlib.sha256(f"{lane}\0{host}".encode()).digest()[:8], "big")


def eligible_hosts(lane: str, hosts: dict[str, dict[str, str]], recorded: str | None,
                   excluded: frozenset[str] = frozenset()) -> list[str]:
    """Live hosts that may take ``lane``. ``hosts`` maps host id to its
    lane definitions (lane name -> definition digest); ``recorded`` is the
    definition the fleet last ran the lane with; ``excluded`` hosts were
    asked to hand the lane over."""
    having = [h for h, lanes in hosts.items() if lane in lanes]
    if recorded is not None:
        same = [h for h in having if hosts[h][lane] == recorded]
        if same:
            # Even a host asked to hand the lane over keeps the others out
            # while it lives: they would serve the lane differently.
            return [h for h in same if h not in excluded]
    return [h for h in having if h not in excluded]


@dataclass(frozen=True)
class Assignment:
    preferred: dict[str, str]  # unheld lane -> the host that should claim it
    fallback: dict[str, list[str]]  # unheld lane -> the other eligible hosts, in the order they step in


def assign_free(lanes: list[str], hosts: dict[str, dict[str, str]], holders: dict[str, str],
                recorded: dict[str, str], excluded: dict[str, frozenset[str]] | None = None) -> Assignment:
    """Who should claim each unheld lane. ``holders`` maps held lanes to
    their holder's host id."""
    excluded = excluded or {}
    load = {h: 0 for h in hosts}
    for lane, host in holders.items():
        if host in load:
            load[host] += 1
    preferred: dict[str, str] = {}
    fallback: dict[str, list[str]] = {}
    for lane in sorted(lanes):
        if lane in holders:
            continue
        candidates = eligible_hosts(lane, hosts, recorded.get(lane), excluded.get(lane, frozenset()))
        if not candidates:
            continue
        ranked = sorted(candidates, key=lambda h: (load[h], -score(lane, h), h))
        preferred[lane] = ranked[0]
        fallback[lane] = sorted(ranked[1:], key=lambda h: (-score(lane, h), h))
        load[ranked[0]] += 1
    return Assignment(preferred, fallback)


def excess(me: str, hosts: dict[str, dict[str, str]], holders: dict[str, str],
           recorded: dict[str, str]) -> list[str]:
    """Lanes ``me`` should give back on a rebalance: while it holds more than
    its share (ceil of lanes over hosts), or more than the floor while an
    eligible host holds less than the floor."""
    mine = [lane for lane, host in holders.items() if host == me]
    all_lanes = set(holders) | {lane for lanes in hosts.values() for lane in lanes}
    if not hosts or not all_lanes:
        return []
    n_hosts = len(hosts)
    floor, ceil = len(all_lanes) // n_hosts, -(-len(all_lanes) // n_hosts)
    load = {h: 0 for h in hosts}
    for host in holders.values():
        if host in load:
            load[host] += 1
    out: list[str] = []
    # Give back first what this host scores lowest on.
    for lane in sorted(mine, key=lambda lane: (score(lane, me), lane)):
        held = load[me]
        others = [h for h in eligible_hosts(lane, hosts, recorded.get(lane)) if h != me]
        if not others:
            continue
        lightest = min(load[h] for h in others)
        if held > ceil or (held > floor and lightest < floor) or held - lightest >= 2:
            out.append(lane)
            load[me] -= 1
            target = min(others, key=lambda h: (load[h], -score(lane, h), h))
            load[target] += 1
    return out
