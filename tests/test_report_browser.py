"""The HTML report of the session's CI run (`ci_run`, shared with tests/test_workflow.py), opened
in a real headless browser: it opens on the run's summary, and every table and figure is in it.

Skipped where Chromium is not installed (`apt-get install -y chromium`), unless
CMOE_REQUIRE_CHROMIUM=1 (as in CI), which turns that skip into a failure.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import run_snakemake
from test_workflow import REPORT_TABLES

from cmoe.reporting.plots import PLOTS

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    reason = "Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CMOE_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"CMOE_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def _browse(browser: str, url: str, *flags: str, timeout: int = 120) -> str:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=15000",  # let the report's scripts render
        *flags,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report(ci_run):
    workdir, config = ci_run
    out = workdir / "browser-report.html"
    proc = run_snakemake(workdir, config, extra=("--report", str(out)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return workdir, out


def test_report_opens_on_the_summary_with_every_table_and_figure(report, tmp_path):
    browser = _chromium()
    workdir, html = report
    dom = _browse(browser, html.as_uri(), "--dump-dom")
    page = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)  # what a reader sees
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page)).replace("&amp;", "&")
    # the opening page: config, data split and counts, the headline, the sections
    summary = json.loads((workdir / "results/data/summary.json").read_text())["splits"]
    for phrase in (
        "cmoe run ci",
        "Config files: config.yaml",
        f"{summary['train']['total']} train questions",
        f"{summary['test']['total']} held-out test questions",
        "Headline",
        "CMoE mixture (oracle routing) − direct / ta / im",
        "None of this run's models is one of the study's",
    ):
        assert phrase in text, phrase
    # every table and figure is a result of the report: the summary's link to it resolved to
    # the report's own entry for that file (an unresolved link renders as an error instead)
    assert "system-message" not in dom and "Unknown target name" not in text
    for name in [*(f"{p}.svg" for p in PLOTS), *REPORT_TABLES]:
        link = re.search(
            rf"<a [^>]*href=\"javascript:app\.showResultInfo\([^)]*\)\"[^>]*>{name}</a>", dom
        )
        assert link, name
    assert "Figures" in text and "Tables" in text  # the report's categories, in its menu
    shot = tmp_path / "report.png"
    _browse(browser, html.as_uri(), f"--screenshot={shot}", "--window-size=1400,1800")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
