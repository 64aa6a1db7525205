"""Reporting: FLOPs and params, result tables, comparisons, figures."""
