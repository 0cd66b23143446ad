"""The exit-code protocol shared by worker processes and the supervisor's reaper.

A neutral leaf: workers return these codes, the supervisor decodes them (``describe_exit``,
the restart policy), and neither package imports the other for them.

==  ==============  ==========================================================================
0   EXIT_OK         clean stop (SIGTERM honoured, or the source ended for good)
1   EXIT_CRASH      uncaught exception (also Python's own code for one)
3   EXIT_CONFIG     permanent problem (bad source settings, missing ring): restart at max backoff
4   EXIT_GAVE_UP    the source gave up after its own reconnect attempts: normal backoff
5   EXIT_ORPHANED   the supervisor died; the worker left on its own (no restart possible)
==  ==============  ==========================================================================
"""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_CRASH", "EXIT_CONFIG", "EXIT_GAVE_UP", "EXIT_ORPHANED",
           "EXIT_MEANINGS"]

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_CONFIG = 3
EXIT_GAVE_UP = 4
EXIT_ORPHANED = 5

EXIT_MEANINGS = {
    EXIT_OK: "stopped cleanly",
    EXIT_CRASH: "crashed (uncaught exception)",
    EXIT_CONFIG: "failed permanently (configuration or ring problem)",
    EXIT_GAVE_UP: "gave up on its source after repeated errors",
    EXIT_ORPHANED: "left because the supervisor died",
}
