"""Values of a deployable AppSettings that the contract tests vary from."""

REPOSITORY = "registry.example.test/example-app"
DIGEST = "sha256:" + "ab" * 32
