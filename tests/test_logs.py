"""kvs_pool.logs: syslog priority prefixes when stderr is the journal's stream, none otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = ("import logging; from kvs_pool.logs import configure; configure('debug'); "
          "log = logging.getLogger('kvs_pool.t'); log.error('boom'); log.warning('careful'); "
          "log.info('hello'); log.debug('detail')")


def run_logging(stderr_file: Path, journal_stream: str | None) -> list[str]:
    """Run a child that logs one line per level with stderr going to ``stderr_file``."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with stderr_file.open("wb") as err:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=err, env=env, check=True,
                       timeout=60)
    return stderr_file.read_text().splitlines()


def test_journal_stream_gets_priority_prefixes(tmp_path: Path) -> None:
    target = tmp_path / "stderr"
    target.touch()
    st = target.stat()
    lines = run_logging(target, f"{st.st_dev}:{st.st_ino}")
    assert [line[:3] for line in lines] == ["<3>", "<4>", "<6>", "<7>"], lines
    assert lines[0].endswith("boom")


def test_no_prefix_when_stderr_is_not_that_stream(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.touch()
    st = other.stat()
    lines = run_logging(tmp_path / "stderr", f"{st.st_dev}:{st.st_ino}")
    assert len(lines) == 4 and not any(line.startswith("<") for line in lines), lines
    assert run_logging(tmp_path / "stderr2", None)[0].split()[1] == "ERROR"
