"""The claims ledger across studies: reports/claims.md and reports/claims.csv.

One row per claim of conf/ledger.yaml, in order; a claim no study tests is "not measured",
never dropped. A claim that several studies (or several readings) test gets every verdict,
and an overall verdict: the common one when they agree, "mixed" when they do not.
"""

from __future__ import annotations

import pandas as pd
from omegaconf import DictConfig

from bnstudy.aggregate import write_csv
from bnstudy.atomic import write_text
from bnstudy.paths import CLAIMS_DIR, REPORTS_DIR

NOT_MEASURED = "not measured"


def study_claims(studies: list[str]) -> pd.DataFrame:
    """Every study's verdicts (reports/claims/<study>.csv), in the order of ``studies``."""
    frames = [pd.read_csv(CLAIMS_DIR / f"{s}.csv") for s in studies]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def overall(verdicts: list[str]) -> str:
    """The ledger verdict of a claim from its tests' verdicts."""
    if not verdicts:
        return NOT_MEASURED
    return verdicts[0] if len(set(verdicts)) == 1 else "mixed"


def ledger_table(ledger: DictConfig, tests: pd.DataFrame) -> pd.DataFrame:
    """One row per ledger claim: id, claim, source, verdict, n_tests, studies, evidence."""
    rows = []
    for cid, entry in ledger.claims.items():
        mine = tests[tests["id"] == cid] if len(tests) else tests
        rows.append(
            {
                "id": cid,
                "claim": entry.claim,
                "source": entry.source,
                "verdict": overall(list(mine["verdict"])) if len(mine) else NOT_MEASURED,
                "n_tests": len(mine),
                "studies": ", ".join(dict.fromkeys(mine["study"])) if len(mine) else "",
                "evidence": " | ".join(
                    f"{t.study}: {t.reading}: {t.verdict}. {t.evidence}" for t in mine.itertuples()
                ),
            }
        )
    return pd.DataFrame(rows)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ledger_markdown(ledger: DictConfig, tests: pd.DataFrame, table: pd.DataFrame) -> str:
    """reports/claims.md: the summary table, then each test's deciding numbers."""
    counts = table["verdict"].value_counts()
    lines = [
        "# Claims ledger",
        "",
        "Every claim that the reference texts make about batch normalization (the tutorial, the",
        "Q&A answer, the overview; the BN paper and Santurkar et al. 2018), with the verdict of",
        'every study that tests it. The "reading" is how we made a vague claim measurable.',
        "Verdicts: supported / contradicted / not resolved (with the seeds that would resolve",
        'it at 80% power); "mixed" where tests of one claim disagree; "not measured" where',
        "no study tests it yet.",
        "",
        "Totals: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".",
        "",
        "| id | claim | source | verdict | studies |",
        "|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        studies = ", ".join(f"[{s}]({s}/report.md#claims)" for s in r.studies.split(", ") if s)
        lines.append(
            f"| {r.id} | {_md_cell(r.claim)} | {r.source} | **{r.verdict}** | {studies or '-'} |"
        )
    lines += ["", "## Deciding numbers", ""]
    for cid, entry in ledger.claims.items():
        mine = tests[tests["id"] == cid] if len(tests) else tests
        lines.append(f'**{cid}** ({entry.source}): "{_md_cell(entry.quote)}"')
        lines.append("")
        if not len(mine):
            lines += [f"- {NOT_MEASURED}", ""]
            continue
        for t in mine.itertuples():
            lines.append(
                f"- [{t.study}]({t.study}/report.md#claims) — {t.reading}: "
                f"**{t.verdict}**. {t.evidence}"
            )
        lines.append("")
    return "\n".join(lines)


def build_ledger(ledger: DictConfig, studies: list[str]) -> pd.DataFrame:
    """Write reports/claims.csv and reports/claims.md from the studies' verdicts."""
    tests = study_claims(studies)
    table = ledger_table(ledger, tests)
    write_csv(table, REPORTS_DIR / "claims.csv")
    write_text(REPORTS_DIR / "claims.md", ledger_markdown(ledger, tests, table) + "\n")
    return table
