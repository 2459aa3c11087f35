"""Settings from a TOML file and `TILLIT_*` environment variables, where every mistake is one line.

`FileSettings` is the base of every Tillit settings class (`tillit.hsm.settings.TillitSettings`,
`tillit.kiosk.settings.KioskSettings`). Values come from, highest first: the arguments the code
passes (command-line options), the environment, the TOML file, the defaults. Every mistake an
administrator can make in them raises `ConfigError`, whose message is one line naming the file or
variable, what is wrong and how to fix it:

- the file named by its variable (`TILLIT_CONFIG`, `TILLIT_KIOSK_CONFIG`) does not exist;
- the file is not TOML (the line and column of the first error);
- a key in the file is no setting (with the nearest known key, when one is close);
- a value is not valid for its setting (the variable or file key it came from, and what it takes).

An environment variable with the class's prefix that is no setting is only warned about (one line
on stderr, once per process): other Tillit programs and test kits read variables of their own.
This module imports none of Tillit's packages, so that all of them may import it.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource


def given_home(value: object) -> object:
    """`TILLIT_HOME` as every command takes it (a pydantic "before" validator): an empty value is
    refused, where a Path would make it the current directory and Tillit would make that private."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty: give the data directory, or unset it for ~/.local/share/tillit")
    return value


def known_database_url(url: str | None) -> str | None:
    """`TILLIT_DATABASE_URL` as every command takes it: None when unset or empty, a postgresql://
    (or postgres://) URL, or sqlite:///PATH; ValueError for anything else, so that a misspelt
    scheme is not taken for a SQLite file name (a CA ledger of its own, say)."""
    if not url:
        return None
    if url.startswith(("postgresql://", "postgres://")) or (url.startswith("sqlite:///") and len(url) > 10):
        return url
    raise ValueError("give a postgresql://... URL, or sqlite:///PATH, or leave it unset for SQLite in the home")


class ConfigError(Exception):
    """A setting, a settings file or the variable naming it is wrong; the message is one line."""


def read_toml(path: Path, named_by: str | None) -> dict[str, Any]:
    """The TOML file's table: {} when the file is absent from its default place (`named_by` None);
    ConfigError when the variable `named_by` names a missing file, or the file is not TOML."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        if named_by is None:
            return {}
        raise ConfigError(f"{named_by}={path}: no such file; create it, or unset {named_by}") from None
    except NotADirectoryError:
        # Its default place is in TILLIT_HOME: that (or a folder above it) is a file.
        raise ConfigError(f"{path.parent} is a file, not a directory: TILLIT_HOME names the data directory") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the settings file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {_toml_problem(str(e))}") from None


def _toml_problem(message: str) -> str:
    """tomllib's 'Problem (at line 3, column 7)' as 'line 3, column 7: problem'."""
    found = re.fullmatch(r"(?s)(.*?) \(at (line \d+, column \d+|end of document)\)", message)
    if not found:
        return message
    problem, where = found.groups()
    return f"{where}: {problem[:1].lower()}{problem[1:]}"


def refuse_unknown_keys(path: Path, data: Mapping[str, Any], known: Collection[str], listed_by: str) -> None:
    """ConfigError for the first key of the file that is no setting, with the nearest known one."""
    for key in data:
        if key in known:
            continue
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"{listed_by} lists the settings"
        raise ConfigError(f"{path}: '{key}' is not a setting; {hint}")


_warned: set[str] = set()


def warn_unknown_variables(prefix: str, known: Collection[str], others: Collection[str]) -> None:
    """One line on stderr, once per process and variable, for each `prefix*` environment variable
    that is neither in `known` nor starts with one of `others` (names or prefixes other programs read)."""
    upper_known = {name.upper() for name in known}
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(prefix) or upper in upper_known or upper.startswith(tuple(others)):
            continue
        if name in _warned:
            continue
        _warned.add(name)
        close = difflib.get_close_matches(upper, list(upper_known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"tillit: warning: {name} is not a setting and is ignored{hint}", file=sys.stderr)


class FileSettings(BaseSettings):
    """Settings from arguments, then `env_prefix` environment variables, then a TOML file; every
    mistake in them a `ConfigError`. A subclass says where its file is (`settings_file`)."""

    listed_by: ClassVar[str] = "docs/operations.md"
    """Where an administrator finds every setting, named when a key in the file is unknown."""

    @classmethod
    def settings_file(cls) -> tuple[Path, str | None]:
        """The TOML file, and the environment variable that named it (None: the default place)."""
        raise NotImplementedError

    @classmethod
    def file_keys(cls) -> Collection[str] | None:
        """The keys the file may hold; None: keys the class does not read are left alone."""
        return set(cls.model_fields)

    @classmethod
    def shown(cls, name: str, value: Any) -> str:
        """How a refused value of setting `name` is quoted in the one-line error (`repr` unless a
        subclass hides part of it, a password in a URL say)."""
        return repr(value)

    @classmethod
    def warn_about_environment(cls) -> None:
        """Warn about variables with the class's prefix that are no setting (nothing by default)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigError(_describe(type(self), e, values)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path, named_by = cls.settings_file()
        data = read_toml(path, named_by)
        known = cls.file_keys()
        if known is not None:
            refuse_unknown_keys(path, data, known, cls.listed_by)
        cls.warn_about_environment()
        return (init_settings, env_settings, InitSettingsSource(settings_cls, data))


def _describe(cls: type[FileSettings], error: ValidationError, given: Mapping[str, Any]) -> str:
    """The first invalid value as one line: where it came from, what is wrong, what to do."""
    problems = error.errors()
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    reason = str(first["msg"]).removeprefix("Value error, ")  # a validator's own words say it all
    path, _ = cls.settings_file()
    if not first["loc"]:  # a rule between settings: no one value to blame
        prefix = cls.model_config.get("env_prefix", "")
        return f"settings ({path} and {prefix}* variables): {reason[:1].lower()}{reason[1:]}{more}"
    name, field = _field_of(cls, str(first["loc"][0]))
    variables = _variables(cls, name, field)
    variable = next((v for v in os.environ if v.upper() in variables), None)
    secret = field is not None and "Secret" in str(field.annotation)
    value = "'***'" if secret else cls.shown(name, first.get("input"))
    default_value = None if field is None else field.get_default(call_default_factory=True)
    default = "" if default_value is None else f" for the default {default_value!r}"
    if name in given:
        source, undo = f"{name}={value} (given on the command line)", f"; give {_expected(field)}"
    elif first["type"] == "value_error":  # the validator said what to set: only where it came from
        source = f"{variable}={value} (environment)" if variable is not None else f"{name} = {value} in {path}"
        undo = ""
    elif variable is not None:
        source = f"{variable}={value} (environment)"
        undo = f"; set {_expected(field)}, or unset {variable}{default}"
    else:
        source = f"{name} = {value} in {path}"
        undo = f"; set {_expected(field)}, or remove the line{default}"
    return f"{source}: {reason[:1].lower()}{reason[1:]}{undo}{more}"


def _field_of(cls: type[FileSettings], loc: str) -> tuple[str, FieldInfo | None]:
    """The field an error's location names, by its name or one of its aliases."""
    for name, field in cls.model_fields.items():
        aliases = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        if loc == name or loc in aliases:
            return name, field
    return loc, None


def _variables(cls: type[FileSettings], name: str, field: FieldInfo | None) -> set[str]:
    """The environment variables (upper case) a field is read from."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    found = {f"{prefix}{name}".upper()}
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        found.update(str(choice).upper() for choice in field.validation_alias.choices)
    return found


def _expected(field: FieldInfo | None) -> str:
    """What a field takes, in words."""
    annotation = field.annotation if field is not None else None
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(annotation))
    words = {bool: "true or false", int: "a whole number", float: "a number", Path: "a path", str: "a text"}
    return words.get(annotation, "a valid value") if isinstance(annotation, type) else "a valid value"
