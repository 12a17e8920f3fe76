"""What the command lines share: help that shows every option's default, and JAX's persistent compilation cache."""
from __future__ import annotations

import argparse
import os


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and examples as written, and ``(default: ...)`` after each option's help.

    An option whose default is None (worked out later, e.g. from the space) or a flag says its default in words in
    its own help, so ``(default: None)`` never appears.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


CACHE_ENV = "NASI_NAL_COMPILE_CACHE"


def default_compile_cache() -> str:
    """``$NASI_NAL_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/nasi_nal/jax`` (``~/.cache/nasi_nal/jax``)."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nasi_nal", "jax")


def add_compile_cache_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile-cache", default=default_compile_cache(), metavar="FOLDER",
                   help=f"JAX's persistent compilation cache: a later run loads the programs an earlier one compiled "
                        f"instead of compiling them again; 'off' disables it (${CACHE_ENV} sets the default)")


def use_compile_cache(folder: str) -> None:
    """Points JAX's persistent compilation cache at ``folder`` (``"off"``: leaves it off), caching every program.

    On a CPU a search compiles hundreds of small programs (one per block shape) and compiling, not computing,
    takes most of its time, so no program is too small or too quick to keep. Call before anything compiles.
    """
    if folder == "off":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
