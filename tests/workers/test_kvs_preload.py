"""The KVS template's pre-load, in a fresh interpreter (it patches botocore process-wide):
every later botocore session gets the one loader, whose cache already holds the KVS models;
a session on another data path gets a loader of its own."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import boto3, botocore.session
import kvs_pool.workers.kvs_preload as pre
a = boto3.session.Session(region_name="us-east-1")._session.get_component("data_loader")
b = botocore.session.get_session().get_component("data_loader")
assert a is b is pre.shared_loader(), "sessions do not share the loader"
cached = [key for key in a._cache if "kinesisvideo" in repr(key)]
assert cached, "the KVS models were not pre-loaded"
other = botocore.session.get_session({"data_path": ("data_path", None, "/nonexistent", None)})
assert other.get_component("data_loader") is not a, "another data path shares the loader"
print("ok")
"""


def test_sessions_share_one_warm_loader() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "ok", result.stderr
