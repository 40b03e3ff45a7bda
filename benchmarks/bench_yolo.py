"""COCO -> YOLO-pose on a file the size of COCO train2017's keypoints (64,115 images; 150,000
persons with keypoints, plus persons without any and crowd regions, segmentation polygons as in
the real file), generated: `annotate convert X.json -o DIR --to yolo` (the whole command, start-up
included) against Ultralytics' ``convert_coco(labels_dir, save_dir, use_keypoints=True,
cls91to80=False)`` as its docs call it (in its own process; only the call is timed), side by side, best of
``--repeat``. Then both outputs are compared label for label (same persons, same values within
the 6 digits both print), and ours is set against a floor: parsing the JSON with orjson plus
writing the same bytes into as many files and making as many links.

    .venv/bin/python benchmarks/bench_yolo.py                  # full size, files on disk
    .venv/bin/python benchmarks/bench_yolo.py --tmp /dev/shm   # files in memory
    .venv/bin/python benchmarks/bench_yolo.py --images 6400 --persons 15000
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, report

SIZES = np.array([(640, 480), (480, 640), (640, 427), (427, 640), (500, 375), (640, 360), (612, 612)])


def make_file(path: Path, images_dir: Path, n_img: int, n_persons: int, seed: int = 0) -> dict[str, int]:
    """A COCO keypoint file like train2017's person_keypoints (and an empty file per image)."""
    import orjson

    from annotate.skeletons import COCO17

    rng = np.random.default_rng(seed)
    wh = SIZES[rng.integers(0, len(SIZES), n_img)]
    images = [{"license": 1, "file_name": f"train2017/{i:012d}.jpg", "height": int(h), "width": int(w), "id": i}
              for i, (w, h) in zip(range(1, n_img + 1), wh.tolist())]
    n_empty, n_crowd = n_persons // 15, n_persons // 100  # persons without keypoints; crowd regions
    n = n_persons + n_empty + n_crowd
    img = np.sort(rng.integers(0, n_img, n))
    W, H = wh[img, 0].astype(float), wh[img, 1].astype(float)
    bw, bh = rng.uniform(0.1, 0.6, n) * W, rng.uniform(0.2, 0.9, n) * H
    bx, by = rng.uniform(0, 1, n) * (W - bw), rng.uniform(0, 1, n) * (H - bh)
    u = rng.uniform(0.05, 0.95, (n, 17))
    v = rng.uniform(0.05, 0.95, (n, 17))
    x = np.round(bx[:, None] + u * bw[:, None])
    y = np.round(by[:, None] + v * bh[:, None])
    vis = rng.choice([0, 1, 2], (n, 17), p=[0.3, 0.1, 0.6])
    kind = rng.permutation(np.repeat([0, 1, 2], [n_persons, n_empty, n_crowd]))
    vis[kind != 0] = 0
    vis[(kind == 0) & (vis.max(1) == 0), 0] = 2  # a person "with keypoints" has at least one
    x[vis == 0] = 0
    y[vis == 0] = 0
    anns = []
    for k in range(n):
        box = [round(float(bx[k]), 2), round(float(by[k]), 2), round(float(bw[k]), 2), round(float(bh[k]), 2)]
        poly = [box[0], box[1], box[0] + box[2], box[1], box[0] + box[2], box[1] + box[3], box[0], box[1] + box[3]]
        kp = np.column_stack([x[k], y[k], vis[k]]).astype(np.int64).ravel().tolist()
        anns.append({"segmentation": [[round(p, 2) for p in poly]], "num_keypoints": int((vis[k] > 0).sum()),
                     "area": round(box[2] * box[3] * 0.55, 4), "iscrowd": int(kind[k] == 2), "keypoints": kp,
                     "image_id": int(img[k]) + 1, "bbox": box, "category_id": 1, "id": k + 1})
    cat = {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO17.keypoints),
           "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"info": {"description": "generated"}, "licenses": [{"id": 1, "name": "x"}],
                                   "images": images, "annotations": anns, "categories": [cat]}))
    (images_dir / "train2017").mkdir(parents=True, exist_ok=True)
    for im in images:  # the command links the images, so they must exist; empty files suffice
        (images_dir / im["file_name"]).touch()
    return {"persons": n_persons, "without_keypoints": n_empty, "crowd": n_crowd}


def run_ours(coco: Path, images: Path, out: Path) -> float:
    exe = Path(sys.executable).with_name("annotate")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from annotate.launch import main; main()"]
    t = time.perf_counter()
    subprocess.run(cmd + ["convert", str(coco), "-o", str(out), "--to", "yolo", "--images", str(images), "-q"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


CHECKER = ROOT / ".venv" / "ultralytics-checker"  # where scripts/setup_env.sh puts Ultralytics (tests only)


def _ultralytics(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` where Ultralytics imports: its own folder on PYTHONPATH when there is one."""
    env = dict(os.environ, YOLO_OFFLINE="1")
    if (CHECKER / "ultralytics").is_dir():
        env["PYTHONPATH"] = os.pathsep.join([str(CHECKER), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def run_ultralytics(labels_dir: Path, out: Path) -> float:
    """Ultralytics' convert_coco, timed around the call alone (its import is not timed)."""
    res = _ultralytics("import time\nfrom ultralytics.data.converter import convert_coco\n"
                       "t = time.perf_counter()\n"
                       f"convert_coco({str(labels_dir)!r}, {str(out)!r}, use_keypoints=True, cls91to80=False)\n"
                       "print('SECONDS', time.perf_counter() - t)")
    if res.returncode:
        raise SystemExit(f"Ultralytics' convert_coco failed: {res.stderr[-1500:]}")
    return float(next(ln for ln in res.stdout.splitlines() if ln.startswith("SECONDS")).split()[1])


def floor(coco: Path, out: Path) -> float:
    """Parse the JSON (garbage collector paused, as ours), write our label files' bytes into as many
    files, make as many links, one after the other."""
    import orjson

    files = [(str(p.relative_to(out)), p.read_bytes()) for p in (out / "labels").rglob("*.txt")]
    links = [(str(p.relative_to(out)), os.readlink(p)) for p in (out / "images").rglob("*") if p.is_symlink()]
    dst = str(out.parent / "floor")
    gc.disable()  # as ours parses: the collector's passes over the new objects are not the parse
    t = time.perf_counter()
    orjson.loads(coco.read_bytes())
    gc.enable()
    made = set()
    for rel, data in files:
        p = os.path.join(dst, rel)
        d = os.path.dirname(p)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)
    for rel, target in links:
        p = os.path.join(dst, rel)
        d = os.path.dirname(p)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        os.symlink(target, p)
    took = time.perf_counter() - t
    shutil.rmtree(dst)
    return took


def compare(ours: Path, theirs: Path) -> tuple[int, int, int, float]:
    """(images compared, persons compared, our extra persons without keypoints, max |difference|)."""
    n_img = n_rows = extra = 0
    worst = 0.0
    for f in sorted((theirs / "labels").rglob("*.txt")):
        rel = f.relative_to(theirs / "labels" / "coco")
        a = np.loadtxt(f, ndmin=2) if f.stat().st_size else np.zeros((0, 56))
        mine = ours / "labels" / rel  # we write no file for an image without persons (a background image)
        b = np.loadtxt(mine, ndmin=2) if mine.exists() and mine.stat().st_size else np.zeros((0, 56))
        labeled = (b[:, 7::3] > 0).any(axis=1) if len(b) else np.zeros(0, bool)
        extra += int((~labeled).sum())
        b = b[labeled]
        if a.shape != b.shape:
            raise SystemExit(f"{rel}: Ultralytics wrote {a.shape}, we wrote {b.shape}")
        if a.size:
            worst = max(worst, float(np.abs(a - b).max()))
        n_img += 1
        n_rows += len(a)
    return n_img, n_rows, extra, worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64115)
    ap.add_argument("--persons", type=int, default=150000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tmp", type=Path, default=None, help="Folder for the files (e.g. /dev/shm: memory, so that "
                    "other processes' disk traffic does not swamp the figures); default: the system's temp folder")
    args = ap.parse_args()
    if _ultralytics("import ultralytics.data.converter").returncode:
        print("bench_yolo: Ultralytics does not import (scripts/setup_env.sh installs it for the tests); skipped")
        return
    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-yolo-", dir=args.tmp))
    try:
        coco = tmp / "annotations" / "coco.json"
        counts = make_file(coco, tmp / "images", args.images, args.persons)
        size = coco.stat().st_size / 1e6
        print(f"generated {coco.name}: {args.images} images, {counts['persons']} persons with keypoints, "
              f"{counts['without_keypoints']} without, {counts['crowd']} crowd regions; {size:.0f} MB", flush=True)
        ours_t, ref_t, floor_t = [], [], []
        for i in range(args.repeat):  # interleaved: all three see the same machine state
            out = tmp / f"ours{i}"
            ours_t.append(run_ours(coco, tmp / "images", out))
            ref_t.append(run_ultralytics(coco.parent, tmp / f"ultra{i}"))
            floor_t.append(floor(coco, out))
            print(f"  run {i + 1}: ours {ours_t[-1]:.2f} s, Ultralytics {ref_t[-1]:.2f} s ({ref_t[-1] / ours_t[-1]:.1f}x), "
                  f"floor {floor_t[-1]:.2f} s", flush=True)
            if i:  # keep the first outputs for the comparison; the disk is slow to fill
                shutil.rmtree(out)
                shutil.rmtree(tmp / f"ultra{i}")
        n_img, n_rows, extra, worst = compare(tmp / "ours0", tmp / "ultra0")
        print(f"same labels: {n_img} label files, {n_rows} persons, max |difference| {worst:.1e} "
              f"(normalised); ours also keeps {extra} persons without labeled keypoints, which Ultralytics skips",
              flush=True)
        report(f"COCO -> YOLO-pose, {args.images} images / {args.persons} persons", min(ours_t), min(ref_t),
               "Ultralytics convert_coco")
        fl = min(floor_t)
        print(f"floor (orjson parse + the same files and links written): {fl:.2f} s; ours takes {min(ours_t) / fl:.1f}x it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
