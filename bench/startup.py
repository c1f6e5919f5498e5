"""Start-up time of ``import mscsim`` and of the command line's help, against numpy.

The target: each is within 2x of ``python -c "import numpy"`` measured in the same
run (median wall time over interleaved runs, so load on the machine hits all alike).

    python bench/startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 2.0


def mscsim_command() -> list[str]:
    """The installed ``mscsim`` script next to this interpreter, else ``python -m mscsim``."""
    script = Path(sys.executable).with_name("mscsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mscsim"]


def subcommands() -> list[str]:
    """Names of the subcommands, in the order ``mscsim --help`` lists them."""
    import typer

    from mscsim.cli.main import app

    group = typer.main.get_command(app)
    if not isinstance(group, typer.core.TyperGroup):
        raise TypeError("mscsim's command line is not a group of commands")
    return list(group.commands)


def wall_seconds(argv: list[str]) -> float:
    """Wall time of one run of ``argv`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs of each command")
    args = parser.parse_args()

    cli = mscsim_command()
    cases = {
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "python -c 'import mscsim'": [sys.executable, "-c", "import mscsim"],
        "mscsim --help": [*cli, "--help"],
    }
    cases.update({f"mscsim {name} --help": [*cli, name, "--help"] for name in subcommands()})
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():  # warm the file cache and the byte-code
        wall_seconds(argv)
    for _ in range(args.repeats):
        for name, argv in cases.items():
            times[name].append(wall_seconds(argv))

    median = {name: statistics.median(t) for name, t in times.items()}
    numpy_s = median["python -c 'import numpy'"]
    print(f"median wall time over {args.repeats} runs; target: within {TARGET:g}x of numpy")
    print(f"{'command':<34} {'ms':>7} {'x numpy':>8}")
    for name, seconds in median.items():
        ratio = seconds / numpy_s
        flag = "" if ratio <= TARGET else "  over target"
        print(f"{name:<34} {1e3 * seconds:7.1f} {ratio:8.2f}{flag}")
    worst = max(seconds / numpy_s for name, seconds in median.items() if "numpy" not in name)
    verdict = "holds" if worst <= TARGET else "does NOT hold"
    print(f"{TARGET:g}x target {verdict} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
