"""KeypointDataset: the one in-memory model every format converts to and from.

Annotations are held column-wise as numpy arrays so that validation and rendering
work on all persons at once: keypoints are ``(N, K, 3)`` float64 with
``v`` in {0, 1, 2} (0 not labeled, 1 labeled but occluded, 2 visible).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .notes import Notes
from .skeletons import Layout, layout_for_names

#: Side, in pixels, of a box made from keypoints that span no width or height (one point).
MIN_BOX_SIDE = 1.0


@dataclass
class Category:
    """The keypoint category: names, 0-based skeleton limbs and any other COCO fields; and, for
    writing a COCO category back as it was read, the file's own skeleton list and whether the
    file had a ``skeleton`` and a ``name`` at all."""

    id: int
    name: str
    keypoints: list[str]
    skeleton: list[tuple[int, int]]
    extra: dict[str, Any] = field(default_factory=dict)
    file_skeleton: Any = field(default=None, compare=False)
    has_skeleton: bool = field(default=True, compare=False)
    has_name: bool = field(default=True, compare=False)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def layout(self) -> Layout:
        return layout_for_names(self.keypoints, self.skeleton)

    @classmethod
    def from_layout(cls, layout: Layout, id: int = 1, name: str = "person") -> "Category":
        return cls(id, name, list(layout.keypoints), [tuple(limb) for limb in layout.limbs],
                   {"supercategory": "person"})


@dataclass
class ImageInfo:
    """One image: id, path relative to the images folder, size (None when unknown), other fields,
    and the split it belongs to (``train``, ``val``, ``test``; None when the source names none)."""

    id: int
    file_name: str
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    split: str | None = None


@dataclass
class KeypointDataset:
    """Images plus person annotations sharing one keypoint layout, stored column-wise.

    ``bbox`` is COCO ``[x, y, w, h]``; ``bbox``, ``area`` and ``score`` are NaN where absent.
    ``extra`` holds each annotation's other fields (segmentation, head_box, ...) so that
    nothing a format carries is lost on a round trip. ``categories`` are the keypoint
    categories (several may share the layout, e.g. "male" and "female"); ``category`` is the
    first and defines the layout; ``category_id`` says which one each annotation belongs to.
    ``notes`` count what reading could not carry or had to change. ``iscrowd_given`` is False
    where the source had no iscrowd for the annotation (writers complete it; the validator
    reports it); None means every annotation had one.
    """

    category: Category
    images: list[ImageInfo] = field(default_factory=list)
    ann_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    image_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keypoints: np.ndarray | None = None
    bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    area: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    licenses: list[Any] | None = None
    other_categories: list[dict[str, Any]] = field(default_factory=list)
    other_annotations: list[dict[str, Any]] = field(default_factory=list)
    top_extra: dict[str, Any] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)
    category_id: np.ndarray | None = None
    notes: Notes = field(default_factory=Notes)
    iscrowd_given: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, K = len(self.ann_id), self.category.num_keypoints
        if self.keypoints is None:
            self.keypoints = np.zeros((0, K, 3))
        if not self.categories:
            self.categories = [self.category]
        if self.category_id is None:
            self.category_id = np.full(n, self.category.id, dtype=np.int64)
        if self.iscrowd_given is None:
            self.iscrowd_given = np.ones(n, bool)
        shapes = {"image_id": (self.image_id.shape, (n,)), "keypoints": (self.keypoints.shape, (n, K, 3)),
                  "bbox": (self.bbox.shape, (n, 4)), "area": (self.area.shape, (n,)),
                  "iscrowd": (self.iscrowd.shape, (n,)), "score": (self.score.shape, (n,)),
                  "category_id": (self.category_id.shape, (n,)), "extra": ((len(self.extra),), (n,)),
                  "iscrowd_given": (self.iscrowd_given.shape, (n,))}
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"KeypointDataset.{name} has shape {got}; expected {want}")
        for c in self.categories:
            if list(c.keypoints) != list(self.category.keypoints):
                raise ValueError(f"category {c.id} ({c.name!r}) has other keypoints than category "
                                 f"{self.category.id}; one dataset holds one keypoint layout")

    def __len__(self) -> int:
        return int(self.ann_id.shape[0])

    @property
    def num_keypoints(self) -> np.ndarray:
        """Labeled keypoints per annotation (count of v > 0)."""
        return (self.keypoints[:, :, 2] > 0).sum(axis=1)

    def image_by_id(self) -> dict[int, ImageInfo]:
        return {im.id: im for im in self.images}

    def indices_by_image(self) -> dict[int, np.ndarray]:
        """Annotation row indices grouped by image id (images without persons map to empty)."""
        order = np.argsort(self.image_id, kind="stable")
        ids, starts = np.unique(self.image_id[order], return_index=True)
        groups = dict(zip(ids.tolist(), np.split(order, starts[1:]))) if len(order) else {}
        return {im.id: groups.get(im.id, np.zeros(0, np.int64)) for im in self.images}

    def subset(self, rows: np.ndarray | slice, images: list[ImageInfo] | None = None) -> "KeypointDataset":
        """The annotations at ``rows`` (indices, boolean mask or slice) with ``images`` (default
        all); dataset-level fields are shared, not copied."""
        idx = np.arange(len(self))[rows]
        return KeypointDataset(
            self.category, list(self.images if images is None else images), self.ann_id[idx],
            self.image_id[idx], self.keypoints[idx], self.bbox[idx], self.area[idx], self.iscrowd[idx],
            self.score[idx], [self.extra[i] for i in idx.tolist()], self.info, self.licenses,
            self.other_categories, [], self.top_extra, self.categories, self.category_id[idx],
            iscrowd_given=self.iscrowd_given[idx])


    def on_images(self, keep: np.ndarray | list[bool]) -> "KeypointDataset":
        """The images where ``keep`` (one flag per image) with their persons and their annotations
        of categories without keypoints; dataset-level fields and notes are shared."""
        keep = np.asarray(keep, bool)
        images = [im for im, k in zip(self.images, keep.tolist()) if k]
        ids = {im.id for im in images}
        rows = np.isin(self.image_id, np.fromiter(ids, np.int64, len(ids)))
        part = self.subset(rows, images)
        part.other_annotations = [a for a in self.other_annotations if a.get("image_id") in ids]
        part.notes = self.notes
        return part


def concatenate(parts: list[KeypointDataset], categories: list[Category] | None = None) -> KeypointDataset:
    """The images and persons of ``parts`` one after the other (their ids as they are: the caller
    makes sure they do not collide); dataset-level fields and notes are the first part's."""
    first = parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    categories = categories or first.categories
    return KeypointDataset(
        categories[0], [im for p in parts for im in p.images], cat("ann_id"), cat("image_id"), cat("keypoints"),
        cat("bbox"), cat("area"), cat("iscrowd"), cat("score"), [e for p in parts for e in p.extra], first.info,
        first.licenses, first.other_categories, [a for p in parts for a in p.other_annotations], first.top_extra,
        categories, cat("category_id"), first.notes, iscrowd_given=cat("iscrowd_given"))


class DatasetBuilder:
    """Collects images and persons one at a time (for readers of per-image formats)."""

    def __init__(self, category: Category) -> None:
        self.category = category
        self.images: list[ImageInfo] = []
        self.categories: list[Category] = [category]
        self._rows: list[tuple[int, int, np.ndarray, Any, float, bool, float, dict, int]] = []
        self.info: dict[str, Any] = {}
        self.notes = Notes()

    def add_image(self, file_name: str, width: int | None, height: int | None,
                  image_id: int | None = None, split: str | None = None, **extra: Any) -> int:
        image_id = len(self.images) + 1 if image_id is None else int(image_id)
        self.images.append(ImageInfo(image_id, file_name, width, height, extra, split))
        return image_id

    def add_person(self, image_id: int, keypoints: np.ndarray, bbox: Iterable[float] | None = None,
                   area: float | None = None, iscrowd: bool = False, score: float | None = None,
                   ann_id: int | None = None, category_id: int | None = None, **extra: Any) -> None:
        kps = np.asarray(keypoints, dtype=np.float64).reshape(self.category.num_keypoints, 3)
        box = np.full(4, np.nan) if bbox is None else np.asarray(list(bbox), dtype=np.float64)
        aid = len(self._rows) + 1 if ann_id is None else int(ann_id)
        self._rows.append((aid, int(image_id), kps, box, np.nan if area is None else float(area),
                           bool(iscrowd), np.nan if score is None else float(score), extra,
                           self.category.id if category_id is None else int(category_id)))

    def build(self, box_margin: float = 0.0, derive: np.ndarray | None = None) -> KeypointDataset:
        """The dataset; persons without a box get their keypoints' extent grown by ``box_margin``
        (only those where ``derive`` is true, when given)."""
        K = self.category.num_keypoints
        rows = self._rows
        # a person to be given a box that has neither one nor a labeled keypoint has nothing to
        # place it by (COCOeval needs a box): left out, counted
        empty = [not r[5] and np.isnan(r[3]).any() and not (r[2][:, 2] > 0).any() and (derive is None or derive[i])
                 for i, r in enumerate(rows)]
        if any(empty):
            self.notes.lost("persons with neither a box nor a labeled keypoint (nothing to place them by)", sum(empty),
                            unit="persons")
            rows = [r for r, e in zip(rows, empty) if not e]
            derive = None if derive is None else np.asarray(derive)[~np.array(empty)]
        ds = KeypointDataset(
            self.category, self.images,
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.stack([r[2] for r in rows]) if rows else np.zeros((0, K, 3)),
            np.stack([r[3] for r in rows]) if rows else np.zeros((0, 4)),
            np.array([r[4] for r in rows], dtype=np.float64),
            np.array([r[5] for r in rows], dtype=bool),
            np.array([r[6] for r in rows], dtype=np.float64),
            [r[7] for r in rows], dict(self.info), categories=list(self.categories),
            category_id=np.array([r[8] for r in rows], dtype=np.int64), notes=self.notes)
        fill_boxes_from_keypoints(ds, box_margin, derive)
        return ds


def keypoint_extent(keypoints: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """``[x, y, w, h]`` per person around its labeled keypoints, grown by ``margin`` of the size
    on each side; NaN rows where no keypoint is labeled."""
    kps = np.asarray(keypoints, dtype=np.float64)
    lab = kps[..., 2] > 0
    x, y = kps[..., 0], kps[..., 1]
    x0, x1 = np.where(lab, x, np.inf).min(1, initial=np.inf), np.where(lab, x, -np.inf).max(1, initial=-np.inf)
    y0, y1 = np.where(lab, y, np.inf).min(1, initial=np.inf), np.where(lab, y, -np.inf).max(1, initial=-np.inf)
    with np.errstate(invalid="ignore"):  # rows without a labeled point (inf - inf): NaN below
        w, h = x1 - x0, y1 - y0
        out = np.stack([x0 - margin * w, y0 - margin * h, w * (1 + 2 * margin), h * (1 + 2 * margin)], 1)
    out[~lab.any(axis=1)] = np.nan
    return out


def clip_boxes(boxes: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` boxes (``w, h >= 0``) clipped to images of size ``wh`` (``(N, 2)``, inf
    where unknown): both corners are clamped into the image, so width and height never go
    negative (a box wholly outside its image becomes empty at the image's edge)."""
    wh = np.asarray(wh, dtype=np.float64)
    x0 = np.clip(boxes[:, 0], 0, wh[:, 0])
    y0 = np.clip(boxes[:, 1], 0, wh[:, 1])
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, wh[:, 0])
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, wh[:, 1])
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def boxes_from_keypoints(keypoints: np.ndarray, wh: np.ndarray, margin: float = 0.0,
                         notes: Notes | None = None) -> np.ndarray:
    """Boxes around each person's labeled keypoints grown by ``margin`` per side, at least
    :data:`MIN_BOX_SIDE` wide and high (a one-point person), clipped to images of size ``wh``;
    NaN rows where no keypoint is labeled. What was done is counted in ``notes``."""
    ext = keypoint_extent(keypoints, margin)
    thin = ext[:, 2:] < MIN_BOX_SIDE
    grow = np.where(thin, MIN_BOX_SIDE - ext[:, 2:], 0.0)
    ext[:, :2] -= grow / 2
    ext[:, 2:] += grow
    out = clip_boxes(ext, wh)
    if notes is not None:
        has = ~np.isnan(ext).any(axis=1)
        notes.changed(f"person boxes made {MIN_BOX_SIDE:g} px wide or high around keypoints that span none "
                      f"(one point)", int((thin.any(axis=1) & has).sum()))
        with np.errstate(invalid="ignore"):
            clipped = has & (np.abs(out - ext) > 1e-9).any(axis=1)
        notes.changed("person boxes made from keypoints clipped to the image", int(clipped.sum()))
    return out


def fill_boxes_from_keypoints(ds: KeypointDataset, margin: float = 0.0, rows: np.ndarray | None = None) -> None:
    """Where a person has no box, use :func:`boxes_from_keypoints` (clipped to the image when its
    size is known); where no area, use the box's. Only ``rows`` (a mask) when given. Changes are
    counted in ``ds.notes``."""
    missing = np.isnan(ds.bbox).any(axis=1)
    if rows is not None:
        missing &= rows
    if missing.any():
        size = {im.id: (im.width or np.inf, im.height or np.inf) for im in ds.images}
        wh = np.array([size.get(int(i), (np.inf, np.inf)) for i in ds.image_id[missing]]).reshape(-1, 2)
        ds.bbox[missing] = boxes_from_keypoints(ds.keypoints[missing], wh, margin, ds.notes)
    no_area = np.isnan(ds.area) & (missing if rows is not None else True)
    ds.area[no_area] = ds.bbox[no_area, 2] * ds.bbox[no_area, 3]
