"""End-to-end tests of the web console (/app) in a real Chromium, driven by Playwright."""
