"""The input validation layer: one module per kind of input, used by every command.

* :mod:`goss_bench.validate.files` -- input files are regular files (no FIFO,
  device or socket, checked with ``os.stat`` before opening, so nothing hangs;
  symlinks resolved); text and JSON files read with one clear error; output
  files and folders checked before any work starts.
* :mod:`goss_bench.validate.photos` -- RGB photos: size from the header,
  checked against a pixel limit before decoding; Pillow's decompression-bomb
  errors turned into :class:`~goss_bench.errors.GossInputError`.
* :mod:`goss_bench.validate.labels` -- GOSS label folders: ``split.json`` and
  ``manifest.json`` schema, sub-folders that must be folders, GT that looks like
  a prediction, GT group ids only on unknown pixels (which also catches an N
  that disagrees with the maps).
* :mod:`goss_bench.validate.coco_json` -- COCO ``instances_*``/``stuff_*`` JSON
  schema: images, annotations, categories, polygons, duplicate ids.
* :mod:`goss_bench.validate.flags` -- argparse types for numeric flags whose
  range is stated in ``--help``.

Every check raises :class:`~goss_bench.errors.GossInputError` with one message
naming the file (or flag) and what was expected; the CLI prints it as
``error: ...`` and exits with code 2.  Nothing here prints or exits.
"""

from __future__ import annotations

from goss_bench.validate.files import (
    check_output_dir,
    check_output_file,
    load_json_file,
    read_text_file,
    require_regular_file,
)

__all__ = [
    "check_output_dir",
    "check_output_file",
    "load_json_file",
    "read_text_file",
    "require_regular_file",
]
