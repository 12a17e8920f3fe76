"""NAL proposals: a jraph graph-attention link predictor trained on expert NAS-Bench-101 cells."""
