"""The errors of a JSON Schema (draft 7) validation, as jsonschema's
Draft7Validator.iter_errors yields them, for the keywords our schemas use.

Why not jsonschema itself: importing it (with referencing, attrs and
jsonschema_specifications) was most of a cold `check` of a file with one
mistake. This walk yields the same errors in the same order with the same
fields the schema stage reads (``validator``, ``validator_value``,
``instance``, ``schema``, ``absolute_path``); jsonschema stays the
reference: tests/test_schema_draft7.py compares the two on the fixture
corpus and on random configs.

Keywords: $ref (local, siblings ignored as draft 7 says), properties,
additionalProperties, items, type, enum, minimum, maximum,
exclusiveMinimum, exclusiveMaximum, minItems, maxItems, minLength,
maxLength, pattern, required, dependencies, not, anyOf, oneOf, allOf,
uniqueItems, const, additionalItems. A keyword outside this list raises (a schema edit must
extend this module and its test), so nothing is silently skipped.

Imports only the standard library.
"""

from __future__ import annotations

import re

_IGNORED = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples", "definitions", "markdownDescription", "deprecated"})


class SchemaError:
    __slots__ = ("validator", "validator_value", "instance", "schema", "absolute_path")

    def __init__(self, validator, validator_value, instance, schema, path):
        self.validator = validator
        self.validator_value = validator_value
        self.instance = instance
        self.schema = schema
        self.absolute_path = list(path)

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"SchemaError({self.validator!r} at {self.absolute_path!r})"


def _is_type(instance, kind: str) -> bool:
    if kind == "object":
        return isinstance(instance, dict)
    if kind == "array":
        return isinstance(instance, list)
    if kind == "string":
        return isinstance(instance, str)
    if kind == "boolean":
        return isinstance(instance, bool)
    if kind == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if kind == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if kind == "number":
        import numbers

        return isinstance(instance, numbers.Number)
    raise ValueError(f"unknown JSON Schema type {kind!r}")


def _unbool(value):
    # jsonschema's _utils.unbool: True and 1 are different JSON values.
    if value is True:
        return ("bool", True)
    if value is False:
        return ("bool", False)
    return value


def _equal(a, b) -> bool:
    # jsonschema's _utils.equal (draft 7 enum/const/uniqueItems).
    if a is b:
        return True
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and _equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return _unbool(a) == _unbool(b)


class Draft7:
    def __init__(self, root: dict):
        self.root = root
        self._patterns: dict[str, re.Pattern] = {}

    def iter_errors(self, instance):
        return self._errors(instance, self.root, ())

    def is_valid(self, instance, schema) -> bool:
        return next(self._errors(instance, schema, ()), None) is None

    def _resolve(self, ref: str):
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node = self.root
        for token in ref[1:].split("/")[1:] if ref != "#" else ():
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def _errors(self, instance, schema, path):
        if schema is True:
            return
        if schema is False:
            yield SchemaError(None, None, instance, schema, path)
            return
        items = [("$ref", schema["$ref"])] if "$ref" in schema else schema.items()
        for key, value in items:
            if key in _IGNORED:
                continue
            check = _KEYWORDS.get(key)
            if check is None:
                raise ValueError(f"JSON Schema keyword {key!r} is not supported by gatewayctl.validate.draft7")
            yield from check(self, value, instance, schema, path)


def _error(key, value, instance, schema, path):
    return SchemaError(key, value, instance, schema, path)


def _ref(v, ref, instance, schema, path):
    yield from v._errors(instance, v._resolve(ref), path)


def _properties(v, properties, instance, schema, path):
    if not isinstance(instance, dict):
        return
    for prop, sub in properties.items():
        if prop in instance:
            yield from v._errors(instance[prop], sub, path + (prop,))


def _additional(v, extra_schema, instance, schema, path):
    if not isinstance(instance, dict):
        return
    if "patternProperties" in schema:
        raise ValueError("patternProperties is not supported by gatewayctl.validate.draft7")
    known = schema.get("properties", {})
    extras = [k for k in instance if k not in known]
    if isinstance(extra_schema, dict):
        for key in extras:
            yield from v._errors(instance[key], extra_schema, path + (key,))
    elif not extra_schema and extras:
        yield _error("additionalProperties", extra_schema, instance, schema, path)


def _items(v, items, instance, schema, path):
    if not isinstance(instance, list):
        return
    if isinstance(items, list):
        for i, (item, sub) in enumerate(zip(instance, items)):
            yield from v._errors(item, sub, path + (i,))
    else:
        for i, item in enumerate(instance):
            yield from v._errors(item, items, path + (i,))


def _additional_items(v, extra, instance, schema, path):
    if not isinstance(instance, list) or isinstance(schema.get("items", {}), dict):
        return
    start = len(schema.get("items", []))
    if isinstance(extra, dict):
        for i in range(start, len(instance)):
            yield from v._errors(instance[i], extra, path + (i,))
    elif not extra and len(instance) > start:
        yield _error("additionalItems", extra, instance, schema, path)


def _type(v, types, instance, schema, path):
    kinds = [types] if isinstance(types, str) else types
    if not any(_is_type(instance, kind) for kind in kinds):
        yield _error("type", types, instance, schema, path)


def _enum(v, enums, instance, schema, path):
    if not any(_equal(instance, each) for each in enums):
        yield _error("enum", enums, instance, schema, path)


def _const(v, const, instance, schema, path):
    if not _equal(instance, const):
        yield _error("const", const, instance, schema, path)


def _number(test):
    def check(v, limit, instance, schema, path):
        if _is_type(instance, "number") and test(instance, limit):
            yield _error(check.key, limit, instance, schema, path)

    return check


def _sized(kind, test):
    def check(v, limit, instance, schema, path):
        if _is_type(instance, kind) and test(len(instance), limit):
            yield _error(check.key, limit, instance, schema, path)

    return check


def _pattern(v, pattern, instance, schema, path):
    if not isinstance(instance, str):
        return
    compiled = v._patterns.get(pattern)
    if compiled is None:
        compiled = v._patterns[pattern] = re.compile(pattern)
    if not compiled.search(instance):
        yield _error("pattern", pattern, instance, schema, path)


def _required(v, required, instance, schema, path):
    if not isinstance(instance, dict):
        return
    for prop in required:
        if prop not in instance:
            yield _error("required", required, instance, schema, path)


def _dependencies(v, dependencies, instance, schema, path):
    if not isinstance(instance, dict):
        return
    for prop, dependency in dependencies.items():
        if prop not in instance:
            continue
        if isinstance(dependency, list):
            for each in dependency:
                if each not in instance:
                    yield _error("dependencies", dependencies, instance, schema, path)
        else:
            yield from v._errors(instance, dependency, path)


def _not(v, not_schema, instance, schema, path):
    if v.is_valid(instance, not_schema):
        yield _error("not", not_schema, instance, schema, path)


def _any_of(v, any_of, instance, schema, path):
    for sub in any_of:
        if v.is_valid(instance, sub):
            return
    yield _error("anyOf", any_of, instance, schema, path)


def _one_of(v, one_of, instance, schema, path):
    valid = [i for i, sub in enumerate(one_of) if v.is_valid(instance, sub)]
    if not valid:
        yield _error("oneOf", one_of, instance, schema, path)
    elif len(valid) > 1:
        yield _error("oneOf", one_of, instance, schema, path)


def _all_of(v, all_of, instance, schema, path):
    for sub in all_of:
        yield from v._errors(instance, sub, path)


def _unique(v, unique, instance, schema, path):
    if unique and isinstance(instance, list):
        for i, a in enumerate(instance):
            if any(_equal(a, b) for b in instance[i + 1 :]):
                yield _error("uniqueItems", unique, instance, schema, path)
                return


_KEYWORDS = {
    "$ref": _ref,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "additionalItems": _additional_items,
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "required": _required,
    "dependencies": _dependencies,
    "not": _not,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": _all_of,
    "uniqueItems": _unique,
}
for _key, _test in (
    ("minimum", lambda x, m: x < m),
    ("maximum", lambda x, m: x > m),
    ("exclusiveMinimum", lambda x, m: x <= m),
    ("exclusiveMaximum", lambda x, m: x >= m),
):
    _KEYWORDS[_key] = _number(_test)
    _KEYWORDS[_key].key = _key
for _key, _kind, _test in (
    ("minItems", "array", lambda n, m: n < m),
    ("maxItems", "array", lambda n, m: n > m),
    ("minLength", "string", lambda n, m: n < m),
    ("maxLength", "string", lambda n, m: n > m),
):
    _KEYWORDS[_key] = _sized(_kind, _test)
    _KEYWORDS[_key].key = _key
