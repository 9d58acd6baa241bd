"""Rendering of results (PNG, CSV, JSON, HTML, plots). Computes nothing new."""
