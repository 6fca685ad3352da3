"""Results: one JSON file per case, named by the case hash, written atomically and sealed with a checksum of its own
content; loaded as a DataFrame. Per-example outcomes travel as bitsets."""
from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import write_atomic
from ..plan.cases import SCHEMA_VERSION


class DamagedResult(UserWarning):
    """A result file that is torn or was edited: it is never used, and its case is computed again."""


def pack(correct: Any) -> str:
    """A boolean vector (which examples a model got right) as a compact base64 bitset."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode()


def unpack(bits: str, n: int) -> np.ndarray:
    """The boolean vector of `n` entries that `pack` encoded."""
    return np.unpackbits(np.frombuffer(base64.b64decode(bits), dtype=np.uint8), count=n).astype(bool)


def checksum(result: dict[str, Any]) -> str:
    """sha256 of a result's content (every field but the checksum), in a canonical JSON form."""
    content = {k: v for k, v in result.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result, or None when there is none of the current schema, or when its file is damaged (torn
        or edited: named in a warning); the case is then computed again."""
        path = self.path(key)
        try:
            result = json.loads(path.read_text())
            intact = isinstance(result, dict) and result.get("checksum") == checksum(result)
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError):
            intact = False
        if not intact:
            warnings.warn(DamagedResult(f"result file {path} is damaged (torn, or edited by hand): it is not used and "
                                        f"its case is computed again; delete the file if this repeats"), stacklevel=2)
            return None
        return result if result.get("schema") == SCHEMA_VERSION else None

    def put(self, result: dict[str, Any]) -> None:
        sealed = {**result, "checksum": checksum(result)}
        write_atomic(self.path(result["hash"]), lambda f: f.write(json.dumps(sealed, indent=1).encode()))

    def frame(self, keys: Iterable[str]) -> pd.DataFrame:
        """One row per intact stored result among `keys`; per-layer densities become `density:<layer>` columns."""
        rows = []
        for key in keys:
            result = self.get(key)
            if result is not None:
                density = result.pop("layer_density")
                rows.append({**result, **{f"density:{k}": v for k, v in density.items()}})
        return pd.DataFrame(rows)
