"""MMPose bottom-up HRNet models for pre-labeling."""
