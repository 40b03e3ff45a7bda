"""Pre-labeling throughput: `annotate prelabel`'s batched, parallel-decode path against mmpose's
one-image-per-call inference (test pipeline + ``model.test_step``, what ``mmpose.apis.inference_bottomup``
does), same images, same model and weights, same device.

    .venv/bin/python benchmarks/bench_prelabel.py --device cpu --images 8
    python3 benchmarks/bench_prelabel.py --device cuda --images 64 --batch-size 16
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--head-threads", type=int, default=None, help="default: 4 on a GPU, 1 on a CPU")
    ap.add_argument("--model", default="cid-hrnet-w32")
    ap.add_argument("--checkpoint", default=None, help="default: a randomly initialised checkpoint made here")
    args = ap.parse_args()

    import cv2
    import torch

    from annotate.prelabel import PrelabelOptions, run_prelabel
    from models.bottomup import BottomUpModel, save_random_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-"))
    try:
        ckpt = args.checkpoint or str(save_random_checkpoint(args.model, tmp / "random.pth"))
        # a 640x480 set: the sample images resized to one size, repeated
        src = sorted((ROOT / "sample_data" / "images").glob("*.jpg"))
        img_dir = tmp / "images"
        img_dir.mkdir()
        for i in range(args.images):
            im = cv2.resize(cv2.imread(str(src[i % len(src)])), (640, 480))
            cv2.imwrite(str(img_dir / f"img_{i:04d}.jpg"), im)
        paths = sorted(img_dir.glob("*.jpg"))
        model = BottomUpModel(args.model, None, ckpt, args.device, head_threads=args.head_threads)
        dev_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
        print(f"device: {dev_name}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"model {args.model}, {len(paths)} images 640x480, flip test {model.net.test_cfg.get('flip_test')}")
        # warm-up both paths
        model.predict_single_mmpose(model.prepare(cv2.imread(str(paths[0])), str(paths[0])))
        run_prelabel(img_dir, tmp / "warm", model, PrelabelOptions(args.batch_size, args.workers), None)

        def sync() -> None:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()

        t = time.perf_counter()
        for i, p in enumerate(paths):
            model.predict_single_mmpose(model.prepare(cv2.imread(str(p)), str(p), i))
        sync()
        ref = len(paths) / (time.perf_counter() - t)

        t = time.perf_counter()
        run_prelabel(img_dir, tmp / "out", model, PrelabelOptions(args.batch_size, args.workers), None)
        sync()
        ours = len(paths) / (time.perf_counter() - t)
        report(f"prelabel ({dev_name}, batch {args.batch_size}, {args.workers} decode threads, "
               f"{model.head_threads} head threads, LabelMe+COCO written)",
               ours, ref, "mmpose one image per call", "images/s", higher_is_better=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
