"""The README documents every setting."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from swell.settings import Settings, env_name

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    head = text[: text.index("## ")]
    assert "make run" in head and "make test" in head


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    for f in fields(Settings):
        assert f"`{env_name(f.name)}`" in text, env_name(f.name)
        assert f"`--{f.name.replace('_', '-')}`" in text, f.name
