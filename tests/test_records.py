"""gatewayctl.records behaves as the dataclass it replaces on the check path.

Each property is checked against a real ``@dataclass(frozen=True,
slots=True)`` with the same fields, so the two cannot drift apart
(tests/test_coldstart_paths.py checks that a cold `check` imports none of
what records exist to avoid).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from gatewayctl.records import field, record, replace


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


def test_generic_and_compiled_init_agree(monkeypatch):
    """A class's first instances come from the generic __init__, later ones
    from one compiled for it: both bind arguments alike and refuse alike."""
    from gatewayctl import records

    monkeypatch.setattr(records, "_COMPILE_AFTER", 10)

    @record
    class Spec:
        name: str
        kinds: tuple = ()
        extra: dict = field(default_factory=dict)
        note: str = field(default="n", init=False)
        cache: list = field(default_factory=list, init=False, compare=False)

    calls = [(("a",), {}), (("a", ("x",)), {}), ((), {"name": "b", "extra": {"k": 1}}), (("c",), {"kinds": ("y",)})]
    bad = [((), {}), (("a", (), {}, "extra"), {}), (("a",), {"name": "b"}), (("a",), {"note": "m"}), (("a",), {"nope": 1})]

    def build_all():
        built = [Spec(*args, **kwargs) for args, kwargs in calls]
        errors = []
        for args, kwargs in bad:
            with pytest.raises(TypeError) as info:
                Spec(*args, **kwargs)
            errors.append(str(info.value).split("(", 1)[-1])
        return built, errors

    first, first_errors = build_all()  # 9 calls: all through the generic __init__
    assert Spec.__init__.__name__ == "__init__" and "<record" not in Spec.__init__.__code__.co_filename
    for _ in range(3):
        Spec("warm")
    assert Spec.__init__.__code__.co_filename == "<record Spec>"  # compiled and swapped in
    second, second_errors = build_all()
    assert first == second and [repr(x) for x in first] == [repr(x) for x in second]
    assert all(x.note == "n" and x.cache == [] for x in first + second)
    assert first[0].extra is not first[1].extra
    assert first_errors == second_errors
