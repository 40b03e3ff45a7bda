"""The ``annotate`` command line: convert, validate, render and pre-label COCO keypoint data.

Exit codes: 0 ok, 1 validation found problems at or above --fail-on, 2 bad input or usage.
"""
from __future__ import annotations

import enum
import gc
import traceback
from pathlib import Path
from typing import Callable, Optional

import typer

from . import console
from .errors import PosekitError

app = typer.Typer(
    name="annotate", no_args_is_help=True, add_completion=False,
    help="Pre-label, convert, validate and render COCO person-keypoint annotations.\n\n"
         "Exit codes: 0 ok, 1 validation found problems, 2 bad input or usage.")
convert_app = typer.Typer(no_args_is_help=True,
                          help="Convert between LabelMe, MPII and COCO keypoint files.")
app.add_typer(convert_app, name="convert")

DEBUG = False


class LayoutName(str, enum.Enum):
    coco17 = "coco17"
    mpii16 = "mpii16"
    openpose18 = "openpose18"


class MpiiLayout(str, enum.Enum):
    coco17 = "coco17"
    mpii16 = "mpii16"


class RenderLayout(str, enum.Enum):
    openpose18 = "openpose18"
    coco17 = "coco17"
    mpii16 = "mpii16"
    native = "native"


class Split(str, enum.Enum):
    train = "train"
    test = "test"
    all = "all"


@app.callback()
def main(quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the final result line."),
         debug: bool = typer.Option(False, "--debug", help="Show a traceback for errors.")) -> None:
    """Pre-label, convert, validate and render COCO person-keypoint annotations."""
    global DEBUG
    console.QUIET = quiet
    DEBUG = debug


def run(fn: Callable[[], int | None], quiet: bool = False, pause_gc: bool = True) -> None:
    """Run a command body: PosekitError -> one line on stderr and exit 2.

    ``pause_gc``: the cyclic garbage collector is off while the body runs. Conversions make
    millions of small lists and dicts and no reference cycles; the collector's repeated passes
    over them cost a third of a conversion's time. (Pre-labelling keeps it on: torch and
    mmengine objects do form cycles over a long run.)"""
    console.QUIET = console.QUIET or quiet
    was_enabled = gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        code = fn() or 0
    except PosekitError as exc:
        if DEBUG:
            traceback.print_exc()
        console.error_line(str(exc))
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.error_line("interrupted; no partial output was written")
        raise typer.Exit(130) from None
    except MemoryError:
        console.error_line("out of memory")
        raise typer.Exit(2) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug, or bad input we did not foresee: still one line
        if DEBUG:
            traceback.print_exc()
        console.error_line(f"unexpected {exc.__class__.__name__}: {exc} (run with --debug for a traceback)")
        raise typer.Exit(2) from None
    finally:
        if was_enabled:  # the command may run inside a longer process (tests, scripts)
            gc.enable()
    raise typer.Exit(code)


def check_output(path: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse to write over an input, or over an existing file without --overwrite."""
    for p in inputs:
        if p.exists() and path.exists() and p.resolve() == path.resolve():
            raise PosekitError(path, "is also the input; refusing to overwrite an input file")
    if path.is_dir():
        raise PosekitError(path, "is a folder; expected a file path for the output")
    if path.exists() and not overwrite:
        raise PosekitError(path, "already exists; pass --overwrite to replace it")


OVERWRITE = typer.Option(False, "--overwrite", help="Replace the output if it exists.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print only errors and the final result line.")


# --------------------------------------------------------------------------- convert

@convert_app.command("labelme-to-coco")
def labelme_to_coco(
    labelme_dir: Path = typer.Argument(..., help="Folder of LabelMe .json files (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="COCO keypoint JSON to write."),
    layout: LayoutName = typer.Option(LayoutName.coco17, help="Keypoint layout the point labels name."),
    images: Optional[Path] = typer.Option(None, help="Images folder: imagePath must point inside it and COCO "
                                          "file_name is relative to it (default: LABELME_DIR)."),
    person_label: str = typer.Option("person", help="Label of the rectangle that is a person's box."),
    box_margin: float = typer.Option(0.1, min=0, help="Margin (fraction of size) of boxes made from keypoints."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Convert the good files and skip bad ones "
                                  "(default: report every bad file and write nothing)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """LabelMe folder -> one COCO keypoint file."""
    def body() -> int:
        from converters.labelme import find_labelme_files, read_labelme_folder
        from .coco import save_coco
        from .skeletons import get_layout

        check_output(output, overwrite)
        if images is not None and not images.is_dir():
            raise PosekitError(images, "images folder not found")
        total = len(find_labelme_files(labelme_dir))
        with console.progress("reading LabelMe", total) as advance:
            ds, errors = read_labelme_folder(labelme_dir, get_layout(layout.value), person_label,
                                             box_margin, advance, images)
        for exc in errors:
            console.error_line(str(exc))
        if errors and not skip_bad:
            raise PosekitError(labelme_dir, f"{len(errors)} of {total} files are bad; nothing written "
                                            f"(fix them, or pass --skip-bad to convert the rest)")
        save_coco(ds, output)
        skipped = f", skipped {len(errors)} bad file(s)" if errors else ""
        console.info(f"wrote {output}: {len(ds.images)} images, {len(ds)} persons{skipped}")
        return 0
    run(body, quiet)


@convert_app.command("coco-to-labelme")
def coco_to_labelme(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the LabelMe files (one per image)."),
    images: Optional[Path] = typer.Option(None, help="Folder of the images; imagePath is made relative to it "
                                          "(default: images sit beside the JSON files)."),
    person_label: str = typer.Option("person", help="Label of the person rectangles."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace LabelMe files that already exist."),
    quiet: bool = QUIET,
) -> None:
    """COCO keypoint file -> one LabelMe file per image (opens in labelme)."""
    def body() -> int:
        from converters.labelme import dataset_to_labelme
        from .coco import load_coco
        from .io import write_bytes_atomic

        ds = load_coco(coco_json)
        if images is not None and not images.is_dir():
            raise PosekitError(images, "images folder not found")
        if output.exists() and not output.is_dir():
            raise PosekitError(output, "exists and is not a folder")
        try:
            docs = dataset_to_labelme(ds, output, images, person_label)
        except PosekitError as exc:
            raise PosekitError(coco_json, exc.message) from None
        existing = [p for p in docs if p.exists()]
        if existing and not overwrite:
            raise PosekitError(existing[0], f"already exists ({len(existing)} of {len(docs)} targets do); "
                                            f"nothing written; pass --overwrite to replace them")
        with console.progress("writing LabelMe", len(docs)) as advance:
            for path, data in docs.items():
                write_bytes_atomic(path, data)
                advance(1)
        console.info(f"wrote {len(docs)} LabelMe files to {output} ({len(ds)} persons)")
        return 0
    run(body, quiet)


@convert_app.command("mpii-to-coco")
def mpii_to_coco(
    source: Path = typer.Argument(..., help="MPII .mat release (mpii_human_pose_v1_u12_1.mat) or mmpose MPII .json."),
    output: Path = typer.Option(..., "-o", "--output", help="COCO keypoint JSON to write."),
    layout: MpiiLayout = typer.Option(MpiiLayout.coco17, help="coco17 (12 shared joints) or mpii16 (lossless)."),
    images: Optional[Path] = typer.Option(None, help="Images folder; image width/height are read from headers."),
    split: Split = typer.Option(Split.all, help="Images to take from the .mat release by img_train."),
    box_margin: float = typer.Option(0.1, min=0, help="Margin (fraction of size) around the keypoints' extent."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """MPII (.mat or mmpose JSON) -> COCO keypoint file."""
    def body() -> int:
        if source.suffix.lower() == ".mat" and source.is_file():
            from converters.matfile import prefetch
            prefetch(source, "RELEASE")  # inflate while the converters are imported
        from converters.mpii import read_mpii
        from .coco import save_coco

        check_output(output, overwrite, (source,))
        ds = read_mpii(source, layout.value, images, split.value, box_margin)
        save_coco(ds, output)
        dropped = ds.info.get("dropped_keypoints")
        note = f"; dropped MPII joints: {', '.join(dropped)}" if dropped else ""
        console.info(f"wrote {output}: {len(ds.images)} images, {len(ds)} persons, layout {layout.value}{note}")
        return 0
    run(body, quiet)


@convert_app.command("coco-to-mpii")
def coco_to_mpii(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON (coco17 or mpii16 category)."),
    output: Path = typer.Option(..., "-o", "--output", help="mmpose MPII JSON to write."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """COCO keypoint file -> mmpose MPII JSON (1-based)."""
    def body() -> int:
        from converters.mpii import write_mpii_json
        from .coco import load_coco
        from .io import write_json_atomic

        check_output(output, overwrite, (coco_json,))
        ds = load_coco(coco_json)
        try:
            entries = write_mpii_json(ds)
        except PosekitError as exc:
            raise PosekitError(coco_json, exc.message) from None
        write_json_atomic(output, entries)
        console.info(f"wrote {output}: {len(entries)} persons")
        return 0
    run(body, quiet)


# --------------------------------------------------------------------------- validate

class FailOn(str, enum.Enum):
    error = "error"
    warning = "warning"


@app.command()
def validate(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON to check."),
    images: Optional[Path] = typer.Option(None, help="Images folder: check files and sizes, draw flagged annotations."),
    report: Optional[Path] = typer.Option(None, help="Folder for findings.csv/json (and pictures + index.html with --images)."),
    fail_on: FailOn = typer.Option(FailOn.error, help="Exit 1 when findings of this severity or worse exist."),
    tolerance: float = typer.Option(1.0, min=0, help="Pixels a keypoint or box may lie outside the image."),
    box_margin: float = typer.Option(0.1, min=0, help="Fraction of the box size a keypoint may lie outside its box."),
    z_threshold: float = typer.Option(6.0, min=1, help="Robust z-score above which a bone length is implausible."),
    quiet: bool = QUIET,
) -> None:
    """Check a COCO keypoint file before training: schema, consistency, plausibility.

    Exit 0 clean, 1 findings at or above --fail-on, 2 unreadable input."""
    def body() -> int:
        from .validate import ValidationOptions, exit_code, validate_file
        from .validate.report import summary, write_pictures, write_tables

        if images is not None and not images.is_dir():
            raise PosekitError(images, "images folder not found")
        if report is not None and report.exists() and not report.is_dir():
            raise PosekitError(report, "exists and is not a folder")
        opts = ValidationOptions(tolerance, box_margin, z_threshold)
        findings, ds = validate_file(coco_json, images, opts)
        table = summary(findings)
        if not console.QUIET and not table.empty:
            from rich.table import Table
            t = Table(title=f"{coco_json}: findings by rule")
            for col in ("rule", "severity", "count", "example"):
                t.add_column(col, overflow="fold")
            for row in table.itertuples():
                style = "red" if row.severity == "error" else "yellow"
                t.add_row(row.rule, f"[{style}]{row.severity}[/]", str(row.count), row.example)
            console.out.print(t)
        if report is not None:
            write_tables(findings, report)
            pics = write_pictures(findings, ds, images, report) if images is not None else 0
            extra = f", {pics} pictures and index.html" if pics else ""
            console.info(f"report written to {report} (findings.csv, findings.json{extra})")
        n_err = int((findings["severity"] == "error").sum()) if len(findings) else 0
        n_warn = len(findings) - n_err
        code = exit_code(findings, fail_on.value)
        verdict = "FAIL" if code else "OK"
        print(f"{verdict}: {coco_json}: {len(ds)} annotations, {len(ds.images)} images, "
              f"{n_err} errors, {n_warn} warnings")
        return code
    run(body, quiet)


# --------------------------------------------------------------------------- render

@app.command()
def render(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON."),
    images: Path = typer.Option(..., help="Folder of the images named by file_name."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for .npz targets and pictures."),
    input_size: int = typer.Option(368, min=8, help="Network input size: the image's longer side is scaled to this."),
    stride: int = typer.Option(8, min=1, help="Output stride (map cell size in input pixels)."),
    sigma: float = typer.Option(7.0, min=0.1, help="Gaussian sigma in input pixels."),
    paf_width: float = typer.Option(1.0, min=0.0, help="PAF half-width in map cells."),
    layout: RenderLayout = typer.Option(RenderLayout.openpose18, help="Target layout: openpose18 (adds the neck), "
                                        "coco17, mpii16, or native (the file's own category, e.g. CrowdPose)."),
    image_ids: Optional[list[int]] = typer.Option(None, "--image-ids", help="Render only these image ids (repeatable)."),
    decode_back: bool = typer.Option(False, "--decode", help="Also decode the targets back into people and "
                                     "write decoded.json (COCO) with a recovery summary."),
    quiet: bool = QUIET,
) -> None:
    """Render OpenPose targets (heatmaps + background, PAFs, crowd mask) as .npz and pictures."""
    def body() -> int:
        import numpy as np

        from .coco import load_coco, save_coco
        from .dataset import Category, DatasetBuilder
        from .render import render_image, target_layout
        from .targets import TargetParams

        if not images.is_dir():
            raise PosekitError(images, "images folder not found")
        if output.exists() and not output.is_dir():
            raise PosekitError(output, "exists and is not a folder")
        ds = load_coco(coco_json)
        try:
            lay, kps = target_layout(ds, layout.value)
        except PosekitError as exc:
            raise PosekitError(coco_json, exc.message) from None
        params = TargetParams(stride, sigma, paf_width)
        by_image = ds.indices_by_image()
        wanted = set(image_ids or ())
        todo = [i for i, im in enumerate(ds.images) if not wanted or im.id in wanted]
        if image_ids and not todo:
            raise PosekitError(coco_json, f"none of the image ids {image_ids} is in the file")
        # every image must be there and be an image before anything is written
        from .images import check_image_header, image_path
        for i in todo:
            check_image_header(image_path(images, ds.images[i].file_name, coco_json))
        decoded = DatasetBuilder(Category.from_layout(lay)) if decode_back else None
        failures = []
        with console.progress("rendering", len(todo), "images") as advance:
            for i in todo:
                im = ds.images[i]
                try:
                    res = render_image(ds, kps, lay, i, by_image[im.id], images, output, input_size, params,
                                       coco_json, decode_back)
                except PosekitError as exc:
                    failures.append(str(exc))
                    console.error_line(str(exc))
                    advance(1)
                    continue
                if decoded is not None:
                    decoded.add_image(im.file_name, im.width, im.height, image_id=im.id)
                    for person in res["decoded"]:
                        decoded.add_person(im.id, person, score=float(person[:, 2].mean()))
                advance(1)
        if decoded is not None:
            dds = decoded.build()
            dds.keypoints[:, :, 2] = np.where(dds.keypoints[:, :, 2] > 0, 2, 0)
            save_coco(dds, output / "decoded.json")
            n_ann = int(sum((~ds.iscrowd[by_image[ds.images[i].id]]).sum() for i in todo))
            console.info(f"decoded {len(dds)} persons from the targets of {n_ann} annotated persons "
                         f"-> {output / 'decoded.json'}")
        console.info(f"rendered {len(todo) - len(failures)} images to {output} "
                     f"(layout {lay.name}, {lay.num_keypoints}+1 heatmaps, {2 * len(lay.limbs)} PAF channels)")
        if failures:
            raise PosekitError(coco_json, f"{len(failures)} image(s) could not be rendered (see above)")
        return 0
    run(body, quiet)


# --------------------------------------------------------------------------- prelabel

@app.command()
def prelabel(
    images_dir: Path = typer.Argument(..., help="Folder of images (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for LabelMe files, the COCO file and the manifest."),
    model: str = typer.Option("cid-hrnet-w32", help="cid-hrnet-w32 (default, AP 0.704), dekr-hrnet-w32 (0.686) "
                              "or ae-hrnet-w32 (0.656): official mmpose configs."),
    config: Optional[Path] = typer.Option(None, help="An mmpose bottom-up config file instead of --model."),
    checkpoint: Optional[str] = typer.Option(None, help="Checkpoint path or URL (default: the model's official URL, "
                                             "downloaded once into torch's cache)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(4, min=1, help="Images per forward pass (same input shape)."),
    workers: int = typer.Option(2, min=1, help="Threads decoding and preparing images."),
    score_visible: float = typer.Option(0.5, min=0, max=1, help="Keypoint score for v=2 (visible)."),
    score_labeled: float = typer.Option(0.2, min=0, max=1, help="Keypoint score for v=1 (occluded); below it the point is left out."),
    min_keypoints: int = typer.Option(3, min=1, help="Persons with fewer labeled keypoints are dropped."),
    flip_test: Optional[bool] = typer.Option(None, "--flip-test/--no-flip-test", help="Override the config's flip test."),
    head_threads: Optional[int] = typer.Option(None, min=1, help="Threads running the per-image heads (default 4 on GPU, 1 on CPU)."),
    tf32: bool = typer.Option(True, "--tf32/--no-tf32", help="Allow TF32 on GPUs (faster; --no-tf32 gives "
                              "results identical to one-image inference)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace LabelMe files this tool wrote that are "
                                   "unchanged since; a file a person edited is never replaced."),
    quiet: bool = QUIET,
) -> None:
    """Pre-label images with an MMPose bottom-up HRNet: LabelMe files to correct + one COCO file."""
    def body() -> int:
        from .prelabel import PrelabelOptions, list_images, run_prelabel

        if score_labeled > score_visible:
            raise PosekitError(None, "--score-labeled must not exceed --score-visible")
        if output.exists() and not output.is_dir():
            raise PosekitError(output, "exists and is not a folder")
        if not list_images(images_dir, exclude=output):
            raise PosekitError(images_dir, "no images found (jpg, jpeg, png, bmp, webp, tif)")
        from models.bottomup import BottomUpModel

        console.info(f"loading {config or model} on {device}")
        import warnings
        warnings.filterwarnings("ignore", module="torch")  # torch.meshgrid notice from mmpose's heads
        net = BottomUpModel(model if config is None else None, config, checkpoint, device, flip_test,
                            head_threads, tf32)
        opts = PrelabelOptions(batch_size, workers, score_visible, score_labeled, min_keypoints, overwrite)
        with console.progress("pre-labeling", None, "images") as advance:
            summary = run_prelabel(images_dir, output, net, opts, advance, advance.set_total)
        for line in summary.failed:
            console.error_line(f"skipped {line}")
        rate = summary.processed / summary.seconds if summary.seconds > 0 else 0.0
        console.info(f"images: {summary.images}, pre-labeled: {summary.processed} ({rate:.2f} images/s), "
                     f"persons: {summary.persons}, mean person score: {summary.mean_score:.3f}")
        if summary.skipped_existing:
            console.info(f"skipped {summary.skipped_existing} image(s) that already have a LabelMe file "
                         f"(resume; --overwrite replaces unedited ones)")
        if summary.kept_edited:
            console.info(f"kept {len(summary.kept_edited)} LabelMe file(s) edited by a person, e.g. {summary.kept_edited[0]}")
        if summary.failed:
            console.info(f"failed: {len(summary.failed)} image(s) (listed above)")
        console.info(f"LabelMe files in {output}; COCO for the set: {summary.coco_path}")
        return 0
    run(body, quiet, pause_gc=False)
