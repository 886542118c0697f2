"""Build the independent Go verifier (`verify.go`, GOPATH mode, golang.org/x/mod from Debian's
golang-golang-x-mod-dev) once per test session, or say precisely why it cannot be built."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("verify.go")
GOPATH = Path("/usr/share/gocode")
XMOD = GOPATH / "src/golang.org/x/mod/sumdb"
INSTALL = "apt-get install -y golang-go golang-golang-x-mod-dev"


def missing() -> str | None:
    """Why the verifier cannot be built here (None: it can)."""
    if shutil.which("go") is None:
        return f"no `go` on PATH: {INSTALL}"
    if not (XMOD / "note").is_dir() or not (XMOD / "tlog").is_dir():
        return f"no golang.org/x/mod sources under {GOPATH}: {INSTALL}"
    return None


def build(out_dir: Path) -> Path:
    binary = out_dir / "tanpuhui-verify"
    env = dict(
        os.environ, GOPATH=str(GOPATH), GO111MODULE="off",
        GOCACHE=str(out_dir / "gocache"), CGO_ENABLED="0",
    )  # fmt: skip
    subprocess.run(
        ["go", "build", "-o", str(binary), str(SOURCE)], env=env, check=True, timeout=300
    )
    return binary


def run(binary: Path, key: str, checkpoint: str, proof: str, *flags: str, work: Path) -> bool:
    """Whether the Go verifier accepts `proof` against the trusted `checkpoint` and `key`."""
    files = []
    for name, text in (("key", key), ("checkpoint", checkpoint), ("proof.json", proof)):
        path = work / name
        path.write_text(text)
        files.append(str(path))
    done = subprocess.run(
        [str(binary), *files, *flags], check=False, capture_output=True, text=True, timeout=60
    )
    return done.returncode == 0 and done.stdout.strip() == "ok"
