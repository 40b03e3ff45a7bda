"""``annotate merge`` and ``annotate split`` on a COCO train2017-sized keypoint file (150,000
persons with keypoints, persons without any and crowd regions, ~57k images; generated as
bench_yolo.py generates it), each against the floor: reading and writing the set once with
posekit's ``read_dataset`` / ``write_dataset`` (COCO to COCO). Target: each within 2x the floor.

Timed in this process, the garbage collector paused as the CLI pauses it, best of ``--repeat``,
in wall time and in CPU time (the process's: on a shared machine the steadier of the two):
- merge: the set and a shifted copy of it (every labeled keypoint moved by one or two pixels)
  read, every person of the copy matched by OKS (``--on-duplicate keep-first``), one file written;
  it reads twice what the floor reads, so 2x is the floor plus a read;
- split: read, ``--val 0.1 --test 0.1`` planned (groups: the images; stratified), three files written.

    .venv/bin/python benchmarks/bench_merge_split.py                  # full size
    .venv/bin/python benchmarks/bench_merge_split.py --persons 15000  # a tenth
"""
from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_stats_filter import floor


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall time and best CPU time (seconds) of ``repeat`` runs, and the last result. The
    garbage collector is off while ``fn`` runs, as ``annotate``'s ``run`` turns it off around a
    command (a collection when it comes back on would scan every object the run made)."""
    wall = cpu = float("inf")
    out = None
    for _ in range(repeat):
        out = None
        gc.collect()
        gc.disable()
        try:
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
        finally:
            gc.enable()
    return wall, cpu, out


def line(name: str, t: tuple[float, float, object], ref: tuple[float, float, object]) -> str:
    return (f"{name}: {t[0]:.2f} s wall = {t[0] / ref[0]:.2f}x the floor, {t[1]:.2f} s CPU = {t[1] / ref[1]:.2f}x "
            f"(target <= 2x)")


def shifted_copy(src: Path, dst: Path, seed: int = 1) -> int:
    """``src`` with every labeled keypoint moved by 1 or 2 pixels in x and y; returns how many
    persons have a labeled keypoint (the duplicates merge must find)."""
    import orjson

    doc = orjson.loads(src.read_bytes())
    anns = doc["annotations"]
    kp = np.array([a["keypoints"] for a in anns], dtype=np.int64).reshape(len(anns), -1, 3)
    lab = kp[..., 2] > 0
    rng = np.random.default_rng(seed)
    kp[..., :2] += np.where(lab[..., None], rng.choice([-2, -1, 1, 2], kp[..., :2].shape), 0)
    for a, row in zip(anns, kp.reshape(len(anns), -1).tolist()):
        a["keypoints"] = row
    dst.write_bytes(orjson.dumps(doc))
    return len(anns)


def merge(a: Path, b: Path, dst: Path):
    from annotate.ops.merge import merge_files

    return merge_files([a, b], dst, overwrite=True)


def split(src: Path, out: Path):
    from annotate.ops.split import split_file

    shutil.rmtree(out, ignore_errors=True)
    return split_file(src, out, 0.1, 0.1, seed=0, overwrite=True)


def merge_floor(a: Path, b: Path, dst: Path) -> None:
    """What any merge must do: read both inputs and write the merged set (here: the first) once."""
    from annotate.io import paused_gc
    from converters.formats import Context, read_dataset

    with paused_gc():
        read_dataset(b, Context())
        floor(a, dst)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=150000)
    ap.add_argument("--images", type=int, default=None, help="default: 0.38 per person (train2017: 57k / 150k)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the files (e.g. /dev/shm)")
    args = ap.parse_args()
    from bench_yolo import make_file

    n_img = args.images or max(1, round(args.persons * 0.38))
    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-merge-", dir=args.tmp))
    try:
        src, copy = tmp / "coco.json", tmp / "shifted.json"
        counts = make_file(src, tmp / "images", n_img, args.persons)
        n = shifted_copy(src, copy)
        print(f"generated {src.name}: {n_img} images, {counts['persons']} persons with keypoints, "
              f"{counts['without_keypoints']} without, {counts['crowd']} crowd regions; "
              f"{src.stat().st_size / 1e6:.0f} MB; and a copy with every keypoint moved by 1-2 px", flush=True)
        floor(src, tmp / "floor.json")  # imports and file cache warmed, not timed
        t_floor = timed(lambda: floor(src, tmp / "floor.json"), args.repeat)
        print(f"floor (read_dataset + write_dataset, COCO to COCO): {t_floor[0]:.2f} s wall, {t_floor[1]:.2f} s CPU",
              flush=True)
        t = timed(lambda: merge(src, copy, tmp / "merged.json"), args.repeat)
        st = t[2].stats
        print(line("merge (set + shifted copy)", t, t_floor) + f"; {st.duplicates:,} of {n:,} persons found as "
              f"duplicates", flush=True)
        t_io = timed(lambda: merge_floor(src, copy, tmp / "floor2.json"), args.repeat)
        print(f"  merge's own floor (reading both inputs, writing the merged set once): {t_io[0]:.2f} s wall; "
              f"merge = {t[0] / t_io[0]:.2f}x it", flush=True)
        t = timed(lambda: split(src, tmp / "splits"), args.repeat)
        plan = t[2].plan
        diff, where = plan.largest_difference(list(t[2].ds.category.keypoints))
        print(line("split (--val 0.1 --test 0.1)", t, t_floor) + f"; images {plan.images.tolist()}, largest "
              f"visible-fraction difference {diff:.3%} ({where})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
