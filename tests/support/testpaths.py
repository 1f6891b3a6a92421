"""Where the tests find the checkout and the shared benchmark data (beside the checkout, when present)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
