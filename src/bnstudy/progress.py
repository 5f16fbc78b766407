"""Progress for long work: a tqdm bar of seed-epochs with the variant and elapsed time."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """Context manager; call the instance with the number of seed-epochs just finished."""

    def __init__(self, label: str, n_runs: int, epochs: int):
        self.bar = tqdm(
            total=n_runs * epochs,
            desc=label,
            unit="seed-epoch",
            file=sys.stderr,
            mininterval=0.5,
            dynamic_ncols=True,
            leave=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "seed-epochs [{elapsed}<{remaining}]",
        )

    def __call__(self, n: int) -> None:
        self.bar.update(n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def seed_span(seeds: list[int]) -> str:
    """``0..29`` for a run of three or more consecutive seeds, else ``0,2,5``."""
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))
