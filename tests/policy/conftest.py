"""Make the policy pack's rules importable the way the pack imports them.

The pack runs with policy/ as its directory and imports `multisite_policies`
as a top-level module. The tests load that same file as
`policy.multisite_policies` (the name mutmut gives its mutants,
docs/development.md "Mutation testing") and make the top-level name point at it, so there is one
module object whichever name a test or the pack's `__main__.py` uses.
"""

import importlib
import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))
sys.modules.setdefault("multisite_policies", importlib.import_module("policy.multisite_policies"))
