"""The study's four domains and the default mapping of the 57 MMLU subjects onto them.

The table follows MMLU's own categories: STEM is split into Math & CS and Natural Science,
humanities and social sciences are merged into Social & Humanities, and "other" stays Other.
Config key ``data.domain_map`` overrides single subjects.
"""

from __future__ import annotations

DOMAINS: dict[str, str] = {
    "social_humanities": "Social & Humanities",
    "natural_science": "Natural Science",
    "math_cs": "Math & CS",
    "other": "Other",
}

_SUBJECTS_BY_DOMAIN: dict[str, tuple[str, ...]] = {
    "math_cs": (
        "abstract_algebra",
        "college_computer_science",
        "college_mathematics",
        "computer_security",
        "elementary_mathematics",
        "high_school_computer_science",
        "high_school_mathematics",
        "high_school_statistics",
        "machine_learning",
    ),
    "natural_science": (
        "anatomy",
        "astronomy",
        "college_biology",
        "college_chemistry",
        "college_physics",
        "conceptual_physics",
        "electrical_engineering",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_physics",
    ),
    "social_humanities": (
        "econometrics",
        "formal_logic",
        "high_school_european_history",
        "high_school_geography",
        "high_school_government_and_politics",
        "high_school_macroeconomics",
        "high_school_microeconomics",
        "high_school_psychology",
        "high_school_us_history",
        "high_school_world_history",
        "human_sexuality",
        "international_law",
        "jurisprudence",
        "logical_fallacies",
        "moral_disputes",
        "moral_scenarios",
        "philosophy",
        "prehistory",
        "professional_law",
        "professional_psychology",
        "public_relations",
        "security_studies",
        "sociology",
        "us_foreign_policy",
        "world_religions",
    ),
    "other": (
        "business_ethics",
        "clinical_knowledge",
        "college_medicine",
        "global_facts",
        "human_aging",
        "management",
        "marketing",
        "medical_genetics",
        "miscellaneous",
        "nutrition",
        "professional_accounting",
        "professional_medicine",
        "virology",
    ),
}

DEFAULT_SUBJECT_DOMAINS: dict[str, str] = {
    subject: domain for domain, subjects in _SUBJECTS_BY_DOMAIN.items() for subject in subjects
}


def subject_domains(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The default table with config overrides applied; unknown domains are rejected."""
    table = dict(DEFAULT_SUBJECT_DOMAINS)
    for subject, domain in (overrides or {}).items():
        if domain not in DOMAINS:
            raise ValueError(
                f"data.domain_map.{subject}: unknown domain {domain!r} "
                f"(expected one of {', '.join(DOMAINS)})"
            )
        table[subject] = domain
    return table
