"""Fuzz the readers (hypothesis, bounded): mutated real documents and random bytes. No exception
may escape except the project's own PosekitError."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.coco import from_coco_dict
from annotate.errors import PosekitError
from annotate.io import parse_json_bytes
from annotate.skeletons import COCO17
from annotate.validate import validate_object
from converters.labelme import parse_labelme
from converters.mpii import mpii_json_to_dataset

from conftest import SAMPLE

COCO_DOC = json.loads((SAMPLE / "coco" / "sample.json").read_text())
LABELME_DOC = json.loads((SAMPLE / "labelme" / "sample_2.json").read_text())
MPII_DOC = json.loads((SAMPLE / "mpii" / "sample_mpii.json").read_text())
FUZZ = settings(max_examples=int(__import__("os").environ.get("POSEKIT_FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, 2, -1, 1e308, 0.3]),
                    st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, doc):
    d = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(d) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "delete", "truncate"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "truncate" and isinstance(parent[path[-1]], list):
            parent[path[-1]] = parent[path[-1]][: draw(st.integers(0, 3))]
        else:
            parent[path[-1]] = draw(values)
    return d


def _only_our_error(fn, *args):
    try:
        fn(*args)
    except PosekitError:
        pass


@FUZZ
@given(mutated(COCO_DOC))
def test_fuzz_coco_reader_and_validator(doc):
    _only_our_error(from_coco_dict, doc, "f.json")
    _only_our_error(validate_object, doc, "f.json")


@FUZZ
@given(doc=mutated(LABELME_DOC))
def test_fuzz_labelme_reader(doc):
    _only_our_error(parse_labelme, doc, SAMPLE / "labelme" / "x.json", SAMPLE, COCO17)


@FUZZ
@given(mutated(MPII_DOC))
def test_fuzz_mpii_json_reader(doc):
    _only_our_error(mpii_json_to_dataset, doc, Path("m.json"), "coco17")


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_fuzz_json_bytes(raw):
    _only_our_error(parse_json_bytes, raw, "f.json")
