"""Frozen records for the `check` path without importing dataclasses.

``@record`` is ``@dataclass(frozen=True, slots=True)`` (and ``@record(order=True)``,
``@record(frozen=False)``) for the classes a cold ``gatewayctl check``
builds: importing ``dataclasses`` pulls in ``inspect`` (and with it ast,
dis, tokenize), and each decorated class compiles half a dozen generated
methods, together about a third of a cold check of a clean file
(bench/bench_coldstart.py). A record costs one type() call: its
``__init__`` is generic until a class has been built a couple of hundred
times and is compiled for the class then (a cold check never pays for
compile()), the other methods are shared closures.

What a record keeps of a dataclass: the constructor (positional and
keyword, defaults, ``field(default_factory=...)``, ``init=False``), frozen
assignment raising ``dataclasses.FrozenInstanceError``, ``__eq__``,
``__hash__``, ``__repr__`` and (``order=True``) the comparisons over the
fields in order, ``__match_args__``, pickling, and the ``dataclasses``
functions: ``dataclasses.replace``/``fields``/``asdict``/``is_dataclass``
work on a record (its ``__dataclass_fields__`` is built, importing
dataclasses, only when one of them asks). Inside gatewayctl, ``replace``
here does the same without that import.

Imports nothing; any gatewayctl package may import it.
"""

from __future__ import annotations

__all__ = ["field", "record", "replace"]

_MISSING = object()


class _Field:
    __slots__ = ("default", "default_factory", "init", "repr", "compare", "hash")

    def __init__(self, default, default_factory, init, repr, compare, hash):  # noqa: A002 - dataclasses' names
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.hash = hash


def field(*, default=_MISSING, default_factory=_MISSING, init=True, repr=True, compare=True, hash=None):  # noqa: A002
    """dataclasses.field's options that records support."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory, init, repr, compare, hash)


def record(cls=None, /, *, frozen=True, order=False):
    """Make ``cls`` a slotted record of its annotated fields (see the module docstring)."""

    def wrap(cls):
        return _build(cls, frozen, order)

    return wrap if cls is None else wrap(cls)


def replace(obj, /, **changes):
    """A copy of the record (or dataclass) ``obj`` with ``changes``, as dataclasses.replace."""
    specs = getattr(type(obj), "__record_fields__", None)
    if specs is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)
    for name, spec in specs:
        if not spec.init:
            if name in changes:
                raise ValueError(f"field {name} is declared with init=False, it cannot be specified with replace()")
        elif name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)


def _build(cls, frozen: bool, order: bool):
    namespace = dict(cls.__dict__)
    specs = []
    for name in namespace.get("__annotations__", {}):
        value = namespace.pop(name, _MISSING)
        spec = value if isinstance(value, _Field) else _Field(value, _MISSING, True, True, True, None)
        specs.append((name, spec))
    specs = tuple(specs)
    names = tuple(name for name, _ in specs)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = names
    namespace["__match_args__"] = tuple(name for name, spec in specs if spec.init)
    namespace["__record_fields__"] = specs
    namespace["__dataclass_fields__"] = _DataclassFields()
    namespace["__init__"] = _lazy_init(specs, frozen)
    namespace["__repr__"] = _repr_method(tuple(name for name, spec in specs if spec.repr))
    compared = tuple(name for name, spec in specs if spec.compare)
    namespace["__eq__"] = _eq_method(compared)
    if frozen:
        hashed = tuple(name for name, spec in specs if (spec.compare if spec.hash is None else spec.hash))
        namespace["__hash__"] = _hash_method(hashed)
        namespace["__setattr__"] = _frozen_setattr
        namespace["__delattr__"] = _frozen_delattr
        namespace["__getstate__"] = _getstate_method(names)
        namespace["__setstate__"] = _setstate_method(names)
    else:
        namespace["__hash__"] = None  # eq without frozen: unhashable, as a dataclass
    if order:
        for op, method in _order_methods(compared).items():
            namespace[op] = method
    new = type(cls)(cls.__name__, cls.__bases__, namespace)
    new.__qualname__ = cls.__qualname__
    return new


# Instances built by the generic __init__ before the class's own is
# compiled. The first compile() in a process costs about a millisecond (a
# tenth of a cold check's budget) and a few dozen microseconds each after:
# a one-file check builds most record classes a handful of times and never
# pays it, a sweep of many files compiles its busy classes early on.
_COMPILE_AFTER = 200


def _lazy_init(specs, frozen: bool):
    """The class's __init__: the generic one for the first _COMPILE_AFTER
    instances, then one compiled for the class, put in its place."""
    generic = _generic_init(specs, frozen)
    calls = 0

    def __init__(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls <= _COMPILE_AFTER:
            return generic(self, *args, **kwargs)
        cls = _owner(type(self), __init__)
        real = _compile_init(cls.__name__, specs, frozen)
        type.__setattr__(cls, "__init__", real)
        return real(self, *args, **kwargs)

    return __init__


def _generic_init(specs, frozen: bool):
    """What _compile_init's function does, for any fields, without compile()."""
    names = tuple(name for name, spec in specs if spec.init)
    defaults = {name: spec.default for name, spec in specs if spec.init and spec.default is not _MISSING}
    factories = {name: spec.default_factory for name, spec in specs if spec.init and spec.default_factory is not _MISSING}
    derived = tuple(
        (name, spec.default_factory if spec.default_factory is not _MISSING else (lambda value=spec.default: value))
        for name, spec in specs
        if not spec.init and (spec.default_factory is not _MISSING or spec.default is not _MISSING)
    )
    setter = object.__setattr__ if frozen else setattr
    count = len(names)
    required = sum(1 for name in names if name not in defaults and name not in factories)
    takes = f"{count + 1}" if required == count else f"from {required + 1} to {count + 1}"

    def init(self, *args, **kwargs):
        if len(args) > count:
            raise TypeError(f"__init__() takes {takes} positional arguments but {len(args) + 1} were given")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"__init__() got multiple values for argument '{name}'")
            setter(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in defaults:
                value = defaults[name]
            elif name in factories:
                value = factories[name]()
            else:
                raise TypeError(f"__init__() missing 1 required positional argument: '{name}'")
            setter(self, name, value)
        if kwargs:
            raise TypeError(f"__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")
        for name, produce in derived:
            setter(self, name, produce())

    return init


def _owner(cls, method):
    for klass in cls.__mro__:
        if klass.__dict__.get("__init__") is method:
            return klass
    return cls  # pragma: no cover - the method always comes from the MRO


def _compile_init(class_name: str, specs, frozen: bool):
    params, body = [], []
    scope = {"_MISSING": _MISSING, "_set": object.__setattr__}
    for name, spec in specs:
        if spec.default_factory is not _MISSING:
            scope[f"_factory_{name}"] = spec.default_factory
            if spec.init:
                params.append(f"{name}=_MISSING")
                value = f"_factory_{name}() if {name} is _MISSING else {name}"
            else:
                value = f"_factory_{name}()"
        elif spec.init:
            if spec.default is _MISSING:
                if any("=" in p for p in params):
                    raise TypeError(f"non-default argument {name!r} follows default argument")
                params.append(name)
            else:
                scope[f"_default_{name}"] = spec.default
                params.append(f"{name}=_default_{name}")
            value = name
        elif spec.default is not _MISSING:
            scope[f"_default_{name}"] = spec.default
            value = f"_default_{name}"
        else:
            continue  # init=False without a default: left unset, as a dataclass does
        body.append(f"    _set(self, {name!r}, {value})" if frozen else f"    self.{name} = {value}")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(compile(source, f"<record {class_name}>", "exec"), scope)  # noqa: S102 - built here from field names
    init = scope["__init__"]
    init.__qualname__ = f"{class_name}.__init__"
    return init


def _repr_method(names):
    def __repr__(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _eq_method(names):
    def __eq__(self, other):
        if other.__class__ is self.__class__:
            # Tuples, as a dataclass compares: identity first, so a nan field equals itself.
            return tuple(getattr(self, name) for name in names) == tuple(getattr(other, name) for name in names)
        return NotImplemented

    return __eq__


def _hash_method(names):
    def __hash__(self):
        return hash(tuple(getattr(self, name) for name in names))

    return __hash__


def _order_methods(names):
    def key(obj):
        return tuple(getattr(obj, name) for name in names)

    def make(compare):
        def method(self, other):
            if other.__class__ is self.__class__:
                return compare(key(self), key(other))
            return NotImplemented

        return method

    return {
        "__lt__": make(lambda a, b: a < b),
        "__le__": make(lambda a, b: a <= b),
        "__gt__": make(lambda a, b: a > b),
        "__ge__": make(lambda a, b: a >= b),
    }


def _frozen_setattr(self, name, value):
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate_method(names):
    def __getstate__(self):
        return [getattr(self, name) for name in names]

    return __getstate__


def _setstate_method(names):
    def __setstate__(self, state):
        for name, value in zip(names, state):
            object.__setattr__(self, name, value)

    return __setstate__


class _DataclassFields:
    """``__dataclass_fields__`` on demand, so the dataclasses functions
    accept a record: the real Field objects of an equivalent dataclass,
    built (and dataclasses imported) only when something asks."""

    def __set_name__(self, owner, name):  # pragma: no cover - records set it without a class body
        pass

    def __get__(self, obj, owner):
        cls = owner
        cached = cls.__dict__.get("__record_dataclass_fields__")
        if cached is not None:
            return cached
        import dataclasses

        shadow = dataclasses.make_dataclass(
            cls.__name__,
            [(name, "object", _to_dataclass_field(dataclasses, spec)) for name, spec in cls.__record_fields__],
        )
        fields = shadow.__dataclass_fields__
        type.__setattr__(cls, "__record_dataclass_fields__", fields)
        return fields


def _to_dataclass_field(dataclasses, spec):
    kwargs = {"init": spec.init, "repr": spec.repr, "compare": spec.compare, "hash": spec.hash}
    if spec.default_factory is not _MISSING:
        kwargs["default_factory"] = spec.default_factory
    elif spec.default is not _MISSING:
        kwargs["default"] = spec.default
    return dataclasses.field(**kwargs)
