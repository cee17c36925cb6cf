"""The one conftest of every scenario's verifier: the shared helpers are importable as
`scenario_helpers` (pytest finds this file between the repository root and each tests/ folder)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))
