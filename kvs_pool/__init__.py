"""kvs-pool: decode many live camera streams once each into shared-memory rings.

Layers, imports pointing one way: ``ring`` <- ``client`` / ``sources`` <- ``workers`` <-
``supervisor``; ``pipeline`` and ``publish`` sit downstream of ``client``.
"""

__version__ = "0.1.0"
