"""Shared fixtures: paths to the real sample files, a CLI runner, file hashing."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

# Property tests: `make test` (and CI) run the "ci" profile, derandomised (examples drawn from a
# fixed seed), so a run passes or fails the same way on every machine; every failure a search
# ever found is kept as an explicit @example on its test. `make fuzz` runs the "fuzz" profile:
# random seeds, many more examples, failures saved in .hypothesis/ to replay.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", derandomize=False, deadline=None, max_examples=1000, print_blob=True,
                          phases=list(Phase), suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("POSEKIT_HYPOTHESIS_PROFILE", "ci"))


def examples(n: int) -> int:
    """A property test's example count: ``n`` under `make test`, 20 times more under `make fuzz`
    (a test's own max_examples would otherwise cap the fuzz profile's)."""
    return n * 20 if settings.default.derandomize is False else n

ROOT = Path(__file__).resolve().parent.parent
# mmpose's test data (Apache-2.0), copied into the repo with its LICENSE
SHARED = ROOT / "tests" / "data" / "mmpose"
SAMPLE = ROOT / "sample_data"
COCO_SAMPLE = SHARED / "coco" / "test_coco.json"
CROWDPOSE_SAMPLE = SHARED / "crowdpose" / "test_crowdpose.json"
MPII_SAMPLE = SHARED / "mpii" / "test_mpii.json"

needs_shared = pytest.mark.skipif(False, reason="kept for old imports: the data is in the repo")


#: Ultralytics' label checker lives in its own folder (see scripts/setup_env.sh): run it in a
#: subprocess with this on PYTHONPATH, never import it into the test process.
ULTRALYTICS_CHECKER = ROOT / ".venv" / "ultralytics-checker"


def run_ultralytics(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a subprocess that can import Ultralytics."""
    env = dict(os.environ, PYTHONPATH=str(ULTRALYTICS_CHECKER), YOLO_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike, cwd: Path | None = None) -> Result:
    """Run ``annotate`` in-process (fast) and capture stdout/stderr and the exit code."""
    from typer.testing import CliRunner

    from annotate.cli import app

    runner = CliRunner(mix_stderr=False)  # click 8.1 mixes the two streams by default
    res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return Result(res.exit_code, res.stdout, res.stderr)


def run_cli_subprocess(*args: str | os.PathLike, timeout: float = 300) -> Result:
    """Run the installed ``annotate`` console script in a subprocess."""
    exe = Path(sys.executable).with_name("annotate")
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def tree_hashes(*paths: Path) -> dict[str, str]:
    """sha256 of every file under the given paths (files or folders)."""
    out = {}
    for p in paths:
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(autouse=True)
def _no_rich_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
