"""Serve the example-app policy pack to the Pulumi engine (`pulumi preview --policy-pack infra/policy_pack`)."""

# The engine runs this file with the pack's virtualenv, the program's own (PulumiPolicy.yaml), and
# infra/policy_pack/ as the working directory and sys.path[0] (pulumi/pulumi v3.259.0 pulumi-language-python
# RunPlugin: `python -u -m pulumi.policy <addr> <pack dir>`, cmd.Dir = the pack directory;
# sdk/python/lib/pulumi/policy/__main__.py runpy.run_path): `make setup` installs the repository there,
# editable, so `infra` imports from this work tree.
from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy_pack import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
