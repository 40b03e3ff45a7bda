"""The dataset commands of ``annotate``: stats, filter, merge, split, compare (thin: options in,
one function of :mod:`annotate.ops` called, the result reported). Registered on the app of
:mod:`annotate.cli`, with its conventions (``run``, exit codes, --quiet, --overwrite)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import console
from .cli import OVERWRITE, QUIET, OneLineUsage, app, run
from .errors import PosekitError

FROM = typer.Option(None, "--from", help="Source format, when detection is not wanted.")
TO = typer.Option(None, "--to", help="Format to write: coco, labelme, mpii, yolo, cvat, labelstudio, openpose "
                  "(default: the source's).")
IMAGES = typer.Option(None, help="Folder the image file names are relative to (sizes missing from the "
                      "source are read from it).")


# --------------------------------------------------------------------------- stats

@app.command("stats", cls=OneLineUsage)
def stats(
    source: Path = typer.Argument(..., help="The dataset: any format `annotate convert` reads (detected)."),
    report: Optional[Path] = typer.Option(None, help="Folder for index.html (a self-contained page of plots: "
                                          "persons per image, keypoints per person, per keypoint visible / "
                                          "occluded / unlabeled, person sizes, image sizes, where each keypoint "
                                          "lies in the person box) and stats.json (the numbers)."),
    from_: Optional[str] = FROM,
    images: Optional[Path] = IMAGES,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """What a dataset holds: counts, per-keypoint visibility, sizes; --report: a page of plots.

    Images, persons, crowd regions, persons per image, per keypoint how often
    it is labeled / visible / occluded, keypoints per person, person sizes (COCO's small < 32² <=
    medium < 96² <= large areas), image sizes, layout and categories.

    Persons are the annotations that are not crowd regions; crowd regions are counted apart."""
    def body() -> int:
        from converters.formats import Context
        from .ops.stats import dataset_stats, stats_tables, summary_line
        from .ops.stats_page import write_report

        if report is not None and report.exists() and not report.is_dir():
            raise PosekitError(report, "exists and is not a folder")
        ctx = Context(images=images)
        with console.progress("reading", None) as advance:
            ctx.progress = advance
            st = dataset_stats(source, ctx, from_)
        if not console.quiet():
            for table in stats_tables(st, f"{source}"):
                console.out.print(table)
        if report is not None:
            page = write_report(st, report, overwrite)
            console.info(f"report: {page} (open in a browser); numbers in {report / 'stats.json'}")
        print(summary_line(st))
        return 0
    run(body)


# --------------------------------------------------------------------------- filter

@app.command("filter", cls=OneLineUsage)
def filter_(
    source: Path = typer.Argument(..., help="The dataset: any format `annotate convert` reads (detected)."),
    output: Path = typer.Option(..., "-o", "--output", help="File or folder to write (as --to, by default the "
                                "source's format)."),
    to: Optional[str] = TO,
    category: Optional[list[str]] = typer.Option(None, "--category", help="Keep persons of this keypoint "
                                                 "category (by name; repeatable); others are dropped from the "
                                                 "output's categories too."),
    drop_crowd: bool = typer.Option(False, "--drop-crowd", help="Remove crowd regions (iscrowd)."),
    min_keypoints: Optional[int] = typer.Option(None, "--min-keypoints", min=0, help="Remove persons with fewer "
                                                "labeled keypoints (v > 0)."),
    min_area: Optional[float] = typer.Option(None, "--min-area", min=0, help="Remove persons of smaller area "
                                             "(pixels²; the box's where the source gives none; COCO: small < "
                                             "1024 <= medium < 9216 <= large)."),
    where: Optional[str] = typer.Option(None, "--where", help="Keep annotations for which this pandas "
                                        "expression is true, e.g. \"num_visible >= 8 and box_h > 2 * box_w\" or "
                                        "\"v_left_wrist == 2\". Columns: ann_id, image_id, file_name, width, "
                                        "height, split, category (name), category_id, iscrowd, num_keypoints, "
                                        "num_visible, num_occluded, area, box_x, box_y, box_w, box_h, score "
                                        "(NaN where none: comparisons with NaN are false), and per keypoint "
                                        "v_<name> (0 unlabeled, 1 occluded, 2 visible), x_<name>, y_<name> "
                                        "(NaN where unlabeled); `backquote` names with other characters."),
    images_with_persons: bool = typer.Option(False, "--images-with-persons", help="Drop images left without a "
                                             "person (crowd regions do not count; those on dropped images go "
                                             "with them)."),
    from_: Optional[str] = FROM,
    images: Optional[Path] = IMAGES,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Keep the persons that pass every condition, write them as --to (default: the source's format).

    Conditions apply in the order --category, --drop-crowd, --min-keypoints, --min-area, --where;
    the closing line counts what each removed (a person failing several under the first) and the
    images dropped by --images-with-persons. --min-keypoints and --min-area apply to persons;
    crowd regions stay unless --drop-crowd or --where removes them."""
    def body() -> int:
        from converters.formats import Context, get_format, read_dataset, settle, write_dataset
        from .notes import Notes
        from .ops.filter import FilterSpec, check_where, filter_dataset

        if to is not None:
            get_format(to)
        if where is not None:
            check_where(where)
        spec = FilterSpec(tuple(category or ()), drop_crowd, min_keypoints, min_area, where, images_with_persons)
        ctx = Context(images=images)
        with console.progress("filtering", None) as advance:
            ctx.progress = advance
            src, fmt = read_dataset(source, ctx, from_)
            before = Notes(ctx.notes)
            res = filter_dataset(src.ds, spec, ctx.notes)
            removals = Notes(ctx.notes - before)
            settle(ctx.account, res.ds, ctx.notes, source, "filtering")
            out = write_dataset(res.ds, output, to or fmt, ctx, overwrite, src.images_dir, (source,))
        console.info(f"wrote {output} ({get_format(to or fmt).name}, read as {fmt}): {out.summary}")
        print(Notes(ctx.notes - removals).line())
        print(res.line())
        return 0
    run(body)


# --------------------------------------------------------------------------- merge

@app.command("merge", cls=OneLineUsage)
def merge(
    sources: list[Path] = typer.Argument(..., help="Two or more datasets (any formats `annotate convert` reads; "
                                         "each detected, or --from). Merged in this order."),
    output: Path = typer.Option(..., "-o", "--output", help="File or folder to write (as --to, by default the "
                                "first input's format)."),
    to: Optional[str] = typer.Option(None, "--to", help="Format to write: coco, labelme, mpii, yolo, cvat, "
                                     "labelstudio, openpose (default: the first input's)."),
    map_to: Optional[str] = typer.Option(None, "--map-to", help="Map every input to this layout first (coco17, "
                                         "mpii16, openpose18, body25, ...); without it, inputs of different "
                                         "keypoints are refused."),
    on_duplicate: str = typer.Option("keep-first", "--on-duplicate", help="A person found in two inputs: "
                                     "keep-first (the earlier input's), keep-last (the later one's, in the "
                                     "earlier one's place and ids), keep-both, most-labeled (the one with more "
                                     "labeled keypoints; the earlier on a tie)."),
    oks: float = typer.Option(0.7, "--oks", help="Two persons of one image (same category) are one when their OKS "
                              "(the layout's sigmas) is at least this; persons without keypoints by box IoU. "
                              "0.7: the same person labelled twice scores above it (copies, corrections of a "
                              "pixel or two on a person 50 px or more across, two annotators labelling "
                              "independently: 0.8 to 0.9 on average, as COCO's sigmas are their spread); two "
                              "different persons essentially never do. 0.9 keeps only near-copies together."),
    from_: Optional[str] = FROM,
    images: Optional[Path] = IMAGES,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Merge annotation sets of the same or different images into one.

    Images are the same when their file names are (normalised relative paths); their sizes must
    agree. Ids: the first input's are kept; a later input's id is kept when no earlier input used
    it, else it becomes the next free id. Categories are matched by keypoint names (and by name
    when an input has several). Persons of one image in several inputs are matched one to one by
    OKS; --on-duplicate decides which stays. Merging a file with itself gives the file back."""
    def body() -> int:
        from .ops.merge import merge_files

        with console.progress("merging", None) as advance:
            res = merge_files(sources, output, to, from_, images, map_to, on_duplicate, oks, overwrite, advance)
        for line in res.mappings:
            console.info(f"keypoints mapped: {line}")
        st = res.stats
        console.info(f"wrote {output} ({res.target_format}, read as {', '.join(res.source_formats)}): {res.summary}")
        print(res.notes.line())
        print(f"merged {st.inputs} inputs: {len(res.ds.images):,} images ({st.images_shared:,} found in an earlier "
              f"input), {len(res.ds):,} persons of {st.persons_in:,}; {st.line(on_duplicate, oks)}")
        return 0
    run(body)


# --------------------------------------------------------------------------- split

@app.command("split", cls=OneLineUsage)
def split(
    source: Path = typer.Argument(..., help="The dataset: any format `annotate convert` reads (detected)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write: train, val and test as files "
                                "(DIR/train.json) or folders (DIR/train/) of --to; YOLO: one dataset with the "
                                "splits in data.yaml."),
    val: float = typer.Option(0.1, "--val", help="Fraction of the images for val."),
    test: float = typer.Option(0.0, "--test", help="Fraction of the images for test (0: no test split)."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same split."),
    group: Optional[str] = typer.Option(None, "--group", help="Regular expression searched in each file name: "
                                        "images with the same first capture group (else the same whole match) "
                                        "go to the same split, e.g. '^(video\\d+)/' or 'subject(\\d+)_'. "
                                        "Images it does not match are each their own group (counted)."),
    group_by_folder: bool = typer.Option(False, "--group-by-folder", help="Images of one folder go to the same "
                                         "split (images at the top level are each their own group)."),
    to: Optional[str] = TO,
    from_: Optional[str] = FROM,
    images: Optional[Path] = IMAGES,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """Split into train / val / test: reproducible, groups kept together, stratified.

    Every image in exactly one split, groups kept
    together, the sizes as asked (within one group), and each split's per-keypoint visible
    fraction close to the whole set's (groups are dealt out largest first; each split takes, of
    the next groups that fit, the one that keeps its fractions closest). The closing line gives
    the images and persons per split and the largest visible-fraction difference."""
    def body() -> int:
        from .ops.split import split_file, summary_line

        with console.progress("splitting", None) as advance:
            res = split_file(source, output, val, test, seed, group, group_by_folder, to, from_, images, overwrite,
                             advance)
        console.info(f"wrote {', '.join(map(str, res.targets))} ({res.target_format}, read as {res.source_format})")
        print(res.notes.line())
        print(summary_line(res))
        return 0
    run(body)


# --------------------------------------------------------------------------- compare

@app.command("compare", cls=OneLineUsage)
def compare(
    ref: Path = typer.Argument(..., help="The reference annotations (e.g. the corrected labels): COCOeval's ground "
                               "truth."),
    other: Path = typer.Argument(..., help="The annotations compared with REF (e.g. the pre-labels): COCOeval's "
                                 "detections."),
    report: Optional[Path] = typer.Option(None, "--report", help="Folder to write a report to: index.html (plots "
                                          "and pictures of the worst disagreements, both skeletons on the image), "
                                          "compare.json and keypoints.csv."),
    fail_below: Optional[float] = typer.Option(None, "--fail-below", min=0, max=1, metavar="OKS",
                                               help="Exit 1 when the mean OKS (an unmatched person counts 0) is "
                                               "below this."),
    from_ref: Optional[str] = typer.Option(None, "--from-ref", help="REF's format, when detection is not wanted."),
    from_other: Optional[str] = typer.Option(None, "--from-other", help="OTHER's format, when detection is not "
                                             "wanted."),
    images: Optional[Path] = typer.Option(None, help="Folder the image file names are relative to, for reading "
                                          "and for the report's pictures (default: REF's images folder, else "
                                          "OTHER's)."),
    layout: Optional[str] = typer.Option(None, help="Layout of sources whose files do not name it (LabelMe point "
                                         "labels, YOLO without kpt_names)."),
    worst: int = typer.Option(10, min=0, help="How many of the worst disagreements to list (and draw, with "
                              "--report)."),
    min_oks: float = typer.Option(0.1, "--min-oks", min=0, max=1, help="Two persons of one image with a lower OKS "
                                  "are not matched (they count as one only in REF and one only in OTHER)."),
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
) -> None:
    """How far two annotation sets agree: per-keypoint error, PCK, visibility, AP/AR.

    Two annotation sets of the same images (any formats, one keypoint layout):
    images matched by file name, persons per image by OKS (the layout's sigmas); per keypoint the
    error normalised by person size (sqrt of the REF person's area), PCK at 0.05 and 0.1 and the
    visibility flags side by side; the persons only one side has; COCOeval's AP and AR (REF as
    ground truth); the worst disagreements; last, which keypoints moved most and how far.

    Example (pre-labels against their corrected files): annotate compare corrected/ prelabels.json --report cmp/"""
    def body() -> int:
        from .ops.compare import compare_command

        return compare_command(ref, other, from_ref=from_ref, from_other=from_other, images=images, layout=layout,
                               report=report, fail_below=fail_below, worst=worst, min_oks=min_oks,
                               overwrite=overwrite)
    run(body)
