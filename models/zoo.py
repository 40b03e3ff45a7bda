"""Model aliases -> official mmpose configs (shipped inside the mmpose package) and checkpoints.

Default: ``cid-hrnet-w32``. It has the best COCO val2017 AP of the three bottom-up
HRNet-w32 models (0.704 vs DEKR 0.686 and AE 0.656; single scale with flip), needs no
deformable convolution (DEKR does, which has no fast path on every device), and on CPU it
ran about 3 s per 640x480 image against DEKR's 5 s (AE: 2 s, but with the lowest AP and an
expensive grouping step).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ZooModel:
    alias: str
    config: str  # relative to mmpose's configs/ folder
    checkpoint_url: str
    coco_ap: float


_BASE = "https://download.openmmlab.com/mmpose"
ZOO: dict[str, ZooModel] = {m.alias: m for m in (
    ZooModel("cid-hrnet-w32", "body_2d_keypoint/cid/coco/cid_hrnet-w32_8xb20-140e_coco-512x512.py",
             f"{_BASE}/v1/body_2d_keypoint/cid/coco/cid_hrnet-w32_8xb20-140e_coco-512x512_42b7e6e6-20230207.pth", 0.704),
    ZooModel("dekr-hrnet-w32", "body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py",
             f"{_BASE}/v1/body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512_ac7c17bf-20221228.pth", 0.686),
    ZooModel("ae-hrnet-w32", "body_2d_keypoint/associative_embedding/coco/ae_hrnet-w32_8xb24-300e_coco-512x512.py",
             f"{_BASE}/bottom_up/hrnet_w32_coco_512x512-bcb8c247_20200816.pth", 0.656),
)}
DEFAULT_MODEL = "cid-hrnet-w32"


def mmpose_configs_dir() -> Path:
    """The ``configs`` folder that the mmpose wheel ships (``mmpose/.mim/configs``)."""
    import mmpose

    root = Path(mmpose.__file__).parent
    for cand in (root / ".mim" / "configs", root.parent / "configs"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError("mmpose's configs folder was not found in the installed package")


def config_path(alias: str) -> Path:
    return mmpose_configs_dir() / ZOO[alias].config
