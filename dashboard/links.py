"""The page's address: the settings that differ from their defaults, read and written here.

A shared link must reopen the same view, and anyone can send a link: so every query
parameter is parsed by this module before any widget sees it. A value we cannot use
(``?seed=1e309``, ``?k=abc``, ``?color_space=<script>``) is dropped from the address with
a small notice naming the parameter; it never reaches a widget, whose own parsing could
fail with a page-killing error. Parameters that are not ours (Streamlit's ``embed``) are
left alone.

How it works. Each setting is declared once (:func:`choice`, :func:`integer`,
:func:`number`) with its allowed values and default. On a session's first run,
:func:`read_link` parses the address into remembered values. Before a widget is drawn,
:func:`prime` puts the remembered value into ``st.session_state`` (the widget is created
without a ``value=``, so Streamlit never warns about a value set twice); after it is drawn,
:func:`keep` remembers the widget's value and writes it to the address, or removes it
there when it is the default. Settings of a tab that is closed keep their place in the
address and their value for when it opens again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import streamlit as st

_STATE = "_link_values"


@dataclass(frozen=True)
class Setting:
    """How one setting is parsed from and written to the address."""

    key: str
    default: Any
    parse: Callable[[str], Any]  # raises ValueError for a value we cannot use
    text: Callable[[Any], str]


SETTINGS: dict[str, Setting] = {}


def _declare(setting: Setting) -> Setting:
    SETTINGS[setting.key] = setting
    return setting


def choice(
    key: str,
    options: Iterable[Any],
    default: Any,
    *,
    aliases: dict[str, Any] | None = None,
) -> Setting:
    """A setting with a fixed list of values; `aliases` maps other spellings (matched
    case-insensitively, e.g. a display label) to a value."""
    by_text = {str(option).casefold(): option for option in options}
    by_text.update({name.casefold(): value for name, value in (aliases or {}).items()})

    def parse(text: str) -> Any:
        try:
            return by_text[text.strip().casefold()]
        except KeyError:
            raise ValueError(key) from None

    return _declare(Setting(key, default, parse, str))


def integer(key: str, low: int, high: int, default: int) -> Setting:
    """A whole number from `low` to `high` (digits only: no ``1e9``, no ``inf``)."""

    def parse(text: str) -> int:
        text = text.strip()
        if not re.fullmatch(r"\d{1,12}", text) or not low <= int(text) <= high:
            raise ValueError(key)
        return int(text)

    return _declare(Setting(key, default, parse, str))


def number(key: str, low: float, high: float, default: float) -> Setting:
    """A finite decimal number from `low` to `high`."""

    def parse(text: str) -> float:
        text = text.strip()
        if not re.fullmatch(r"\d{1,9}(\.\d{1,9})?", text):
            raise ValueError(key)
        value = float(text)
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(key)
        return value

    return _declare(Setting(key, default, parse, lambda value: f"{value:g}"))


def hex_color(key: str, default: str) -> Setting:
    """A colour as ``#rrggbb`` (the ``#`` may be left out of the address)."""

    def parse(text: str) -> str:
        text = text.strip().lstrip("#").lower()
        if not re.fullmatch(r"[0-9a-f]{6}", text):
            raise ValueError(key)
        return f"#{text}"

    return _declare(Setting(key, default, parse, str))


def read_link() -> tuple[str, ...]:
    """On the session's first run, parse the address; return the names of the parameters
    that were dropped because their values could not be used."""
    if _STATE in st.session_state:
        return ()
    values = {key: setting.default for key, setting in SETTINGS.items()}
    dropped = []
    for key in list(st.query_params):
        setting = SETTINGS.get(key)
        if setting is None:
            continue
        try:
            values[key] = setting.parse(st.query_params[key])
        except ValueError:
            dropped.append(key)
            del st.query_params[key]
            continue
        if setting.text(values[key]) != st.query_params[key]:
            _write(key, values[key])  # e.g. a label where the address keeps the name
    st.session_state[_STATE] = values
    for key in dropped:
        st.toast(f"Ignored `{key}` in the link: its value is not one kseg can use.", icon="⚠️")
    return tuple(dropped)


def prime(key: str) -> None:
    """Before drawing the widget `key`: give it the remembered value (from the address, a
    previous run, or the default) unless it has one already."""
    if key not in st.session_state:
        st.session_state[key] = remembered(key)


def drawn(key: str, draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Draw the widget `key` (``draw(*args, key=key, **kwargs)``, e.g. ``st.slider``)
    with the value the address or the session gives it, and keep its value."""
    prime(key)
    value = draw(*args, key=key, **kwargs)
    keep(key, value)
    return value


def remembered(key: str) -> Any:
    """The value `key` has in the address (or its default)."""
    values = st.session_state.get(_STATE)
    return SETTINGS[key].default if values is None else values.get(key, SETTINGS[key].default)


def keep(key: str, value: Any) -> None:
    """After drawing the widget `key`: remember its value and put it in the address."""
    values = st.session_state.setdefault(_STATE, {})
    if values.get(key, SETTINGS[key].default) == value and _in_sync(key, value):
        return
    values[key] = value
    _write(key, value)


def _in_sync(key: str, value: Any) -> bool:
    setting = SETTINGS[key]
    if value == setting.default:
        return key not in st.query_params
    return st.query_params.get(key) == setting.text(value)


def _write(key: str, value: Any) -> None:
    setting = SETTINGS[key]
    if value == setting.default:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != setting.text(value):
        st.query_params[key] = setting.text(value)
