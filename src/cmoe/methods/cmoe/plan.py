"""cmoe: one specialist per domain group, each trained on that group's teacher traces; the
routed mixture of specialists (oracle and learned routing); students learn from the union of
the specialists' own correct traces."""

from __future__ import annotations

from ...core import paths
from ...core.jobs import Block, Pair, Subset
from ...core.paths import results_path
from ...core.planning import Builder
from ..direct.plan import NAME as BASELINE
from .jobs import MixtureJob
from .settings import misroutes_file, router_settings, routes_file, specialist_groups

NAME = "cmoe"
ROUTINGS = ("oracle", "learned", "misrouted")


def routings(config: dict) -> dict[str, str | None]:
    """Each planned routing and its routes file (None: oracle, by the question's domain);
    misrouting, a negative control, only when ``router.misrouted_control`` asks for it."""
    ns = config["namespace"]
    out = {"oracle": None, "learned": routes_file(ns)}
    if router_settings(config).misrouted_control:
        out["misrouted"] = misroutes_file(ns)
    return out


def plan(b: Builder) -> None:
    # the router learns from the questions alone: one per run, whatever the replicate
    b.note("Learned router accuracy on the test split", routes_file(b.shared_ns))
    for teacher in b.teachers:
        for intermediate in b.intermediates:
            _plan_chain(b, teacher, intermediate)


def specialists(b: Builder, teacher: str, intermediate: str, evaluate: bool = True) -> list[dict]:
    """Plan each group's specialist and its own traces (shared with cmoe-kd and seq2seq; jobs
    are keyed by output, so they are planned once); per group:
    its model, its kept traces, its predictions on the questions it serves (``evaluate``)
    and its cost chain up to its traces."""
    groups = specialist_groups(b.config)
    entry = b.config["intermediates"][intermediate]
    out = []
    for group, domains in groups.items():
        where = (teacher, intermediate, group)
        own = entry.get("specialists", {}).get(group, {}).get("train")
        specialist = b.train(
            paths.models(b.ns, "specialist", *where),
            entry["model"],
            b.teacher_traces(teacher, domains),
            "intermediates",
            intermediate,
            own,
            run_name=f"specialist-{teacher}-{intermediate}-{group}",
        )
        stem = paths.traces(b.ns, "specialist", *where)
        cost = b.generate(stem, specialist, domains, entry, f"intermediates.{intermediate}")
        evaluated = None
        if evaluate:
            routes = tuple(r for r in routings(b.config).values() if r)
            subset = Subset(group, groups, routes)
            key = paths.evaluation(b.ns, "specialist", *where)
            evaluated = b.evaluate(key, specialist, subset)
        out.append(
            {
                "group": group,
                "model": specialist,
                "traces": results_path(stem) + ".jsonl",
                "predictions": f"{evaluated}/predictions.jsonl" if evaluated else None,
                "branch": [{"par": b.teacher_costs(teacher, domains)}, specialist.path, cost],
            }
        )
    return out


def _plan_chain(b: Builder, teacher: str, intermediate: str) -> None:
    planned = specialists(b, teacher, intermediate)
    branches = [s["branch"] for s in planned]
    traces = [s["traces"] for s in planned]
    predictions = {s["group"]: s["predictions"] for s in planned}
    groups = specialist_groups(b.config)

    mixture_chain = {"par": [{"seq": branch[:2]} for branch in branches]}
    labels = {"method": NAME, "teacher": teacher, "via": intermediate}
    mixtures = {}
    for routing, routes in routings(b.config).items():
        key = paths.evaluation(b.ns, "mixture", teacher, intermediate, routing)
        b.add_job("mixture", MixtureJob(key, predictions, groups, routes, routing))
        model = f"mixture:{routing}"
        # A mixture composes the specialists' answers: there is no one model to score by
        # log-likelihood; it is compared with the generalist it stands against.
        b.row(
            key,
            None,
            {**labels, "model": model},
            mixture_chain,
            loglik=False,
            reference_model=intermediate,
        )
        mixtures[routing] = (NAME, teacher, intermediate, model)
    generalist = (BASELINE, teacher, "-", intermediate)
    oracle = mixtures["oracle"]
    b.block(
        Block(
            title=f"Teacher `{teacher}`, intermediate `{intermediate}`",
            lines=(
                (f"{BASELINE}: {intermediate} on undivided data", generalist),
                ("CMoE mixture, oracle routing (each domain: its specialist)", oracle),
                ("CMoE mixture, learned routing", mixtures["learned"]),
            ),
            delta=(f"Δ CMoE (oracle) − {BASELINE}, points", oracle, generalist),
            pair=Pair(f"CMoE (oracle) − {BASELINE}", oracle, generalist),
            cost=(f"Training cost, {BASELINE} ÷ CMoE", generalist, oracle),
        )
    )
    b.pair("CMoE mixture (oracle routing)", oracle, generalist, headline=True)
    # each specialist against the generalist on the questions it serves (oracle routing sends
    # them all to it): where a specialist is better than one model of the undivided data
    for group, domains in groups.items():
        b.pair(
            f"{group} specialist − {BASELINE} {intermediate} ({teacher})",
            oracle,
            generalist,
            items=("domain", tuple(domains)),
        )
    b.pair(
        f"CMoE learned − oracle routing ({teacher}, {intermediate})",
        mixtures["learned"],
        oracle,
    )
    if "misrouted" in mixtures:
        b.pair(
            f"CMoE oracle − misrouted ({teacher}, {intermediate})",
            oracle,
            mixtures["misrouted"],
            control=True,
        )

    with_traces = {"par": [{"seq": branch} for branch in branches]}
    for student in b.students:
        model = b.student(NAME, teacher, intermediate, student, traces)
        labels = {"method": NAME, "teacher": teacher, "via": intermediate, "model": student}
        key = paths.evaluation(b.ns, f"student/{NAME}", teacher, intermediate, student)
        b.row(key, model, labels, {"seq": [with_traces, model.path]})
        b.pair(
            f"{student}, {NAME} via {intermediate} − {BASELINE} ({teacher})",
            (NAME, teacher, intermediate, student),
            (BASELINE, teacher, "-", student),
        )
