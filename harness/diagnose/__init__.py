"""Explanations of a verdict: setting searches, known divergences, symptoms read off two arrays.
Re-runs ops to explain; the comparator never imports it. Imports runtimes and below."""
