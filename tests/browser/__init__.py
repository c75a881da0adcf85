"""Real-browser tests (JupyterLab + Chromium + Playwright); fixtures live in harness.py."""
