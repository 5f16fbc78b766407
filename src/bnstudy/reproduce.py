"""Did a rebuild reproduce the committed results? (``bnstudy check``, the end of `make study`)

Compares the rebuilt reports with the versions committed in git (HEAD): identical; or
differing only within float noise with every verdict unchanged (what moved is listed); or not
reproduced (the verdicts that changed are listed).
"""

from __future__ import annotations

import io
import json
import subprocess

import pandas as pd

from bnstudy.paths import CLAIMS_DIR, REPORTS_DIR, workspace_root


def _committed(path) -> str | None:
    """The text of ``path`` at git HEAD, or None if it is not committed there."""
    res = subprocess.run(
        ["git", "show", f"HEAD:{path.as_posix()}"],
        cwd=workspace_root(),
        capture_output=True,
        text=True,
    )
    return res.stdout if res.returncode == 0 else None


def moved_metrics(old: dict, new: dict, study: str) -> list[str]:
    """'study condition key old -> new' for each headline number that differs."""
    out = []
    for cond in sorted(set(old) | set(new)):
        a, b = old.get(cond, {}), new.get(cond, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{study} {cond} {key} {a.get(key)} -> {b.get(key)}")
    return out


def changed_verdicts(old: pd.DataFrame, new: pd.DataFrame, study: str) -> list[str]:
    """'study id reading: old -> new' for each claim whose verdict differs (or is new/gone)."""
    key = ["id", "reading"]
    both = old[[*key, "verdict"]].merge(new[[*key, "verdict"]], on=key, how="outer")
    diff = both[both["verdict_x"] != both["verdict_y"]]
    return [
        f"{study} {r.id} ({r.reading}): {r.verdict_x} -> {r.verdict_y}" for r in diff.itertuples()
    ]


def check_reproduction(studies: list[str]) -> bool:
    """Print one verdict line (plus details) for the rebuilt reports; False if any claim's
    verdict differs from the committed one."""
    moved, changed, new_studies, identical = [], [], [], True
    for study in studies:
        metrics, claims = REPORTS_DIR / study / "metrics.json", CLAIMS_DIR / f"{study}.csv"
        old_m, old_c = _committed(metrics), _committed(claims)
        if old_m is None or old_c is None:
            new_studies.append(study)
            continue
        files = [p for p in (REPORTS_DIR / study).rglob("*") if p.is_file()] + [claims]
        identical &= all(
            _committed(p) == p.read_text(errors="replace") for p in files if p.suffix != ".png"
        )
        moved += moved_metrics(json.loads(old_m), json.loads(metrics.read_text()), study)
        changed += changed_verdicts(pd.read_csv(io.StringIO(old_c)), pd.read_csv(claims), study)
    note = f" (new, nothing committed to compare: {', '.join(new_studies)})" if new_studies else ""
    if len(new_studies) == len(studies):
        print(f"reproduction: nothing committed to compare with yet{note}")
    elif changed:
        print(f"reproduction: NOT reproduced: {len(changed)} verdict(s) changed{note}")
        for line in changed:
            print(f"  {line}")
    elif identical and not moved:
        print(f"reproduction: identical to the committed results{note}")
    else:
        print(f"reproduction: within float noise, every verdict unchanged{note}")
        for line in moved:
            print(f"  moved: {line}")
    return not changed
