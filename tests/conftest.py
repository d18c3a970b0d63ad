import pytest

from helpers import run_tokenflood


@pytest.fixture
def tokenflood(tmp_path):
    """Run tokenflood in a fresh folder: tokenflood('run', 'run.yml', 'endpoint.yml', '--yes')."""
    def run(*args, **kw):
        return run_tokenflood(*args, cwd=tmp_path, **kw)
    return run
