"""Generate sample_data/: synthetic images of stick-figure people with LabelMe, MPII (.mat and
mmpose JSON) and COCO annotations of them. Deterministic (the .mat header holds a timestamp).

    .venv/bin/python sample_data/make_sample_data.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from annotate.coco import save_coco, to_coco_dict  # noqa: E402
from annotate.dataset import Category, DatasetBuilder  # noqa: E402
from annotate.io import write_bytes_atomic, write_json_atomic  # noqa: E402
from annotate.skeletons import COCO17, MPII16  # noqa: E402
from converters.labelme import dataset_to_labelme  # noqa: E402
from converters.mpii import write_mpii_json  # noqa: E402
from converters.mpii_mat import write_release_mat  # noqa: E402

# COCO-17 template, person height 1, centred on the hips; the person faces the camera,
# so their left side is on the image's right (+x).
TEMPLATE = np.array([
    (0.0, -0.42), (0.03, -0.45), (-0.03, -0.45), (0.07, -0.43), (-0.07, -0.43),
    (0.17, -0.30), (-0.17, -0.30), (0.25, -0.10), (-0.25, -0.10), (0.30, 0.08), (-0.30, 0.08),
    (0.10, 0.05), (-0.10, 0.05), (0.12, 0.28), (-0.12, 0.28), (0.13, 0.50), (-0.13, 0.50)])
HEAD_TOP = np.array([0.0, -0.55])

SCENES = [  # (width, height, [(centre x, centre y, height, arm swing, occluded keypoints)])
    (640, 480, [(320, 250, 380, 0.0, ())]),
    (640, 480, [(180, 260, 330, 0.3, ("left_wrist",)), (450, 240, 360, -0.2, ())]),
    (800, 600, [(160, 330, 400, 0.1, ()), (400, 300, 440, -0.3, ("right_knee", "right_ankle")),
                (640, 320, 380, 0.4, ())]),
    (480, 640, [(240, 330, 520, -0.1, ("left_ear",))]),
]


def person_keypoints(cx: float, cy: float, height: float, swing: float, rng: np.random.Generator) -> np.ndarray:
    pts = TEMPLATE.copy()
    for shoulder, elbow, wrist, sign in ((5, 7, 9, 1), (6, 8, 10, -1)):
        ang = sign * swing
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        pts[[elbow, wrist]] = (pts[[elbow, wrist]] - pts[shoulder]) @ rot.T + pts[shoulder]
    pts += rng.normal(0, 0.006, pts.shape)
    return pts * height + (cx, cy)


def draw_person(img: np.ndarray, xy: np.ndarray, head_top: np.ndarray, height: float, colour) -> None:
    th = max(3, int(height / 28))
    for a, b in COCO17.limbs:
        if a >= 5 and b >= 5:
            cv2.line(img, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), colour, th, cv2.LINE_AA)
    neck = ((xy[5] + xy[6]) / 2).astype(int)
    cv2.line(img, tuple(neck), tuple(xy[0].astype(int)), colour, th, cv2.LINE_AA)
    r = int(np.linalg.norm(xy[0] - head_top) * 1.1)
    cv2.circle(img, tuple(((xy[0] + head_top) / 2).astype(int)), r, (190, 200, 230), -1, cv2.LINE_AA)
    for j in range(1, 5):
        cv2.circle(img, tuple(xy[j].astype(int)), max(2, th // 2), (40, 40, 40), -1, cv2.LINE_AA)


def main() -> None:
    rng = np.random.default_rng(7)
    coco = DatasetBuilder(Category.from_layout(COCO17))
    mpii = DatasetBuilder(Category.from_layout(MPII16))
    mat_entries = []
    for n, (w, h, people) in enumerate(SCENES, start=1):
        name = f"sample_{n}.jpg"
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([90 + 60 * xx / w, 120 + 40 * yy / h, 150 - 50 * xx / w], -1)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        iid = coco.add_image(name, w, h)
        mpii.add_image(name, w, h)
        persons_mat = []
        for cx, cy, ph, swing, occluded in people:
            xy = person_keypoints(cx, cy, ph, swing, rng)
            head_top = HEAD_TOP * ph + (cx, cy)
            draw_person(img, xy, head_top, ph, tuple(int(c) for c in rng.integers(30, 220, 3)))
            kps = np.concatenate([xy, np.full((17, 1), 2.0)], axis=1)
            for nm in occluded:
                kps[COCO17.index(nm), 2] = 1
            coco.add_person(iid, kps)
            # MPII-16: the 12 shared joints plus pelvis, thorax, upper neck and head top
            m = np.zeros((16, 3))
            for mi, ci in ((0, 16), (1, 14), (2, 12), (3, 11), (4, 13), (5, 15), (10, 10), (11, 8),
                           (12, 6), (13, 5), (14, 7), (15, 9)):
                m[mi] = kps[ci]
            thorax = (xy[5] + xy[6]) / 2
            m[6, :2], m[7, :2] = (xy[11] + xy[12]) / 2, thorax
            m[8, :2], m[9, :2] = thorax + (xy[0] - thorax) * 0.5, head_top
            m[6:10, 2] = 2
            centre = (cx, cy)
            mpii.add_person(iid, m, center=[float(centre[0]), float(centre[1])], scale=float(ph / 200))
            hr = ph * 0.07
            persons_mat.append({
                "points": [(j, m[j, 0] + 1, m[j, 1] + 1, 0 if m[j, 2] == 1 else 1) for j in range(16)],
                "head": (head_top[0] - hr + 1, head_top[1] + 1, head_top[0] + hr + 1, xy[0][1] + hr + 1),
                "objpos": (centre[0] + 1, centre[1] + 1), "scale": ph / 200})
        mat_entries.append({"name": name, "train": 1, "persons": persons_mat,
                            "category": "sports", "activity": "standing", "act_id": n})
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 88])
        write_bytes_atomic(ROOT / "images" / name, buf.tobytes())

    ds = coco.build(0.1)
    for path, data in dataset_to_labelme(ds, ROOT / "labelme", ROOT / "images").items():
        write_bytes_atomic(path, data)
    mds = mpii.build(0.1)
    write_json_atomic(ROOT / "mpii" / "sample_mpii.json", write_mpii_json(mds), indent=1)
    write_release_mat(mat_entries, ROOT / "mpii" / "sample_mpii.mat")

    # a COCO file with planted defects, for the validator's demo
    bad = to_coco_dict(ds)
    anns = bad["annotations"]
    k = anns[1]["keypoints"]
    k[15], k[18] = k[18], k[15]  # swap left/right shoulder x of one person
    anns[2]["num_keypoints"] = 5  # disagrees with visibility
    anns[3]["keypoints"][9 * 3] = 2000.0  # left wrist far outside the image
    anns[4]["keypoints"][3 * 3: 3 * 3 + 3] = [0, 0, 0]
    anns[4]["keypoints"][3 * 3 + 2] = 0.3  # a visibility flag that is not 0/1/2
    write_json_atomic(ROOT / "coco" / "with_defects.json", bad, indent=1)
    save_coco(ds, ROOT / "coco" / "sample.json", indent=1)
    print(f"wrote {len(ds.images)} images, {len(ds)} persons under {ROOT}")


if __name__ == "__main__":
    main()
