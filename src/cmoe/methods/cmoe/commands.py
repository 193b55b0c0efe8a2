"""CMoE's subcommands: the learned router, and the routed mixture of specialists."""

from __future__ import annotations

import logging

from ...core.commands import command, json_object, key_value
from ...data.questions import read_questions
from .settings import RouterSettings

log = logging.getLogger("cmoe")


def _route_args(p):
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--seed", type=int, default=RouterSettings().seed)
    p.add_argument("--out", required=True, help="routes + router accuracy (JSON)")


@command(
    "route", "train a question-text router on the train split and route the test split", _route_args
)
def route(args) -> None:
    from .routing import route

    result = route(read_questions(args.train), read_questions(args.test), args.out, args.seed)
    log.info("router accuracy on the test split: %.3f (n=%d)", result["accuracy"], result["n"])


def _misroute_args(p):
    p.add_argument("--test", required=True)
    p.add_argument("--groups", type=json_object, required=True)
    p.add_argument("--out", required=True, help="routes (JSON)")


@command(
    "misroute",
    "a negative control: route each test question to the next group's specialist",
    _misroute_args,
)
def misroute(args) -> None:
    from .routing import misroute

    result = misroute(read_questions(args.test), args.groups, args.out)
    log.info("misrouted %d questions", result["n"])


def _mixture_args(p):
    p.add_argument("--questions", required=True, help="the test split")
    p.add_argument(
        "--predictions",
        type=key_value,
        nargs="+",
        required=True,
        help="GROUP=predictions.jsonl of each specialist",
    )
    p.add_argument("--groups", type=json_object, required=True)
    p.add_argument(
        "--routes", help="learned (or misrouted) routes; without it, oracle routing by subject"
    )
    p.add_argument(
        "--routing",
        choices=["oracle", "learned", "misrouted"],
        required=True,
        help="the routing's name in the scores",
    )
    p.add_argument("--predictions-out", required=True)
    p.add_argument("--scores", required=True)


@command(
    "mixture", "score the routed mixture of specialists (oracle or learned routing)", _mixture_args
)
def mixture(args) -> None:
    from ...evaluation.subsets import load_routes
    from .mixture import score_mixture

    scores = score_mixture(
        questions=read_questions(args.questions),
        predictions=dict(args.predictions),
        groups=args.groups,
        routes=load_routes(args.routes) if args.routes else None,
        routing=args.routing,
        predictions_out=args.predictions_out,
        scores_out=args.scores,
    )
    log.info("mixture accuracy %.3f", scores["overall"]["accuracy"])
