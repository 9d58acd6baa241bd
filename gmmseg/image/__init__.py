"""Images: safe reading/writing, color-space features, segmentation, smoothing, defect detection."""
