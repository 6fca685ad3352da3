"""Results: one JSON file per case, named by the case hash, written atomically; loaded as a DataFrame."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..files import write_atomic
from ..plan.cases import SCHEMA_VERSION


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result, or None when there is none of the current schema (it is then computed again)."""
        try:
            result = json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None
        return result if result.get("schema") == SCHEMA_VERSION else None

    def put(self, result: dict[str, Any]) -> None:
        write_atomic(self.path(result["hash"]), lambda f: f.write(json.dumps(result, indent=1).encode()))

    def frame(self, keys: Iterable[str]) -> pd.DataFrame:
        """One row per stored result among `keys`; per-layer densities become `density:<layer>` columns."""
        rows = []
        for key in keys:
            result = self.get(key)
            if result is not None:
                density = result.pop("layer_density")
                rows.append({**result, **{f"density:{k}": v for k, v in density.items()}})
        return pd.DataFrame(rows)
