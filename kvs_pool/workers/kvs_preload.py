"""What the KVS decoders' template pre-loads: boto3, the KVS source, and botocore's data.

Imported once in the template (``kvs_pool.supervisor.template``), never by a worker itself.
Each KVS decoder makes its own boto3 session, and each botocore session parses the JSON models
of the services it uses afresh: about 11 MB of private memory per decoder. This module parses
them once, in the template, for the two KVS APIs, and makes every botocore session of the
process (so of every decoder forked from the template) use that one loader, whose cache the
decoders then share copy-on-write. A session asking for another data path (``AWS_DATA_PATH``)
gets its own loader, as before. Loaders only cache parsed files, so sharing one between the
sessions of a process is what botocore already does between the clients of a session.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
import botocore.session
from botocore.loaders import Loader, create_loader

import kvs_pool.sources.kvs_hls  # noqa: F401 - the KVS source, shared by every KVS decoder

__all__ = ["shared_loader"]

log = logging.getLogger(__name__)

_SERVICES = ("kinesisvideo", "kinesis-video-archived-media")
_loaders: dict[Any, Loader] = {}


def shared_loader(search_paths: Any = None) -> Loader:
    """botocore's ``create_loader``, returning one loader per data path."""
    loader = _loaders.get(search_paths)
    if loader is None:
        loader = _loaders[search_paths] = create_loader(search_paths)
    return loader


def _warm() -> None:
    """Parse the KVS APIs' models (no network: explicit region, endpoint and credentials)."""
    try:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="preload",
                                        aws_secret_access_key="preload")
        for service in _SERVICES:
            session.client(service, endpoint_url="http://127.0.0.1:1")
    except Exception as exc:  # noqa: BLE001 - only a saving: decoders parse them themselves
        log.warning("cannot pre-load botocore's models of %s: %s", ", ".join(_SERVICES), exc)


botocore.session.create_loader = shared_loader
_warm()
