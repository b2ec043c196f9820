#!/usr/bin/env python3
"""One value from ``cdk deploy --outputs-file``'s JSON (``{"Stack": {"OutputKey": "value", ...}, ...}``).

    python deploy/stack_outputs.py build/cdk-outputs.json ApiUrl
    python deploy/stack_outputs.py build/cdk-outputs.json ApiUrl --github-output api_url

An output matches when its key is the name given or starts with it (CDK suffixes the ids of outputs made inside
constructs with a hash). Exactly one distinct value must match: none, or several that differ, exit 1. With
``--github-output NAME`` the value is also appended to ``$GITHUB_OUTPUT`` as ``NAME=value`` for later jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def find(outputs: dict[str, dict[str, str]], key: str) -> str:
    """The one value whose output key is ``key`` or starts with it; ``LookupError`` otherwise."""
    values = {
        value
        for stack in outputs.values()
        if isinstance(stack, dict)
        for name, value in stack.items()
        if name == key or name.startswith(key)
    }
    if len(values) != 1:
        stacks = {stack: sorted(keys) for stack, keys in outputs.items() if isinstance(keys, dict)}
        found = "nothing" if not values else f"{len(values)} different values"
        raise LookupError(f"output {key!r}: {found} among {stacks}")
    return values.pop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("outputs_file", type=Path)
    parser.add_argument("key")
    parser.add_argument("--github-output", metavar="NAME", help="also write NAME=value to $GITHUB_OUTPUT")
    args = parser.parse_args(argv)
    try:
        value = find(json.loads(args.outputs_file.read_text()), args.key)
    except (OSError, ValueError, LookupError) as exc:
        print(f"stack_outputs: {exc}", file=sys.stderr)
        return 1
    if "\n" in value:
        print(f"stack_outputs: output {args.key!r} spans lines", file=sys.stderr)
        return 1
    print(value)
    if args.github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as github_output:
            github_output.write(f"{args.github_output}={value}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
