"""``ledger completion bash|zsh|fish``: a shell completion script, written from the parser itself,
so it always knows every command, option and choice of the ``ledger`` that printed it.

bash: ``eval "$(ledger completion bash)"`` in ~/.bashrc (or save it as
~/.local/share/bash-completion/completions/ledger); zsh: ``eval "$(ledger completion zsh)"`` in
~/.zshrc (the bash function through zsh's ``bashcompinit``); fish: ``ledger completion fish >
~/.config/fish/completions/ledger.fish``.
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
from typing import Any

from ledger.cli.common import EXIT_OK
from ledger.cli.parser import options, subcommands, walk

SHELLS = ("bash", "zsh", "fish")


def _choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """The options of ``parser`` that take one of a fixed set of values, with those values."""
    return {
        option: [str(c) for c in action.choices]
        for option, action in parser._option_string_actions.items()
        if option.startswith("--") and action.choices
    }


def _positional_choices(parser: argparse.ArgumentParser) -> list[str]:
    return [
        str(c)
        for action in parser._actions
        if not action.option_strings
        and action.choices
        and not isinstance(action, argparse._SubParsersAction)
        for c in action.choices
    ]


def _summary(text: str | None, fallback: str) -> str:
    return textwrap.shorten((text or fallback).split(". ")[0].split("; ")[0], 60, placeholder="…")


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash completion function: subcommands, then options; an option's choices after it;
    files otherwise (``complete -o default``)."""
    levels, values = [], []
    for path, sub in walk(parser):
        key = " ".join(path)
        words = shlex.quote(" ".join([*subcommands(sub), *_positional_choices(sub)]))
        opts = shlex.quote(" ".join(options(sub)))
        levels.append(f"        {shlex.quote(key)}) words={words} opts={opts} ;;")
        for option, choices in _choices(sub).items():
            case = shlex.quote(f"{key}|{option}")
            values.append(f"        {case}) words={shlex.quote(' '.join(choices))} ;;")
    known = "|".join(shlex.quote(" ".join(path)) for path, _ in walk(parser) if path)
    return f"""# ledger completion for bash: eval "$(ledger completion bash)"
_ledger() {{
    # $2: the word being completed, $3: the one before (bash's and zsh's bashcompinit alike);
    # no variable named "path": zsh ties it to $PATH
    local cur="$2" prev="$3" at="" next words="" opts="" w
    for w in "${{COMP_WORDS[@]:1:$((COMP_CWORD - 1))}}"; do
        next="${{at:+$at }}$w"
        case "$next" in {known}) at="$next" ;; esac
    done
    case "$at|$prev" in
{chr(10).join(values)}
    esac
    if [[ -z "$words" ]]; then
        case "$at" in
{chr(10).join(levels)}
        esac
        [[ "$cur" != -* ]] || words="$opts"
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _ledger ledger
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    return (
        '# ledger completion for zsh: eval "$(ledger completion zsh)"\n'
        "autoload -Uz bashcompinit && bashcompinit\n" + bash_script(parser).split("\n", 1)[1]
    )


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(parser: argparse.ArgumentParser) -> str:
    lines = ["# ledger completion for fish: ledger completion fish > ledger.fish, under"]
    lines.append("# ~/.config/fish/completions/")
    for path, sub in walk(parser):
        children = subcommands(sub)
        if not path:
            condition = "__fish_use_subcommand"
        else:
            condition = f"__fish_seen_subcommand_from {path[-1]}"
            if children:
                condition += f"; and not __fish_seen_subcommand_from {' '.join(children)}"
        for name, child in children.items():
            lines.append(
                f"complete -c ledger -f -n {_fish_quote(condition)} -a {name}"
                f" -d {_fish_quote(_summary(child.description, name))}"
            )
        positional = _positional_choices(sub)
        if positional:
            lines.append(
                f"complete -c ledger -f -n {_fish_quote(condition)}"
                f" -a {_fish_quote(' '.join(positional))}"
            )
        choices = _choices(sub)
        for action in sub._actions:
            for option in action.option_strings:
                if not option.startswith("--") or option == "--help":
                    continue
                spec = f"complete -c ledger -n {_fish_quote(condition)} -l {option[2:]}"
                if option in choices:
                    spec += f" -x -a {_fish_quote(' '.join(choices[option]))}"
                elif action.nargs != 0:
                    spec += " -r"
                if action.help:
                    text = sub._get_formatter()._expand_help(action)  # %(default)s filled in
                    spec += f" -d {_fish_quote(_summary(text, option))}"
                lines.append(spec)
    return "\n".join(lines) + "\n"


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def cmd_completion(args: argparse.Namespace) -> int:
    """Print a shell completion script for ledger (bash, zsh or fish)."""
    print(SCRIPTS[args.shell](args.parser), end="")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help=cmd_completion.__doc__,
        description=f'{cmd_completion.__doc__} bash: eval "$(ledger completion bash)" in'
        ' ~/.bashrc; zsh: eval "$(ledger completion zsh)" in ~/.zshrc; fish: ledger completion'
        " fish > ~/.config/fish/completions/ledger.fish",
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=cmd_completion)
