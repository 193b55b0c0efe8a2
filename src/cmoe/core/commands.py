"""The `cmoe` subcommands' registry and the argument types every stage shares.

A subcommand is a handler decorated with :func:`command`, which names it, its help and the
function that declares its arguments (written right above the handler). Stages register theirs
in :mod:`cmoe.cli`, methods in their own ``commands`` module; the CLI lists them in the order
they were registered: the pipeline's. Settings arrive as JSON and are turned into their typed
dataclass at parse time, so a bad value is a one-line error naming the key before anything is
loaded.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError
from .settings import from_dict

COMMANDS: list[Command] = []


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], None]


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated handler as subcommand ``name``."""

    def register(handler):
        if any(c.name == name for c in COMMANDS):
            raise ValueError(f"subcommand {name!r} is registered twice")
        COMMANDS.append(Command(name, help, arguments, handler))
        return handler

    return register


def json_object(value: str) -> dict:
    """A JSON object given inline or as @file."""
    try:
        text = Path(value[1:]).read_text("utf-8") if value.startswith("@") else value
        obj = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return obj


def settings(cls: type, where: str):
    """An argparse type: JSON -> ``cls`` (typed settings, defaults filled in)."""

    def parse(value: str):
        try:
            return from_dict(cls, json_object(value), where)
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = cls.__name__  # argparse names the type in its messages
    return parse


_DEFAULTS = object()  # settings_argument's default: the class's own defaults


def settings_argument(
    p: argparse.ArgumentParser,
    flag: str,
    cls: type,
    where: str,
    help: str = "(JSON)",
    *,
    required: bool = False,
    default=_DEFAULTS,
) -> None:
    """Argument ``flag``: a JSON object parsed into settings ``cls`` (``where``, its config key,
    names a bad value); left out, ``cls``'s defaults (or ``default``), unless ``required``."""
    kwargs = (
        {"required": True} if required else {"default": cls() if default is _DEFAULTS else default}
    )
    p.add_argument(flag, type=settings(cls, where), help=help, **kwargs)


def prompt_argument(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--prompt``: the config's `prompt` section, as every job that builds a prompt takes it."""
    from .prompting import PromptSettings

    help = "the config's `prompt` section (JSON)"
    settings_argument(p, "--prompt", PromptSettings, "prompt", help, required=required)


def key_value(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def shard(value: str) -> tuple[int, int]:
    index, sep, count = value.partition("/")
    try:
        parsed = int(index), int(count)
    except ValueError:
        parsed = None
    if not sep or parsed is None or not 0 <= parsed[0] < parsed[1]:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {value!r}")
    return parsed


def model_arguments(p: argparse.ArgumentParser, prompt: bool = False) -> None:
    """The arguments of every job that loads a model (``prompt``: and builds prompts for it)."""
    if prompt:
        prompt_argument(p)
    p.add_argument("--model", required=True, help="hub id, local model folder or LoRA adapter")
    p.add_argument(
        "--revision",
        default=None,
        help="a hub id's commit, tag or branch (default: main), resolved to a commit when the "
        "job starts, loaded and recorded in its outputs; not for local folders",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow model code from the hub (off unless the config asks)",
    )
    p.add_argument(
        "--arch",
        choices=["causal", "seq2seq"],
        default="causal",
        help="what the model is declared to be (its `models` entry's arch): checked against "
        "its config.json before anything else runs",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)
