"""Secret references: where a config says a secret lives, never the secret.

Owns the classification of secret-reference values (``env``, ``file``,
``exec``, ``inline``, ``invalid``, ``absent``), the ``<field>_env`` sibling
fallback with the built-in default variable names, and env-pointer hygiene
(a variable *name* that is really a pasted secret, an assignment, shell
syntax). The semantics follow loong's ``SecretRef`` and its env-pointer
validator (see /work/shared/spec/config-model.md, "Secret references").

Invariant: no value returned from here ever carries an inline literal or a
string that looks like a pasted secret; ``SecretInfo.ref`` is ``None`` for
those and messages describe the value's shape, not its content.

Standard library only; must not import any other gatewayctl package except
diagnostics (it needs none today).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from gatewayctl.lazyre import ALNUM, CharsetName, lazy
from gatewayctl.records import record

__all__ = [
    "DEFAULT_ENV_NAMES",
    "KINDS",
    "SecretInfo",
    "classify",
    "effective_env_pointer",
    "effective_secret",
    "env_name_problem",
    "example_env_name",
    "explicit_env_name",
    "pointer_name_fix",
    "looks_like_secret",
]

ENV = "env"
FILE = "file"
EXEC = "exec"
INLINE = "inline"
INVALID = "invalid"
ABSENT = "absent"
KINDS = (ENV, FILE, EXEC, INLINE, INVALID, ABSENT)

# loong fills these ``*_env`` siblings by serde default when the key is
# missing, so such a field is "present as a reference" even when the config
# says nothing. WhatsApp is in the spec; qqbot is in loong's code
# (config/channels_bridge.rs) and the spec defers to it for qqbot.
DEFAULT_ENV_NAMES: dict[tuple[str, str], str] = {
    ("whatsapp", "access_token"): "WHATSAPP_ACCESS_TOKEN",
    ("whatsapp", "phone_number_id"): "WHATSAPP_PHONE_NUMBER_ID",
    ("whatsapp", "verify_token"): "WHATSAPP_VERIFY_TOKEN",
    ("whatsapp", "app_secret"): "WHATSAPP_APP_SECRET",
    ("qqbot", "app_id"): "QQBOT_APP_ID",
    ("qqbot", "client_secret"): "QQBOT_CLIENT_SECRET",
    # crates/app/src/config/channels.rs:1543 (default_webhook_signing_secret_env)
    ("webhook", "signing_secret"): "WEBHOOK_SIGNING_SECRET",
}


@record
class SecretInfo:
    """What a secret field refers to.

    ``ref``: the variable name (env), the path (file) or the argv tuple
    (exec); ``None`` for inline, invalid and absent, so an inline literal
    can never travel inside this object. ``problem``: why the value is
    invalid (no secret content in it). ``field``: the key the reference was
    read from (the field itself or its ``<field>_env`` sibling); empty when
    it came from a built-in default variable name.
    """

    kind: str
    ref: str | tuple[str, ...] | None = None
    problem: str | None = None
    field: str = ""

    @property
    def present(self) -> bool:
        """The config names some source for this secret (even a broken one)."""
        return self.kind != ABSENT


# loong's looks_like_compatible_env_name for explicit references in string
# form ("$NAME", "env:NAME", "%NAME%"): a strict POSIX-ish name
# (crates/contracts/src/secret_ref.rs:271).
_STRICT_NAME = lazy(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The looser name an env *pointer* may hold: loong's
# looks_like_compatible_env_name in crates/app/src/config/shared.rs:801
# (ASCII letter, digit or _ first; then also - and .).
_POINTER_NAME = CharsetName(ALNUM + "_", ALNUM + "_.-")  # [A-Za-z0-9_][A-Za-z0-9_.\-]*\Z
_SECRET_PREFIXES = ("sk-", "rk-", "pk-", "ya29.", "bearer ", "ghp_", "glpat-")
_TOKEN_PUNCT = frozenset("-.:/+")
_HEX = frozenset("0123456789abcdefABCDEF")


def _strict_name(raw: str) -> str | None:
    name = raw.strip()
    return name if _STRICT_NAME.match(name) else None


def explicit_env_name(value: str) -> str | None:
    """The variable named by ``$NAME``, ``${NAME}``, ``env:NAME`` or ``%NAME%``.

    Only the whole string counts (surrounding whitespace aside, as loong
    trims); there is no interpolation inside longer strings.
    """
    text = value.strip()
    if text.startswith("$"):
        rest = text[1:].strip()
        if rest.startswith("{") and rest.endswith("}"):
            rest = rest[1:-1]
        return _strict_name(rest) if rest else None
    if text[:4].lower() == "env:":
        return _strict_name(text[4:])
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        return _strict_name(text[1:-1])
    return None


def _looks_like_telegram_bot_token(text: str) -> bool:
    # loong: crates/app/src/config/shared.rs:812 (6-12 digits, ':', then 12+
    # ASCII letters, digits, '_' or '-').
    left, sep, right = text.partition(":")
    if not sep or not (6 <= len(left) <= 12) or not (left.isascii() and left.isdigit()):
        return False
    return len(right) >= 12 and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in right)


def _looks_like_uuid(text: str) -> bool:
    # loong: crates/app/src/config/shared.rs:785 (8-4-4-4-12 hex groups).
    groups = text.split("-")
    return [len(g) for g in groups] == [8, 4, 4, 4, 12] and all(set(g) <= _HEX for g in groups)


def pointer_name_fix(value: str) -> str | None:
    """The one right variable name for an env pointer written in shell or
    Windows notation (``$NAME``, ``${NAME}``, ``%NAME%``), the same name
    the GW210 message suggests; None when the value gives no usable name
    (an assignment, a pasted secret, anything else): those stay a hint."""
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("$"):
        rest = text[1:].strip()
        if rest.startswith("{") and rest.endswith("}"):
            rest = rest[1:-1].strip()
    elif len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        rest = text[1:-1].strip()
    else:
        return None
    if _assignment_name(text) is not None:
        return None
    if rest and _POINTER_NAME.match(rest) and not looks_like_secret(rest):
        return rest
    return None


def looks_like_secret(value: str, *, telegram: bool = False) -> bool:
    """The value has the shape of a credential rather than a variable name.

    loong's looks_like_secret_literal (crates/app/src/config/shared.rs:748):
    known token prefixes; a Telegram bot token (only for Telegram's own
    fields, ``telegram=True``); a UUID; otherwise a valid variable name is
    never a secret, however long, and anything else of 24+ characters with
    ``-``, ``.``, ``:``, ``/`` or ``+`` is.
    """
    text = value.strip()
    if not text:
        return False
    if text.lower().startswith(_SECRET_PREFIXES):
        return True
    if telegram and _looks_like_telegram_bot_token(text):
        return True
    if _looks_like_uuid(text):
        return True
    if _POINTER_NAME.match(text):
        return False
    return len(text) >= 24 and any(ch in _TOKEN_PUNCT for ch in text)


def example_env_name(family: str | None, field: str | None) -> str:
    """A conventional variable name for a field, used in suggested fixes."""
    parts = [p for p in (family, field) if p]
    if not parts:
        return "MY_SECRET"
    name = "_".join(parts).upper()
    if name.endswith("_ENV"):
        name = name[:-4]
    import re

    return re.sub(r"[^A-Z0-9_]", "_", name)


def _assignment_name(text: str) -> str | None:
    """``NAME`` when the text is ``NAME=VALUE`` (also ``export``/``set`` forms)."""
    name, sep, value = text.partition("=")
    if not sep:
        return None
    name = name.strip()
    low = name.lower()
    if low.startswith("export ") and len(name) > 7:
        name = name[7:].strip()
    elif low.startswith("set ") and len(name) > 4:
        name = name[4:].strip()
    if not name or not value.strip():
        return None
    return name


def env_name_problem(
    name, *, example: str = "MY_SECRET", inline_field: str | None = None, telegram: bool = False
) -> str | None:
    if not isinstance(name, str):
        return None
    # Pure in its arguments, and the same variable names recur across the
    # files of a sweep: cached.
    return _env_name_problem(name, example, inline_field, telegram)


@functools.lru_cache(maxsize=4096)
def _env_name_problem(name: str, example: str, inline_field: str | None, telegram: bool = False) -> str | None:
    """Why an env pointer value is not a plain variable name, with the fix.

    Checks, in loong's order (validate_env_pointer_field,
    crates/app/src/config/shared.rs:623): ``KEY=VALUE``; a leading ``$``;
    ``%NAME%``; a value that looks like a secret itself (a Telegram token
    shape only when ``telegram``); an invalid name. Returns None
    for a good name and for a blank value (blank means "not set").
    ``example`` is the variable name to suggest when the value gives none;
    ``inline_field`` names the field a pasted literal could move to.
    The message never repeats the value, except a variable name recovered
    from it (which is a name, not a secret).
    """
    if not isinstance(name, str):
        return None
    text = name.strip()
    if not text:
        return None

    assigned = _assignment_name(text)
    if assigned is not None:
        suggestion = assigned if _POINTER_NAME.match(assigned) and not looks_like_secret(assigned) else example
        return (
            f"holds an assignment (KEY=VALUE), not a variable name; "
            f'use "{suggestion}" and put the value in that environment variable'
        )
    if text.startswith("$"):
        rest = text[1:].strip()
        if rest.startswith("{") and rest.endswith("}"):
            rest = rest[1:-1].strip()
        suggestion = rest if rest and _POINTER_NAME.match(rest) and not looks_like_secret(rest) else example
        return f'names the variable with a leading "$"; write just the name: "{suggestion}"'
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        rest = text[1:-1].strip()
        suggestion = rest if rest and _POINTER_NAME.match(rest) and not looks_like_secret(rest) else example
        return f'uses %NAME% notation; write just the name: "{suggestion}"'
    if looks_like_secret(text, telegram=telegram):
        where = f"move the value into the environment (or to {inline_field})" if inline_field else "move the value into the environment"
        return f'looks like a secret pasted where a variable name belongs; {where} and reference it by name, e.g. "{example}"'
    if not _POINTER_NAME.match(text):
        return (
            "is not a valid environment variable name (letters, digits and _ , then also - or .); "
            f'use a name like "{example}"'
        )
    return None


def classify(value) -> SecretInfo:
    """Classify one secret-reference value as written in the config."""
    if value is None:
        return SecretInfo(ABSENT)
    if isinstance(value, str):
        if not value.strip():
            return SecretInfo(ABSENT)
        name = explicit_env_name(value)
        if name is not None:
            return SecretInfo(ENV, name)
        return SecretInfo(INLINE)
    if isinstance(value, Mapping):
        return _classify_table(value)
    return SecretInfo(INVALID, problem="a secret reference must be a string or a table with one of env, file, exec")


def _set_keys(table: Mapping) -> list[str]:
    """The reference kinds a table sets, as loong's SecretRef reads it
    (crates/contracts/src/secret_ref.rs:142): a blank ``env`` or ``file`` is
    dropped, not counted; ``exec`` counts whenever it is written."""
    out = []
    for kind in (ENV, FILE, EXEC):
        if kind not in table:
            continue
        raw = table[kind]
        if kind != EXEC and isinstance(raw, str) and not raw.strip():
            continue
        out.append(kind)
    return out


def _classify_table(table: Mapping) -> SecretInfo:
    keys = set(table)
    unknown = sorted(str(k) for k in keys - {ENV, FILE, EXEC})
    if unknown:
        return SecretInfo(INVALID, problem=f"unknown key(s) {', '.join(unknown)}; use exactly one of env, file, exec")
    present = _set_keys(table)
    if len(present) != 1:
        return SecretInfo(INVALID, problem="a secret reference table needs exactly one of env, file, exec")
    (kind,) = present
    raw = table[kind]
    if kind == EXEC:
        if (
            not isinstance(raw, list)
            or not raw
            or not all(isinstance(a, str) for a in raw)
            or not raw[0].strip()
        ):
            return SecretInfo(INVALID, problem="exec needs a non-empty list of strings whose first item is the program")
        return SecretInfo(EXEC, tuple(raw))
    if not isinstance(raw, str) or not raw.strip():
        return SecretInfo(INVALID, problem=f"{kind} needs a non-blank string")
    if kind == FILE:
        return SecretInfo(FILE, raw.strip())
    problem = env_name_problem(raw)
    if problem is not None:
        return SecretInfo(INVALID, problem=f"env {problem}")
    return SecretInfo(ENV, raw.strip())


def table_env_name(table: Mapping) -> str | None:
    """The ``env`` a reference table resolves to (blank siblings dropped),
    or None when the table is not an env reference."""
    if set(table) - {ENV, FILE, EXEC} or _set_keys(table) != [ENV]:
        return None
    raw = table[ENV]
    return raw if isinstance(raw, str) else None


def effective_env_pointer(settings: Mapping, field: str, *, family: str | None = None) -> SecretInfo:
    """The ``<field>_env`` sibling (or its built-in default) as a reference."""
    env_field = f"{field}_env"
    if env_field in settings:
        raw = settings[env_field]
        if not isinstance(raw, str):
            # Ill-typed: the schema reports it; count it as "something was
            # configured" so the serving rules do not pile on.
            return SecretInfo(INVALID, problem=f"{env_field} must be a string", field=env_field)
        if not raw.strip():
            return SecretInfo(ABSENT, field=env_field)
        problem = env_name_problem(raw)
        if problem is not None:
            return SecretInfo(INVALID, problem=problem, field=env_field)
        return SecretInfo(ENV, raw.strip(), field=env_field)
    default = DEFAULT_ENV_NAMES.get((family or "", field))
    if default is not None:
        return SecretInfo(ENV, default)
    return SecretInfo(ABSENT, field=field)


def effective_secret(settings: Mapping, field: str, *, family: str | None = None) -> SecretInfo:
    """The reference an account actually uses for a secret field.

    The field itself wins unless it is absent or blank; then its
    ``<field>_env`` sibling; then the family's built-in default variable
    name (WhatsApp, qqbot), which applies only when the sibling key is
    missing altogether (a blank sibling means "no reference").
    """
    info = classify(settings.get(field))
    if info.kind != ABSENT:
        return SecretInfo(info.kind, info.ref, info.problem, field)
    return effective_env_pointer(settings, field, family=family)
