"""Images: safe reading/writing, colour-space features, segmentation, smoothing, defect detection."""
