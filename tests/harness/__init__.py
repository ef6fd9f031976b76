"""What the tests share: stack files, Pulumi's mocks and engine, real processes, workflow models, locks."""
