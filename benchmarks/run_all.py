"""Run every benchmark (one command: `make bench`) and print their result lines.

Sizes are the issues' sizes; pass --quick for a fast smoke run. The pre-labeling benchmark runs
on the CPU here; on a GPU machine run bench_prelabel.py with --device cuda.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = "--quick" in sys.argv
RUNS = [
    ["bench_targets.py"],
    ["bench_render.py", "--images", "500" if QUICK else "5000"],
    ["bench_labelme.py", "--files", "2000" if QUICK else "20000"],
    ["bench_validate.py", "--annotations", "15000" if QUICK else "150000", "--images", "6400" if QUICK else "64115"],
    ["bench_mpii.py", "--images", "2500" if QUICK else "25000", "--people", "4000" if QUICK else "40000"],
    ["bench_yolo.py", "--images", "6400" if QUICK else "64115", "--persons", "15000" if QUICK else "150000"],
    ["bench_prelabel.py", "--images", "4" if QUICK else "8", "--batch-size", "2", "--workers", "2"],
    ["bench_stats_filter.py", "--persons", "15000" if QUICK else "150000"],
    ["bench_merge_split.py", "--persons", "15000" if QUICK else "150000"],
    ["bench_compare.py", "--persons", "15000" if QUICK else "150000"],
]


def main() -> int:
    failed = 0
    for args in RUNS:
        print(f"\n== {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
