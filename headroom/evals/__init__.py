"""Headroom's evals: offline proof of retention, reversibility and savings.

Run ``python -m headroom.evals quick`` (or ``headroom evals quick``). Nothing in
``headroom`` imports this package, so ``import headroom`` stays fast.
"""
