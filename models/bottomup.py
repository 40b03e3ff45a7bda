"""MMPose bottom-up HRNet models: build from the official config, load weights safely,
run batched inference with mmpose's own pipeline, heads and decoders.

mmpose's bottom-up heads decode one image per call. Here the expensive part, the HRNet
backbone and neck (and its flipped twin for flip test), runs once per batch of images of the
same input shape. Then:

* CID (the default model): the whole head runs once for the batch on the model's device
  (:func:`cid_decode_batch`): root heatmaps, top-k roots per image, the instance-decoupled
  heatmaps of every person of every image in one call of mmpose's GFD module, and mmpose's
  decoder maths (arg-max, quarter-pixel refinement, scale, offset, back to image pixels),
  with one device-to-host copy per batch. Tested equal to mmpose's one-image ``test_step``.
* DEKR, AE and other heads: the head's own ``predict`` per image on that image's slice of
  the features (in threads on a GPU), so the numbers are mmpose's.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from annotate.errors import PosekitError

from .checkpoint import load_checkpoint_file, resolve_checkpoint
from .zoo import ZOO, config_path, mmpose_configs_dir

#: Keys of a prepared sample's metainfo that inference needs (sent between processes by Ray).
META_KEYS = ("id", "img_id", "img_path", "ori_shape", "img_shape", "input_size", "input_center",
             "input_scale", "flip_indices")


@dataclass
class Prediction:
    keypoints: np.ndarray  # (P, K, 2) image pixels
    scores: np.ndarray  # (P, K)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a :class:`BottomUpModel` (picklable: sent to Ray actors)."""

    model: str | None = "cid-hrnet-w32"
    config: str | None = None
    checkpoint: str | None = None
    device: str = "cpu"
    flip_test: bool | None = None
    head_threads: int | None = None
    tf32: bool = True
    batched_decode: bool = True

    def build(self) -> "BottomUpModel":
        return BottomUpModel(**asdict(self))


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


def keypoint_names(spec: ModelSpec) -> list[str]:
    """The model's keypoint names in order, from its config alone (no weights loaded)."""
    from mmengine.registry import init_default_scope

    init_default_scope("mmpose")
    meta = dataset_meta(load_config(spec.model if spec.config is None else None, spec.config))
    return [meta["keypoint_id2name"][i] for i in range(meta["num_keypoints"])]


def test_pipeline(cfg) -> Any:
    """The config's test pipeline (mmengine ``Compose``)."""
    from mmengine.dataset import Compose

    return Compose(cfg.test_dataloader.dataset.pipeline if "test_dataloader" in cfg
                   else cfg.val_dataloader.dataset.pipeline)


def prepare_sample(pipeline: Any, meta: dict[str, Any], img: np.ndarray, img_path: str = "", img_id: int = 0) -> dict:
    """One decoded BGR image through the test pipeline, with the dataset meta the heads need
    (``flip_indices`` ...) in the sample, as mmpose's dataset would put it."""
    data = {"img": img, "img_path": img_path, "img_id": img_id, "id": img_id,
            "ori_shape": img.shape[:2], "img_shape": img.shape[:2]}
    data.update({k: meta[k] for k in ("flip_indices", "flip_pairs", "skeleton_links", "num_keypoints",
                                      "dataset_keypoint_weights", "sigmas") if k in meta})
    return pipeline(data)


class BottomUpModel:
    """A bottom-up pose model ready for batched inference."""

    def __init__(self, model: str | None = "cid-hrnet-w32", config: str | Path | None = None,
                 checkpoint: str | None = None, device: str = "cpu", flip_test: bool | None = None,
                 head_threads: int | None = None, tf32: bool = True, batched_decode: bool = True) -> None:
        import torch
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
        self.pipeline = test_pipeline(self.cfg)
        self.checkpoint = str(checkpoint)
        # The per-image heads are mostly small device-to-host copies and numpy work; on a GPU,
        # running several images' heads in threads overlaps those waits. On a CPU the forward
        # already uses every core, so one thread.
        self.head_threads = head_threads or (4 if self.device.type == "cuda" else 1)
        from mmpose.models.heads import CIDHead

        self.batched_decode = bool(batched_decode) and type(self.net.head) is CIDHead
        self.keypoint_names: list[str] = [self.meta["keypoint_id2name"][i] for i in range(self.meta["num_keypoints"])]

    def prepare(self, img: np.ndarray, img_path: str = "", img_id: int = 0) -> dict:
        """Run the config's test pipeline on one decoded BGR image (thread-safe)."""
        return prepare_sample(self.pipeline, self.meta, img, img_path, img_id)

    @staticmethod
    def pack(prepared: dict) -> tuple[np.ndarray, dict[str, Any]]:
        """A prepared sample as (input array, metainfo) for sending to another process."""
        meta = prepared["data_samples"].metainfo
        return prepared["inputs"].numpy(), {k: meta[k] for k in META_KEYS if k in meta}

    @staticmethod
    def unpack(inputs: np.ndarray, meta: dict[str, Any]) -> dict:
        """The inverse of :meth:`pack`."""
        import torch

        from mmpose.structures import PoseDataSample

        return {"inputs": torch.from_numpy(np.ascontiguousarray(inputs)), "data_samples": PoseDataSample(metainfo=meta)}

    @staticmethod
    def shape_key(prepared: dict) -> tuple:
        return tuple(prepared["inputs"].shape)

    def predict_batch(self, prepared: Sequence[dict]) -> list[Prediction]:
        """One forward of the backbone for the whole batch (all inputs the same shape)."""
        if not prepared:
            return []
        feats, samples = self.features(prepared)
        return self.decode(feats, samples, self.batched_decode)

    def features(self, prepared: Sequence[dict]) -> tuple[Any, list]:
        """The backbone's features of a batch (the B images, then their flipped twins with
        flip test) and the batch's data samples."""
        import torch
        from mmengine.dataset import pseudo_collate

        with torch.inference_mode():
            batch = self.net.data_preprocessor(pseudo_collate(list(prepared)), False)
            inputs, samples = batch["inputs"], batch["data_samples"]
            flip = self.net.test_cfg.get("flip_test", False)
            return self.net.extract_feat(torch.cat([inputs, inputs.flip(-1)]) if flip else inputs), samples

    def decode(self, feats: Any, samples: list, batched: bool = True) -> list[Prediction]:
        """Persons from a batch's features: the batched CID decode, or the head's own
        ``predict`` per image (``batched=False``, and every head but CID)."""
        import torch

        flip = self.net.test_cfg.get("flip_test", False)
        n = len(samples)
        with torch.inference_mode():
            if batched and self.batched_decode:
                return cid_decode_batch(self.net.head, feats, samples, self.net.test_cfg)

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

    def backbone_batch(self, prepared: Sequence[dict]) -> None:
        """Only the backbone and neck (and the flipped twin) on a batch: the throughput ceiling."""
        import torch
        from mmengine.dataset import pseudo_collate

        with torch.inference_mode():
            inputs = self.net.data_preprocessor(pseudo_collate(list(prepared)), False)["inputs"]
            flip = self.net.test_cfg.get("flip_test", False)
            feats = self.net.extract_feat(torch.cat([inputs, inputs.flip(-1)]) if flip else inputs)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            del feats

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


def cid_decode_batch(head: Any, feats: Any, samples: Sequence[Any], test_cfg: dict) -> list[Prediction]:
    """mmpose's ``CIDHead.predict`` + ``DecoupledHeatmap.decode`` + ``add_pred_to_datasample``
    for a whole batch at once, on the features' device.

    ``feats``: the backbone's multi-level features of the batch (``2B`` images with flip test:
    the B images, then their flipped twins). The maths are mmpose's, line for line, with the
    per-image and per-person loops turned into tensor operations: the root heatmap (averaged
    with the flipped one), 3x3 smoothing, hierarchical max-pool NMS, top-k roots per image
    above the score threshold, each root's feature vector (from the flipped features too),
    the GFD module on every person of every image in one call, flipped heatmaps re-ordered by
    ``flip_indices`` and averaged, smoothing, arg-max, mmpose's quarter-pixel refinement
    (including its border conditions), the codec's scale factor, the half-cell offset and the
    affine back to image pixels."""
    import torch

    from mmpose.models.heads.heatmap_heads.cid_head import smooth_heatmaps

    flip = test_cfg.get("flip_test", False)
    blur = test_cfg.get("blur_kernel_size", 3)
    max_instances = test_cfg.get("max_instances", 30)
    score_threshold = test_cfg.get("score_threshold", 0.01)
    f = feats[-1]
    n = len(samples)
    K = head.num_keypoints
    if flip:  # mmpose flips the flipped features back (flip_heatmaps, no channel swap)
        f = torch.cat((f[:n], f[n:].flip(-1)))
    H, W = f.shape[-2:]
    iia = head.iia_module
    roots = iia.forward(f).narrow(1, -1, 1)
    if flip:
        roots = torch.stack((roots[:n], roots[n:])).mean(dim=0)
    smoothed = smooth_heatmaps(roots, blur)
    peaks = torch.eq(iia._hierarchical_pool(smoothed), smoothed).float()
    peaks = (smoothed * peaks).reshape(n, -1)
    scores, pos = peaks.topk(min(max_instances, peaks.shape[1]), dim=1)
    img_idx, rank = (scores > score_threshold).nonzero(as_tuple=True)  # image-major, top-k order
    inst_scores, pos = scores[img_idx, rank], pos[img_idx, rank]
    counts = torch.bincount(img_idx, minlength=n).tolist()
    empty = Prediction(np.empty((0, K, 2)), np.empty((0, K)))
    if not len(pos):
        return [Prediction(empty.keypoints.copy(), empty.scores.copy()) for _ in range(n)]
    coords = torch.stack((pos % W, pos // W), dim=1)
    inst_feats = f[img_idx, :, coords[:, 1], coords[:, 0]]
    img_ids = img_idx
    if flip:
        inst_feats = torch.cat((inst_feats, f[img_idx + n, :, coords[:, 1], coords[:, 0]]))
        coords = torch.cat((coords, coords))
        img_ids = torch.cat((img_idx, img_idx + n))
    hms = head.gfd_module(f, inst_feats, coords, img_ids)
    if flip:
        flip_indices = samples[0].metainfo["flip_indices"]
        a, b = torch.chunk(hms, 2, dim=0)
        hms = (a + b[:, flip_indices, :, :]) / 2.0
    hms = smooth_heatmaps(hms, blur)
    locs, vals = _argmax_refine(hms)
    locs_np = locs.cpu().numpy()  # the one device-to-host copy of the batch
    vals_np = (vals * inst_scores[:, None]).cpu().numpy()
    scale = head.decoder.scale_factor  # float32 (input size / heatmap size), as the codec applies it
    out = []
    start = 0
    for i, c in enumerate(counts):
        if c == 0:
            out.append(Prediction(empty.keypoints.copy(), empty.scores.copy()))
            continue
        kps = locs_np[start:start + c] * scale
        meta = samples[i].metainfo
        input_size = meta["input_size"]
        kps[..., 0] += input_size[0] / W / 2.0
        kps[..., 1] += input_size[1] / H / 2.0
        kps = kps / input_size * meta["input_scale"] + meta["input_center"] - 0.5 * meta["input_scale"]
        out.append(Prediction(np.asarray(kps, np.float64), np.asarray(vals_np[start:start + c], np.float64)))
        start += c
    return out


def _argmax_refine(hms: Any) -> tuple[Any, Any]:
    """mmpose's ``get_heatmap_maximum`` + ``refine_keypoints`` on ``(N, K, H, W)`` heatmaps:
    the first arg-max (x, y) as float32 (-1 where the maximum is <= 0), moved 0.25 towards the
    higher neighbour, with mmpose's border conditions (x: ``1 < x < W-1``; y: ``1 < y < H-1``)."""
    import torch

    N, K, H, W = hms.shape
    flat = hms.reshape(N, K, H * W)
    vals, idx = flat.max(dim=2)
    idx = flat.argmax(dim=2)  # the first maximum, as numpy's argmax
    x, y = idx % W, idx // W
    bad = vals <= 0
    x = torch.where(bad, -1, x)
    y = torch.where(bad, -1, y)
    locs = torch.stack((x, y), dim=-1).to(torch.float32)

    def at(yy: Any, xx: Any) -> Any:
        lin = yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)
        return flat.gather(2, lin.unsqueeze(-1)).squeeze(-1)

    ok_x = (x > 1) & (x < W - 1) & (y > 0) & (y < H)
    ok_y = (y > 1) & (y < H - 1) & (x > 0) & (x < W)
    dx = torch.where(ok_x, at(y, x + 1) - at(y, x - 1), torch.zeros_like(vals))
    dy = torch.where(ok_y, at(y + 1, x) - at(y - 1, x), torch.zeros_like(vals))
    locs += torch.stack((torch.sign(dx), torch.sign(dy)), dim=-1) * 0.25
    return locs, vals


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
