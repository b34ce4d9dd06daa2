"""Luminal's benchmarks: each figure beside the floor or the alternative it competes with.

Run ``python -m benchmarks`` for the full run (writes ``benchmarks/RESULTS.md``) or
``python -m benchmarks --smoke`` for the small run CI does.
"""
