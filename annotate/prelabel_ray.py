"""``annotate prelabel --engine ray``: the same pre-labeling, spread over a Ray cluster with
Ray Data.

The driver lists and plans the images (:func:`annotate.prelabel.plan_prelabel`, the same
rules as the local engine), then streams them through three stages that run at the same time:

1. read + test pipeline: CPU tasks decode each image and run the model config's test
   pipeline (mmpose's ``BottomupResize`` etc.);
2. model: an actor pool (``actors``, one GPU each when the device is CUDA) runs the batched
   backbone and decode (:meth:`models.bottomup.BottomUpModel.predict_batch`) on batches of
   ``batch_size`` images, grouped by input shape;
3. write: CPU tasks turn each image's points into its dataset and write its LabelMe file
   atomically with the one LabelMe writer (:func:`annotate.prelabel.process_prediction`).

The driver collects each image's small result (its dataset and the file's hash) for the
manifest, the progress bar, the set's COCO file and the review list. Images, outputs and
checkpoint are paths that every node must see (a shared filesystem); posekit must be installed
on every node. A model worker that dies is restarted and its batch retried by Ray; after
:data:`MODEL_ATTEMPTS` attempts at one batch its images are reported instead, the run goes on,
and a re-run (resume) does what is missing.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import PosekitError
from .prelabel import (ImageResult, Job, Plan, PrelabelOptions, PrelabelSummary, Collector, failure_line,
                       plan_prelabel, prelabel_category, process_prediction, run_meta)

#: attempts at a model batch whose actor died (Ray restarts the actor and retries the batch; after
#: this many attempts the batch's images are reported instead)
MODEL_ATTEMPTS = 3
#: memory (bytes) asked for per image by the read + test pipeline tasks
PREPARE_MEMORY = 64 << 20
#: environment variables the driver hands to the model actors (test hooks, see _ModelActor)
TEST_HOOKS = ("POSEKIT_TEST_KILL_MODEL_ONCE", "POSEKIT_TEST_KILL_MODEL_ON")


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local Ray here; "auto" or "ray://host:port": join one
    actors: int | None = None  # model actors (default: the cluster's GPUs with CUDA, else 1)
    cpus_per_actor: float | None = None  # default: 1 with CUDA, else half the cluster's CPUs / actors
    num_cpus: int | None = None  # local Ray only: CPUs it may use (default: all)
    object_store_mb: int | None = None  # local Ray only: object store size (default: Ray's)


def _columns(batch: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    n = len(batch[names[0]])
    return [{k: batch[k][i] for k in names} for i in range(n)]


JOB_COLS = ("image_id", "image", "rel", "json_rel")


def _job(row: dict[str, Any]) -> Job:
    return Job(int(row["image_id"]), str(row["image"]), str(row["rel"]), str(row["json_rel"]))


@functools.lru_cache(maxsize=4)
def _pipeline(config: str | None, model: str | None) -> tuple[Any, dict[str, Any]]:
    """The config's test pipeline and dataset meta, built once per worker process."""
    from mmengine.registry import init_default_scope

    from models.bottomup import dataset_meta, load_config, test_pipeline

    init_default_scope("mmpose")
    cfg = load_config(model if config is None else None, config)
    return test_pipeline(cfg), dataset_meta(cfg)


def prepare_batch(batch: dict[str, Any], config: str | None, model: str | None) -> dict[str, Any]:
    """Stage 1 (CPU task): decode each image and run the test pipeline. An image that fails
    gets an ``error`` and no input."""
    from models.bottomup import BottomUpModel, prepare_sample

    from .images import read_image

    pipeline, meta = _pipeline(config, model)
    out: dict[str, list] = {k: [] for k in (*JOB_COLS, "h", "w", "sample", "error")}
    for row in _columns(batch, JOB_COLS):
        job = _job(row)
        sample, err, hw = b"", "", (0, 0)
        try:
            img = read_image(Path(job.image))
            hw = img.shape[:2]
            prepared = prepare_sample(pipeline, meta, img, job.image, job.image_id)
            sample = pickle.dumps(BottomUpModel.pack(prepared), protocol=5)
        except Exception as exc:
            err = failure_line(job, exc)
        for k in JOB_COLS:
            out[k].append(row[k])
        out["h"].append(hw[0])
        out["w"].append(hw[1])
        out["sample"].append(sample)
        out["error"].append(err)
    return {k: np.array(v, dtype=object) if k == "sample" else np.array(v) for k, v in out.items()}


class _ModelActor:
    """Stage 2 (actor): the model, built once per actor, on batches of prepared images.

    Test hooks (environment of the driver, handed over by it): ``POSEKIT_TEST_KILL_MODEL_ONCE=
    MARKER`` kills this actor's process (SIGKILL) on its first batch if MARKER does not exist yet
    (and creates it): Ray restarts the actor and retries the batch. ``POSEKIT_TEST_KILL_MODEL_ON=
    REL`` kills it on every batch holding image REL: the retries run out and the image is
    reported."""

    def __init__(self, spec: Any, hooks: dict[str, str], attempts: Any) -> None:
        import dataclasses

        if spec.device.startswith("cuda"):  # Ray shows each actor only its own GPU, as cuda:0
            spec = dataclasses.replace(spec, device="cuda")
        self.model = spec.build()
        self.hooks = hooks
        self.attempts = attempts

    def _test_hooks(self, rels: list[str]) -> None:
        marker = self.hooks.get("POSEKIT_TEST_KILL_MODEL_ONCE")
        if marker:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                os.kill(os.getpid(), signal.SIGKILL)
            except FileExistsError:
                pass
        if self.hooks.get("POSEKIT_TEST_KILL_MODEL_ON") in rels:
            os.kill(os.getpid(), signal.SIGKILL)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import ray

        rows = _columns(batch, (*JOB_COLS, "h", "w", "sample", "error"))
        preds: list[bytes] = [b""] * len(rows)
        errors = [str(r["error"]) for r in rows]
        attempt = ray.get(self.attempts.hit.remote(tuple(int(r["image_id"]) for r in rows)))
        if attempt > MODEL_ATTEMPTS:  # the worker died on this batch every time: report its images
            errors = [e or f"{r['image']}: not pre-labeled: its Ray worker was lost {MODEL_ATTEMPTS} times "
                            f"on its batch; run again to finish it" for e, r in zip(errors, rows)]
            return self._result(rows, preds, errors)
        self._test_hooks([str(r["rel"]) for r in rows])
        groups: dict[tuple, list[tuple[int, dict]]] = {}
        for i, r in enumerate(rows):
            if not errors[i]:
                prepared = self.model.unpack(*pickle.loads(r["sample"]))
                groups.setdefault(self.model.shape_key(prepared), []).append((i, prepared))
        for members in groups.values():
            idx = [i for i, _ in members]
            try:
                out = self.model.predict_batch([p for _, p in members])
            except Exception as exc:  # a model failure on this batch: its images are reported
                for i in idx:
                    errors[i] = failure_line(_job(rows[i]), exc)
                continue
            for i, p in zip(idx, out):
                preds[i] = pickle.dumps((p.keypoints, p.scores), protocol=5)
        return self._result(rows, preds, errors)

    @staticmethod
    def _result(rows: list[dict], preds: list[bytes], errors: list[str]) -> dict[str, Any]:
        res = {k: np.array([r[k] for r in rows]) for k in (*JOB_COLS, "h", "w")}
        res["pred"] = np.array(preds, dtype=object)
        res["error"] = np.array(errors)
        return res


class AttemptCounter:
    """A tiny Ray actor counting the attempts at each model batch (Ray retries a batch whose
    worker died without limit; the model actor reports the batch's images after
    :data:`MODEL_ATTEMPTS`)."""

    def __init__(self) -> None:
        self.seen: dict[tuple, int] = {}

    def hit(self, key: tuple) -> int:
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key]


def write_batch(batch: dict[str, Any], category: Any, opts: PrelabelOptions, out_dir: str, images_dir: str
                ) -> dict[str, Any]:
    """Stage 3 (CPU task): each image's dataset, its LabelMe file written atomically; returns
    each image's pickled :class:`ImageResult`."""
    results = []
    for r in _columns(batch, (*JOB_COLS, "h", "w", "pred", "error")):
        job = _job(r)
        if r["error"]:
            res = ImageResult(job, error=str(r["error"]))
        else:
            try:
                kps, scores = pickle.loads(r["pred"])
                res = process_prediction(job, (int(r["h"]), int(r["w"])), kps, scores, category, opts,
                                         Path(out_dir), Path(images_dir))
            except Exception as exc:
                res = ImageResult(job, error=failure_line(job, exc))
        results.append(pickle.dumps(res, protocol=5))
    return {"image_id": np.asarray(batch["image_id"]), "result": np.array(results, dtype=object)}


def _init_ray(ray_opts: RayOptions) -> bool:
    """Connect to Ray; returns True when this call started it (and so must shut it down)."""
    import ray

    if ray.is_initialized():  # a caller (a script, the tests) set Ray up already
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": False, "configure_logging": True}
    if ray_opts.address:
        ray.init(address=ray_opts.address, **kwargs)
    else:
        if ray_opts.num_cpus:
            kwargs["num_cpus"] = ray_opts.num_cpus
        if ray_opts.object_store_mb:
            kwargs["object_store_memory"] = int(ray_opts.object_store_mb) << 20
        ray.init(**kwargs)
    return True


def run_prelabel_ray(images_dir: Path, out_dir: Path, spec: Any, opts: PrelabelOptions, ray_opts: RayOptions,
                     progress: Callable[[int], None] | None = None, total_cb: Callable[[int], None] | None = None,
                     plan: Plan | None = None) -> PrelabelSummary:
    """Pre-label with Ray Data (see the module doc); same outputs and rules as
    :func:`annotate.prelabel.run_prelabel`. ``spec``: a :class:`models.bottomup.ModelSpec`."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise PosekitError(None, "--engine ray needs Ray: pip install 'ray[data]'") from None
    from models.bottomup import keypoint_names
    from models.checkpoint import load_checkpoint_file, resolve_checkpoint
    from models.zoo import ZOO

    from .prelabel_outputs import finish

    plan = plan or plan_prelabel(images_dir, out_dir, opts.overwrite)
    category = prelabel_category(keypoint_names(spec))
    checkpoint = spec.checkpoint or (ZOO[spec.model].checkpoint_url if spec.model in ZOO and not spec.config else None)
    if checkpoint is None:
        raise PosekitError(None, "--checkpoint is required with --config")
    load_checkpoint_file(resolve_checkpoint(checkpoint))  # refuse a bad or unsafe file here, in one line
    out_dir.mkdir(parents=True, exist_ok=True)
    if total_cb:
        total_cb(len(plan.jobs))
    collector = Collector(plan, run_meta(str(checkpoint), opts), progress)
    if plan.jobs:
        started = _init_ray(ray_opts)
        try:
            _stream(plan, spec, opts, ray_opts, category, collector)
        finally:
            collector.save_manifest()
            if started:
                ray.shutdown()
    summary = collector.close()
    return finish(plan, collector.results, category, opts, summary)


def _stream(plan: Plan, spec: Any, opts: PrelabelOptions, ray_opts: RayOptions, category: Any,
            collector: Collector) -> None:
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours shows images/s
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)

    cuda = spec.device.startswith("cuda")
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0))
    if cuda and gpus < 1:
        raise PosekitError(None, f"--device {spec.device}: the Ray cluster has no GPU")
    actors = ray_opts.actors or (gpus if cuda else 1)
    if cuda and actors > gpus:
        raise PosekitError(None, f"--actors {actors}: the Ray cluster has {gpus} GPU(s), one per actor")
    actor_cpus = ray_opts.cpus_per_actor or (1 if cuda else max(1, cpus // (2 * actors)))
    hooks = {k: os.environ[k] for k in TEST_HOOKS if os.environ.get(k)}
    rows = [{"image_id": j.image_id, "image": j.image, "rel": j.rel, "json_rel": j.json_rel} for j in plan.jobs]
    # small blocks keep the three stages streaming from the first images on
    blocks = min(len(rows), max(1, math.ceil(len(rows) / opts.batch_size)))
    ds = ray.data.from_items(rows, override_num_blocks=blocks)
    # (the memory figure is a scheduling hint; it also keeps Ray Data from fusing this stage into
    # the model actors, so that reading overlaps the model instead of running in turn with it)
    ds = ds.map_batches(prepare_batch, batch_size=opts.batch_size, num_cpus=1,
                        compute=ray.data.TaskPoolStrategy(size=max(1, opts.workers)),
                        memory=PREPARE_MEMORY * opts.batch_size,
                        fn_kwargs={"config": spec.config, "model": spec.model if spec.config is None else None})
    attempts = ray.remote(num_cpus=0)(AttemptCounter).remote()
    ds = ds.map_batches(_ModelActor, batch_size=opts.batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                        num_cpus=actor_cpus,
                        num_gpus=1 if cuda else None,
                        fn_constructor_kwargs={"spec": spec, "hooks": hooks, "attempts": attempts})
    ds = ds.map_batches(write_batch, batch_size=opts.batch_size, num_cpus=1,
                        fn_kwargs={"category": category, "opts": opts, "out_dir": str(plan.out_dir),
                                   "images_dir": str(plan.images_dir)})
    done: set[int] = set()
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for raw in batch["result"]:
                res: ImageResult = pickle.loads(raw)
                done.add(res.job.image_id)
                collector.add(res)
    except Exception as exc:  # the run itself failed (e.g. no model actor could start)
        first = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else ""
        raise PosekitError(None, f"the Ray run failed after {len(done)} image(s) ({exc.__class__.__name__}: "
                                 f"{first}); files written so far are kept, run again to resume") from None
    finally:
        ray.kill(attempts)
    for job in plan.jobs:  # every image is accounted for; none can be missing, but never silently
        if job.image_id not in done:
            collector.add(ImageResult(job, error=f"{job.image}: not pre-labeled (no result came back from Ray); "
                                                 f"run again to finish it"))
