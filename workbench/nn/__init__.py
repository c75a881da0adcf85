"""Building blocks that model families share: attention, hook points, KV caches, activations, losses.

A block lives here only when more than one family uses it; everything else stays in the family's file.
"""
