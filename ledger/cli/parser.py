"""The ``ledger`` argument parser: argparse, with "did you mean" for mistyped commands, choices and
options, as git and gh do (``ledger stauts`` -> ``did you mean 'status'?``).

argparse reports an unknown option only after everything else, and often first complains about
a required option the typo was meant to be; so unknown ``--options`` are looked for before
parsing (``check_options``), against the options of the (sub)command the words name.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterator, Sequence
from typing import NoReturn

_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)")


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``""`` when none is close."""
    lowered = {c.lower(): c for c in candidates}
    close = [lowered[word.lower()]] if word.lower() in lowered else []
    close = close or difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


class LedgerParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors suggest the closest valid word; subparsers are of the same
    class (argparse makes them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        match = _INVALID_CHOICE.search(message)
        if match is not None:
            choices = [c.strip(" '") for c in match.group("choices").split(",")]
            message += did_you_mean(match.group("value"), choices)
        super().error(message)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--long`` option the parser takes."""
    return [o for o in parser._option_string_actions if o.startswith("--")]


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's words and parser, the top-level parser first."""
    yield path, parser
    for name, sub in subcommands(parser).items():
        yield from walk(sub, (*path, name))


def check_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Exit 2 with a suggestion at the first ``--option`` that the (sub)command named by the
    words before it does not take (an unambiguous prefix of one is fine: argparse takes it)."""
    current = parser
    for word in argv:
        if word == "--":
            return
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            known = options(current)
            if not any(k.startswith(name) for k in known):
                current.error(f"unknown option {name}{did_you_mean(name, known)}")
        elif not word.startswith("-"):
            current = subcommands(current).get(word, current)
