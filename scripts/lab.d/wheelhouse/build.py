"""Build the opsh lab's wheelhouse: real wheels of tiny stand-in packages (named
Django and gunicorn, see their docstrings), which pip on a lab host installs
from this directory instead of an index (PIP_NO_INDEX, PIP_FIND_LINKS).

    python build.py OUT_DIR

The wheels are built by hand (a wheel is a zip with metadata and a RECORD), so
nothing is fetched and the output is the same every time.
"""
import base64
import hashlib
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
# (project, version, summary, console scripts); two Django releases so that a
# pin such as Django<5 has something to hold back
PACKAGES = [
    ("Django", "4.2.11", "opsh lab stand-in for Django 4.2", {}),
    ("Django", "5.0.3", "opsh lab stand-in for Django 5.0", {}),
    ("gunicorn", "21.2.0", "opsh lab stand-in for gunicorn", {"gunicorn": "gunicorn.app.wsgiapp:run"}),
]
STAMP = (2025, 1, 1, 0, 0, 0)  # every member's mtime: the same bytes on every build


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def sources(project, version):
    """(path in the wheel, bytes) of the package's files, @VERSION@ filled in."""
    root = os.path.join(HERE, project)
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read().replace(b"@VERSION@", version.encode())
            yield os.path.relpath(path, root).replace(os.sep, "/"), data


def build(out, project, version, summary, scripts):
    info = f"{project}-{version}.dist-info"
    members = list(sources(project, version))
    members.append((f"{info}/METADATA", (
        f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nSummary: {summary}\n"
    ).encode()))
    members.append((f"{info}/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: opsh-lab\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode()))
    if scripts:
        lines = "".join(f"{name} = {target}\n" for name, target in scripts.items())
        members.append((f"{info}/entry_points.txt", f"[console_scripts]\n{lines}".encode()))
    record = "".join(f"{path},{digest(data)},{len(data)}\n" for path, data in members)
    members.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    target = os.path.join(out, f"{project}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(target + ".tmp", "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in members:
            entry = zipfile.ZipInfo(path, STAMP)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    os.replace(target + ".tmp", target)
    return target


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: build.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for package in PACKAGES:
        print(build(out, *package))


if __name__ == "__main__":
    main()
