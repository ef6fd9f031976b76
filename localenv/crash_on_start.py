"""A test-only release that exits with an error as soon as it starts (image `example-app-crash`)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.exit("example-app-crash: this test image exits at start on purpose")
