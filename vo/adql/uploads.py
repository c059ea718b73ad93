"""Uploaded tables (TAP_UPLOAD) as the translator sees them, and their PostgreSQL types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vo.tables import ColumnInfo

#: PostgreSQL column type of each VOTable datatype (the temporary tables of uploads).
PG_TYPE = {"char": "text", "unicodeChar": "text", "short": "smallint", "int": "integer",
           "long": "bigint", "float": "real", "double": "double precision", "boolean": "boolean",
           "unsignedByte": "smallint", "timestamp": "timestamp",
           "double[]": "double precision[]", "long[]": "bigint[]"}

#: PostgreSQL array type of each VOTable datatype (TAP_SCHEMA rows bound as arrays).
PG_ARRAY = {k: f"{v}[]" for k, v in PG_TYPE.items()}

#: Name of the order-29 HEALPix index column added to uploads that have positions.
UPLOAD_HPX = "_hpx29"

#: Name of the row-number column (0, 1, ...) that every upload's temporary table gets: it
#: keys the tile coverings of a CIRCLE of uploaded columns (``vo.adql.uploadcircles``).
UPLOAD_ROW = "_upload_row"


@dataclass(slots=True)
class UploadColumn:
    """One uploaded column: numpy values (objects for char) and where they are NULL."""

    name: str
    datatype: str  # VOTable datatype of the column
    values: NDArray[Any]
    nulls: NDArray[np.bool_]
    meta: ColumnInfo | None = None


@dataclass(slots=True)
class UploadTable:
    """A table uploaded with the query (TAP_UPLOAD.name); ``point`` names its (ra, dec).

    ``bulk`` marks a table large enough that matching it against region tiles should scan
    the tiles and look the sources up (a b-tree on the upload) rather than look each
    source up in the tiles' SP-GiST index (see ``vo.service.bulk_upload``).
    """

    name: str
    columns: list[UploadColumn]
    point: tuple[str, str] | None = None
    hpx: NDArray[np.int64] | None = None  # order-29 index of ``point`` per row
    hpx_nulls: NDArray[np.bool_] | None = None
    bulk: bool = False

    @property
    def rows(self) -> int:
        """Number of uploaded rows."""
        return len(self.columns[0].values) if self.columns else 0

    @property
    def relation(self) -> str:
        """The temporary table that holds the upload during its query."""
        return f'pg_temp."tap_upload_{self.name.lower()}"'
