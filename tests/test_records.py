"""gatewayctl.records behaves as the dataclass it replaces on the check path.

Each property is checked against a real ``@dataclass(frozen=True,
slots=True)`` with the same fields, so the two cannot drift apart; and a
cold `check` must not import what records exist to avoid.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from gatewayctl.records import field, record, replace

REPO = Path(__file__).resolve().parents[1]


@record(order=True)
class Pos:
    line: int
    column: int

    def shifted(self) -> "Pos":
        return Pos(self.line + 1, self.column)


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class PosDC:
    line: int
    column: int


@record
class Item:
    code: str
    data: tuple = ()
    fix: object = field(default=None, compare=False)
    extra: dict = field(default_factory=dict)
    cache: list = field(default_factory=list, init=False, repr=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class ItemDC:
    code: str
    data: tuple = ()
    fix: object = dataclasses.field(default=None, compare=False)
    extra: dict = dataclasses.field(default_factory=dict)
    cache: list = dataclasses.field(default_factory=list, init=False, repr=False, compare=False)


@record(frozen=False)
class Mutable:
    a: int
    items: list = field(default_factory=list)


def _same_repr(ours, theirs) -> bool:
    return repr(ours).split("(", 1)[1] == repr(theirs).split("(", 1)[1]


def test_construction_repr_and_defaults_match_dataclass():
    for args, kwargs in (((1, 2), {}), ((), {"line": 3, "column": 4}), ((5,), {"column": 6})):
        assert _same_repr(Pos(*args, **kwargs), PosDC(*args, **kwargs))
    ours, theirs = Item("x", fix=3), ItemDC("x", fix=3)
    assert _same_repr(ours, theirs) and ours.cache == [] and ours.extra == {}
    assert Item("a").extra is not Item("a").extra  # a fresh default per instance
    with pytest.raises(TypeError):
        Pos(1)
    with pytest.raises(TypeError):
        Item("x", cache=[])  # init=False
    assert Pos.__match_args__ == PosDC.__match_args__ and Item.__match_args__ == ItemDC.__match_args__
    assert Pos(1, 2).shifted() == Pos(2, 2)


def test_equality_hash_and_order_match_dataclass():
    nan = float("nan")
    pairs = [((1, 2), (1, 2)), ((1, 2), (1, 3)), ((2, 0), (1, 9)), ((nan, 1), (nan, 1))]
    for a, b in pairs:
        ours_a, ours_b, dc_a, dc_b = Pos(*a), Pos(*b), PosDC(*a), PosDC(*b)
        assert (ours_a == ours_b) == (dc_a == dc_b)
        assert (ours_a < ours_b, ours_a <= ours_b, ours_a > ours_b, ours_a >= ours_b) == (
            dc_a < dc_b, dc_a <= dc_b, dc_a > dc_b, dc_a >= dc_b
        )
        assert (hash(ours_a) == hash(ours_b)) == (hash(dc_a) == hash(dc_b))
    assert Item("x", fix=1) == Item("x", fix=2)  # compare=False
    with pytest.raises(TypeError):
        hash(Item("x"))  # a dict field: unhashable, as in the dataclass
    with pytest.raises(TypeError):
        hash(ItemDC("x"))
    assert Pos(1, 2) != (1, 2) and Pos(1, 2).__eq__((1, 2)) is NotImplemented
    with pytest.raises(TypeError):
        Pos(1, 2) < (1, 3)
    with pytest.raises(TypeError):
        hash(Mutable(1))  # eq without frozen is unhashable, as a dataclass


def test_frozen_and_slots():
    p = Pos(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.line = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.line
    with pytest.raises((AttributeError, TypeError)):
        object.__setattr__(p, "other", 1)  # no __dict__
    assert not hasattr(p, "__dict__")
    m = Mutable(1)
    m.a = 2
    m.items.append(1)
    assert m == Mutable(2, [1])


def test_pickle_copy_and_dataclasses_functions():
    item = Item("x", (("k", "v"),), fix=Pos(1, 2), extra={"a": 1})
    for clone in (pickle.loads(pickle.dumps(item)), copy.copy(item), copy.deepcopy(item)):
        assert clone == item and clone.fix == item.fix and clone.extra == item.extra
    assert pickle.loads(pickle.dumps(Mutable(3, [1]))) == Mutable(3, [1])
    assert replace(item, code="y") == Item("y", (("k", "v"),), extra={"a": 1})
    assert dataclasses.replace(item, code="y") == replace(item, code="y")
    assert dataclasses.is_dataclass(item)
    assert [f.name for f in dataclasses.fields(Item)] == [f.name for f in dataclasses.fields(ItemDC)]
    assert dataclasses.asdict(Pos(1, 2)) == dataclasses.asdict(PosDC(1, 2))
    assert replace(PosDC(1, 2), line=5) == PosDC(5, 2)  # a real dataclass goes through dataclasses
    with pytest.raises(ValueError):
        replace(item, cache=[])


def test_cold_check_imports_none_of_the_heavy_modules():
    """What records, digest and the lazy imports exist for: a cold `check`
    of the seed imports none of these (each cost a measurable share of
    bench/bench_coldstart.py's figure)."""
    heavy = ["dataclasses", "inspect", "typing", "hashlib", "decimal", "pathlib", "difflib", "importlib.util", "rtoml"]
    script = (
        "import sys\n"
        "from gatewayctl.cli.main import main\n"
        "try:\n"
        f"    main(['check', {str(REPO / 'examples' / 'gateway-rollout.toml')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
