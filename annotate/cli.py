"""The ``annotate`` command line: convert, config, validate, render and pre-label keypoint data
(the dataset commands stats, filter, merge, split and compare are in :mod:`annotate.cli_ops`).

Exit codes: 0 ok, 1 problems found (validate at or above --fail-on, compare --fail-below), 2 bad
input or usage.
"""
from __future__ import annotations

import enum
import gc
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

from . import console
from .errors import PosekitError

if TYPE_CHECKING:
    from converters.formats import Context

    from .prelabel import PrelabelSummary

app = typer.Typer(
    name="annotate", no_args_is_help=True, add_completion=False,
    help="Pre-label, convert, validate and render pose keypoint annotations (COCO and any other layout); "
         "stats, filter, merge, split and compare annotation sets.\n\n"
         "Exit codes: 0 ok, 1 problems found (validate, compare --fail-below), 2 bad input or usage.")


class OneLineUsage(typer.core.TyperCommand):
    """A command whose usage errors (missing or unknown option, bad value) are one line on
    stderr and exit 2, like every other bad input."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        import click

        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            console.error_line(f"{exc.format_message()} (see: {ctx.command_path} --help)")
            raise typer.Exit(2) from None


class ConvertGroup(typer.core.TyperGroup):
    """``annotate convert SRC -o DST --to FORMAT`` beside the named shortcuts: arguments whose
    first word is not a subcommand (nor --help) go to the hidden generic command."""

    GENERIC = "any"

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.GENERIC, *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx):  # type: ignore[no-untyped-def]
        return ["SRC -o DST --to FORMAT [OPTIONS]  |  COMMAND [ARGS]..."]


convert_app = typer.Typer(
    cls=ConvertGroup, no_args_is_help=True,
    help="Convert pose annotations between formats: `annotate convert SRC -o DST --to FORMAT`.\n\n"
         "FORMAT: coco, labelme, mpii, yolo, cvat, labelstudio, openpose. The source's format is "
         "detected from its path and contents (--from forces it). Every conversion ends with one "
         "line of what the target could not hold. `annotate convert any --help` lists the options. "
         "The commands below are shortcuts for the older conversions.")
app.add_typer(convert_app, name="convert")

class RenderLayout(str, enum.Enum):
    openpose18 = "openpose18"
    coco17 = "coco17"
    mpii16 = "mpii16"
    native = "native"


@app.callback()
def main(quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the final result line."),
         debug: bool = typer.Option(False, "--debug", help="Show a traceback for errors.")) -> None:
    """Pre-label, convert, validate and render pose annotations; stats, filter, merge, split, compare."""


#: Top-level modules of the optional extras, for a clear line when one is missing.
EXTRAS = {"torch": "prelabel", "mmcv": "prelabel", "mmengine": "prelabel", "mmpose": "prelabel",
          "mmdet": "prelabel", "ray": "prelabel", "labelme": "gui", "PyQt5": "gui"}


NOTHING_WRITTEN = "interrupted; nothing was written (outputs appear whole or not at all)"


def run(fn: Callable[[], int | None], pause_gc: bool = True, interrupted: str = NOTHING_WRITTEN) -> None:
    """Run a command body: PosekitError -> one line on stderr and exit 2; Ctrl-C -> the
    ``interrupted`` line (what is on disk then) and exit 130. (--quiet is read by the console
    from the command's options.)

    ``pause_gc``: the cyclic garbage collector is off while the body runs. Conversions make
    millions of small lists and dicts and no reference cycles; the collector's repeated passes
    over them cost a third of a conversion's time. (Pre-labelling keeps it on: torch and
    mmengine objects do form cycles over a long run.)"""
    was_enabled = gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        code = fn() or 0
    except PosekitError as exc:
        if console.debug():
            traceback.print_exc()
        console.error_line(str(exc))
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.error_line(interrupted)
        raise typer.Exit(130) from None
    except MemoryError:
        console.error_line("out of memory")
        raise typer.Exit(2) from None
    except typer.Exit:
        raise
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        if console.debug():
            traceback.print_exc()
        console.error_line(f"this command needs {exc.name}, which is not installed: pip install 'posekit[{extra}]' "
                           f"(or run `make demo` / scripts/setup_env.sh, which installs everything)")
        raise typer.Exit(2) from None
    except Exception as exc:  # a bug, or bad input we did not foresee: still one line
        if console.debug():
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

def convert_and_report(source: Path, output: Optional[Path], to: Optional[str], from_: Optional[str] = None,
                       ctx: "Context | None" = None, map_to: Optional[str] = None, overwrite: bool = False) -> int:
    """The body of every conversion command (``convert SRC --to F`` and its named aliases): one
    conversion path, one set of messages."""
    from converters.formats import FORMATS, Context, convert

    if to is None:
        raise PosekitError(None, f"missing --to FORMAT ({', '.join(FORMATS)})")
    if output is None:
        raise PosekitError(None, "missing -o/--output (the file or folder to write)")
    ctx = ctx or Context()
    try:
        with console.progress("converting", None) as advance:
            ctx.progress = advance
            res = convert(source, output, to, from_, ctx, map_to, overwrite)
    except PosekitError:
        report_bad_files(ctx, "error")
        raise
    report_bad_files(ctx, "skipped")
    if res.mapping:
        console.info(f"keypoints mapped: {res.mapping}")
    console.info(f"wrote {output} ({res.target_format}, read as {res.source_format}): {res.summary}")
    no_size = sum(1 for im in res.ds.images if im.width is None or im.height is None)
    if no_size and res.target_format == "coco":
        console.warning(f"{no_size} of {len(res.ds.images)} images have no width/height (the source does not give "
                        f"them): mmpose's CocoDataset needs them and `annotate validate` reports them as errors; "
                        f"pass --images DIR to read them from the images")
    if res.target_format == "labelme":
        from converters.labelme_setup import setup_labelme

        for line in setup_labelme(output, [im.file_name for im in res.ds.images], list(res.ds.category.keypoints),
                                  ctx.images, ctx.person_label).lines():
            console.info(line)
    print(res.notes.line())
    return 0


def report_bad_files(ctx: "Context", how: str) -> None:
    """One line per bad file of the source (errors when they refused the conversion, else the
    files --skip-bad skipped)."""
    for exc in ctx.bad_files:
        if how == "error":
            console.error_line(str(exc))
        else:
            console.warning(f"skipped {exc}")


LAYOUT_OPTION = typer.Option(None, help="Layout of a source whose files do not name it (LabelMe point labels, YOLO "
                             "without kpt_names, Label Studio without config); for MPII the layout read into "
                             "(mpii16, lossless, by default; coco17 keeps the 12 joints COCO has).")
CATEGORY_OPTION = typer.Option(None, "--category", help="Read only this keypoint category (name or id) of a "
                               "source holding several, e.g. one layout of a multi-layout COCO file.")
SKIP_BAD = typer.Option(False, "--skip-bad", help="Convert the good files and skip bad ones, each listed and "
                        "counted (default: a bad file refuses the conversion and nothing is written).")
BOX_MARGIN = typer.Option(0.1, min=0, help="Margin (fraction of size) of boxes made from keypoints.")


@convert_app.command("labelme-to-coco", cls=OneLineUsage)
def labelme_to_coco(
    labelme_dir: Path = typer.Argument(..., help="Folder of LabelMe .json files (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="COCO keypoint JSON to write."),
    layout: Optional[str] = LAYOUT_OPTION,
    images: Optional[Path] = typer.Option(None, help="Images folder: imagePath must point inside it and COCO "
                                          "file_name is relative to it (default: found from the files)."),
    person_label: str = typer.Option("person", help="Label of the rectangle that is a person's box."),
    box_margin: float = BOX_MARGIN,
    skip_bad: bool = SKIP_BAD,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """LabelMe folder -> one COCO file: the same as `annotate convert LABELME_DIR -o X.json --to coco`."""
    from converters.formats import Context

    ctx = Context(images=images, layout=layout, person_label=person_label, box_margin=box_margin, skip_bad=skip_bad)
    run(lambda: convert_and_report(labelme_dir, output, "coco", "labelme", ctx, None, overwrite))


@convert_app.command("coco-to-labelme", cls=OneLineUsage)
def coco_to_labelme(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the LabelMe files (one per image)."),
    images: Optional[Path] = typer.Option(None, help="Folder of the images; imagePath is made relative to it "
                                          "(default: images sit beside the JSON files)."),
    category: Optional[str] = CATEGORY_OPTION,
    person_label: str = typer.Option("person", help="Label of the person rectangles."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace LabelMe files that already exist."),
    quiet: bool = QUIET,
) -> None:
    """COCO file -> one LabelMe file per image: the same as `annotate convert X.json -o DIR --to labelme`."""
    from converters.formats import Context

    ctx = Context(images=images, category=category, person_label=person_label)
    run(lambda: convert_and_report(coco_json, output, "labelme", "coco", ctx, None, overwrite))


@convert_app.command("mpii-to-coco", cls=OneLineUsage)
def mpii_to_coco(
    source: Path = typer.Argument(..., help="MPII .mat release (mpii_human_pose_v1_u12_1.mat) or mmpose MPII .json."),
    output: Path = typer.Option(..., "-o", "--output", help="COCO keypoint JSON to write."),
    layout: Optional[str] = LAYOUT_OPTION,
    images: Optional[Path] = typer.Option(None, help="Images folder; image width/height are read from headers."),
    box_margin: float = BOX_MARGIN,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """MPII (.mat or mmpose JSON) -> COCO: the same as `annotate convert SRC -o X.json --to coco`."""
    from converters.formats import Context

    ctx = Context(images=images, layout=layout, box_margin=box_margin)
    run(lambda: convert_and_report(source, output, "coco", "mpii", ctx, None, overwrite))


@convert_app.command("coco-to-mpii", cls=OneLineUsage)
def coco_to_mpii(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON (mpii16 category; others need --map-to)."),
    output: Path = typer.Option(..., "-o", "--output", help="mmpose MPII JSON to write."),
    map_to: Optional[str] = typer.Option(None, "--map-to", help="Map the keypoints to this layout first (mpii16)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """COCO file -> mmpose MPII JSON (1-based): the same as `annotate convert X.json -o Y.json --to mpii`."""
    run(lambda: convert_and_report(coco_json, output, "mpii", "coco", None, map_to, overwrite))


@convert_app.command(ConvertGroup.GENERIC, hidden=True, cls=OneLineUsage)
def convert_any(
    source: Path = typer.Argument(..., help="File or folder to convert (format detected; --from forces it)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="File or folder to write (yolo, labelme "
                                          "and openpose write folders; the others one file)."),
    to: Optional[str] = typer.Option(None, "--to", help="Target format: coco, labelme, mpii, yolo, cvat, "
                                     "labelstudio, openpose."),
    from_: Optional[str] = typer.Option(None, "--from", help="Source format, when detection is not wanted."),
    map_to: Optional[str] = typer.Option(None, "--map-to", help="Map the keypoints to this layout before writing "
                                         "(coco17, mpii16, openpose18, body25, body25b, crowdpose14, aic14, "
                                         "halpe26, mpi15): named mappings, else by keypoint name; prints what maps, what "
                                         "is derived (neck = mean of the shoulders) and what is dropped."),
    layout: Optional[str] = LAYOUT_OPTION,
    category: Optional[str] = CATEGORY_OPTION,
    images: Optional[Path] = typer.Option(None, help="Folder the image file names are relative to (YOLO links "
                                          "images from it; sizes missing from the source are read from it)."),
    outside: str = typer.Option("hide", help="YOLO: labeled keypoints outside the image (Ultralytics drops the "
                                "whole image's labels for them): hide (v=0 at 0,0), clip (to the edge) or drop "
                                "(the person). Counted."),
    visibility: bool = typer.Option(True, "--visibility/--no-visibility", help="YOLO: kpt_shape [K, 3] "
                                    "(x, y, visibility) or [K, 2]."),
    image_root_url: str = typer.Option("/data/local-files/?d=", help="Label Studio: prefix of each task's image "
                                       "URL for images that had none (local files storage by default)."),
    person_label: str = typer.Option("person", help="LabelMe: label of the rectangle that is a person's box; "
                                     "CVAT: the skeleton label read (default: 'person' when declared, else the "
                                     "skeleton label with the most skeletons)."),
    box_margin: float = BOX_MARGIN,
    skip_bad: bool = SKIP_BAD,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """SRC (any format) -> DST in --to FORMAT, through posekit's one dataset model."""
    def body() -> int:
        from converters.formats import Context

        if not source.exists() and not source.suffix and "/" not in str(source):
            names = [c.name for c in convert_app.registered_commands if c.name and c.name != ConvertGroup.GENERIC]
            raise PosekitError(source, f"no such file or folder, nor a convert command ({', '.join(names)})")
        ctx = Context(images=images, layout=layout, category=category, person_label=person_label,
                      box_margin=box_margin, outside=outside, visibility=visibility, image_root_url=image_root_url,
                      skip_bad=skip_bad)
        return convert_and_report(source, output, to, from_, ctx, map_to, overwrite)
    run(body)


class ConfigFor(str, enum.Enum):
    mmpose = "mmpose"
    ultralytics = "ultralytics"


@app.command("config", cls=OneLineUsage)
def config(
    source: Path = typer.Argument(..., help="The dataset: COCO JSON (or anything `annotate convert` reads)."),
    for_: ConfigFor = typer.Option(..., "--for", help="mmpose: a dataset_info config (keypoint_info with swaps, "
                                   "skeleton_info, joint_weights, sigmas); ultralytics: a pose data.yaml."),
    from_: Optional[str] = typer.Option(None, "--from", help="Source format, when detection is not wanted."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="File to write (default: print it)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Training config for a dataset's keypoint layout: mmpose's dataset_info or Ultralytics' data.yaml.

    Sigmas and joint weights: COCO's for COCO-17, mmpose's published ones for CrowdPose-14,
    AIC-14, MPII-16 and Halpe-26; otherwise COCO's per matching keypoint name and stated defaults
    (listed in the file) for the rest."""
    def body() -> int:
        import sys

        from converters.formats import Context, read_dataset
        from .io import write_bytes_atomic
        from .training_config import mmpose_dataset_info, ultralytics_data_yaml

        if output is not None:
            check_output(output, overwrite, (source,))
        ds = read_dataset(source, Context(), from_)[0].ds
        text = mmpose_dataset_info(ds, source.name) if for_ is ConfigFor.mmpose else \
            ultralytics_data_yaml(ds, source=source.name)
        if output is None:
            sys.stdout.write(text)
            return 0
        write_bytes_atomic(output, text.encode("utf-8"))
        console.info(f"wrote {output} ({for_.value}; {ds.category.num_keypoints} keypoints, "
                     f"{len(ds.categories)} categories)")
        return 0
    run(body)


# --------------------------------------------------------------------------- validate

class FailOn(str, enum.Enum):
    error = "error"
    warning = "warning"


@app.command()
def validate(
    coco_json: Path = typer.Argument(..., help="COCO keypoint JSON to check."),
    images: Optional[Path] = typer.Option(None, help="Images folder: check files and sizes, draw flagged annotations."),
    report: Optional[Path] = typer.Option(None, help="Folder for the report: findings.csv/json and index.html "
                                          "(a page to read in a browser; with --images, pictures of the flagged "
                                          "annotations)."),
    fail_on: FailOn = typer.Option(FailOn.error, help="Exit 1 when findings of this severity or worse exist."),
    tolerance: float = typer.Option(1.0, min=0, help="Pixels a keypoint or box may lie outside the image."),
    box_margin: float = typer.Option(0.1, min=0, help="Fraction of the box size a keypoint may lie outside its box."),
    z_threshold: float = typer.Option(6.0, min=1, help="Robust z-score above which a bone length is implausible."),
    max_pictures: int = typer.Option(500, min=0, help="Most pictures drawn for the report (errors first)."),
    quiet: bool = QUIET,
) -> None:
    """Check a COCO keypoint file before training: schema, consistency, plausibility.

    Exit 0 clean, 1 findings at or above --fail-on, 2 unreadable input."""
    def body() -> int:
        from .validate import ValidationOptions, exit_code, validate_file
        from .validate.page import Verdict
        from .validate.report import summary_table, write_report

        if images is not None and not images.is_dir():
            raise PosekitError(images, "images folder not found")
        if report is not None and report.exists() and not report.is_dir():
            raise PosekitError(report, "exists and is not a folder")
        opts = ValidationOptions(tolerance, box_margin, z_threshold)
        findings, ds = validate_file(coco_json, images, opts)
        if not console.quiet() and not findings.empty:
            console.out.print(summary_table(findings, f"{coco_json}: findings by rule"))
        code = exit_code(findings, fail_on.value)
        in_file = findings.attrs.get("annotations_in_file", len(ds))
        left_out = f" ({in_file - len(ds)} left out of the checks by schema errors)" if in_file > len(ds) else ""
        if report is not None:
            rep = write_report(findings, ds, report, Verdict(code == 0, fail_on.value, str(coco_json), in_file,
                                                             len(ds.images)), images, max_pictures)
            pics = rep.pictures
            drawn = f", {len(pics.paths)} of {pics.flagged} flagged annotations drawn" if pics else ""
            console.info(f"report: {rep.page} (open in a browser); findings.csv, findings.json{drawn}")
        n_err = int((findings["severity"] == "error").sum()) if len(findings) else 0
        n_warn = len(findings) - n_err
        verdict = "FAIL" if code else "OK"
        print(f"{verdict}: {n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)} in "
              f"{in_file} annotations{left_out}, {len(ds.images)} images: {coco_json}")
        return code
    run(body)


# --------------------------------------------------------------------------- render

@app.command()
def render(
    coco_json: Path = typer.Argument(..., help="The dataset: COCO JSON (or anything `annotate convert` reads)."),
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
    pictures: int = typer.Option(20, min=0, help="Write overview and channel pictures for the first N rendered "
                                 "images (0: none; the arrays are written for every image)."),
    workers: int = typer.Option(0, min=0, help="Processes to render with (0: one per core, each with at least "
                                "100 images; fewer images render in this process)."),
    quiet: bool = QUIET,
) -> None:
    """Render OpenPose targets (heatmaps + background, PAFs, crowd mask) as .npz and pictures.

    Large files are rendered in a process pool (one process per core), with the same files as
    --workers 1 writes."""
    def body() -> int:
        from .render import (RenderJob, default_workers, plan_render, pool_size, render_all, target_layout,
                             write_decoded)
        from .targets import OpenPoseCodec, TargetParams

        from converters.formats import Context, read_dataset

        if not images.is_dir():
            raise PosekitError(images, "images folder not found")
        if output.exists() and not output.is_dir():
            raise PosekitError(output, "exists and is not a folder")
        ds = read_dataset(coco_json, Context(images=images))[0].ds
        lay, kps = target_layout(ds, layout.value, decode_back, coco_json)
        codec = OpenPoseCodec.from_layout(lay, TargetParams(stride, sigma, paf_width))
        todo, sizes, names, renamed = plan_render(ds, images, image_ids, coco_json)
        if renamed:
            console.info(f"{renamed} images share a name with another image but for the extension or case: "
                         "written as NAME_EXT (e.g. x_jpg.npz, x_png.npz); each .npz holds its file_name")
        job = RenderJob(ds, kps, lay, codec, images, output, input_size, coco_json, ds.indices_by_image(),
                        dict(zip(todo, names)), sizes, frozenset(todo[:pictures]), decode_back)
        n_workers = workers or default_workers(len(todo))
        results: dict[int, dict] = {}
        failures = []
        with console.progress("rendering", len(todo), "images") as advance:
            for i, res in render_all(job, todo, n_workers, advance):
                if isinstance(res, str):
                    failures.append(res)
                    console.error_line(res)
                elif decode_back:
                    results[i] = res
        if decode_back:
            n_dec, n_ann = write_decoded(job, todo, results, output / "decoded.json")
            console.info(f"decoded {n_dec} persons from the targets of {n_ann} annotated persons "
                         f"-> {output / 'decoded.json'}")
        no_limbs = " (the layout has no skeleton)" if not lay.limbs else ""
        console.info(f"rendered {len(todo) - len(failures)} images to {output} with "
                     f"{pool_size(len(todo), n_workers)} process(es) (layout {lay.name}, {lay.num_keypoints}+1 "
                     f"heatmaps, {2 * len(lay.limbs)} PAF channels{no_limbs}; pictures for "
                     f"{min(pictures, len(todo) - len(failures))} image(s))")
        if failures:
            raise PosekitError(coco_json, f"{len(failures)} image(s) could not be rendered (see above)")
        return 0
    run(body, interrupted="interrupted; each image rendered so far is complete in the output folder, "
        "the rest were not written")


# --------------------------------------------------------------------------- prelabel

class Engine(str, enum.Enum):
    local = "local"
    ray = "ray"


@app.command()
def prelabel(
    images_dir: Path = typer.Argument(..., help="Folder of images (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for LabelMe files, the COCO file, the review "
                                "list and the manifest."),
    model: str = typer.Option("cid-hrnet-w32", help="cid-hrnet-w32 (default, AP 0.704), dekr-hrnet-w32 (0.686) "
                              "or ae-hrnet-w32 (0.656): official mmpose configs."),
    config: Optional[Path] = typer.Option(None, help="An mmpose bottom-up config file instead of --model."),
    checkpoint: Optional[str] = typer.Option(None, help="Checkpoint path or URL (default: the model's official URL, "
                                             "downloaded once into torch's cache)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N (with --engine ray: cuda gives each model "
                               "actor one GPU)."),
    batch_size: int = typer.Option(4, min=1, help="Images per forward pass (same input shape)."),
    workers: int = typer.Option(2, min=1, help="Threads (local, with a GPU; on the CPU images are read in turn with the "
                         "model) or Ray tasks (ray) decoding and preparing images."),
    score_visible: float = typer.Option(0.5, min=0, max=1, help="Keypoint score for v=2 (visible)."),
    score_labeled: float = typer.Option(0.2, min=0, max=1, help="Keypoint score for v=1 (occluded); below it the point is left out."),
    min_keypoints: int = typer.Option(3, min=1, help="Persons with fewer labeled keypoints are dropped."),
    flip_test: Optional[bool] = typer.Option(None, "--flip-test/--no-flip-test", help="Override the config's flip test."),
    head_threads: Optional[int] = typer.Option(None, min=1, help="Threads running per-image heads (DEKR, AE; "
                                               "default 4 on GPU, 1 on CPU). CID decodes the whole batch at once."),
    tf32: bool = typer.Option(True, "--tf32/--no-tf32", help="Allow TF32 on GPUs (faster; --no-tf32 gives "
                              "results identical to one-image inference)."),
    engine: Engine = typer.Option(Engine.local, help="local: this process. ray: Ray Data on a local Ray, or on "
                                  "the cluster named by --ray-address."),
    ray_address: Optional[str] = typer.Option(None, help="With --engine ray: 'auto' or ray://HOST:PORT joins a "
                                              "running cluster (images and output on a filesystem every node "
                                              "sees); default: start a local Ray."),
    actors: Optional[int] = typer.Option(None, min=1, help="With --engine ray: model actors (default: one per GPU "
                                         "of the cluster with cuda, else 1)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace LabelMe files this tool wrote that are "
                                   "unchanged since; a file a person edited is never replaced."),
    quiet: bool = QUIET,
) -> None:
    """Pre-label images with an MMPose bottom-up HRNet: LabelMe files to correct.

    Also one COCO file for the set and a review list (least certain images first)."""
    def body() -> int:
        from .prelabel import PrelabelOptions, plan_prelabel

        if score_labeled > score_visible:
            raise PosekitError(None, "--score-labeled must not exceed --score-visible")
        if output.exists() and not output.is_dir():
            raise PosekitError(output, "exists and is not a folder")
        if engine is Engine.local and (ray_address or actors):
            raise PosekitError(None, "--ray-address and --actors need --engine ray")
        plan = plan_prelabel(images_dir, output, overwrite)  # refuses colliding names before any work
        from models.bottomup import ModelSpec

        import warnings
        warnings.filterwarnings("ignore", module="torch")  # torch.meshgrid notice from mmpose's heads
        spec = ModelSpec(model if config is None else None, None if config is None else str(config), checkpoint,
                         device, flip_test, head_threads, tf32)
        opts = PrelabelOptions(batch_size, workers, score_visible, score_labeled, min_keypoints, overwrite)
        console.info(f"loading {config or model} on {device}" + (" (Ray)" if engine is Engine.ray else ""))
        if engine is Engine.ray:
            from .prelabel_ray import RayOptions, run_prelabel_ray

            with console.progress("pre-labeling", None, "images") as advance:
                summary = run_prelabel_ray(images_dir, output, spec, opts, RayOptions(ray_address, actors),
                                           advance, advance.set_total, plan)
        else:
            from .prelabel import run_prelabel

            net = spec.build()
            with console.progress("pre-labeling", None, "images") as advance:
                summary = run_prelabel(images_dir, output, net, opts, advance, advance.set_total, plan)
        report_prelabel(summary, output)
        return 0
    run(body, pause_gc=False, interrupted="interrupted; the files written so far are complete; run the "
        "same command again to go on (images with a LabelMe file are skipped)")


def report_prelabel(summary: "PrelabelSummary", output: Path) -> None:
    """The lines a pre-labeling run ends with: failures, counts, resume, review order, labelme."""
    for line in summary.failed:
        console.error_line(f"skipped {line}")
    for line in summary.unreadable_edits:
        console.error_line(f"not in the set's COCO file: {line}")
    rate = summary.processed / summary.seconds if summary.seconds > 0 else 0.0
    console.info(f"images: {summary.images}, pre-labeled: {summary.processed} ({rate:.2f} images/s), "
                 f"persons: {summary.persons}, mean person score: {summary.mean_score:.3f}")
    if summary.skipped_existing:
        console.info(f"skipped {summary.skipped_existing} image(s) that already have a LabelMe file "
                     f"(resume; --overwrite replaces unedited ones)")
    if summary.kept_edited:
        console.info(f"kept {len(summary.kept_edited)} LabelMe file(s) edited by a person, e.g. {summary.kept_edited[0]}")
    if summary.failed:
        console.info(f"failed: {len(summary.failed)} image(s) (listed above; run again to retry them)")
    console.info(summary.notes.line())
    if summary.review_first:
        first = ", ".join(f"{name} ({'no person' if s is None else f'{s:.2f}'})" for name, s in summary.review_first)
        console.info(f"review first (weakest person score): {first}; all in {summary.review_path}")
    console.info(f"LabelMe files in {output}; COCO for the set: {summary.coco_path}")
    for line in summary.labelme_lines:  # labelme's config and the command that opens the images
        console.info(line)


from . import cli_ops  # noqa: E402,F401  (registers stats, filter, merge, split and compare)
