"""``annotate stats`` and ``annotate filter`` on a COCO train2017-sized keypoint file (150,000
persons with keypoints, persons without any and crowd regions, ~57k images; generated as
bench_yolo.py generates it), each against the floor: reading and writing the set once with
posekit's ``read_dataset`` / ``write_dataset`` (COCO to COCO). Target: each within 2x the floor.

Timed in this process, the garbage collector paused as the CLI pauses it, best of ``--repeat``:
- stats: read, every number, the terminal tables, and with ``--report`` (default on) the page's
  six plots and stats.json written;
- filter: read, ``--drop-crowd --min-keypoints 5 --min-area 1024 --where "num_visible >= 3 and
  box_h > box_w / 2" --images-with-persons``, the account settled, the result written as COCO.

    .venv/bin/python benchmarks/bench_stats_filter.py                  # full size
    .venv/bin/python benchmarks/bench_stats_filter.py --persons 15000  # a tenth
"""
from __future__ import annotations

import argparse
import io
import shutil
import tempfile
from pathlib import Path

from common import best_of

#: The filter the benchmark runs (every condition but --category, which the set has one of).
WHERE = "num_visible >= 3 and box_h > box_w / 2"


def floor(src: Path, dst: Path) -> None:
    """Read the set and write it once, as every command reads and writes."""
    from annotate.io import paused_gc
    from converters.formats import Context, read_dataset, write_dataset

    ctx = Context()
    with paused_gc():
        source, fmt = read_dataset(src, ctx)
        write_dataset(source.ds, dst, fmt, ctx, True, source.images_dir, (src,))


def stats(src: Path, report: Path | None) -> None:
    from rich.console import Console

    from annotate.io import paused_gc
    from annotate.ops.stats import dataset_stats, stats_tables
    from annotate.ops.stats_page import write_report
    from converters.formats import Context

    with paused_gc():
        st = dataset_stats(src, Context())
        con = Console(file=io.StringIO(), width=150)
        for table in stats_tables(st, str(src)):
            con.print(table)
        if report is not None:
            write_report(st, report, True)


def filter_(src: Path, dst: Path) -> str:
    from annotate.io import paused_gc
    from annotate.ops.filter import FilterSpec, filter_dataset
    from converters.formats import Context, read_dataset, settle, write_dataset

    ctx = Context()
    with paused_gc():
        source, fmt = read_dataset(src, ctx)
        res = filter_dataset(source.ds, FilterSpec((), True, 5, 1024.0, WHERE, True), ctx.notes)
        settle(ctx.account, res.ds, ctx.notes, src, "filtering")
        write_dataset(res.ds, dst, fmt, ctx, True, source.images_dir, (src,))
    return res.line()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=150000)
    ap.add_argument("--images", type=int, default=None, help="default: 0.38 per person (train2017: 57k / 150k)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-report", action="store_true", help="stats without the page (terminal tables only)")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the files (e.g. /dev/shm)")
    args = ap.parse_args()
    from bench_yolo import make_file

    n_img = args.images or max(1, round(args.persons * 0.38))
    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-stats-", dir=args.tmp))
    try:
        src = tmp / "coco.json"
        counts = make_file(src, tmp / "images", n_img, args.persons)
        print(f"generated {src.name}: {n_img} images, {counts['persons']} persons with keypoints, "
              f"{counts['without_keypoints']} without, {counts['crowd']} crowd regions; "
              f"{src.stat().st_size / 1e6:.0f} MB", flush=True)
        t_floor = best_of(lambda: floor(src, tmp / "floor.json"), args.repeat)
        print(f"floor (read_dataset + write_dataset, COCO to COCO): {t_floor:.2f} s", flush=True)
        report = None if args.no_report else tmp / "report"
        t_stats = best_of(lambda: stats(src, report), args.repeat)
        what = "with the report page" if report else "tables only"
        print(f"stats ({what}): {t_stats:.2f} s = {t_stats / t_floor:.2f}x the floor (target <= 2x)", flush=True)
        line = []
        t_filter = best_of(lambda: line.append(filter_(src, tmp / "filtered.json")), args.repeat)
        print(f"filter: {t_filter:.2f} s = {t_filter / t_floor:.2f}x the floor (target <= 2x)\n  {line[-1]}",
              flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
