"""The claims ledger across studies (bnstudy.ledger) and the reproduction check
(bnstudy.reproduce), on hand-made verdict tables and a temporary git repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from bnstudy import pipeline
from bnstudy.claims import COLUMNS
from bnstudy.ledger import NOT_MEASURED, build_ledger, ledger_table, study_claims
from bnstudy.paths import CONF_DIR
from bnstudy.reproduce import changed_verdicts, check_reproduction, moved_metrics

IDS = [f"C{i}" for i in range(1, 27)]


@pytest.fixture(scope="module")
def ledger():
    return OmegaConf.load(CONF_DIR / "ledger.yaml")


def verdict_row(cid: str, study: str, verdict: str, reading: str = "a reading") -> dict:
    """One row of a study's reports/claims/<study>.csv."""
    row = dict.fromkeys(COLUMNS, float("nan"))
    return row | {
        "id": cid,
        "study": study,
        "reading": reading,
        "kind": "superiority",
        "measure": "test_accuracy",
        "verdict": verdict,
        "evidence": f"{study} numbers for {cid}",
    }


#: Two studies' verdicts: C1 agrees across studies, C4 disagrees within one study, C19 is
#: tested twice by one study (two readings) and agrees.
ALPHA = [
    verdict_row("C1", "alpha", "supported"),
    verdict_row("C4", "alpha", "supported", "speed"),
    verdict_row("C4", "alpha", "contradicted", "area under the curve"),
    verdict_row("C7", "alpha", "not resolved"),
]
BETA = [
    verdict_row("C1", "beta", "supported"),
    verdict_row("C19", "beta", "contradicted", "after"),
    verdict_row("C19", "beta", "contradicted", "before"),
]
EXPECTED = {
    "C1": ("supported", 2, "alpha, beta"),
    "C4": ("mixed", 2, "alpha"),
    "C7": ("not resolved", 1, "alpha"),
    "C19": ("contradicted", 2, "beta"),
}


def test_the_ledger_lists_c1_to_c26_in_order(ledger):
    assert list(ledger.claims) == IDS
    for cid in IDS:
        entry = ledger.claims[cid]
        assert entry.source and entry.claim and entry.quote, cid


def test_ledger_table_gives_every_claim_one_row_and_an_overall_verdict(ledger):
    table = ledger_table(ledger, pd.DataFrame(ALPHA + BETA))
    assert list(table["id"]) == IDS
    by = table.set_index("id")
    for cid in IDS:
        verdict, n, studies = EXPECTED.get(cid, (NOT_MEASURED, 0, ""))
        assert (by.loc[cid, "verdict"], by.loc[cid, "n_tests"], by.loc[cid, "studies"]) == (
            verdict,
            n,
            studies,
        ), cid
        assert by.loc[cid, "claim"] == ledger.claims[cid].claim
    # Every test's reading, verdict and numbers, in the tests' order.
    assert by.loc["C4", "evidence"] == (
        "alpha: speed: supported. alpha numbers for C4 | "
        "alpha: area under the curve: contradicted. alpha numbers for C4"
    )
    assert by.loc["C2", "evidence"] == ""


def test_a_ledger_with_no_tests_is_all_not_measured(ledger):
    table = ledger_table(ledger, pd.DataFrame())
    assert list(table["id"]) == IDS
    assert set(table["verdict"]) == {NOT_MEASURED}
    assert set(table["n_tests"]) == {0}


def write_study_csvs(tables: dict[str, list[dict]]) -> None:
    """reports/claims/<study>.csv under the working directory."""
    folder = Path("reports/claims")
    folder.mkdir(parents=True, exist_ok=True)
    for study, rows in tables.items():
        pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(folder / f"{study}.csv", index=False)


def table_rows(md: str) -> list[str]:
    """The ids of the summary table's rows, in order."""
    return re.findall(r"^\| (C\d+) \|", md, flags=re.MULTILINE)


def test_build_ledger_writes_the_csv_and_the_markdown(ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_study_csvs({"alpha": ALPHA, "beta": BETA})
    expected = [r["id"] for r in ALPHA + BETA]
    assert list(study_claims(["alpha", "beta"])["id"]) == expected
    table = build_ledger(ledger, ["alpha", "beta"])

    csv = pd.read_csv(tmp_path / "reports" / "claims.csv", keep_default_na=False)
    assert list(csv["id"]) == IDS
    assert list(csv["verdict"]) == list(table["verdict"])
    assert csv.set_index("id").loc["C4", "verdict"] == "mixed"

    md = (tmp_path / "reports" / "claims.md").read_text()
    assert table_rows(md) == IDS  # one row per claim, each once, in order
    rows = {r.split(" | ")[0][2:]: r for r in md.splitlines() if re.match(r"^\| C\d+ \|", r)}
    assert "**supported**" in rows["C1"]
    assert "[alpha](alpha/report.md#claims), [beta](beta/report.md#claims)" in rows["C1"]
    assert "**mixed**" in rows["C4"]
    assert f"**{NOT_MEASURED}**" in rows["C2"] and rows["C2"].endswith("| - |")
    counts = table["verdict"].value_counts()
    assert f"{counts[NOT_MEASURED]} {NOT_MEASURED}" in md
    assert sum(counts) == len(IDS)
    # The deciding numbers: every claim's quote, and each test's line.
    for cid in IDS:
        assert md.count(f"**{cid}** (") == 1
    assert "area under the curve: **contradicted**. alpha numbers for C4" in md


def test_the_pipeline_ledger_skips_studies_without_verdicts(ledger, tmp_path, monkeypatch):
    """A study listed in params.yaml whose analyze stage has not run yet is left out."""
    monkeypatch.chdir(tmp_path)
    write_study_csvs({"beta": BETA})
    pipeline.ledger(ledger, ["alpha", "beta"])
    csv = pd.read_csv(tmp_path / "reports" / "claims.csv", keep_default_na=False)
    assert csv.set_index("id").loc["C1", "studies"] == "beta"
    assert table_rows((tmp_path / "reports" / "claims.md").read_text()) == IDS


# --- the reproduction check ----------------------------------------------------------------------


def test_moved_metrics_lists_each_number_that_differs():
    old = {"a": {"test_accuracy_mean": 0.84, "n_seeds": 30}, "b": {"n_seeds": 30}}
    assert moved_metrics(old, json.loads(json.dumps(old)), "s") == []
    new = {
        "a": {"test_accuracy_mean": 0.84001, "n_seeds": 30},
        "b": {"n_seeds": 30, "epochs_to_80_median": None},
        "c": {"n_seeds": 30},
    }
    assert moved_metrics(old, new, "s") == [
        "s a test_accuracy_mean 0.84 -> 0.84001",
        "s c n_seeds None -> 30",
    ]
    assert moved_metrics(new, old, "s")[-1] == "s c n_seeds 30 -> None"


def test_changed_verdicts_lists_each_claim_whose_verdict_differs():
    old = pd.DataFrame(ALPHA)
    assert changed_verdicts(old, old.copy(), "alpha") == []
    new = old.copy()
    new.loc[3, "verdict"] = "supported"
    new.loc[1, "evidence"] = "other numbers, same verdict"
    assert changed_verdicts(old, new, "alpha") == [
        "alpha C7 (a reading): not resolved -> supported"
    ]
    # A claim that appears or disappears is a change too.
    grown = pd.concat([old, pd.DataFrame([verdict_row("C9", "alpha", "supported")])])
    assert changed_verdicts(old, grown, "alpha") == ["alpha C9 (a reading): nan -> supported"]
    assert changed_verdicts(grown, old, "alpha") == ["alpha C9 (a reading): supported -> nan"]


def git(repo, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )


METRICS = {"a": {"test_accuracy_mean": 0.84, "n_seeds": 30}, "b": {"test_accuracy_mean": 0.85}}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with study alpha's reports committed; the working directory."""
    root = tmp_path / "repo"
    (root / "reports" / "alpha").mkdir(parents=True)
    (root / "reports" / "claims").mkdir()
    (root / "reports" / "alpha" / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    (root / "reports" / "alpha" / "summary.csv").write_text("condition,n\na,30\n")
    pd.DataFrame(ALPHA).to_csv(root / "reports" / "claims" / "alpha.csv", index=False)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "results")
    monkeypatch.chdir(root)
    return root


def test_reproduction_identical(repo, capsys):
    assert check_reproduction(["alpha"]) is True
    out = capsys.readouterr().out
    assert out.startswith("reproduction: identical")


def test_reproduction_within_float_noise(repo, capsys):
    moved = json.loads(json.dumps(METRICS))
    moved["a"]["test_accuracy_mean"] = 0.84002
    (repo / "reports" / "alpha" / "metrics.json").write_text(json.dumps(moved, indent=2))
    assert check_reproduction(["alpha"]) is True
    out = capsys.readouterr().out
    assert out.startswith("reproduction: within float noise, every verdict unchanged")
    assert "moved: alpha a test_accuracy_mean 0.84 -> 0.84002" in out


def test_reproduction_with_other_bytes_but_the_same_numbers(repo, capsys):
    """A table that changed in its last digits (not a headline number): not identical."""
    (repo / "reports" / "alpha" / "summary.csv").write_text("condition,n\na,30.0000001\n")
    assert check_reproduction(["alpha"]) is True
    out = capsys.readouterr().out
    assert out.startswith("reproduction: within float noise")
    assert "moved:" not in out


def test_reproduction_with_a_changed_verdict(repo, capsys):
    claims = pd.DataFrame(ALPHA)
    claims.loc[0, "verdict"] = "contradicted"
    claims.to_csv(repo / "reports" / "claims" / "alpha.csv", index=False)
    assert check_reproduction(["alpha"]) is False
    out = capsys.readouterr().out
    assert out.startswith("reproduction: NOT reproduced: 1 verdict(s) changed")
    assert "alpha C1 (a reading): supported -> contradicted" in out


def test_reproduction_of_a_new_study(repo, capsys):
    (repo / "reports" / "gamma").mkdir()
    (repo / "reports" / "gamma" / "metrics.json").write_text("{}")
    pd.DataFrame(BETA).to_csv(repo / "reports" / "claims" / "gamma.csv", index=False)
    assert check_reproduction(["alpha", "gamma"]) is True
    out = capsys.readouterr().out
    assert "identical" in out
    assert "(new, nothing committed to compare: gamma)" in out


def test_the_ledger_files_get_the_usual_permissions(ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build_ledger(ledger, [])
    umask = os.umask(0)
    os.umask(umask)
    for name in ("claims.csv", "claims.md"):
        mode = (tmp_path / "reports" / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~umask, f"{name}: {oct(mode)}"
