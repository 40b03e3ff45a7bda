#!/usr/bin/env bash
# The demo: every subcommand on the shipped sample_data/, outputs under out/demo/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
A=.venv/bin/annotate
S=sample_data
O=out/demo
mkdir -p "$O"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; rc=$?; echo "(exit code $rc)"; }

step "LabelMe -> COCO" $A convert labelme-to-coco $S/labelme --images $S/images -o $O/labelme.coco.json --overwrite
step "validate the converted file (clean)" $A validate $O/labelme.coco.json --images $S/images --report $O/validate_clean
step "validate a file with planted defects (exit 1 expected)" \
  $A validate $S/coco/with_defects.json --images $S/images --report $O/validate_defects
step "MPII .mat release -> COCO-17 (the 12 joints COCO has; the default, mpii16, keeps all 16)" \
  $A convert mpii-to-coco $S/mpii/sample_mpii.mat --layout coco17 --images $S/images -o $O/mpii_mat.coco.json --overwrite
step "mmpose MPII JSON -> COCO (lossless MPII-16)" \
  $A convert mpii-to-coco $S/mpii/sample_mpii.json --layout mpii16 --images $S/images -o $O/mpii_json.mpii16.json --overwrite
step "COCO (MPII-16) -> mmpose MPII JSON" $A convert coco-to-mpii $O/mpii_json.mpii16.json -o $O/mpii_roundtrip.json --overwrite
step "COCO -> LabelMe (prints the labelme command that opens them)" \
  $A convert coco-to-labelme $O/labelme.coco.json -o $O/labelme_roundtrip --images $S/images --overwrite
step "LabelMe -> COCO again (what you run after correcting in labelme)" \
  $A convert labelme-to-coco $O/labelme_roundtrip -o $O/labelme_roundtrip.coco.json --overwrite
step "COCO -> YOLO-pose (Ultralytics: data.yaml, images/ links, labels/)" \
  $A convert $O/labelme.coco.json -o $O/yolo --to yolo --images $S/images --overwrite
step "YOLO-pose -> COCO (sizes from the image headers)" \
  $A convert $O/yolo -o $O/yolo_back.coco.json --to coco --overwrite
step "COCO -> CVAT for images 1.1 (skeletons)" $A convert $O/labelme.coco.json -o $O/cvat.xml --to cvat --overwrite
step "stats: what the set holds (a page of plots)" $A stats $O/labelme.coco.json --report $O/stats --overwrite
step "split into train/val, reproducible and stratified, as one YOLO dataset" \
  $A split $O/labelme.coco.json -o $O/splits --val 0.25 --seed 0 --to yolo --images $S/images --overwrite
step "training configs for the dataset's layout" $A config --for mmpose $O/labelme.coco.json -o $O/dataset_info.py --overwrite
step "render OpenPose targets and decode them back" \
  $A render $O/labelme.coco.json --images $S/images -o $O/render --decode
step "render mmpose's COCO sample photos at stride 4 (pictures of real people)" \
  $A render tests/data/mmpose/coco/test_coco.json --images tests/data/mmpose/coco -o $O/render_coco --stride 4
echo "pictures:"; ls -1 $O/render/*.png $O/render_coco/*.png
if [ ! -f $O/random_cid_hrnet_w32.pth ]; then
  echo; echo "(no network: making a randomly initialised CID HRNet-w32 checkpoint for the pre-label demo;"
  echo " its predictions are meaningless. Real use: --checkpoint PATH, or no flag to fetch the official weights.)"
  .venv/bin/python -c "from models.bottomup import save_random_checkpoint as s; s('cid-hrnet-w32', '$O/random_cid_hrnet_w32.pth')"
fi
step "pre-label with CID HRNet-w32 (random weights offline)" \
  $A prelabel $S/images -o $O/prelabel --checkpoint $O/random_cid_hrnet_w32.pth --batch-size 2 --overwrite
step "compare the pre-labels with the shipped LabelMe labels (random weights: they agree on nothing)" \
  $A compare $S/labelme $O/prelabel/prelabels.coco.json --images $S/images --report $O/compare --overwrite

cat <<MSG

Demo outputs are in $O/:
  labelme.coco.json            LabelMe folder converted to COCO
  validate_clean/ validate_defects/   index.html (open in a browser), findings.csv, findings.json, pictures/
  mpii_mat.coco.json mpii_json.mpii16.json mpii_roundtrip.json   MPII conversions
  yolo/ yolo_back.coco.json cvat.xml dataset_info.py   YOLO-pose, CVAT, and mmpose's dataset_info
  labelme_roundtrip/           COCO written back as LabelMe, with labelme_config.yaml; to correct them, run
                               the line starting with "labelme " printed by that step (.venv/bin/labelme)
  render/ render_coco/         *.npz targets, decoded.json, and per image two pictures (open them):
                               *_overview.png  persons | heatmaps (colour = keypoint) | PAFs (hue =
                                               direction), keypoint colour legend, direction wheel
                               *_channels.png  every heatmap and PAF channel as a labelled tile,
                                               with colour scales
  prelabel/                    LabelMe pre-labels, prelabels.coco.json, .posekit-prelabel.json
  stats/index.html             what the set holds: counts and plots (open in a browser)
  splits/                      train/val as one YOLO dataset (data.yaml)
  compare/index.html           pre-labels against the labels: per-keypoint errors, PCK, AP,
                               the worst disagreements drawn on the images (open in a browser)
MSG
