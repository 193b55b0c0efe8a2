"""Ablation overlays resolve on the real config, each in its own result namespace."""

import pytest
from conftest import ROOT, run_snakemake

from cmoe.config import load_config
from cmoe.reporting.tables import compare_namespaces

OVERLAYS = sorted((ROOT / "config" / "ablations").glob("*.yaml"))
# overlays of the demo (the rest are of the real study, config/config.yaml)
DEMO_OVERLAYS = {"vllm_cpu"}


def base_of(overlay):
    base = "demo_rummlu.yaml" if overlay.stem in DEMO_OVERLAYS else "config.yaml"
    return ROOT / "config" / base


def test_at_least_the_four_required_ablations_exist():
    names = {p.stem for p in OVERLAYS}
    assert {"lora_rank", "specialist_size", "teacher_swap", "merged_domains"} <= names


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.stem)
def test_overlay_is_valid_and_namespaced(overlay):
    config = load_config(base_of(overlay), overlay)
    assert config["namespace"] != "main"


def test_overlays_change_what_they_say():
    base = ROOT / "config" / "config.yaml"
    abl = ROOT / "config" / "ablations"
    assert load_config(base, abl / "lora_rank.yaml")["training"]["lora"]["r"] == 64
    assert list(load_config(base, abl / "specialist_size.yaml")["intermediates"]) == ["qwen3-8b"]
    assert list(load_config(base, abl / "teacher_swap.yaml")["teachers"]) == ["llama3.3-70b"]
    assert len(load_config(base, abl / "merged_domains.yaml")["specialist_groups"]) == 2


@pytest.mark.slow
def test_merged_domains_dry_run_schedules_two_specialists_per_chain(tmp_path):
    config, overlay = ROOT / "config/config.yaml", ROOT / "config/ablations/merged_domains.yaml"
    proc = run_snakemake(tmp_path, config, overlay, extra=["-n"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = [line for line in proc.stdout.splitlines() if line.strip().startswith("output:")]
    specialists = {o for o in outputs if "/models/specialist/" in o}
    # 2 teachers x 1 intermediate x 2 groups, all inside the ablation's namespace
    assert len(specialists) == 4
    assert all("results/ablation-2-specialists/" in o for o in specialists)


def test_compare_namespaces_side_by_side(tmp_path):
    header = (
        "namespace,method,teacher,via,model,social_humanities,natural_science,math_cs,"
        "other,overall,n,device_h,train_device_h,critical_path_h,train_critical_path_h\n"
    )
    paths = []
    for ns, acc in (("main", "0.5000"), ("ablation-x", "0.7500")):
        p = tmp_path / f"{ns}.csv"
        p.write_text(header + f"{ns},cmoe,t,i,s,{acc},{acc},{acc},{acc},{acc},8,1,1,1,1\n")
        paths.append(p)
    rows = compare_namespaces(paths, tmp_path / "side.md")
    assert [r["namespace"] for r in rows] == ["ablation-x", "main"]
    md = (tmp_path / "side.md").read_text()
    assert (
        "| ablation-x | cmoe | t | i | s | 75.0 |" in md
        and "| main | cmoe | t | i | s | 50.0 |" in md
    )
