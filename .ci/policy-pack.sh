#!/usr/bin/env bash
# The policy pack on the real Pulumi engine, with no cloud and no cluster (ci.yml job "policy-pack").
#
# A tiny stack (tests/ci/policy_stack.py) in a local file backend renders a NetworkPolicy as YAML.
# `pulumi preview --policy-pack infra/policy_pack` must fail on the mandatory network-policy-enforced
# rule, then pass once the stack adds the vpc-cni add-on that enforces NetworkPolicy. Needs the Pulumi
# CLI on PATH and the program's .venv (with pulumi-policy); the engine fetches the provider plugins.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
pack="$repo/infra/policy_pack"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A state directory of its own (not `pulumi login`, which would switch a developer's own backend), a
# passphrase for the throwaway stack's secrets provider, and credentials that are not real: the stack's
# AWS provider never calls AWS.
export PULUMI_BACKEND_URL="file://$work/state"
export PULUMI_CONFIG_PASSPHRASE="policy-check"
export PULUMI_SKIP_UPDATE_CHECK=true
export AWS_ACCESS_KEY_ID=policy-check AWS_SECRET_ACCESS_KEY=policy-check
mkdir -p "$work/state" "$work/project"

cp "$repo/tests/ci/policy_stack.py" "$work/project/__main__.py"
cat > "$work/project/Pulumi.yaml" <<YAML
name: policy-check
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: $repo/.venv
YAML
cd "$work/project"
pulumi stack init policy-check --non-interactive
pulumi config set renderDirectory "$work/manifests"

preview() {
    pulumi preview --non-interactive --color never --policy-pack "$pack" 2>&1 | tee "$work/preview.log"
}

echo "--- a NetworkPolicy without the vpc-cni add-on: the preview must fail on network-policy-enforced"
if preview; then
    echo "error: the preview passed; the policy pack did not stop a NetworkPolicy that EKS would not enforce." >&2
    exit 1
fi
if ! grep -Eq '\[mandatory\] +network-policy-enforced' "$work/preview.log"; then
    echo "error: the preview failed, but not on the mandatory network-policy-enforced policy (log above)." >&2
    exit 1
fi

echo "--- the same stack with the vpc-cni add-on enforcing NetworkPolicy: the preview must pass"
pulumi config set enforceNetworkPolicy true
if ! preview; then
    echo "error: the preview failed with the vpc-cni add-on enforcing NetworkPolicy (log above)." >&2
    exit 1
fi
echo "policy pack: enforced on the real engine (a violation fails the preview; the fixed stack passes)."
