"""MPII .mat -> COCO keypoints: `annotate convert mpii-to-coco` against Datumaro's
`datum convert -if mpii -f coco_person_keypoints`, both as commands on the same generated
full-size release file (about 25,000 images and 40,000 people), measured side by side.

Datumaro is a benchmark-only extra, installed into its own venv (it needs
opencv-python-headless, which clashes with opencv-python):
    python3.11 -m venv .bench/datumaro-venv && .bench/datumaro-venv/bin/pip install "datumaro[cli]"
    .venv/bin/python benchmarks/bench_mpii.py
"""
from __future__ import annotations

import argparse
import compileall
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, report


def make_release(path: Path, n_images: int, n_people: int, seed: int = 0, any_floats: bool = False) -> None:
    """A release shaped like the real one; ``any_floats``: every coordinate a random float with
    all its digits (longer JSON to write than the release's whole pixels)."""
    from converters.mpii_mat import write_release_mat

    rng = np.random.default_rng(seed)
    per_image = np.ones(n_images, int)
    extra = rng.choice(n_images, n_people - n_images)
    np.add.at(per_image, extra, 1)
    entries = []
    for i in range(n_images):
        train = rng.random() < 0.75
        persons = []
        for _ in range(per_image[i]):
            # numbers as the release has them: clicked pixels are whole numbers, upper_neck and
            # head_top (computed from the head box) have decimals, scale has six
            cx, cy = float(rng.integers(200, 1000)), float(rng.integers(200, 500))
            s = round(rng.uniform(1, 5), 6)
            if any_floats:
                cx, cy, s = cx + rng.random(), cy + rng.random(), s + rng.random() * 1e-6
            if train:
                ids = [j for j in range(16) if rng.random() > 0.1]
                vis = [int(rng.random() > 0.2) if rng.random() > 0.05 else None for _ in ids]
                digits = [16 if any_floats else 4 if j in (8, 9) else 0 for j in ids]
                pts = [(j, *(np.round([cx + rng.normal(0, 40 * s), cy + rng.normal(0, 60 * s)], d).tolist()), v)
                       for j, v, d in zip(ids, vis, digits)]
                persons.append({"points": pts, "head": (cx - 20, cy - 100, cx + 20, cy - 50), "objpos": (cx, cy), "scale": s})
            else:
                persons.append({"objpos": (cx, cy), "scale": s})
        entries.append({"name": f"{i:09d}.jpg", "train": int(train), "persons": persons,
                        "category": "sports", "activity": "running", "act_id": 1})
    write_release_mat(entries, path)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=25000)
    ap.add_argument("--people", type=int, default=40000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command, interleaved; best counts")
    ap.add_argument("--any-floats", action="store_true",
                    help="every coordinate a random float (the release has whole pixels)")
    ap.add_argument("--datum", default=str(ROOT / ".bench" / "datumaro-venv" / "bin" / "datum"))
    args = ap.parse_args()
    # the project's bytecode, as pip writes it for an installed package (an editable install
    # does not, and PYTHONDONTWRITEBYTECODE would leave every run compiling the sources)
    compileall.compile_dir(str(ROOT / "annotate"), quiet=1)
    compileall.compile_dir(str(ROOT / "converters"), quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-mpii-"))
    try:
        src = tmp / "mpii"
        src.mkdir()
        mat = src / "mpii_human_pose_v1_u12_1.mat"
        t = time.perf_counter()
        make_release(mat, args.images, args.people, any_floats=args.any_floats)
        print(f"generated {mat.name}: {args.images} images, {args.people} people, "
              f"{mat.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.0f} s")
        annotate = str(Path(sys.executable).with_name("annotate"))
        ours_cmd = [annotate, "-q", "convert", "mpii-to-coco", str(mat), "-o", str(tmp / "ours.json"), "--overwrite"]
        datum_cmd = [args.datum, "convert", "-if", "mpii", "-i", str(src), "-f", "coco_person_keypoints",
                     "-o", str(tmp / "datumaro"), "--overwrite"]
        have_datum = Path(args.datum).exists()
        if not have_datum:
            print(f"Datumaro not installed at {args.datum}; see this file's docstring. No ratio.")
        ours, ref = [], []
        for _ in range(args.repeat):  # interleaved, so that both see the same machine load
            ours.append(timed(ours_cmd))
            if have_datum:
                ref.append(timed(datum_cmd))
        print(f"posekit runs: {', '.join(f'{x:.2f}' for x in ours)} s")
        if have_datum:
            print(f"datumaro runs: {', '.join(f'{x:.2f}' for x in ref)} s")
            report("mpii .mat -> coco (best of each)", min(ours), min(ref), "datumaro", "s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
