"""The C allocator's settings for a fit."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_allocator_keeps_freed_memory_unless_the_user_tuned_it():
    code = "from melogit_cli.engine.allocator import keep_freed_memory as k; print(k())"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    tuned = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MALLOC_ARENA_MAX": "2"},
        capture_output=True,
        text=True,
    )
    glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None
    assert plain.stdout.strip() == str(glibc)
    assert tuned.stdout.strip() == "False"
