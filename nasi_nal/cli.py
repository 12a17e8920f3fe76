"""What the command lines share: help that shows every option's default."""
from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and examples as written, and ``(default: ...)`` after each option's help.

    An option whose default is None (worked out later, e.g. from the space) or a flag says its default in words in
    its own help, so ``(default: None)`` never appears.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)
