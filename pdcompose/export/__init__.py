"""Other backends fed from the same Plan as `render` (kompose's transformers): `export/k8s`."""

from __future__ import annotations

from pdcompose.errors import PdcomposeError


class ExportError(PdcomposeError):
    """The export's own input (an option, the output directory) is unusable; nothing was written."""

    exit_code = 2


__all__ = ["ExportError"]
