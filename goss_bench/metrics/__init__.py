"""GOSS metrics: panoptic-style GQ, open-set (OSS) and generic-segmentation (GS) metrics.

Per-image functions are pure and vectorised (one ``np.bincount`` per image);
:class:`~goss_bench.metrics.accumulator.GossAccumulator` sums their integer
statistics so that scoring streams, merges across processes, and gives
bit-identical results whatever the image order or number of workers.
"""
