"""The multisite policy pack.

Run locally against a stack with:

    pulumi preview --stack dev --policy-pack policy

The rules live in ``multisite_policies.py`` as plain functions (unit tested in
tests/policy); this file only registers them.
"""

import os
import sys

from pulumi_policy import EnforcementLevel, PolicyPack

# The analyzer runs this file as a script; make the sibling module importable
# whatever the working directory is.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from multisite_policies import POLICIES

PolicyPack(
    name="multisite-policies",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
