"""Make the policy pack's modules importable as top-level modules
(the pack itself runs with policy/ as its directory)."""

import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))
