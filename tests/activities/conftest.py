"""What every activity test shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from activities.workspaces.removals import settled


@pytest.fixture(autouse=True)
async def _removals_settled() -> AsyncIterator[None]:
    """A recorded instance's workspace is removed after its activity returns: done before the
    test's folders go (the tests share one event loop, where a removal would otherwise go on)."""
    yield
    await settled()
