"""The option table: the README's list is generated from it."""

from pathlib import Path

from melogit_cli.syntax.option_table import ROWS, readme_block, readme_lines

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_option_list_is_the_table() -> None:
    assert readme_block(README.read_text()).splitlines() == readme_lines()


def test_one_row_per_option_and_place() -> None:
    keys = [(r.where, r.name) for r in ROWS]
    assert len(keys) == len(set(keys))
