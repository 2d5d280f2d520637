"""Screenshot fixture generator for credverify (see gen.py and fixtures/screenshots/README.md)."""
