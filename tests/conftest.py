"""Shared fixtures. Tests mirror the source folders; slow tests are marked
``@pytest.mark.slow`` and S3 tests ``@pytest.mark.s3``."""
