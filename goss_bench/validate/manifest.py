"""Reading the header of a build's manifest.json without its per-image records.

The builder (:mod:`goss_bench.builder.manifest`) writes manifest.json in a line
layout: line 1 holds every key but ``files`` and ``images`` (compact, sorted,
ending with a comma), line 2 opens ``"files":{``, then one entry per line.  The
header of such a file is read from its first line alone, so checking a split
directory costs the same for 10 and 100,000 images; manifests of any other
layout (goss-bench 0.1 wrote one line) are read whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILES_OPEN = '"files":{\n'


def read_header(p: Path) -> tuple[Any, Any]:
    """``(header, doc)`` of the manifest ``p``.

    ``header``: the keys but ``files`` and ``images`` (a dict), or the whole JSON
    value when it is not an object; ``doc``: None for the line layout, else the
    whole parsed document.

    Raises:
        OSError, ValueError (json.JSONDecodeError, UnicodeDecodeError): unreadable
        file or invalid JSON; callers turn them into their own messages.
    """
    with open(p, encoding="utf-8") as fh:
        first = fh.readline()
        second = fh.readline() if first.endswith(",\n") else ""
        if second == FILES_OPEN:
            return json.loads(first[:-2] + "}"), None
        doc = json.loads(first + second + fh.read())
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k not in ("files", "images")}, doc
    return doc, doc
