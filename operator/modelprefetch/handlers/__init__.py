"""Thin kopf entry points: importing `modeldeployment` and `observe` registers them.

Everything they do is in `modelprefetch.reconciler`; they reach its `Services`
through kopf's memo (`memo.py`).
"""
