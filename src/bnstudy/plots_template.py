"""``make plots-template``: DVC's page for ``dvc plots show`` with Vega inlined, so the
line plots (declared in dvc.yaml) draw on a machine without internet.

DVC's default page loads vega, vega-lite and vega-embed from a CDN: offline, its line plots
stay blank. ``.dvc/config`` points ``plots.html_template`` at ``.dvc/plots.html``, which this
module writes from the very versions DVC's page names, taken from the npm registry with
``npm pack`` (the files are committed: nothing is fetched when plots are shown).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bnstudy.atomic import write_text
from bnstudy.paths import CODE_ROOT

TEMPLATE = CODE_ROOT / ".dvc" / "plots.html"
#: npm package@version -> its standalone build (the versions of dvc_render's CDN links).
PACKAGES = {
    "vega@5.20.2": "build/vega.min.js",
    "vega-lite@5.2.0": "build/vega-lite.min.js",
    "vega-embed@6.18.2": "build/vega-embed.min.js",
}

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
    <!-- {names}: inlined (their licenses: BSD-3-Clause), written by `make plots-template` -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def page(scripts: dict[str, str]) -> str:
    """The template: ``scripts`` (package -> JavaScript source) inlined in order, and DVC's
    placeholders ``{plot_divs}`` and ``{refresh_tag}`` (no ``{scripts}``: no CDN links)."""
    blocks = []
    for name, js in scripts.items():
        if "</script" in js.lower() or "{plot_divs}" in js or "{refresh_tag}" in js:
            raise ValueError(f"{name}: cannot be inlined (a closing tag or a placeholder)")
        blocks.append(f"    <script>/* {name} */\n{js}\n    </script>")
    return PAGE.format(names=", ".join(scripts), scripts="\n".join(blocks))


def fetch(packages: dict[str, str], folder: Path) -> dict[str, str]:
    """``npm pack`` each package into ``folder``: package -> the source of its build file."""
    out = {}
    for spec, member in packages.items():
        res = subprocess.run(
            ["npm", "pack", spec, "--silent"], cwd=folder, capture_output=True, text=True
        )
        if res.returncode != 0:
            raise RuntimeError(f"npm pack {spec}: {(res.stderr or res.stdout).strip()[:300]}")
        tarball = folder / res.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            out[spec] = tar.extractfile(f"package/{member}").read().decode()
    return out


def main() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="bnstudy-vega-") as tmp:
            text = page(fetch(PACKAGES, Path(tmp)))
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"bnstudy: error: plots template: {exc}", file=sys.stderr)
        return 1
    write_text(TEMPLATE, text)
    print(f"wrote {TEMPLATE} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
