"""The vendored chart library is the pinned npm package's file, with its licence, and the pages
load it from our own static folder (no CDN)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "services" / "krstock" / "api" / "web"
VENDOR = WEB / "static" / "vendor" / "lightweight-charts"
SCRIPT = ROOT / "scripts" / "vendor-lightweight-charts.sh"


def manifest() -> dict[str, str]:
    data: dict[str, str] = json.loads((VENDOR / "vendor.json").read_text())
    return data


def test_vendored_file_matches_its_manifest_and_the_pinned_version() -> None:
    meta = manifest()
    body = (VENDOR / meta["file"]).read_bytes()
    assert hashlib.sha256(body).hexdigest() == meta["sha256"]
    banner = re.search(rb"Lightweight Charts\xe2\x84\xa2 v(\d+\.\d+\.\d+)", body[:400])
    assert banner is not None and banner.group(1).decode() == meta["version"]
    # The script and the manifest pin the same version and tarball integrity.
    script = SCRIPT.read_text()
    assert f'VERSION="{meta["version"]}"' in script
    assert f'INTEGRITY="{meta["integrity"]}"' in script


def test_licence_and_notice_ship_beside_it() -> None:
    licence = (VENDOR / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    notice = (VENDOR / "NOTICE").read_text()
    assert "TradingView" in notice and "fancy-canvas" in notice and "MIT" in notice


def test_pages_load_scripts_only_from_our_static_folder() -> None:
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text()
        for src in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert not src.startswith(("http:", "https:", "//")), f"{template.name}: {src}"


@pytest.mark.integration
def test_vendored_files_equal_the_npm_package() -> None:
    """Re-fetches the pinned package from the npm registry and compares byte for byte."""
    if shutil.which("npm") is None or shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("npm and openssl are needed in CI to check the vendored library")
        pytest.skip("npm or openssl is not installed")
    done = subprocess.run(
        ["bash", str(SCRIPT), "--check"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert "matches lightweight-charts@" in done.stdout
