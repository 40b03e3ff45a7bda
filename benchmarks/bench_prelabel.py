"""Pre-labeling throughput, four figures side by side in one run, on the same images, model,
weights and device:

(a) the backbone alone (HRNet + flipped twin) on batches of prepared images: the ceiling;
(b) ``prelabel`` with the local engine, end to end (read, pipeline, model, decode, LabelMe and
    COCO files written);
(c) mmpose's one-image loop: read, test pipeline, ``model.test_step`` per image (what
    ``mmpose.apis.inference_bottomup`` does), the reference;
(d) ``prelabel --engine ray`` with one model actor, end to end (a local Ray started before
    the timing; the actor's start-up, model build included, is inside the timing and also
    printed on its own).

Persons per image are printed beside every figure: random weights give the maximum (30 for
CID), and the thresholds are set to 0 so that every decoded person is written. On a GPU the
utilisation (sampled by nvidia-smi every 100 ms) and the peak GPU memory are printed too.

    .venv/bin/python benchmarks/bench_prelabel.py --device cpu --images 4
    python benchmarks/bench_prelabel.py --device cuda --images 128 --batch-size 32
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

from common import ROOT

warnings.filterwarnings("ignore")


class GpuSampler:
    """GPU utilisation sampled by nvidia-smi while a figure is timed (CUDA only)."""

    def __init__(self, device: str) -> None:
        self.on = device.startswith("cuda") and shutil.which("nvidia-smi") is not None
        self.samples: list[float] = []

    def __enter__(self) -> "GpuSampler":
        import torch

        if self.on:
            torch.cuda.reset_peak_memory_stats()
            self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                          "-lms", "100"], stdout=subprocess.PIPE, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.split(",")[0]))
            except ValueError:
                pass

    def __exit__(self, *exc) -> None:
        if self.on:
            self.proc.terminate()
            self.proc.wait()

    def text(self) -> str:
        if not self.on:
            return "GPU n/a"
        import torch

        util = sum(self.samples) / len(self.samples) if self.samples else float("nan")
        return f"GPU util {util:.0f}%, peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (this process)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="cid-hrnet-w32")
    ap.add_argument("--checkpoint", default=None, help="default: a randomly initialised checkpoint made here")
    ap.add_argument("--no-ray", action="store_true", help="leave out figure (d)")
    args = ap.parse_args()

    import cv2
    import torch

    from annotate.prelabel import PrelabelOptions, run_prelabel
    from models.bottomup import BottomUpModel, ModelSpec, save_random_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-"))
    try:
        ckpt = args.checkpoint or str(save_random_checkpoint(args.model, tmp / "random.pth"))
        src = sorted((ROOT / "sample_data" / "images").glob("*.jpg"))
        img_dir = tmp / "images"
        img_dir.mkdir()
        for i in range(args.images):  # a 640x480 set: the sample images resized to one size
            cv2.imwrite(str(img_dir / f"img_{i:04d}.jpg"), cv2.resize(cv2.imread(str(src[i % len(src)])), (640, 480)))
        paths = sorted(img_dir.glob("*.jpg"))
        n = len(paths)
        spec = ModelSpec(args.model, None, ckpt, args.device)
        model = BottomUpModel(args.model, None, ckpt, args.device)
        dev_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
        print(f"device: {dev_name}, torch {torch.__version__}, threads {torch.get_num_threads()}, model {args.model}, "
              f"{n} images 640x480, flip test {model.net.test_cfg.get('flip_test')}, batch {args.batch_size}, "
              f"{args.workers} read workers", flush=True)
        opts = PrelabelOptions(args.batch_size, args.workers, score_visible=0.0, score_labeled=0.0, min_keypoints=1)

        def sync() -> None:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()

        prepared = [model.prepare(cv2.imread(str(p)), str(p), i) for i, p in enumerate(paths)]
        batches = [prepared[i:i + args.batch_size] for i in range(0, n, args.batch_size)]
        model.backbone_batch(batches[0])  # warm-up
        model.predict_single_mmpose(prepared[0])
        run_prelabel(img_dir, tmp / "warm", model, opts)
        results = {}

        with GpuSampler(args.device) as g:  # (a)
            t = time.perf_counter()
            for b in batches:
                model.backbone_batch(b)
            sync()
            results["a"] = (n / (time.perf_counter() - t), None, g)
        persons = 0
        with GpuSampler(args.device) as g:  # (c)
            t = time.perf_counter()
            for i, p in enumerate(paths):
                persons += len(model.predict_single_mmpose(model.prepare(cv2.imread(str(p)), str(p), i)).keypoints)
            sync()
            results["c"] = (n / (time.perf_counter() - t), persons / n, g)
        with GpuSampler(args.device) as g:  # (b)
            t = time.perf_counter()
            s = run_prelabel(img_dir, tmp / "out_local", model, opts)
            sync()
            results["b"] = (n / (time.perf_counter() - t), s.persons / max(1, s.processed), g)
        if not args.no_ray:
            import ray

            from annotate.prelabel_ray import RayOptions, run_prelabel_ray

            ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            try:
                first: list[float] = []
                with GpuSampler(args.device) as g:  # (d)
                    t = time.perf_counter()
                    s = run_prelabel_ray(img_dir, tmp / "out_ray", spec, opts, RayOptions(actors=1),
                                         lambda k: first.append(time.perf_counter()) if not first else None)
                    results["d"] = (n / (time.perf_counter() - t), s.persons / max(1, s.processed), g)
                startup = (first[0] - t) if first else float("nan")
            finally:
                ray.shutdown()
        a = results["a"][0]
        c = results["c"][0]
        names = {"a": "backbone alone, batches (ceiling)", "b": "prelabel --engine local",
                 "c": "mmpose one-image test_step loop", "d": "prelabel --engine ray, 1 actor"}
        for k in "abcd":
            if k not in results:
                continue
            rate, ppi, g = results[k]
            extra = "" if ppi is None else f", {ppi:.1f} persons/image"
            ratio = "" if k in "ac" else f" -> {rate / c:.2f}x mmpose's loop, {rate / a:.0%} of the backbone ceiling"
            print(f"({k}) {names[k]}: {rate:.3g} images/s{extra}{ratio}; {g.text()}", flush=True)
        if "d" in results:
            print(f"    ray: first image done {startup:.1f} s after the start (Ray actor start-up and model build "
                  f"inside the timing)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
