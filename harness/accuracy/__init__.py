"""Accuracy scoring of ``mlperf_log_accuracy.json`` per task."""
