"""Training configs from a dataset's keypoint layout: mmpose's ``dataset_info`` and Ultralytics'
``data.yaml``.

OKS sigmas and joint weights: the published values for the layouts that have them (COCO-17
from COCO's evaluation, CrowdPose-14, AIC-14, MPII-16 and Halpe-26 as mmpose's
``configs/_base_/datasets`` give them). Any other layout takes COCO's value for each keypoint
COCO has (matched by name in any spelling) and the stated defaults below for the rest.
"""
from __future__ import annotations

import json
from typing import Any

from .dataset import Category, KeypointDataset
from .skeletons import COCO17, canonical_name, find_layout

COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
               0.087, 0.087, 0.089, 0.089)
COCO_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5)

#: layout -> (sigmas, joint weights), as published (see the module docstring)
PUBLISHED: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "coco17": (COCO_SIGMAS, COCO_WEIGHTS),
    "crowdpose14": ((0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
                     0.079, 0.079),
                    (0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5)),
    "aic14": ((0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
               0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173),
              (1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0)),
    "mpii16": ((0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179,
                0.179, 0.072, 0.062),
               (1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5)),
    "halpe26": (COCO_SIGMAS + (0.026, 0.026, 0.066, 0.079, 0.079, 0.079, 0.079, 0.079, 0.079),
                COCO_WEIGHTS + (1.0, 1.0, 1.2) + (1.5,) * 6),
}
DEFAULT_SIGMA = 0.079   # COCO's shoulder sigma: a mid value among COCO's seventeen
DEFAULT_WEIGHT = 1.0

_LOWER = {"hip", "knee", "ankle", "heel", "big_toe", "small_toe", "toe", "foot", "mid_hip", "pelvis"}
_COLOURS = {"left": [0, 255, 0], "right": [255, 128, 0], "": [51, 153, 255]}  # mmpose's scheme


def keypoint_constants(category: Category) -> tuple[list[float], list[float], list[str]]:
    """OKS sigmas and joint weights per keypoint, and the names that got the stated defaults."""
    lay = find_layout(category.keypoints)
    if lay is not None and lay.name in PUBLISHED:
        s, w = PUBLISHED[lay.name]
        return list(s), list(w), []
    coco = {canonical_name(n): i for i, n in enumerate(COCO17.keypoints)}
    sigmas, weights, defaulted = [], [], []
    for name in category.keypoints:
        i = coco.get(canonical_name(name))
        if i is None:
            sigmas.append(DEFAULT_SIGMA)
            weights.append(DEFAULT_WEIGHT)
            defaulted.append(name)
        else:
            sigmas.append(COCO_SIGMAS[i])
            weights.append(COCO_WEIGHTS[i])
    return sigmas, weights, defaulted


def _side_part(name: str) -> tuple[str, str]:
    c = canonical_name(name)
    for side in ("left", "right"):
        if c.startswith(side + "_"):
            return side, c[len(side) + 1:]
    return "", c


def mmpose_dataset_info(ds: KeypointDataset, source: str = "") -> str:
    """mmpose's ``dataset_info`` for the dataset's layout, as a Python config file's text
    (load it with ``metainfo=dict(from_file=...)``)."""
    cat = ds.category
    lay = cat.layout
    names = list(cat.keypoints)
    flip = lay.flip_indices
    sigmas, weights, defaulted = keypoint_constants(cat)
    lines = [f"# mmpose dataset_info made by posekit{' from ' + source if source else ''}",
             f"# {len(names)} keypoints; layout {find_layout(names).name if find_layout(names) else 'custom'}"]
    if defaulted:
        lines.append(f"# sigma {DEFAULT_SIGMA} and joint weight {DEFAULT_WEIGHT} are stated defaults (no published "
                     f"value) for: {', '.join(defaulted)}")
    else:
        lines.append("# sigmas and joint weights: published values (COCO's, or mmpose's for this layout)")
    lines += ["dataset_info = dict(", f"    dataset_name={cat.name!r},", "    paper_info=dict(),",
              "    keypoint_info={"]
    for i, n in enumerate(names):
        side, part = _side_part(n)
        kind = "lower" if part in _LOWER else "upper"
        swap = names[flip[i]] if flip[i] != i else ""
        lines.append(f"        {i}: dict(name={n!r}, id={i}, color={_COLOURS[side]}, type={kind!r}, swap={swap!r}),")
    lines += ["    },", "    skeleton_info={"]
    for j, (a, b) in enumerate(cat.skeleton):
        sa, sb = _side_part(names[a])[0], _side_part(names[b])[0]
        colour = _COLOURS[sa if sa == sb else ""]
        lines.append(f"        {j}: dict(link=({names[a]!r}, {names[b]!r}), id={j}, color={colour}),")
    lines += ["    },", f"    joint_weights={weights},", f"    sigmas={sigmas})", ""]
    return "\n".join(lines)


def _yaml_list(values: list[Any]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def ultralytics_data_yaml(ds: KeypointDataset, ndim: int = 3, source: str = "", train: str = "images",
                          val: str = "images", test: str | None = None) -> str:
    """Ultralytics' pose ``data.yaml``: kpt_shape, flip_idx from the layout's left/right pairs,
    names from the categories, kpt_names, kpt_oks_sigmas where published, and the skeleton
    (0-based; Ultralytics ignores it, posekit reads it back). Strings are JSON-quoted (valid YAML)."""
    cat = ds.category
    K = cat.num_keypoints
    names = list(cat.keypoints)
    lines = [f"# Ultralytics YOLO-pose dataset made by posekit{' from ' + source if source else ''}",
             "# paths are relative to this file's folder (no 'path' key)",
             f"train: {json.dumps(train)}", f"val: {json.dumps(val)}",
             *([f"test: {json.dumps(test)}"] if test is not None else []), "",
             f"kpt_shape: [{K}, {ndim}]", f"flip_idx: {_yaml_list(cat.layout.flip_indices)}", "", "names:"]
    lines += [f"  {i}: {json.dumps(c.name)}" for i, c in enumerate(ds.categories)]
    lines += ["", "kpt_names:"]
    for i in range(len(ds.categories)):
        lines.append(f"  {i}: {_yaml_list(names)}")
    lay = find_layout(names)
    if lay is not None and lay.name in PUBLISHED:
        lines += ["", f"kpt_oks_sigmas: {_yaml_list(list(PUBLISHED[lay.name][0]))}"]
    lines += ["", "# posekit: the category's skeleton (0-based keypoint pairs)",
              f"skeleton: {_yaml_list([list(limb) for limb in cat.skeleton])}", ""]
    return "\n".join(lines)
