"""What the operator CLIs share: a parser whose help is the module's docstring."""

from __future__ import annotations

import argparse


def doc_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the docstring's first paragraph, its epilog the third onward."""
    text = doc or ""
    return argparse.ArgumentParser(
        prog=prog,
        description=text.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(text.split("\n\n")[2:]),
    )
