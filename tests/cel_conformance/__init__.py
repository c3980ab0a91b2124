"""The CEL specification's conformance tests, vendored (data/), and a runner for them."""
