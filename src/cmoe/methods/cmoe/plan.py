"""cmoe: one specialist per domain group, each trained on that group's teacher traces; the
routed mixture of specialists (oracle and learned routing); students learn from the union of
the specialists' own correct traces."""

from __future__ import annotations

from ...core import paths
from ...core.jobs import Block, Model, Pair, Subset
from ...core.paths import TEST_SPLIT, results_path
from ...core.planning import Builder
from ..roles import BASELINE
from ..roles import SPECIALISTS as NAME
from ..roles.jobs import AdaptersJob
from ..roles.specialists import one_engine, specialist_groups, specialists
from .jobs import MixtureJob
from .settings import misroutes_file, router_settings, routes_file

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


def _evaluate_specialists(
    b: Builder, where, base: Model, models: dict[str, Model]
) -> dict[str, str]:
    """Each specialist on the test questions it serves (its domains', and those any routing
    sends it): {group: its evaluation folder}."""
    groups = specialist_groups(b.config)
    routes = tuple(r for r in routings(b.config).values() if r)
    evaluation = b.config["evaluation"]
    generation = b.generation(evaluation, "evaluate")
    if not one_engine(b, models, generation):
        return {
            g: b.evaluate(
                paths.evaluation(b.ns, "specialist", *where, g), m, Subset(g, groups, routes)
            )
            for g, m in models.items()
        }
    job = AdaptersJob(
        paths.join(b.ns, "eval", "specialist", *where),
        base,
        tuple(models.items()),
        groups,
        generation,
        b.prompt(),
        b.resources("evaluate"),
        questions=TEST_SPLIT,
        routes=routes,
        samples=evaluation["samples"],
    )
    b.add_job("specialist_evaluations", job)
    return {g: results_path(paths.evaluation(b.ns, "specialist", *where, g)) for g in groups}


def _plan_chain(b: Builder, teacher: str, intermediate: str) -> None:
    planned = specialists(b, teacher, intermediate)
    base = b.model(b.config["intermediates"][intermediate]["model"])
    models = {s["group"]: s["model"] for s in planned}
    evaluated = _evaluate_specialists(b, (teacher, intermediate), base, models)
    branches = [s["branch"] for s in planned]
    traces = [s["traces"] for s in planned]
    predictions = {g: f"{folder}/predictions.jsonl" for g, folder in evaluated.items()}
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
