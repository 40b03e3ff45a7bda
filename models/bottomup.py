"""MMPose bottom-up HRNet models: build from the official config, load weights safely,
run batched inference with mmpose's own pipeline, heads and decoders.

mmpose's bottom-up heads decode one image per call. Here the expensive part, the HRNet
backbone and neck (and its flipped twin for flip test), runs once per batch of images of the
same input shape; the head's own ``predict`` then runs per image on that image's slice of
the features, so the numbers match mmpose's one-image path.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from annotate.errors import PosekitError

from .checkpoint import load_checkpoint_file, resolve_checkpoint
from .zoo import ZOO, config_path, mmpose_configs_dir


@dataclass
class Prediction:
    keypoints: np.ndarray  # (P, K, 2) image pixels
    scores: np.ndarray  # (P, K)


def _slice(obj: Any, i: int) -> Any:
    """Image ``i`` of a (nested tuple/list of) batched tensors, keeping the batch dimension."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj[i:i + 1]
    if isinstance(obj, (list, tuple)):
        return type(obj)(_slice(o, i) for o in obj)
    return obj


def load_config(model: str | None, config: str | Path | None):
    from mmengine.config import Config

    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise PosekitError(path, "config file not found")
    else:
        if model not in ZOO:
            raise PosekitError(None, f"unknown model {model!r}; known: {', '.join(ZOO)}")
        path = config_path(model)
    try:
        return Config.fromfile(str(path))
    except Exception as exc:
        raise PosekitError(path, f"cannot read mmpose config ({exc.__class__.__name__}: {exc})") from None


def dataset_meta(cfg) -> dict[str, Any]:
    """The dataset meta (keypoint names, flip indices, ...) the config's test set declares."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    ds_cfg = cfg.get("test_dataloader", cfg.get("val_dataloader", {})).get("dataset", {})
    metainfo = ds_cfg.get("metainfo")
    if metainfo is None:
        ds_type = ds_cfg.get("type", "CocoDataset")
        from mmpose.registry import DATASETS

        cls = DATASETS.get(ds_type)
        metainfo = getattr(cls, "METAINFO", None) or dict(from_file="configs/_base_/datasets/coco.py")
    metainfo = dict(metainfo)
    if "from_file" in metainfo and not Path(metainfo["from_file"]).is_file():
        rel = Path(metainfo["from_file"])
        parts = rel.parts[1:] if rel.parts and rel.parts[0] == "configs" else rel.parts
        metainfo["from_file"] = str(mmpose_configs_dir().joinpath(*parts))
    return parse_pose_metainfo(metainfo)


class BottomUpModel:
    """A bottom-up pose model ready for batched inference."""

    def __init__(self, model: str | None = "cid-hrnet-w32", config: str | Path | None = None,
                 checkpoint: str | None = None, device: str = "cpu", flip_test: bool | None = None,
                 head_threads: int | None = None, tf32: bool = True) -> None:
        import torch
        from mmengine.dataset import Compose
        from mmengine.registry import init_default_scope
        from mmengine.runner.checkpoint import _load_checkpoint_to_model

        from mmpose.models import build_pose_estimator

        init_default_scope("mmpose")
        self.cfg = load_config(model, config)
        if checkpoint is None:
            if model not in ZOO or config is not None:
                raise PosekitError(None, "--checkpoint is required with --config")
            checkpoint = ZOO[model].checkpoint_url
        self.cfg.model.get("backbone", {}).pop("init_cfg", None)  # never fetch ImageNet weights
        if flip_test is not None:
            self.cfg.model.setdefault("test_cfg", {})["flip_test"] = flip_test
        if self.cfg.model.get("test_cfg", {}).get("multiscale_test", False):
            raise PosekitError(config or model, "multi-scale test is not supported by the batched path; "
                                                "set test_cfg.multiscale_test=False")
        try:
            self.device = torch.device(device)
            if self.device.type == "cuda" and not torch.cuda.is_available():
                raise PosekitError(None, f"--device {device}: CUDA is not available on this machine")
        except RuntimeError as exc:
            raise PosekitError(None, f"--device {device}: {exc}") from None
        if not tf32:  # exact fp32 on Ampere+ GPUs: batched == one-image results bit for bit
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        net = build_pose_estimator(self.cfg.model)
        ckpt_path = resolve_checkpoint(checkpoint)
        ckpt = load_checkpoint_file(ckpt_path)
        try:
            _load_checkpoint_to_model(net, ckpt["state_dict"], strict=True)
        except RuntimeError as exc:
            raise PosekitError(ckpt_path, f"weights do not fit the model: {str(exc).splitlines()[0][:200]}") from None
        self.meta = dataset_meta(self.cfg)
        net.dataset_meta = self.meta
        net.cfg = self.cfg
        self.net = net.to(self.device).eval()
        self.pipeline = Compose(self.cfg.test_dataloader.dataset.pipeline
                                if "test_dataloader" in self.cfg else self.cfg.val_dataloader.dataset.pipeline)
        self.checkpoint = str(checkpoint)
        # The heads decode one image at a time, mostly small GPU->CPU copies and numpy work;
        # on a GPU, running several images' heads in threads overlaps those waits. On a CPU
        # the forward already uses every core, so one thread.
        self.head_threads = head_threads or (4 if self.device.type == "cuda" else 1)
        self.keypoint_names: list[str] = [self.meta["keypoint_id2name"][i] for i in range(self.meta["num_keypoints"])]

    def prepare(self, img: np.ndarray, img_path: str = "", img_id: int = 0) -> dict:
        """Run the config's test pipeline on one decoded BGR image (thread-safe)."""
        data = {"img": img, "img_path": img_path, "img_id": img_id, "id": img_id,
                "ori_shape": img.shape[:2], "img_shape": img.shape[:2]}
        data.update({k: self.meta[k] for k in ("flip_indices", "flip_pairs", "skeleton_links", "num_keypoints",
                                               "dataset_keypoint_weights", "sigmas") if k in self.meta})
        return self.pipeline(data)

    @staticmethod
    def shape_key(prepared: dict) -> tuple:
        return tuple(prepared["inputs"].shape)

    def predict_batch(self, prepared: Sequence[dict]) -> list[Prediction]:
        """One forward of the backbone for the whole batch (all inputs the same shape)."""
        import torch
        from mmengine.dataset import pseudo_collate

        if not prepared:
            return []
        with torch.inference_mode():
            batch = self.net.data_preprocessor(pseudo_collate(list(prepared)), False)
            inputs, samples = batch["inputs"], batch["data_samples"]
            flip = self.net.test_cfg.get("flip_test", False)
            n = inputs.shape[0]
            feats = self.net.extract_feat(torch.cat([inputs, inputs.flip(-1)]) if flip else inputs)

            def head(i: int) -> Prediction:
                with torch.inference_mode():
                    f = [_slice(feats, i), _slice(feats, n + i)] if flip else _slice(feats, i)
                    preds = self.net.head.predict(f, [samples[i]], test_cfg=self.net.test_cfg)
                    inst = preds[0] if isinstance(preds, tuple) else preds
                    res = self.net.add_pred_to_datasample(inst, None, [samples[i]])[0].pred_instances
                return self._prediction(res)

            if self.head_threads > 1 and n > 1:
                with ThreadPoolExecutor(min(self.head_threads, n)) as pool:
                    return list(pool.map(head, range(n)))
            return [head(i) for i in range(n)]

    def _prediction(self, res: Any) -> Prediction:
        kps = np.asarray(res.keypoints, dtype=np.float64).reshape(-1, len(self.keypoint_names), 2)
        return Prediction(kps, np.asarray(res.keypoint_scores, dtype=np.float64).reshape(kps.shape[:2]))

    def predict_single_mmpose(self, prepared: dict) -> Prediction:
        """mmpose's own one-image path (``model.test_step``), the reference for batching."""
        import torch
        from mmengine.dataset import pseudo_collate

        with torch.inference_mode():
            res = self.net.test_step(pseudo_collate([prepared]))[0].pred_instances
        return self._prediction(res)


def save_random_checkpoint(model: str, path: str | Path, seed: int = 0) -> Path:
    """Build ``model`` with random weights and save it like an official mmpose checkpoint
    (``state_dict`` plus a ``meta`` holding numpy objects). For tests and the offline demo."""
    import torch
    from mmengine.registry import init_default_scope

    from mmpose.models import build_pose_estimator

    init_default_scope("mmpose")
    torch.manual_seed(seed)
    cfg = load_config(model, None)
    cfg.model.get("backbone", {}).pop("init_cfg", None)
    net = build_pose_estimator(cfg.model)
    meta = dataset_meta(cfg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": net.state_dict(),
                "meta": {"dataset_meta": {"flip_indices": np.array(meta["flip_indices"]),
                                          "sigmas": np.asarray(meta["sigmas"], dtype=np.float32),
                                          "num_keypoints": np.int64(meta["num_keypoints"])},
                         "epoch": 0, "note": "random initialisation (posekit test checkpoint)"}}, tmp)
    tmp.replace(path)
    return path
