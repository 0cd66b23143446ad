"""The public consumer library: attach to a camera of a running pool and iterate its frames.

```python
import kvs_pool.client

with kvs_pool.client.attach("front-door", pool="site1") as cam:
    for frame in cam.frames(timeout=5.0, latest=True):
        frame.array          # read-only (h, w, 3) BGR uint8 view into shared memory
```

Errors: ``RingNotFoundError`` (no such camera/pool running), ``RingLayoutError`` (a ring of
another kvs-pool layout version), ``RingError`` (the pool stopped).
"""

from kvs_pool.client.camera import Camera, attach
from kvs_pool.errors import RingError, RingLayoutError, RingNotFoundError
from kvs_pool.ring import Frame, FrameOverwrittenError, RingStatus

__all__ = ["Camera", "Frame", "FrameOverwrittenError", "RingError", "RingLayoutError",
           "RingNotFoundError", "RingStatus", "attach"]
