"""cmoe: one specialist per domain group, each trained on that group's teacher traces; the
routed mixture of specialists (oracle and learned routing); students learn from the union of
the specialists' own correct traces."""

from __future__ import annotations

from ..plan.jobs import MixtureJob, Row, Subset

NAME = "cmoe"
ROUTINGS = ("oracle", "learned")


def plan(b) -> None:
    ns = b.plan.namespace
    b.plan.routes = f"results/{ns}/router/routes.json"
    for teacher in b.teachers:
        for intermediate in b.intermediates:
            _plan_chain(b, ns, teacher, intermediate)


def specialists(b, teacher: str, intermediate: str, evaluate: bool = True) -> list[dict]:
    """Plan each group's specialist and its own traces (shared with cmoe-kd and seq2seq; jobs
    are keyed by output, so they are planned once); per group:
    its model, its kept traces, its predictions on the questions it serves (``evaluate``)
    and its cost chain up to its traces."""
    ns = b.plan.namespace
    entry = b.config["intermediates"][intermediate]
    out = []
    for group, domains in b.groups.items():
        where = f"{teacher}/{intermediate}/{group}"
        own = entry.get("specialists", {}).get(group, {}).get("train")
        specialist = b.train(
            f"{ns}/models/specialist/{where}",
            entry["model"],
            b.teacher_traces(teacher, domains),
            "intermediates",
            intermediate,
            own,
            run_name=f"specialist-{teacher}-{intermediate}-{group}",
        )
        cost = b.generate(f"{ns}/traces/specialist/{where}", specialist, domains, entry)
        evaluated = None
        if evaluate:
            subset = Subset(group, b.groups, b.plan.routes)
            evaluated = b.evaluate(f"{ns}/eval/specialist/{where}", specialist, subset)
        out.append(
            {
                "group": group,
                "model": specialist,
                "traces": f"results/{ns}/traces/specialist/{where}.jsonl",
                "predictions": f"{evaluated}/predictions.jsonl" if evaluated else None,
                "branch": [{"par": b.teacher_costs(teacher, domains)}, specialist.path, cost],
            }
        )
    return out


def _plan_chain(b, ns: str, teacher: str, intermediate: str) -> None:
    planned = specialists(b, teacher, intermediate)
    branches = [s["branch"] for s in planned]
    traces = [s["traces"] for s in planned]
    predictions = {s["group"]: s["predictions"] for s in planned}

    mixture_chain = {"par": [{"seq": branch[:2]} for branch in branches]}
    for routing in ROUTINGS:
        key = f"{ns}/eval/mixture/{teacher}/{intermediate}/{routing}"
        routes = b.plan.routes if routing == "learned" else None
        b.plan.add(b.plan.mixtures, MixtureJob(key, predictions, b.groups, routes))
        labels = {"method": NAME, "teacher": teacher, "via": intermediate}
        # A mixture composes the specialists' answers: there is no one model to score by
        # log-likelihood.
        b.plan.rows.append(
            Row(
                f"results/{key}",
                model=f"mixture:{routing}",
                chain=mixture_chain,
                loglik=False,
                **labels,
            )
        )

    with_traces = {"par": [{"seq": branch} for branch in branches]}
    for student in b.students:
        model = b.student(NAME, teacher, intermediate, student, traces)
        labels = {"method": NAME, "teacher": teacher, "via": intermediate, "model": student}
        key = f"{ns}/eval/student/cmoe/{teacher}/{intermediate}/{student}"
        b.row(key, model, labels, {"seq": [with_traces, model.path]})
