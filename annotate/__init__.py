"""posekit: COCO person-keypoint tooling (the `annotate` CLI and its core)."""
