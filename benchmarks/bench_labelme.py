"""LabelMe folder -> COCO: files/s of `annotate convert labelme-to-coco`'s reader and writer on a
generated folder, against a one-off script that loads each file with labelme's own ``LabelFile``
(which also decodes the image to check its size), measured on a subset side by side.

    .venv/bin/python benchmarks/bench_labelme.py --files 20000
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from common import ROOT, report

warnings.filterwarnings("ignore")


def make_folder(folder: Path, n: int) -> None:
    """``n`` LabelMe files: the sample's documents, points jittered, images beside them."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    docs = [json.loads(p.read_text()) for p in sorted((ROOT / "sample_data" / "labelme").glob("*.json"))]
    folder.mkdir(parents=True)
    for p in sorted((ROOT / "sample_data" / "images").glob("*.jpg")):
        shutil.copy(p, folder / p.name)
    for i in range(n):
        d = json.loads(json.dumps(docs[i % len(docs)]))
        d["imagePath"] = Path(d["imagePath"]).name
        d.pop("posekit", None)
        for s in d["shapes"]:
            s["points"] = [[x + float(rng.normal(0, 1)), y + float(rng.normal(0, 1))] for x, y in s["points"]]
        (folder / f"f_{i:06d}.json").write_text(json.dumps(d))


def naive_labelfile(files: list[Path]) -> int:
    from labelme import LabelFile  # imported (and so not timed) before the loop is timed

    persons = 0
    for f in files:
        lf = LabelFile(str(f))
        persons += len({s["group_id"] for s in lf.shapes})
    return persons


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--reference-files", type=int, default=1000)
    args = ap.parse_args()
    import logging

    from loguru import logger

    logger.remove()  # labelme logs every image it loads
    logging.disable(logging.INFO)
    from annotate.coco import save_coco
    from converters.formats import Context, read_dataset

    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-lm-"))
    try:
        folder = tmp / "lm"
        t = time.perf_counter()
        make_folder(folder, args.files)
        print(f"generated {args.files} LabelMe files in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        ds = read_dataset(folder, Context(layout="coco17"), "labelme")[0].ds
        save_coco(ds, tmp / "out.json")
        ours_s = time.perf_counter() - t
        assert len(ds.images) == args.files
        ours = args.files / ours_s
        print(f"posekit: {args.files} files -> COCO ({len(ds)} persons) in {ours_s:.2f} s = {ours:,.0f} files/s; "
              f"60,000 files would take {60000 / ours:.0f} s")
        del ds  # the reference runs without our result alive (fewer objects for its GC to walk)
        subset = sorted(folder.glob("*.json"))[: args.reference_files]
        naive_labelfile(subset[:1])  # labelme's import is not part of its per-file speed
        t = time.perf_counter()
        naive_labelfile(subset)
        ref = len(subset) / (time.perf_counter() - t)
        report("labelme -> coco", ours, ref, f"labelme LabelFile loop ({len(subset)} files)", "files/s",
               higher_is_better=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
