"""Ablation overlays resolve on the real config, each in its own result namespace."""

import pytest
from conftest import ROOT, run_snakemake

from cmoe.config import load_config
from cmoe.reporting.tables import compare_namespaces

OVERLAYS = sorted((ROOT / "config" / "ablations").glob("*.yaml"))
# overlays of the demo, and what each goes on top of (the rest are of config/config.yaml)
DEMO_OVERLAYS = {
    "vllm_cpu": ("demo_rummlu.yaml",),
    "vllm_cpu_hf": ("demo_rummlu.yaml", "ablations/vllm_cpu.yaml"),
    "vllm_cpu_teachers": ("demo.yaml",),
    "unfiltered_traces": ("demo.yaml",),
}


def base_of(overlay):
    return [ROOT / "config" / f for f in DEMO_OVERLAYS.get(overlay.stem, ("config.yaml",))]


def test_at_least_the_four_required_ablations_exist():
    names = {p.stem for p in OVERLAYS}
    assert {"lora_rank", "specialist_size", "teacher_swap", "merged_domains"} <= names


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.stem)
def test_overlay_is_valid_and_namespaced(overlay):
    config = load_config(*base_of(overlay), overlay)
    assert config["namespace"] != "main"


def test_overlays_change_what_they_say():
    base = ROOT / "config" / "config.yaml"
    abl = ROOT / "config" / "ablations"
    assert load_config(base, abl / "lora_rank.yaml")["training"]["lora"]["r"] == 64
    assert list(load_config(base, abl / "specialist_size.yaml")["intermediates"]) == ["qwen3-8b"]
    assert list(load_config(base, abl / "teacher_swap.yaml")["teachers"]) == ["llama3.3-70b"]
    assert len(load_config(base, abl / "merged_domains.yaml")["specialist_groups"]) == 2


def _backends(node, where=""):
    """{key path: backend} of every generation section, and the config without them."""
    found, rest = {}, {}
    for k, v in node.items() if isinstance(node, dict) else ():
        if k == "backend":
            found[where] = v
        elif isinstance(v, dict):
            sub_found, rest[k] = _backends(v, f"{where}.{k}")
            found.update(sub_found)
        else:
            rest[k] = v
    return found, rest


def test_vllm_cpu_hf_changes_only_the_backends_to_hf():
    """The hf control of the vLLM overlay: every vLLM generation becomes hf; nothing else
    (models, prompts, seeds, decoding) changes, so the two runs' answers can be compared."""
    base = base_of(ROOT / "config/ablations/vllm_cpu_hf.yaml")
    vllm_found, vllm_rest = _backends(load_config(*base))
    hf_found, hf_rest = _backends(load_config(*base, ROOT / "config/ablations/vllm_cpu_hf.yaml"))
    flipped = {k for k, v in vllm_found.items() if v == "vllm"}
    assert flipped and all(hf_found[k] == "hf" for k in flipped)
    assert hf_found.keys() == vllm_found.keys() and hf_rest == vllm_rest


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
