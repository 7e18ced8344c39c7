"""The public API is typed: user code passes `mypy --strict`, and mistakes are mypy errors.

`tests/typing/user_code.py` must type-check as it is; every line of `tests/typing/mistakes.py`
marked `type: ignore[code]` must be an error of that code (`warn_unused_ignores` reports a line
that stopped being one); `tests/typing/implementations.py` checks that the engine's contexts
implement the public protocols.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api as mypy

TYPING = Path(__file__).parent / "typing"


def test_user_code_type_checks_and_mistakes_are_errors():
    stdout, stderr, status = mypy.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--no-incremental",
            "--config-file",
            "",
            *sorted(str(path) for path in TYPING.glob("*.py")),
        ]
    )
    assert status == 0, stdout + stderr
